//! Where interval rows are collected in order: the newest two keep their histograms, older ones
//! are compacted (their figures only, no histograms: a few KiB each), and a stage part's last row that is shorter than half an
//! interval — the operations that completed after the deadline, a few ms long — is folded into
//! the row before it, so that every row's rates are over a real interval and the sums still
//! equal the totals.

use std::sync::Arc;

use super::outcome::{CpuSample, IntervalRow};
use super::spill::{warn_once, Rows, SpillStore, BLOCK_ROWS};

/// Add `r` to `acc` (a later row of the same stage part): counts and histograms add, the span
/// grows, CPU is weighted by time.
pub fn absorb_row(acc: &mut IntervalRow, r: &IntervalRow) {
    let total = acc.duration_s + r.duration_s;
    if total > 0.0 {
        let (wa, wb) = (acc.duration_s / total, r.duration_s / total);
        acc.cpu = CpuSample {
            user_pct: acc.cpu.user_pct * wa + r.cpu.user_pct * wb,
            system_pct: acc.cpu.system_pct * wa + r.cpu.system_pct * wb,
            iowait_pct: acc.cpu.iowait_pct * wa + r.cpu.iowait_pct * wb,
        };
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

/// Rows of one series (an agent's, or the fleet's), pushed in time order. With a
/// [`SpillStore`], closed rows go to it in blocks of [`BLOCK_ROWS`] and memory stays flat.
#[derive(Debug)]
pub struct RowSink {
    /// Rows shorter than this (seconds) at the end of a stage part are folded.
    fold_below_s: f64,
    /// Rows already handed to the store (or kept after it failed), in order.
    done: Rows,
    rows: Vec<IntervalRow>,
    spill: Option<Arc<SpillStore>>,
}

impl RowSink {
    /// `interval_s`: the series' interval length; a tail under half of it is folded.
    pub fn new(interval_s: f64) -> Self {
        RowSink { fold_below_s: interval_s / 2.0, done: Rows::default(), rows: Vec::new(), spill: None }
    }

    /// The same, closed rows written to `spill` (when given).
    pub fn with_spill(interval_s: f64, spill: Option<Arc<SpillStore>>) -> Self {
        RowSink { spill, ..Self::new(interval_s) }
    }

    pub fn push(&mut self, row: IntervalRow) {
        if self.rows.last().is_some_and(|l| l.stage != row.stage) {
            self.seal();
        }
        self.rows.push(row);
        let n = self.rows.len();
        if n >= 3 {
            self.rows[n - 3].compact();
        }
        // The rows before the newest two are final (sealing touches only those two).
        if n >= BLOCK_ROWS + 2 {
            if let Some(store) = &self.spill {
                let closed: Vec<IntervalRow> = self.rows.drain(..n - 2).collect();
                if let Err(e) = self.done.push_spilled(store, closed) {
                    warn_once(&format!("cannot write perf-log rows to a temporary file ({e}); they stay in memory"));
                    self.spill = None;
                }
            }
        }
    }

    /// The stage part at the end is complete: fold its short tail, compact what is left.
    fn seal(&mut self) {
        let n = self.rows.len();
        if n >= 2 {
            let (a, b) = (&self.rows[n - 2], &self.rows[n - 1]);
            if a.stage == b.stage && b.duration_s < self.fold_below_s && a.summary.is_none() && b.summary.is_none() {
                let last = self.rows.pop().expect("two rows");
                absorb_row(self.rows.last_mut().expect("one row"), &last);
            }
        }
        let n = self.rows.len();
        for r in self.rows.iter_mut().skip(n.saturating_sub(2)) {
            r.compact();
        }
    }

    /// Every row, the last part sealed.
    pub fn finish(mut self) -> Rows {
        self.take()
    }

    /// Seal the current part and hand out the rows collected so far (the sink stays usable).
    pub fn take(&mut self) -> Rows {
        self.seal();
        let mut out = std::mem::take(&mut self.done);
        out.push_mem(std::mem::take(&mut self.rows));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exec::StageTag;
    use crate::core::metrics::Snapshot;
    use crate::core::OpKind;

    fn row(stage: &StageTag, index: u64, secs: f64, lats: &[u64]) -> IntervalRow {
        let mut snap = Snapshot::default();
        for &l in lats {
            snap.record_ok(OpKind::Put, None, 100, l, None, None);
        }
        IntervalRow {
            index,
            stage: stage.clone(),
            timestamp_epoch_ms: 1000 * (index + 1),
            elapsed_s: index as f64 + secs,
            duration_s: secs,
            snap,
            cpu: CpuSample::default(),
            missing_agents: vec![],
            summary: None,
        }
    }

    #[test]
    fn a_short_tail_is_folded_into_the_row_before_with_exact_percentiles() {
        let w = StageTag::new(1, "mix");
        let mut sink = RowSink::new(1.0);
        sink.push(row(&w, 0, 1.0, &[10, 20]));
        sink.push(row(&w, 1, 1.0, &[30, 40]));
        sink.push(row(&w, 2, 0.024, &[5_000; 5]));
        let rows = sink.finish().to_vec().unwrap();
        assert_eq!(rows.len(), 2, "the 24 ms remainder has no row of its own");
        assert_eq!(rows.iter().map(|r| r.total_ops()).sum::<u64>(), 9, "sums still equal the totals");
        let s = rows[1].summary();
        assert_eq!(s.classes[1].ops, 7);
        assert!(s.classes[1].p99_us >= 4_990, "the folded samples are in the percentiles: {}", s.classes[1].p99_us);
        assert!((rows[1].duration_s - 1.024).abs() < 1e-9);
        assert!(rows.iter().all(|r| r.summary.is_some()), "everything is compacted once finished");
    }

    #[test]
    fn tails_fold_per_stage_part_never_across_and_long_tails_stay() {
        let w = StageTag::new(0, "read");
        let warm = w.warmup();
        let mut sink = RowSink::new(1.0);
        sink.push(row(&warm, 0, 1.0, &[1]));
        sink.push(row(&warm, 1, 0.1, &[2]));
        sink.push(row(&w, 2, 0.2, &[3]));
        sink.push(row(&w, 3, 1.0, &[4]));
        sink.push(row(&w, 4, 0.6, &[5]));
        let rows = sink.finish().to_vec().unwrap();
        let labels: Vec<String> = rows.iter().map(|r| r.stage.label()).collect();
        assert_eq!(labels, ["read:warmup", "read", "read", "read"], "the warmup tail folds into the warmup only");
        assert_eq!(rows[0].total_ops(), 2);
        assert_eq!(rows[3].total_ops(), 1, "a 0.6 s tail is a real interval and stays");
        assert_eq!(rows[1].total_ops(), 1, "a short first row is never folded backwards");
    }

    #[test]
    fn memory_stays_flat_only_two_rows_keep_histograms() {
        let w = StageTag::new(0, "w");
        let mut sink = RowSink::new(1.0);
        for i in 0..50 {
            sink.push(row(&w, i, 1.0, &[i + 1]));
        }
        let full = sink.rows.iter().filter(|r| r.summary.is_none()).count();
        assert_eq!(full, 2);
    }

    #[test]
    fn with_a_store_closed_rows_leave_memory_and_come_back_in_order() {
        let (w, x) = (StageTag::new(0, "w"), StageTag::new(1, "x"));
        let store = SpillStore::create().unwrap();
        let mut sink = RowSink::with_spill(1.0, Some(store.clone()));
        let mut plain = RowSink::new(1.0);
        for i in 0..300 {
            let r = row(if i < 150 { &w } else { &x }, i, 1.0, &[i + 1, 7]);
            sink.push(r.clone());
            plain.push(r);
            assert!(sink.rows.len() < BLOCK_ROWS + 2, "at most a block's worth in memory");
        }
        sink.push(row(&x, 300, 0.1, &[5_000]));
        plain.push(row(&x, 300, 0.1, &[5_000]));
        assert!(!store.is_empty());
        let (a, b) = (sink.finish(), plain.finish());
        assert!(a.spilled() >= 256, "{} rows spilled", a.spilled());
        let (a, b) = (a.to_vec().unwrap(), b.to_vec().unwrap());
        assert_eq!(a.len(), 300, "the short tail is folded as without a store");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.index, &x.stage, x.summary), (y.index, &y.stage, y.summary));
        }
    }
}
