//! Capture: every worker appends its operations to its own bounded buffer ([`LogBuf`]); one
//! background thread per process ([`OpLog`]) swaps the buffers out, formats the lines and
//! compresses them with zstd into the output. A worker never waits for the writer: when its
//! buffer is full the record is dropped and counted, never silently.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::record::{header, push_time, OpRecord};

/// Records a worker may have waiting for the writer; more are dropped (and counted).
pub const BUFFER_RECORDS: usize = 32 * 1024;
/// How often the writer collects the buffers.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// How a process's op-log is written.
#[derive(Debug, Clone)]
pub struct OpLogOptions {
    /// Fraction of operations kept (0 < sample ≤ 1), chosen at random per operation.
    pub sample: f64,
    /// The `agent` and `client_id` columns: the agent's id, `local` for a local run.
    pub agent: String,
    /// This process's clock minus the controller's (ns): subtracted from every time written,
    /// so files of different agents line up on the controller's clock.
    pub clock_offset_ns: i64,
    /// zstd level (1 is fast enough to keep up with hundreds of thousands of records per second).
    pub level: i32,
}

impl OpLogOptions {
    pub fn new(agent: &str, sample: f64) -> Self {
        OpLogOptions { sample, agent: agent.to_string(), clock_offset_ns: 0, level: 1 }
    }
}

/// What an op-log wrote, once finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpLogTotals {
    /// Lines written.
    pub records: u64,
    /// Records lost because a worker's buffer was full or the output failed.
    pub dropped: u64,
    /// Operations left out by `sample` (not an error).
    pub sampled_out: u64,
}

/// One worker's buffer within one phase. `push` is called with the worker's recorder lock held,
/// so the warmup flag, which the phase flips under the same lock, labels each record exactly as
/// its figures are counted.
pub struct LogBuf {
    recs: Mutex<Filling>,
    stage: Arc<str>,
    warm_stage: Arc<str>,
    warm: AtomicBool,
    closed: AtomicBool,
    dropped: AtomicU64,
    sampled_out: AtomicU64,
    /// `sample` as a threshold on a 64-bit random number (`u64::MAX`: keep all).
    keep_below: u64,
}

struct Filling {
    recs: Vec<(OpRecord, bool)>,
    rng: u64,
}

