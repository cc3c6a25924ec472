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
