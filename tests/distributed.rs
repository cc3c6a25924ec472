//! Distributed runs with real agent processes on 127.0.0.x: results per agent and merged, data
//! placement, per-agent endpoints, and failure (unreachable, rejected, killed agent, Ctrl-C,
//! controller killed, busy agent, token refused). Each run is short: CI has 2 cores.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

mod common;

use common::{
    check_ttfb, col, count_files, results_dir, results_dirs, sai3, text, total, tsv, Agent, Running, PATIENCE,
};

fn agents_yaml(agents: &[(&Agent, &str)]) -> String {
    let mut s = String::from("  agents:\n");
    for (a, id) in agents {
        s.push_str(&format!("    - address: \"{}\"\n      id: \"{id}\"\n", a.addr));
    }
    s
}

struct Run {
    out: Output,
    dir: Option<PathBuf>,
}

fn run_config(tmp: &Path, yaml: &str) -> Run {
    let cfg = tmp.join("run.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let out = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp);
    Run { dir: results_dir(tmp), out }
}

#[test]
fn two_agents_shared_tree_results_merge_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let yaml = format!(
        "target: \"file://{d}/\"\nduration: 2s\nconcurrency: 4\ndistributed:\n  shared_filesystem: true\n  tree_creation_mode: coordinator\n  path_selection: random\n  start_delay: 1\n{}\
prepare:\n  tree:\n    base_uri: \"file://{d}/\"\n    width: 3\n    depth: 2\n    files_per_dir: 4\n    size_spec:\n      uniform:\n        min: 4KB\n        max: 16KB\n\
workload:\n  - op: get\n    path: \"*/*.dat\"\n    weight: 60\n  - op: put\n    path: \"new/file-{{}}.dat\"\n    object_size: 8KB\n    weight: 30\n  - op: list\n    path: \"*\"\n    weight: 10\n",
        agents_yaml(&[(&a1, "agent-1"), (&a2, "agent-2")]),
        d = data.display()
    );
    let r = run_config(tmp.path(), &yaml);
    let t = text(&r.out);
    assert_eq!(r.out.status.code(), Some(0), "{t}");
    for l in [
        "=== Distributed Workload ===",
        "✅ agent-1 ready",
        "✅ agent-2 ready",
        "✅ All 2 agents ready",
        "⏳ Starting in 1s",
        "✓ controller created 12 directories in",
        "✓ All 2 agents completed",
        "--- Agent: agent-1 ---",
        "=== Aggregate Totals ===",
        "Results saved to:",
    ] {
        assert!(t.contains(l), "missing `{l}` in:\n{t}");
    }
    let dir = r.dir.unwrap();
    for f in [
        "results.tsv",
        "prepare_results.tsv",
        "perf_log.tsv",
        "config.yaml",
        "console_log.txt",
        "metadata.json",
        "agents/agent-1/results.tsv",
        "agents/agent-2/perf_log.tsv",
        "agents/agent-2/prepare_results.tsv",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    // Prepare: each of the 36 tree files created exactly once across the two agents.
    let files_in_tree = count_files(&data) - count_files(&data.join("new"));
    assert_eq!(files_in_tree, 36);
    let prep = tsv(&dir.join("prepare_results.tsv"));
    assert_eq!(total(&prep, "PUT", "count"), 36);
    let p1 = total(&tsv(&dir.join("agents/agent-1/prepare_results.tsv")), "PUT", "count");
    let p2 = total(&tsv(&dir.join("agents/agent-2/prepare_results.tsv")), "PUT", "count");
    assert_eq!((p1, p2), (18, 18), "split j mod 2");
    // Workload: the aggregate equals the sum of the agents, and PUTs equal new files on disk.
    let all = tsv(&dir.join("results.tsv"));
    let ag: Vec<Vec<Vec<String>>> =
        ["agent-1", "agent-2"].iter().map(|a| tsv(&dir.join(format!("agents/{a}/results.tsv")))).collect();
    for op in ["GET", "PUT", "META"] {
        let sum: u64 = ag.iter().map(|r| total(r, op, "count")).sum();
        assert_eq!(total(&all, op, "count"), sum, "{op}");
        assert!(sum > 0, "{op} ran");
    }
    assert_eq!(count_files(&data.join("new")), total(&all, "PUT", "count"));
    // Time to first byte crossed the wire: the merged median lies between the agents' medians.
    let (t1, t2) = (check_ttfb(&ag[0]).0, check_ttfb(&ag[1]).0);
    let t = check_ttfb(&all).0;
    assert!(t1.min(t2) <= t && t <= t1.max(t2), "merged ttfb_p50_us {t}, agents {t1} and {t2}");
    // perf_log: the aggregate's workload rows add up to the totals, and to the agents' rows.
    let perf = tsv(&dir.join("perf_log.tsv"));
    let (st, g) = (col(&perf, "stage"), col(&perf, "get_ops"));
    let perf_gets: u64 = perf[1..].iter().filter(|r| r[st] == "workload").map(|r| r[g].parse::<u64>().unwrap()).sum();
    assert_eq!(perf_gets, total(&all, "GET", "count"));
    assert!(perf[1..].iter().all(|r| r[0] == "all"));
    let a1perf = tsv(&dir.join("agents/agent-1/perf_log.tsv"));
    assert!(a1perf[1..].iter().all(|r| r[0] == "agent-1"));
    let a1gets: u64 = a1perf[1..].iter().filter(|r| r[st] == "workload").map(|r| r[g].parse::<u64>().unwrap()).sum();
    assert_eq!(a1gets, total(&ag[0], "GET", "count"));
    // metadata: offsets, round trips and the achieved start skew of each agent.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    for a in meta["agents"].as_array().unwrap() {
        assert!(a["rtt_ms"].as_f64().unwrap() >= 0.0);
        assert!(a["clock_offset_ms"].as_f64().is_some());
        let skew = a["start_skew_ms"].as_f64().unwrap();
        assert!(skew.abs() < 200.0, "start skew {skew} ms");
    }
    // Both agents are idle again and say so in their logs.
    a1.log_line("completed; idle", Duration::from_secs(10));
}

