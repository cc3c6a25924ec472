//! Perf-log rows kept on disk instead of in memory. A long run with many agents closes one row
//! per agent and perf-log interval (256 agents at 1 s intervals: ~920,000 rows an hour); held in
//! memory they are what a controller's memory grows by. A [`RowSink`](super::RowSink) given a
//! [`SpillStore`] writes its closed, compacted rows there in blocks, and the series it hands out
//! ([`Rows`]) reads them back when the results are written.
//!
//! The store is one temporary file, unlinked as soon as it is created (nothing is left behind,
//! even when the process is killed), in `$TMPDIR` (default `/tmp`). Records are a small binary
//! encoding of a compacted row (~300 bytes): stage, times, CPU, missing agents and the row's
//! summary. A store that cannot be created or written is not an error: the rows stay in memory,
//! as before, and a warning says so once.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::outcome::{ClassSummary, CpuSample, IntervalRow, RowSummary, StageTag};

/// Rows written per block (a block is written with one system call).
pub const BLOCK_ROWS: usize = 64;

/// An unlinked temporary file rows are appended to, shared by every series of a run.
#[derive(Debug)]
pub struct SpillStore {
    file: File,
    end: Mutex<u64>,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl SpillStore {
    /// A new store in the temporary directory (`$TMPDIR`, else `/tmp`).
    pub fn create() -> io::Result<Arc<SpillStore>> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(".sai3-rows-{}-{n}", std::process::id()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Arc::new(SpillStore { file, end: Mutex::new(0) }))
    }

    /// A new store; `None` (rows stay in memory, warned once) when no temporary file can be made.
    pub fn create_or_warn() -> Option<Arc<SpillStore>> {
        match Self::create() {
            Ok(s) => Some(s),
            Err(e) => {
                warn_once(&format!(
                    "cannot create a temporary file in {} for perf-log rows ({e}); they stay in memory",
                    std::env::temp_dir().display()
                ));
                None
            }
        }
    }

    fn append(&self, bytes: &[u8]) -> io::Result<u64> {
        let mut end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        let at = *end;
        self.file.write_all_at(bytes, at)?;
        *end += bytes.len() as u64;
        Ok(at)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        *self.end.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(super) fn warn_once(msg: &str) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| tracing::warn!(event = "row_spill", "{msg}"));
}

#[derive(Debug, Clone, Copy)]
struct Block {
    offset: u64,
    len: u32,
}

#[derive(Debug, Clone)]
enum Part {
    Mem(Vec<IntervalRow>),
    Disk { store: Arc<SpillStore>, blocks: Vec<Block> },
}

/// A series of perf-log rows in time order: the older ones possibly in a [`SpillStore`], read
/// back on [`Rows::iter`]. Cloning shares the store.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    parts: Vec<Part>,
    len: usize,
}

impl From<Vec<IntervalRow>> for Rows {
    fn from(v: Vec<IntervalRow>) -> Self {
        let mut r = Rows::default();
        r.push_mem(v);
        r
    }
}

impl Rows {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows spilled to disk (the rest are in memory).
    pub fn spilled(&self) -> usize {
        self.len - self.parts.iter().map(|p| if let Part::Mem(v) = p { v.len() } else { 0 }).sum::<usize>()
    }

    pub(super) fn push_mem(&mut self, v: Vec<IntervalRow>) {
        if v.is_empty() {
            return;
        }
        self.len += v.len();
        match self.parts.last_mut() {
            Some(Part::Mem(m)) => m.extend(v),
            _ => self.parts.push(Part::Mem(v)),
        }
    }

    /// Write `rows` (compacted) as one block of `store`; on failure they are kept in memory.
    pub(super) fn push_spilled(&mut self, store: &Arc<SpillStore>, rows: Vec<IntervalRow>) -> io::Result<()> {
        let mut buf = Vec::with_capacity(rows.len() * 320);
        for r in &rows {
            encode(r, &mut buf);
        }
        let offset = match store.append(&buf) {
            Ok(o) => o,
            Err(e) => {
                self.push_mem(rows);
                return Err(e);
            }
        };
        let block = Block { offset, len: buf.len() as u32 };
        self.len += rows.len();
        match self.parts.last_mut() {
            Some(Part::Disk { store: s, blocks }) if Arc::ptr_eq(s, store) => blocks.push(block),
            _ => self.parts.push(Part::Disk { store: store.clone(), blocks: vec![block] }),
        }
        Ok(())
    }

