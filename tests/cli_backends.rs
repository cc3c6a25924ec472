//! `sai3 ctl run` of a mixed workload against each object store of the loopback testbed, counted
//! against what the server stored; both S3 endpoints behind `multi_endpoint`; bad credentials.
//! Skipped without the testbed unless SAI3_REQUIRE_TESTBED=1 (scripts/test.sh sets it).

use std::path::{Path, PathBuf};

mod common;

use common::{
    check_ttfb, col, command, results_dir, results_dirs, sai3, sai3_env, testbed, testbed_vars, text, total, tsv,
    unique,
};

/// (files, bytes) under a directory, recursively.
fn on_disk(dir: &Path) -> (u64, u64) {
    let mut n = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            let (a, b) = on_disk(&p);
            n = (n.0 + a, n.1 + b);
        } else {
            n = (n.0 + 1, n.1 + e.metadata().unwrap().len());
        }
    }
    n
}

const MIX: &str = r#"duration: 2s
concurrency: 4
prepare:
  ensure_objects:
    - base_uri: "data/"
      count: 30
      size_spec: 8KiB
workload:
  - op: get
    path: "data/*"
    weight: 50
  - op: put
    path: "up/obj-{}.dat"
    size_spec: {uniform: {min: 1KiB, max: 16KiB}}
    weight: 30
  - op: list
    path: "data/"
    weight: 10
  - op: stat
    path: "data/*"
    weight: 10
"#;

/// Run the mixed workload on `base` (a unique prefix of a testbed URI); return the results rows.
fn run_mix(base: &str, extra: &str) -> (Vec<Vec<String>>, PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("mix.yaml");
    std::fs::write(&cfg, format!("target: \"{base}\"\n{MIX}{extra}")).unwrap();
    let o = sai3(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", tmp.path().to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{base}: {}", text(&o));
    let dir = results_dir(tmp.path()).expect("a results folder");
    let rows = tsv(&dir.join("results.tsv"));
    assert!(
        total(&rows, "GET", "count") > 0 && total(&rows, "PUT", "count") > 0 && total(&rows, "META", "count") > 0,
        "{base}: {rows:?}"
    );
    for op in ["GET", "PUT", "META"] {
        assert_eq!(total(&rows, op, "errors"), 0, "{base}: {op} errors");
    }
    check_ttfb(&rows);
    (rows, dir, tmp)
}

#[test]
fn s3_mixed_run_matches_the_server() {
    s3_mixed_run("");
}

/// The same with blocking sockets from OS-thread workers (LIST and STAT through object_store on
/// the runtime that opened it).
#[test]
fn s3_threads_client_mixed_run_matches_the_server() {
    s3_mixed_run("storage:\n  s3_client: threads\n");
}

fn s3_mixed_run(extra: &str) {
    let Some([uri, data_dir]) = testbed_vars(["SAI3_TEST_S3_URI", "SAI3_TEST_S3_DIR"]) else { return };
    let p = unique("cli");
    let (rows, dir, _tmp) = run_mix(&format!("{uri}{p}/"), extra);
    let puts = total(&rows, "PUT", "count");
    let (files, bytes) = on_disk(&Path::new(&data_dir).join(&p));
    let prep = tsv(&dir.join("prepare_results.tsv"));
    assert_eq!(total(&prep, "PUT", "count"), 30);
    assert_eq!(files, 30 + puts, "objects on the server = prepared + PUT count");
    let (up_files, up_bytes) = on_disk(&Path::new(&data_dir).join(&p).join("up"));
    assert_eq!(up_files, puts);
    assert_eq!(bytes - up_bytes, 30 * 8192, "prepared bytes on the server");
    // Bytes PUT, from the per-phase figures: ops_per_sec × avg_bytes is rounded, so compare the
    // server's bytes with count × avg_bytes within the rounding of avg_bytes (< 1 byte per op).
    let avg: f64 = rows
        .iter()
        .find(|r| r[0] == "PUT" && r[1] == "ALL")
        .map(|r| r[col(&rows, "avg_bytes")].parse().unwrap())
        .unwrap();
    assert!(
        (up_bytes as f64 - avg * puts as f64).abs() <= puts as f64,
        "PUT bytes on server {up_bytes} vs reported {}",
        avg * puts as f64
    );
    let cfg_copy = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    let console = std::fs::read_to_string(dir.join("console_log.txt")).unwrap();
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    assert!(!cfg_copy.contains(&secret) && !console.contains(&secret), "credentials leaked");
}

