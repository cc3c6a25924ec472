//! [`SparseSnapshot`]: a [`Snapshot`] whose histograms are lists of (value, count) pairs, one per
//! recorded bucket. This is what agents send: an interval of a few hundred requests fills a few
//! hundred buckets of the thousands a histogram has, so the controller adds it into its running
//! rows in time proportional to what was recorded — it never allocates, zeroes and walks a
//! whole histogram per message. Converting is exact: each pair's value is its bucket's highest
//! equivalent value, which falls back into the same bucket.

use hdrhistogram::Histogram;

use super::snapshot::{new_histogram, record_n_us};
use super::{EndpointCell, RetryCount, Snapshot};
use crate::core::OpKind;

/// A histogram's recorded buckets: (highest equivalent value in µs, count), values increasing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseHist(pub Vec<(u64, u64)>);

impl SparseHist {
    pub fn of(h: &Histogram<u64>) -> Self {
        SparseHist(h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect())
    }

    /// Add every sample into `h` (which grows as needed).
    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for &(v, n) in &self.0 {
            record_n_us(h, v, n);
        }
    }

    pub fn to_histogram(&self) -> Histogram<u64> {
        let mut h = new_histogram();
        self.add_to(&mut h);
        h
    }
}

/// Successful requests of one op kind and size bucket; see [`super::Cell`].
#[derive(Clone, Debug, PartialEq)]
pub struct SparseCell {
    pub op: OpKind,
    pub bucket: usize,
    pub count: u64,
    pub bytes: u64,
    pub hist: SparseHist,
    pub service: Option<SparseHist>,
    pub ttfb: Option<SparseHist>,
}

/// Requests sent to the endpoint of index `idx` in the run's table; see [`EndpointCell`].
#[derive(Clone, Debug, PartialEq)]
pub struct SparseEndpoint {
    pub idx: usize,
    pub requests: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub errors: u64,
    pub retries: u64,
    pub hist: SparseHist,
}

/// A [`Snapshot`] with sparse histograms (only used endpoints are listed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseSnapshot {
    pub cells: Vec<SparseCell>,
    pub errors: Vec<(OpKind, String, u64)>,
    pub endpoints: Vec<SparseEndpoint>,
    pub late_starts: u64,
    pub retries: Vec<(OpKind, RetryCount)>,
}

impl SparseSnapshot {
    pub fn of(s: &Snapshot) -> Self {
        SparseSnapshot {
            cells: s
                .cells
                .iter()
                .map(|(&(op, bucket), c)| SparseCell {
                    op,
                    bucket,
                    count: c.count,
                    bytes: c.bytes,
                    hist: SparseHist::of(&c.hist),
                    service: c.service.as_ref().map(SparseHist::of),
                    ttfb: c.ttfb.as_ref().map(SparseHist::of),
                })
                .collect(),
            errors: s.errors.iter().map(|((op, k), n)| (*op, k.clone(), *n)).collect(),
            endpoints: s
                .endpoints
                .iter()
                .enumerate()
                .filter(|(_, e)| e.requests > 0 || e.retries > 0)
                .map(|(idx, e)| SparseEndpoint {
                    idx,
                    requests: e.requests,
                    bytes_read: e.bytes_read,
                    bytes_written: e.bytes_written,
                    errors: e.errors,
                    retries: e.retries,
                    hist: SparseHist::of(&e.hist),
                })
                .collect(),
            late_starts: s.late_starts,
            retries: s.retries.iter().map(|(op, r)| (*op, *r)).collect(),
        }
    }

    pub fn to_snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        s.merge_sparse(self);
        s
    }
}