    /// Append another series after this one.
    pub fn extend(&mut self, other: Rows) {
        self.len += other.len;
        for p in other.parts {
            match (self.parts.last_mut(), p) {
                (Some(Part::Mem(m)), Part::Mem(v)) => m.extend(v),
                (_, p) => self.parts.push(p),
            }
        }
    }

    /// Every row in order; a row that cannot be read back from its store is an error.
    pub fn iter(&self) -> impl Iterator<Item = io::Result<IntervalRow>> + '_ {
        self.parts.iter().flat_map(|p| -> Box<dyn Iterator<Item = io::Result<IntervalRow>> + '_> {
            match p {
                Part::Mem(v) => Box::new(v.iter().cloned().map(Ok)),
                Part::Disk { store, blocks } => Box::new(blocks.iter().flat_map(move |b| read_block(store, *b))),
            }
        })
    }

    /// Every row in memory (tests and small series).
    pub fn to_vec(&self) -> io::Result<Vec<IntervalRow>> {
        self.iter().collect()
    }

    /// The rows in memory, changed in place (rows on disk are not visited).
    pub fn mem_rows_mut(&mut self) -> impl Iterator<Item = &mut IntervalRow> {
        self.parts.iter_mut().flat_map(|p| match p {
            Part::Mem(v) => v.iter_mut(),
            Part::Disk { .. } => [].iter_mut(),
        })
    }
}

fn read_block(store: &SpillStore, b: Block) -> Vec<io::Result<IntervalRow>> {
    let mut buf = vec![0u8; b.len as usize];
    if let Err(e) = store.file.read_exact_at(&mut buf, b.offset) {
        return vec![Err(e)];
    }
    let mut out = Vec::with_capacity(BLOCK_ROWS);
    let mut r = Reader { buf: &buf, at: 0 };
    let mut last_name: Option<Arc<str>> = None;
    while r.at < buf.len() {
        match decode(&mut r, &mut last_name) {
            Some(row) => out.push(Ok(row)),
            None => {
                out.push(Err(io::Error::new(io::ErrorKind::InvalidData, "a spilled perf-log row is damaged")));
                break;
            }
        }
    }
    out
}

fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_f64(b: &mut Vec<u8>, v: f64) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_u64(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

/// One compacted row (its summary, not its histograms).
fn encode(r: &IntervalRow, b: &mut Vec<u8>) {
    let s = r.summary();
    put_u64(b, r.index);
    put_u64(b, r.stage.index as u64 | (r.stage.warmup as u64) << 32);
    put_str(b, &r.stage.name);
    put_u64(b, r.timestamp_epoch_ms);
    put_f64(b, r.elapsed_s);
    put_f64(b, r.duration_s);
    for v in [r.cpu.user_pct, r.cpu.system_pct, r.cpu.iowait_pct] {
        put_f64(b, v);
    }
    put_u64(b, r.missing_agents.len() as u64);
    for m in &r.missing_agents {
        put_str(b, m);
    }
    for c in &s.classes {
        put_u64(b, c.ops);
        put_u64(b, c.bytes);
        put_f64(b, c.mean_us);
        put_u64(b, c.p50_us);
        put_u64(b, c.p90_us);
        put_u64(b, c.p99_us);
    }
    for v in s.op_counts {
        put_u64(b, v);
    }
    for v in [s.ops, s.bytes, s.errors, s.retries] {
        put_u64(b, v);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u64(&mut self) -> Option<u64> {
        let v = self.buf.get(self.at..self.at + 8)?;
        self.at += 8;
        Some(u64::from_le_bytes(v.try_into().ok()?))
    }

    fn f64(&mut self) -> Option<f64> {
        self.u64().map(f64::from_bits)
    }

    fn str(&mut self) -> Option<&str> {
        let n = usize::try_from(self.u64()?).ok()?;
        let v = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        std::str::from_utf8(v).ok()
    }
}

fn decode(r: &mut Reader<'_>, last_name: &mut Option<Arc<str>>) -> Option<IntervalRow> {
    let index = r.u64()?;
    let st = r.u64()?;
    let name = r.str()?;
    let name = match last_name {
        Some(n) if &**n == name => n.clone(),
        _ => {
            let n: Arc<str> = Arc::from(name);
            *last_name = Some(n.clone());
            n
        }
    };
    let stage = StageTag { index: st as u32, name, warmup: st >> 32 != 0 };
    let timestamp_epoch_ms = r.u64()?;
    let elapsed_s = r.f64()?;
    let duration_s = r.f64()?;
    let cpu = CpuSample { user_pct: r.f64()?, system_pct: r.f64()?, iowait_pct: r.f64()? };
    let n = r.u64()?;
    let mut missing_agents = Vec::new();
    for _ in 0..n {
        missing_agents.push(r.str()?.to_string());
    }
    let mut s = RowSummary::default();
    for c in s.classes.iter_mut() {
        *c = ClassSummary {
            ops: r.u64()?,
            bytes: r.u64()?,
            mean_us: r.f64()?,
            p50_us: r.u64()?,
            p90_us: r.u64()?,
            p99_us: r.u64()?,
        };
    }
    for v in s.op_counts.iter_mut() {
        *v = r.u64()?;
    }
    (s.ops, s.bytes, s.errors, s.retries) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
    Some(IntervalRow {
        index,
        stage,
        timestamp_epoch_ms,
        elapsed_s,
        duration_s,
        snap: Default::default(),
        cpu,
        missing_agents,
        summary: Some(s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::metrics::Snapshot;
    use crate::core::OpKind;

    fn row(index: u64, lats: &[u64], missing: &[&str]) -> IntervalRow {
        let mut snap = Snapshot::default();
        for &l in lats {
            snap.record_ok(OpKind::Get, None, 4096, l, None, None);
            snap.record_ok(OpKind::Stat, None, 0, l * 2, None, None);
        }
        snap.record_err(OpKind::Put, None, "io");
        IntervalRow {
            index,
            stage: if index.is_multiple_of(2) { StageTag::new(2, "mix") } else { StageTag::new(2, "mix").warmup() },
            timestamp_epoch_ms: 1_700_000_000_000 + index,
            elapsed_s: index as f64 + 0.5,
            duration_s: 1.0 / 3.0,
            snap,
            cpu: CpuSample { user_pct: 12.5, system_pct: 0.1, iowait_pct: 1e-9 },
            missing_agents: missing.iter().map(|s| s.to_string()).collect(),
            summary: None,
        }
    }

    #[test]
    fn a_spilled_row_reads_back_as_its_compacted_self() {
        let store = SpillStore::create().unwrap();
        let rows: Vec<IntervalRow> =
            (0..150).map(|i| row(i, &[i + 1, 3 * i + 7], if i == 5 { &["b", "ü-agent"] } else { &[] })).collect();
        let mut spilled = Rows::default();
        for chunk in rows.chunks(BLOCK_ROWS) {
            spilled.push_spilled(&store, chunk.to_vec()).unwrap();
        }
        spilled.push_mem(vec![row(150, &[9], &[])]);
        assert_eq!(spilled.len(), 151);
        assert_eq!(spilled.spilled(), 150);
        assert!(store.len() > 150 * 200, "the rows are in the file: {} bytes", store.len());
        let back = spilled.to_vec().unwrap();
        assert_eq!(back.len(), 151);
        for (a, b) in rows.iter().zip(&back) {
            let mut a = a.clone();
            a.compact();
            assert_eq!(a.summary, b.summary);
            assert_eq!(a.summary.unwrap().errors, 1);
            assert_eq!((a.index, &a.stage, a.timestamp_epoch_ms), (b.index, &b.stage, b.timestamp_epoch_ms));
            assert_eq!((a.elapsed_s, a.duration_s, a.cpu), (b.elapsed_s, b.duration_s, b.cpu));
            assert_eq!(a.missing_agents, b.missing_agents);
        }
        assert_eq!(back[150].summary, None, "the row kept in memory is untouched");
        let copy = spilled.clone();
        assert_eq!(copy.to_vec().unwrap().len(), 151, "a clone reads the same store");
    }

    #[test]
    fn series_extend_in_order_and_a_damaged_block_is_an_error() {
        let store = SpillStore::create().unwrap();
        let mut a = Rows::from(vec![row(0, &[1], &[])]);
        let mut b = Rows::default();
        b.push_spilled(&store, vec![row(1, &[1], &[]), row(2, &[1], &[])]).unwrap();
        b.push_mem(vec![row(3, &[1], &[])]);
        a.extend(b);
        a.extend(Rows::from(vec![row(4, &[1], &[])]));
        let idx: Vec<u64> = a.to_vec().unwrap().iter().map(|r| r.index).collect();
        assert_eq!(idx, [0, 1, 2, 3, 4]);
        store.file.write_all_at(&[0xff; 8], 16).unwrap();
        assert!(a.to_vec().is_err(), "a damaged record is reported, not skipped");
    }
}
