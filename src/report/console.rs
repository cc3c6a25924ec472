//! The console: lines printed to stdout and kept for `console_log.txt`, a live progress bar
//! (only on a terminal), the end-of-run summary in the seed's style, and the endpoint line.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;

use super::fmt::{per_sec, Lat, MIB};
use crate::core::config::{EndpointConfig, Plan};
use crate::core::exec::{
    AgentReport, EndpointInfo, IntervalRow, PhaseResult, PhaseStart, RunObserver, RunReport, StageOutcome, StageReport,
    StageTag,
};
use crate::core::OpClass;

struct Inner {
    log: Mutex<String>,
    bar: Mutex<Option<ProgressBar>>,
    tty: bool,
    quiet: bool,
    /// Print to stderr (stdout carries `--json`).
    stderr: bool,
}

/// Prints to stdout and remembers everything printed. Cheap to clone, safe to share.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Console {
    pub fn new() -> Console {
        Console::with(false, false)
    }

    /// A console on stderr, so that stdout carries only what `ctl run --json` prints.
    pub fn on_stderr() -> Console {
        Console::with(false, true)
    }

    /// A console that prints nothing (keeps the log): for tests.
    pub fn silent() -> Console {
        Console::with(true, false)
    }

    fn with(quiet: bool, stderr: bool) -> Console {
        let tty = !quiet && if stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        Console { inner: Arc::new(Inner { log: Mutex::new(String::new()), bar: Mutex::new(None), tty, quiet, stderr }) }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.inner.stderr {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::stdout()
        }
    }

    /// Print one line (or several) and keep it for console_log.txt.
    pub fn line(&self, s: &str) {
        {
            let mut log = self.inner.log.lock();
            log.push_str(s);
            log.push('\n');
        }
        if self.inner.quiet {
            return;
        }
        match &*self.inner.bar.lock() {
            Some(bar) => bar.println(s),
            None if self.inner.stderr => {
                let mut out = std::io::stderr().lock();
                let _ = writeln!(out, "{s}");
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{s}");
                let _ = out.flush();
            }
        }
    }

    /// Everything printed so far.
    pub fn text(&self) -> String {
        self.inner.log.lock().clone()
    }

    fn start_bar(&self, stage: &StageTag, total: Option<Duration>) {
        if !self.inner.tty || self.inner.quiet {
            return;
        }
        let bar = match total {
            Some(d) => {
                let b = ProgressBar::with_draw_target(Some(d.as_secs().max(1)), self.target());
                if let Ok(style) =
                    ProgressStyle::with_template("{prefix} {bar:40.cyan/blue} {pos:>4}/{len:<4} s  {msg}")
                {
                    b.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
                }
                b.set_prefix(stage.name.to_string());
                b
            }
            None => {
                let b = ProgressBar::with_draw_target(None, self.target());
                if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4}  {msg}") {
                    b.set_style(style);
                }
                b.set_prefix(stage.name.to_string());
                b
            }
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        *self.inner.bar.lock() = Some(bar);
    }

    fn finish_bar(&self) {
        if let Some(bar) = self.inner.bar.lock().take() {
            bar.finish_and_clear();
        }
    }

    /// The observer the engine reports progress to. A plan with `stages:` gets a line as each
    /// stage starts and ends.
    pub fn observer(&self, plan: &Plan) -> Arc<dyn RunObserver> {
        Arc::new(ConsoleObserver {
            console: self.clone(),
            stage_lines: plan.explicit_stages,
            duration: Mutex::new(Duration::ZERO),
            running: Mutex::new(Running::default()),
        })
    }

    /// `▶ Stage 2/4 `read` (workload) started`.
    pub fn stage_started(&self, index: usize, plan: &Plan) {
        if let Some(s) = plan.stages.get(index) {
            self.line(&format!(
                "▶ Stage {}/{} `{}` ({}) started",
                index + 1,
                plan.stages.len(),
                s.name,
                s.kind.type_name()
            ));
        }
    }

    /// `■ Stage 2/4 `read` completed in 5.01s: 12000 ops, 0 errors`.
    pub fn stage_ended(&self, st: &StageReport, total: usize) {
        let secs = match (st.started_at, st.ended_at) {
            (Some(a), Some(b)) => b.duration_since(a).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            _ => 0.0,
        };
        let what = match &st.outcome {
            StageOutcome::Completed => format!("completed in {secs:.2}s"),
            StageOutcome::Failed(w) => {
                format!("FAILED after {secs:.2}s{}: {w}", if st.optional { " (optional)" } else { "" })
            }
            StageOutcome::Skipped(w) => format!("skipped: {w}"),
        };
        let mut line = format!("■ Stage {}/{total} `{}` {what}", st.index + 1, st.name);
        if let Some(r) = &st.result {
            line.push_str(&format!(": {} ops, {} errors", r.totals.total_ops(), r.totals.total_errors()));
        }
        if let Some(w) = &st.warmup {
            line.push_str(&format!(
                " (warmup {:.2}s, {} ops, not counted)",
                w.wall.as_secs_f64(),
                w.totals.total_ops()
            ));
        }
        if let Some(c) = &st.command {
            if let Some(code) = c.exit_code {
                line.push_str(&format!(" (exit status {code})"));
            }
        }
        self.line(&line);
    }

    /// The end-of-run summary: per agent for distributed runs, then the totals.
    pub fn summary(&self, r: &RunReport) {
        if r.distributed {
            self.line("");
            self.line("=== Distributed Results ===");
            self.line(&format!("Total agents: {}", r.agents.len()));
            for a in &r.agents {
                self.line("");
                self.line(&format!("--- Agent: {} ---", a.id));
                if let Some(f) = &a.failure {
                    self.line(&format!("  ⚠ {f}"));
                }
                for l in phase_lines(a, "  ") {
                    self.line(&l);
                }
            }
            self.line("");
            self.line("=== Aggregate Totals ===");
            for l in phase_lines(&r.aggregate, "") {
                self.line(&l);
            }
        } else {
            self.line("");
            self.line("=== Results ===");
            for l in phase_lines(&r.aggregate, "") {
                self.line(&l);
            }
        }
        for w in super::metadata::validity_warnings(r) {
            self.line(&format!("⚠ {w}"));
        }
        if let Some(d) = &r.degraded {
            self.line(&format!("⚠ Run degraded: {d}"));
        }
    }
}

