//! What a run produced: per-phase totals, the interval time series, per-agent figures and the
//! run's validity record. Plain data, filled by the engine (local) or the controller (merged),
//! read by every exporter in `report/`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::core::metrics::Snapshot;
use crate::core::{OpClass, OpKind};

/// Which stage a row or phase belongs to: the stage's position in the run's stage list, its
/// name, and whether it is the stage's warmup. Ordered by position, a warmup before the measured
/// part of its stage.
#[derive(Debug, Clone)]
pub struct StageTag {
    pub index: u32,
    pub name: Arc<str>,
    pub warmup: bool,
}

impl StageTag {
    pub fn new(index: usize, name: &str) -> Self {
        StageTag { index: index as u32, name: Arc::from(name), warmup: false }
    }

    /// The same stage's warmup part.
    pub fn warmup(&self) -> Self {
        StageTag { warmup: true, ..self.clone() }
    }

    /// The `stage` column of perf_log.tsv: the name, `<name>:warmup` for the warmup.
    pub fn label(&self) -> String {
        if self.warmup {
            format!("{}:warmup", self.name)
        } else {
            self.name.to_string()
        }
    }

    fn key(&self) -> (u32, bool) {
        (self.index, !self.warmup)
    }
}

impl PartialEq for StageTag {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for StageTag {}
impl std::hash::Hash for StageTag {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.key().hash(h)
    }
}
impl PartialOrd for StageTag {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for StageTag {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}

/// Totals of one phase.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    pub stage: StageTag,
    /// Wall time the phase took (rates are per second of this).
    pub wall: Duration,
    pub totals: Snapshot,
    /// Requests still in flight per endpoint index when the phase ended (0 after a clean end;
    /// more when requests were abandoned at the grace deadline). Empty without endpoints.
    pub in_flight_at_end: Vec<u64>,
}

/// CPU use of the load host over an interval, in percent of all cores (0..100).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuSample {
    pub user_pct: f64,
    pub system_pct: f64,
    pub iowait_pct: f64,
}

/// One row of the time series: what one agent (or the merged fleet) measured in one interval.
#[derive(Debug, Clone)]
pub struct IntervalRow {
    /// Interval number within its stage, from 0; the same index across agents is the same
    /// wall-clock span (agents start at one instant).
    pub index: u64,
    pub stage: StageTag,
    /// Wall clock at the end of the interval, ms since the Unix epoch.
    pub timestamp_epoch_ms: u64,
    /// Seconds from the start of the stage to the end of the interval.
    pub elapsed_s: f64,
    /// Length of this interval in seconds (rates are per second of this).
    pub duration_s: f64,
    pub snap: Snapshot,
    pub cpu: CpuSample,
    /// For merged rows: ids of agents whose data for this interval is missing (lost agents).
    pub missing_agents: Vec<String>,
    /// Set by [`IntervalRow::compact`]: the per-class figures, kept when the histograms are
    /// dropped so that a long run's time series stays small in memory.
    pub summary: Option<RowSummary>,
}

/// One op class's figures in one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClassSummary {
    pub ops: u64,
    pub bytes: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
}

/// GET, PUT and META figures of an interval (index: `OpClass` order), and its totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RowSummary {
    pub classes: [ClassSummary; 3],
    /// Successful requests per op kind (`OpKind::index` order).
    pub op_counts: [u64; 7],
    /// Successful requests of every kind, bytes, failed requests, retries.
    pub ops: u64,
    pub bytes: u64,
    pub errors: u64,
    pub retries: u64,
}

