//! [`LiveMetrics`]: the figures of the run in progress, summed from its interval rows, for a
//! metrics scrape (`--metrics-listen`). Counters only grow during a run; a new run on the same
//! agent process starts them again from zero (a counter reset, as Prometheus expects).
//! Must not format anything: `report::openmetrics` renders a [`LiveView`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::outcome::IntervalRow;
use super::run::RunObserver;
use crate::core::config::Plan;
use crate::core::OpKind;

/// Upper bounds of the latency histogram buckets, in µs (10 µs .. 60 s; `+Inf` comes after).
pub const LATENCY_BOUNDS_US: [u64; 21] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Which part of the run a series belongs to: a stage, and whether it is its warmup.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The agent that measured it (`local` in an in-process run).
    pub agent: Arc<str>,
    /// Stage index in execution order, from 0.
    pub stage: u32,
    pub warmup: bool,
}

/// One op kind's figures in one series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpSeries {
    /// Successful requests.
    pub ops: u64,
    pub bytes: u64,
    /// Successful requests per latency bucket (not cumulative); the last is above every bound.
    pub buckets: [u64; LATENCY_BOUNDS_US.len() + 1],
    /// Sum of the latencies in µs (each sample at its HDR bucket's value: within 0.1 %).
    pub sum_us: u128,
}

/// One endpoint's figures in one series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EndpointSeries {
    pub requests: u64,
    pub errors: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

/// What a scrape shows: a copy of the state, taken under the lock and rendered outside it.
#[derive(Debug, Clone, Default)]
pub struct LiveView {
    pub run_id: String,
    pub config: String,
    /// This process's role: `local`, an agent id, or `controller`.
    pub role: String,
    pub running: bool,
    /// Name and `type:` of each stage.
    pub stages: Vec<(String, &'static str)>,
    /// The stage in progress (index into `stages`).
    pub current: Option<usize>,
    /// (connected, expected) agents: set by the controller only.
    pub agents: Option<(usize, usize)>,
    /// Redacted endpoint URIs, by the run's endpoint index.
    pub endpoints: Vec<String>,
    pub ops: BTreeMap<(SeriesKey, OpKind), OpSeries>,
    /// Failed requests by op kind and error kind.
    pub errors: BTreeMap<(SeriesKey, OpKind, String), u64>,
    pub endpoint: BTreeMap<(SeriesKey, usize), EndpointSeries>,
    pub late_starts: BTreeMap<SeriesKey, u64>,
    /// Scrapes served so far by this process.
    pub scrapes: u64,
}

/// The live state, shared by the run (which adds rows) and the metrics server (which reads it).
#[derive(Default)]
pub struct LiveMetrics {
    state: Mutex<LiveView>,
    scrapes: AtomicU64,
    scraped: Notify,
}

impl LiveMetrics {
    pub fn new(role: &str) -> Arc<Self> {
        let m = LiveMetrics::default();
        m.state.lock().role = role.to_string();
        Arc::new(m)
    }

    /// A run starts: forget the previous run's figures.
    pub fn begin(&self, run_id: &str, config: &str, plan: &Plan, endpoints: Vec<String>) {
        let mut s = self.state.lock();
        let role = std::mem::take(&mut s.role);
        *s = LiveView {
            run_id: run_id.to_string(),
            config: config.to_string(),
            role,
            running: true,
            stages: plan.stages.iter().map(|st| (st.name.clone(), st.kind.type_name())).collect(),
            endpoints,
            ..LiveView::default()
        };
    }

    pub fn set_endpoints(&self, endpoints: Vec<String>) {
        self.state.lock().endpoints = endpoints;
    }

    pub fn set_stage(&self, index: usize) {
        self.state.lock().current = Some(index);
    }

    pub fn set_agents(&self, connected: usize, expected: usize) {
        self.state.lock().agents = Some((connected, expected));
    }