/// Totals and the per-class table of an agent's (or the aggregate's) workload phase.
fn phase_lines(a: &AgentReport, ind: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(p) = &a.prepare {
        let ops = p.totals.total_ops();
        v.push(format!(
            "{ind}Prepare: {} objects present, {} created in {:.3}s ({:.2} ops/s, {:.2} MiB/s), {} errors",
            a.prepare_existing,
            ops,
            p.wall.as_secs_f64(),
            per_sec(ops as f64, p.wall.as_secs_f64()),
            per_sec(p.totals.total_bytes() as f64 / MIB, p.wall.as_secs_f64()),
            p.totals.total_errors()
        ));
    }
    let Some(p) = &a.workload else {
        if a.prepare.is_none() {
            v.push(format!("{ind}No workload ran."));
        }
        return v;
    };
    let secs = p.wall.as_secs_f64();
    let ops = p.totals.total_ops();
    let bytes = p.totals.total_bytes();
    v.push(format!("{ind}Wall time: {secs:.2}s"));
    v.push(format!("{ind}Total ops: {ops} ({:.2} ops/s)", per_sec(ops as f64, secs)));
    v.push(format!("{ind}Total bytes: {:.2} MiB ({:.2} MiB/s)", bytes as f64 / MIB, per_sec(bytes as f64 / MIB, secs)));
    v.push(format!("{ind}Errors: {}", p.totals.total_errors()));
    v.push(format!(
        "{ind}{:<6} {:>10} {:>12} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "op", "count", "ops/s", "MiB/s", "mean_us", "p50_us", "p99_us", "errors"
    ));
    for class in [OpClass::Get, OpClass::Put, OpClass::Meta] {
        let c = p.totals.class_total(class);
        let errors = p.totals.errors_where(|o| o.class() == class);
        if c.is_none() && errors == 0 {
            continue;
        }
        let (count, b, lat) = c.as_ref().map(|c| (c.count, c.bytes, Lat::of(&c.hist))).unwrap_or_default();
        v.push(format!(
            "{ind}{:<6} {:>10} {:>12.2} {:>10.2} {:>10.1} {:>8} {:>8} {:>8}",
            class.name(),
            count,
            per_sec(count as f64, secs),
            per_sec(b as f64 / MIB, secs),
            lat.mean,
            lat.p50,
            lat.p99,
            errors
        ));
    }
    if !p.totals.errors.is_empty() {
        let kinds: Vec<String> =
            p.totals.errors.iter().map(|((op, kind), n)| format!("{} {kind}: {n}", op.name())).collect();
        v.push(format!("{ind}Errors by kind: {}", kinds.join(", ")));
    }
    let retried = p.totals.total_retries();
    if retried.retries > 0 {
        let by_op: Vec<String> =
            p.totals.retries.iter().map(|(op, r)| format!("{} {}", op.name(), r.retries)).collect();
        v.push(format!(
            "{ind}Retries: {} ({}); {} requests succeeded only after a retry",
            retried.retries,
            by_op.join(", "),
            retried.retried_ok
        ));
    }
    if p.totals.late_starts > 0 {
        v.push(format!("{ind}Late starts (io_rate): {}", p.totals.late_starts));
    }
    v
}

