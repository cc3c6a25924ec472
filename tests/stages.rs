//! The stage pipeline: a local multi-stage run checked against the disk and the per-stage files;
//! barriers with real agent processes on 127.0.0.x under `all` and `majority`; the controller and
//! agents in-process (port 0), stage by stage.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{col, count_files, sai3, text, total, tsv, Agent};

fn results_dir(dir: &Path) -> std::path::PathBuf {
    common::results_dir(dir).unwrap_or_else(|| panic!("no results folder in {}", dir.display()))
}

/// Rows of perf_log.tsv whose `stage` column is `stage`.
fn perf_rows<'a>(rows: &'a [Vec<String>], stage: &str) -> Vec<&'a Vec<String>> {
    let c = col(rows, "stage");
    rows[1..].iter().filter(|r| r[c] == stage).collect()
}

fn sum(rows: &[&Vec<String>], header: &[String], name: &str) -> u64 {
    let c = header.iter().position(|h| h == name).unwrap();
    rows.iter().map(|r| r[c].parse::<u64>().unwrap()).sum()
}

fn local_yaml(d: &Path) -> String {
    format!(
        r#"target: "file://{d}/"
concurrency: 4
perf_log:
  interval_seconds: 0.5
prepare:
  ensure_objects:
    - base_uri: "data/"
      count: 50
      size_spec: 4KiB
stages:
  - name: prep
    type: prepare
  - name: warm-read
    type: workload
    duration: 3s
    warmup: 1s
    io_rate: 400
    workload:
      - op: get
        path: "data/*"
  - name: mixed
    type: workload
    ops: 500
    concurrency: 3
    workload:
      - {{op: get, path: "data/*", weight: 3}}
      - {{op: put, path: "new/", object_size: 1KiB, weight: 1}}
  - name: clean
    type: cleanup
"#,
        d = d.display()
    )
}

