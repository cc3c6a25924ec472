//! Engine types <-> wire messages. Histograms travel whole (every recorded bucket and its count,
//! lossless), so the controller merges exactly what the agents recorded; no percentile is ever
//! sent. On the wire a histogram is its recorded buckets as varint pairs (value − previous value,
//! count), values being each bucket's highest equivalent value in µs: an interval's few hundred
//! buckets, not the thousands of a whole histogram, and the controller adds them straight into its
//! running rows (see [`SparseSnapshot`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use prost::encoding::{decode_varint, encode_varint};

use super::pb;
use crate::core::exec::{CommandOutcome, CpuSample, IntervalRow, PhaseResult, StageOutcome, StageReport, StageTag};
use crate::core::metrics::{RetryCount, Snapshot, SparseCell, SparseEndpoint, SparseHist, SparseSnapshot, HIST_MAX_US};
use crate::core::OpKind;

/// A message from an agent that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("malformed message from agent: {0}")]
pub struct DecodeError(String);

fn hist_bytes(h: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    let mut prev = 0;
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        encode_varint(value - prev, &mut out);
        encode_varint(v.count_at_value(), &mut out);
        prev = value;
    }
    out
}

fn hist_from(b: &[u8]) -> Result<SparseHist, DecodeError> {
    let bad = |why: &str| DecodeError(format!("histogram: {why}"));
    let mut buf = b;
    let mut out = Vec::with_capacity(b.len() / 3);
    let mut prev = 0u64;
    while !buf.is_empty() {
        let delta = decode_varint(&mut buf).map_err(|_| bad("truncated value"))?;
        let count = decode_varint(&mut buf).map_err(|_| bad("truncated count"))?;
        if delta == 0 || count == 0 {
            return Err(bad("values not increasing, or an empty bucket"));
        }
        prev = prev.checked_add(delta).filter(|v| *v <= 2 * HIST_MAX_US).ok_or_else(|| bad("value out of range"))?;
        out.push((prev, count));
    }
    Ok(SparseHist(out))
}

fn opt_hist_from(b: &[u8]) -> Result<Option<SparseHist>, DecodeError> {
    if b.is_empty() {
        Ok(None)
    } else {
        hist_from(b).map(Some)
    }
}

fn op_from(i: u32) -> Result<OpKind, DecodeError> {
    OpKind::from_index(i as usize).ok_or_else(|| DecodeError(format!("unknown op {i}")))
}

pub fn snapshot_to_wire(s: &Snapshot) -> pb::WireSnapshot {
    pb::WireSnapshot {
        cells: s
            .cells
            .iter()
            .map(|((op, bucket), c)| pb::WireCell {
                op: op.index() as u32,
                bucket: *bucket as u32,
                count: c.count,
                bytes: c.bytes,
                hist: hist_bytes(&c.hist),
                service: c.service.as_ref().map(hist_bytes).unwrap_or_default(),
                ttfb: c.ttfb.as_ref().map(hist_bytes).unwrap_or_default(),
            })
            .collect(),
        errors: s
            .errors
            .iter()
            .map(|((op, kind), n)| pb::WireError { op: op.index() as u32, kind: kind.clone(), count: *n })
            .collect(),
        endpoints: s
            .endpoints
            .iter()
            .map(|e| pb::WireEndpoint {
                requests: e.requests,
                bytes_read: e.bytes_read,
                bytes_written: e.bytes_written,
                errors: e.errors,
                hist: hist_bytes(&e.hist),
                retries: e.retries,
            })
            .collect(),
        late_starts: s.late_starts,
        retries: s
            .retries
            .iter()
            .map(|(op, r)| pb::WireRetries { op: op.index() as u32, retries: r.retries, retried_ok: r.retried_ok })
            .collect(),
    }
}