#[test]
fn independent_storage_each_agent_prepares_everything_under_its_id() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.3", &[], &[]));
    let yaml = format!(
        "target: \"file://{d}/\"\nduration: 1s\nconcurrency: 2\ndistributed:\n  shared_filesystem: false\n  tree_creation_mode: agent\n  start_delay: 1\n{}\
prepare:\n  ensure_objects:\n    - base_uri: \"obj/\"\n      count: 10\n      size_spec: 4KiB\n\
workload:\n  - op: get\n    path: \"obj/*\"\n",
        agents_yaml(&[(&a1, "east"), (&a2, "west")]),
        d = data.display()
    );
    let r = run_config(tmp.path(), &yaml);
    assert_eq!(r.out.status.code(), Some(0), "{}", text(&r.out));
    assert_eq!(count_files(&data.join("east/obj")), 10);
    assert_eq!(count_files(&data.join("west/obj")), 10);
    assert_eq!(count_files(&data), 20);
}

#[test]
fn path_selection_distributed_never_touches_an_object_twice() {
    // DELETE-only: with disjoint pools the agents delete exactly the 40 objects between them and
    // never meet a missing one; any overlap would show as not-found errors.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let yaml = format!(
        "target: \"file://{d}/\"\nduration: 1s\nconcurrency: 3\ndistributed:\n  shared_filesystem: true\n  path_selection: distributed\n  start_delay: 1\n{}\
prepare:\n  ensure_objects:\n    - base_uri: \"pool/\"\n      count: 40\n      size_spec: 1KiB\n\
workload:\n  - op: delete\n    path: \"pool/*\"\n",
        agents_yaml(&[(&a1, "a"), (&a2, "b")]),
        d = data.display()
    );
    let r = run_config(tmp.path(), &yaml);
    let dir = r.dir.unwrap_or_else(|| panic!("{}", text(&r.out)));
    let ra = tsv(&dir.join("agents/a/results.tsv"));
    let rb = tsv(&dir.join("agents/b/results.tsv"));
    assert_eq!(total(&ra, "DELETE", "count"), 20);
    assert_eq!(total(&rb, "DELETE", "count"), 20);
    assert_eq!(count_files(&data.join("pool")), 0);
    let t = text(&r.out);
    assert!(!t.contains("not_found"), "an object was deleted by both agents:\n{t}");
}

