//! The op-log against independent counts: its records per operation and stage against
//! results.tsv, prepare_results.tsv and the files on disk; its durations against the reported
//! percentiles; sampling; replays at speed 1 and 2 in the recorded time, onto a remapped prefix
//! only; against the S3 testbed; and with two agent processes (per-agent files and the merged one).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// An op-log file read with nothing of sai3's code: header → column index, rows of cells.
struct Log {
    cols: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Log {
    fn read(path: &Path) -> Log {
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = String::from_utf8(zstd::decode_all(&raw[..]).unwrap()).unwrap();
        let mut lines = text.lines();
        let cols: Vec<String> = lines.next().unwrap().split('\t').map(str::to_string).collect();
        let rows = lines.map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>()).collect::<Vec<_>>();
        assert!(rows.iter().all(|r| r.len() == cols.len()), "every line has every column");
        Log { cols, rows }
    }
    fn c(&self, name: &str) -> usize {
        self.cols.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"))
    }
    /// Records per (op, stage).
    fn counts(&self) -> BTreeMap<(String, String), u64> {
        let (o, s) = (self.c("op"), self.c("stage"));
        let mut m = BTreeMap::new();
        for r in &self.rows {
            *m.entry((r[o].clone(), r[s].clone())).or_insert(0) += 1;
        }
        m
    }
    fn count(&self, op: &str, stage: &str) -> u64 {
        self.counts().get(&(op.to_string(), stage.to_string())).copied().unwrap_or(0)
    }
    /// Nanoseconds since the epoch of an RFC 3339 time with nine fraction digits and `Z`.
    fn ns(t: &str) -> i128 {
        let (date, time) = t.trim_end_matches('Z').split_once('T').unwrap();
        let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
        let (hms, frac) = time.split_once('.').unwrap();
        let h: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        assert_eq!(frac.len(), 9, "nanoseconds: {t}");
        // Days from the civil date (proleptic Gregorian).
        let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + d[2] - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        ((days * 86_400 + h[0] * 3600 + h[1] * 60 + h[2]) as i128) * 1_000_000_000 + frac.parse::<i128>().unwrap()
    }
    /// First start to last end, seconds, of the records of `stage` (all when empty).
    fn span_s(&self, stage: &str) -> f64 {
        let (s, e, st) = (self.c("start"), self.c("end"), self.c("stage"));
        let rows = self.rows.iter().filter(|r| stage.is_empty() || r[st] == stage);
        let first = rows.clone().map(|r| Log::ns(&r[s])).min().unwrap();
        let last = rows.map(|r| Log::ns(&r[e])).max().unwrap();
        (last - first) as f64 / 1e9
    }
}

fn meta(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap()
}

fn run(cfg: &Path, cwd: &Path) -> PathBuf {
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", "res"], cwd);
    assert!(out.status.success(), "{}", text(&out));
    results_dir(&cwd.join("res")).expect("a results folder")
}

