//! Generated content: data reduction measured on what lands on disk (zstd, block hashing), and
//! verification that finds exactly the object that was corrupted (local files and S3).

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::*;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn all_bytes(dir: &Path) -> Vec<u8> {
    files_under(dir).iter().flat_map(|f| std::fs::read(f).unwrap()).collect()
}

fn metadata(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap()
}

#[test]
fn dedup_and_compression_factors_are_what_lands_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let cfg = format!(
        "target: \"file://{}/\"\nduration: 0s\nconcurrency: 4\nprepare:\n  ensure_objects:\n    - base_uri: dedup/\n      count: 16\n      size_spec: 4MiB\n      dedup_factor: 4\n    - base_uri: comp/\n      count: 16\n      size_spec: 4MiB\n      compress_factor: 2\n    - base_uri: small/\n      count: 4096\n      size_spec: 4KiB\n      dedup_factor: 2\n      compress_factor: 3\n",
        root.display()
    );
    let c = write(tmp.path(), "reduce.yaml", &cfg);
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));

    // 64 MiB with dedup 4:1 → a quarter of the 4 KiB blocks are distinct (within 5 %).
    let d = all_bytes(&root.join("dedup"));
    assert_eq!(d.len(), 64 << 20);
    let blocks: HashSet<&[u8]> = d.chunks(4096).collect();
    let ratio = blocks.len() as f64 / (d.len() / 4096) as f64;
    assert!((ratio * 4.0 - 1.0).abs() < 0.05, "unique block fraction {ratio}, want 0.25");

    // 64 MiB with compress 2:1 → zstd makes it about half (within 10 %), and it does not dedup.
    let c = all_bytes(&root.join("comp"));
    let z = zstd::encode_all(&c[..], 3).unwrap();
    let cr = z.len() as f64 / c.len() as f64;
    assert!((cr * 2.0 - 1.0).abs() < 0.10, "zstd ratio {cr}, want 0.5");
    let cb: HashSet<&[u8]> = c.chunks(4096).collect();
    assert!(cb.len() as f64 > 0.99 * (c.len() / 4096) as f64, "no dedup asked, so blocks are distinct");

    // Small objects: dedup works across objects, not only within one; and compression applies.
    let s = all_bytes(&root.join("small"));
    let sb: HashSet<&[u8]> = s.chunks(4096).collect();
    let sr = sb.len() as f64 / 4096.0;
    assert!((sr * 2.0 - 1.0).abs() < 0.05, "unique fraction of one-block objects {sr}, want 0.5");
    let unique_bytes: Vec<u8> = sb.iter().flat_map(|b| b.to_vec()).collect();
    let uz = zstd::encode_all(&unique_bytes[..], 3).unwrap().len() as f64 / unique_bytes.len() as f64;
    assert!((uz * 3.0 - 1.0).abs() < 0.10, "distinct blocks compress to {uz}, want 1/3");
}

fn verify_config(target: &str) -> String {
    format!(
        "target: \"{target}\"\nconcurrency: 4\nstages:\n  - name: fill\n    type: prepare\n    prepare:\n      ensure_objects:\n        - base_uri: data/\n          count: 40\n          size_spec: 64KiB\n          dedup_factor: 2\n          compress_factor: 2\n  - name: check\n    type: verify\n  - name: read\n    type: workload\n    ops: 400\n    workload:\n      - op: get\n        path: data/*\n        verify: true\n      - op: get\n        path: data/*\n        verify: true\n        range: {{length: 8KiB, offset: random}}\n"
    )
}

/// Run the verify config once clean, then with one byte of `victim` flipped; return the second
/// run's stderr and metadata.
fn clean_then_corrupt(tmp: &Path, target: &str, victim: impl Fn() -> PathBuf) -> (String, serde_json::Value) {
    let c = write(tmp, "verify.yaml", &verify_config(target));
    let run = |name: &str| {
        let cwd = tmp.join(name);
        std::fs::create_dir_all(&cwd).unwrap();
        let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], &cwd);
        let dir = results_dir(&cwd).unwrap_or_else(|| panic!("no results folder: {}", text(&o)));
        (o, metadata(&dir))
    };
    let (o, m) = run("r1");
    assert!(o.status.success(), "{}", text(&o));
    for st in m["stages"].as_array().unwrap() {
        assert_eq!(st["errors"], 0, "a clean data set verifies: {st}");
    }
    assert_eq!(m["stages"][1]["ops"], 40, "the verify stage reads each prepared object once");
    let f = victim();
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[40_000] ^= 0x01;
    std::fs::write(&f, &bytes).unwrap();
    let (o, m) = run("r2");
    (String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout), m)
}