/// Decode a snapshot; endpoint `i` of the agent becomes endpoint `map[i]` of the run's table.
pub fn sparse_from_wire(w: &pb::WireSnapshot, map: &[usize]) -> Result<SparseSnapshot, DecodeError> {
    let mut s = SparseSnapshot { late_starts: w.late_starts, ..Default::default() };
    for c in &w.cells {
        s.cells.push(SparseCell {
            op: op_from(c.op)?,
            bucket: c.bucket as usize,
            count: c.count,
            bytes: c.bytes,
            hist: hist_from(&c.hist)?,
            service: opt_hist_from(&c.service)?,
            ttfb: opt_hist_from(&c.ttfb)?,
        });
    }
    for e in &w.errors {
        s.errors.push((op_from(e.op)?, e.kind.clone(), e.count));
    }
    for (i, e) in w.endpoints.iter().enumerate() {
        let idx = map
            .get(i)
            .copied()
            .ok_or_else(|| DecodeError(format!("endpoint {i} is not in the agent's endpoint list")))?;
        if e.requests == 0 && e.retries == 0 && e.errors == 0 && e.hist.is_empty() {
            continue;
        }
        s.endpoints.push(SparseEndpoint {
            idx,
            requests: e.requests,
            bytes_read: e.bytes_read,
            bytes_written: e.bytes_written,
            errors: e.errors,
            retries: e.retries,
            hist: hist_from(&e.hist)?,
        });
    }
    for r in &w.retries {
        s.retries.push((op_from(r.op)?, RetryCount { retries: r.retries, retried_ok: r.retried_ok }));
    }
    Ok(s)
}

/// [`sparse_from_wire`], as a snapshot of its own.
pub fn snapshot_from_wire(w: &pb::WireSnapshot, map: &[usize]) -> Result<Snapshot, DecodeError> {
    Ok(sparse_from_wire(w, map)?.to_snapshot())
}

pub fn stage_to_wire(s: &StageTag) -> pb::StageRef {
    pb::StageRef { index: s.index, name: s.name.to_string(), warmup: s.warmup }
}

pub fn stage_from_wire(w: Option<&pb::StageRef>) -> Result<StageTag, DecodeError> {
    let w = w.ok_or_else(|| DecodeError("a phase or interval without its stage".into()))?;
    let mut t = StageTag::new(w.index as usize, &w.name);
    t.warmup = w.warmup;
    Ok(t)
}

fn unix_ns(t: Option<SystemTime>) -> i64 {
    t.map(super::agent_service::unix_ns).unwrap_or(0)
}

fn from_unix_ns(ns: i64, offset_ns: i64) -> Option<SystemTime> {
    (ns > 0).then(|| UNIX_EPOCH + Duration::from_nanos((ns - offset_ns).max(0) as u64))
}

/// What a stage did on the agent, without its totals (they travel in PhaseEnd).
pub fn stage_end_to_wire(r: &StageReport) -> pb::StageEnd {
    let code = r.command.as_ref().and_then(|c| c.exit_code);
    pb::StageEnd {
        index: r.index as u32,
        name: r.name.clone(),
        outcome: r.outcome.name().to_string(),
        message: r.outcome.message().unwrap_or_default().to_string(),
        started_unix_ns: unix_ns(r.started_at),
        ended_unix_ns: unix_ns(r.ended_at),
        existing: r.existing,
        created: r.created,
        has_exit_code: code.is_some(),
        exit_code: code.unwrap_or(0),
        output_tail: r.command.as_ref().map(|c| c.tail.clone()).unwrap_or_default(),
        has_command: r.command.is_some(),
    }
}

/// Fill `r` (the controller's record of that stage on that agent) from the agent's StageEnd;
/// times move to the controller's clock by the agent's offset.
pub fn stage_end_from_wire(w: &pb::StageEnd, offset_ns: i64, r: &mut StageReport) -> Result<(), DecodeError> {
    if w.name != r.name {
        return Err(DecodeError(format!(
            "stage {} is `{}` here but `{}` on the agent — do both run the same config?",
            w.index, r.name, w.name
        )));
    }
    r.outcome = match w.outcome.as_str() {
        "completed" => StageOutcome::Completed,
        "failed" => StageOutcome::Failed(w.message.clone()),
        "skipped" => StageOutcome::Skipped(w.message.clone()),
        other => return Err(DecodeError(format!("unknown stage outcome `{other}`"))),
    };
    r.started_at = from_unix_ns(w.started_unix_ns, offset_ns);
    r.ended_at = from_unix_ns(w.ended_unix_ns, offset_ns);
    r.existing = w.existing;
    r.created = w.created;
    if w.has_command {
        r.command =
            Some(CommandOutcome { exit_code: w.has_exit_code.then_some(w.exit_code), tail: w.output_tail.clone() });
    }
    Ok(())
}

