//! The engine against a real file system: the figures it reports are checked against what is
//! on disk and against independent counts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sai3::core::config::parse;
use sai3::core::exec::{run_alone, NullObserver, RunOptions, RunRole};
use sai3::core::OpKind;

fn count_files(dir: &Path, pred: &dyn Fn(&str) -> bool) -> usize {
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            n += count_files(&p, pred);
        } else if pred(&p.file_name().unwrap().to_string_lossy()) {
            n += 1;
        }
    }
    n
}

fn opts(tick_ms: u64) -> RunOptions {
    RunOptions::new(Duration::from_millis(tick_ms), Arc::new(NullObserver))
}

async fn run_yaml(yaml: &str, tick_ms: u64) -> sai3::core::exec::AgentReport {
    let plan = Arc::new(parse(yaml, None).unwrap_or_else(|e| panic!("config: {e}")));
    run_alone(plan, RunRole::local("t1"), opts(tick_ms)).await.expect("run").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_count_equals_objects_on_disk_and_intervals_sum_to_totals() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "target: \"file://{}/\"\nduration: 2s\nconcurrency: 4\n\
         prepare:\n  ensure_objects:\n    - base_uri: \"data/\"\n      count: 50\n      size_spec: 4KiB\n\
         workload:\n  - op: get\n    path: \"data/*\"\n    weight: 50\n  - op: put\n    path: \"new/obj-{{}}.dat\"\n    object_size: 8KiB\n    weight: 30\n\
         \x20 - op: stat\n    path: \"data/*\"\n    weight: 10\n  - op: list\n    path: \"data/\"\n    weight: 10\n",
        dir.path().display()
    );
    let rep = run_yaml(&yaml, 200).await;
    let prep = rep.prepare.as_ref().expect("prepare ran");
    assert_eq!(prep.totals.op_total(OpKind::Put).unwrap().count, 50);
    assert_eq!(count_files(&dir.path().join("data"), &|n| n.starts_with("prepared-")), 50);

    let wl = rep.workload.as_ref().expect("workload ran");
    let puts = wl.totals.op_total(OpKind::Put).map(|c| c.count).unwrap_or(0);
    assert!(puts > 10, "some PUTs ran: {puts}");
    assert_eq!(count_files(&dir.path().join("new"), &|_| true) as u64, puts, "every reported PUT is a file on disk");
    let put_bytes = wl.totals.op_total(OpKind::Put).unwrap().bytes;
    assert_eq!(put_bytes, puts * 8192);
    assert_eq!(wl.totals.total_errors(), 0, "{:?}", wl.totals.errors);

    // Totals equal the sum of the intervals, op by op.
    for op in OpKind::ALL {
        let from_rows: u64 = rep
            .intervals
            .iter()
            .map(Result::unwrap)
            .filter(|r| &*r.stage.name == "workload")
            .map(|r| r.op_count(op))
            .sum();
        assert_eq!(from_rows, wl.totals.op_total(op).map(|c| c.count).unwrap_or(0), "{op}");
    }
    // The rows cover the 2 s: about ten 200 ms ticks (a loaded machine may deliver a tick late
    // and fold two into one, so the count may vary a little; their lengths add up regardless).
    let rows: Vec<_> = rep.intervals.iter().map(Result::unwrap).filter(|r| &*r.stage.name == "workload").collect();
    let covered: f64 = rows.iter().map(|r| r.duration_s).sum();
    assert!((7..=13).contains(&rows.len()), "2 s at 200 ms ticks: {} rows", rows.len());
    assert!((1.9..=2.6).contains(&covered), "the rows cover the workload's 2 s: {covered} s");
    // GETs read whole 4 KiB objects.
    let g = wl.totals.op_total(OpKind::Get).unwrap();
    assert_eq!(g.bytes, g.count * 4096);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_finds_prepared_objects_and_cleanup_deletes_only_what_it_created() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/keep-me.txt"), b"not ours").unwrap();
    std::fs::write(dir.path().join("outside.txt"), b"not ours").unwrap();
    let base = format!(
        "target: \"file://{}/\"\nconcurrency: 2\nprepare:\n  ensure_objects:\n    - base_uri: \"data/\"\n      count: 20\n      size_spec: {{uniform: {{min: 1KB, max: 3KB}}}}\n",
        dir.path().display()
    );
    let first = run_yaml(&format!("{base}duration: 0s\n"), 100).await;
    assert_eq!((first.prepare_existing, first.prepare_created), (0, 20));
    let sizes: Vec<u64> = (0..20)
        .map(|j| std::fs::metadata(dir.path().join(format!("data/prepared-{j:08}.dat"))).unwrap().len())
        .collect();
    assert!(sizes.iter().all(|s| (1000..=3000).contains(s)));

    // Remove 5 and prepare again: the same names come back with the same sizes.
    let remove5 = || {
        for j in 0..5 {
            std::fs::remove_file(dir.path().join(format!("data/prepared-{j:08}.dat"))).unwrap();
        }
    };
    remove5();
    let again = run_yaml(&format!("{base}duration: 0s\n"), 100).await;
    assert_eq!((again.prepare_existing, again.prepare_created), (15, 5));
    for (j, size) in sizes.iter().enumerate() {
        let now = std::fs::metadata(dir.path().join(format!("data/prepared-{j:08}.dat"))).unwrap().len();
        assert_eq!(now, *size, "object {j} has a deterministic size");
    }
    // Remove 5 again and run with a workload and cleanup: only the 5 re-created objects and the PUTs go.
    remove5();
    let yaml = format!(
        "{base}duration: 1s\ncleanup: true\nworkload:\n  - op: put\n    path: \"data/new-{{}}.dat\"\n    object_size: 1KB\n    weight: 1\n"
    );
    let second = run_yaml(&yaml, 100).await;
    assert_eq!((second.prepare_existing, second.prepare_created), (15, 5));
    let cleaned = second.cleanup.as_ref().expect("cleanup ran").totals.op_total(OpKind::Delete).unwrap().count;
    let puts = second.workload.as_ref().unwrap().totals.op_total(OpKind::Put).unwrap().count;
    assert_eq!(cleaned, 5 + puts);
    assert_eq!(count_files(&dir.path().join("data"), &|n| n.starts_with("prepared-")), 15);
    assert_eq!(count_files(&dir.path().join("data"), &|n| n.starts_with("new-")), 0);
    assert!(dir.path().join("data/keep-me.txt").exists());
    assert!(dir.path().join("outside.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_rate_is_met_within_one_percent() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "target: \"file://{}/\"\nduration: 3s\nconcurrency: 4\nio_rate: 400\n\
         prepare:\n  ensure_objects:\n    - base_uri: \"d/\"\n      count: 10\n      size_spec: 1KiB\n\
         workload:\n  - op: get\n    path: \"d/*\"\n    weight: 1\n",
        dir.path().display()
    );
    let rep = run_yaml(&yaml, 500).await;
    let wl = rep.workload.as_ref().unwrap();
    let n = wl.totals.op_total(OpKind::Get).unwrap().count as f64;
    assert!((n - 1200.0).abs() <= 12.0, "400 ops/s for 3 s = 1200, got {n}");
    // Open loop reports service time beside latency.
    assert!(wl.totals.op_total(OpKind::Get).unwrap().service.is_some());
}

