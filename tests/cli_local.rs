//! `sai3 ctl run` as a process on a real file system: exit codes, messages, the results folder,
//! and the figures in it counted against what is on disk.

mod common;

use common::{check_ttfb, col, count_files, results_dir, results_dirs, sai3, text, total, tsv, write};

#[test]
fn missing_config_is_exit_2_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let o = sai3(&["ctl", "run", "--config", "nope.yaml"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nope.yaml"), "{}", text(&o));
    assert!(results_dirs(tmp.path()).is_empty());
}

#[test]
fn unknown_key_and_bad_size_reported_together_nothing_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let cfg = write(
        tmp.path(),
        "bad.yaml",
        &format!(
            "target: \"file://{}/\"\nduration: 1s\nconcurency: 4\nworkload:\n  - op: put\n    path: \"x/{{}}\"\n    object_size: 12QB\n",
            data.display()
        ),
    );
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("concurency") && t.contains("concurrency"), "did-you-mean hint: {t}");
    assert!(t.contains("workload[0].object_size"), "bad size named by its path: {t}");
    assert_eq!(count_files(&data), 0, "no storage touched");
    assert!(results_dirs(tmp.path()).is_empty(), "no results folder left behind");
}

#[test]
fn nonexistent_target_directory_is_exit_2_for_a_read_only_run_with_no_results_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "t.yaml",
        &format!(
            "target: \"file://{}/missing/\"\nduration: 1s\nconcurrency: 2\nworkload:\n  - op: get\n    path: \"x/*\"\n",
            tmp.path().display()
        ),
    );
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("missing") && t.contains("does not exist"), "names the directory: {t}");
    assert!(!tmp.path().join("missing").exists());
    assert!(results_dirs(tmp.path()).is_empty());
}

#[test]
fn a_run_that_writes_creates_its_missing_directory_and_says_so_once() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("missing/deeper");
    let cfg = write(
        tmp.path(),
        "w.yaml",
        &format!(
            "target: \"file://{}/\"\nduration: 1s\nconcurrency: 2\nprepare:\n  ensure_objects:\n    - {{base_uri: \"p/\", count: 5, size_spec: 1KiB}}\nworkload:\n  - op: put\n    path: \"x/{{{{}}}}\"\n    object_size: 1KB\n",
            target.display()
        ),
    );
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let line = format!("created directory {}/", target.display());
    assert_eq!(t.matches(&line).count(), 1, "said once: {t}");
    assert_eq!(std::fs::read_dir(target.join("p")).unwrap().count(), 5);
    // A target under a file cannot be created: a clear error, nothing written.
    std::fs::write(tmp.path().join("plain"), b"x").unwrap();
    let cfg = write(
        tmp.path(),
        "f.yaml",
        &format!(
            "target: \"file://{}/plain/sub/\"\nduration: 1s\nworkload:\n  - op: put\n    path: \"x/{{{{}}}}\"\n    object_size: 1KB\n",
            tmp.path().display()
        ),
    );
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("is not a directory"), "{t}");
}

#[test]
fn dry_run_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let cfg = write(
        tmp.path(),
        "d.yaml",
        &format!(
            "target: \"file://{}/\"\nduration: 1s\nconcurrency: 2\nprepare:\n  ensure_objects:\n    - base_uri: \"p/\"\n      count: 10\n      size_spec: 1KiB\nworkload:\n  - op: get\n    path: \"p/*\"\n    weight: 1\n",
            data.display()
        ),
    );
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--dry-run"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(count_files(&data), 0);
    assert!(results_dirs(tmp.path()).is_empty());
}

