//! Helpers shared by the integration tests that drive the `sai3` binary as a process: starting it,
//! its output, the results folder and its TSV files, skipping without the testbed, and waiting for
//! an observable moment of a run (a line printed, bytes read) — never for a fixed time.
//! Each test binary uses its own part of it (`mod common;`).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sai3");

/// How long a test waits for a moment of a run that comes within seconds when all is well (the
/// workload starting, its first I/O). Generous: CI has 2 cores, shared.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The poll step of every wait.
const POLL: Duration = Duration::from_millis(20);

/// `sai3 ARGS`, not started. SAI3_AGENT_TOKEN is removed from its environment, so a token set in
/// the shell that runs the tests never changes what a test sees.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("SAI3_AGENT_TOKEN");
    c
}

/// The `*.yaml` files of `dir` (relative to the crate root), sorted.
pub fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

/// Run `sai3 ARGS` in `cwd` to its end.
pub fn sai3(args: &[&str], cwd: &Path) -> Output {
    sai3_env(args, cwd, &[])
}

/// [`sai3`] with extra environment variables.
pub fn sai3_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    command(args).current_dir(cwd).envs(env.iter().copied()).output().expect("run sai3")
}

/// stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Write `body` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    p
}

/// The results folders directly in `dir` (`sai3-<date>-…`, so a test's own `sai3-…` directories
/// do not count), oldest first.
pub fn results_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            n.strip_prefix("sai3-").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    v.sort();
    v
}

/// The newest results folder in `dir`, if there is one.
pub fn results_dir(dir: &Path) -> Option<PathBuf> {
    results_dirs(dir).pop()
}

/// A TSV file as rows of cells, the header first; panics naming the file if it cannot be read.
pub fn tsv(path: &Path) -> Vec<Vec<String>> {
    let body = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    body.lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// The index of column `name` in the header row.
pub fn col(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|c| c == name).unwrap_or_else(|| panic!("column {name} in {:?}", rows[0]))
}

/// `column` (a count: `count`, `errors`) of the `op`/ALL row of a results.tsv or
/// prepare_results.tsv; 0 when the run has no such row.
pub fn total(rows: &[Vec<String>], op: &str, column: &str) -> u64 {
    let (o, b, c) = (col(rows, "operation"), col(rows, "size_bucket"), col(rows, column));
    rows[1..]
        .iter()
        .find(|r| r[o] == op && r[b] == "ALL")
        .map(|r| r[c].parse().unwrap_or_else(|e| panic!("{op} {column} `{}`: {e}", r[c])))
        .unwrap_or(0)
}

/// The time-to-first-byte columns of a workload's results.tsv: every GET row that counted
/// requests has them, above 0 and never above its latency (each GET's first byte comes before its
/// end, and both count from the same start, so each percentile is at most the latency's, exactly);
/// every other row shows 0. Returns the GET ALL row's (ttfb_p50_us, ttfb_p99_us).
pub fn check_ttfb(rows: &[Vec<String>]) -> (u64, u64) {
    let c = |name: &str| col(rows, name);
    let n = |r: &[String], name: &str| -> u64 {
        r[c(name)].parse().unwrap_or_else(|e| panic!("{name} `{}`: {e}", r[c(name)]))
    };
    let mut all = None;
    for r in &rows[1..] {
        let (t50, t99) = (n(r, "ttfb_p50_us"), n(r, "ttfb_p99_us"));
        if r[c("operation")] != "GET" || n(r, "count") == 0 {
            assert_eq!((t50, t99), (0, 0), "no first-byte times outside GET: {r:?}");
            continue;
        }
        assert!(t50 > 0 && t50 <= t99, "{r:?}");
        assert!(t50 <= n(r, "p50_us") && t99 <= n(r, "p99_us") && t99 <= n(r, "max_us"), "ttfb above latency: {r:?}");
        if r[c("size_bucket")] == "ALL" {
            all = Some((t50, t99));
        }
    }
    all.expect("a GET ALL row")
}

/// Files (not directories) below `dir`, recursively; 0 when it does not exist.
pub fn count_files(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten().map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum()
}

/// A name no other test, test run or call shares: `PREFIX-PID-N-NANOS` (hex nanoseconds).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// The values of the testbed's environment variables `vars` (scripts/testbed env), or `None` when
/// one is unset: the caller then skips, with a message — unless SAI3_REQUIRE_TESTBED=1 (set by
/// scripts/test.sh), which makes the test fail instead.
pub fn testbed_vars<const N: usize>(vars: [&str; N]) -> Option<[String; N]> {
    let values = vars.map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    let missing: Vec<&str> = vars.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
    if missing.is_empty() {
        return Some(values.map(Option::unwrap_or_default));
    }
    let missing = missing.join(", ");
    assert!(
        std::env::var("SAI3_REQUIRE_TESTBED").as_deref() != Ok("1"),
        "{missing} not set but SAI3_REQUIRE_TESTBED=1: run `scripts/testbed start` and `eval \"$(scripts/testbed env)\"`"
    );
    eprintln!("skipped: {missing} not set (scripts/testbed start; eval \"$(scripts/testbed env)\")");
    None
}

