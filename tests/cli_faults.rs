//! Endpoints that are slow, die or hang in the middle of a run, against the testbed's real S3
//! server. The faults come from a TCP proxy in front of it (so the shared testbed keeps running
//! for the other tests): `least_connections` moves work away from a slowed endpoint; a killed or
//! hung endpoint costs errors counted per endpoint and op, never the deadline or the results.
//! Skipped without the testbed unless SAI3_REQUIRE_TESTBED=1 (scripts/test.sh sets it).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{col, results_dir, testbed, text, total, tsv, unique, wait_for, write, Running, PATIENCE};

const PASS: u8 = 0;
const SLOW: u8 = 1;
const HANG: u8 = 2;

/// A TCP proxy to the S3 server: passes bytes, delays them, stalls them, or goes away.
struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    dead: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    /// Bytes passed from the server to the client (responses).
    relayed: Arc<AtomicU64>,
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
            relayed: Arc::default(),
        };
        let (m, dead, conns, relayed) = (p.mode.clone(), p.dead.clone(), p.conns.clone(), p.relayed.clone());
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
                let upstream = (client.try_clone().unwrap(), server.try_clone().unwrap(), None);
                for (mut from, mut to, count) in [upstream, (server, client, Some(relayed.clone()))] {
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
                            if let Some(c) = &count {
                                c.fetch_add(n as u64, Ordering::SeqCst);
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

    /// Wait until 64 KiB more of responses have come through: the run is using this endpoint.
    fn wait_for_traffic(&self) {
        let from = self.relayed.load(Ordering::SeqCst);
        wait_for(PATIENCE, "64 KiB of responses through the proxy", || {
            self.relayed.load(Ordering::SeqCst) >= from + 64 * 1024
        });
    }
}

/// The testbed's S3 base URI, its `host:port` and its bucket.
fn s3_testbed() -> Option<(String, String, String)> {
    let uri = testbed("SAI3_TEST_S3_URI")?;
    // s3://127.0.0.1:PORT/bucket/
    let rest = uri.strip_prefix("s3://").unwrap();
    let (hostport, bucket) = rest.split_once('/').unwrap();
    let (hostport, bucket) = (hostport.to_string(), bucket.trim_end_matches('/').to_string());
    Some((uri, hostport, bucket))
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
    let cfg = write(tmp.path(), "faults.yaml", yaml);
    let t0 = Instant::now();
    let mut run = Running::start(&["ctl", "run", "--config", cfg.to_str().unwrap()], tmp.path());
    run.wait_for_stdout("Running the workload", PATIENCE);
    during();
    let o = run.wait();
    let took = t0.elapsed();
    let dir = results_dir(tmp.path());
    (o, dir, took, tmp)
}

#[test]
fn least_connections_sends_more_work_to_the_faster_endpoint() {
    let Some((fast, hostport, bucket)) = s3_testbed() else { return };
    let proxy = Proxy::start(hostport, SLOW);
    let p = unique("faults");
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
    let Some((fast, hostport, bucket)) = s3_testbed() else { return };
    let proxy = Proxy::start(hostport, PASS);
    let p = unique("faults");
    let dying = format!("s3://127.0.0.1:{}/{bucket}/{p}/", proxy.port);
    let fast = format!("{fast}{p}/");
    let (o, dir, took, _tmp) = run_with(&config(&fast, &dying, "round_robin", 4, ""), || {
        proxy.wait_for_traffic();
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
        total(&res, "GET", "errors") + total(&res, "PUT", "errors"),
        rows[1].2,
        "errors per op add up to errors per endpoint"
    );
    assert!(t.contains("connection") || t.contains("Errors by kind"), "{t}");
}

#[test]
fn error_threshold_stops_the_run_and_still_writes_results() {
    let Some((fast, hostport, bucket)) = s3_testbed() else { return };
    let proxy = Proxy::start(hostport, PASS);
    let p = unique("faults");
    let dying = format!("s3://127.0.0.1:{}/{bucket}/{p}/", proxy.port);
    let fast = format!("{fast}{p}/");
    let yaml = config(&fast, &dying, "round_robin", 30, "error_handling:\n  max_errors: 5\n");
    let (o, dir, took, _tmp) = run_with(&yaml, || {
        proxy.wait_for_traffic();
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
    let Some((fast, hostport, bucket)) = s3_testbed() else { return };
    let proxy = Proxy::start(hostport, PASS);
    let p = unique("faults");
    let hung = format!("s3://127.0.0.1:{}/{bucket}/{p}/", proxy.port);
    let fast = format!("{fast}{p}/");
    let yaml = config(&fast, &hung, "round_robin", 3, "storage:\n  request_timeout: 1s\n  retries: 0\n");
    let (o, dir, took, _tmp) = run_with(&yaml, || {
        proxy.wait_for_traffic();
        proxy.mode.store(HANG, Ordering::SeqCst);
    });
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(took < Duration::from_secs(3 + 15), "ended {took:?} after start for a 3 s run");
    let rows = endpoint_rows(&dir.expect("results folder").join("workload_endpoint_stats.tsv"));
    assert!(rows[1].2 > 0, "timeouts on the hung endpoint are errors: {rows:?}\n{t}");
    assert!(t.contains("timeout"), "errors by kind name the timeout: {t}");
}

/// An HTTP proxy to the S3 server that answers some object GETs itself with `503 Service
/// Unavailable` and counts them: every GET of `poison` (so each of its requests fails every
/// attempt), and every `nth` other object GET. The client never pipelines (it sends a request
/// only once it has read the previous response), so a request can be answered in place while the
/// responses of the server are relayed as they come. LIST (a GET with a query), HEAD, PUT and
/// DELETE always pass.
struct FailingProxy {
    port: u16,
    /// 503s given to GETs of `poison`.
    poisoned: Arc<AtomicU64>,
    /// 503s given to every `nth` other GET.
    nth_failed: Arc<AtomicU64>,
}

impl FailingProxy {
    fn start(upstream: String, poison: &'static str, nth: u64) -> FailingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = FailingProxy { port, poisoned: Arc::default(), nth_failed: Arc::default() };
        let (poisoned, nth_failed) = (p.poisoned.clone(), p.nth_failed.clone());
        let seen = Arc::new(AtomicU64::new(0));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                // Responses of the server, relayed as they come.
                let (mut from, mut to) = (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Both);
                });
                let (poisoned, nth_failed, seen) = (poisoned.clone(), nth_failed.clone(), seen.clone());
                std::thread::spawn(move || {
                    let _ = relay_requests(client, server, poison, nth, &poisoned, &nth_failed, &seen);
                });
            }
        });
        p
    }
}