impl LogBuf {
    /// Keep `r` (unless it is sampled out or the buffer is full).
    pub fn push(&self, r: OpRecord) {
        let warm = self.warm.load(Ordering::Relaxed);
        let mut f = self.recs.lock();
        if self.keep_below != u64::MAX {
            // xorshift64*: a cheap per-buffer stream, independent of the workload's choices.
            f.rng ^= f.rng >> 12;
            f.rng ^= f.rng << 25;
            f.rng ^= f.rng >> 27;
            if f.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >= self.keep_below {
                self.sampled_out.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        if f.recs.len() >= BUFFER_RECORDS {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        f.recs.push((r, warm));
    }

    /// The phase's warmup ended: records from now on belong to the measured part. Call with the
    /// worker's recorder lock held.
    pub fn end_warmup(&self) {
        self.warm.store(false, Ordering::Relaxed);
    }

    /// The worker finished: the writer drops the buffer once it is empty.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

struct Shared {
    bufs: Mutex<Vec<Arc<LogBuf>>>,
    stop: AtomicBool,
    /// Totals of the buffers already retired.
    dropped: AtomicU64,
    sampled_out: AtomicU64,
    records: AtomicU64,
    anchor: Instant,
    anchor_ns: i64,
    opts: OpLogOptions,
    seeds: AtomicU64,
}

/// A process's op-log: hands out buffers, runs the writer thread.
pub struct OpLog {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<io::Result<()>>>>,
}

impl OpLog {
    /// Start the writer thread, writing (zstd) to `out`.
    pub fn start(out: Box<dyn Write + Send>, opts: OpLogOptions) -> io::Result<OpLog> {
        let anchor = Instant::now();
        let anchor_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        let shared = Arc::new(Shared {
            bufs: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            sampled_out: AtomicU64::new(0),
            records: AtomicU64::new(0),
            anchor,
            anchor_ns,
            opts,
            seeds: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
        });
        let mut enc = zstd::stream::write::Encoder::new(out, shared.opts.level)?;
        enc.write_all(header().as_bytes())?;
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("sai3-oplog".into()).spawn(move || writer(s, enc))?;
        Ok(OpLog { shared, thread: Mutex::new(Some(thread)) })
    }

    /// A buffer for one worker of a phase of stage `stage` (`warmup`: the phase starts with one,
    /// whose records are labelled `<stage>:warmup`).
    pub fn buffer(&self, stage: &str, warmup: bool) -> Arc<LogBuf> {
        let s = &self.shared;
        let keep_below =
            if s.opts.sample >= 1.0 { u64::MAX } else { (s.opts.sample.max(0.0) * u64::MAX as f64) as u64 };
        let seed = s.seeds.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
        let b = Arc::new(LogBuf {
            recs: Mutex::new(Filling { recs: Vec::with_capacity(1024), rng: seed }),
            stage: Arc::from(stage),
            warm_stage: Arc::from(format!("{stage}:warmup")),
            warm: AtomicBool::new(warmup),
            closed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            sampled_out: AtomicU64::new(0),
            keep_below,
        });
        s.bufs.lock().push(b.clone());
        b
    }

    /// Write what is left, close the compressed stream and stop the writer. Later calls return
    /// the same totals.
    pub fn finish(&self) -> Result<OpLogTotals, String> {
        self.shared.stop.store(true, Ordering::SeqCst);
        let handle = self.thread.lock().take();
        let result = match handle {
            Some(h) => {
                h.thread().unpark();
                match h.join() {
                    Ok(r) => r.map_err(|e| format!("writing the op-log: {e}")),
                    Err(_) => Err("the op-log writer failed".to_string()),
                }
            }
            None => Ok(()),
        };
        result.map(|()| self.totals())
    }

    /// What was written and dropped so far.
    pub fn totals(&self) -> OpLogTotals {
        let s = &self.shared;
        let live = s.bufs.lock();
        OpLogTotals {
            records: s.records.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed)
                + live.iter().map(|b| b.dropped.load(Ordering::Relaxed)).sum::<u64>(),
            sampled_out: s.sampled_out.load(Ordering::Relaxed)
                + live.iter().map(|b| b.sampled_out.load(Ordering::Relaxed)).sum::<u64>(),
        }
    }
}

impl Drop for OpLog {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The writer thread: collect, format, compress, until stopped and every buffer is empty. After
/// an output error it keeps collecting (so workers never block) and counts what it could not
/// write as dropped; the error is returned at the end.
fn writer(s: Arc<Shared>, mut enc: zstd::stream::write::Encoder<'static, Box<dyn Write + Send>>) -> io::Result<()> {
    let mut spare: Vec<(OpRecord, bool)> = Vec::with_capacity(1024);
    let mut text = String::with_capacity(1 << 20);
    let mut failed: Option<io::Error> = None;
    let mut idx = 0u64;
    let mut date_cache = DateCache::default();
    loop {
        let stopping = s.stop.load(Ordering::SeqCst);
        let bufs: Vec<Arc<LogBuf>> = s.bufs.lock().clone();
        for b in &bufs {
            let closed = b.closed.load(Ordering::Acquire);
            std::mem::swap(&mut b.recs.lock().recs, &mut spare);
            for (r, warm) in spare.drain(..) {
                if failed.is_some() {
                    s.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let stage = if warm { &b.warm_stage } else { &b.stage };
                format_record(&mut text, idx, &r, stage, &s, &mut date_cache);
                idx += 1;
                s.records.fetch_add(1, Ordering::Relaxed);
                if text.len() >= 1 << 20 {
                    if let Err(e) = enc.write_all(text.as_bytes()) {
                        failed = Some(e);
                    }
                    text.clear();
                }
            }
            if closed {
                // Closed before the swap: nothing can be added to it any more.
                let mut list = s.bufs.lock();
                list.retain(|x| !Arc::ptr_eq(x, b));
                s.dropped.fetch_add(b.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
                s.sampled_out.fetch_add(b.sampled_out.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        if failed.is_none() && !text.is_empty() {
            if let Err(e) = enc.write_all(text.as_bytes()) {
                failed = Some(e);
            }
            text.clear();
        }
        if stopping {
            // Buffers still open at the stop (an abandoned phase) are drained once more above.
            break;
        }
        std::thread::park_timeout(DRAIN_EVERY);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let mut out = enc.finish()?;
    out.flush()
}

/// The date-and-time part of the last second formatted (most records share it).
#[derive(Default)]
struct DateCache {
    sec: i64,
    text: String,
}

impl DateCache {
    fn push(&mut self, out: &mut String, ns: i64) {
        let sec = ns.div_euclid(1_000_000_000);
        if self.text.is_empty() || sec != self.sec {
            self.text.clear();
            push_time(&mut self.text, sec * 1_000_000_000);
            self.text.truncate(20); // `YYYY-MM-DDTHH:MM:SS.`
            self.sec = sec;
        }
        out.push_str(&self.text);
        push_digits(out, ns.rem_euclid(1_000_000_000) as u64, 9);
        out.push('Z');
    }
}

/// Append `v` in decimal (at least `width` digits, zero-padded): the writer formats several
/// numbers per operation.
fn push_digits(out: &mut String, v: u64, width: usize) {
    out.push_str(crate::core::decimal::Decimal::new(v, width).as_str());
}

fn format_record(out: &mut String, idx: u64, r: &OpRecord, stage: &str, s: &Shared, dates: &mut DateCache) {
    let ns = |t: Instant| -> i64 {
        let since = match t.checked_duration_since(s.anchor) {
            Some(d) => d.as_nanos() as i64,
            None => -(s.anchor.duration_since(t).as_nanos() as i64),
        };
        s.anchor_ns + since - s.opts.clock_offset_ns
    };
    let agent = &s.opts.agent;
    let field = |out: &mut String, text: &str| {
        out.push_str(text);
        out.push('\t');
    };
    push_digits(out, idx, 1);
    out.push('\t');
    push_digits(out, u64::from(r.worker), 1);
    out.push('\t');
    field(out, r.op.name());
    field(out, agent);
    field(out, "1");
    push_digits(out, r.bytes, 1);
    out.push('\t');
    field(out, &r.endpoint);
    field(out, &r.key);
    field(out, r.error.as_deref().unwrap_or(""));
    dates.push(out, ns(r.start));
    out.push('\t');
    if let Some(t) = r.first_byte {
        dates.push(out, ns(t));
    }
    out.push('\t');
    dates.push(out, ns(r.end));
    out.push('\t');
    push_digits(out, r.end.saturating_duration_since(r.start).as_nanos() as u64, 1);
    out.push('\t');
    field(out, stage);
    if let Some(t) = r.intended {
        dates.push(out, ns(t));
    }
    out.push('\t');
    out.push_str(agent);
    out.push('\n');
}

/// A `Write` that hands blocks of about 256 KiB to `send` (an agent's op-log travels to the
/// controller this way, in its run stream).
pub struct BlockWriter {
    send: Box<dyn FnMut(Vec<u8>) -> io::Result<()> + Send>,
    buf: Vec<u8>,
}

impl BlockWriter {
    pub fn new(send: Box<dyn FnMut(Vec<u8>) -> io::Result<()> + Send>) -> Self {
        BlockWriter { send, buf: Vec::with_capacity(256 * 1024) }
    }
}

impl Write for BlockWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 256 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(256 * 1024));
        (self.send)(block)
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{Columns, Line};
    use super::*;
    use crate::core::OpKind;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, d: &[u8]) -> io::Result<usize> {
            self.0.lock().extend_from_slice(d);
            Ok(d.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn rec(w: u32, key: &str, t0: Instant, us: u64) -> OpRecord {
        OpRecord {
            op: OpKind::Get,
            worker: w,
            endpoint: Arc::from("file:///tmp/x/"),
            key: Arc::from(key),
            bytes: 10,
            error: None,
            intended: None,
            start: t0,
            first_byte: Some(t0 + Duration::from_micros(us / 2)),
            end: t0 + Duration::from_micros(us),
        }
    }

    fn lines(out: &Shared) -> Vec<Line> {
        let data = zstd::decode_all(&out.0.lock()[..]).unwrap();
        let text = String::from_utf8(data).unwrap();
        let mut it = text.lines();
        let cols = Columns::parse(it.next().unwrap()).unwrap();
        it.enumerate().map(|(i, l)| cols.line(l, i as u64 + 2).unwrap()).collect()
    }

    #[test]
    fn every_record_is_written_once_with_its_stage_and_corrected_times() {
        let out = Shared::default();
        let mut opts = OpLogOptions::new("agent-1", 1.0);
        opts.clock_offset_ns = 1_000_000_000;
        let log = OpLog::start(Box::new(out.clone()), opts).unwrap();
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
        let t0 = Instant::now();
        let threads: Vec<_> = (0..4u32)
            .map(|w| {
                let b = log.buffer("main", true);
                std::thread::spawn(move || {
                    for i in 0..5000u64 {
                        if i == 1000 {
                            b.end_warmup();
                        }
                        b.push(rec(w, &format!("k{i}"), t0, 100 + i));
                    }
                    b.close();
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let totals = log.finish().unwrap();
        assert_eq!(totals, OpLogTotals { records: 20_000, dropped: 0, sampled_out: 0 });
        let got = lines(&out);
        assert_eq!(got.len(), 20_000);
        let mut idx: Vec<u64> = got.iter().map(|l| l.idx).collect();
        idx.sort();
        assert!(idx.iter().enumerate().all(|(i, &x)| i as u64 == x), "idx numbers every line once");
        assert_eq!(got.iter().filter(|l| l.stage == "main:warmup").count(), 4000);
        assert_eq!(got.iter().filter(|l| l.stage == "main").count(), 16_000);
        let l = got.iter().find(|l| l.thread == 2 && l.file == "k7").unwrap();
        assert_eq!((l.duration_ns, l.end - l.start, l.first_byte.unwrap() - l.start), (107_000, 107_000, 53_000));
        assert_eq!((l.agent.as_str(), l.client_id.as_str(), l.op.as_str(), l.bytes), ("agent-1", "agent-1", "GET", 10));
        // On the controller's clock: one second before this process's.
        assert!((l.start - (before - 1_000_000_000)).abs() < 1_000_000_000, "{} vs {before}", l.start);
    }

    #[test]
    fn digits_are_decimal_and_padded() {
        for (v, w, want) in [(0, 1, "0"), (7, 1, "7"), (123, 9, "000000123"), (u64::MAX, 1, "18446744073709551615")] {
            let mut s = String::new();
            push_digits(&mut s, v, w);
            assert_eq!(s, want);
        }
        let mut d = DateCache::default();
        let mut s = String::new();
        d.push(&mut s, 1_796_492_897_000_000_042);
        d.push(&mut s, 1_796_492_897_999_999_999);
        assert_eq!(s, "2026-12-05T17:48:17.000000042Z2026-12-05T17:48:17.999999999Z");
    }

    #[test]
    fn a_full_buffer_drops_and_counts_and_sampling_keeps_a_fraction() {
        let out = Shared::default();
        let log = OpLog::start(Box::new(out.clone()), OpLogOptions::new("local", 1.0)).unwrap();
        // The writer never runs between these pushes: hold the list lock so it cannot collect.
        let b = log.buffer("s", false);
        let t0 = Instant::now();
        {
            let _hold = log.shared.bufs.lock();
            for i in 0..(BUFFER_RECORDS + 500) {
                b.push(rec(0, &format!("k{i}"), t0, 5));
            }
        }
        b.close();
        let t = log.finish().unwrap();
        assert_eq!((t.records, t.dropped), (BUFFER_RECORDS as u64, 500));
        assert_eq!(lines(&out).len(), BUFFER_RECORDS);

        let out = Shared::default();
        let log = OpLog::start(Box::new(out.clone()), OpLogOptions::new("local", 0.25)).unwrap();
        let b = log.buffer("s", false);
        for i in 0..20_000 {
            b.push(rec(0, &format!("k{i}"), t0, 5));
            if i % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        b.close();
        let t = log.finish().unwrap();
        assert_eq!(t.records + t.sampled_out, 20_000);
        assert!((4500..5500).contains(&t.records), "{t:?}");
        assert_eq!(lines(&out).len() as u64, t.records);
    }
}
