//! The original sai3-bench's config dialect (docs/MIGRATING.md): every config in
//! tests/configs/compat/ (written from sai3-bench's documentation, one dialect feature area
//! each) validates with notices instead of "unknown key" errors, and produces exactly the plan
//! stored beside it in `<name>.plan` (the dry-run description, notices and warnings);
//! `sai3 convert` writes it in sai3's spelling, and the converted file gives the same plan with
//! no notices. Every config in compat/refused/ fails with the message in `<name>.expected`.
//! SAI3_BLESS=1 (re)writes missing golden files — then review them.

use std::path::{Path, PathBuf};

use sai3::core::config::{self, parse};
use sai3::report::plan_view;

mod common;

use common::{results_dir, sai3, text, tsv};

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// What a dry run shows of a plan, with its notices and warnings.
fn describe(plan: &config::Plan) -> String {
    let mut s = String::new();
    for n in &plan.notices {
        s.push_str(&format!("note: {n}\n"));
    }
    s.push_str(&plan_view::describe(plan, None));
    if plan.distributed.is_some() {
        s.push_str(&plan_view::fleet(plan));
    }
    s
}

/// Compare `got` with the golden file `path` (written when missing under SAI3_BLESS).
fn golden(path: &Path, got: &str, failures: &mut Vec<String>) {
    let bless = std::env::var_os("SAI3_BLESS").is_some();
    match std::fs::read_to_string(path) {
        Ok(want) if want == got => {}
        Ok(want) => failures.push(format!("{}:\n--- expected\n{want}--- got\n{got}", name(path))),
        Err(_) if bless => std::fs::write(path, got).unwrap(),
        Err(_) => failures.push(format!("{}: missing (run with SAI3_BLESS=1 and review)\n{got}", name(path))),
    }
}

#[test]
fn every_compat_config_gives_its_plan_and_converts_to_the_same_plan() {
    let files = common::yaml_files("tests/configs/compat");
    assert!(files.len() >= 6, "found only {} compat configs", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let plan = match parse(&text, Some(Path::new(&name(f)))) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: refused:\n{e}", name(f)));
                continue;
            }
        };
        assert!(!plan.notices.is_empty(), "{}: written in sai3-bench's dialect, yet no notice", name(f));
        golden(&f.with_extension("plan"), &describe(&plan), &mut failures);
        // convert: the same plan in sai3's spelling, with nothing left to rewrite.
        let conv = config::convert(&text, Some(Path::new(&name(f)))).unwrap_or_else(|e| panic!("{}: {e}", name(f)));
        assert_eq!(conv.changes.len(), plan.notices.len() + plan.warnings.len(), "{}: {:?}", name(f), conv.changes);
        let again = parse(&conv.yaml, Some(Path::new(&name(f)))).unwrap();
        assert!(again.notices.is_empty(), "{}: converted, still {:?}", name(f), again.notices);
        assert_eq!(describe(&again), plan_view_without_notes(&plan), "{}", name(f));
        let conv2 = config::convert(&conv.yaml, None).unwrap();
        assert!(conv2.changes.is_empty(), "{}: converting twice changes {:?}", name(f), conv2.changes);
        // The file's description survives the conversion.
        let first_comment = text.lines().next().unwrap();
        assert!(conv.yaml.starts_with(first_comment), "{}: header comment lost", name(f));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn plan_view_without_notes(plan: &config::Plan) -> String {
    let mut p = plan.clone();
    p.notices.clear();
    p.warnings.clear();
    describe(&p)
}

