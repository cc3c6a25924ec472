//! Merging what agents measured: their 100 ms rows folded into perf-log intervals, the fleet's
//! rows per interval (histograms add: merged percentiles are those of the union of samples), and
//! the aggregate report. Pure functions over engine types; the controller calls them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::outcome::{merge_phases, AgentReport, CpuSample, IntervalRow, StageOutcome, StageReport, StageTag};
use super::rows::{absorb_row, RowSink};
use super::spill::{Rows, SpillStore};
use crate::core::metrics::{Snapshot, SparseSnapshot};

/// Folds agents' short rows as they arrive into each agent's perf-log rows and the fleet's
/// merged rows, holding histograms only for the intervals still open (closed rows keep their figures only).
/// A fleet interval closes when every agent has moved past it (or ended); a lost agent that has
/// no row for it is listed in its `missing_agents`.
pub struct FleetFolder {
    tick_us: u64,
    interval_us: u64,
    agents: Vec<AgentFold>,
    fleet_open: BTreeMap<(StageTag, u64), (IntervalRow, Vec<bool>)>,
    fleet_rows: RowSink,
}

struct AgentFold {
    id: String,
    open: BTreeMap<(StageTag, u64), IntervalRow>,
    rows: RowSink,
    partial: BTreeMap<StageTag, Snapshot>,
    last_key: Option<(StageTag, u64)>,
    done: bool,
    lost: bool,
}

impl FleetFolder {
    pub fn new(ids: &[String], tick: Duration, interval: Duration) -> Self {
        // Closed rows go to one temporary file shared by every series (memory stays flat).
        let spill = SpillStore::create_or_warn();
        FleetFolder {
            tick_us: tick.as_micros().max(1) as u64,
            interval_us: interval.as_micros().max(1) as u64,
            agents: ids
                .iter()
                .map(|id| AgentFold {
                    id: id.clone(),
                    open: BTreeMap::new(),
                    rows: RowSink::with_spill(interval.as_secs_f64(), spill.clone()),
                    partial: BTreeMap::new(),
                    last_key: None,
                    done: false,
                    lost: false,
                })
                .collect(),
            fleet_open: BTreeMap::new(),
            fleet_rows: RowSink::with_spill(interval.as_secs_f64(), spill),
        }
    }

    /// One short row of agent `a` (rows of one agent arrive in order).
    pub fn push(&mut self, a: usize, row: IntervalRow) {
        self.push_sparse(a, row, &SparseSnapshot::default());
    }

    /// One short row of agent `a` whose figures are `row.snap` plus `more` (the controller
    /// passes an agent's figures as they came off the wire, added straight into the open row).
    pub fn push_sparse(&mut self, a: usize, row: IntervalRow, more: &SparseSnapshot) {
        let key = (row.stage.clone(), row.index * self.tick_us / self.interval_us);
        if self.agents[a].open.first_key_value().is_some_and(|(k, _)| *k < key) {
            let older: Vec<(StageTag, u64)> = self.agents[a].open.keys().filter(|k| **k < key).cloned().collect();
            for k in older {
                self.close_agent_row(a, k);
            }
        }
        // The figures go where they will be needed, as they arrive (adding what one message
        // recorded costs what it recorded; adding whole histograms later costs their size): the
        // agent's open row, its running stage totals, and the fleet's row of the same interval.
        let n = self.agents.len();
        let (fleet, _) = self.fleet_open.entry(key.clone()).or_insert_with(|| {
            let mut f = row.clone();
            f.index = key.1;
            f.snap = Snapshot::default();
            (f, vec![false; n])
        });
        fleet.snap.merge_sparse(more);
        fleet.snap.merge(&row.snap);
        let ag = &mut self.agents[a];
        let totals = ag.partial.entry(row.stage.clone()).or_default();
        totals.merge_sparse(more);
        totals.merge(&row.snap);
        match ag.open.get_mut(&key) {
            None => {
                let mut r = row;
                r.index = key.1;
                r.snap.merge_sparse(more);
                ag.open.insert(key.clone(), r);
            }
            Some(acc) => {
                absorb_row(acc, &row);
                acc.snap.merge_sparse(more);
            }
        }
        // Fleet rows can close only when an agent moves on to a later interval.
        if ag.last_key.as_ref().is_none_or(|l| *l < key) {
            ag.last_key = Some(key);
            self.close_fleet_rows();
        }
    }

