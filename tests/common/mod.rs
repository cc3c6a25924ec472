//! Helpers shared by the integration tests that drive the `sai3` binary as a process: starting it,
//! its output, the results folder and its TSV files, and skipping without the testbed.
//! Each test binary uses its own part of it (`mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sai3");

/// `sai3 ARGS`, not started. SAI3_AGENT_TOKEN is removed from its environment, so a token set in
/// the shell that runs the tests never changes what a test sees.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("SAI3_AGENT_TOKEN");
    c
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