/// Poisson and uniform-gap arrivals keep the mean rate within 1 % too (each block of arrivals
/// spans exactly its periods), while the gaps between operations vary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_arrivals_meet_the_mean_rate_within_one_percent() {
    for dist in ["exponential", "uniform"] {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "target: \"file://{}/\"\nduration: 3s\nconcurrency: 4\nio_rate: {{iops: 400, distribution: {dist}}}\n\
             prepare:\n  ensure_objects:\n    - base_uri: \"d/\"\n      count: 10\n      size_spec: 1KiB\n\
             workload:\n  - op: get\n    path: \"d/*\"\n",
            dir.path().display()
        );
        let rep = run_yaml(&yaml, 500).await;
        let n = rep.workload.as_ref().unwrap().totals.op_total(OpKind::Get).unwrap().count as f64;
        assert!((n - 1200.0).abs() <= 12.0, "{dist}: 400 ops/s for 3 s = 1200, got {n}");
        // The six half-second rows are not all equal, as they would be on a metronome.
        let per_row: Vec<u64> = rep
            .intervals
            .iter()
            .map(Result::unwrap)
            .filter(|r| &*r.stage.name == "workload")
            .map(|r| r.total_ops())
            .collect();
        assert!(per_row.iter().max() != per_row.iter().min(), "{dist}: {per_row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_prepare_and_glob_across_directories() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "target: \"file://{0}/\"\nduration: 1s\nconcurrency: 2\n\
         prepare:\n  tree:\n    base_uri: \"file://{0}/\"\n    width: 2\n    depth: 2\n    files_per_dir: 3\n    size_spec:\n      fixed: 1KB\n\
         workload:\n  - op: get\n    path: \"*/*.dat\"\n    weight: 1\n",
        dir.path().display()
    );
    let rep = run_yaml(&yaml, 100).await;
    assert_eq!(rep.prepare_created, 12);
    assert_eq!(count_files(dir.path(), &|n| n.ends_with(".dat")), 12);
    assert!(dir.path().join("d0_1/d1_1").is_dir());
    let wl = rep.workload.as_ref().unwrap();
    assert!(wl.totals.op_total(OpKind::Get).unwrap().count > 0);
    assert_eq!(wl.totals.total_errors(), 0);
}

