//! Merging what agents measured: their 100 ms rows folded into perf-log intervals, the fleet's
//! rows per interval (histograms add: merged percentiles are those of the union of samples), and
//! the aggregate report. Pure functions over engine types; the controller calls them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::outcome::{AgentReport, CpuSample, IntervalRow, PhaseResult, Stage};
use crate::core::metrics::Snapshot;

/// Fold one agent's rows of length `tick` into rows of length `interval` (per stage): row `i`
/// goes to interval `floor(i * tick / interval)`. Counts and histograms add; the folded row ends
/// where its last row ends.
pub fn fold_intervals(rows: &[IntervalRow], tick: Duration, interval: Duration) -> Vec<IntervalRow> {
    let tick_us = tick.as_micros().max(1) as u64;
    let interval_us = interval.as_micros().max(1) as u64;
    let mut out: BTreeMap<(Stage, u64), IntervalRow> = BTreeMap::new();
    for r in rows {
        let k = r.index * tick_us / interval_us;
        match out.get_mut(&(r.stage, k)) {
            None => {
                let mut row = r.clone();
                row.index = k;
                out.insert((r.stage, k), row);
            }
            Some(acc) => {
                let total = acc.duration_s + r.duration_s;
                if total > 0.0 {
                    acc.cpu = weighted(acc.cpu, acc.duration_s, r.cpu, r.duration_s);
                }
                acc.snap.merge(&r.snap);
                acc.duration_s = total;
                acc.elapsed_s = acc.elapsed_s.max(r.elapsed_s);
                acc.timestamp_epoch_ms = acc.timestamp_epoch_ms.max(r.timestamp_epoch_ms);
                for m in &r.missing_agents {
                    if !acc.missing_agents.contains(m) {
                        acc.missing_agents.push(m.clone());
                    }
                }
            }
        }
    }
    out.into_values().collect()
}

fn weighted(a: CpuSample, wa: f64, b: CpuSample, wb: f64) -> CpuSample {
    let t = wa + wb;
    CpuSample {
        user_pct: (a.user_pct * wa + b.user_pct * wb) / t,
        system_pct: (a.system_pct * wa + b.system_pct * wb) / t,
        iowait_pct: (a.iowait_pct * wa + b.iowait_pct * wb) / t,
    }
}

/// The fleet's rows: for every (stage, interval) any agent reported, the merge of all agents'
/// rows for it. Agents flagged lost that have no row for an interval are listed in its
/// `missing_agents`. Elapsed time and timestamp are the latest of the agents'; CPU the mean.
pub fn merge_fleet(agents: &[(&str, &[IntervalRow], bool)]) -> Vec<IntervalRow> {
    let mut keys: BTreeMap<(Stage, u64), (IntervalRow, usize)> = BTreeMap::new();
    for (_, rows, _) in agents {
        for r in rows.iter() {
            match keys.get_mut(&(r.stage, r.index)) {
                None => {
                    keys.insert((r.stage, r.index), (r.clone(), 1));
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
            row.cpu = CpuSample { user_pct: row.cpu.user_pct / n, system_pct: row.cpu.system_pct / n, iowait_pct: row.cpu.iowait_pct / n };
            row.missing_agents = agents
                .iter()
                .filter(|(_, rows, lost)| *lost && !rows.iter().any(|r| r.stage == stage && r.index == index))
                .map(|(id, _, _)| id.to_string())
                .collect();
            row
        })
        .collect()
}

fn merge_phase(phases: Vec<&PhaseResult>) -> Option<PhaseResult> {
    let first = phases.first()?;
    let mut out = PhaseResult { stage: first.stage, wall: Duration::ZERO, totals: Snapshot::default(), in_flight_at_end: Vec::new() };
    for p in phases {
        out.wall = out.wall.max(p.wall);
        out.totals.merge(&p.totals);
        if out.in_flight_at_end.len() < p.in_flight_at_end.len() {
            out.in_flight_at_end.resize(p.in_flight_at_end.len(), 0);
        }
        for (i, n) in p.in_flight_at_end.iter().enumerate() {
            out.in_flight_at_end[i] += n;
        }
    }
    Some(out)
}

/// The aggregate of a fleet: phase totals merged (wall time = the longest agent's), the fleet's
/// interval rows, summed counts, the union of endpoints, mean CPU. `agents` carry their folded
/// intervals and endpoint indices of the run's table.
pub fn aggregate(agents: &[AgentReport], lost: &[bool]) -> AgentReport {
    let rows: Vec<(&str, &[IntervalRow], bool)> =
        agents.iter().enumerate().map(|(i, a)| (a.id.as_str(), a.intervals.as_slice(), lost.get(i).copied().unwrap_or(false))).collect();
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
    let failures: Vec<String> = agents.iter().filter_map(|a| a.failure.as_ref().map(|f| format!("{}: {f}", a.id))).collect();
    AgentReport {
        id: "all".to_string(),
        address: "all".to_string(),
        concurrency: agents.iter().map(|a| a.concurrency).sum(),
        endpoints,
        strategy,
        prepare: merge_phase(agents.iter().filter_map(|a| a.prepare.as_ref()).collect()),
        workload: merge_phase(agents.iter().filter_map(|a| a.workload.as_ref()).collect()),
        cleanup: merge_phase(agents.iter().filter_map(|a| a.cleanup.as_ref()).collect()),
        intervals: merge_fleet(&rows),
        prepare_existing: agents.iter().map(|a| a.prepare_existing).sum(),
        prepare_created: agents.iter().map(|a| a.prepare_created).sum(),
        failure: (!failures.is_empty()).then(|| failures.join("; ")),
        clock_offset_ms: None,
        rtt_ms: None,
        start_skew_ms: None,
        cpu: CpuSample {
            user_pct: agents.iter().map(|a| a.cpu.user_pct).sum::<f64>() / n,
            system_pct: agents.iter().map(|a| a.cpu.system_pct).sum::<f64>() / n,
            iowait_pct: agents.iter().map(|a| a.cpu.iowait_pct).sum::<f64>() / n,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::OpKind;

    fn row(stage: Stage, index: u64, lats: &[u64]) -> IntervalRow {
        let mut snap = Snapshot::default();
        for &l in lats {
            snap.record_ok(OpKind::Get, None, 4096, l, None);
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
        }
    }

    #[test]
    fn folding_keeps_every_count_and_sample() {
        let rows: Vec<IntervalRow> = (0..25).map(|i| row(Stage::Workload, i, &[i + 1, 2 * i + 3])).collect();
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
    fn fleet_rows_are_the_union_of_samples_and_mark_lost_agents() {
        let a: Vec<IntervalRow> = (0..3).map(|i| row(Stage::Workload, i, &[100, 200, 300])).collect();
        let b: Vec<IntervalRow> = (0..1).map(|i| row(Stage::Workload, i, &[10_000])).collect();
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
