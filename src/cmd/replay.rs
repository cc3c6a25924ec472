//! `sai3 replay --oplog FILE`: a config with one `replay` stage, built from the flags and run
//! in-process like `ctl run` (results folder, console, op-log if asked); `--dry-run` prints what
//! the op-log holds and touches nothing. Glue only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ctl::RunArgs;
use super::{CmdResult, Failure};
use crate::core::config;
use crate::core::oplog::{load_schedule, Remap};

pub struct ReplayArgs {
    pub oplog: PathBuf,
    pub target: Option<String>,
    pub remap: Vec<String>,
    pub speed: f64,
    pub concurrency: usize,
    pub results_dir: Option<PathBuf>,
    pub dry_run: bool,
    /// Record the replay's own operations (`op_log:`).
    pub record: bool,
    pub json: bool,
}

/// The config `sai3 replay` runs (also written to the results folder as config.yaml).
pub fn config_text(a: &ReplayArgs) -> String {
    let q = |s: &str| serde_yaml::to_string(s).unwrap_or_default().trim_end().to_string();
    let mut y = String::from("# sai3 replay: the operations of an op-log at their recorded times\n");
    y.push_str(&format!("concurrency: {}\n", a.concurrency));
    if a.record {
        y.push_str("op_log:\n  enabled: true\n");
    }
    y.push_str("stages:\n  - name: replay\n    type: replay\n");
    let path = std::fs::canonicalize(&a.oplog).unwrap_or_else(|_| a.oplog.clone());
    y.push_str(&format!("    oplog: {}\n", q(&path.display().to_string())));
    y.push_str(&format!("    speed: {}\n", a.speed));
    if let Some(t) = &a.target {
        y.push_str(&format!("    target: {}\n", q(t)));
    }
    if !a.remap.is_empty() {
        y.push_str("    remap:\n");
        for r in &a.remap {
            y.push_str(&format!("      - {}\n", q(r)));
        }
    }
    y
}

pub fn run(a: ReplayArgs) -> CmdResult {
    if !(a.speed > 0.0 && a.speed.is_finite()) {
        return Err(Failure::Usage(format!("--speed {}: must be above 0 (2 replays twice as fast)", a.speed)));
    }
    let remaps: Vec<Remap> =
        a.remap.iter().map(|r| Remap::parse(r)).collect::<Result<_, _>>().map_err(Failure::Usage)?;
    if a.dry_run {
        let s = load_schedule(&a.oplog, a.target.as_deref(), &remaps).map_err(Failure::Usage)?;
        let span = s.span_ns as f64 / 1e9 / a.speed;
        println!("{}: {} operations over {span:.3} s at speed {}", a.oplog.display(), s.ops.len(), a.speed);
        for (op, n) in s.counts() {
            println!("  {:<7} {n}", op.name());
        }
        println!("peak: {:.0} operations started in one second", s.peak_per_second() as f64 * a.speed);
        println!("to:");
        for b in &s.bases {
            println!("  {}", crate::core::store::redact_uri(b));
        }
        if s.skipped > 0 {
            println!("{} lines name operations sai3 does not issue; they are left out", s.skipped);
        }
        println!("Dry run: nothing was touched.");
        return Ok(());
    }
    let text = config_text(&a);
    let name = Path::new("replay.yaml");
    let plan = config::parse(&text, Some(name)).map_err(|e| Failure::Usage(e.to_string()))?;
    let args = RunArgs {
        config: name.to_path_buf(),
        dry_run: false,
        agents: Vec::new(),
        results_dir: a.results_dir,
        json: a.json,
        metrics_listen: None,
        metrics_linger: Duration::ZERO,
    };
    super::ctl::run_plan(plan, args)
}
