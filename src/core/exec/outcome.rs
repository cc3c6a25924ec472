//! What a run produced: per-phase totals, the interval time series, per-agent figures and the
//! run's validity record. Plain data, filled by the engine (local) or the controller (merged),
//! read by every exporter in `report/`.

use std::time::{Duration, SystemTime};

use crate::core::metrics::Snapshot;
use crate::core::OpClass;

/// Phase of a run, the `stage` column of perf_log.tsv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Prepare,
    Workload,
    Cleanup,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::Workload => "workload",
            Stage::Cleanup => "cleanup",
        }
    }
}

/// Totals of one phase.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    pub stage: Stage,
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
    pub stage: Stage,
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

/// GET, PUT and META figures of an interval (index: `OpClass` order).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RowSummary {
    pub classes: [ClassSummary; 3],
}

impl IntervalRow {
    /// Per-class counts and latency percentiles: the stored summary of a compacted row, else
    /// computed from the histograms.
    pub fn summary(&self) -> RowSummary {
        if let Some(s) = self.summary {
            return s;
        }
        let mut out = RowSummary::default();
        for (i, class) in [OpClass::Get, OpClass::Put, OpClass::Meta].into_iter().enumerate() {
            if let Some(c) = self.snap.class_total(class) {
                let h = &c.hist;
                out.classes[i] = ClassSummary {
                    ops: c.count,
                    bytes: c.bytes,
                    mean_us: if h.is_empty() { 0.0 } else { h.mean() },
                    p50_us: if h.is_empty() { 0 } else { h.value_at_quantile(0.50) },
                    p90_us: if h.is_empty() { 0 } else { h.value_at_quantile(0.90) },
                    p99_us: if h.is_empty() { 0 } else { h.value_at_quantile(0.99) },
                };
            }
        }
        out
    }

    /// Keep the summary and every count, drop the histograms (a full histogram is ~190 KB; a
    /// time series of them would grow without bound). Compacted rows can no longer be merged
    /// into percentiles: merge first, then compact.
    pub fn compact(&mut self) {
        if self.summary.is_none() {
            self.summary = Some(self.summary());
        }
        self.snap.drop_histograms();
    }
}

/// Where a configured endpoint sits in the endpoint stats files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    pub idx: usize,
    pub uri: String,
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
    pub prepare: Option<PhaseResult>,
    pub workload: Option<PhaseResult>,
    pub cleanup: Option<PhaseResult>,
    pub intervals: Vec<IntervalRow>,
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
    pub warnings: Vec<String>,
    /// Set when the run stopped early or lost part of its fleet: why.
    pub degraded: Option<String>,
    /// Distributed runs: delay from the end of an agent's interval to its arrival at the
    /// controller (clock offset corrected), mean and max in ms.
    pub stats_delay_ms: Option<(f64, f64)>,
}