/// Cancelling the run (Ctrl-C, abort) ends a long file:// workload at once: its workers never
/// wait on a request, so only the hard-stop flag, set by the cancelling call itself (here on a
/// plain thread, outside the runtime), stops them before the 60 s deadline. GETs read whole
/// objects of the listed size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_ends_a_file_workload_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "target: \"file://{}/\"\nduration: 60s\nconcurrency: 4\n\
         prepare:\n  ensure_objects:\n    - base_uri: \"data/\"\n      count: 20\n      size_spec: 4KiB\n\
         workload:\n  - op: get\n    path: \"data/*\"\n    weight: 1\n",
        dir.path().display()
    );
    let plan = Arc::new(parse(&yaml, None).unwrap_or_else(|e| panic!("config: {e}")));
    let o = opts(100);
    let cancel = o.cancel.clone();
    let started = std::time::Instant::now();
    let prepared = dir.path().join("data");
    std::thread::spawn(move || {
        // Into the workload: the prepared objects are there, then a little more.
        while count_files(&prepared, &|_| true) < 20 && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(1000));
        cancel.cancel();
    });
    let r = run_alone(plan, RunRole::local("t1"), o).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "ended {took:?} after the start of a 60 s run");
    if let Ok((rep, ..)) = r {
        if let Some(g) = rep.workload.as_ref().and_then(|w| w.totals.op_total(OpKind::Get)) {
            assert_eq!(g.bytes, g.count * 4096);
        }
    }
}