pub fn interval_to_wire(r: &IntervalRow) -> pb::Interval {
    pb::Interval {
        stage: Some(stage_to_wire(&r.stage)),
        index: r.index,
        timestamp_epoch_ms: r.timestamp_epoch_ms,
        elapsed_s: r.elapsed_s,
        duration_s: r.duration_s,
        snap: Some(snapshot_to_wire(&r.snap)),
        cpu_user_pct: r.cpu.user_pct,
        cpu_system_pct: r.cpu.system_pct,
        cpu_iowait_pct: r.cpu.iowait_pct,
    }
}

/// An interval's row without its figures (an empty snapshot), and the figures apart: the
/// controller adds them where they are needed without building a snapshot for them.
pub fn interval_from_wire(w: &pb::Interval, map: &[usize]) -> Result<(IntervalRow, SparseSnapshot), DecodeError> {
    let row = IntervalRow {
        index: w.index,
        stage: stage_from_wire(w.stage.as_ref())?,
        timestamp_epoch_ms: w.timestamp_epoch_ms,
        elapsed_s: w.elapsed_s,
        duration_s: w.duration_s,
        snap: Snapshot::default(),
        cpu: CpuSample { user_pct: w.cpu_user_pct, system_pct: w.cpu_system_pct, iowait_pct: w.cpu_iowait_pct },
        missing_agents: Vec::new(),
        summary: None,
    };
    let snap = w.snap.as_ref().map(|s| sparse_from_wire(s, map)).transpose()?.unwrap_or_default();
    Ok((row, snap))
}

pub fn phase_to_wire(p: &PhaseResult) -> pb::PhaseEnd {
    pb::PhaseEnd {
        stage: Some(stage_to_wire(&p.stage)),
        wall_ns: p.wall.as_nanos() as u64,
        totals: Some(snapshot_to_wire(&p.totals)),
        in_flight_at_end: p.in_flight_at_end.clone(),
    }
}

