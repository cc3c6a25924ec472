//! `concurrency:` on one op: those workers run only that op, beside the shared mix.

mod common;

use common::*;

/// Fixed arrivals give every worker the same share of `io_rate`, so the op counts show which
/// worker ran what: 3 GET-only workers and 1 mix worker (PUT only, since GET is not in the mix)
/// issue GETs and PUTs 3:1.
#[test]
fn dedicated_workers_run_only_their_op() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = format!(
        "target: \"file://{}/\"\nconcurrency: 1\nduration: 2s\nio_rate: 400\nprepare:\n  ensure_objects:\n    - {{base_uri: data/, count: 20, size_spec: 4KiB}}\nworkload:\n  - {{op: get, path: \"data/*\", weight: 50, concurrency: 3}}\n  - {{op: put, path: \"up/\", object_size: 4KiB, weight: 1}}\n",
        tmp.path().join("fs").display()
    );
    let c = write(tmp.path(), "workers.yaml", &cfg);
    let dry = sai3(&["ctl", "run", "--config", c.to_str().unwrap(), "--dry-run"], tmp.path());
    assert!(text(&dry).contains("3 workers of its own"), "{}", text(&dry));
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let rows = tsv(&results_dir(tmp.path()).unwrap().join("results.tsv"));
    let (gets, puts) = (total(&rows, "GET", "count"), total(&rows, "PUT", "count"));
    // Each worker's share of io_rate is 100 ops/s: unloaded, PUT is 200 and GET 600 (± one
    // period per worker); a starved machine drops the starts it could not make before the
    // deadline (file creation suffers first), so only the upper bounds are exact. GET in the mix
    // would give the mix worker 50 GETs per PUT (PUT ≈ 4); a PUT in a GET worker's schedule
    // would take PUT past 200.
    assert!((50..=202).contains(&puts), "the one mix worker issues PUTs, and only it, at 100 ops/s: {puts}");
    assert!((300..=606).contains(&gets), "three GET workers at 100 ops/s each: {gets}");
    assert_eq!(count_files(&tmp.path().join("fs/up")), puts, "PUTs on disk");
}

/// `from: written` in one mix: GETs (checked byte for byte) read only what the PUTs beside them
/// wrote, never a missing object, and every PUT is on the storage.
fn gets_read_back_what_puts_wrote(target: &str, cwd: &std::path::Path) -> (u64, u64) {
    let cfg = format!(
        "target: \"{target}\"\nconcurrency: 4\nduration: 2s\ncleanup: false\nworkload:\n  - {{op: put, path: \"up/\", object_size: 8KiB, weight: 1, dedup_factor: 2}}\n  - {{op: get, from: written, weight: 3, verify: true}}\n  - {{op: stat, from: written, path: \"up/*\", weight: 1}}\n"
    );
    let c = write(cwd, "written.yaml", &cfg);
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], cwd);
    assert!(o.status.success(), "{}", text(&o));
    let rows = tsv(&results_dir(cwd).unwrap().join("results.tsv"));
    let (gets, puts) = (total(&rows, "GET", "count"), total(&rows, "PUT", "count"));
    assert!(puts > 10 && gets > 2 * puts, "GET {gets} after PUT {puts}: GETs have objects to read");
    for op in ["GET", "PUT", "META"] {
        assert_eq!(total(&rows, op, "errors"), 0, "{op} errors: {}", text(&o));
    }
    assert_eq!(avg_bytes(&rows, "GET"), 8192.0, "every GET read a whole written object");
    (gets, puts)
}

#[test]
fn file_gets_from_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, puts) = gets_read_back_what_puts_wrote(&format!("file://{}/fs/", tmp.path().display()), tmp.path());
    assert_eq!(count_files(&tmp.path().join("fs/up")), puts, "PUTs on disk");
}

#[test]
fn s3_gets_from_written() {
    let Some(uri) = testbed("SAI3_TEST_S3_URI") else { return };
    let tmp = tempfile::tempdir().unwrap();
    gets_read_back_what_puts_wrote(&format!("{uri}{}/", unique("written")), tmp.path());
}