#[test]
fn local_four_stages_warmup_op_count_and_cleanup_match_the_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = tmp.path().join("four.yaml");
    std::fs::write(&cfg, local_yaml(&data)).unwrap();

    let dry = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--dry-run"], tmp.path());
    let t = text(&dry);
    assert!(dry.status.success(), "{t}");
    for want in ["Stages: 4", "1. prep", "2. warm-read", "warmup 1s not counted", "until 500 operations", "4. clean"] {
        assert!(t.contains(want), "dry run lists `{want}`:\n{t}");
    }
    assert_eq!(count_files(&data), 0, "the dry run touched nothing");

    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for want in
        ["▶ Stage 1/4 `prep` (prepare) started", "■ Stage 2/4 `warm-read` completed", "■ Stage 4/4 `clean` completed"]
    {
        assert!(t.contains(want), "console has `{want}`:\n{t}");
    }
    let dir = results_dir(tmp.path());
    for f in ["01_prep_results.tsv", "02_warm-read_results.tsv", "03_mixed_results.tsv", "04_clean_results.tsv"] {
        assert!(dir.join(f).exists(), "{f} in {}", dir.display());
    }
    // Stage 2: 2 s measured at 400 ops/s; the first second is warmup, in the perf log only.
    let warm = tsv(&dir.join("02_warm-read_results.tsv"));
    let gets = total(&warm, "GET", "count");
    assert!((784..=816).contains(&gets), "2 s at 400 ops/s after the warmup: {gets}");
    let perf = tsv(&dir.join("perf_log.tsv"));
    let warm_rows = perf_rows(&perf, "warm-read:warmup");
    let warm_ops = sum(&warm_rows, &perf[0], "get_ops");
    assert!((390..=410).contains(&warm_ops), "1 s warmup at 400 ops/s: {warm_ops}");
    assert_eq!(sum(&perf_rows(&perf, "warm-read"), &perf[0], "get_ops"), gets, "measured rows sum to the stage total");
    // Stage 3: exactly 500 operations, however the 3 workers shared them.
    let mixed = tsv(&dir.join("03_mixed_results.tsv"));
    let (g3, p3) = (total(&mixed, "GET", "count"), total(&mixed, "PUT", "count"));
    assert_eq!(g3 + p3, 500, "ops: 500 did exactly 500 operations");
    assert_eq!(total(&mixed, "GET", "errors") + total(&mixed, "PUT", "errors"), 0);
    // results.tsv is the sum of the workload stages, warmup excluded.
    let all = tsv(&dir.join("results.tsv"));
    assert_eq!(total(&all, "GET", "count"), gets + g3);
    assert_eq!(total(&all, "PUT", "count"), p3);
    // Prepare made 50, the mix wrote p3, cleanup deleted all of them: nothing is left.
    let prep = tsv(&dir.join("01_prep_results.tsv"));
    assert_eq!(total(&prep, "PUT", "count"), 50);
    let clean = tsv(&dir.join("04_clean_results.tsv"));
    assert_eq!(total(&clean, "META", "count"), 50 + p3, "cleanup deleted what prepare and the PUTs created");
    assert_eq!(count_files(&data), 0, "cleanup left nothing");
    // No perf-log row but a stage part's first is shorter than half an interval.
    let el = col(&perf, "elapsed_s");
    let sc = col(&perf, "stage");
    for pair in perf[1..].windows(2) {
        if pair[0][sc] == pair[1][sc] {
            let gap = pair[1][el].parse::<f64>().unwrap() - pair[0][el].parse::<f64>().unwrap();
            assert!(gap >= 0.25, "a {gap:.3} s row at the end of `{}`: the remainder is folded", pair[1][sc]);
        }
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    let stages = meta["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 4);
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["prep", "warm-read", "mixed", "clean"]);
    assert!(stages.iter().all(|s| s["outcome"] == "completed"), "{stages:?}");
    assert_eq!(stages[1]["warmup_ops"].as_u64(), Some(warm_ops));
    assert_eq!(stages[2]["ops"].as_u64(), Some(500));

    assert_valid_results_json(&dir);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(doc["stages"][2]["name"], "mixed");
    let rows = doc["stages"][2]["results"].as_array().unwrap();
    let all = |op: &str| {
        rows.iter().find(|r| r["operation"] == op && r["size_bucket"] == "ALL").map(|r| r["count"].as_u64().unwrap())
    };
    assert_eq!(all("GET").unwrap_or(0) + all("PUT").unwrap_or(0), 500);

    // `sai3 analyze` shows the stages on its Summary sheet.
    use calamine::{open_workbook, Reader, Xlsx};
    let xlsx = tmp.path().join("stages.xlsx");
    let out = sai3(&["analyze", "--dirs", dir.to_str().unwrap(), "--output", xlsx.to_str().unwrap()], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let mut wb: Xlsx<_> = open_workbook(&xlsx).unwrap();
    let sheet = wb.worksheet_range("Summary").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    let at = rows.iter().position(|r| r.first().is_some_and(|c| c == "Stages")).expect("a Stages table on Summary");
    assert_eq!(&rows[at + 1][..5], ["run", "#", "stage", "type", "outcome"]);
    let listed: Vec<(String, String, String)> =
        rows[at + 2..at + 6].iter().map(|r| (r[2].clone(), r[3].clone(), r[6].clone())).collect();
    assert_eq!(
        listed,
        [
            ("prep".to_string(), "prepare".to_string(), "50".to_string()),
            ("warm-read".into(), "workload".into(), gets.to_string()),
            ("mixed".into(), "workload".into(), "500".into()),
            ("clean".into(), "cleanup".into(), (50 + p3).to_string()),
        ]
    );
}

#[test]
fn json_flag_prints_results_json_on_stdout_and_the_console_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        "target: \"file://{}/j/\"\nduration: 1s\nconcurrency: 2\nworkload:\n  - {{op: put, path: \"w/\", object_size: 1KiB}}\n",
        tmp.path().display()
    );
    let cfg = tmp.path().join("json.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--json"], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Results saved to:"), "{stderr}");
    let dir = results_dir(tmp.path());
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(doc, file, "the same document as results.json");
    let puts = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == "PUT" && r["size_bucket"] == "ALL")
        .unwrap();
    assert_eq!(puts["count"].as_u64().unwrap(), count_files(&tmp.path().join("j/w")));
}