#[test]
fn azure_mixed_run() {
    let Some(uri) = testbed("SAI3_TEST_AZ_URI") else { return };
    run_mix(&format!("{uri}{}/", unique("cli")), "cleanup: true\n");
}

#[test]
fn gcs_mixed_run() {
    let Some(uri) = testbed("SAI3_TEST_GS_URI") else { return };
    run_mix(&format!("{uri}{}/", unique("cli")), "cleanup: true\n");
}

#[test]
fn s3_cleanup_deletes_exactly_what_the_run_created() {
    let Some([uri, data_dir]) = testbed_vars(["SAI3_TEST_S3_URI", "SAI3_TEST_S3_DIR"]) else { return };
    let p = unique("cli");
    // An object the run did not create, under the same prefixes.
    let keep = Path::new(&data_dir).join(&p).join("data");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("mine.dat"), b"not sai3's").unwrap();
    run_mix(&format!("{uri}{p}/"), "cleanup: true\n");
    let (files, _) = on_disk(&Path::new(&data_dir).join(&p));
    assert_eq!(files, 1, "only the foreign object is left");
    assert!(keep.join("mine.dat").is_file());
}

#[test]
fn s3_two_endpoints_round_robin() {
    let Some([a, b, data_dir]) = testbed_vars(["SAI3_TEST_S3_URI", "SAI3_TEST_S3_URI2", "SAI3_TEST_S3_DIR"]) else {
        return;
    };
    let p = unique("cli");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("me.yaml");
    std::fs::write(
        &cfg,
        format!("multi_endpoint:\n  strategy: round_robin\n  endpoints:\n    - {a}{p}/\n    - {b}{p}/\n{MIX}"),
    )
    .unwrap();
    let o = sai3(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", tmp.path().to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Endpoints: 2 (round_robin)"), "{}", text(&o));
    let dir = results_dir(tmp.path()).expect("a results folder");
    let rows = tsv(&dir.join("results.tsv"));
    let eps = tsv(&dir.join("workload_endpoint_stats.tsv"));
    let req = col(&eps, "total_requests");
    let per: Vec<u64> = eps[1..].iter().map(|r| r[req].parse().unwrap()).collect();
    let ops = total(&rows, "GET", "count") + total(&rows, "PUT", "count") + total(&rows, "META", "count");
    assert_eq!(per.iter().sum::<u64>(), ops, "endpoint requests = results totals");
    assert!(per[0].abs_diff(per[1]) <= 4, "round robin within one request per worker: {per:?}");
    let prep = tsv(&dir.join("prepare_endpoint_stats.tsv"));
    let pw: u64 = prep[1..].iter().map(|r| r[col(&prep, "bytes_written")].parse::<u64>().unwrap()).sum();
    assert_eq!(pw, 30 * 8192);
    let (files, _) = on_disk(&Path::new(&data_dir).join(&p));
    assert_eq!(files, 30 + total(&rows, "PUT", "count"));
}

#[test]
fn s3_wrong_credentials_is_one_clear_message() {
    let Some(uri) = testbed("SAI3_TEST_S3_URI") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.yaml");
    std::fs::write(&cfg, format!("target: \"{uri}{}/\"\n{MIX}", unique("cli"))).unwrap();
    let o = sai3_env(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", tmp.path().to_str().unwrap()],
        tmp.path(),
        &[("AWS_SECRET_ACCESS_KEY", "wrong-secret")],
    );
    let t = text(&o);
    assert_ne!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("127.0.0.1:9000") || t.contains(&uri), "names the endpoint: {t}");
    assert!(!t.contains("wrong-secret"), "{t}");
    assert!(results_dirs(tmp.path()).is_empty(), "no results folder");
}

#[test]
fn missing_credentials_is_a_clear_error_before_any_request() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("nocreds.yaml");
    std::fs::write(&cfg, format!("target: \"s3://127.0.0.1:9/bucket/x/\"\n{MIX}")).unwrap();
    let mut c = command(&["ctl", "run", "--config", cfg.to_str().unwrap()]);
    c.current_dir(tmp.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    let o = c.output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("AWS_ACCESS_KEY_ID"), "{t}");
}
