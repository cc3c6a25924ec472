//! Seed 002 example 3 for real: two `file://` mounts of one namespace (a directory and a symlink
//! to it) behind `multi_endpoint`, with both strategies; and `direct://` (O_DIRECT) on a real
//! disk, refused clearly on tmpfs. Figures are counted against the disk.

use std::path::Path;

mod common;

use common::{col, results_dir, results_dirs, sai3, text, total, tsv};

fn files_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map(|rd| rd.flatten().filter(|e| e.path().is_file()).count() as u64).unwrap_or(0)
}

fn two_mounts(strategy: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let ns = tmp.path().join("ns");
    std::fs::create_dir(&ns).unwrap();
    std::os::unix::fs::symlink(&ns, tmp.path().join("mount2")).unwrap();
    let cfg = tmp.path().join("me.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"# Round-robin across 2 mount points of one namespace
multi_endpoint:
  enabled: true
  strategy: {strategy}
  endpoints:
    - file://{ns}/
    - file://{m2}/

duration: 2s
concurrency: 4

prepare:
  ensure_objects:
    - base_uri: "data/"
      count: 40
      size_spec:
        fixed: 16KiB

workload:
  - op: get
    path: "data/*"
    weight: 70
  - op: put
    path: "data/"
    object_size: 16KiB
    weight: 30
"#,
            ns = ns.display(),
            m2 = tmp.path().join("mount2").display()
        ),
    )
    .unwrap();
    let o = sai3(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", tmp.path().to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(&format!("Endpoints: 2 ({strategy})")), "{}", text(&o));
    let dir = results_dir(tmp.path()).expect("a results folder");
    let results = tsv(&dir.join("results.tsv"));
    let eps = tsv(&dir.join("workload_endpoint_stats.tsv"));
    let prep = tsv(&dir.join("prepare_endpoint_stats.tsv"));
    assert_eq!(eps.len(), 3, "two endpoint rows");
    let req = col(&eps, "total_requests");
    let per: Vec<u64> = eps[1..].iter().map(|r| r[req].parse().unwrap()).collect();
    let ops = total(&results, "GET", "count") + total(&results, "PUT", "count");
    assert_eq!(per.iter().sum::<u64>(), ops, "endpoint requests = op totals");
    assert!(per.iter().all(|n| *n > ops / 10), "both endpoints carry load: {per:?}");
    if strategy == "round_robin" {
        // Every worker alternates on its own, so the split is even within one request per worker.
        assert!(per[0].abs_diff(per[1]) <= 4, "{per:?}");
    }
    let prep_req: u64 = prep[1..].iter().map(|r| r[col(&prep, "total_requests")].parse::<u64>().unwrap()).sum();
    assert_eq!(prep_req, 40);
    assert_eq!(
        files_in(&ns.join("data")),
        40 + total(&results, "PUT", "count"),
        "PUTs counted = new files in the one namespace"
    );
    let bytes_w = col(&eps, "bytes_written");
    let written: u64 = eps[1..].iter().map(|r| r[bytes_w].parse::<u64>().unwrap()).sum();
    assert_eq!(written, total(&results, "PUT", "count") * 16384);
    for c in ["mean_us", "p50_us", "p99_us"] {
        assert!(eps[1][col(&eps, c)].parse::<f64>().unwrap() > 0.0, "{c}");
    }
}

#[test]
fn two_file_mounts_round_robin() {
    two_mounts("round_robin");
}

#[test]
fn two_file_mounts_least_connections() {
    two_mounts("least_connections");
}

#[test]
fn direct_io_on_a_real_disk() {
    // /var/tmp is on a disk file system on every machine we run on (tmpfs refuses O_DIRECT).
    let base = tempfile::Builder::new().prefix("sai3-direct").tempdir_in("/var/tmp").unwrap();
    let cfg = base.path().join("direct.yaml");
    std::fs::write(
        &cfg,
        format!(
            "target: \"direct://{}/\"\nduration: 1s\nconcurrency: 2\nprepare:\n  ensure_objects:\n    - base_uri: \"d/\"\n      count: 10\n      size_spec: 10000\nworkload:\n  - op: get\n    path: \"d/*\"\n    weight: 1\n  - op: put\n    path: \"w/{{}}\"\n    object_size: 12345\n    weight: 1\n",
            base.path().display()
        ),
    )
    .unwrap();
    let o = sai3(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", base.path().to_str().unwrap()],
        base.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let results = tsv(&results_dir(base.path()).expect("a results folder").join("results.tsv"));
    let puts = total(&results, "PUT", "count");
    assert!(total(&results, "GET", "count") > 0 && puts > 0);
    assert_eq!(files_in(&base.path().join("w")), puts);
    // Unaligned sizes survive the aligned-buffer path byte-exact.
    for e in std::fs::read_dir(base.path().join("w")).unwrap().flatten() {
        assert_eq!(e.metadata().unwrap().len(), 12345);
    }
    let avg = col(&results, "avg_bytes");
    let get_all = results.iter().find(|r| r[0] == "GET" && r[1] == "ALL").unwrap();
    assert_eq!(get_all[avg], "10000", "GET reads whole objects, not the aligned length");
}

#[test]
fn direct_io_on_tmpfs_is_a_clear_error() {
    if !Path::new("/dev/shm").is_dir() {
        eprintln!("skipped: no /dev/shm on this machine");
        return;
    }
    let base = tempfile::Builder::new().prefix("sai3-direct").tempdir_in("/dev/shm").unwrap();
    let cfg = base.path().join("direct.yaml");
    std::fs::write(
        &cfg,
        format!("target: \"direct://{}/\"\nduration: 1s\nworkload:\n  - op: put\n    path: \"w/{{}}\"\n    object_size: 4KiB\n", base.path().display()),
    )
    .unwrap();
    let o = sai3(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", base.path().to_str().unwrap()],
        base.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("O_DIRECT") && t.contains(&base.path().display().to_string()), "{t}");
    assert!(!base.path().join("w").exists(), "nothing written");
    assert!(results_dirs(base.path()).is_empty(), "no results folder");
}