/// Every request of a workload falls inside its measured wall, even when its workers are many
/// and the machine is busy while they are spawned: the first request starts no earlier than the
/// wall's start, so the span of the records is at most the wall (before the phases gated their
/// workers at a common start, the first workers ran while the last were being spawned: with these
/// 256 workers on 2 cores the workload's wall was 1.5 ms and the prepare's 0.6 ms).
#[test]
fn the_wall_covers_every_request_of_a_busy_start() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "busy.yaml",
        &format!(
            r#"
target: "file://{d}/"
concurrency: 256
duration: 1s
op_log: {{enabled: true}}
prepare:
  ensure_objects:
    - {{base_uri: "obj/", count: 200, size_spec: 4KiB}}
workload:
  - {{op: get, path: "obj/*"}}
"#,
            d = tmp.path().join("data").display()
        ),
    );
    for _ in 0..3 {
        let dir = run(&cfg, tmp.path());
        let log = Log::read(&dir.join("oplog.tsv.zst"));
        let meta = meta(&dir);
        let stage_of = |kind: &str| meta["stages"].as_array().unwrap().iter().find(|s| s["type"] == kind).unwrap();
        let stage = stage_of("workload");
        let wall = stage["wall_s"].as_f64().unwrap();
        let name = stage["name"].as_str().unwrap().to_string();
        let span = log.span_s(&name);
        assert!(log.count("GET", &name) > 1000);
        // The wall's ends are read with the same clock as the records', to the microsecond.
        assert!(span <= wall + 2e-6, "requests span {span:.6} s, the wall is {wall:.6} s");
        assert!(wall >= 0.999, "a 1 s workload measured over {wall:.6} s");
        // The prepare (the first time: later runs find the objects) the same way.
        let prep = stage_of("prepare");
        let pname = prep["name"].as_str().unwrap().to_string();
        if log.count("PUT", &pname) > 0 {
            assert_eq!(log.count("PUT", &pname), 200);
            let (span, wall) = (log.span_s(&pname), prep["wall_s"].as_f64().unwrap());
            assert!(span <= wall + 2e-6, "prepare requests span {span:.6} s, its wall is {wall:.6} s");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The value at quantile `q` of `v` (sorted), as HDR histograms define it: the smallest value
/// with at least q·n values at or below it.
fn exact_quantile(v: &[u64], q: f64) -> u64 {
    let rank = ((q * v.len() as f64).ceil() as usize).max(1);
    v[rank - 1]
}

#[test]
fn local_records_match_results_warmup_and_disk_and_reproduce_the_percentiles() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = write(
        tmp.path(),
        "cap.yaml",
        &format!(
            r#"
target: "file://{d}/"
concurrency: 4
op_log: {{enabled: true}}
prepare:
  ensure_objects:
    - {{base_uri: "obj/", count: 120, size_spec: 8KiB}}
stages:
  - {{name: prep, type: prepare}}
  - name: main
    type: workload
    duration: 2s
    warmup: 0.5s
    workload:
      - {{op: get, path: "obj/*", weight: 60}}
      - {{op: put, path: "new/", object_size: 2KiB, weight: 30}}
      - {{op: stat, path: "obj/*", weight: 10}}
"#,
            d = data.display()
        ),
    );
    let dir = run(&cfg, tmp.path());
    let log = Log::read(&dir.join("oplog.tsv.zst"));
    let warp = "idx thread op client_id n_objects bytes endpoint file error start first_byte end duration_ns";
    assert_eq!(log.cols[..13].join(" "), warp, "warp's columns first, in its order");
    assert_eq!(log.cols[13..].join(" "), "stage intended_start agent");
    // Records per op of the measured part = results.tsv; of the prepare = prepare_results.tsv.
    let res = tsv(&dir.join("results.tsv"));
    for op in ["GET", "PUT", "STAT"] {
        assert_eq!(log.count(op, "main"), total(&res, op, "count") + total(&res, op, "errors"), "{op}");
    }
    assert!(total(&res, "GET", "count") > 100);
    assert_eq!(log.count("PUT", "prep"), total(&tsv(&dir.join("prepare_results.tsv")), "PUT", "count"));
    assert_eq!(log.count("PUT", "prep"), 120);
    // The warmup's records are labelled as such, as many as the stage's warmup_ops.
    let m = meta(&dir);
    let main = m["stages"].as_array().unwrap().iter().find(|s| s["name"] == "main").unwrap();
    let warm: u64 = ["GET", "PUT", "STAT"].iter().map(|op| log.count(op, "main:warmup")).sum();
    assert_eq!(warm, main["warmup_ops"].as_u64().unwrap());
    assert!(warm > 0);
    // What the storage saw: one file per PUT of the workload, each named in the log.
    let (op, file) = (log.c("op"), log.c("file"));
    let puts: Vec<&Vec<String>> = log.rows.iter().filter(|r| r[op] == "PUT" && r[file].starts_with("new/")).collect();
    assert_eq!(puts.len() as u64, count_files(&data.join("new")));
    assert!(puts.iter().all(|r| data.join(&r[file]).is_file()));
    // The durations reproduce the reported percentiles within the histograms' precision.
    let (st, dur) = (log.c("stage"), log.c("duration_ns"));
    let mut gets: Vec<u64> = log
        .rows
        .iter()
        .filter(|r| r[op] == "GET" && r[st] == "main")
        .map(|r| r[dur].parse::<u64>().unwrap() / 1000)
        .map(|us| us.max(1))
        .collect();
    gets.sort();
    let row = res.iter().find(|r| r[0] == "GET" && r[1] == "ALL").unwrap();
    for (q, name) in [(0.5, "p50_us"), (0.99, "p99_us")] {
        let exact = exact_quantile(&gets, q);
        let hdr: u64 = row[col(&res, name)].parse().unwrap();
        assert!(hdr.abs_diff(exact) <= exact / 1000 + 1, "{name}: {hdr} reported, {exact} from the op-log");
    }
    assert_eq!(m["op_log"]["records"].as_u64(), Some(log.rows.len() as u64));
    assert_eq!(m["oplog_dropped"].as_u64(), Some(0));
    assert_eq!(m["op_log"]["files"][0], "oplog.tsv.zst");
    // Every GET has its first byte, between its start and its end; other ops have none.
    let (fb, s, e) = (log.c("first_byte"), log.c("start"), log.c("end"));
    for r in &log.rows {
        if r[op] == "GET" {
            let t = Log::ns(&r[fb]);
            assert!(Log::ns(&r[s]) <= t && t <= Log::ns(&r[e]), "{r:?}");
        } else {
            assert!(r[fb].is_empty(), "{r:?}");
        }
    }
    // analyze: a sheet of the 100 slowest operations, the slowest first, as in the op-log.
    let xlsx = tmp.path().join("a.xlsx");
    let out = sai3(&["analyze", "--dirs", dir.to_str().unwrap(), "--output", xlsx.to_str().unwrap()], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    use calamine::{DataType, Reader};
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    let sheet = wb.worksheet_range("R1 slowest ops").unwrap();
    assert_eq!(sheet.height(), 101, "header and 100 operations");
    let lat = |r: &[String]| -> u64 {
        let from = if r[log.c("intended_start")].is_empty() { &r[s] } else { &r[log.c("intended_start")] };
        ((Log::ns(&r[e]) - Log::ns(from)) / 1000) as u64
    };
    let slowest = log.rows.iter().map(|r| lat(r)).max().unwrap();
    assert_eq!(sheet.get((1, 0)).and_then(|c| c.as_f64()), Some(slowest as f64));
    let stats = sai3(&["oplog", "stats", dir.join("oplog.tsv.zst").to_str().unwrap()], tmp.path());
    let t = text(&stats);
    assert!(stats.status.success() && t.contains("slowest 10:"), "{t}");
    let get_line = t.lines().find(|l| l.starts_with("GET ")).unwrap();
    let n: u64 = get_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(n, log.counts().iter().filter(|((o, _), _)| o == "GET").map(|(_, c)| c).sum::<u64>());
}

#[test]
fn a_sample_keeps_that_fraction_and_counts_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "s.yaml",
        &format!(
            r#"
target: "file://{d}/"
concurrency: 2
op_log: {{enabled: true, sample: 0.2}}
stages:
  - name: puts
    type: workload
    ops: 3000
    workload:
      - {{op: put, path: "p/", object_size: 1KiB}}
"#,
            d = tmp.path().join("data").display()
        ),
    );
    let dir = run(&cfg, tmp.path());
    let log = Log::read(&dir.join("oplog.tsv.zst"));
    let m = meta(&dir);
    let ops = total(&tsv(&dir.join("results.tsv")), "PUT", "count");
    let kept = log.rows.len() as u64;
    assert_eq!(m["op_log"]["records"].as_u64(), Some(kept));
    assert_eq!(kept + m["op_log"]["sampled_out"].as_u64().unwrap(), ops, "every operation kept or counted out");
    let f = kept as f64 / ops as f64;
    // 3,000 draws at 0.2: the kept fraction's standard deviation is 0.0073; ±0.03 is 4 of them.
    assert!(ops == 3000 && (0.17..0.23).contains(&f), "{kept} of {ops} kept");
}