/// Across stages: what one stage's PUTs wrote is what a later stage's GETs and DELETEs draw from;
/// a DELETE takes the object out, so the DELETE stage removes exactly what was written.
#[test]
fn written_objects_carry_over_to_later_stages() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = format!(
        "target: \"file://{}/fs/\"\nconcurrency: 3\ncleanup: false\nstages:\n  - {{name: write, type: workload, ops: 30, workload: [{{op: put, path: \"w/\", object_size: 4KiB, fill: pattern}}]}}\n  - {{name: read, type: workload, ops: 90, workload: [{{op: get, from: written, verify: true}}]}}\n  - {{name: drop, type: workload, ops: 30, workload: [{{op: delete, from: written, path: \"w/\"}}]}}\n",
        tmp.path().display()
    );
    let c = write(tmp.path(), "stages.yaml", &cfg);
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let dir = results_dir(tmp.path()).unwrap();
    let read = tsv(&dir.join("02_read_results.tsv"));
    assert_eq!((total(&read, "GET", "count"), total(&read, "GET", "errors")), (90, 0));
    assert_eq!(avg_bytes(&read, "GET"), 4096.0);
    let drop = tsv(&dir.join("03_drop_results.tsv"));
    assert_eq!((total(&drop, "META", "count"), total(&drop, "META", "errors")), (30, 0));
    assert_eq!(count_files(&tmp.path().join("fs/w")), 0, "every written object deleted once");
}

#[test]
fn from_written_needs_a_put() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = format!(
        "target: \"file://{}/\"\nworkload:\n  - {{op: get, from: written}}\n  - {{op: list, path: \"x/\"}}\n",
        tmp.path().display()
    );
    let c = write(tmp.path(), "nowrite.yaml", &cfg);
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("workload[0].from") && text(&o).contains("add a `put`"), "{}", text(&o));
}

fn avg_bytes(rows: &[Vec<String>], op: &str) -> f64 {
    let (o, b, a) = (col(rows, "operation"), col(rows, "size_bucket"), col(rows, "avg_bytes"));
    rows[1..].iter().find(|r| r[o] == op && r[b] == "ALL").map(|r| r[a].parse().unwrap()).unwrap_or(0.0)
}

/// Directories below `dir`, recursively.
fn count_dirs(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten().filter(|e| e.path().is_dir()).map(|e| 1 + count_dirs(&e.path())).sum()
}

/// mdtest's phases on a deep tree: directory create/stat/remove, then file create/stat/remove,
/// each stage's counts equal to what the file system holds afterwards.
#[test]
fn mdtest_like_phases_match_the_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = tmp.path().join("fs");
    let stage = |name: &str, ops: u32, op: &str| {
        format!("  - {{name: {name}, type: workload, ops: {ops}, workload: [{op}]}}\n")
    };
    let cfg = format!(
        "target: \"file://{}/\"\nconcurrency: 4\ncleanup: false\nstages:\n  - {{name: tree, type: prepare, prepare: {{tree: {{base_uri: md/, width: 3, depth: 3, files_per_dir: 2, size_spec: 1KiB}}}}}}\n{}{}{}{}{}{}",
        fs.display(),
        stage("dir-create", 300, "{op: mkdir, path: \"md/*/\"}"),
        stage("dir-stat", 300, "{op: stat, from: written}"),
        stage("dir-remove", 300, "{op: rmdir, from: written}"),
        stage("file-create", 600, "{op: put, path: \"md/*/\", object_size: 4KiB}"),
        stage("file-stat", 600, "{op: stat, from: written}"),
        stage("file-remove", 600, "{op: delete, from: written, path: \"md/*\"}"),
    );
    let c = write(tmp.path(), "mdtest.yaml", &cfg);
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let dir = results_dir(tmp.path()).unwrap();
    let count = |file: &str, op: &str| {
        let rows = tsv(&dir.join(file));
        (total(&rows, op, "count"), total(&rows, op, "errors"))
    };
    let prepared = count("01_tree_results.tsv", "PUT").0;
    assert_eq!(count("02_dir-create_results.tsv", "MKDIR"), (300, 0));
    assert_eq!(count("03_dir-stat_results.tsv", "STAT"), (300, 0));
    assert_eq!(count("04_dir-remove_results.tsv", "RMDIR"), (300, 0));
    assert_eq!(count("05_file-create_results.tsv", "PUT"), (600, 0));
    assert_eq!(count("06_file-stat_results.tsv", "STAT"), (600, 0));
    assert_eq!(count("07_file-remove_results.tsv", "DELETE"), (600, 0));
    // 3 + 9 + 27 tree directories, no directory MKDIR made is left, only the tree's own files.
    assert_eq!(count_dirs(&fs.join("md")), 39, "directories left");
    assert_eq!(count_files(&fs.join("md")), prepared, "files left");
    assert!(prepared > 0);
}