#[test]
fn per_agent_endpoints_stay_with_their_agent() {
    // Seed 002 / seed 000: agent-dc-a uses endpoints A and B only, agent-dc-b C and D only
    // (four file:// mounts of one namespace, made with symlinks).
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    for m in ["A", "B", "C", "D"] {
        std::os::unix::fs::symlink(&real, tmp.path().join(m)).unwrap();
    }
    let ep = |m: &str| format!("file://{}/", tmp.path().join(m).display());
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let yaml = format!(
        r#"duration: 2s
concurrency: 4
distributed:
  shared_filesystem: true
  start_delay: 1
  agents:
    - address: "{}"
      id: "agent-dc-a"
      multi_endpoint:
        strategy: round_robin
        endpoints: ["{}", "{}"]
    - address: "{}"
      id: "agent-dc-b"
      multi_endpoint:
        strategy: least_connections
        endpoints: ["{}", "{}"]
prepare:
  ensure_objects:
    - base_uri: "data/"
      count: 100
      size_spec: 4KiB
workload:
  - op: get
    path: "data/*"
    weight: 80
  - op: put
    path: "up/x-{{}}"
    object_size: 4KiB
    weight: 20
"#,
        a1.addr,
        ep("A"),
        ep("B"),
        a2.addr,
        ep("C"),
        ep("D")
    );
    let r = run_config(tmp.path(), &yaml);
    assert_eq!(r.out.status.code(), Some(0), "{}", text(&r.out));
    let dir = r.dir.unwrap();
    assert_eq!(count_files(&real.join("data")), 100, "each prepared object exactly once");
    let ws = tsv(&dir.join("agents/agent-dc-a/workload_endpoint_stats.tsv"));
    let (u, n) = (col(&ws, "endpoint_uri"), col(&ws, "total_requests"));
    let uris: Vec<&str> = ws[1..].iter().map(|r| r[u].as_str()).collect();
    assert_eq!(uris, vec![ep("A").as_str(), ep("B").as_str()], "agent-dc-a lists only A and B");
    let (ra, rb): (u64, u64) = (ws[1][n].parse().unwrap(), ws[2][n].parse().unwrap());
    assert!(ra.abs_diff(rb) <= 4, "round robin ~50/50 (within one request per worker): {ra} vs {rb}");
    let wb = tsv(&dir.join("agents/agent-dc-b/workload_endpoint_stats.tsv"));
    let uris_b: Vec<&str> = wb[1..].iter().map(|r| r[u].as_str()).collect();
    assert_eq!(uris_b, vec![ep("C").as_str(), ep("D").as_str()]);
    // The aggregate lists all four; requests per endpoint add up to the totals.
    let all = tsv(&dir.join("workload_endpoint_stats.tsv"));
    assert_eq!(all.len(), 5);
    let sum: u64 = all[1..].iter().map(|r| r[n].parse::<u64>().unwrap()).sum();
    let res = tsv(&dir.join("results.tsv"));
    assert_eq!(sum, total(&res, "GET", "count") + total(&res, "PUT", "count"));
    let pstats = tsv(&dir.join("agents/agent-dc-a/prepare_endpoint_stats.tsv"));
    let prep_a: u64 = pstats[1..].iter().map(|r| r[n].parse::<u64>().unwrap()).sum();
    assert_eq!(prep_a, 50, "agent-dc-a created its 50 files through A and B");
}

#[test]
fn unreachable_agent_stops_the_run_before_any_io() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let a1 = Agent::start("127.0.0.1", &[], &[]);
    // A port nobody listens on: bind one, note it, close it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let yaml = format!(
        "target: \"file://{d}/\"\nduration: 1s\ndistributed:\n  agents:\n    - address: \"{}\"\n      id: ok-agent\n    - address: \"{dead}\"\n      id: gone-agent\n\
prepare:\n  ensure_objects:\n    - base_uri: \"x/\"\n      count: 5\n      size_spec: 1KiB\nworkload:\n  - op: get\n    path: \"x/*\"\n",
        a1.addr,
        d = data.display()
    );
    let r = run_config(tmp.path(), &yaml);
    let t = text(&r.out);
    assert_eq!(r.out.status.code(), Some(2), "{t}");
    assert!(t.contains("gone-agent") && t.contains(&dead) && t.contains("unreachable"), "{t}");
    assert!(r.dir.is_none(), "no results folder");
    assert_eq!(count_files(&data), 0, "nothing touched");
}

#[test]
fn rejected_config_names_the_agent_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let missing = tmp.path().join("not-there");
    let yaml = format!(
        "target: \"file://{}/\"\nduration: 1s\ndistributed:\n{}workload:\n  - op: get\n    path: \"p-*\"\n",
        missing.display(),
        agents_yaml(&[(&a1, "a"), (&a2, "b")])
    );
    let r = run_config(tmp.path(), &yaml);
    let t = text(&r.out);
    assert_eq!(r.out.status.code(), Some(2), "{t}");
    assert!(t.contains("agent a (") && t.contains("rejected the config") && t.contains("does not exist"), "{t}");
    assert!(r.dir.is_none());
    assert!(!missing.exists());
    // Both agents are free again.
    let p = sai3(&["ctl", "ping", "--agents", &format!("{},{}", a1.addr, a2.addr)], tmp.path());
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert_eq!(text(&p).matches("idle").count(), 2, "{}", text(&p));
    assert_eq!(text(&p).matches("round trip ").count(), 2, "ping reports the round trip: {}", text(&p));
    assert!(text(&p).contains("clock offset "), "{}", text(&p));
}

/// A GET workload of `secs` seconds. With blocking reads (`io_engine: sync`): the tests watch
/// an agent's progress in its `rchar` (`Agent::wait_for_reads`), which io_uring reads do not add to.
fn long_run_yaml(data: &Path, agents: &str, secs: u64) -> String {
    format!(
        "target: \"file://{d}/\"\nduration: {secs}s\nconcurrency: 2\nstorage:\n  io_engine: sync\ndistributed:\n  start_delay: 1\n{agents}\
prepare:\n  ensure_objects:\n    - base_uri: \"x/\"\n      count: 20\n      size_spec: 4KiB\nworkload:\n  - op: get\n    path: \"x/*\"\n",
        d = data.display()
    )
}