impl IntervalRow {
    /// Per-class counts and latency percentiles: the stored summary of a compacted row, else
    /// computed from the histograms.
    pub fn summary(&self) -> RowSummary {
        if let Some(s) = self.summary {
            return s;
        }
        let mut out = RowSummary {
            ops: self.snap.total_ops(),
            bytes: self.snap.total_bytes(),
            errors: self.snap.total_errors(),
            retries: self.snap.total_retries().retries,
            ..RowSummary::default()
        };
        // Counts straight from the cells; a class's histograms are merged only when it has more
        // than one cell (this runs for every agent and interval on the controller).
        for ((op, _), c) in &self.snap.cells {
            out.op_counts[op.index()] += c.count;
        }
        for (i, class) in [OpClass::Get, OpClass::Put, OpClass::Meta].into_iter().enumerate() {
            let cells: Vec<&crate::core::metrics::Cell> =
                self.snap.cells.iter().filter(|((o, _), _)| o.class() == class).map(|(_, c)| c).collect();
            let merged;
            let h = match cells.as_slice() {
                [] => continue,
                [one] => &one.hist,
                many => {
                    let mut m = crate::core::metrics::new_histogram();
                    for c in many {
                        // Same bounds on both sides: add cannot fail.
                        let _ = m.add(&c.hist);
                    }
                    merged = m;
                    &merged
                }
            };
            out.classes[i] = ClassSummary {
                ops: cells.iter().map(|c| c.count).sum(),
                bytes: cells.iter().map(|c| c.bytes).sum(),
                mean_us: if h.is_empty() { 0.0 } else { h.mean() },
                p50_us: if h.is_empty() { 0 } else { h.value_at_quantile(0.50) },
                p90_us: if h.is_empty() { 0 } else { h.value_at_quantile(0.90) },
                p99_us: if h.is_empty() { 0 } else { h.value_at_quantile(0.99) },
            };
        }
        out
    }

    /// Keep the summary (per-class counts and percentiles, totals), drop the figures behind it:
    /// a perf-log row is all a closed row is still used for, and a long run keeps one per agent
    /// and interval (a row with its cells and their small histograms was ~4.6 KB, its summary is
    /// a few hundred bytes). Compacted rows can no longer be merged: merge first, then compact.
    pub fn compact(&mut self) {
        if self.summary.is_none() {
            self.summary = Some(self.summary());
        }
        self.snap = Snapshot::default();
    }

    /// Successful requests of the row (compacted or not).
    pub fn total_ops(&self) -> u64 {
        self.summary.map_or_else(|| self.snap.total_ops(), |s| s.ops)
    }

    /// Successful requests of one op kind (compacted or not).
    pub fn op_count(&self, op: OpKind) -> u64 {
        match &self.summary {
            Some(s) => s.op_counts[op.index()],
            None => self.snap.op_total(op).map_or(0, |c| c.count),
        }
    }

    /// Failed requests of the row (compacted or not).
    pub fn total_errors(&self) -> u64 {
        self.summary.map_or_else(|| self.snap.total_errors(), |s| s.errors)
    }

    /// Retried attempts of the row (compacted or not).
    pub fn total_retries(&self) -> u64 {
        self.summary.map_or_else(|| self.snap.total_retries().retries, |s| s.retries)
    }
}

/// Where a configured endpoint sits in the endpoint stats files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    pub idx: usize,
    pub uri: String,
}

/// How a stage ended on one agent (or for the fleet).
#[derive(Debug, Clone, PartialEq)]
pub enum StageOutcome {
    Completed,
    Failed(String),
    /// Did not run (the run stopped before it, or the agent was dropped): why.
    Skipped(String),
}

impl StageOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            StageOutcome::Completed => "completed",
            StageOutcome::Failed(_) => "failed",
            StageOutcome::Skipped(_) => "skipped",
        }
    }
    pub fn message(&self) -> Option<&str> {
        match self {
            StageOutcome::Completed => None,
            StageOutcome::Failed(m) | StageOutcome::Skipped(m) => Some(m),
        }
    }
}

/// What a `command` stage's program did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// Exit status; `None` when it was killed (timeout, signal) or could not start.
    pub exit_code: Option<i32>,
    /// The last lines of its standard output and error, interleaved as they arrived.
    pub tail: Vec<String>,
}

