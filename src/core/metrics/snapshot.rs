//! [`Snapshot`]: counts, bytes, errors and latency histograms, mergeable without loss.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::buckets::{size_bucket, SIZE_BUCKET_COUNT};
use crate::core::{OpClass, OpKind};

/// Highest latency a histogram holds: one hour, in µs. Larger values are clamped to it.
pub const HIST_MAX_US: u64 = 3_600_000_000;

/// A latency histogram in µs, 3 significant digits, values 1 µs .. 1 h (callers clamp to
/// [`HIST_MAX_US`]). It starts covering 1 µs .. ~2 ms (a 16 KiB counts array) and grows as larger
/// values arrive, so an interval of short requests does not allocate, zero, send, merge and
/// free the ~190 KiB a histogram sized for one hour needs. Growing does not change which values
/// share a bucket: merged percentiles are the same as with the full-range histogram.
pub fn new_histogram() -> Histogram<u64> {
    // Invariant: 3 significant digits is a valid precision; the histogram auto-resizes.
    Histogram::new(3).expect("valid precision")
}

/// An empty, auto-resizing histogram with the smallest possible counts array.
fn tiny_histogram() -> Histogram<u64> {
    // Invariant: 1 significant digit is a valid precision.
    Histogram::new(1).expect("valid precision")
}

#[inline]
fn clamp_us(us: u64) -> u64 {
    us.clamp(1, HIST_MAX_US)
}

/// Record `us` (clamped to 1 µs .. [`HIST_MAX_US`]) into `h`, growing it when needed.
/// (`saturating_record` would clamp to the histogram's current, small range instead.)
#[inline]
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    record_n_us(h, us, 1)
}

/// [`record_us`] of `n` samples of the same value.
#[inline]
pub fn record_n_us(h: &mut Histogram<u64>, us: u64, n: u64) {
    let v = clamp_us(us);
    if h.record_n(v, n).is_err() {
        // Only when the histogram cannot grow (a fixed-range one): keep the samples, clamped.
        h.saturating_record_n(v, n);
    }
}

/// Successful requests of one op kind and size bucket.
#[derive(Clone, Debug)]
pub struct Cell {
    pub count: u64,
    pub bytes: u64,
    /// Latency in µs, from the intended start (open loop) or the actual start (closed loop).
    pub hist: Histogram<u64>,
    /// Service time in µs from the actual start; present only in open-loop runs.
    pub service: Option<Histogram<u64>>,
    /// Time to first byte in µs, from the intended start (like `hist`) to the first bytes of
    /// the body (the end of the request when it had none); present only for workload GETs.
    pub ttfb: Option<Histogram<u64>>,
}

impl Cell {
    pub fn new() -> Self {
        Cell { count: 0, bytes: 0, hist: new_histogram(), service: None, ttfb: None }
    }

    pub fn merge(&mut self, other: &Cell) {
        self.count += other.count;
        self.bytes += other.bytes;
        // Same bounds on both sides: add cannot fail.
        let _ = self.hist.add(&other.hist);
        if let Some(s) = &other.service {
            let _ = self.service.get_or_insert_with(new_histogram).add(s);
        }
        if let Some(t) = &other.ttfb {
            let _ = self.ttfb.get_or_insert_with(new_histogram).add(t);
        }
    }

    /// Service-time histogram: the separate one in open loop, else the latency histogram.
    pub fn service_hist(&self) -> &Histogram<u64> {
        self.service.as_ref().unwrap_or(&self.hist)
    }
}

impl Default for Cell {
    fn default() -> Self {
        Self::new()
    }
}

/// Requests sent to one endpoint.
#[derive(Clone, Debug)]
pub struct EndpointCell {
    /// Requests sent, successful or not.
    pub requests: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub errors: u64,
    /// Attempts beyond the first of its requests (successful or not); not in `requests`.
    pub retries: u64,
    /// Latency in µs of the successful requests.
    pub hist: Histogram<u64>,
}

impl EndpointCell {
    pub fn new() -> Self {
        EndpointCell { requests: 0, bytes_read: 0, bytes_written: 0, errors: 0, retries: 0, hist: new_histogram() }
    }

    pub fn merge(&mut self, o: &EndpointCell) {
        self.requests += o.requests;
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.errors += o.errors;
        self.retries += o.retries;
        let _ = self.hist.add(&o.hist);
    }
}

impl Default for EndpointCell {
    fn default() -> Self {
        Self::new()
    }
}

/// Retries of one op kind: attempts beyond the first, of successful and failed requests alike,
/// and the requests that succeeded only after a retry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryCount {
    /// Attempts beyond the first (a request that took 3 attempts counts 2).
    pub retries: u64,
    /// Successful requests that needed more than one attempt.
    pub retried_ok: u64,
}

impl RetryCount {
    pub fn add(&mut self, o: RetryCount) {
        self.retries += o.retries;
        self.retried_ok += o.retried_ok;
    }
}

