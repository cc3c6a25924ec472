//! Keeps the dependency direction true (`cmd → net, report → core`): `core` never names the
//! network, CLI or report crates, and `net` and `report` never import each other.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    offenders_except(dir, forbidden, &[])
}

/// Lines under `dir` (outside the paths in `allowed`, relative to the crate) naming a forbidden word.
fn offenders_except(dir: &str, forbidden: &[&str], allowed: &[&str]) -> Vec<String> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = base.join(dir);
    let mut files = Vec::new();
    if root.exists() {
        rust_files(&root, &mut files);
    }
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(base).unwrap().to_string_lossy().into_owned();
        if allowed.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        let body = std::fs::read_to_string(&f).unwrap();
        for (n, line) in body.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                if code.contains(word) {
                    bad.push(format!("{}:{}: `{word}`", f.display(), n + 1));
                }
            }
        }
    }
    bad
}

#[test]
fn core_names_no_network_cli_or_report_crate() {
    let bad = offenders(
        "src/core",
        &[
            "tonic::",
            "prost::",
            "russh",
            "clap::",
            "polars",
            "rust_xlsxwriter",
            "crate::net",
            "crate::report",
            "crate::cmd",
        ],
    );
    assert!(bad.is_empty(), "core must stay free of these:\n{}", bad.join("\n"));
}

#[test]
fn net_and_report_do_not_import_each_other() {
    let a = offenders("src/net", &["crate::report", "crate::cmd"]);
    let b = offenders("src/report", &["crate::net", "crate::cmd"]);
    assert!(a.is_empty() && b.is_empty(), "{}\n{}", a.join("\n"), b.join("\n"));
}

#[test]
fn heavy_crates_have_one_home() {
    let yaml = offenders("src/net", &["serde_yaml"]);
    let store = offenders("src/report", &["object_store"]);
    assert!(yaml.is_empty() && store.is_empty(), "{}\n{}", yaml.join("\n"), store.join("\n"));
}

#[test]
fn wire_crates_and_generated_types_stay_in_net() {
    let bad = offenders_except(
        "src",
        &["tonic::", "tonic_", "prost::", "russh", "pb::", "include_proto", "hyper"],
        &["src/net/"],
    );
    assert!(
        bad.is_empty(),
        "tonic, prost, russh, hyper and the generated types belong in src/net:\n{}",
        bad.join("\n")
    );
}

#[test]
fn polars_and_xlsx_stay_in_analyze_and_clap_in_the_cli() {
    let frames = offenders_except("src", &["polars", "rust_xlsxwriter"], &["src/report/analyze/"]);
    let clap = offenders_except("src", &["clap::", "clap_"], &["src/main.rs", "src/cmd/"]);
    assert!(frames.is_empty() && clap.is_empty(), "{}\n{}", frames.join("\n"), clap.join("\n"));
}

#[test]
fn cmd_is_glue_every_file_well_under_300_lines() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cmd");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n >= 300).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "cmd/ is glue; move logic into core, net or report:\n{}", long.join("\n"));
}