#[test]
fn agent_killed_mid_run_is_marked_and_the_others_results_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let a1 = Agent::start("127.0.0.1", &[], &[]);
    let mut a2 = Agent::start("127.0.0.2", &[], &[]);
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, long_run_yaml(&data, &agents_yaml(&[(&a1, "stays"), (&a2, "dies")]), 4)).unwrap();
    let t0 = Instant::now();
    let mut c = Running::start(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    c.wait_for_stdout("Starting workload now", PATIENCE);
    a2.wait_for_reads();
    a2.run.kill();
    let o = c.wait();
    let took = t0.elapsed();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(took < Duration::from_secs(25), "the controller ended {took:?} after start (4 s run)");
    assert!(out.contains("dies lost"), "{}", text(&o));
    let dir = results_dir(tmp.path()).expect("results written");
    let stays = tsv(&dir.join("agents/stays/results.tsv"));
    assert!(total(&stays, "GET", "count") > 0);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    assert!(meta["degraded"].as_str().unwrap().contains("dies"), "{meta}");
    let missing = meta["missing_intervals"].as_array().unwrap();
    assert!(!missing.is_empty() && missing.iter().all(|m| m["missing_agents"][0] == "dies"), "{meta}");
    let dies = meta["agents"].as_array().unwrap().iter().find(|a| a["id"] == "dies").unwrap();
    assert!(dies["failure"].as_str().unwrap().starts_with("lost"), "{dies}");
}

#[test]
fn ctrl_c_on_the_controller_stops_every_agent_and_writes_what_was_measured() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, long_run_yaml(&data, &agents_yaml(&[(&a1, "a"), (&a2, "b")]), 60)).unwrap();
    let mut c = Running::start(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    c.wait_for_stdout("Starting workload now", PATIENCE);
    a1.wait_for_reads();
    a2.wait_for_reads();
    let t0 = Instant::now();
    c.interrupt();
    let o = c.wait();
    assert!(t0.elapsed() < Duration::from_secs(15), "stopped {:?} after Ctrl-C", t0.elapsed());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir = results_dir(tmp.path()).expect("results written");
    assert!(total(&tsv(&dir.join("results.tsv")), "GET", "count") > 0);
    a1.log_line("idle", Duration::from_secs(10));
    a2.log_line("idle", Duration::from_secs(10));
    assert!(a1.run.stderr().contains("aborted by the controller"), "{}", a1.run.stderr());
}

#[test]
fn controller_killed_agents_return_to_idle_and_take_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let a1 = Agent::start("127.0.0.1", &[], &[]);
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, long_run_yaml(&data, &agents_yaml(&[(&a1, "a")]), 60)).unwrap();
    let mut c = Running::start(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    c.wait_for_stdout("Starting workload now", PATIENCE);
    // While it runs, a second controller is told the agent is busy.
    let busy = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    assert_eq!(busy.status.code(), Some(2));
    assert!(text(&busy).contains("busy with run"), "{}", text(&busy));
    c.kill();
    a1.log_line("the controller went away; idle", Duration::from_secs(15));
    std::fs::write(&cfg, long_run_yaml(&data, &agents_yaml(&[(&a1, "a")]), 1)).unwrap();
    let next = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    assert_eq!(next.status.code(), Some(0), "{}", text(&next));
}

#[test]
fn token_protected_agent_refuses_an_unauthenticated_controller() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let tok = tmp.path().join("token");
    std::fs::write(&tok, "correct-horse-battery\n").unwrap();
    let a1 = Agent::start("127.0.0.1", &["--token-file", tok.to_str().unwrap()], &[]);
    let body = long_run_yaml(&data, &agents_yaml(&[(&a1, "a")]), 1);
    let r = run_config(tmp.path(), &body);
    assert_eq!(r.out.status.code(), Some(2), "{}", text(&r.out));
    assert!(text(&r.out).contains("requires a token"), "{}", text(&r.out));
    let p = sai3(&["ctl", "ping", "--agents", &a1.addr], tmp.path());
    assert_eq!(p.status.code(), Some(1));
    // With the token (in the config), the same run works.
    let with = body.replace("distributed:\n", &format!("distributed:\n  token_file: \"{}\"\n", tok.display()));
    let r = run_config(tmp.path(), &with);
    assert_eq!(r.out.status.code(), Some(0), "{}", text(&r.out));
}

#[test]
fn dry_run_lists_agents_and_contacts_nobody() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = "target: \"file:///nonexistent-sai3/\"\nduration: 1s\nconcurrency: 8\ndistributed:\n  shared_filesystem: true\n  agents:\n    - address: \"127.0.0.9:7761\"\n      id: one\n      concurrency_override: 4\n    - address: \"127.0.0.10:7761\"\n\
prepare:\n  ensure_objects:\n    - base_uri: \"x/\"\n      count: 10\n      size_spec: 1KiB\nworkload:\n  - op: get\n    path: \"x/*\"\n";
    let cfg = tmp.path().join("d.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let o = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--dry-run"], tmp.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("one at 127.0.0.9:7761: concurrency 4"), "{t}");
    assert!(t.contains("agent-1 at 127.0.0.10:7761: concurrency 8"), "{t}");
    assert!(t.contains("5 of 10 objects"), "{t}");
    assert!(t.contains("no agent was contacted"), "{t}");
}

