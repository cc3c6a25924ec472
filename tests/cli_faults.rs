//! Endpoints that are slow, die or hang in the middle of a run, against the testbed's real S3
//! server. The faults come from a TCP proxy in front of it (so the shared testbed keeps running
//! for the other tests): `least_connections` moves work away from a slowed endpoint; a killed or
//! hung endpoint costs errors counted per endpoint and op, never the deadline or the results.
//! Skipped without the testbed unless SAI3_REQUIRE_TESTBED=1 (scripts/test.sh sets it).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PASS: u8 = 0;
const SLOW: u8 = 1;
const HANG: u8 = 2;

/// A TCP proxy to the S3 server: passes bytes, delays them, stalls them, or goes away.
struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    dead: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String, mode: u8) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = Proxy {
            port,
            mode: Arc::new(AtomicU8::new(mode)),
            dead: Arc::new(AtomicBool::new(false)),
            conns: Arc::default(),
        };
        let (m, dead, conns) = (p.mode.clone(), p.dead.clone(), p.conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if dead.load(Ordering::SeqCst) {
                    break; // the listener is dropped: new connections are refused
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut c = conns.lock().unwrap();
                    c.push(client.try_clone().unwrap());
                    c.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            loop {
                                match m.load(Ordering::SeqCst) {
                                    HANG => std::thread::sleep(Duration::from_millis(50)),
                                    SLOW => {
                                        std::thread::sleep(Duration::from_millis(200));
                                        break;
                                    }
                                    _ => break,
                                }
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        p
    }

    /// The server "dies": open connections are cut and new ones refused.
    fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop so it exits
    }
}

fn testbed() -> Option<(String, String, String)> {
    match std::env::var("SAI3_TEST_S3_URI") {
        Ok(uri) if !uri.is_empty() => {
            // s3://127.0.0.1:PORT/bucket/
            let rest = uri.strip_prefix("s3://").unwrap();
            let (hostport, bucket) = rest.split_once('/').unwrap();
            Some((uri.clone(), hostport.to_string(), bucket.trim_end_matches('/').to_string()))
        }
        _ => {
            assert!(
                std::env::var("SAI3_REQUIRE_TESTBED").as_deref() != Ok("1"),
                "SAI3_TEST_S3_URI not set but SAI3_REQUIRE_TESTBED=1"
            );
            eprintln!("skipped: SAI3_TEST_S3_URI not set (scripts/testbed start; eval \"$(scripts/testbed env)\")");
            None
        }
    }
}

fn unique() -> String {
    format!("faults-{}-{:x}", std::process::id(), SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos())
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn results_dir(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("sai3-"))
}

fn tsv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn col(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"))
}

fn all(rows: &[Vec<String>], op: &str, column: &str) -> u64 {
    let c = col(rows, column);
    rows.iter().find(|r| r[0] == op && r[1] == "ALL").map(|r| r[c].parse::<f64>().unwrap() as u64).unwrap_or(0)
}

/// Endpoint stats rows as (uri, requests, errors).
fn endpoint_rows(path: &Path) -> Vec<(String, u64, u64)> {
    let r = tsv(path);
    let (u, n, e) = (col(&r, "endpoint_uri"), col(&r, "total_requests"), col(&r, "error_count"));
    r[1..].iter().map(|x| (x[u].clone(), x[n].parse().unwrap(), x[e].parse().unwrap())).collect()
}

fn config(fast: &str, slow: &str, strategy: &str, secs: u64, extra: &str) -> String {
    format!(
        "duration: {secs}s\nconcurrency: 8\nmulti_endpoint:\n  strategy: {strategy}\n  endpoints: [\"{fast}\", \"{slow}\"]\n\
prepare:\n  ensure_objects:\n    - base_uri: \"obj/\"\n      count: 20\n      size_spec: 4KiB\n\
workload:\n  - op: get\n    path: \"obj/*\"\n    weight: 90\n  - op: put\n    path: \"up/p-{{}}\"\n    object_size: 4KiB\n    weight: 10\n{extra}"
    )
}

/// Run `ctl run` in the background; `during` is called once the workload has started.
fn run_with(yaml: &str, during: impl FnOnce()) -> (Output, Option<PathBuf>, Duration, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("faults.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let out_path = tmp.path().join("out.txt");
    let t0 = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_sai3"))
        .args(["ctl", "run", "--config", cfg.to_str().unwrap()])
        .current_dir(tmp.path())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30)
        && !std::fs::read_to_string(&out_path).unwrap_or_default().contains("Running the workload")
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    during();
    let mut o = child.wait_with_output().unwrap();
    let took = t0.elapsed();
    o.stdout = std::fs::read(&out_path).unwrap();
    let dir = results_dir(tmp.path());
    (o, dir, took, tmp)
}