#[test]
fn a_failed_stage_stops_the_run_an_optional_one_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("s");
    std::fs::create_dir_all(&d).unwrap();
    let yaml = format!(
        "target: \"file://{}/\"\nstages:\n  - {{name: may-fail, type: command, command: sh, args: [-c, 'exit 3'], optional: true}}\n  - {{name: must, type: command, command: sh, args: [-c, 'echo ran >&2; exit 4']}}\n  - {{name: never, type: command, command: 'true'}}\n",
        d.display()
    );
    let cfg = tmp.path().join("fail.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("exited with status 4"), "{t}");
    let dir = results_dir(tmp.path());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    let st = meta["stages"].as_array().unwrap();
    assert_eq!(st[0]["outcome"], "failed");
    assert_eq!(st[0]["agents"][0]["exit_code"], 3);
    assert_eq!(st[1]["outcome"], "failed");
    assert_eq!(st[1]["agents"][0]["output_tail"][0], "ran");
    assert_eq!(st[2]["outcome"], "skipped", "nothing runs after a failed stage");
}

#[test]
fn bad_stage_configs_are_refused_with_their_yaml_path() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("stages:\n  - {name: a, type: workload, duration: 2s, warmup: 3s}\n", "stages[0].warmup"),
        ("stages:\n  - {name: a, type: command}\n", "needs `command:`"),
        ("stages:\n  - {name: a, type: prepare, duration: 2s}\n", "belongs to a `workload` stage"),
        ("stages:\n  - {name: a, type: cleanup}\n  - {name: a, type: cleanup}\n", "already the name of stages[0]"),
        ("stages:\n  - {name: 'a b', type: cleanup}\n", "can't name files"),
        ("stages:\n  - {name: a, type: sleep}\n", "not one of prepare, workload, cleanup, command"),
        ("stages:\n  - {name: a, type: cleanup, barrier: {policy: majorty}}\n", "did you mean `majority`"),
    ];
    for (body, want) in cases {
        let cfg = tmp.path().join("bad.yaml");
        std::fs::write(&cfg, format!("target: \"file://{}/\"\n{body}", tmp.path().display())).unwrap();
        let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{body}: {t}");
        assert!(t.contains(want), "{body}: expected `{want}` in\n{t}");
    }
}

/// results.json of a results folder matches docs/schema/results.schema.json.
fn assert_valid_results_json(dir: &Path) {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/results.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{}:\n{}", dir.display(), errors.join("\n"));
}

/// Two (or three) agents; the command stage sleeps on the last agent longer than the barrier's
/// timeout.
fn barrier_yaml(d: &Path, agents: &[&Agent], policy: &str) -> String {
    let mut s = format!(
        r#"target: "file://{d}/"
concurrency: 2
perf_log:
  interval_seconds: 0.5
prepare:
  ensure_objects:
    - base_uri: "x/"
      count: 12
      size_spec: 1KiB
stages:
  - name: prep
    type: prepare
  - name: snap
    type: command
    command: sh
    args: ["-c", "if [ \"$SAI3_AGENT_INDEX\" = \"{last}\" ]; then sleep 20; fi; echo \"$SAI3_AGENT_ID of $SAI3_AGENTS\""]
    barrier: {{policy: {policy}, timeout: 1s}}
  - name: read
    type: workload
    duration: 1s
    workload:
      - op: get
        path: "x/*"
distributed:
  shared_filesystem: true
  start_delay: 0.5
"#,
        d = d.display(),
        last = agents.len() - 1
    );
    s.push_str("  agents:\n");
    for (i, a) in agents.iter().enumerate() {
        s.push_str(&format!("    - address: \"{}\"\n      id: \"ag{i}\"\n", a.addr));
    }
    s
}