/// A CA and a server (or client) certificate for 127.0.0.1, as PEM files in `dir`.
fn make_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |names: Vec<String>| {
        let k = KeyPair::generate().unwrap();
        let c = CertificateParams::new(names).unwrap().signed_by(&k, &ca, &ca_key).unwrap();
        (c.pem(), k.serialize_pem())
    };
    let (srv, srv_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
    let (cli, cli_key) = leaf(vec!["sai3-controller".into()]);
    let w = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    (
        w("ca.pem", &ca.pem()),
        w("server.pem", &srv),
        w("server.key", &srv_key),
        w("client.pem", &cli),
        w("client.key", &cli_key),
    )
}

#[test]
fn tls_with_client_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (ca, srv, srv_key, cli, cli_key) = make_pki(tmp.path());
    let a1 = Agent::start(
        "127.0.0.1",
        &[
            "--tls-cert",
            srv.to_str().unwrap(),
            "--tls-key",
            srv_key.to_str().unwrap(),
            "--tls-client-ca",
            ca.to_str().unwrap(),
        ],
        &[],
    );
    let body = long_run_yaml(&data, &agents_yaml(&[(&a1, "a")]), 1);
    // Plaintext controller against a TLS agent: refused before any I/O.
    let r = run_config(tmp.path(), &body);
    assert_eq!(r.out.status.code(), Some(2), "{}", text(&r.out));
    assert!(r.dir.is_none());
    // TLS without a client certificate: refused (the agent requires one).
    let only_ca = body.replace("distributed:\n", &format!("distributed:\n  tls:\n    ca: \"{}\"\n", ca.display()));
    let r = run_config(tmp.path(), &only_ca);
    assert_eq!(r.out.status.code(), Some(2), "{}", text(&r.out));
    // TLS with the client certificate: the run works.
    let full = body.replace(
        "distributed:\n",
        &format!(
            "distributed:\n  tls:\n    ca: \"{}\"\n    cert: \"{}\"\n    key: \"{}\"\n",
            ca.display(),
            cli.display(),
            cli_key.display()
        ),
    );
    let r = run_config(tmp.path(), &full);
    assert_eq!(r.out.status.code(), Some(0), "{}", text(&r.out));
    let saved = std::fs::read_to_string(r.dir.unwrap().join("config.yaml")).unwrap();
    assert!(saved.contains("tls:"), "config copy kept");
}

fn seed_config(name: &str, subs: &[(&str, &str)]) -> String {
    let mut s =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs").join(name)).unwrap();
    for (a, b) in subs {
        s = s.replace(a, b);
    }
    s
}

#[test]
fn seed_000_examples_3_and_4_per_agent_endpoints_as_written() {
    // The seed's four endpoint directories, made one namespace (like four mounts of one export).
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("sai3-multi-ep-test");
    std::fs::create_dir_all(base.join("shared")).unwrap();
    for e in ["a", "b", "c", "d"] {
        std::os::unix::fs::symlink("shared", base.join(format!("endpoint-{e}"))).unwrap();
    }
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let base_s = base.display().to_string();
    let subs = [
        ("/tmp/sai3-multi-ep-test", base_s.as_str()),
        ("localhost:7761", a1.addr.as_str()),
        ("localhost:7762", a2.addr.as_str()),
        ("duration: 20s", "duration: 2s"),
    ];
    // Example 3: prepare only; each agent creates its 50 files through its own two endpoints.
    let r = run_config(tmp.path(), &seed_config("multi_endpoint_prepare.yaml", &subs));
    assert_eq!(r.out.status.code(), Some(0), "{}", text(&r.out));
    assert!(text(&r.out).contains("Endpoints: 4 (2 per agent, round_robin / least_connections)"), "{}", text(&r.out));
    assert_eq!(count_files(&base.join("shared/testdata")), 100);
    let dir = r.dir.unwrap();
    let pa = tsv(&dir.join("agents/agent-dc-a/prepare_endpoint_stats.tsv"));
    let (u, n) = (col(&pa, "endpoint_uri"), col(&pa, "total_requests"));
    assert_eq!(pa.len(), 3, "only A and B: {pa:?}");
    assert!(pa[1][u].ends_with("endpoint-a/") && pa[2][u].ends_with("endpoint-b/"));
    assert_eq!((pa[1][n].as_str(), pa[2][n].as_str()), ("25", "25"));
    let pb = tsv(&dir.join("agents/agent-dc-b/prepare_endpoint_stats.tsv"));
    assert!(pb[1][u].ends_with("endpoint-c/") && pb[2][u].ends_with("endpoint-d/"));
    std::fs::remove_dir_all(&dir).unwrap();
    // Example 4: the workload; agent-dc-a's requests go to A and B only, ~50/50, no errors.
    let r = run_config(tmp.path(), &seed_config("multi_endpoint_workload.yaml", &subs));
    assert_eq!(r.out.status.code(), Some(0), "{}", text(&r.out));
    let dir = r.dir.unwrap();
    let wa = tsv(&dir.join("agents/agent-dc-a/workload_endpoint_stats.tsv"));
    assert_eq!(wa.len(), 3);
    assert!(wa[1][u].ends_with("endpoint-a/") && wa[2][u].ends_with("endpoint-b/"));
    let (ra, rb): (u64, u64) = (wa[1][n].parse().unwrap(), wa[2][n].parse().unwrap());
    assert!(ra.abs_diff(rb) <= 8, "round robin: {ra} vs {rb}");
    let res = tsv(&dir.join("results.tsv"));
    for op in ["GET", "PUT", "META"] {
        assert_eq!(total(&res, op, "errors"), 0, "{op} errors");
    }
}