/// Read requests from `client` one by one; pass each to `server`, or answer it with a 503.
fn relay_requests(
    client: TcpStream,
    mut server: TcpStream,
    poison: &str,
    nth: u64,
    poisoned: &AtomicU64,
    nth_failed: &AtomicU64,
    seen: &AtomicU64,
) -> std::io::Result<()> {
    use std::io::BufRead;
    let mut answer = client.try_clone()?;
    let mut r = std::io::BufReader::new(client);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                let _ = server.shutdown(Shutdown::Both);
                return Ok(());
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut words = head.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let length: usize = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
            .map_or(0, |(_, v)| v.trim().parse().unwrap());
        assert!(!head.to_ascii_lowercase().contains("transfer-encoding"), "a chunked request: {head}");
        let mut body = vec![0u8; length];
        r.read_exact(&mut body)?;
        let fail = method == "GET"
            && !target.contains('?')
            && if target.ends_with(poison) {
                poisoned.fetch_add(1, Ordering::SeqCst);
                true
            } else if (seen.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(nth) {
                nth_failed.fetch_add(1, Ordering::SeqCst);
                true
            } else {
                false
            };
        if fail {
            answer.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")?;
        } else {
            server.write_all(head.as_bytes())?;
            server.write_all(&body)?;
        }
    }
}

/// A GET workload, one worker, through a proxy that fails some GETs (`FailingProxy`), named as
/// the one endpoint of a `multi_endpoint` block (for the endpoint stats). Returns the results
/// folder and the proxy's (poisoned, nth) 503 counts.
fn run_failing(retries: &str) -> (PathBuf, u64, u64, tempfile::TempDir) {
    let (_, hostport, bucket) = s3_testbed().expect("the testbed");
    let proxy = FailingProxy::start(hostport, "prepared-00000003.dat", 7);
    let p = unique("retries");
    let failing = format!("s3://127.0.0.1:{}/{bucket}/{p}/", proxy.port);
    let yaml = format!(
        "duration: 2s\nconcurrency: 1\nmulti_endpoint:\n  strategy: round_robin\n  endpoints: [\"{failing}\"]\n\
prepare:\n  ensure_objects:\n    - base_uri: \"obj/\"\n      count: 8\n      size_spec: 1KiB\n\
workload:\n  - op: get\n    path: \"obj/*\"\n{retries}"
    );
    let (o, dir, _, tmp) = run_with(&yaml, || {});
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = dir.expect("results folder");
    (dir, proxy.poisoned.load(Ordering::SeqCst), proxy.nth_failed.load(Ordering::SeqCst), tmp)
}