/// Everything measured over some span (an interval, a phase, a whole run) by one or more workers.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Successful requests by (op kind, size bucket index). Cells exist only where used.
    pub cells: BTreeMap<(OpKind, usize), Cell>,
    /// Failed requests by (op kind, error kind name).
    pub errors: BTreeMap<(OpKind, String), u64>,
    /// Per-endpoint figures, indexed by the run's endpoint index.
    pub endpoints: Vec<EndpointCell>,
    /// Open-loop operations that started later than intended.
    pub late_starts: u64,
    /// Retries by op kind (only kinds that retried), of successful and failed requests alike.
    pub retries: BTreeMap<OpKind, RetryCount>,
}

impl Snapshot {
    pub fn record_ok(
        &mut self,
        op: OpKind,
        endpoint: Option<usize>,
        bytes: u64,
        latency_us: u64,
        service_us: Option<u64>,
        ttfb_us: Option<u64>,
    ) {
        let cell = self.cells.entry((op, size_bucket(bytes))).or_default();
        cell.count += 1;
        cell.bytes += bytes;
        record_us(&mut cell.hist, latency_us);
        if let Some(s) = service_us {
            record_us(cell.service.get_or_insert_with(new_histogram), s);
        }
        if let Some(t) = ttfb_us {
            record_us(cell.ttfb.get_or_insert_with(new_histogram), t);
        }
        if let Some(e) = endpoint {
            let ep = self.endpoint_mut(e);
            ep.requests += 1;
            match op {
                OpKind::Get => ep.bytes_read += bytes,
                OpKind::Put => ep.bytes_written += bytes,
                _ => {}
            }
            record_us(&mut ep.hist, latency_us);
        }
    }

    pub fn record_err(&mut self, op: OpKind, endpoint: Option<usize>, kind: &str) {
        match self.errors.get_mut(&(op, kind.to_string())) {
            Some(n) => *n += 1,
            None => {
                self.errors.insert((op, kind.to_string()), 1);
            }
        }
        if let Some(e) = endpoint {
            let ep = self.endpoint_mut(e);
            ep.requests += 1;
            ep.errors += 1;
        }
    }

    /// Count a request's attempts beyond the first (`retries` > 0), whether it succeeded (`ok`)
    /// or failed after all of them. The request itself is recorded by `record_ok`/`record_err`.
    pub fn record_retries(&mut self, op: OpKind, endpoint: Option<usize>, retries: u32, ok: bool) {
        if retries == 0 {
            return;
        }
        self.retries.entry(op).or_default().add(RetryCount { retries: retries as u64, retried_ok: ok as u64 });
        if let Some(e) = endpoint {
            self.endpoint_mut(e).retries += retries as u64;
        }
    }

    /// Retries of the op kinds matching `pred`, summed.
    pub fn retries_where(&self, pred: impl Fn(OpKind) -> bool) -> RetryCount {
        let mut out = RetryCount::default();
        for (op, r) in &self.retries {
            if pred(*op) {
                out.add(*r);
            }
        }
        out
    }

    /// Retries of every op kind.
    pub fn total_retries(&self) -> RetryCount {
        self.retries_where(|_| true)
    }

    fn endpoint_mut(&mut self, idx: usize) -> &mut EndpointCell {
        if self.endpoints.len() <= idx {
            self.endpoints.resize_with(idx + 1, EndpointCell::new);
        }
        &mut self.endpoints[idx]
    }

    /// Add `other` into `self`, exactly.
    pub fn merge(&mut self, other: &Snapshot) {
        for (k, c) in &other.cells {
            self.cells.entry(*k).or_default().merge(c);
        }
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
        for (i, e) in other.endpoints.iter().enumerate() {
            self.endpoint_mut(i).merge(e);
        }
        self.late_starts += other.late_starts;
        for (op, r) in &other.retries {
            self.retries.entry(*op).or_default().add(*r);
        }
    }