    /// The run has ended: the figures stay as they are until the next `begin`.
    pub fn finish(&self) {
        let mut s = self.state.lock();
        s.running = false;
        s.current = None;
    }

    /// Add one interval row measured by `agent`.
    pub fn add_row(&self, agent: &str, row: &IntervalRow) {
        let snap = &row.snap;
        if snap.is_empty() {
            return;
        }
        // Binning the histograms happens outside the lock.
        let mut per_op: BTreeMap<OpKind, OpSeries> = BTreeMap::new();
        for ((op, _), cell) in &snap.cells {
            let s = per_op.entry(*op).or_default();
            s.ops += cell.count;
            s.bytes += cell.bytes;
            for v in cell.hist.iter_recorded() {
                let us = cell.hist.highest_equivalent(v.value_iterated_to());
                let n = v.count_at_value();
                let b = LATENCY_BOUNDS_US.partition_point(|&bound| bound < us);
                s.buckets[b] += n;
                s.sum_us += u128::from(cell.hist.median_equivalent(v.value_iterated_to())) * u128::from(n);
            }
        }
        let mut st = self.state.lock();
        let key = SeriesKey { agent: Arc::from(agent), stage: row.stage.index, warmup: row.stage.warmup };
        for (op, add) in per_op {
            let s = st.ops.entry((key.clone(), op)).or_default();
            s.ops += add.ops;
            s.bytes += add.bytes;
            s.sum_us += add.sum_us;
            for (a, b) in s.buckets.iter_mut().zip(add.buckets) {
                *a += b;
            }
        }
        for ((op, kind), n) in &snap.errors {
            *st.errors.entry((key.clone(), *op, kind.clone())).or_default() += n;
        }
        for (i, e) in snap.endpoints.iter().enumerate().filter(|(_, e)| e.requests > 0) {
            let s = st.endpoint.entry((key.clone(), i)).or_default();
            s.requests += e.requests;
            s.errors += e.errors;
            s.bytes_read += e.bytes_read;
            s.bytes_written += e.bytes_written;
        }
        if snap.late_starts > 0 {
            *st.late_starts.entry(key).or_default() += snap.late_starts;
        }
    }

    /// A copy of the state for one scrape, counted as served.
    pub fn scrape(&self) -> LiveView {
        let mut v = self.state.lock().clone();
        v.scrapes = self.scrapes.fetch_add(1, Ordering::AcqRel) + 1;
        self.scraped.notify_waiters();
        v
    }

    pub fn scrapes(&self) -> u64 {
        self.scrapes.load(Ordering::Acquire)
    }