/// `Endpoints: 8 (2 per agent, round_robin)`, or `None` when no endpoints are in use.
pub fn endpoints_line(table: &[EndpointInfo], ep: Option<&EndpointConfig>, agents: usize) -> Option<String> {
    if table.is_empty() {
        return None;
    }
    let strategy = ep.map(|e| e.strategy.name()).unwrap_or("round_robin");
    let per_agent = ep.map(|e| e.endpoints.len()).unwrap_or(table.len());
    let mut s = if agents > 1 {
        format!("Endpoints: {} ({} per agent, {strategy})", table.len(), per_agent)
    } else {
        format!("Endpoints: {} ({strategy})", table.len())
    };
    for e in table {
        s.push_str(&format!("\n  [{}] {}", e.idx, crate::core::store::redact_uri(&e.uri)));
    }
    Some(s)
}

#[derive(Default)]
struct Running {
    ops: u64,
    bytes: u64,
    errors: u64,
}

struct ConsoleObserver {
    console: Console,
    stage_lines: bool,
    /// Length of the running workload (0: none, or it runs until its operation count).
    duration: Mutex<Duration>,
    running: Mutex<Running>,
}

impl RunObserver for ConsoleObserver {
    fn on_note(&self, line: &str) {
        self.console.line(line);
    }

    fn on_stage_start(&self, index: usize, plan: &Plan) {
        if self.stage_lines {
            self.console.stage_started(index, plan);
        }
    }

    fn on_stage_end(&self, report: &StageReport, plan: &Plan) {
        if self.stage_lines {
            self.console.stage_ended(report, plan.stages.len());
        }
    }

    fn on_phase_start(&self, p: &PhaseStart) {
        *self.running.lock() = Running::default();
        *self.duration.lock() = p.duration.unwrap_or(Duration::ZERO);
        let what = match (p.kind, p.duration) {
            ("prepare", _) => format!("Preparing: {}", p.detail),
            ("workload", d) => {
                let how = if p.detail.is_empty() { String::new() } else { format!(" ({})", p.detail) };
                match d {
                    Some(d) => format!("Running the workload for {:.0}s{how}...", d.as_secs_f64()),
                    None => format!("Running the workload until its operation count{how}..."),
                }
            }
            (_, _) => format!("Cleaning up: {}", p.detail),
        };
        self.console.line(&what);
        self.console.start_bar(p.stage, p.duration);
    }

    fn on_interval(&self, row: &IntervalRow) {
        let (ops, bytes, errors) = (row.snap.total_ops(), row.snap.total_bytes(), row.snap.total_errors());
        let mut r = self.running.lock();
        r.ops += ops;
        r.bytes += bytes;
        r.errors += errors;
        let duration = *self.duration.lock();
        if let Some(bar) = &*self.console.inner.bar.lock() {
            if !duration.is_zero() {
                bar.set_position((row.elapsed_s as u64).min(duration.as_secs().max(1)));
            }
            bar.set_message(format!(
                "{:>10.0} ops/s  {:>9.2} MiB/s  {} ops  {} errors",
                per_sec(ops as f64, row.duration_s),
                per_sec(bytes as f64 / MIB, row.duration_s),
                r.ops,
                r.errors
            ));
        }
    }

    fn on_phase_end(&self, stage: &StageTag, result: &PhaseResult) {
        self.console.finish_bar();
        let secs = result.wall.as_secs_f64();
        let ops = result.totals.total_ops();
        self.console.line(&format!(
            "✓ {} done: {} ops in {:.2}s ({:.2} ops/s, {:.2} MiB/s), {} errors",
            stage.name,
            ops,
            secs,
            per_sec(ops as f64, secs),
            per_sec(result.totals.total_bytes() as f64 / MIB, secs),
            result.totals.total_errors()
        ));
    }
}