    /// Agent `a` is past interval `k`: its row is final (its figures are already in the fleet's
    /// row and its stage totals); the fleet's row takes its times and CPU.
    fn close_agent_row(&mut self, a: usize, k: (StageTag, u64)) {
        let n = self.agents.len();
        let Some(row) = self.agents[a].open.remove(&k) else { return };
        let (f, seen) = self.fleet_open.entry(k).or_insert_with(|| {
            let mut f = row.clone();
            f.snap = Snapshot::default();
            (f, vec![false; n])
        });
        if seen.iter().any(|s| *s) {
            f.elapsed_s = f.elapsed_s.max(row.elapsed_s);
            f.duration_s = f.duration_s.max(row.duration_s);
            f.timestamp_epoch_ms = f.timestamp_epoch_ms.max(row.timestamp_epoch_ms);
            f.cpu.user_pct += row.cpu.user_pct;
            f.cpu.system_pct += row.cpu.system_pct;
            f.cpu.iowait_pct += row.cpu.iowait_pct;
        } else {
            // The first agent row of the interval gives the fleet row its times and CPU.
            f.elapsed_s = row.elapsed_s;
            f.duration_s = row.duration_s;
            f.timestamp_epoch_ms = row.timestamp_epoch_ms;
            f.cpu = row.cpu;
            f.missing_agents.clear();
        }
        seen[a] = true;
        self.agents[a].rows.push(row);
    }

    fn close_fleet_rows(&mut self) {
        while let Some(k) = self.fleet_open.keys().next().cloned() {
            let passed = self.agents.iter().all(|ag| ag.done || ag.last_key.as_ref().is_some_and(|l| *l > k));
            if !passed {
                break;
            }
            self.close_fleet_row(k);
        }
    }

    fn close_fleet_row(&mut self, k: (StageTag, u64)) {
        let Some((mut f, seen)) = self.fleet_open.remove(&k) else { return };
        let n = seen.iter().filter(|s| **s).count().max(1) as f64;
        f.cpu = CpuSample {
            user_pct: f.cpu.user_pct / n,
            system_pct: f.cpu.system_pct / n,
            iowait_pct: f.cpu.iowait_pct / n,
        };
        f.missing_agents =
            self.agents.iter().zip(&seen).filter(|(ag, s)| ag.lost && !**s).map(|(ag, _)| ag.id.clone()).collect();
        self.fleet_rows.push(f);
    }

    /// Agent `a` ended (lost or not): close its open rows.
    pub fn agent_done(&mut self, a: usize, lost: bool) {
        let keys: Vec<(StageTag, u64)> = self.agents[a].open.keys().cloned().collect();
        for k in keys {
            self.close_agent_row(a, k);
        }
        self.agents[a].done = true;
        self.agents[a].lost |= lost;
        self.close_fleet_rows();
    }

    /// Close everything still open and return the fleet's rows.
    pub fn finish(&mut self) -> Rows {
        for a in 0..self.agents.len() {
            if !self.agents[a].done {
                self.agent_done(a, false);
            }
        }
        let keys: Vec<(StageTag, u64)> = self.fleet_open.keys().cloned().collect();
        for k in keys {
            self.close_fleet_row(k);
        }
        self.fleet_rows.take()
    }