/// What one agent (or the fleet) did in one stage.
#[derive(Debug, Clone)]
pub struct StageReport {
    pub index: usize,
    pub name: String,
    /// `prepare`, `workload`, `cleanup` or `command`.
    pub kind: &'static str,
    pub optional: bool,
    pub started_at: Option<SystemTime>,
    pub ended_at: Option<SystemTime>,
    /// Totals of the measured part (warmup excluded); `None` for a stage without operations.
    pub result: Option<PhaseResult>,
    /// Totals of the warmup, kept out of every other figure.
    pub warmup: Option<PhaseResult>,
    pub outcome: StageOutcome,
    /// Prepare stages: objects found present / created.
    pub existing: u64,
    pub created: u64,
    pub command: Option<CommandOutcome>,
    /// Distributed runs: ms this agent waited at the stage's end barrier for the others
    /// (`None`: it did not arrive in time).
    pub barrier_wait_ms: Option<f64>,
    /// Distributed runs: ms from the common start instant to this agent's actual start.
    pub start_skew_ms: Option<f64>,
}

impl StageReport {
    /// A stage that has not run (yet).
    pub fn new(index: usize, plan: &crate::core::config::StagePlan) -> Self {
        StageReport {
            index,
            name: plan.name.clone(),
            kind: plan.kind.type_name(),
            optional: plan.optional,
            started_at: None,
            ended_at: None,
            result: None,
            warmup: None,
            outcome: StageOutcome::Completed,
            existing: 0,
            created: 0,
            command: None,
            barrier_wait_ms: None,
            start_skew_ms: None,
        }
    }

    /// Whether the run must stop after this stage.
    pub fn stops_run(&self) -> bool {
        matches!(self.outcome, StageOutcome::Failed(_)) && !self.optional
    }

    /// Operations of the measured part (successes and failures).
    pub fn ops(&self) -> u64 {
        self.result.as_ref().map(|r| r.totals.total_ops() + r.totals.total_errors()).unwrap_or(0)
    }
}

/// The stages of a plan as the results describe them (metadata, dry run).
#[derive(Debug, Clone, PartialEq)]
pub struct StageInfo {
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    pub optional: bool,
    pub barrier_policy: &'static str,
    pub barrier_timeout_s: f64,
}

impl StageInfo {
    pub fn of_plan(plan: &crate::core::config::Plan) -> Vec<StageInfo> {
        plan.stages
            .iter()
            .enumerate()
            .map(|(index, s)| StageInfo {
                index,
                name: s.name.clone(),
                kind: s.kind.type_name(),
                optional: s.optional,
                barrier_policy: s.barrier.policy.name(),
                barrier_timeout_s: s.barrier.timeout.as_secs_f64(),
            })
            .collect()
    }
}

/// Merge phase totals: counts and histograms add; wall time adds (`serial`, stages one after
/// the other) or is the longest (`!serial`, agents side by side).
pub fn merge_phases<'a>(phases: impl IntoIterator<Item = &'a PhaseResult>, serial: bool) -> Option<PhaseResult> {
    let mut out: Option<PhaseResult> = None;
    for p in phases {
        match &mut out {
            None => out = Some(p.clone()),
            Some(o) => {
                o.wall = if serial { o.wall + p.wall } else { o.wall.max(p.wall) };
                o.totals.merge(&p.totals);
                if o.in_flight_at_end.len() < p.in_flight_at_end.len() {
                    o.in_flight_at_end.resize(p.in_flight_at_end.len(), 0);
                }
                for (i, n) in p.in_flight_at_end.iter().enumerate() {
                    o.in_flight_at_end[i] += n;
                }
            }
        }
    }
    out
}

