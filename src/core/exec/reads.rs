//! How a GET reads: the byte range of a ranged GET, the whole object in parallel parts, and the
//! check of every byte against the generator (`verify`), shared by workload GETs and the verify
//! stage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use rand::Rng;

use crate::core::config::{PartSpec, RangeOffset, RangeSpec};
use crate::core::store::{Endpoint, Sink, StoreError};
use crate::core::workload::{Checker, Generator};

/// The byte range a GET of an object of `size` bytes reads: `(offset, length)`, the range
/// clipped at the end of the object (an offset past its end reads from the start).
pub fn range_for<R: Rng>(spec: &RangeSpec, size: u64, rng: &mut R) -> Option<(u64, u64)> {
    if size == 0 {
        return None;
    }
    let off = match spec.offset {
        RangeOffset::Fixed(o) if o < size => o,
        RangeOffset::Fixed(_) => 0,
        RangeOffset::Random { align } if size > spec.length => {
            rng.random_range(0..=(size - spec.length) / align) * align
        }
        RangeOffset::Random { .. } => 0,
    };
    Some((off, spec.length.min(size - off)))
}

/// Say which object failed verification (the first few of each process; the rest are counted).
fn report_verify_failure(uri: &str, key: &str, what: &str) {
    static SHOWN: AtomicU64 = AtomicU64::new(0);
    let n = SHOWN.fetch_add(1, Ordering::Relaxed);
    if n < 20 {
        eprintln!("verify failed: {uri}{key}: {what}");
    } else if n == 20 {
        eprintln!("verify failed: more objects fail verification; they are counted as verify_failed errors");
    }
}

/// Stamp the time of the first byte into `first` (the first call wins; an empty chunk is no byte).
#[inline]
fn stamp(first: Option<&OnceLock<Instant>>, d: &[u8]) {
    if let Some(f) = first.filter(|_| !d.is_empty()) {
        f.get_or_init(Instant::now);
    }
}

/// The backend's read of `range`, or of the whole object with the size it is `listed` with.
async fn backend_read<'a>(
    ep: &'a Endpoint,
    key: &'a str,
    range: Option<(u64, u64)>,
    listed: Option<u64>,
    sink: Option<Sink<'a>>,
) -> Result<u64, StoreError> {
    match (range, listed) {
        (None, Some(size)) => ep.backend.read_sized(key, size, sink).await,
        _ => ep.backend.read(key, range, sink).await,
    }
}

/// What a GET does with the bytes it reads: stamps the time of the first one into `first` and
/// checks them against the generator (`verify`).
struct Feed<'a> {
    first: Option<&'a OnceLock<Instant>>,
    chk: Option<Checker<'a>>,
}

impl<'a> Feed<'a> {
    fn new(key: &str, gen: Option<&'a Generator>, first: Option<&'a OnceLock<Instant>>) -> Self {
        Feed { first, chk: gen.map(|g| Checker::new(g, key, Vec::new())) }
    }

    /// Whether the read needs a sink at all.
    fn wanted(&self) -> bool {
        self.first.is_some() || self.chk.is_some()
    }

    fn take(&mut self, off: u64, d: &[u8]) {
        stamp(self.first, d);
        if let Some(c) = &mut self.chk {
            c.check(off, d);
        }
    }

    /// The GET's result: the read's, verified when checked (see [`verified`]).
    fn outcome(
        self,
        ep: &Endpoint,
        key: &str,
        read: Result<u64, StoreError>,
        expect_size: Option<u64>,
    ) -> Result<u64, StoreError> {
        match self.chk {
            Some(c) => verified(ep, key, read, c.mismatch, expect_size),
            None => read,
        }
    }
}

