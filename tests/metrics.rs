//! Live metrics (`--metrics-listen`) scraped by a real Prometheus (the testbed's
//! SAI3_TEST_PROMETHEUS, started here on loopback with a private config and database): what
//! Prometheus holds at the end of a run equals results.tsv, locally and with two agents.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;

use common::{results_dir, sai3, testbed, text, total, tsv, wait_for, Agent, Running, PATIENCE};

/// A free TCP port on `ip` (bound and released: nothing else on this machine picks ports there).
fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

/// `GET path` over HTTP/1.0: (status code, body).
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

struct Prometheus {
    _run: Running,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Prometheus scraping each `(job, host:port)` every 200 ms; returns once it is ready.
    fn start(bin: &str, targets: &[(&str, &str)]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = String::from("global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\nscrape_configs:\n");
        for (job, addr) in targets {
            cfg.push_str(&format!("  - job_name: \"{job}\"\n    static_configs:\n      - targets: [\"{addr}\"]\n"));
        }
        std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
        let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .current_dir(dir.path());
        let run = Running::spawn(cmd);
        let ready = || http_get(&addr, "/-/ready").is_some_and(|(c, _)| c == 200);
        wait_for(PATIENCE, "Prometheus to be ready", ready);
        // Its scrape manager takes up targets a few seconds after start: wait until it has them all.
        let n = targets.len();
        let listed = || {
            http_get(&addr, "/api/v1/targets").is_some_and(|(_, body)| {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                v["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == n)
            })
        };
        wait_for(PATIENCE, "Prometheus to take up its scrape targets", listed);
        Prometheus { _run: run, addr, _dir: dir }
    }

    /// An instant query: each result's labels (`k=v,…`, sorted) → value.
    fn query(&self, promql: &str) -> BTreeMap<String, f64> {
        let q: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let (code, body) = http_get(&self.addr, &format!("/api/v1/query?query={q}")).expect("Prometheus answers");
        assert_eq!(code, 200, "{promql}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut out = BTreeMap::new();
        for r in v["data"]["result"].as_array().unwrap() {
            let labels = r["metric"].as_object().unwrap();
            let key: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect();
            out.insert(key.join(","), r["value"][1].as_str().unwrap().parse().unwrap());
        }
        out
    }

    /// Poll `promql` until it returns `want` (the last scrape may still be on its way in); then
    /// assert equality, showing both.
    fn expect(&self, promql: &str, want: &BTreeMap<String, f64>) {
        let mut got = BTreeMap::new();
        let t0 = std::time::Instant::now();
        while t0.elapsed() < PATIENCE {
            got = self.query(promql);
            if &got == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(&got, want, "{promql}");
    }
}

/// Counts per op of a results.tsv, keyed like a `sum by (op)` result (`op=GET`).
fn counts(file: &Path) -> BTreeMap<String, f64> {
    let rows = tsv(file);
    ["GET", "PUT", "LIST", "STAT", "DELETE"]
        .iter()
        .map(|op| (op, total(&rows, op, "count")))
        .filter(|(_, n)| *n > 0)
        .map(|(op, n)| (format!("op={op}"), n as f64))
        .collect()
}

const WORKLOAD: &str = "  - op: get\n    path: \"obj/*\"\n    weight: 70\n  - op: put\n    path: \"new/\"\n    object_size: 4KB\n    weight: 20\n  - op: stat\n    path: \"obj/*\"\n    weight: 10\n";

#[test]
fn prometheus_scraping_a_local_run_holds_results_tsv() {
    let Some(prom_bin) = testbed("SAI3_TEST_PROMETHEUS") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let maddr = format!("127.0.0.1:{port}");
    let prom = Prometheus::start(&prom_bin, &[("ctl", &maddr)]);
    let d = tmp.path().join("data");
    let cfg = tmp.path().join("m.yaml");
    std::fs::write(
        &cfg,
        format!(
            "target: \"file://{d}/\"\nduration: 3s\nconcurrency: 4\nprepare:\n  ensure_objects:\n    - base_uri: \"file://{d}/obj/\"\n      count: 40\n      size_spec: 4KB\nworkload:\n{WORKLOAD}",
            d = d.display()
        ),
    )
    .unwrap();
    let out = sai3(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--metrics-listen", &maddr, "--metrics-linger", "20"],
        tmp.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains(&format!("metrics: http://{maddr}/metrics")), "{t}");
    assert!(t.contains("Waiting up to 20 s for a last metrics scrape"), "Prometheus scraped during the run:\n{t}");
    assert!(!t.contains("no metrics scrape came"), "{t}");
    let dir = results_dir(tmp.path()).unwrap();

    // Counters kept by Prometheus after the run (staleness ignored by the range) = results.tsv.
    let want = counts(&dir.join("results.tsv"));
    assert!(want.contains_key("op=GET") && want.contains_key("op=PUT") && want.contains_key("op=STAT"), "{want:?}");
    let last = |m: &str, sel: &str| format!("sum by (op) (last_over_time({m}{{job=\"ctl\",{sel}}}[10m]))");
    prom.expect(&last("sai3_ops_total", "phase=\"workload\""), &want);
    prom.expect(&last("sai3_latency_seconds_count", "phase=\"workload\""), &want);
    // 4KB is 4,000 bytes.
    let put_bytes = BTreeMap::from([("op=PUT".to_string(), want["op=PUT"] * 4000.0)]);
    prom.expect(&last("sai3_bytes_total", "phase=\"workload\",op=\"PUT\""), &put_bytes);
    prom.expect(&last("sai3_ops_total", "phase=\"prepare\""), &counts(&dir.join("prepare_results.tsv")));
    // The +Inf bucket holds every request; none failed.
    prom.expect(&last("sai3_latency_seconds_bucket", "phase=\"workload\",le=\"+Inf\""), &want);
    assert!(prom.query("sai3_errors_total").is_empty());
    // It was seen running, in stage 2 (the workload), and ended.
    let one = |k: &str| BTreeMap::from([(k.to_string(), 1.0)]);
    prom.expect("max(max_over_time(sai3_run_running{job=\"ctl\"}[10m]))", &one(""));
    let running_at_end = "last_over_time(sai3_run_running{job=\"ctl\"}[10m])";
    let ended = prom.query(running_at_end);
    assert_eq!(ended.values().copied().collect::<Vec<_>>(), vec![0.0], "{ended:?}");
    prom.expect("max(max_over_time(sai3_stage_info{job=\"ctl\",kind=\"workload\"}[10m]))", &one(""));
    assert!(http_get(&maddr, "/metrics").is_none(), "the endpoint closes with the run");
}

#[test]
fn prometheus_scraping_controller_and_two_agents_holds_each_results_tsv() {
    let Some(prom_bin) = testbed("SAI3_TEST_PROMETHEUS") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (m1, m2) =
        (format!("127.0.0.31:{}", free_port("127.0.0.31")), format!("127.0.0.32:{}", free_port("127.0.0.32")));
    let a1 = Agent::start("127.0.0.31", &["--metrics-listen", &m1], &[]);
    let a2 = Agent::start("127.0.0.32", &["--metrics-listen", &m2], &[]);
    let mc = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let prom = Prometheus::start(&prom_bin, &[("ctl", &mc), ("a1", &m1), ("a2", &m2)]);
    let d = tmp.path().join("data");
    let cfg = tmp.path().join("m.yaml");
    std::fs::write(
        &cfg,
        format!(
            "target: \"file://{d}/\"\nduration: 3s\nconcurrency: 2\ndistributed:\n  shared_filesystem: true\n  start_delay: 1\n  agents:\n    - address: \"{}\"\n      id: \"agent-1\"\n    - address: \"{}\"\n      id: \"agent-2\"\nprepare:\n  ensure_objects:\n    - base_uri: \"file://{d}/obj/\"\n      count: 40\n      size_spec: 4KB\nworkload:\n{WORKLOAD}",
            a1.addr,
            a2.addr,
            d = d.display()
        ),
    )
    .unwrap();
    let out = sai3(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--metrics-listen", &mc, "--metrics-linger", "20"],
        tmp.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("no metrics scrape came"), "{t}");
    let dir = results_dir(tmp.path()).unwrap();

    // The controller's series, per agent, and each agent's own, equal that agent's results.tsv;
    // summed over agents they equal the merged results.tsv.
    let mut per_agent = BTreeMap::new();
    for (job, id) in [("a1", "agent-1"), ("a2", "agent-2")] {
        let want = counts(&dir.join("agents").join(id).join("results.tsv"));
        assert!(want["op=GET"] > 0.0, "{id}: {want:?}");
        let own = format!("sum by (op) (last_over_time(sai3_ops_total{{job=\"{job}\",phase=\"workload\"}}[10m]))");
        prom.expect(&own, &want);
        for (k, v) in want {
            per_agent.insert(format!("agent={id},{k}"), v);
        }
    }
    let ctl = "sum by (agent, op) (last_over_time(sai3_ops_total{job=\"ctl\",phase=\"workload\"}[10m]))";
    prom.expect(ctl, &per_agent);
    let merged = "sum by (op) (last_over_time(sai3_ops_total{job=\"ctl\",phase=\"workload\"}[10m]))";
    prom.expect(merged, &counts(&dir.join("results.tsv")));
    let two = BTreeMap::from([(String::new(), 2.0)]);
    prom.expect("max(max_over_time(sai3_agents_connected{job=\"ctl\"}[10m]))", &two);
    prom.expect("max(last_over_time(sai3_agents_expected{job=\"ctl\"}[10m]))", &two);
    // The agents keep serving their last run's figures, marked as ended.
    let (code, body) = http_get(&m1, "/metrics").expect("agent-1 still serves");
    assert_eq!(code, 200);
    assert!(body.contains("sai3_run_running 0\n"), "{body}");
}

/// A metrics address that cannot be served is a usage error naming the flag, before any I/O.
#[test]
fn bad_metrics_address_is_a_usage_error_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let cfg = tmp.path().join("m.yaml");
    std::fs::write(&cfg, format!("target: \"file://{}/\"\nduration: 1s\nworkload:\n  - op: put\n    path: \"p/\"\n    object_size: 1KB\n    weight: 1\n", d.display())).unwrap();
    for bad in ["127.0.0.1:99999", "no-such-host.invalid:9464"] {
        let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--metrics-listen", bad], tmp.path());
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains(&format!("--metrics-listen {bad}")), "{t}");
        assert!(!d.exists(), "nothing was written");
        assert!(results_dir(tmp.path()).is_none());
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = sai3(&["agent", "--listen", "127.0.0.1:0", "--metrics-listen", &addr], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("is another process using that port?"), "{t}");
}
