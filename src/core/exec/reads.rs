//! How a GET reads: the byte range of a ranged GET, the whole object in parallel parts, and the
//! check of every byte against the generator (`verify`), shared by workload GETs and the verify
//! stage.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;

use crate::core::config::{PartSpec, RangeOffset, RangeSpec};
use crate::core::store::{Endpoint, StoreError};
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

/// GET `key` (or its range), checking the bytes against `gen` when given.
pub async fn read_object(
    ep: &Endpoint,
    key: &str,
    range: Option<(u64, u64)>,
    gen: Option<&Generator>,
    expect_size: Option<u64>,
) -> Result<u64, StoreError> {
    let Some(g) = gen else { return ep.backend.read(key, range, None).await };
    let mut chk = Checker::new(g, key, Vec::new());
    let read = {
        let mut sink = |off: u64, d: &[u8]| chk.check(off, d);
        ep.backend.read(key, range, Some(&mut sink)).await
    };
    let n = match read {
        Err(e @ StoreError::NotFound(_)) => {
            report_verify_failure(&ep.uri, key, "the object is missing");
            return Err(e);
        }
        r => r?,
    };
    let what = match (chk.mismatch, expect_size) {
        (Some(off), _) => format!("byte {off} differs from what was written"),
        (None, Some(want)) if want != n => format!("{n} bytes read, {want} written"),
        _ => return Ok(n),
    };
    report_verify_failure(&ep.uri, key, &what);
    Err(StoreError::Verify(format!("{}{key}: {what}", ep.uri)))
}

/// GET of the whole object (`size` bytes as listed) as ranged reads of `p.size` bytes, at most
/// `p.in_flight` at a time: concurrent requests on object stores, that many threads on local
/// file systems (whose requests complete without awaiting). Returns the bytes read.
pub async fn read_parts(
    ep: &Endpoint,
    key: &str,
    size: u64,
    p: PartSpec,
    gen: Option<&Generator>,
) -> Result<u64, StoreError> {
    let ranges: Vec<(u64, u64)> =
        (0..size.div_ceil(p.size)).map(|i| (i * p.size, p.size.min(size - i * p.size))).collect();
    if ranges.len() <= 1 {
        return read_object(ep, key, None, gen, None).await;
    }
    if !ep.backend.is_blocking() {
        use futures::stream::{StreamExt, TryStreamExt};
        return futures::stream::iter(ranges)
            .map(|r| read_object(ep, key, Some(r), gen, None))
            .buffer_unordered(p.in_flight)
            .try_fold(0u64, |a, n| async move { Ok(a + n) })
            .await;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let reader = || -> Result<u64, StoreError> {
        let mut n = 0;
        while let Some(&r) = ranges.get(next.fetch_add(1, Ordering::Relaxed)) {
            n += futures::executor::block_on(read_object(ep, key, Some(r), gen, None))?;
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
    use crate::core::store::{Backend, ObjectInfo, Sink};
    use futures::future::BoxFuture;
    use parking_lot::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

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
            let n = read_parts(&ep, "k", 1005, PartSpec { size: 100, in_flight: 4 }, None).await.unwrap();
            assert_eq!(n, 1005);
            let mut reads = slow.reads.lock().clone();
            reads.sort();
            let want: Vec<(u64, u64)> = (0..11).map(|i| (i * 100, if i == 10 { 5 } else { 100 })).collect();
            assert_eq!(reads, want, "blocking: {blocking}");
            assert_eq!(slow.peak.load(Ordering::SeqCst), 4, "blocking: {blocking}");
        }
    }
}