/// GET `key` (or its range), checking the bytes against `gen` when given. With `first`, the
/// instant the first bytes of the body arrive is set into it, unless it is set already (the
/// parts of one GET share it: the earliest wins); an empty object leaves it unset.
/// `listed`: the size the object was listed or written with, a hint for reading the whole of
/// it (the object is read whole whatever its size; see [`crate::core::store::Backend::read_sized`]);
/// `expect_size`: the size `verify` requires. Done on the calling thread when the backend reads
/// inline.
pub async fn read_object(
    ep: &Endpoint,
    key: &str,
    range: Option<(u64, u64)>,
    listed: Option<u64>,
    gen: Option<&Generator>,
    expect_size: Option<u64>,
    first: Option<&OnceLock<Instant>>,
) -> Result<u64, StoreError> {
    let known = listed.filter(|_| range.is_none());
    let mut feed = Feed::new(key, gen, first);
    let read = {
        let wanted = feed.wanted();
        let mut take = |off: u64, d: &[u8]| feed.take(off, d);
        let mut sink: Option<Sink<'_>> = if wanted { Some(&mut take) } else { None };
        match ep.backend.read_inline(key, range, known, &mut sink) {
            Some(r) => r,
            None => backend_read(ep, key, range, known, sink).await,
        }
    };
    feed.outcome(ep, key, read, expect_size)
}

/// [`read_object`] without a future, for a backend that reads inline (local files: the hot path
/// of a GET); `None` when it does not.
pub fn read_object_inline(
    ep: &Endpoint,
    key: &str,
    range: Option<(u64, u64)>,
    listed: Option<u64>,
    gen: Option<&Generator>,
    expect_size: Option<u64>,
    first: Option<&OnceLock<Instant>>,
) -> Option<Result<u64, StoreError>> {
    let known = listed.filter(|_| range.is_none());
    let mut feed = Feed::new(key, gen, first);
    let read = {
        let wanted = feed.wanted();
        let mut take = |off: u64, d: &[u8]| feed.take(off, d);
        let mut sink: Option<Sink<'_>> = if wanted { Some(&mut take) } else { None };
        ep.backend.read_inline(key, range, known, &mut sink)?
    };
    Some(feed.outcome(ep, key, read, expect_size))
}

/// The outcome of a verified read: a missing object, a byte that differs (`mismatch`) or a size
/// other than `expect_size` is a verify failure, reported with the object's name.
fn verified(
    ep: &Endpoint,
    key: &str,
    read: Result<u64, StoreError>,
    mismatch: Option<u64>,
    expect_size: Option<u64>,
) -> Result<u64, StoreError> {
    let n = match read {
        Err(e @ StoreError::NotFound(_)) => {
            report_verify_failure(&ep.uri, key, "the object is missing");
            return Err(e);
        }
        r => r?,
    };
    let what = match (mismatch, expect_size) {
        (Some(off), _) => format!("byte {off} differs from what was written"),
        (None, Some(want)) if want != n => format!("{n} bytes read, {want} written"),
        _ => return Ok(n),
    };
    report_verify_failure(&ep.uri, key, &what);
    Err(StoreError::Verify(format!("{}{key}: {what}", ep.uri)))
}