/// A file tree's names, sizes and modification times.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let md = e.metadata().unwrap();
            if md.is_dir() {
                todo.push(e.path());
            } else {
                out.insert(e.path(), (md.len(), md.modified().unwrap()));
            }
        }
    }
    out
}

#[test]
fn replays_take_the_recorded_time_at_speed_1_and_half_at_2_and_touch_only_the_remapped_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("st");
    let cfg = write(
        tmp.path(),
        "cap.yaml",
        &format!(
            r#"
target: "file://{r}/data/"
concurrency: 4
duration: 6s
io_rate: 100
op_log: {{enabled: true}}
prepare:
  ensure_objects:
    - {{base_uri: "obj/", count: 50, size_spec: 4KiB}}
workload:
  - {{op: get, path: "obj/*", weight: 70}}
  - {{op: put, path: "up/", object_size: 3KiB, weight: 30}}
"#,
            r = root.display()
        ),
    );
    let cap_dir = run(&cfg, tmp.path());
    let cap = Log::read(&cap_dir.join("oplog.tsv.zst"));
    let before = snapshot(&root.join("data"));
    let span = cap.span_s("");
    let oplog = cap_dir.join("oplog.tsv.zst");
    let dry = sai3(&["replay", "--oplog", oplog.to_str().unwrap(), "--dry-run"], tmp.path());
    let t = text(&dry);
    assert!(dry.status.success() && t.contains("Dry run: nothing was touched."), "{t}");
    assert!(t.contains(&format!("{} operations", cap.rows.len())), "{t}");
    // The original's spelling through its program name: `sai3-bench replay --op-log F`.
    let link = tmp.path().join("sai3-bench");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let old = std::process::Command::new(&link)
        .args(["replay", "--op-log", oplog.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    assert!(old.status.success() && text(&old).contains("Dry run: nothing was touched."), "{}", text(&old));
    for (speed, to) in [("1", "copy1"), ("2", "copy2")] {
        let from = format!("file://{}/data/", root.display());
        let remap = format!("{from}=file://{}/{to}/", root.display());
        let want = span / speed.parse::<f64>().unwrap();
        let replay = |attempt: u32| {
            let res = tmp.path().join(format!("replay{speed}-{attempt}"));
            let out = sai3(
                &[
                    "replay",
                    "--oplog",
                    oplog.to_str().unwrap(),
                    "--remap",
                    &remap,
                    "--speed",
                    speed,
                    "--concurrency",
                    "16",
                    "--op-log",
                    "--results-dir",
                    res.to_str().unwrap(),
                ],
                tmp.path(),
            );
            assert!(out.status.success(), "{}", text(&out));
            let dir = results_dir(&res).unwrap();
            let wall = meta(&dir)["stages"][0]["wall_s"].as_f64().unwrap();
            (dir, wall)
        };
        // In the recorded time divided by the speed (±2 %). The tests share two cores: a replay
        // that a busy machine made late is run once more, and then must hold.
        let (mut dir, mut wall) = replay(0);
        if (wall - want).abs() > want * 0.02 {
            eprintln!("speed {speed}: replay took {wall:.3} s for {want:.3} s; once more");
            (dir, wall) = replay(1);
        }
        assert!((wall - want).abs() <= want * 0.02, "speed {speed}: replay took {wall:.3} s, recorded {span:.3} s");
        let again = Log::read(&dir.join("oplog.tsv.zst"));
        // The same operations, each once: per kind, and by name.
        let kinds = |l: &Log| {
            let mut m: BTreeMap<String, u64> = BTreeMap::new();
            l.rows.iter().for_each(|r| *m.entry(r[l.c("op")].clone()).or_insert(0) += 1);
            m
        };
        assert_eq!(kinds(&again), kinds(&cap), "speed {speed}");
        let r = tsv(&dir.join("results.tsv"));
        assert_eq!(total(&r, "GET", "errors") + total(&r, "PUT", "errors"), 0, "speed {speed}");
        assert_eq!(total(&r, "GET", "count") + total(&r, "PUT", "count"), cap.rows.len() as u64);
        // Only the remapped prefix: every replayed object there, the recorded tree untouched.
        let e = again.c("endpoint");
        assert!(again.rows.iter().all(|x| x[e].ends_with(&format!("/{to}/"))), "speed {speed}");
        let puts = cap.rows.iter().filter(|x| x[cap.c("op")] == "PUT").count() as u64;
        assert_eq!(count_files(&root.join(to)), puts, "speed {speed}");
        assert_eq!(snapshot(&root.join("data")), before, "speed {speed}: the recorded objects were not touched");
    }
}

#[test]
fn s3_capture_replays_onto_another_prefix() {
    let Some([uri, data_dir]) = testbed_vars(["SAI3_TEST_S3_URI", "SAI3_TEST_S3_DIR"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let p = unique("oplog");
    let cfg = write(
        tmp.path(),
        "s3.yaml",
        &format!(
            r#"
target: "{uri}{p}/"
concurrency: 4
duration: 2s
io_rate: 150
op_log: {{enabled: true}}
prepare:
  ensure_objects:
    - {{base_uri: "obj/", count: 20, size_spec: 4KiB}}
workload:
  - {{op: get, path: "obj/*", weight: 60}}
  - {{op: put, path: "up/", object_size: 2KiB, weight: 40}}
"#
        ),
    );
    let dir = run(&cfg, tmp.path());
    let cap = Log::read(&dir.join("oplog.tsv.zst"));
    let (op, e) = (cap.c("op"), cap.c("endpoint"));
    let puts = cap.rows.iter().filter(|r| r[op] == "PUT").count() as u64;
    assert_eq!(puts, count_files(&Path::new(&data_dir).join(&p)), "one object on the server per PUT record");
    assert!(cap.rows.iter().all(|r| r[e] == format!("{uri}{p}/")), "the endpoint names the bucket and prefix");
    let gets = cap.rows.iter().filter(|r| r[op] == "GET").count() as u64;
    assert_eq!(gets, total(&tsv(&dir.join("results.tsv")), "GET", "count"));
    let remap = format!("{uri}{p}/={uri}{p}-copy/");
    let out = sai3(
        &["replay", "--oplog", dir.join("oplog.tsv.zst").to_str().unwrap(), "--remap", &remap, "--results-dir", "rep"],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = tsv(&results_dir(&tmp.path().join("rep")).unwrap().join("results.tsv"));
    assert_eq!((total(&r, "GET", "count"), total(&r, "PUT", "count")), (gets, puts));
    assert_eq!(count_files(&Path::new(&data_dir).join(format!("{p}-copy"))), puts);
    assert_eq!(count_files(&Path::new(&data_dir).join(&p)), puts, "the recorded prefix is unchanged");
}

fn fleet_yaml(body: &str, agents: &[&Agent]) -> String {
    let mut s = body.to_string();
    s.push_str("distributed:\n  shared_filesystem: true\n  start_delay: 0.5\n  agents:\n");
    for (i, a) in agents.iter().enumerate() {
        s.push_str(&format!("    - address: \"{}\"\n      id: \"ag{i}\"\n", a.addr));
    }
    s
}

#[test]
fn two_agents_write_their_own_logs_merged_in_time_order_and_replay_their_shares() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("st");
    let (a, b) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let body = format!(
        r#"
target: "file://{r}/data/"
concurrency: 3
duration: 1500ms
op_log: {{enabled: true, merge: true}}
prepare:
  ensure_objects:
    - {{base_uri: "obj/", count: 40, size_spec: 4KiB}}
workload:
  - {{op: get, path: "obj/*", weight: 70}}
  - {{op: put, path: "up/", object_size: 1KiB, weight: 30}}
"#,
        r = root.display()
    );
    let cfg = write(tmp.path(), "fleet.yaml", &fleet_yaml(&body, &[&a, &b]));
    let dir = run(&cfg, tmp.path());
    let mut total_records = 0;
    for id in ["ag0", "ag1"] {
        let log = Log::read(&dir.join(format!("agents/{id}/oplog.tsv.zst")));
        let res = tsv(&dir.join(format!("agents/{id}/results.tsv")));
        for op in ["GET", "PUT"] {
            assert_eq!(log.count(op, "workload"), total(&res, op, "count"), "{id} {op}");
        }
        let prep = tsv(&dir.join(format!("agents/{id}/prepare_results.tsv")));
        assert_eq!(log.count("PUT", "prepare"), total(&prep, "PUT", "count"), "{id}");
        assert!(log.rows.iter().all(|r| r[log.c("agent")] == id && r[log.c("client_id")] == id));
        total_records += log.rows.len();
    }
    let merged = Log::read(&dir.join("oplog.tsv.zst"));
    assert_eq!(merged.rows.len(), total_records);
    let (s, i) = (merged.c("start"), merged.c("idx"));
    assert!(merged.rows.windows(2).all(|w| Log::ns(&w[0][s]) <= Log::ns(&w[1][s])), "time-ordered");
    assert!(merged.rows.iter().enumerate().all(|(n, r)| r[i] == n.to_string()), "numbered anew");
    let m = meta(&dir);
    assert_eq!(m["op_log"]["records"].as_u64(), Some(total_records as u64));
    assert_eq!(m["op_log"]["files"].as_array().unwrap().len(), 3);
    // The fleet replays the merged log, each agent its share, onto another prefix.
    let replay = format!(
        r#"
concurrency: 8
stages:
  - name: again
    type: replay
    oplog: "{log}"
    remap: ["file://{r}/data/=file://{r}/copy/"]
"#,
        log = dir.join("oplog.tsv.zst").display(),
        r = root.display()
    );
    let cfg = write(tmp.path(), "replay.yaml", &fleet_yaml(&replay, &[&a, &b]));
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", "rep"], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let rd = results_dir(&tmp.path().join("rep")).unwrap();
    let r = tsv(&rd.join("results.tsv"));
    let puts = merged.rows.iter().filter(|x| x[merged.c("op")] == "PUT").count() as u64;
    let gets = merged.rows.len() as u64 - puts;
    assert_eq!((total(&r, "GET", "count"), total(&r, "PUT", "count")), (gets, puts));
    for id in ["ag0", "ag1"] {
        let share = tsv(&rd.join(format!("agents/{id}/results.tsv")));
        let n = total(&share, "GET", "count") + total(&share, "PUT", "count");
        // Objects are shared out by their names' hash: about half each.
        let half = total_records as u64 / 2;
        assert!(n.abs_diff(half) <= half / 3, "{id} replayed about half: {n} of {total_records}");
    }
    assert_eq!(count_files(&root.join("copy")), puts);
}