/// [`testbed_vars`] for one variable.
pub fn testbed(var: &str) -> Option<String> {
    testbed_vars([var]).map(|[v]| v)
}

/// Poll `done` every 20 ms until it holds; panics after `within`, naming `what` it waited for.
pub fn wait_for(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < within, "waited {within:?} for {what}, in vain");
        std::thread::sleep(POLL);
    }
}

/// Bytes process `pid` has read so far with read(2) and its kin — files, pipes and sockets alike
/// (`rchar` of /proc/PID/io): lets a test wait until a process is demonstrably doing I/O.
pub fn bytes_read(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("rchar:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// A running `sai3` whose stdout and stderr are each drained into a buffer by a thread as it
/// prints — so the process never blocks on a full pipe — and which a test can wait on for a
/// line. Killed when dropped.
pub struct Running {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    drains: Vec<JoinHandle<()>>,
}

impl Running {
    /// Start `sai3 ARGS` in `cwd` (see [`command`]).
    pub fn start(args: &[&str], cwd: &Path) -> Running {
        let mut c = command(args);
        c.current_dir(cwd);
        Running::spawn(c)
    }

    /// Start `cmd` with its stdout and stderr piped into the buffers (and no stdin).
    pub fn spawn(mut cmd: Command) -> Running {
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start sai3");
        let (out, err) = (Arc::default(), Arc::default());
        let drains = vec![
            drain(child.stdout.take().expect("piped stdout"), Arc::clone(&out)),
            drain(child.stderr.take().expect("piped stderr"), Arc::clone(&err)),
        ];
        Running { child, out, err, drains }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Wait until a line containing `needle` is printed on stdout; returns that line. Panics with
    /// all output when `within` passes or the process closes its output first.
    pub fn wait_for_stdout(&self, needle: &str, within: Duration) -> String {
        self.wait_for_line(&self.out, "stdout", needle, within)
    }

    /// [`Running::wait_for_stdout`] on stderr (an agent's log).
    pub fn wait_for_stderr(&self, needle: &str, within: Duration) -> String {
        self.wait_for_line(&self.err, "stderr", needle, within)
    }

    fn wait_for_line(&self, buf: &Mutex<Vec<u8>>, name: &str, needle: &str, within: Duration) -> String {
        let t0 = Instant::now();
        loop {
            // Whether both pipes are at their end is read before the buffer: then the buffer holds
            // everything the process will ever print.
            let ended = self.drains.iter().all(JoinHandle::is_finished);
            let text = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
            // Only whole lines, unless nothing more will come.
            let whole = if ended { &text[..] } else { &text[..text.rfind('\n').map_or(0, |i| i + 1)] };
            if let Some(line) = whole.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                !ended && t0.elapsed() < within,
                "`{needle}` not printed on {name} {}:\n--- stdout:\n{}\n--- stderr:\n{}",
                if ended { "before the process closed its output" } else { "in time" },
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Ctrl-C: SIGINT to the process.
    pub fn interrupt(&self) {
        let pid = i32::try_from(self.child.id()).expect("pid fits i32");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(rc, 0, "SIGINT to {pid}");
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill sai3");
        let _ = self.child.wait();
    }

    /// Wait for the process to end; its status and everything it printed.
    pub fn wait(&mut self) -> Output {
        let status = self.child.wait().expect("wait for sai3");
        for d in self.drains.drain(..) {
            let _ = d.join();
        }
        Output { status, stdout: self.out.lock().unwrap().clone(), stderr: self.err.lock().unwrap().clone() }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A thread that appends everything read from `from` to `into` until the end of the pipe.
fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })
}

/// A running `sai3 agent` (its log is its stderr), killed when dropped.
pub struct Agent {
    pub run: Running,
    pub addr: String,
}

impl Agent {
    pub fn start(ip: &str, extra: &[&str], env: &[(&str, &str)]) -> Agent {
        Agent::start_at(&format!("{ip}:0"), extra, env)
    }

    /// An agent listening on `addr` (`ip:port`; port 0: any free one).
    pub fn start_at(addr: &str, extra: &[&str], env: &[(&str, &str)]) -> Agent {
        let mut cmd = command(&["agent", "--listen", addr]);
        cmd.args(extra).envs(env.iter().copied());
        let run = Running::spawn(cmd);
        let line = run.wait_for_stdout("listening", PATIENCE);
        let addr = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(line.contains("sai3 agent listening (PLAINTEXT) on") || line.contains("(TLS)"), "{line}");
        Agent { run, addr }
    }

    /// Wait until the agent's log has a line containing `needle`; that line.
    pub fn log_line(&self, needle: &str, within: Duration) -> String {
        self.run.wait_for_stderr(needle, within)
    }

    /// Wait until the agent has read 64 KiB more (its GETs, once the workload runs) with read
    /// system calls (`rchar`: io_uring reads are not in it — run such a workload with
    /// `io_engine: sync`).
    pub fn wait_for_reads(&self) {
        let from = bytes_read(self.run.pid());
        wait_for(PATIENCE, "the agent to read 64 KiB of objects", || bytes_read(self.run.pid()) >= from + 64 * 1024);
    }
}