fn assert_found_exactly(out: &str, m: &serde_json::Value, name: &str) {
    let verify = &m["stages"][1];
    assert_eq!(verify["type"], "verify");
    assert_eq!(verify["ops"], 39, "{verify}");
    assert_eq!(verify["errors"], 1, "exactly one object fails: {verify}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("verify failed:")).collect();
    assert!(!lines.is_empty() && lines.iter().all(|l| l.contains(name)), "{out}");
    assert!(lines[0].contains("byte 40000"), "{}", lines[0]);
    // The workload's verified GETs hit the bad object too (whole reads always; ranges when they
    // cover byte 40000), and only that object.
    assert!(m["stages"][2]["errors"].as_u64().unwrap() >= 1, "{}", m["stages"][2]);
}

#[test]
fn verify_finds_the_one_corrupted_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fs");
    let target = format!("file://{}/", root.display());
    let (out, m) = clean_then_corrupt(tmp.path(), &target, || root.join("data/prepared-00000017.dat"));
    assert_found_exactly(&out, &m, "prepared-00000017.dat");
}

#[test]
fn verify_finds_the_one_corrupted_s3_object() {
    let Some([uri, data_dir]) = testbed_vars(["SAI3_TEST_S3_URI", "SAI3_TEST_S3_DIR"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let p = unique("verify");
    let dir = Path::new(&data_dir).join(&p);
    let (out, m) = clean_then_corrupt(tmp.path(), &format!("{uri}{p}/"), || dir.join("data/prepared-00000023.dat"));
    assert_found_exactly(&out, &m, "prepared-00000023.dat");
}

/// 100 ranged GETs of 8 KiB from 64 KiB objects and 100 of 8 KiB asked from 4 KiB objects: the
/// bytes counted are what was transferred (8 KiB; and 2 KiB, from the 2 KiB offset to the end).
/// 20 GETs of objects of an odd size in 64 KiB parts, 4 at a time: one GET per object read, all
/// its bytes, verified.
fn ranged_reads_count_what_was_transferred(target: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = format!(
        "target: \"{target}\"\nconcurrency: 2\nprepare:\n  ensure_objects:\n    - {{base_uri: big/, count: 8, size_spec: 64KiB}}\n    - {{base_uri: small/, count: 8, size_spec: 4KiB}}\n    - {{base_uri: odd/, count: 4, size_spec: 1000037}}\nstages:\n  - {{name: prep, type: prepare}}\n  - name: big\n    type: workload\n    ops: 100\n    workload:\n      - {{op: get, path: \"big/*\", verify: true, range: {{length: 8KiB, offset: random}}}}\n  - name: small\n    type: workload\n    ops: 100\n    workload:\n      - {{op: get, path: \"small/*\", verify: true, range: {{length: 8KiB, offset: 2KiB}}}}\n  - name: parts\n    type: workload\n    ops: 20\n    workload:\n      - {{op: get, path: \"odd/*\", verify: true, part_size: 64KiB, parts_in_flight: 4}}\n"
    );
    let c = write(tmp.path(), "ranges.yaml", &cfg);
    let o = sai3(&["ctl", "run", "--config", c.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let dir = results_dir(tmp.path()).unwrap();
    for (file, ops, bytes) in [
        ("02_big_results.tsv", 100, 8192.0),
        ("03_small_results.tsv", 100, 2048.0),
        ("04_parts_results.tsv", 20, 1000037.0),
    ] {
        let rows = tsv(&dir.join(file));
        assert_eq!(total(&rows, "GET", "count"), ops, "{file}");
        assert_eq!(total(&rows, "GET", "errors"), 0, "{file}: ranges verify");
        let avg: f64 = rows
            .iter()
            .find(|r| r[0] == "GET" && r[1] == "ALL")
            .map(|r| r[col(&rows, "avg_bytes")].parse().unwrap())
            .unwrap();
        assert_eq!(avg, bytes, "{file}: bytes per GET");
    }
}

#[test]
fn file_ranged_reads() {
    let tmp = tempfile::tempdir().unwrap();
    ranged_reads_count_what_was_transferred(&format!("file://{}/", tmp.path().display()));
}

#[test]
fn s3_ranged_reads() {
    let Some(uri) = testbed("SAI3_TEST_S3_URI") else { return };
    ranged_reads_count_what_was_transferred(&format!("{uri}{}/", unique("range")));
}