#[test]
fn every_refused_compat_config_names_the_feature() {
    let files = common::yaml_files("tests/configs/compat/refused");
    assert!(files.len() >= 3);
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        match parse(&text, Some(Path::new(&name(f)))) {
            Ok(_) => failures.push(format!("{}: was accepted", name(f))),
            Err(e) => golden(&f.with_extension("expected"), &e.to_string(), &mut failures),
        }
        assert!(config::convert(&text, None).is_err(), "{}: convert must refuse it too", name(f));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A compat config under a private prefix (the base path rewritten, nothing else).
fn rebased(file: &str, base: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/compat").join(file);
    let text = std::fs::read_to_string(src).unwrap().replace("/tmp/sai3-compat/", &format!("{}/", base.display()));
    let out = base.join(file);
    std::fs::write(&out, text).unwrap();
    out
}

/// sai3-bench's directory tree runs: the files land where its dir_mask and `distribution: all`
/// put them, force_overwrite rewrites them on a second run, and cleanup removes what was made.
#[test]
fn directory_structure_config_runs_as_sai3_bench_laid_it_out() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = rebased("directory_tree.yaml", tmp.path());
    let tree = tmp.path().join("tree");
    // Keep the tree for the check: the same config without its cleanup.
    let keep = tmp.path().join("keep.yaml");
    std::fs::write(&keep, std::fs::read_to_string(&cfg).unwrap().replace("  cleanup: true\n", "")).unwrap();
    let out = sai3(&["ctl", "run", "--config", keep.to_str().unwrap()], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("note: line"), "{t}");
    // 3 + 9 directories, 4 files in each.
    for l1 in 1..=3 {
        let d1 = tree.join(format!("scan.d1_w{l1}.dir"));
        assert_eq!(files_in(&d1), 4, "{}", d1.display());
        for l2 in 1..=3 {
            assert_eq!(files_in(&d1.join(format!("scan.d2_w{l2}.dir"))), 4);
        }
    }
    let dir = results_dir(tmp.path()).unwrap();
    let prep = tsv(&dir.join("prepare_results.tsv"));
    assert_eq!(common::total(&prep, "PUT", "count"), 48, "every file written");
    let res = tsv(&dir.join("results.tsv"));
    assert!(common::total(&res, "GET", "count") > 0);
    assert_eq!(common::total(&res, "GET", "errors"), 0);
    // force_overwrite: a second run writes all 48 again although they exist.
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", "second"], tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("pausing 1 s after prepare"), "{t}");
    let prep = tsv(&results_dir(&tmp.path().join("second")).unwrap().join("prepare_results.tsv"));
    assert_eq!(common::total(&prep, "PUT", "count"), 48, "force_overwrite rewrote every file");
    // cleanup: true (sai3-bench's prepare.cleanup) removed what the second run made: every tree
    // file and its own PUTs; the first run's PUTs (another run's objects) are left alone.
    let first_puts = common::total(&res, "PUT", "count");
    assert!(first_puts > 0);
    let left = common::count_files(&tree);
    assert_eq!(left, first_puts, "cleanup left {left} files, the first run PUT {first_puts}");
    for l1 in 1..=3 {
        assert_eq!(files_in(&tree.join(format!("scan.d1_w{l1}.dir"))), 0, "tree files deleted");
    }
}

/// The tree files (`file_*.dat`) in `d`, not what the workload's PUTs added.
fn files_in(d: &Path) -> usize {
    std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("file_") && n.ends_with(".dat"))
        .count()
}

/// `sai3 convert` on the command line: the changes on stderr, the file written, not over itself
/// or an existing file without --force; `sai3-bench convert --config` works as a link name.
#[test]
fn convert_command_writes_the_converted_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = rebased("sizes_and_logs.yaml", tmp.path());
    let new = tmp.path().join("new.yaml");
    let out = sai3(&["convert", cfg.to_str().unwrap(), "-o", new.to_str().unwrap()], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("is read as `perf_log.interval_seconds`"), "{t}");
    assert!(t.contains("changes; written to"), "{t}");
    let converted = std::fs::read_to_string(&new).unwrap();
    assert!(converted.contains("interval_seconds:") && !converted.contains("warmup_period:"), "{converted}");
    let again = sai3(&["convert", cfg.to_str().unwrap(), "-o", new.to_str().unwrap()], tmp.path());
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("give --force"));
    let over = sai3(&["convert", cfg.to_str().unwrap(), "-o", cfg.to_str().unwrap(), "--force"], tmp.path());
    assert_eq!(over.status.code(), Some(2));
    assert!(text(&over).contains("that is the input file"));
    // The converted config dry-runs with no notes.
    let dry = sai3(&["ctl", "run", "--config", new.to_str().unwrap(), "--dry-run"], tmp.path());
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(!text(&dry).contains("note:"), "{}", text(&dry));
    // The original program name: `sai3-bench convert --config X` prints to stdout.
    let link = tmp.path().join("sai3-bench");
    std::os::unix::fs::symlink(common::BIN, &link).unwrap();
    let out = std::process::Command::new(&link).args(["convert", "--config", cfg.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), converted);
}

/// sai3bench-ctl's order of flags: `--agents` before the subcommand still reaches `run`.
#[test]
fn sai3bench_ctl_takes_agents_before_the_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = rebased("rates_and_errors.yaml", tmp.path());
    let link = tmp.path().join("sai3bench-ctl");
    std::os::unix::fs::symlink(common::BIN, &link).unwrap();
    let out = std::process::Command::new(&link)
        .args(["--agents", "far=127.0.0.1:7167", "run", "--config", cfg.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("far at 127.0.0.1:7167"), "sai3-bench's newer agent port, given, is used:\n{t}");
}
