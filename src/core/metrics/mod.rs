//! Measurements: HDR latency histograms (µs, 1 µs .. 1 h, 3 significant digits) per op kind
//! and size bucket, per-endpoint counters, and error counts by kind. A [`Snapshot`] is a
//! mergeable bag of them; merging is exact (histogram counts add). Each worker records into its
//! own [`WorkerRecorder`]; the aggregator swaps it out once per interval.
//! Must not format files or know about the network.

mod buckets;
mod snapshot;
mod sparse;

pub use buckets::{size_bucket, SIZE_BUCKETS, SIZE_BUCKET_COUNT};
pub use snapshot::{new_histogram, record_us, Cell, EndpointCell, RetryCount, Snapshot, HIST_MAX_US};
pub use sparse::{SparseCell, SparseEndpoint, SparseHist, SparseSnapshot};

use std::sync::Arc;

use parking_lot::Mutex;

use crate::core::oplog::{LogBuf, OpRecord};
use crate::core::OpKind;

/// A worker's recorder. The worker is the only writer; the aggregator takes the accumulated
/// snapshot once per interval. The lock is therefore uncontended on the hot path (one
/// uncontended lock/unlock per op) and lets an interval close on time even while a worker is
/// in the middle of a long request.
///
/// With the op-log on, the recorder also holds the worker's op-log buffer: an operation's record
/// is kept under the same lock as its figures, so the record and the figures always fall on
/// the same side of the warmup's end.
#[derive(Clone, Default)]
pub struct WorkerRecorder {
    inner: Arc<Mutex<Snapshot>>,
    log: Option<Arc<LogBuf>>,
}

impl WorkerRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder that also keeps each operation's record in `log`.
    pub fn with_log(log: Arc<LogBuf>) -> Self {
        WorkerRecorder { inner: Arc::default(), log: Some(log) }
    }

    /// Whether operations are recorded in an op-log (build an [`OpRecord`] only then).
    #[inline]
    pub fn logging(&self) -> bool {
        self.log.is_some()
    }

    /// Record a completed request: `latency_us` from the intended start (the actual start in
    /// closed loop); `service_us`, only in open loop, from the actual start; `ttfb_us`, only for
    /// workload GETs, to the first byte of the body; the attempts it took beyond the first
    /// (`retries`); and the operation's op-log record.
    #[inline]
    #[allow(clippy::too_many_arguments)] // record_ok's figures, the retries, and the record
    pub fn record_ok_logged(
        &self,
        op: OpKind,
        endpoint: Option<usize>,
        bytes: u64,
        latency_us: u64,
        service_us: Option<u64>,
        ttfb_us: Option<u64>,
        retries: u32,
        record: Option<OpRecord>,
    ) {
        let mut g = self.inner.lock();
        g.record_ok(op, endpoint, bytes, latency_us, service_us, ttfb_us);
        g.record_retries(op, endpoint, retries, true);
        if let (Some(log), Some(r)) = (&self.log, record) {
            log.push(r);
        }
    }

    /// Record a failed request of error kind `kind`, the attempts beyond the first it failed
    /// (`retries`), and the operation's op-log record.
    #[inline]
    pub fn record_err_logged(
        &self,
        op: OpKind,
        endpoint: Option<usize>,
        kind: &'static str,
        retries: u32,
        record: Option<OpRecord>,
    ) {
        let mut g = self.inner.lock();
        g.record_err(op, endpoint, kind);
        g.record_retries(op, endpoint, retries, false);
        if let (Some(log), Some(r)) = (&self.log, record) {
            log.push(r);
        }
    }

    /// [`Self::take`] at the end of the warmup: what follows is recorded as the measured part.
    pub fn take_ending_warmup(&self) -> Snapshot {
        let mut g = self.inner.lock();
        if let Some(log) = &self.log {
            log.end_warmup();
        }
        std::mem::take(&mut *g)
    }

    /// The worker is done: its op-log buffer can be retired once written.
    pub fn close_log(&self) {
        if let Some(log) = &self.log {
            log.close();
        }
    }

    /// Record a failed request (after retries) of the given error kind, without retries or an
    /// op-log record (a request that never went out).
    #[inline]
    pub fn record_err(&self, op: OpKind, endpoint: Option<usize>, kind: &'static str) {
        self.record_err_logged(op, endpoint, kind, 0, None);
    }

    /// Count an open-loop operation that started later than its intended time.
    #[inline]
    pub fn record_late_start(&self) {
        self.inner.lock().late_starts += 1;
    }

    /// Take everything recorded since the last take, leaving an empty snapshot.
    pub fn take(&self) -> Snapshot {
        std::mem::take(&mut *self.inner.lock())
    }
}