/// Everything one agent (or the local run) measured.
#[derive(Debug, Clone)]
pub struct AgentReport {
    pub id: String,
    /// gRPC address, or `local` for the in-process run.
    pub address: String,
    pub concurrency: usize,
    /// Endpoint URIs this agent used (empty: a single target).
    pub endpoints: Vec<String>,
    pub strategy: Option<String>,
    /// Sums over the stages of each type (workload: warmups excluded): what `results.tsv` and
    /// `prepare_results.tsv` report. Set by [`AgentReport::sum_stages`].
    pub prepare: Option<PhaseResult>,
    pub workload: Option<PhaseResult>,
    pub cleanup: Option<PhaseResult>,
    /// Every stage in execution order.
    pub stages: Vec<StageReport>,
    pub intervals: super::spill::Rows,
    /// Objects found already present / created by prepare.
    pub prepare_existing: u64,
    pub prepare_created: u64,
    /// Set when the agent was lost or failed: what happened.
    pub failure: Option<String>,
    /// Clock offset agent − controller in ms, and round-trip time in ms (distributed runs).
    pub clock_offset_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    /// How far this agent's actual start was from the chosen instant, ms (distributed runs).
    pub start_skew_ms: Option<f64>,
    /// Mean CPU use of the load host during the workload.
    pub cpu: CpuSample,
    /// What its op-log recorded (`op_log:` on).
    pub oplog: Option<crate::core::oplog::OpLogTotals>,
}

impl AgentReport {
    /// An agent that has measured nothing yet.
    pub fn empty(id: &str, address: &str) -> Self {
        AgentReport {
            id: id.to_string(),
            address: address.to_string(),
            concurrency: 0,
            endpoints: Vec::new(),
            strategy: None,
            prepare: None,
            workload: None,
            cleanup: None,
            stages: Vec::new(),
            intervals: Default::default(),
            prepare_existing: 0,
            prepare_created: 0,
            failure: None,
            clock_offset_ms: None,
            rtt_ms: None,
            start_skew_ms: None,
            cpu: CpuSample::default(),
            oplog: None,
        }
    }

    /// Set the per-type sums (`prepare`, `workload`, `cleanup`, prepare counts) from `stages`.
    pub fn sum_stages(&mut self) {
        let of = |kind: &str| {
            merge_phases(self.stages.iter().filter(|s| s.kind == kind).filter_map(|s| s.result.as_ref()), true)
        };
        self.prepare = of("prepare");
        // A replay is a measured workload too: its figures are in results.tsv.
        self.workload = merge_phases(
            self.stages.iter().filter(|s| s.kind == "workload" || s.kind == "replay").filter_map(|s| s.result.as_ref()),
            true,
        );
        self.cleanup = of("cleanup");
        let prep = self.stages.iter().filter(|s| s.kind == "prepare");
        self.prepare_existing = prep.clone().map(|s| s.existing).sum();
        self.prepare_created = prep.map(|s| s.created).sum();
    }
}

/// A finished run, ready to be written.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub tool_version: String,
    pub command_line: String,
    /// Config file name as given (e.g. `distributed-test.yaml`) and its text (credentials removed).
    pub config_name: String,
    pub config_text: String,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    /// One entry per agent; a local run has exactly one, with `address == "local"`.
    pub agents: Vec<AgentReport>,
    /// The merged view of all agents (for a local run, the same figures as its one agent).
    pub aggregate: AgentReport,
    /// Endpoints in use, in endpoint-index order; empty when the run used a single target.
    pub endpoints: Vec<EndpointInfo>,
    pub distributed: bool,
    /// The plan's stages; `explicit_stages` when the config listed them (per-stage files).
    pub stage_info: Vec<StageInfo>,
    pub explicit_stages: bool,
    /// Agents dropped at a `majority` / `best_effort` barrier: (id, why). They do not fail the run.
    pub dropped: Vec<(String, String)>,
    pub warnings: Vec<String>,
    /// Set when the run stopped early or lost part of its fleet: why.
    pub degraded: Option<String>,
    /// Distributed runs: delay from the end of an agent's interval to its arrival at the
    /// controller (clock offset corrected), mean and max in ms.
    pub stats_delay_ms: Option<(f64, f64)>,
    /// Distributed runs: intervals per message burst the agents were asked for (1: each as it
    /// closed; larger fleets send in bursts, which is part of `stats_delay_ms`).
    pub stats_send_every: Option<u32>,
    /// The op-log files of the results folder (`op_log:`), relative to it.
    pub oplog_files: Vec<String>,
}
