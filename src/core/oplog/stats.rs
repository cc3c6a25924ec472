//! `sai3 oplog stats`: counts, bytes, errors and latency percentiles per operation kind, and the
//! slowest operations with their objects and endpoints, from an op-log file.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;

use super::record::{Line, Reader};
use crate::core::metrics::{new_histogram, record_us};

/// Figures of one operation kind.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub op: String,
    /// Successful operations.
    pub count: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Latency (µs) of the successful ones: from `intended_start` when the run was open-loop,
    /// else from `start` — as results.tsv counts it.
    pub hist: Histogram<u64>,
    /// From the start to the first byte (µs), for GETs that have one.
    pub ttfb: Histogram<u64>,
}

/// Everything `oplog stats` prints.
#[derive(Debug, Clone)]
pub struct Stats {
    pub ops: BTreeMap<String, OpStats>,
    /// The slowest successful or failed operations, slowest first.
    pub slowest: Vec<Line>,
    pub first_start: Option<i64>,
    pub last_end: Option<i64>,
    pub lines: u64,
}

/// Latency of a line in µs (see [`OpStats::hist`]).
pub fn latency_us(l: &Line) -> u64 {
    let from = l.intended_start.unwrap_or(l.start);
    ((l.end - from).max(0) / 1000) as u64
}

/// Read `path` and keep the `top` slowest operations.
pub fn stats(path: &Path, top: usize) -> Result<Stats, String> {
    let mut s = Stats { ops: BTreeMap::new(), slowest: Vec::new(), first_start: None, last_end: None, lines: 0 };
    // A min-heap of the slowest so far, by latency.
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u64)>> = Default::default();
    let mut kept: BTreeMap<u64, Line> = BTreeMap::new();
    for line in Reader::open(path)? {
        let l = line?;
        s.lines += 1;
        s.first_start = Some(s.first_start.map_or(l.start, |t| t.min(l.start)));
        s.last_end = Some(s.last_end.map_or(l.end, |t| t.max(l.end)));
        let e = s.ops.entry(l.op.clone()).or_insert_with(|| OpStats {
            op: l.op.clone(),
            count: 0,
            errors: 0,
            bytes: 0,
            hist: new_histogram(),
            ttfb: new_histogram(),
        });
        let lat = latency_us(&l);
        if l.error.is_empty() {
            e.count += 1;
            e.bytes += l.bytes;
            record_us(&mut e.hist, lat);
            if let Some(fb) = l.first_byte {
                let from = l.intended_start.unwrap_or(l.start);
                record_us(&mut e.ttfb, ((fb - from).max(0) / 1000) as u64);
            }
        } else {
            e.errors += 1;
        }
        if top > 0 {
            let id = s.lines;
            if heap.len() < top {
                heap.push(std::cmp::Reverse((lat, id)));
                kept.insert(id, l);
            } else if heap.peek().is_some_and(|r| r.0 .0 < lat) {
                if let Some(std::cmp::Reverse((_, old))) = heap.pop() {
                    kept.remove(&old);
                }
                heap.push(std::cmp::Reverse((lat, id)));
                kept.insert(id, l);
            }
        }
    }
    let mut slowest: Vec<Line> = kept.into_values().collect();
    slowest.sort_by_key(|l| std::cmp::Reverse(latency_us(l)));
    s.slowest = slowest;
    Ok(s)
}

/// The report `sai3 oplog stats` prints.
pub fn render(s: &Stats, path: &Path) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let span = match (s.first_start, s.last_end) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e9,
        _ => 0.0,
    };
    let _ = writeln!(out, "{}: {} operations over {:.3} s", path.display(), s.lines, span);
    let _ = writeln!(
        out,
        "{:<8} {:>10} {:>8} {:>14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "op", "count", "errors", "bytes", "ops/s", "p50_us", "p90_us", "p99_us", "max_us", "ttfb_p50_us"
    );
    for o in s.ops.values() {
        let rate = if span > 0.0 { o.count as f64 / span } else { 0.0 };
        let ttfb = if o.ttfb.is_empty() { "-".to_string() } else { o.ttfb.value_at_quantile(0.5).to_string() };
        let _ = writeln!(
            out,
            "{:<8} {:>10} {:>8} {:>14} {:>10.1} {:>10} {:>10} {:>10} {:>10} {:>12}",
            o.op,
            o.count,
            o.errors,
            o.bytes,
            rate,
            o.hist.value_at_quantile(0.5),
            o.hist.value_at_quantile(0.9),
            o.hist.value_at_quantile(0.99),
            o.hist.max(),
            ttfb
        );
    }
    if !s.slowest.is_empty() {
        let _ = writeln!(out, "\nslowest {}:", s.slowest.len());
        let _ =
            writeln!(out, "{:>12}  {:<6} {:<10} {:<12} {:<30} object", "latency_us", "op", "stage", "agent", "start");
        for l in &s.slowest {
            let err = if l.error.is_empty() { String::new() } else { format!("  error: {}", l.error) };
            let _ = writeln!(
                out,
                "{:>12}  {:<6} {:<10} {:<12} {:<30} {}{}{}",
                latency_us(l),
                l.op,
                l.stage,
                l.agent,
                super::record::format_time(l.start),
                l.endpoint,
                l.file,
                err
            );
        }
    }
    out
}