    /// Agent `a`'s perf-log rows, and the sum of everything it streamed per stage (the totals of
    /// a phase it never finished, e.g. when it was lost).
    pub fn take_agent(&mut self, a: usize) -> (Rows, BTreeMap<StageTag, Snapshot>) {
        let ag = &mut self.agents[a];
        (ag.rows.take(), std::mem::take(&mut ag.partial))
    }
}

/// Each stage's record for the fleet: totals merged over the agents that ran it (wall time =
/// the longest agent's), the earliest start and latest end, failures listed by agent.
pub fn merge_stages(agents: &[AgentReport]) -> Vec<StageReport> {
    let mut by_index: BTreeMap<usize, Vec<(&str, &StageReport)>> = BTreeMap::new();
    for a in agents {
        for st in &a.stages {
            by_index.entry(st.index).or_default().push((a.id.as_str(), st));
        }
    }
    by_index
        .into_values()
        .map(|list| {
            let mut m = list[0].1.clone();
            m.result = merge_phases(list.iter().filter_map(|(_, s)| s.result.as_ref()), false);
            m.warmup = merge_phases(list.iter().filter_map(|(_, s)| s.warmup.as_ref()), false);
            m.started_at = list.iter().filter_map(|(_, s)| s.started_at).min();
            m.ended_at = list.iter().filter_map(|(_, s)| s.ended_at).max();
            m.existing = list.iter().map(|(_, s)| s.existing).sum();
            m.created = list.iter().map(|(_, s)| s.created).sum();
            m.command = None;
            m.barrier_wait_ms = None;
            m.start_skew_ms = None;
            let failed: Vec<String> = list
                .iter()
                .filter_map(|(id, s)| match &s.outcome {
                    StageOutcome::Failed(w) => Some(format!("{id}: {w}")),
                    _ => None,
                })
                .collect();
            m.outcome = if !failed.is_empty() {
                StageOutcome::Failed(failed.join("; "))
            } else if list.iter().all(|(_, s)| matches!(s.outcome, StageOutcome::Skipped(_))) {
                list[0].1.outcome.clone()
            } else {
                StageOutcome::Completed
            };
            m
        })
        .collect()
}

