//! The results files of a hand-built, deterministic two-agent run: byte-exact against
//! `tests/golden/` (UPDATE_GOLDEN=1 rewrites them — review the diff), and checked for truth:
//! interval sums equal totals, ALL rows equal their bucket rows, endpoint totals equal op totals,
//! and every percentile (latency and GET time to first byte) equals the one computed directly
//! from the recorded values.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use sai3::core::config::parse;
use sai3::core::exec::{
    AgentReport, CpuSample, EndpointInfo, IntervalRow, PhaseResult, RunReport, StageInfo, StageReport, StageTag,
};
use sai3::core::metrics::Snapshot;
use sai3::core::OpKind;
use sai3::report;

/// Deterministic pseudo-random latencies (µs), spread over four decades.
fn latency(i: u64) -> u64 {
    let x = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 33;
    10 + (x % 1000) * (1 + (x % 7) * (x % 13))
}

struct Recorded {
    /// (op, latency) of every successful request, across agents.
    samples: Vec<(OpKind, u64)>,
    /// Time to first byte of every successful GET, across agents.
    ttfb: Vec<u64>,
    /// Attempts beyond the first, and requests that succeeded after a retry, across agents.
    retries: u64,
    retried_ok: u64,
}

/// A GET's time to first byte: a deterministic share of its latency (never more).
fn ttfb_of(lat: u64) -> u64 {
    lat * (1 + lat % 4) / 5 + 1
}

fn agent(id: &str, seed: u64, eps: &[usize], rec: &mut Recorded) -> AgentReport {
    let mut intervals = Vec::new();
    let mut totals = Snapshot::default();
    let mut i = seed * 1_000_000;
    for idx in 0..3u64 {
        let mut s = Snapshot::default();
        for k in 0..(400 + 50 * idx + seed * 30) {
            i += 1;
            let (op, bytes) = match k % 10 {
                0..=4 => (OpKind::Get, 65536),
                5 => (OpKind::Get, 4096),
                6 | 7 => (OpKind::Put, 1 << 20),
                8 => (OpKind::List, 0),
                _ => (OpKind::Stat, 0),
            };
            let lat = latency(i);
            let ep = eps[(k as usize) % eps.len()];
            let ttfb = (op == OpKind::Get).then(|| ttfb_of(lat));
            s.record_ok(op, Some(ep), bytes, lat, None, ttfb);
            rec.samples.push((op, lat));
            rec.ttfb.extend(ttfb);
            // Some requests succeeded only after a retry (GET, PUT, LIST, STAT).
            if k % 23 == 0 {
                s.record_retries(op, Some(ep), 1, true);
                rec.retries += 1;
                rec.retried_ok += 1;
            }
        }
        for _ in 0..(idx + seed) {
            s.record_err(OpKind::Delete, Some(eps[0]), "not_found");
            s.record_retries(OpKind::Delete, Some(eps[0]), 1, false);
            rec.retries += 1;
        }
        s.record_err(OpKind::Get, Some(eps[eps.len() - 1]), "timeout");
        s.record_retries(OpKind::Get, Some(eps[eps.len() - 1]), 2, false);
        rec.retries += 2;
        totals.merge(&s);
        intervals.push(IntervalRow {
            index: idx,
            stage: StageTag::new(1, "workload"),
            timestamp_epoch_ms: 1_790_000_000_000 + 1000 * (idx + 1),
            elapsed_s: (idx + 1) as f64,
            duration_s: 1.0,
            snap: s,
            cpu: CpuSample { user_pct: 20.0 + idx as f64, system_pct: 10.0, iowait_pct: 0.5 },
            missing_agents: vec![],
            summary: None,
        });
    }
    let mut prep = Snapshot::default();
    for k in 0..100u64 {
        prep.record_ok(OpKind::Put, Some(eps[(k as usize) % eps.len()]), 65536, 100 + k, None, None);
    }
    let plan = stages_plan();
    let mut prepare = StageReport::new(0, &plan.stages[0]);
    prepare.result = Some(PhaseResult {
        stage: StageTag::new(0, "prepare"),
        wall: Duration::from_millis(500),
        totals: prep,
        in_flight_at_end: vec![0; 4],
    });
    prepare.created = 100;
    let mut workload = StageReport::new(1, &plan.stages[1]);
    workload.result = Some(PhaseResult {
        stage: StageTag::new(1, "workload"),
        wall: Duration::from_secs(3),
        totals,
        in_flight_at_end: vec![0; 4],
    });
    let mut a = AgentReport::empty(id, &format!("127.0.0.{}:7761", seed + 1));
    a.concurrency = 8;
    a.endpoints = eps.iter().map(|e| format!("file:///mnt/ep{e}/")).collect();
    a.strategy = Some("round_robin".into());
    a.stages = vec![prepare, workload];
    a.intervals = intervals.into();
    a.clock_offset_ms = Some(0.25);
    a.rtt_ms = Some(0.5);
    a.start_skew_ms = Some(1.0);
    a.cpu = CpuSample { user_pct: 21.0, system_pct: 10.0, iowait_pct: 0.5 };
    a.sum_stages();
    a
}