    /// After [`finish`](Self::finish): when someone has scraped this run, wait (at most `limit`)
    /// for one more scrape so that the final figures reach the scraper. `true` when it came.
    pub async fn wait_final_scrape(&self, scrapes_before_end: u64, limit: Duration) -> bool {
        let seen = self.scrapes();
        if seen == 0 || limit.is_zero() {
            return false;
        }
        if seen > scrapes_before_end {
            return true;
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.scraped.notified();
            if self.scrapes() > scrapes_before_end {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.scrapes() > scrapes_before_end;
            }
        }
    }
}

/// The live metrics of this process's own run (local run, agent).
pub struct LiveFeed {
    pub live: Arc<LiveMetrics>,
    pub agent: String,
}

impl RunObserver for LiveFeed {
    fn on_stage_start(&self, index: usize, _plan: &Plan) {
        self.live.set_stage(index);
    }
    fn on_interval(&self, row: &IntervalRow) {
        self.live.add_row(&self.agent, row);
    }
}

/// Several observers, each told everything, in order.
pub struct Tee(pub Vec<Arc<dyn RunObserver>>);

impl RunObserver for Tee {
    fn on_note(&self, line: &str) {
        self.0.iter().for_each(|o| o.on_note(line));
    }
    fn on_stage_start(&self, index: usize, plan: &Plan) {
        self.0.iter().for_each(|o| o.on_stage_start(index, plan));
    }
    fn on_phase_start(&self, phase: &super::run::PhaseStart) {
        self.0.iter().for_each(|o| o.on_phase_start(phase));
    }
    fn on_interval(&self, row: &IntervalRow) {
        self.0.iter().for_each(|o| o.on_interval(row));
    }
    fn on_phase_end(&self, stage: &super::outcome::StageTag, result: &super::outcome::PhaseResult) {
        self.0.iter().for_each(|o| o.on_phase_end(stage, result));
    }
    fn on_stage_end(&self, report: &super::outcome::StageReport, plan: &Plan) {
        self.0.iter().for_each(|o| o.on_stage_end(report, plan));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exec::StageTag;
    use crate::core::metrics::Snapshot;

    fn row(stage: StageTag, snap: Snapshot) -> IntervalRow {
        IntervalRow {
            index: 0,
            stage,
            timestamp_epoch_ms: 0,
            elapsed_s: 0.1,
            duration_s: 0.1,
            snap,
            cpu: Default::default(),
            missing_agents: vec![],
            summary: None,
        }
    }

    /// Rows add up exactly; every sample lands in the bucket its latency belongs to.
    #[test]
    fn rows_sum_into_counters_and_buckets() {
        let live = LiveMetrics::new("local");
        let tag = StageTag::new(1, "read");
        let mut total = 0u64;
        for r in 0..3u64 {
            let mut s = Snapshot::default();
            for i in 0..1000u64 {
                s.record_ok(OpKind::Get, Some((i % 2) as usize), 4096, 1 + (i * 37 + r) % 20_000, None, None);
                total += 1;
            }
            s.record_err(OpKind::Get, Some(1), "timeout");
            live.add_row("a1", &row(tag.clone(), s));
        }
        live.add_row(
            "a1",
            &row(tag.warmup(), {
                let mut s = Snapshot::default();
                s.record_ok(OpKind::Get, None, 1, 5, None, None);
                s
            }),
        );
        let v = live.scrape();
        let key = SeriesKey { agent: Arc::from("a1"), stage: 1, warmup: false };
        let g = &v.ops[&(key.clone(), OpKind::Get)];
        assert_eq!(g.ops, total);
        assert_eq!(g.bytes, total * 4096);
        assert_eq!(g.buckets.iter().sum::<u64>(), total);
        // Latencies 1..20000 µs: none above 25 ms, some at or below 10 µs.
        assert_eq!(g.buckets[LATENCY_BOUNDS_US.partition_point(|&b| b < 25_000) + 1..].iter().sum::<u64>(), 0);
        assert!(g.buckets[0] > 0);
        assert_eq!(v.errors[&(key.clone(), OpKind::Get, "timeout".to_string())], 3);
        let e1 = v.endpoint[&(key.clone(), 1)];
        assert_eq!(e1.requests, total / 2 + 3);
        assert_eq!(e1.errors, 3);
        let w = SeriesKey { warmup: true, ..key };
        assert_eq!(v.ops[&(w, OpKind::Get)].ops, 1);
        assert_eq!(v.scrapes, 1);
    }

    #[tokio::test]
    async fn final_scrape_is_awaited_only_when_someone_scrapes() {
        let live = LiveMetrics::new("local");
        assert!(!live.wait_final_scrape(0, Duration::from_secs(5)).await, "nobody scraped: no wait");
        live.scrape();
        let before = live.scrapes();
        let (l2, l3) = (live.clone(), live);
        let waiter = tokio::spawn(async move { l3.wait_final_scrape(before, Duration::from_secs(30)).await });
        tokio::task::yield_now().await;
        l2.scrape();
        assert!(waiter.await.unwrap());
        assert!(!l2.wait_final_scrape(l2.scrapes(), Duration::from_millis(20)).await);
    }
}