    /// Replace every histogram by an empty one that holds no memory; counts, bytes and errors
    /// stay. See `IntervalRow::compact`.
    pub fn drop_histograms(&mut self) {
        for c in self.cells.values_mut() {
            c.hist = tiny_histogram();
            c.service = None;
            c.ttfb = None;
        }
        for e in &mut self.endpoints {
            e.hist = tiny_histogram();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
            && self.errors.is_empty()
            && self.late_starts == 0
            && self.retries.is_empty()
            && self.endpoints.iter().all(|e| e.requests == 0)
    }

    /// All successful requests matching `pred`, merged into one cell (None when there are none).
    pub fn total_where(&self, pred: impl Fn(OpKind, usize) -> bool) -> Option<Cell> {
        let mut out: Option<Cell> = None;
        for ((op, b), c) in &self.cells {
            if pred(*op, *b) {
                out.get_or_insert_with(Cell::new).merge(c);
            }
        }
        out
    }

    pub fn op_total(&self, op: OpKind) -> Option<Cell> {
        self.total_where(|o, _| o == op)
    }

    pub fn class_total(&self, class: OpClass) -> Option<Cell> {
        self.total_where(|o, _| o.class() == class)
    }

    /// Failed requests of the given op kinds.
    pub fn errors_where(&self, pred: impl Fn(OpKind) -> bool) -> u64 {
        self.errors.iter().filter(|((op, _), _)| pred(*op)).map(|(_, n)| n).sum()
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful requests of every kind.
    pub fn total_ops(&self) -> u64 {
        self.cells.values().map(|c| c.count).sum()
    }

    /// Bytes moved by GET and PUT.
    pub fn total_bytes(&self) -> u64 {
        self.cells.values().map(|c| c.bytes).sum()
    }

    /// Cells of one size bucket index, for reporting rows.
    pub fn bucket_indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..SIZE_BUCKET_COUNT).filter(|b| self.cells.keys().any(|(_, kb)| kb == b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merged percentiles equal those of the union of all samples, value for value.
    #[test]
    fn merge_equals_union() {
        let mut a = Snapshot::default();
        let mut b = Snapshot::default();
        let mut union = new_histogram();
        let mut ttfb = new_histogram();
        for i in 1..=5000u64 {
            let lat = (i * 7919) % 100_000 + 1;
            if i % 3 == 0 { &mut a } else { &mut b }.record_ok(
                OpKind::Get,
                Some(i as usize % 2),
                65536,
                lat,
                None,
                Some(lat / 3 + 1),
            );
            ttfb.record(lat / 3 + 1).unwrap();
            union.record(lat).unwrap();
        }
        let mut m = a.clone();
        m.merge(&b);
        let cell = m.op_total(OpKind::Get).unwrap();
        assert_eq!(cell.count, 5000);
        assert_eq!(cell.bytes, 5000 * 65536);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(cell.hist.value_at_quantile(q), union.value_at_quantile(q));
            assert_eq!(cell.ttfb.as_ref().unwrap().value_at_quantile(q), ttfb.value_at_quantile(q));
        }
        assert_eq!(m.endpoints[0].requests + m.endpoints[1].requests, 5000);
    }

    /// A histogram that starts small and grows gives the same percentiles as one sized for the
    /// whole range from the start, and merging a grown one into a small one (or the reverse)
    /// loses no sample.
    #[test]
    fn growing_histograms_match_the_full_range_one() {
        let mut full = Histogram::<u64>::new_with_bounds(1, HIST_MAX_US, 3).unwrap();
        let (mut small, mut large) = (new_histogram(), new_histogram());
        for i in 1..=20_000u64 {
            let v = clamp_us((i * 7919 % 1000) * (1 << (i % 32)));
            full.record(v).unwrap();
            record_us(if i % 2 == 0 { &mut small } else { &mut large }, v);
        }
        small.reset();
        for i in (2..=20_000u64).step_by(2) {
            record_us(&mut small, (i * 7919 % 1000) * (1 << (i % 32)));
        }
        let mut a = new_histogram();
        let _ = a.add(&small);
        let _ = a.add(&large);
        let mut b = large.clone();
        let _ = b.add(&small);
        assert!(new_histogram().is_empty() && new_histogram().distinct_values() < 4096, "starts small");
        for h in [&a, &b] {
            assert_eq!(h.len(), 20_000);
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(h.value_at_quantile(q), full.value_at_quantile(q), "q{q}");
            }
            assert_eq!(h.max(), full.max());
        }
    }

    #[test]
    fn errors_by_kind_and_endpoint() {
        let mut s = Snapshot::default();
        s.record_err(OpKind::Put, Some(3), "timeout");
        s.record_err(OpKind::Put, Some(3), "timeout");
        s.record_err(OpKind::Stat, None, "not_found");
        assert_eq!(s.total_errors(), 3);
        assert_eq!(s.errors[&(OpKind::Put, "timeout".to_string())], 2);
        assert_eq!(s.endpoints[3].errors, 2);
        assert_eq!(s.endpoints[3].requests, 2);
        assert_eq!(s.errors_where(|o| o.class() == OpClass::Meta), 1);
    }

    /// Retries are counted per op kind and endpoint, for successful and failed requests, and
    /// merge by adding.
    #[test]
    fn retries_by_op_and_endpoint() {
        let mut a = Snapshot::default();
        a.record_ok(OpKind::Get, Some(1), 10, 5, None, None);
        a.record_retries(OpKind::Get, Some(1), 2, true);
        a.record_ok(OpKind::Get, Some(1), 10, 5, None, None);
        a.record_retries(OpKind::Get, Some(1), 0, true);
        let mut b = Snapshot::default();
        b.record_err(OpKind::Put, Some(0), "http_503");
        b.record_retries(OpKind::Put, Some(0), 3, false);
        a.merge(&b);
        assert_eq!(a.retries[&OpKind::Get], RetryCount { retries: 2, retried_ok: 1 });
        assert_eq!(a.retries[&OpKind::Put], RetryCount { retries: 3, retried_ok: 0 });
        assert_eq!(a.total_retries(), RetryCount { retries: 5, retried_ok: 1 });
        assert_eq!((a.endpoints[0].retries, a.endpoints[1].retries), (3, 2));
        assert_eq!(a.endpoints[1].requests, 2);
        assert!(!Snapshot { retries: a.retries.clone(), ..Default::default() }.is_empty());
    }
}