impl Snapshot {
    /// Add `other` into `self`, exactly (like [`Snapshot::merge`]).
    pub fn merge_sparse(&mut self, other: &SparseSnapshot) {
        for c in &other.cells {
            let cell = self.cells.entry((c.op, c.bucket)).or_default();
            cell.count += c.count;
            cell.bytes += c.bytes;
            c.hist.add_to(&mut cell.hist);
            if let Some(s) = &c.service {
                s.add_to(cell.service.get_or_insert_with(new_histogram));
            }
            if let Some(t) = &c.ttfb {
                t.add_to(cell.ttfb.get_or_insert_with(new_histogram));
            }
        }
        for (op, kind, n) in &other.errors {
            match self.errors.get_mut(&(*op, kind.clone())) {
                Some(m) => *m += n,
                None => {
                    self.errors.insert((*op, kind.clone()), *n);
                }
            }
        }
        for e in &other.endpoints {
            if self.endpoints.len() <= e.idx {
                self.endpoints.resize_with(e.idx + 1, EndpointCell::new);
            }
            let d = &mut self.endpoints[e.idx];
            d.requests += e.requests;
            d.bytes_read += e.bytes_read;
            d.bytes_written += e.bytes_written;
            d.errors += e.errors;
            d.retries += e.retries;
            e.hist.add_to(&mut d.hist);
        }
        self.late_starts += other.late_starts;
        for (op, r) in &other.retries {
            self.retries.entry(*op).or_default().add(*r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seed: u64) -> Snapshot {
        let mut s = Snapshot::default();
        for i in 0..4000u64 {
            let lat = 1 + (i * 7919 + seed * 104_729) % 5_000_000;
            let op = OpKind::from_index((i % 3) as usize).unwrap();
            let ttfb = (op == OpKind::Get).then_some(lat / 3 + 1);
            s.record_ok(op, Some((i % 3) as usize), i % 70_000, lat, (i % 2 == 0).then_some(lat), ttfb);
            if i % 17 == 0 {
                s.record_err(op, Some(2), "timeout");
                s.record_retries(op, Some(2), 1, false);
            }
        }
        s.late_starts = seed;
        s
    }

    /// Dense → sparse → dense gives the same figures, and adding sparse snapshots into a
    /// running one equals merging the dense ones.
    #[test]
    fn sparse_merge_equals_dense_merge() {
        let (a, b) = (sample(1), sample(2));
        let mut dense = a.clone();
        dense.merge(&b);
        let mut sparse = a.clone();
        sparse.merge_sparse(&SparseSnapshot::of(&b));
        let round = SparseSnapshot::of(&dense).to_snapshot();
        for s in [&sparse, &round] {
            assert_eq!(s.total_ops(), dense.total_ops());
            assert_eq!(s.total_bytes(), dense.total_bytes());
            assert_eq!(s.errors, dense.errors);
            assert_eq!(s.retries, dense.retries);
            assert_eq!(s.late_starts, dense.late_starts);
            for (k, c) in &dense.cells {
                let o = &s.cells[k];
                assert_eq!((o.count, o.bytes, o.hist.len()), (c.count, c.bytes, c.hist.len()));
                for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                    assert_eq!(o.hist.value_at_quantile(q), c.hist.value_at_quantile(q), "{k:?} q{q}");
                    assert_eq!(
                        o.service_hist().value_at_quantile(q),
                        c.service_hist().value_at_quantile(q),
                        "{k:?} service q{q}"
                    );
                }
                assert_eq!(o.hist.min(), c.hist.min());
                assert_eq!(o.hist.max(), c.hist.max());
                assert_eq!(
                    o.ttfb.as_ref().map(|h| h.value_at_quantile(0.99)),
                    c.ttfb.as_ref().map(|h| h.value_at_quantile(0.99))
                );
            }
            for (e, d) in s.endpoints.iter().zip(&dense.endpoints) {
                assert_eq!(
                    (e.requests, e.errors, e.retries, e.bytes_read),
                    (d.requests, d.errors, d.retries, d.bytes_read)
                );
                assert_eq!(e.hist.value_at_quantile(0.9), d.hist.value_at_quantile(0.9));
            }
        }
        // Far fewer pairs than the histogram has buckets: what makes adding it cheap.
        let get = &SparseSnapshot::of(&b).cells[0];
        assert!(get.hist.0.len() as u64 <= get.count && get.hist.0.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