/// The implicit stages of a prepare + workload config.
fn stages_plan() -> sai3::core::config::Plan {
    let yaml = "target: file:///mnt/ep0/\nduration: 3s\nprepare:\n  ensure_objects:\n    - {base_uri: p/, count: 100, size_spec: 64KiB}\nworkload:\n  - {op: get, path: p/*}\n";
    parse(yaml, None).expect("golden plan")
}

fn merged(agents: &[AgentReport]) -> AgentReport {
    let mut m = agents[0].clone();
    m.id = "all".into();
    m.address = "controller".into();
    m.endpoints = (0..4).map(|e| format!("file:///mnt/ep{e}/")).collect();
    for a in &agents[1..] {
        for (mine, theirs) in m.stages.iter_mut().zip(&a.stages) {
            if let (Some(x), Some(y)) = (mine.result.as_mut(), &theirs.result) {
                x.totals.merge(&y.totals);
            }
            mine.created += theirs.created;
        }
        for (x, y) in m.intervals.mem_rows_mut().zip(a.intervals.iter().map(Result::unwrap)) {
            x.snap.merge(&y.snap);
        }
    }
    m.sum_stages();
    m
}

fn build() -> (RunReport, Recorded) {
    let mut rec = Recorded { samples: vec![], ttfb: vec![], retries: 0, retried_ok: 0 };
    let a0 = agent("agent-a", 0, &[0, 1], &mut rec);
    let a1 = agent("agent-b", 1, &[2, 3], &mut rec);
    let aggregate = merged(&[a0.clone(), a1.clone()]);
    let t0 = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let r = RunReport {
        oplog_files: Vec::new(),
        tool_version: "0.0.0-golden".into(),
        command_line: "sai3 ctl run --config golden.yaml".into(),
        config_name: "golden.yaml".into(),
        config_text: "duration: 3s\n".into(),
        started_at: t0,
        ended_at: t0 + Duration::from_secs(4),
        agents: vec![a0, a1],
        aggregate,
        endpoints: (0..4).map(|i| EndpointInfo { idx: i, uri: format!("file:///mnt/ep{i}/") }).collect(),
        distributed: true,
        stage_info: StageInfo::of_plan(&stages_plan()),
        explicit_stages: false,
        dropped: vec![],
        warnings: vec![],
        stats_delay_ms: None,
        stats_send_every: None,
        degraded: None,
    };
    (r, rec)
}

fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split('\t').map(String::from).collect();
    let rows = lines.map(|l| l.split('\t').map(String::from).collect::<Vec<_>>()).collect();
    (head, rows)
}