#[test]
fn barrier_all_fails_the_run_when_an_agent_is_late_and_writes_the_results() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("s");
    std::fs::create_dir_all(&d).unwrap();
    let a = Agent::start("127.0.0.1", &[], &[]);
    let b = Agent::start("127.0.0.2", &[], &[]);
    let cfg = tmp.path().join("all.yaml");
    std::fs::write(&cfg, barrier_yaml(&d, &[&a, &b], "all")).unwrap();
    let t0 = std::time::Instant::now();
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t0.elapsed() < Duration::from_secs(15), "the late agent is stopped, not waited for: {:?}", t0.elapsed());
    assert!(t.contains("barrier of stage `snap` (policy all): 1 of 2 agents arrived"), "{t}");
    let dir = results_dir(tmp.path());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    let snap = &meta["stages"][1];
    assert_eq!(snap["barrier"]["policy"], "all");
    let waits: Vec<&serde_json::Value> =
        snap["agents"].as_array().unwrap().iter().map(|a| &a["barrier_wait_ms"]).collect();
    assert!(waits[0].as_f64().is_some_and(|w| (900.0..5000.0).contains(&w)), "ag0 waited about the timeout: {waits:?}");
    assert!(waits[1].is_null(), "ag1 never arrived: {waits:?}");
    assert_eq!(meta["stages"][2]["outcome"], "skipped", "the workload never ran");
    assert!(dir.join("agents/ag0/perf_log.tsv").exists());
    // Both agents are idle again, ready for the next run.
    for ag in [&a, &b] {
        let ping = sai3(&["ctl", "ping", "--agents", &ag.addr], tmp.path());
        assert!(ping.status.success(), "{}", text(&ping));
    }
}

#[test]
fn barrier_majority_drops_the_late_agent_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("s");
    std::fs::create_dir_all(&d).unwrap();
    let agents: Vec<Agent> = (1..=3).map(|i| Agent::start(&format!("127.0.0.{i}"), &[], &[])).collect();
    let refs: Vec<&Agent> = agents.iter().collect();
    let cfg = tmp.path().join("majority.yaml");
    std::fs::write(&cfg, barrier_yaml(&d, &refs, "majority")).unwrap();
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&out);
    assert!(out.status.success(), "a majority arrived: the run succeeds\n{t}");
    assert!(t.contains("dropped at the barrier of stage `snap` (policy majority)"), "{t}");
    let dir = results_dir(tmp.path());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["dropped_agents"][0]["id"], "ag2", "{}", meta["dropped_agents"]);
    let read = &meta["stages"][2];
    assert_eq!(read["outcome"], "completed");
    let per: Vec<(String, u64)> = read["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["agent"].as_str().unwrap().to_string(), a["ops"].as_u64().unwrap()))
        .collect();
    assert!(per.iter().filter(|(id, _)| id != "ag2").all(|(_, n)| *n > 0), "{per:?}");
    assert!(per.iter().any(|(id, n)| id == "ag2" && *n == 0), "the dropped agent took no part: {per:?}");
    assert_eq!(meta["stages"][1]["agents"][0]["output_tail"][0], "ag0 of 3");
    assert_valid_results_json(&dir);
    let all = tsv(&dir.join("results.tsv"));
    let a0 = tsv(&dir.join("agents/ag0/results.tsv"));
    let a1 = tsv(&dir.join("agents/ag1/results.tsv"));
    assert_eq!(total(&all, "GET", "count"), total(&a0, "GET", "count") + total(&a1, "GET", "count"));
}

#[test]
fn barrier_best_effort_goes_on_with_whoever_arrived() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("s");
    std::fs::create_dir_all(&d).unwrap();
    let (a, b) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let cfg = tmp.path().join("best.yaml");
    std::fs::write(&cfg, barrier_yaml(&d, &[&a, &b], "best_effort")).unwrap();
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    let t = text(&out);
    assert!(out.status.success(), "best_effort goes on with one of two agents\n{t}");
    assert!(t.contains("dropped at the barrier of stage `snap` (policy best_effort)"), "{t}");
    let dir = results_dir(tmp.path());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["dropped_agents"][0]["id"], "ag1");
    assert_eq!(meta["stages"][2]["outcome"], "completed");
    let all = tsv(&dir.join("results.tsv"));
    assert_eq!(total(&all, "GET", "count"), total(&tsv(&dir.join("agents/ag0/results.tsv")), "GET", "count"));
    assert!(total(&all, "GET", "count") > 0);
}