/// GET of the whole object (`size` bytes as listed) as ranged reads of `p.size` bytes, at most
/// `p.in_flight` at a time: concurrent requests on object stores, that many threads on local
/// file systems (whose requests complete without awaiting). Returns the bytes read. Every part
/// shares `first` (see [`read_object`]): the first byte of whichever part answers first.
pub async fn read_parts(
    ep: &Endpoint,
    key: &str,
    size: u64,
    p: PartSpec,
    gen: Option<&Generator>,
    first: Option<&OnceLock<Instant>>,
) -> Result<u64, StoreError> {
    let ranges: Vec<(u64, u64)> =
        (0..size.div_ceil(p.size)).map(|i| (i * p.size, p.size.min(size - i * p.size))).collect();
    if ranges.len() <= 1 {
        return read_object(ep, key, None, (size > 0).then_some(size), gen, None, first).await;
    }
    if !ep.backend.is_blocking() {
        use futures::stream::{StreamExt, TryStreamExt};
        return futures::stream::iter(ranges)
            .map(|r| read_object(ep, key, Some(r), None, gen, None, first))
            .buffer_unordered(p.in_flight)
            .try_fold(0u64, |a, n| async move { Ok(a + n) })
            .await;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let reader = || -> Result<u64, StoreError> {
        let mut n = 0;
        while let Some(&r) = ranges.get(next.fetch_add(1, Ordering::Relaxed)) {
            n += futures::executor::block_on(read_object(ep, key, Some(r), None, gen, None, first))?;
        }
        Ok(n)
    };
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..p.in_flight.min(ranges.len())).map(|_| s.spawn(reader)).collect();
        let mut total = 0;
        for t in threads {
            total += t.join().unwrap_or_else(|_| Err(StoreError::Other("a part reader failed".into())))?;
        }
        Ok(total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::store::{Backend, ObjectInfo};
    use futures::future::BoxFuture;
    use parking_lot::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Reads of a fixed-size object that take 50 ms each, counting how many overlap; blocking
    /// (done on the calling thread) or not (awaiting a timer).
    struct Slow {
        size: u64,
        blocking: bool,
        now: AtomicUsize,
        peak: AtomicUsize,
        reads: Mutex<Vec<(u64, u64)>>,
    }

    impl Slow {
        fn enter(&self) {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
        }
    }

    impl Backend for Slow {
        fn read<'a>(
            &'a self,
            _key: &'a str,
            range: Option<(u64, u64)>,
            _sink: Option<Sink<'a>>,
        ) -> BoxFuture<'a, Result<u64, StoreError>> {
            let (off, len) = range.unwrap_or((0, self.size));
            self.reads.lock().push((off, len));
            self.enter();
            if self.blocking {
                std::thread::sleep(Duration::from_millis(50));
                self.now.fetch_sub(1, Ordering::SeqCst);
                return Box::pin(std::future::ready(Ok(len)));
            }
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.now.fetch_sub(1, Ordering::SeqCst);
                Ok(len)
            })
        }
        fn put<'a>(&'a self, _: &'a str, _: bytes::Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
            unreachable!()
        }
        fn list<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<ObjectInfo>, StoreError>> {
            unreachable!()
        }
        fn stat<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
            unreachable!()
        }
        fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            unreachable!()
        }
        fn mkdir<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            unreachable!()
        }
        fn is_blocking(&self) -> bool {
            self.blocking
        }
        fn preflight<'a>(&'a self, _: bool) -> BoxFuture<'a, Result<(), StoreError>> {
            unreachable!()
        }
    }

    /// An object of `data` handed to the sink in chunks of `chunk` bytes, `gap` apart (a thread
    /// sleep when blocking, a timer otherwise), recording when each chunk went to the sink:
    /// (offset, just before, just after).
    struct Chunks {
        data: bytes::Bytes,
        chunk: usize,
        gap: Duration,
        blocking: bool,
        calls: Mutex<Vec<(u64, Instant, Instant)>>,
    }

    impl Chunks {
        fn new(data: bytes::Bytes, chunk: usize, blocking: bool) -> Arc<Self> {
            Arc::new(Chunks { data, chunk, gap: Duration::from_millis(30), blocking, calls: Mutex::new(Vec::new()) })
        }
        fn feed(&self, off: u64, d: &[u8], sink: &mut Option<Sink<'_>>) {
            if let Some(s) = sink.as_mut() {
                let before = Instant::now();
                s(off, d);
                self.calls.lock().push((off, before, Instant::now()));
            }
        }
    }

    impl Backend for Chunks {
        fn read<'a>(
            &'a self,
            _key: &'a str,
            range: Option<(u64, u64)>,
            mut sink: Option<Sink<'a>>,
        ) -> BoxFuture<'a, Result<u64, StoreError>> {
            let (off, len) = range.unwrap_or((0, self.data.len() as u64));
            let body = self.data.slice(off as usize..(off + len) as usize);
            let chunks: Vec<(u64, bytes::Bytes)> = (0..body.len())
                .step_by(self.chunk)
                .map(|i| (off + i as u64, body.slice(i..(i + self.chunk).min(body.len()))))
                .collect();
            if self.blocking {
                for (o, c) in &chunks {
                    self.feed(*o, c, &mut sink);
                    std::thread::sleep(self.gap);
                }
                return Box::pin(std::future::ready(Ok(len)));
            }
            Box::pin(async move {
                for (o, c) in &chunks {
                    self.feed(*o, c, &mut sink);
                    tokio::time::sleep(self.gap).await;
                }
                Ok(len)
            })
        }
        fn put<'a>(&'a self, _: &'a str, _: bytes::Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
            unreachable!()
        }
        fn list<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<ObjectInfo>, StoreError>> {
            unreachable!()
        }
        fn stat<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
            unreachable!()
        }
        fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            unreachable!()
        }
        fn mkdir<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            unreachable!()
        }
        fn is_blocking(&self) -> bool {
            self.blocking
        }
        fn preflight<'a>(&'a self, _: bool) -> BoxFuture<'a, Result<(), StoreError>> {
            unreachable!()
        }
    }

    fn endpoint(b: Arc<Chunks>) -> Endpoint {
        Endpoint {
            idx: 0,
            uri: "chunks://".into(),
            label: "chunks://".into(),
            backend: b,
            in_flight: AtomicUsize::new(0),
        }
    }

    /// The first byte is the first chunk's: stamped while the sink had it, before the second
    /// chunk came and before the read returned; with and without verify, blocking or not.
    #[tokio::test]
    async fn first_byte_is_stamped_once_at_the_first_chunk() {
        let gen = Generator::new(7, &crate::core::config::DataSpec::default());
        for blocking in [true, false] {
            for check in [None, Some(&gen)] {
                let b = Chunks::new(gen.object("k", 300), 100, blocking);
                let ep = endpoint(b.clone());
                let first = OnceLock::new();
                let n = read_object(&ep, "k", None, None, check, Some(300), Some(&first)).await.unwrap();
                let returned = Instant::now();
                assert_eq!(n, 300);
                let calls = b.calls.lock().clone();
                assert_eq!(calls.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 100, 200]);
                let t = *first.get().expect("stamped");
                let what = format!("blocking: {blocking}, verify: {}", check.is_some());
                assert!(calls[0].1 <= t && t <= calls[0].2, "{what}: during the first chunk");
                assert!(t < calls[1].1 && t + b.gap <= returned, "{what}: not a later chunk's time");
            }
        }
    }

    /// No body, no first byte: the caller uses the end of the request.
    #[tokio::test]
    async fn an_empty_object_stamps_nothing() {
        for check in [None, Some(&Generator::new(7, &crate::core::config::DataSpec::default()))] {
            let ep = endpoint(Chunks::new(bytes::Bytes::new(), 100, true));
            let first = OnceLock::new();
            assert_eq!(read_object(&ep, "k", None, None, check, Some(0), Some(&first)).await.unwrap(), 0);
            assert!(first.get().is_none());
        }
    }

    /// Parts share one stamp: the first byte of the part that answered first.
    #[tokio::test]
    async fn parts_share_the_earliest_first_byte() {
        for blocking in [true, false] {
            let b = Chunks::new(bytes::Bytes::from(vec![0u8; 1000]), 50, blocking);
            let ep = endpoint(b.clone());
            let first = OnceLock::new();
            let p = PartSpec { size: 100, in_flight: 4 };
            assert_eq!(read_parts(&ep, "k", 1000, p, None, Some(&first)).await.unwrap(), 1000);
            let calls = b.calls.lock().clone();
            assert_eq!(calls.len(), 20);
            let t = *first.get().expect("stamped");
            let earliest = calls.iter().min_by_key(|c| c.1).unwrap();
            assert!(earliest.1 <= t && t <= earliest.2, "blocking: {blocking}");
        }
    }

    /// 10 parts of 100 bytes and one of 5, 4 at a time: every byte read once, never more than 4
    /// reads in flight, and 4 of them overlapping at some point.
    #[tokio::test]
    async fn parts_cover_the_object_with_at_most_parts_in_flight() {
        for blocking in [true, false] {
            let slow = Arc::new(Slow {
                size: 1005,
                blocking,
                now: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                reads: Mutex::new(Vec::new()),
            });
            let ep = Endpoint {
                idx: 0,
                uri: "slow://".into(),
                label: "slow://".into(),
                backend: slow.clone(),
                in_flight: AtomicUsize::new(0),
            };
            let n = read_parts(&ep, "k", 1005, PartSpec { size: 100, in_flight: 4 }, None, None).await.unwrap();
            assert_eq!(n, 1005);
            let mut reads = slow.reads.lock().clone();
            reads.sort();
            let want: Vec<(u64, u64)> = (0..11).map(|i| (i * 100, if i == 10 { 5 } else { 100 })).collect();
            assert_eq!(reads, want, "blocking: {blocking}");
            assert_eq!(slow.peak.load(Ordering::SeqCst), 4, "blocking: {blocking}");
        }
    }
}