/// Figures of a run with failures, as its files report them.
struct Reported {
    errors: u64,
    retries: u64,
    /// Retries of the endpoint.
    endpoint_retries: u64,
    perf_log_retries: u64,
    meta_retries: u64,
    retried_ok: u64,
}

fn reported(dir: &Path) -> Reported {
    let res = tsv(&dir.join("results.tsv"));
    let (o, b, r) = (col(&res, "operation"), col(&res, "size_bucket"), col(&res, "retries"));
    for row in &res[1..] {
        if row[b] != "ALL" {
            assert_eq!(row[r], "0", "size-bucket rows carry no retries: {row:?}");
        }
        if row[o] != "GET" {
            assert_eq!(row[r], "0", "only GETs were retried: {row:?}");
        }
    }
    let ep = tsv(&dir.join("workload_endpoint_stats.tsv"));
    let e = col(&ep, "retries");
    let perf = tsv(&dir.join("perf_log.tsv"));
    let (pr, stage) = (col(&perf, "retries"), col(&perf, "stage"));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    let stage_retries: u64 = meta["stages"].as_array().unwrap().iter().map(|s| s["retries"].as_u64().unwrap()).sum();
    assert_eq!(stage_retries, meta["retries"].as_u64().unwrap(), "the stages' retries add up to the run's");
    Reported {
        errors: total(&res, "GET", "errors"),
        retries: total(&res, "GET", "retries"),
        endpoint_retries: ep[1][e].parse().unwrap(),
        perf_log_retries: perf[1..]
            .iter()
            .filter(|x| x[stage] == "workload")
            .map(|x| x[pr].parse::<u64>().unwrap())
            .sum(),
        meta_retries: meta["retries"].as_u64().unwrap(),
        retried_ok: meta["retried_ok"].as_u64().unwrap(),
    }
}

/// With `error_handling.retries: 2`, every 503 the proxy gave is reported: as a retry when
/// another attempt followed, as an error when it was the third; nothing retries inside the
/// storage client. One worker: a request's attempts are consecutive requests through the proxy,
/// so a GET that failed every 7th time succeeds on its retry, and one of the poisoned object
/// fails all three attempts.
#[test]
fn retries_are_counted_and_failed_attempts_are_not_hidden() {
    if s3_testbed().is_none() {
        return;
    }
    let (dir, poisoned, nth, _tmp) = run_failing("error_handling:\n  retries: 2\n");
    assert!(poisoned > 0 && nth > 0, "the proxy failed GETs: {poisoned} poisoned, {nth} every 7th");
    assert_eq!(poisoned % 3, 0, "each request of the poisoned object failed three attempts: {poisoned}");
    let r = reported(&dir);
    assert_eq!(r.errors, poisoned / 3, "errors: the requests that failed every attempt");
    assert_eq!(r.retries, nth + 2 * poisoned / 3, "retries: every failed attempt that another followed");
    assert_eq!(r.retries + r.errors, nth + poisoned, "every 503 is a retry or an error");
    assert_eq!(r.endpoint_retries, r.retries, "the endpoint's retries are the run's");
    assert_eq!(r.perf_log_retries, r.retries, "perf_log's intervals add up to the totals");
    assert_eq!(r.meta_retries, r.retries);
    assert_eq!(r.retried_ok, nth, "a request that succeeded after a retry is reported as such");
}

/// Retries default to 0 and the storage client does not retry either: every 503 is an error.
#[test]
fn without_retries_every_failure_is_an_error() {
    if s3_testbed().is_none() {
        return;
    }
    let (dir, poisoned, nth, _tmp) = run_failing("");
    assert!(poisoned > 0 && nth > 0, "the proxy failed GETs: {poisoned} poisoned, {nth} every 7th");
    let r = reported(&dir);
    assert_eq!(r.errors, poisoned + nth, "every injected failure is an error");
    assert_eq!((r.retries, r.endpoint_retries, r.perf_log_retries, r.meta_retries, r.retried_ok), (0, 0, 0, 0, 0));
}