#[test]
fn seed_000_examples_1_and_2_with_local_agents() {
    let tmp = tempfile::tempdir().unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    // Example 1 as written (paths in a temp dir, agents where they listen, 2 s instead of 30 s).
    let d1 = tmp.path().join("sai3-test");
    std::fs::create_dir(&d1).unwrap();
    let d1s = d1.display().to_string();
    let y1 = seed_config(
        "local_test_2agents.yaml",
        &[
            ("/tmp/sai3-test", d1s.as_str()),
            ("127.0.0.1:7761", a1.addr.as_str()),
            ("127.0.0.1:7762", a2.addr.as_str()),
            ("duration: 30s", "duration: 2s"),
            ("min: 1MB", "min: 10KB"),
            ("max: 5MB", "max: 50KB"),
            ("object_size: 2MB", "object_size: 20KB"),
        ],
    );
    let r = run_config(tmp.path(), &y1);
    assert_eq!(r.out.status.code(), Some(0), "{}", text(&r.out));
    assert!(r.dir.as_ref().unwrap().join("agents/test-agent-1/results.tsv").exists());
    assert!(r.dir.as_ref().unwrap().join("agents/test-agent-2/results.tsv").exists());
    // Example 2 has no `distributed:` section: its agents come from --agents.
    let d2 = tmp.path().join("sai3bench-test");
    std::fs::create_dir(&d2).unwrap();
    let d2s = d2.display().to_string();
    let cfg = tmp.path().join("distributed_mixed_test.yaml");
    std::fs::write(&cfg, seed_config("distributed_mixed_test.yaml", &[("/tmp/sai3bench-test", d2s.as_str())])).unwrap();
    let o = sai3(
        &["ctl", "run", "--config", cfg.to_str().unwrap(), "--agents", &format!("{},{}", a1.addr, a2.addr)],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir =
        results_dirs(tmp.path()).into_iter().find(|d| d.to_string_lossy().contains("distributed_mixed_test")).unwrap();
    assert!(dir.join("agents/agent-0/results.tsv").exists() && dir.join("agents/agent-1/results.tsv").exists());
    // Without a shared_filesystem key the agents share the target: 180 prepared objects, once each.
    let prep = tsv(&dir.join("prepare_results.tsv"));
    assert_eq!(total(&prep, "PUT", "count"), 180);
}

#[test]
fn tree_creation_mode_controller_creates_everything_before_the_agents() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let yaml = format!(
        "target: \"file://{d}/\"\nduration: 1s\nconcurrency: 2\ndistributed:\n  shared_filesystem: true\n  tree_creation_mode: controller\n  start_delay: 1\n{}\
prepare:\n  tree:\n    base_uri: \"file://{d}/\"\n    width: 2\n    depth: 2\n    files_per_dir: 3\n    size_spec: 2KiB\n\
workload:\n  - op: stat\n    path: \"*/*.dat\"\n",
        agents_yaml(&[(&a1, "a"), (&a2, "b")]),
        d = data.display()
    );
    let r = run_config(tmp.path(), &yaml);
    let t = text(&r.out);
    assert_eq!(r.out.status.code(), Some(0), "{t}");
    assert!(t.contains("Controller preparing the tree and files"), "{t}");
    assert!(
        t.contains("a prepared: 6 objects present, 0 created")
            && t.contains("b prepared: 6 objects present, 0 created"),
        "each agent counts its share: {t}"
    );
    assert_eq!(count_files(&data), 12);
    let dir = r.dir.unwrap();
    assert_eq!(
        total(&tsv(&dir.join("prepare_results.tsv")), "PUT", "count"),
        12,
        "the controller's prepare is in the aggregate"
    );
    assert!(total(&tsv(&dir.join("agents/a/results.tsv")), "STAT", "count") > 0);
}