/// The aggregate of a fleet: stages merged, the per-type sums from them, `intervals` (the
/// fleet's rows), summed counts, the union of endpoints, mean CPU. `agents` carry endpoint
/// indices of the run's table.
pub fn aggregate(agents: &[AgentReport], intervals: Rows) -> AgentReport {
    let mut endpoints: Vec<String> = Vec::new();
    for a in agents {
        for e in &a.endpoints {
            if !endpoints.contains(e) {
                endpoints.push(e.clone());
            }
        }
    }
    let strategies: Vec<&str> = agents.iter().filter_map(|a| a.strategy.as_deref()).collect();
    let strategy = match strategies.first() {
        Some(s) if strategies.iter().all(|x| x == s) => Some(s.to_string()),
        Some(_) => Some("mixed".to_string()),
        None => None,
    };
    let n = agents.len().max(1) as f64;
    let failures: Vec<String> =
        agents.iter().filter_map(|a| a.failure.as_ref().map(|f| format!("{}: {f}", a.id))).collect();
    let mut out = AgentReport::empty("all", "all");
    out.concurrency = agents.iter().map(|a| a.concurrency).sum();
    out.endpoints = endpoints;
    out.strategy = strategy;
    out.stages = merge_stages(agents);
    out.intervals = intervals;
    out.failure = (!failures.is_empty()).then(|| failures.join("; "));
    out.cpu = CpuSample {
        user_pct: agents.iter().map(|a| a.cpu.user_pct).sum::<f64>() / n,
        system_pct: agents.iter().map(|a| a.cpu.system_pct).sum::<f64>() / n,
        iowait_pct: agents.iter().map(|a| a.cpu.iowait_pct).sum::<f64>() / n,
    };
    let logs: Vec<_> = agents.iter().filter_map(|a| a.oplog).collect();
    out.oplog = (!logs.is_empty()).then(|| crate::core::oplog::OpLogTotals {
        records: logs.iter().map(|t| t.records).sum(),
        dropped: logs.iter().map(|t| t.dropped).sum(),
        sampled_out: logs.iter().map(|t| t.sampled_out).sum(),
    });
    out.sum_stages();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::OpKind;

    /// Fold one agent's rows of length `tick` into rows of length `interval` (per stage): row `i`
    /// goes to interval `floor(i * tick / interval)`. Counts and histograms add; the folded row ends
    /// where its last row ends.
    fn fold_intervals(rows: &[IntervalRow], tick: Duration, interval: Duration) -> Vec<IntervalRow> {
        let tick_us = tick.as_micros().max(1) as u64;
        let interval_us = interval.as_micros().max(1) as u64;
        let mut out: BTreeMap<(StageTag, u64), IntervalRow> = BTreeMap::new();
        for r in rows {
            let k = r.index * tick_us / interval_us;
            match out.get_mut(&(r.stage.clone(), k)) {
                None => {
                    let mut row = r.clone();
                    row.index = k;
                    out.insert((r.stage.clone(), k), row);
                }
                Some(acc) => absorb_row(acc, r),
            }
        }
        out.into_values().collect()
    }

    /// The fleet's rows: for every (stage, interval) any agent reported, the merge of all agents'
    /// rows for it. Agents flagged lost that have no row for an interval are listed in its
    /// `missing_agents`. Elapsed time and timestamp are the latest of the agents'; CPU the mean.
    fn merge_fleet(agents: &[(&str, &[IntervalRow], bool)]) -> Vec<IntervalRow> {
        let mut keys: BTreeMap<(StageTag, u64), (IntervalRow, usize)> = BTreeMap::new();
        for (_, rows, _) in agents {
            for r in rows.iter() {
                match keys.get_mut(&(r.stage.clone(), r.index)) {
                    None => {
                        keys.insert((r.stage.clone(), r.index), (r.clone(), 1));
                    }
                    Some((acc, n)) => {
                        acc.snap.merge(&r.snap);
                        acc.elapsed_s = acc.elapsed_s.max(r.elapsed_s);
                        acc.duration_s = acc.duration_s.max(r.duration_s);
                        acc.timestamp_epoch_ms = acc.timestamp_epoch_ms.max(r.timestamp_epoch_ms);
                        acc.cpu.user_pct += r.cpu.user_pct;
                        acc.cpu.system_pct += r.cpu.system_pct;
                        acc.cpu.iowait_pct += r.cpu.iowait_pct;
                        *n += 1;
                    }
                }
            }
        }
        keys.into_iter()
            .map(|((stage, index), (mut row, n))| {
                let n = n as f64;
                row.cpu = CpuSample {
                    user_pct: row.cpu.user_pct / n,
                    system_pct: row.cpu.system_pct / n,
                    iowait_pct: row.cpu.iowait_pct / n,
                };
                row.missing_agents = agents
                    .iter()
                    .filter(|(_, rows, lost)| *lost && !rows.iter().any(|r| r.stage == stage && r.index == index))
                    .map(|(id, _, _)| id.to_string())
                    .collect();
                row
            })
            .collect()
    }

    fn row(stage: StageTag, index: u64, lats: &[u64]) -> IntervalRow {
        let mut snap = Snapshot::default();
        for &l in lats {
            snap.record_ok(OpKind::Get, None, 4096, l, None, None);
        }
        IntervalRow {
            index,
            stage,
            timestamp_epoch_ms: 1_000 + index * 100,
            elapsed_s: (index + 1) as f64 * 0.1,
            duration_s: 0.1,
            snap,
            cpu: CpuSample { user_pct: 10.0, system_pct: 5.0, iowait_pct: 0.0 },
            missing_agents: vec![],
            summary: None,
        }
    }

    #[test]
    fn folding_keeps_every_count_and_sample() {
        let rows: Vec<IntervalRow> =
            (0..25).map(|i| row(StageTag::new(1, "workload"), i, &[i + 1, 2 * i + 3])).collect();
        let folded = fold_intervals(&rows, Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(folded.len(), 3);
        assert_eq!(folded.iter().map(|r| r.snap.total_ops()).sum::<u64>(), 50);
        assert_eq!(folded[0].snap.total_ops(), 20);
        assert_eq!(folded[2].snap.total_ops(), 10);
        assert!((folded[0].duration_s - 1.0).abs() < 1e-9);
        assert!((folded[2].elapsed_s - 2.5).abs() < 1e-9);
        let max0 = folded[0].snap.op_total(OpKind::Get).unwrap().hist.max();
        assert_eq!(max0, 21, "largest sample of the first second");
    }

    #[test]
    fn streaming_folder_matches_batch_merge_and_marks_the_lost_agent() {
        let a: Vec<IntervalRow> = (0..25).map(|i| row(StageTag::new(1, "workload"), i, &[i + 1, 200 + i])).collect();
        let b: Vec<IntervalRow> = (0..12).map(|i| row(StageTag::new(1, "workload"), i, &[5_000 + i])).collect();
        let (tick, iv) = (Duration::from_millis(100), Duration::from_secs(1));
        let mut f = FleetFolder::new(&["a".into(), "b".into()], tick, iv);
        // Interleaved arrival, as from two streams.
        for i in 0..25 {
            f.push(0, a[i].clone());
            if i < 12 {
                f.push(1, b[i].clone());
            }
            if i == 12 {
                f.agent_done(1, true);
            }
        }
        let fleet = f.finish().to_vec().unwrap();
        let fa = fold_intervals(&a, tick, iv);
        let fb = fold_intervals(&b, tick, iv);
        let batch = merge_fleet(&[("a", &fa, false), ("b", &fb, true)]);
        assert_eq!(fleet.len(), batch.len());
        for (x, y) in fleet.iter().zip(&batch) {
            assert_eq!(x.total_ops(), y.total_ops());
            assert_eq!(x.summary(), y.summary(), "percentiles identical to the batch merge");
            assert_eq!(x.missing_agents, y.missing_agents);
        }
        assert_eq!(fleet[2].missing_agents, vec!["b".to_string()]);
        let (rows_a, partial_a) = f.take_agent(0);
        let rows_a = rows_a.to_vec().unwrap();
        assert_eq!(rows_a.len(), 3);
        assert!(rows_a.iter().all(|r| r.summary.is_some()), "stored rows are compacted");
        assert_eq!(partial_a[&StageTag::new(1, "workload")].total_ops(), 50);
        let (_, partial_b) = f.take_agent(1);
        assert_eq!(partial_b[&StageTag::new(1, "workload")].op_total(OpKind::Get).unwrap().hist.max(), 5_011);
    }

    #[test]
    fn fleet_rows_are_the_union_of_samples_and_mark_lost_agents() {
        let a: Vec<IntervalRow> = (0..3).map(|i| row(StageTag::new(1, "workload"), i, &[100, 200, 300])).collect();
        let b: Vec<IntervalRow> = (0..1).map(|i| row(StageTag::new(1, "workload"), i, &[10_000])).collect();
        let merged = merge_fleet(&[("a", &a, false), ("b", &b, true)]);
        assert_eq!(merged.len(), 3);
        let h = &merged[0].snap.op_total(OpKind::Get).unwrap().hist;
        assert_eq!(h.len(), 4);
        assert!(h.value_at_quantile(1.0) >= 9_990, "the lost agent's sample of interval 0 is kept");
        assert!(merged[0].missing_agents.is_empty());
        assert_eq!(merged[1].missing_agents, vec!["b".to_string()]);
        assert_eq!(merged[2].missing_agents, vec!["b".to_string()]);
    }
}