/// Cleanup removes the directories MKDIRs made (after the files in them, deepest first) and
/// the files PUT into a directory pattern.
#[test]
fn cleanup_removes_made_directories_and_the_files_in_them() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = tmp.path().join("fs");
    let cfg = format!(
        "target: \"file://{}/\"\nconcurrency: 4\nstages:\n  - {{name: tree, type: prepare, prepare: {{tree: {{base_uri: md/, width: 2, depth: 2, files_per_dir: 1, size_spec: 1KiB}}}}}}\n  - {{name: dirs, type: workload, ops: 40, workload: [{{op: mkdir, path: \"md/*/\"}}]}}\n  - {{name: files, type: workload, ops: 200, workload: [{{op: put, path: \"md/*/\", object_size: 1KiB}}]}}\n  - {{name: clean, type: cleanup}}\n",
        fs.display()
    );
    let c = write(tmp.path(), "mdclean.yaml", &cfg);
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let rows = tsv(&results_dir(tmp.path()).unwrap().join("04_clean_results.tsv"));
    assert_eq!((total(&rows, "RMDIR", "count"), total(&rows, "RMDIR", "errors")), (40, 0));
    assert_eq!(total(&rows, "DELETE", "errors"), 0);
    assert_eq!(count_files(&fs.join("md")), 0, "every file gone");
    assert_eq!(count_dirs(&fs.join("md")), 6, "only the tree's 2 + 4 directories are left");
}

#[test]
fn directory_ops_are_refused_on_object_stores() {
    let tmp = tempfile::tempdir().unwrap();
    for (op, what) in [
        ("{op: mkdir, path: \"d/\"}", "`mkdir` works on file systems"),
        ("{op: put, path: \"t/*/\", object_size: 1KiB}", "`put` into a directory pattern works on file systems"),
    ] {
        let cfg = format!("target: \"s3://bucket/x/\"\nworkload:\n  - {op}\n");
        let c = write(tmp.path(), "dirs-s3.yaml", &cfg);
        let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("workload[0].op") && text(&o).contains(what), "{}", text(&o));
    }
}

/// Every recipe in docs/WORKLOADS.md is a config the dry run accepts as printed.
#[test]
fn workloads_md_recipes_dry_run_as_printed() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/WORKLOADS.md")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for (i, block) in doc.split("```yaml\n").skip(1).enumerate() {
        let yaml = block.split("```").next().unwrap();
        let c = write(tmp.path(), &format!("recipe{i}.yaml"), yaml);
        let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap(), "--dry-run"], tmp.path());
        assert!(o.status.success(), "recipe {i}:\n{yaml}\n{}", text(&o));
        n += 1;
    }
    assert!(n >= 7, "{n} recipes found");
}

/// Cleanup deletes what the run's PUTs wrote and its `from: written` DELETEs left, without
/// naming every PUT of the run up front: within a stage, objects a DELETE removed are not
/// deleted again (the count it announces is what is left); objects a later stage's DELETEs
/// removed are found gone (not errors, not counted). Nothing the run wrote is left behind.
#[test]
fn cleanup_deletes_what_puts_wrote_and_deletes_left() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = tmp.path().join("fs");
    let cfg = format!(
        "target: \"file://{}/\"\nconcurrency: 4\nstages:\n  - {{name: churn, type: workload, ops: 600, workload: [{{op: put, path: \"new/o-{{}}.dat\", object_size: 1KiB, weight: 3}}, {{op: delete, from: written, path: \"new/*\", weight: 2}}]}}\n  - {{name: drain, type: workload, ops: 20, workload: [{{op: delete, from: written, path: \"new/*\"}}]}}\n  - {{name: clean, type: cleanup}}\n",
        fs.display()
    );
    let c = write(tmp.path(), "churn.yaml", &cfg);
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let dir = results_dir(tmp.path()).unwrap();
    let churn = tsv(&dir.join("01_churn_results.tsv"));
    let (puts, deletes) = (total(&churn, "PUT", "count"), total(&churn, "DELETE", "count"));
    let drained = total(&tsv(&dir.join("02_drain_results.tsv")), "DELETE", "count");
    assert!(puts > 200 && deletes > 100 && drained == 20, "PUT {puts}, DELETE {deletes}, drained {drained}");
    let out = text(&o);
    let announced: u64 = out
        .split(" objects to delete")
        .next()
        .and_then(|s| s.rsplit(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'objects to delete' line: {out}"));
    assert_eq!(announced, puts - deletes, "cleanup skips what the churn stage's DELETEs removed");
    let clean = tsv(&dir.join("03_clean_results.tsv"));
    assert_eq!(total(&clean, "DELETE", "count"), puts - deletes - drained, "each object left deleted once");
    assert_eq!(total(&clean, "DELETE", "errors"), 0);
    assert_eq!(count_files(&fs.join("new")), 0, "nothing the run wrote is left");
}