/// The controller and two agents in this process (gRPC on port 0): the stages run in order,
/// each only after every agent ended the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_controller_runs_the_stage_list_in_order() {
    use parking_lot::Mutex;
    use sai3::core::exec::{RunObserver, StageReport};
    use sai3::net::controller::{self, ControllerObserver, ControllerOptions};

    struct Seen(Mutex<Vec<String>>);
    impl RunObserver for Seen {
        fn on_stage_start(&self, i: usize, _p: &sai3::core::config::Plan) {
            self.0.lock().push(format!("start {i}"));
        }
        fn on_stage_end(&self, r: &StageReport, _p: &sai3::core::config::Plan) {
            self.0.lock().push(format!("end {} {}", r.index, r.outcome.name()));
        }
    }
    struct Obs(Arc<Seen>);
    impl ControllerObserver for Obs {
        fn line(&self, _t: &str) {}
        fn live(&self) -> Arc<dyn RunObserver> {
            self.0.clone()
        }
    }

    let tmp = tempfile::tempdir().unwrap();
    let mut addrs = Vec::new();
    for i in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap().to_string());
        let svc = sai3::net::agent_service::AgentService::new(format!("inproc-{i}"), None);
        let server = sai3::net::pb::agent_server::AgentServer::new(svc);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(server)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
    }
    let yaml = format!(
        "target: \"file://{d}/\"\nconcurrency: 2\nprepare:\n  ensure_objects:\n    - {{base_uri: \"p/\", count: 10, size_spec: 1KiB}}\n\
         stages:\n  - {{name: prep, type: prepare}}\n  - {{name: touch, type: command, command: sh, args: [-c, 'echo $SAI3_AGENT_INDEX > {d}/touched-$SAI3_AGENT_ID']}}\n\
         \x20 - name: count\n    type: workload\n    ops: 301\n    workload:\n      - {{op: get, path: \"p/*\"}}\n  - {{name: clean, type: cleanup}}\n\
         distributed:\n  shared_filesystem: true\n  start_delay: 0.2\n  agents:\n    - {{address: \"{a0}\", id: a0}}\n    - {{address: \"{a1}\", id: a1, concurrency_override: 4}}\n",
        d = tmp.path().display(),
        a0 = addrs[0],
        a1 = addrs[1]
    );
    let plan = sai3::core::config::parse(&yaml, None).expect("plan");
    let seen = Arc::new(Seen(Mutex::new(Vec::new())));
    let opts = ControllerOptions::new("inproc.yaml", vec![], "inproc1");
    let report = controller::run(plan, opts, Default::default(), Arc::new(Obs(seen.clone()))).await.expect("report");
    assert!(report.degraded.is_none(), "{:?}", report.degraded);
    let order = seen.0.lock().clone();
    let want: Vec<String> = (0..4).flat_map(|i| [format!("start {i}"), format!("end {i} completed")]).collect();
    assert_eq!(order, want);
    // `ops: 301` split by worker share: 2 of 6 workers on a0, 4 on a1.
    let ops: Vec<u64> = report.agents.iter().map(|a| a.stages[2].ops()).collect();
    assert_eq!(ops, vec![101, 200]);
    for a in &report.agents {
        for w in a.stages.windows(2) {
            assert!(
                w[0].ended_at.unwrap() <= w[1].started_at.unwrap(),
                "{}: stage {} began before {} ended",
                a.id,
                w[1].name,
                w[0].name
            );
        }
        assert!(a.stages[1].command.as_ref().is_some_and(|c| c.exit_code == Some(0)));
    }
    assert!(tmp.path().join("touched-a0").exists() && tmp.path().join("touched-a1").exists());
    assert_eq!(std::fs::read_dir(tmp.path().join("p")).map(|d| d.count()).unwrap_or(0), 0, "cleanup ran on both");
}
