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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = Vec::new();
    if root.exists() {
        rust_files(&root, &mut files);
    }
    let mut bad = Vec::new();
    for f in files {
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