/// Decode a phase's totals; in-flight counts are moved to the run's endpoint indices too.
pub fn phase_from_wire(w: &pb::PhaseEnd, map: &[usize], table_len: usize) -> Result<PhaseResult, DecodeError> {
    let mut in_flight = vec![0u64; if w.in_flight_at_end.is_empty() { 0 } else { table_len }];
    for (i, n) in w.in_flight_at_end.iter().enumerate() {
        if let Some(&g) = map.get(i) {
            if g < in_flight.len() {
                in_flight[g] += n;
            }
        }
    }
    Ok(PhaseResult {
        stage: stage_from_wire(w.stage.as_ref())?,
        wall: Duration::from_nanos(w.wall_ns),
        totals: w.totals.as_ref().map(|s| snapshot_from_wire(s, map)).transpose()?.unwrap_or_default(),
        in_flight_at_end: in_flight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seed: u64, n: u64) -> Snapshot {
        let mut s = Snapshot::default();
        for i in 0..n {
            let lat = 1 + (i * 7919 + seed * 104729) % 50_000;
            let op = OpKind::from_index((i % 5) as usize).unwrap();
            s.record_ok(
                op,
                Some((i % 2) as usize),
                (i * 37) % 100_000,
                lat,
                if i % 3 == 0 { Some(lat / 2 + 1) } else { None },
                (op == OpKind::Get).then_some(lat / 4 + 1),
            );
            if i % 11 == 0 {
                s.record_err(op, Some(1), "timeout");
                s.record_retries(op, Some(1), 2, false);
            }
            if i % 13 == 0 {
                s.record_retries(op, Some((i % 2) as usize), 1, true);
            }
        }
        s.late_starts = seed;
        s
    }

    #[test]
    fn snapshots_round_trip_and_merge_to_identical_percentiles() {
        let a = sample(1, 5000);
        let b = sample(2, 3000);
        let ident = [0usize, 1];
        let a2 = snapshot_from_wire(&snapshot_to_wire(&a), &ident).unwrap();
        let b2 = snapshot_from_wire(&snapshot_to_wire(&b), &ident).unwrap();
        let mut direct = a.clone();
        direct.merge(&b);
        let mut via_wire = a2;
        via_wire.merge(&b2);
        assert_eq!(direct.total_ops(), via_wire.total_ops());
        assert_eq!(direct.total_bytes(), via_wire.total_bytes());
        assert_eq!(direct.errors, via_wire.errors);
        assert_eq!(direct.late_starts, via_wire.late_starts);
        assert_eq!(direct.retries, via_wire.retries);
        assert!(direct.total_retries().retried_ok > 0);
        for (d, w) in direct.endpoints.iter().zip(&via_wire.endpoints) {
            assert_eq!(d.retries, w.retries);
        }
        for (k, c) in &direct.cells {
            let w = &via_wire.cells[k];
            assert_eq!(c.count, w.count);
            for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(c.hist.value_at_quantile(q), w.hist.value_at_quantile(q), "{k:?} q{q}");
            }
            assert_eq!(c.service.as_ref().map(|h| h.len()), w.service.as_ref().map(|h| h.len()));
            assert_eq!(c.ttfb.is_some(), k.0 == OpKind::Get, "{k:?}: a ttfb histogram exactly for GET");
            assert_eq!(c.ttfb.is_some(), w.ttfb.is_some(), "{k:?}");
            if let (Some(a), Some(b)) = (&c.ttfb, &w.ttfb) {
                assert_eq!(a.len(), b.len(), "{k:?}");
                for q in [0.5, 0.99, 1.0] {
                    assert_eq!(a.value_at_quantile(q), b.value_at_quantile(q), "{k:?} ttfb q{q}");
                }
            }
        }
        for (e, w) in direct.endpoints.iter().zip(&via_wire.endpoints) {
            assert_eq!(
                (e.requests, e.bytes_read, e.bytes_written, e.errors),
                (w.requests, w.bytes_read, w.bytes_written, w.errors)
            );
            assert_eq!(e.hist.value_at_quantile(0.99), w.hist.value_at_quantile(0.99));
        }
    }

    /// A decoded histogram still grows: a later interval with longer requests merged into it
    /// keeps every sample.
    #[test]
    fn decoded_histograms_take_larger_ones() {
        let mut short = Snapshot::default();
        short.record_ok(OpKind::Get, Some(0), 1, 50, None, None);
        let mut long = Snapshot::default();
        long.record_ok(OpKind::Get, Some(0), 1, 3_000_000_000, None, None);
        let mut d = snapshot_from_wire(&snapshot_to_wire(&short), &[0]).unwrap();
        d.merge(&long);
        let c = d.op_total(OpKind::Get).unwrap();
        assert_eq!(c.hist.len(), 2);
        assert!(c.hist.max() >= 2_990_000_000);
        assert_eq!(d.endpoints[0].hist.len(), 2);
    }

    #[test]
    fn endpoints_are_moved_to_the_run_table() {
        let a = sample(3, 100);
        let moved = snapshot_from_wire(&snapshot_to_wire(&a), &[2, 3]).unwrap();
        assert_eq!(moved.endpoints.len(), 4);
        assert_eq!(moved.endpoints[0].requests + moved.endpoints[1].requests, 0);
        assert_eq!(moved.endpoints[2].requests, a.endpoints[0].requests);
        assert_eq!(moved.endpoints[3].errors, a.endpoints[1].errors);
        assert!(snapshot_from_wire(&snapshot_to_wire(&a), &[0]).is_err(), "an endpoint outside the map is refused");
    }

    #[test]
    fn garbage_histogram_is_an_error_not_a_panic() {
        let mut w = snapshot_to_wire(&sample(4, 10));
        w.cells[0].hist = vec![1, 2, 3];
        assert!(snapshot_from_wire(&w, &[0, 1]).is_err());
        let mut w = snapshot_to_wire(&sample(4, 10));
        let get = w.cells.iter_mut().find(|c| !c.ttfb.is_empty()).expect("a GET cell with ttfb");
        get.ttfb = vec![1, 2, 3];
        assert!(snapshot_from_wire(&w, &[0, 1]).is_err());
    }
}