/// A process that streams its rows (an agent) keeps none: its memory does not grow with the run.
/// The rows still reach the observer, and the totals are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_run_keeps_no_rows_but_streams_them_all() {
    use sai3::core::exec::{IntervalRow, RunObserver};
    use std::sync::atomic::{AtomicU64, Ordering};
    #[derive(Default)]
    struct Count {
        rows: AtomicU64,
        ops: AtomicU64,
    }
    impl RunObserver for Count {
        fn on_interval(&self, row: &IntervalRow) {
            self.rows.fetch_add(1, Ordering::Relaxed);
            self.ops.fetch_add(row.snap.total_ops(), Ordering::Relaxed);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "target: \"file://{}/\"\nduration: 1s\nconcurrency: 2\n\
         prepare:\n  ensure_objects:\n    - base_uri: \"d/\"\n      count: 20\n      size_spec: 1KiB\n\
         workload:\n  - op: get\n    path: \"d/*\"\n",
        dir.path().display()
    );
    let plan = Arc::new(parse(&yaml, None).unwrap());
    let seen = Arc::new(Count::default());
    let mut o = RunOptions::new(Duration::from_millis(100), seen.clone());
    o.keep_intervals = false;
    let rep = run_alone(plan, RunRole::local("t1"), o).await.expect("run").0;
    assert!(rep.intervals.is_empty(), "no rows kept: {}", rep.intervals.len());
    assert!(seen.rows.load(Ordering::Relaxed) >= 8, "rows streamed: {}", seen.rows.load(Ordering::Relaxed));
    let totals: u64 = rep.stages.iter().filter_map(|s| s.result.as_ref()).map(|r| r.totals.total_ops()).sum();
    assert!(totals > 0);
    assert_eq!(seen.ops.load(Ordering::Relaxed), totals, "every operation of every phase was in a streamed row");
}

fn rchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines().find_map(|l| l.strip_prefix("rchar:")).and_then(|v| v.trim().parse().ok()).unwrap()
}

/// A GET-only file:// workload runs on io_uring threads by default and with blocking reads with
/// `io_engine: sync`; both count every GET with its bytes. Which one ran is told by the
/// process's `rchar` (bytes through read system calls), which io_uring reads do not add to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_gets_run_on_io_uring_unless_sync_and_count_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let ring = sai3::core::store::uring::available();
    for engine in ["auto", "sync"] {
        let yaml = format!(
            "target: \"file://{}/\"\nduration: 1s\nconcurrency: 6\nstorage:\n  io_engine: {engine}\n\
             prepare:\n  ensure_objects:\n    - base_uri: \"data/\"\n      count: 60\n      size_spec: 12KiB\n\
             workload:\n  - op: get\n    path: \"data/*\"\n    weight: 3\n  - op: get\n    path: \"data/*\"\n    weight: 1\n    range: {{length: 1000, offset: 500}}\n",
            dir.path().display()
        );
        let before = rchar();
        let rep = run_yaml(&yaml, 200).await;
        let read_calls = rchar() - before;
        let wl = rep.workload.as_ref().expect("workload ran");
        assert_eq!(wl.totals.total_errors(), 0, "{engine}: {:?}", wl.totals.errors);
        let g = wl.totals.op_total(OpKind::Get).unwrap();
        assert!(g.count > 1000, "{engine}: {} GETs", g.count);
        // Whole objects of 12 KiB and ranges of 1000 bytes: the bytes say how many of each.
        let whole = (g.bytes - g.count * 1000) / (12288 - 1000);
        let ranged = g.count - whole;
        assert_eq!(whole * 12288 + ranged * 1000, g.bytes, "{engine}: every GET read all it asked for");
        assert!(whole > ranged, "{engine}: weights 3:1 ({whole} whole, {ranged} ranged)");
        let from_rows: u64 = rep
            .intervals
            .iter()
            .map(Result::unwrap)
            .filter(|r| &*r.stage.name == "workload")
            .map(|r| r.op_count(OpKind::Get))
            .sum();
        assert_eq!(from_rows, g.count, "{engine}: the intervals sum to the total");
        if engine == "auto" && ring.is_ok() {
            assert!(read_calls < g.bytes / 10, "io_uring reads: {read_calls} bytes by read calls for {} read", g.bytes);
        } else {
            assert!(read_calls >= g.bytes, "blocking reads: {read_calls} bytes by read calls for {} read", g.bytes);
        }
    }
    if let Err(why) = ring {
        eprintln!("io_uring not checked: {why}");
    }
}