#[test]
fn least_connections_sends_more_work_to_the_faster_endpoint() {
    let Some((fast, hostport, bucket)) = testbed() else { return };
    let proxy = Proxy::start(hostport, SLOW);
    let p = unique();
    let slow = format!("s3://127.0.0.1:{}/{bucket}/{p}/", proxy.port);
    let fast = format!("{fast}{p}/");
    let (o, dir, _, _tmp) = run_with(&config(&fast, &slow, "least_connections", 3, ""), || {});
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rows = endpoint_rows(&dir.unwrap().join("workload_endpoint_stats.tsv"));
    let (f, s) = (rows[0].1, rows[1].1);
    assert!(f > 4 * s.max(1), "least_connections: fast endpoint {f} requests, slowed endpoint {s}");
    assert_eq!(rows[0].2 + rows[1].2, 0, "no errors");
}

#[test]
fn endpoint_killed_mid_run_errors_are_counted_and_results_written() {
    let Some((fast, hostport, bucket)) = testbed() else { return };
    let proxy = Proxy::start(hostport, PASS);
    let p = unique();
    let dying = format!("s3://127.0.0.1:{}/{bucket}/{p}/", proxy.port);
    let fast = format!("{fast}{p}/");
    let (o, dir, took, _tmp) = run_with(&config(&fast, &dying, "round_robin", 4, ""), || {
        std::thread::sleep(Duration::from_millis(1500));
        proxy.kill();
    });
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "errors alone never stop a run: {t}");
    assert!(took < Duration::from_secs(4 + 20), "ended {took:?} after start for a 4 s run");
    let dir = dir.expect("results folder");
    let rows = endpoint_rows(&dir.join("workload_endpoint_stats.tsv"));
    assert_eq!(rows[0].2, 0, "the healthy endpoint has no errors: {rows:?}");
    assert!(rows[1].2 > 0, "the killed endpoint's errors are counted: {rows:?}");
    assert!(rows[0].1.abs_diff(rows[1].1) <= 8, "round robin keeps alternating (one request per worker): {rows:?}");
    let res = tsv(&dir.join("results.tsv"));
    assert_eq!(
        all(&res, "GET", "errors") + all(&res, "PUT", "errors"),
        rows[1].2,
        "errors per op add up to errors per endpoint"
    );
    assert!(t.contains("connection") || t.contains("Errors by kind"), "{t}");
}

#[test]
fn error_threshold_stops_the_run_and_still_writes_results() {
    let Some((fast, hostport, bucket)) = testbed() else { return };
    let proxy = Proxy::start(hostport, PASS);
    let p = unique();
    let dying = format!("s3://127.0.0.1:{}/{bucket}/{p}/", proxy.port);
    let fast = format!("{fast}{p}/");
    let yaml = config(&fast, &dying, "round_robin", 30, "error_handling:\n  max_errors: 5\n");
    let (o, dir, took, _tmp) = run_with(&yaml, || {
        std::thread::sleep(Duration::from_millis(1000));
        proxy.kill();
    });
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(took < Duration::from_secs(20), "stopped early, not at the 30 s deadline: {took:?}");
    assert!(t.contains("max_errors") || t.contains("errors"), "{t}");
    assert!(dir.expect("results written").join("results.tsv").exists());
}

#[test]
fn hung_endpoint_cannot_hold_the_run_past_its_deadline() {
    let Some((fast, hostport, bucket)) = testbed() else { return };
    let proxy = Proxy::start(hostport, PASS);
    let p = unique();
    let hung = format!("s3://127.0.0.1:{}/{bucket}/{p}/", proxy.port);
    let fast = format!("{fast}{p}/");
    let yaml = config(&fast, &hung, "round_robin", 3, "storage:\n  request_timeout: 1s\n  retries: 0\n");
    let (o, dir, took, _tmp) = run_with(&yaml, || {
        std::thread::sleep(Duration::from_millis(800));
        proxy.mode.store(HANG, Ordering::SeqCst);
    });
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(took < Duration::from_secs(3 + 15), "ended {took:?} after start for a 3 s run");
    let rows = endpoint_rows(&dir.expect("results folder").join("workload_endpoint_stats.tsv"));
    assert!(rows[1].2 > 0, "timeouts on the hung endpoint are errors: {rows:?}\n{t}");
    assert!(t.contains("timeout"), "errors by kind name the timeout: {t}");
}
