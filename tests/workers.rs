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
    // Unloaded, PUT is 200 and GET 600 (± one period per worker); a starved machine drops the
    // starts it could not make before the deadline, so allow 10 %. GET in the mix would give
    // the mix worker 50 GETs per PUT: PUT ≈ 4.
    assert!(puts >= 50, "the one mix worker issues PUTs at 100 ops/s: {puts}");
    assert!(gets.abs_diff(3 * puts) <= 6 + 3 * puts / 10, "GET {gets} vs 3 × PUT {puts}");
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