/// The workload features that keep state per agent — `from: written` pools and MKDIR'd
/// directories — on two agents sharing a file system: each agent reads back and removes what it
/// made, and the merged counts are the sums.
#[test]
fn two_agents_read_back_and_remove_what_they_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let yaml = format!(
        "target: \"file://{d}/\"\nconcurrency: 2\ncleanup: false\ndistributed:\n  shared_filesystem: true\n{}\
stages:\n  - {{name: mixed, type: workload, duration: 2s, workload: [{{op: put, path: \"w/\", object_size: 4KiB}}, {{op: get, from: written, verify: true, weight: 3}}]}}\n{}{}",
        agents_yaml(&[(&a1, "agent-1"), (&a2, "agent-2")]),
        "  - {name: dirs, type: workload, ops: 40, workload: [{op: mkdir, path: \"md/\"}]}\n",
        "  - {name: undirs, type: workload, ops: 40, workload: [{op: rmdir, from: written}]}\n",
        d = data.display()
    );
    let r = run_config(tmp.path(), &yaml);
    assert_eq!(r.out.status.code(), Some(0), "{}", text(&r.out));
    let dir = r.dir.unwrap();
    let mixed = tsv(&dir.join("01_mixed_results.tsv"));
    let (gets, puts) = (total(&mixed, "GET", "count"), total(&mixed, "PUT", "count"));
    assert!(puts > 0 && gets > puts, "GET {gets} PUT {puts}");
    assert_eq!(total(&mixed, "GET", "errors"), 0, "every GET found and verified what its agent wrote");
    assert_eq!(count_files(&data.join("w")), puts, "PUTs on disk");
    let dirs = tsv(&dir.join("02_dirs_results.tsv"));
    let undirs = tsv(&dir.join("03_undirs_results.tsv"));
    assert_eq!((total(&dirs, "MKDIR", "count"), total(&dirs, "MKDIR", "errors")), (40, 0));
    assert_eq!((total(&undirs, "RMDIR", "count"), total(&undirs, "RMDIR", "errors")), (40, 0));
    for a in ["agent-1", "agent-2"] {
        let rows = tsv(&dir.join(format!("agents/{a}/02_dirs_results.tsv")));
        assert_eq!(total(&rows, "MKDIR", "count"), 20, "{a}'s share");
    }
    assert_eq!(std::fs::read_dir(data.join("md")).unwrap().count(), 0, "every made directory removed");
}