fn col(head: &[String], name: &str) -> usize {
    head.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"))
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

#[test]
fn files_match_golden() {
    let (r, _) = build();
    let dir = tempfile::tempdir().unwrap();
    report::write_results(dir.path(), &r, "console text\n", None, Some("perf_log.tsv")).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatched = vec![];
    for name in [
        "results.tsv",
        "prepare_results.tsv",
        "perf_log.tsv",
        "workload_endpoint_stats.tsv",
        "prepare_endpoint_stats.tsv",
        "agents/agent-a/results.tsv",
        "agents/agent-b/perf_log.tsv",
        "agents/agent-b/workload_endpoint_stats.tsv",
    ] {
        let got = std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let gpath = golden.join(name.replace('/', "__"));
        if update {
            std::fs::write(&gpath, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&gpath) {
            Ok(want) if want == got => {}
            _ => mismatched.push(name),
        }
    }
    assert!(
        mismatched.is_empty(),
        "differ from tests/golden (UPDATE_GOLDEN=1 to rewrite, then review): {mismatched:?}"
    );
    for name in ["config.yaml", "console_log.txt", "metadata.json"] {
        assert!(dir.path().join(name).is_file(), "{name} missing");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["agents"].as_array().unwrap().len(), 2);
    assert_eq!(meta["agents"][1]["endpoints"][0], "file:///mnt/ep2/");
    assert_eq!(meta["started_epoch_ms"], 1_790_000_000_000u64);
    assert_eq!(meta["tool_version"], "0.0.0-golden");
}

#[test]
fn column_lists_are_the_documented_ones() {
    // The seed's 30 perf_log columns, then sai3's `retries`.
    assert_eq!(report::perf_log::COLUMNS.len(), 31);
    assert_eq!(report::perf_log::COLUMNS[29..], ["errors", "retries"]);
    assert_eq!(
        &report::results_tsv::COLUMNS[..13],
        &[
            "operation",
            "size_bucket",
            "bucket_idx",
            "mean_us",
            "p50_us",
            "p90_us",
            "p95_us",
            "p99_us",
            "max_us",
            "avg_bytes",
            "ops_per_sec",
            "throughput_mibps",
            "count"
        ]
    );
    assert_eq!(
        &report::results_tsv::COLUMNS[13..],
        &["errors", "service_mean_us", "service_p50_us", "service_p99_us", "ttfb_p50_us", "ttfb_p99_us", "retries"]
    );
    assert_eq!(report::endpoint_stats::COLUMNS.len(), 15);
    assert_eq!(report::endpoint_stats::COLUMNS[14], "retries");
}

#[test]
fn figures_are_true() {
    let (r, rec) = build();
    let dir = tempfile::tempdir().unwrap();
    report::write_results(dir.path(), &r, "", None, Some("perf_log.tsv")).unwrap();
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
    let (rh, rows) = table(&read("results.tsv"));
    let (ph, prow) = table(&read("perf_log.tsv"));
    let (eh, erow) = table(&read("workload_endpoint_stats.tsv"));
    let count = col(&rh, "count");
    let all = |op: &str| rows.iter().find(|r| r[0] == op && r[1] == "ALL").unwrap_or_else(|| panic!("no {op} ALL"));

    // perf_log intervals sum to the totals.
    for (op, c) in [("GET", "get_ops"), ("PUT", "put_ops"), ("META", "meta_ops")] {
        let sum: f64 = prow.iter().map(|r| num(&r[col(&ph, c)])).sum();
        assert_eq!(sum, num(&all(op)[count]), "{op}");
    }
    let err_sum: f64 = prow.iter().map(|r| num(&r[col(&ph, "errors")])).sum();
    let err_all: f64 = ["GET", "PUT", "META"]
        .iter()
        .map(|o| rows.iter().find(|r| r[0] == *o && r[1] == "ALL").map(|r| num(&r[col(&rh, "errors")])).unwrap_or(0.0))
        .sum();
    assert_eq!(err_sum, err_all);
    assert_eq!(
        err_all,
        2.0 * 3.0 + [0, 1, 2, 1, 2, 3].iter().sum::<u32>() as f64,
        "1 GET timeout per interval per agent + DELETE errors (idx + seed per interval)"
    );

    // ALL rows equal the sum of their bucket rows; per-op META rows sum to META ALL.
    for op in ["GET", "PUT", "META"] {
        let buckets: f64 = rows.iter().filter(|r| r[0] == op && r[1] != "ALL").map(|r| num(&r[count])).sum();
        assert_eq!(buckets, num(&all(op)[count]), "{op}");
    }
    let per_op: f64 =
        rows.iter().filter(|r| ["LIST", "STAT", "DELETE"].contains(&r[0].as_str())).map(|r| num(&r[count])).sum();
    assert_eq!(per_op, num(&all("META")[count]));

    // Endpoint requests (successes + errors) equal the op totals.
    let ep_total: f64 = erow.iter().map(|r| num(&r[col(&eh, "total_requests")])).sum();
    let ops_total: f64 = ["GET", "PUT", "META"].iter().map(|o| num(&all(o)[count])).sum();
    assert_eq!(ep_total, ops_total + err_all);
    let pct: f64 = erow.iter().map(|r| num(&r[col(&eh, "request_pct")])).sum();
    assert!((pct - 100.0).abs() < 0.05, "{pct}");

    // Retries: the class totals, the per-op META rows, the intervals and the endpoints all add up
    // to what was recorded; size-bucket rows carry none (retries have no size, as errors).
    let retries = col(&rh, "retries");
    let class_retries: f64 = ["GET", "PUT", "META"].iter().map(|o| num(&all(o)[retries])).sum();
    assert_eq!(class_retries, rec.retries as f64);
    let meta_ops: f64 = rows
        .iter()
        .filter(|r| ["LIST", "STAT", "DELETE", "MKDIR", "RMDIR"].contains(&r[0].as_str()))
        .map(|r| num(&r[retries]))
        .sum();
    assert_eq!(meta_ops, num(&all("META")[retries]));
    assert!(rows.iter().filter(|r| r[1] != "ALL").all(|r| r[retries] == "0"), "no retries in size-bucket rows");
    for (what, sum) in [
        ("perf_log", prow.iter().map(|r| num(&r[col(&ph, "retries")])).sum::<f64>()),
        ("endpoint stats", erow.iter().map(|r| num(&r[col(&eh, "retries")])).sum::<f64>()),
    ] {
        assert_eq!(sum, rec.retries as f64, "{what}");
    }
    let meta: serde_json::Value = serde_json::from_str(&read("metadata.json")).unwrap();
    assert_eq!((meta["retries"].as_u64(), meta["retried_ok"].as_u64()), (Some(rec.retries), Some(rec.retried_ok)));
    assert_eq!(meta["stages"][1]["retries"].as_u64(), Some(rec.retries), "the workload stage's");
    assert_eq!(meta["stages"][0]["retries"].as_u64(), Some(0), "prepare does not retry");

    // Percentiles of the merged histograms equal the exact ones of all recorded samples.
    for (op, kinds) in
        [("GET", vec![OpKind::Get]), ("PUT", vec![OpKind::Put]), ("META", vec![OpKind::List, OpKind::Stat])]
    {
        let mut v: Vec<u64> = rec.samples.iter().filter(|(o, _)| kinds.contains(o)).map(|(_, l)| *l).collect();
        v.sort_unstable();
        assert_eq!(v.len() as f64, num(&all(op)[count]));
        for (c, q) in [("p50_us", 0.50), ("p90_us", 0.90), ("p95_us", 0.95), ("p99_us", 0.99), ("max_us", 1.0)] {
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            let exact = v[rank - 1] as f64;
            let got = num(&all(op)[col(&rh, c)]);
            assert!((got - exact).abs() <= exact * 0.001 + 1.0, "{op} {c}: file {got}, exact {exact}");
        }
        let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
        let got = num(&all(op)[col(&rh, "mean_us")]);
        assert!((got - mean).abs() <= mean * 0.001 + 0.01, "{op} mean: file {got}, exact {mean}");
    }

    // Time to first byte: GET's percentiles are those of the recorded values, never above the
    // latency's; every other row has none (0).
    let mut t = rec.ttfb.clone();
    t.sort_unstable();
    assert_eq!(t.len() as f64, num(&all("GET")[count]));
    for (c, lat_c, q) in [("ttfb_p50_us", "p50_us", 0.50), ("ttfb_p99_us", "p99_us", 0.99)] {
        let rank = ((q * t.len() as f64).ceil() as usize).clamp(1, t.len());
        let exact = t[rank - 1] as f64;
        let got = num(&all("GET")[col(&rh, c)]);
        assert!((got - exact).abs() <= exact * 0.001 + 1.0, "GET {c}: file {got}, exact {exact}");
        for r in rows.iter().filter(|r| r[0] == "GET") {
            assert!(num(&r[col(&rh, c)]) > 0.0 && num(&r[col(&rh, c)]) <= num(&r[col(&rh, lat_c)]), "{r:?}");
        }
    }
    for r in rows.iter().filter(|r| r[0] != "GET") {
        assert_eq!((r[col(&rh, "ttfb_p50_us")].as_str(), r[col(&rh, "ttfb_p99_us")].as_str()), ("0", "0"), "{r:?}");
    }
}

/// results.json holds exactly what the TSV files and metadata.json hold, and matches its schema.
#[test]
fn results_json_matches_its_schema_and_the_tsv_files() {
    let (r, _) = build();
    let dir = tempfile::tempdir().unwrap();
    report::write_results(dir.path(), &r, "console text\n", None, Some("perf_log.tsv")).unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&read("results.json")).unwrap();
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/results.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "results.json against docs/schema/results.schema.json:\n{}", errors.join("\n"));
    let mut broken = doc.clone();
    broken["results"][0]["count"] = serde_json::json!("many");
    broken["stages"][0]["outcome"] = serde_json::json!("done");
    assert_eq!(validator.iter_errors(&broken).count(), 2, "the schema is not vacuous");

    // Every row of every TSV, typed: the same values (numbers as the files print them).
    let as_rows = |tsv: &str| -> Vec<Vec<String>> {
        tsv.lines().skip(1).map(|l| l.split('\t').map(str::to_string).collect()).collect()
    };
    let json_rows = |v: &serde_json::Value, header: &str| -> Vec<Vec<String>> {
        let cols: Vec<&str> = header.split('\t').collect();
        v.as_array()
            .unwrap()
            .iter()
            .map(|row| {
                cols.iter()
                    .map(|c| match &row[*c] {
                        serde_json::Value::String(s) => s.clone(),
                        n => n.to_string(),
                    })
                    .collect()
            })
            .collect()
    };
    let same = |file: &str, v: &serde_json::Value| {
        let tsv = read(file);
        let header = tsv.lines().next().unwrap();
        let want: Vec<Vec<f64>> =
            as_rows(&tsv).iter().map(|r| r.iter().map(|c| c.parse().unwrap_or(f64::NAN)).collect()).collect();
        let got: Vec<Vec<f64>> =
            json_rows(v, header).iter().map(|r| r.iter().map(|c| c.parse().unwrap_or(f64::NAN)).collect()).collect();
        assert_eq!(want.len(), got.len(), "{file}: row count");
        for (w, g) in want.iter().zip(&got) {
            for (a, b) in w.iter().zip(g) {
                assert!((a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-9, "{file}: {w:?} vs {g:?}");
            }
        }
        assert_eq!(
            as_rows(&tsv).iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
            json_rows(v, header).iter().map(|r| r[0].clone()).collect::<Vec<_>>()
        );
    };
    same("results.tsv", &doc["results"]);
    same("prepare_results.tsv", &doc["prepare_results"]);
    same("workload_endpoint_stats.tsv", &doc["workload_endpoint_stats"]);
    same("agents/agent-a/results.tsv", &doc["agents"][0]["results"]);
    same("agents/agent-b/workload_endpoint_stats.tsv", &doc["agents"][1]["workload_endpoint_stats"]);
    same("results.tsv", &doc["stages"][1]["results"]);
    let meta: serde_json::Value = serde_json::from_str(&read("metadata.json")).unwrap();
    assert_eq!(doc["metadata"], meta, "metadata is metadata.json");
}