#[test]
fn local_run_writes_results_that_match_the_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let cfg = write(
        tmp.path(),
        "mix.yaml",
        &format!(
            "target: \"file://{}/\"\nduration: 2s\nconcurrency: 4\n\
             prepare:\n  ensure_objects:\n    - base_uri: \"in/\"\n      count: 40\n      size_spec: 4KiB\n\
             workload:\n  - op: get\n    path: \"in/*\"\n    weight: 50\n  - op: put\n    path: \"out/obj-{{}}.dat\"\n    object_size: 2KiB\n    weight: 30\n\
             \x20 - op: stat\n    path: \"in/*\"\n    weight: 10\n  - op: list\n    path: \"in/\"\n    weight: 10\n\
             perf_log:\n  interval_seconds: 0.5\n",
            data.display()
        ),
    );
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let dirs = results_dirs(tmp.path());
    assert_eq!(dirs.len(), 1, "{t}");
    let dir = &dirs[0];
    assert!(t.contains(&format!("Results saved to: {}", dir.display())) || t.contains("Results saved to:"), "{t}");
    for f in ["results.tsv", "prepare_results.tsv", "perf_log.tsv", "config.yaml", "console_log.txt", "metadata.json"] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    // PUT count in results.tsv = new objects on disk; prepare count = prepared objects.
    let res = tsv(&dir.join("results.tsv"));
    let count = |op: &str| total(&res, op, "count");
    assert_eq!(count("PUT"), count_files(&data.join("out")), "PUT count = files on disk");
    assert!(count("GET") > 0 && count("META") > 0);
    check_ttfb(&res);
    let prep = tsv(&dir.join("prepare_results.tsv"));
    assert_eq!(total(&prep, "PUT", "count"), 40, "prepare PUT row");
    assert_eq!(count_files(&data.join("in")), 40);
    // perf_log: the older tool's 30 columns and `retries`; workload interval counts sum to the
    // results totals.
    let perf = tsv(&dir.join("perf_log.tsv"));
    assert_eq!(perf[0].len(), 31, "{:?}", perf[0]);
    assert_eq!(perf[0][30], "retries");
    let (stage, g, p, m) = (col(&perf, "stage"), col(&perf, "get_ops"), col(&perf, "put_ops"), col(&perf, "meta_ops"));
    let sum = |c: usize| -> u64 {
        perf.iter().skip(1).filter(|r| r[stage] == "workload").map(|r| r[c].parse::<u64>().unwrap()).sum()
    };
    assert_eq!(sum(g), count("GET"));
    assert_eq!(sum(p), count("PUT"));
    assert_eq!(sum(m), count("META"));
    // Running it again makes a second folder, never overwriting the first.
    let o2 = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    assert_eq!(o2.status.code(), Some(0), "{}", text(&o2));
    assert_eq!(results_dirs(tmp.path()).len(), 2);
}

/// Time to first byte of GETs read in parts and of empty objects: the parts' first byte comes
/// before the end; an empty object has no first byte, so its ttfb is its whole latency.
#[test]
fn ttfb_of_parts_and_of_empty_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = write(
        tmp.path(),
        "ttfb.yaml",
        &format!(
            "target: \"file://{}/\"\nduration: 1s\nconcurrency: 2\n\
             prepare:\n  ensure_objects:\n    - {{base_uri: \"big/\", count: 4, size_spec: 1MiB}}\n\
             \x20   - {{base_uri: \"empty/\", count: 4, size_spec: 0}}\n\
             workload:\n  - {{op: get, path: \"big/*\", part_size: 256KiB, parts_in_flight: 2}}\n\
             \x20 - {{op: get, path: \"empty/*\"}}\n",
            data.display()
        ),
    );
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rows = tsv(&results_dir(tmp.path()).unwrap().join("results.tsv"));
    check_ttfb(&rows);
    let (b, c) = (col(&rows, "size_bucket"), col(&rows, "count"));
    let zero = rows.iter().find(|r| r[0] == "GET" && r[b] == "zero").expect("a GET row of empty objects");
    assert!(zero[c].parse::<u64>().unwrap() > 0);
    for (t, l) in [("ttfb_p50_us", "p50_us"), ("ttfb_p99_us", "p99_us")] {
        assert_eq!(zero[col(&rows, t)], zero[col(&rows, l)], "empty objects: ttfb is the latency");
    }
    assert!(rows.iter().any(|r| r[0] == "GET" && r[b] == "512KiB-4MiB"), "{rows:?}");
}

#[test]
fn key_prefix_shards_spread_prepared_and_put_names_over_hashed_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("s");
    let cfg = write(
        tmp.path(),
        "shards.yaml",
        &format!(
            "target: \"file://{}/\"\nduration: 1s\nconcurrency: 2\nprepare:\n  ensure_objects:\n    - {{base_uri: \"data/\", count: 200, size_spec: 1KiB, key_prefix_shards: 16}}\nworkload:\n  - {{op: get, path: \"data/*\", weight: 3}}\n  - {{op: put, path: \"new/\", object_size: 1KiB, key_prefix_shards: 8}}\n",
            root.display()
        ),
    );
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let dirs = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    let shards = dirs(&root.join("data"));
    let hex: Vec<String> = (0..16).map(|i| format!("{i:x}")).collect();
    assert_eq!(shards, hex, "200 names reach all 16 one-digit hex shards");
    assert_eq!(count_files(&root.join("data")), 200);
    let rows = tsv(&results_dir(tmp.path()).unwrap().join("results.tsv"));
    assert!(total(&rows, "GET", "count") > 0 && total(&rows, "GET", "errors") == 0, "GETs find the sharded names");
    let put_shards = dirs(&root.join("new"));
    assert!(
        put_shards.len() > 1 && put_shards.iter().all(|s| s.len() == 1 && u8::from_str_radix(s, 16).unwrap() < 8),
        "{put_shards:?}"
    );
    assert_eq!(count_files(&root.join("new")), total(&rows, "PUT", "count"));
    // The names are stable: a second run finds every prepared object where the first put it.
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    assert!(text(&o).contains("200 objects present, 0 to create"), "{}", text(&o));
}