/// `distributed.agents_from`: a name with one address per agent (the testbed puts three loopback
/// addresses under one name in /etc/hosts, as a headless Service has one per pod) is the agent
/// list; ids are the agents' own (here all the same host name, so made unique by position).
#[test]
fn agents_from_a_dns_name_with_one_address_per_agent() {
    let Some(dns) = common::testbed("SAI3_TEST_AGENTS_DNS") else { return };
    let ips = ["127.0.0.21", "127.0.0.22", "127.0.0.23"];
    // One port for every address, as a Service has.
    let port = std::net::TcpListener::bind((ips[0], 0)).unwrap().local_addr().unwrap().port();
    let agents: Vec<Agent> = ips.iter().map(|ip| Agent::start_at(&format!("{ip}:{port}"), &[], &[])).collect();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let yaml = format!(
        "target: \"file://{}/\"\nduration: 1s\nconcurrency: 2\ndistributed:\n  agents_from: {{dns: {dns}, port: {port}, count: 3}}\n  start_delay: 0\nworkload:\n  - {{op: put, path: \"up/\", object_size: 4KiB}}\n",
        data.display()
    );
    let cfg = tmp.path().join("run.yaml");
    std::fs::write(&cfg, &yaml).unwrap();
    let dry = sai3(&["ctl", "run", "--config", cfg.to_str().unwrap(), "--dry-run"], tmp.path());
    assert!(text(&dry).contains(&format!("every address of {dns} (port {port}, waiting for 3)")), "{}", text(&dry));
    let r = run_config(tmp.path(), &yaml);
    let t = text(&r.out);
    assert_eq!(r.out.status.code(), Some(0), "{t}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let dir = r.dir.unwrap();
    let mut puts = 0;
    for (i, ip) in ips.iter().enumerate() {
        let id = format!("{host}-{i}");
        assert!(t.contains(&format!("{id}={ip}:{port}")), "{id} at {ip} in:\n{t}");
        puts += total(&tsv(&dir.join(format!("agents/{id}/results.tsv"))), "PUT", "count");
    }
    assert_eq!(total(&tsv(&dir.join("results.tsv")), "PUT", "count"), puts);
    assert_eq!(count_files(&data), puts, "every agent's PUTs on disk");
    drop(agents);
}

/// The agent logs one structured line per run event (UTC timestamps), the controller's log is
/// in the results folder, and neither the token nor a credential from the environment appears in
/// any log line, even at the most verbose level.
#[test]
fn logs_are_structured_and_hold_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let token = "tok-3a9f0c5e7b21d4e6";
    let secret = "SECRETd41d8cd98f00b204e9800998ecf8427e";
    let tok = common::write(tmp.path(), "token", &format!("{token}\n"));
    let env = [("AWS_SECRET_ACCESS_KEY", secret), ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")];
    let a = Agent::start("127.0.0.1", &["--token-file", tok.to_str().unwrap(), "-vv"], &env);
    let yaml = format!(
        "target: \"file://{}/data/\"\nduration: 1s\nconcurrency: 2\ndistributed:\n  token_file: {}\n  start_delay: 0\n{}workload:\n  - {{op: put, path: \"up/\", object_size: 4KiB}}\n",
        tmp.path().display(),
        tok.display(),
        agents_yaml(&[(&a, "agent-1")])
    );
    let cfg = common::write(tmp.path(), "run.yaml", &yaml);
    let out = common::sai3_env(&["ctl", "run", "--config", cfg.to_str().unwrap(), "-vv"], tmp.path(), &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    a.log_line("completed; idle", PATIENCE);
    let agent_log = a.run.stderr();
    let stamp = |l: &str| {
        let t = l.split_whitespace().next().unwrap_or("");
        t.len() > 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T'
    };
    for ev in ["connect", "configure", "stage_start", "stage_end", "end"] {
        let line = agent_log.lines().find(|l| l.contains(&format!("event=\"{ev}\"")));
        let line = line.unwrap_or_else(|| panic!("no {ev} line in the agent's log:\n{agent_log}"));
        assert!(stamp(line), "UTC timestamp first: {line}");
    }
    let dir = results_dir(tmp.path()).unwrap();
    let ctl_log = std::fs::read_to_string(dir.join("controller_log.txt")).unwrap();
    for ev in ["ready", "stage_start", "stage_end"] {
        assert!(ctl_log.contains(&format!("event=\"{ev}\"")), "no {ev} in controller_log.txt:\n{ctl_log}");
    }
    for (what, log) in [("agent", &agent_log), ("controller stderr", &text(&out)), ("controller_log.txt", &ctl_log)] {
        assert!(!log.contains(token) && !log.contains(secret), "a secret in the {what} log:\n{log}");
    }
}

/// A config in sai3-bench's dialect reaches the agents as written and each rewrites it the same
/// way: its `distributed.stages` (with a validation stage and barrier_sync), `isolated` trees,
/// `path_template`, legacy sizes. Each agent prepares everything under its own prefix.
#[test]
fn sai3_bench_dialect_config_runs_on_two_agents() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (a1, a2) = (Agent::start("127.0.0.1", &[], &[]), Agent::start("127.0.0.2", &[], &[]));
    let yaml = format!(
        r#"target: "file://{d}/"
duration: 1s
concurrency: 2
perf_log:
  interval: 1s
prepare:
  ensure_objects:
    - base_uri: "file://{d}/pool/"
      count: 10
      min_size: 2048
      max_size: 2048
workload:
  - op: get
    path: "pool/*"
    weight: 100
distributed:
  shared_filesystem: false
  tree_creation_mode: isolated
  path_selection: random
  path_template: "agent-{{id}}/"
  start_delay: 1
  grpc_keepalive_interval: 30
{}  barrier_sync:
    enabled: true
    prepare:
      type: all_or_nothing
      agent_barrier_timeout: 300
  stages:
    - name: preflight
      order: 1
      completion: validation_passed
      type: validation
    - name: prep
      order: 2
      completion: tasks_done
      type: prepare
    - name: read
      order: 3
      completion: duration
      type: execute
      duration: 2s
"#,
        agents_yaml(&[(&a1, "a"), (&a2, "b")]),
        d = data.display()
    );
    let r = run_config(tmp.path(), &yaml);
    let t = text(&r.out);
    let dir = r.dir.unwrap_or_else(|| panic!("{t}"));
    assert_eq!(r.out.status.code(), Some(0), "{t}");
    assert!(t.contains("note: line") && t.contains("warning: line"), "notices and warnings on the console:\n{t}");
    for id in ["a", "b"] {
        let pool = data.join(format!("agent-{id}")).join("pool");
        assert_eq!(count_files(&pool), 10, "{id} prepared everything under its own prefix");
        let sizes: Vec<u64> = std::fs::read_dir(&pool).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).collect();
        assert!(sizes.iter().all(|&n| n == 2048), "min_size/max_size 2048: {sizes:?}");
        let res = tsv(&dir.join(format!("agents/{id}/results.tsv")));
        assert!(total(&res, "GET", "count") > 0);
        assert_eq!(total(&res, "GET", "errors"), 0);
    }
    // The stage list as sai3-bench ordered it, without the validation stage.
    assert!(dir.join("01_prep_results.tsv").exists() && dir.join("02_read_results.tsv").exists(), "{t}");
}
