//! Object content as a pure function of (seed, object name, byte offset): any agent of any run
//! regenerates exactly the bytes a PUT wrote, so GETs can verify them, and data reduction is
//! under control. The object is cut into blocks of `block_size` bytes:
//!
//! - `fill: random` — each block is unique random bytes, except that with `dedup_factor: D` only
//!   1/D of the blocks are (every D-th block by position, phase-shifted per object so one-block
//!   objects are unique in 1/D of the objects); the others are copies of one of [`DUP_SETS`]
//!   shared blocks, the same in every object, as a deduplicating array sees repeated data.
//!   With `compress_factor: C` the first `block_size / C` bytes of each block are random and the
//!   rest zeros, so a general-purpose compressor shrinks each block to about 1/C.
//! - `fill: zero` — all zeros.
//! - `fill: pattern` — each 8-byte word holds its own byte offset in the object (little endian),
//!   so misplaced data shows in a hex dump.
//!
//! Random bytes come from wyrand, one 64×64→128 multiply per 8 bytes: several GB/s per core.

use bytes::{Bytes, BytesMut};

use crate::core::config::{DataSpec, Fill};

/// Distinct shared blocks the duplicate blocks of a deduplicated data set copy.
pub const DUP_SETS: u64 = 16;

const WY0: u64 = 0xa076_1d64_78bd_642f;
const WY1: u64 = 0xe703_7ed1_a0b4_28db;

#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let t = (a as u128).wrapping_mul(b as u128);
    (t as u64) ^ ((t >> 64) as u64)
}

/// A 64-bit mix of two words (a good hash step, not cryptographic).
#[inline(always)]
fn mix(a: u64, b: u64) -> u64 {
    mum(a ^ WY0, b ^ WY1)
}

/// Hash of an object name under a seed: the key every block of the object derives from.
pub fn name_key(seed: u64, name: &str) -> u64 {
    let mut h = mix(seed, name.len() as u64);
    for chunk in name.as_bytes().chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = mix(h, u64::from_le_bytes(w));
    }
    h
}

/// Fill `out` (length a multiple of 8, or the tail of a block) with the random stream of `key`.
#[inline]
fn random_fill(key: u64, out: &mut [u8]) {
    let mut s = key;
    let mut words = out.chunks_exact_mut(8);
    for w in &mut words {
        s = s.wrapping_add(WY0);
        w.copy_from_slice(&mum(s, s ^ WY1).to_le_bytes());
    }
    let rest = words.into_remainder();
    if !rest.is_empty() {
        s = s.wrapping_add(WY0);
        let v = mum(s, s ^ WY1).to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&v[..n]);
    }
}

/// Generates (and checks) object content for one [`DataSpec`].
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    fill: Fill,
    block: usize,
    /// Random bytes at the start of each block (the rest is zeros).
    random_len: usize,
    dedup: f64,
}

impl Generator {
    pub fn new(seed: u64, spec: &DataSpec) -> Self {
        let block = spec.block_size.max(8) as usize;
        let random_len = ((block as f64 / spec.compress_factor.max(1.0)).round() as usize).clamp(1, block);
        Generator { seed, fill: spec.fill, block, random_len, dedup: spec.dedup_factor.max(1.0) }
    }

    /// The key of an object name (hash it once per object, pass it to `fill`/`check`).
    pub fn key(&self, name: &str) -> u64 {
        name_key(self.seed, name)
    }

    /// Random-stream key of block `b` of the object with key `k`.
    #[inline]
    fn block_key(&self, k: u64, b: u64) -> u64 {
        if self.dedup > 1.0 {
            // Unique when a multiple of D falls in (p, p+1]: exactly 1/D of the positions.
            let phase = (k >> 40) as f64;
            let p = b as f64 + phase;
            let unique = ((p + 1.0) / self.dedup).floor() > (p / self.dedup).floor();
            if !unique {
                let set = mix(k, b.wrapping_add(0x5e75)) % DUP_SETS;
                return mix(mix(self.seed, 0xd0d0_d0d0), set);
            }
        }
        mix(k, b)
    }

    /// Write block `b` (or its first `out.len()` bytes) of object `k` into `out`.
    #[inline]
    fn block_into(&self, k: u64, b: u64, out: &mut [u8]) {
        match self.fill {
            Fill::Zero => out.fill(0),
            Fill::Pattern => {
                let base = b * self.block as u64;
                pattern_fill(base, out);
            }
            Fill::Random => {
                let r = self.random_len.min(out.len());
                random_fill(self.block_key(k, b), &mut out[..r]);
                out[r..].fill(0);
            }
        }
    }

    /// Content bytes `[offset, offset + out.len())` of object `k`.
    pub fn fill(&self, k: u64, offset: u64, out: &mut [u8]) {
        let bs = self.block as u64;
        let mut pos = 0usize;
        let mut scratch: Vec<u8> = Vec::new();
        while pos < out.len() {
            let abs = offset + pos as u64;
            let b = abs / bs;
            let within = (abs % bs) as usize;
            let n = (self.block - within).min(out.len() - pos);
            if within == 0 {
                self.block_into(k, b, &mut out[pos..pos + n]);
            } else {
                scratch.resize(self.block, 0);
                self.block_into(k, b, &mut scratch);
                out[pos..pos + n].copy_from_slice(&scratch[within..within + n]);
            }
            pos += n;
        }
    }

    /// The whole content of `name` at `size` bytes, as a PUT sends it.
    pub fn object(&self, name: &str, size: u64) -> Bytes {
        self.object_in(name, size, &mut None)
    }

    /// [`Generator::object`] written into `spare` (a buffer an earlier PUT gave back) when it is
    /// large enough: a reused buffer is already mapped, so no page faults and no zeroing.
    pub fn object_in(&self, name: &str, size: u64, spare: &mut Option<BytesMut>) -> Bytes {
        let n = size as usize;
        let mut buf = match spare.take().filter(|b| b.capacity() >= n) {
            Some(mut b) => {
                if b.len() < n {
                    b.resize(n, 0);
                } else {
                    b.truncate(n);
                }
                if self.fill == Fill::Zero {
                    b.fill(0);
                }
                b
            }
            None => BytesMut::zeroed(n),
        };
        if self.fill != Fill::Zero {
            self.fill(self.key(name), 0, &mut buf);
        }
        buf.freeze()
    }
}

fn pattern_fill(base: u64, out: &mut [u8]) {
    let mut words = out.chunks_exact_mut(8);
    let mut o = base;
    for w in &mut words {
        w.copy_from_slice(&o.to_le_bytes());
        o += 8;
    }
    let rest = words.into_remainder();
    let n = rest.len();
    rest.copy_from_slice(&o.to_le_bytes()[..n]);
}

/// Checks the chunks of one object as they arrive against what the generator made.
pub struct Checker<'g> {
    gen: &'g Generator,
    key: u64,
    buf: Vec<u8>,
    /// First differing byte offset found, if any.
    pub mismatch: Option<u64>,
}

impl<'g> Checker<'g> {
    pub fn new(gen: &'g Generator, name: &str, buf: Vec<u8>) -> Self {
        Checker { gen, key: gen.key(name), buf, mismatch: None }
    }

    /// Compare `data`, found at byte `offset` of the object.
    pub fn check(&mut self, offset: u64, data: &[u8]) {
        if self.mismatch.is_some() || data.is_empty() {
            return;
        }
        if self.gen.fill == Fill::Zero {
            if let Some(i) = data.iter().position(|&x| x != 0) {
                self.mismatch = Some(offset + i as u64);
            }
            return;
        }
        // Compare a block-sized piece at a time so the reference stays in cache.
        let step = self.gen.block.max(64 * 1024);
        let mut pos = 0usize;
        while pos < data.len() {
            let n = step.min(data.len() - pos);
            self.buf.resize(n, 0);
            self.gen.fill(self.key, offset + pos as u64, &mut self.buf[..n]);
            if self.buf[..n] != data[pos..pos + n] {
                let i = self.buf[..n].iter().zip(&data[pos..pos + n]).position(|(a, b)| a != b).unwrap_or(0);
                self.mismatch = Some(offset + (pos + i) as u64);
                return;
            }
            pos += n;
        }
    }

    /// The scratch buffer back, for the next object.
    pub fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn spec(fill: Fill, d: f64, c: f64) -> DataSpec {
        DataSpec { fill, dedup_factor: d, compress_factor: c, block_size: 4096 }
    }

    #[test]
    fn content_is_a_function_of_name_and_offset() {
        let g = Generator::new(7, &spec(Fill::Random, 1.0, 1.0));
        let a = g.object("data/x.dat", 100_000);
        assert_eq!(a, g.object("data/x.dat", 100_000));
        assert_ne!(a, g.object("data/y.dat", 100_000));
        assert_ne!(a, Generator::new(8, &spec(Fill::Random, 1.0, 1.0)).object("data/x.dat", 100_000));
        // A shorter object is a prefix; any range regenerates the same bytes.
        assert_eq!(&a[..5000], &g.object("data/x.dat", 5000)[..]);
        let mut part = vec![0u8; 9999];
        g.fill(g.key("data/x.dat"), 12_345, &mut part);
        assert_eq!(&a[12_345..12_345 + 9999], &part[..]);
    }

    #[test]
    fn checker_finds_the_first_bad_byte() {
        let g = Generator::new(1, &spec(Fill::Random, 2.0, 2.0));
        let mut a = g.object("k", 300_000).to_vec();
        let mut c = Checker::new(&g, "k", Vec::new());
        c.check(0, &a[..70_000]);
        c.check(70_000, &a[70_000..]);
        assert_eq!(c.mismatch, None);
        a[123_456] ^= 1;
        let mut c = Checker::new(&g, "k", Vec::new());
        c.check(100_000, &a[100_000..200_000]);
        assert_eq!(c.mismatch, Some(123_456));
        let mut c = Checker::new(&g, "other", Vec::new());
        c.check(0, &a[..10]);
        assert_eq!(c.mismatch, Some(0));
    }

    #[test]
    fn zero_and_pattern() {
        let z = Generator::new(1, &spec(Fill::Zero, 1.0, 1.0));
        assert!(z.object("a", 10_000).iter().all(|&b| b == 0));
        let p = Generator::new(1, &spec(Fill::Pattern, 1.0, 1.0));
        let o = p.object("a", 10_004);
        assert_eq!(u64::from_le_bytes(o[8192..8200].try_into().unwrap()), 8192);
        assert_eq!(o.len(), 10_004);
        let mut c = Checker::new(&p, "b", Vec::new());
        c.check(0, &o);
        assert_eq!(c.mismatch, None, "pattern does not depend on the name");
    }

    #[test]
    fn unique_blocks_are_one_in_d_across_small_and_large_objects() {
        for d in [2.0, 4.0, 3.5] {
            let g = Generator::new(3, &spec(Fill::Random, d, 1.0));
            for (objects, size) in [(1usize, 16usize << 20), (4096, 4096)] {
                let mut seen = HashSet::new();
                let mut total = 0usize;
                for i in 0..objects {
                    let o = g.object(&format!("obj-{i}"), size as u64);
                    for b in o.chunks(4096) {
                        seen.insert(b.to_vec());
                        total += 1;
                    }
                }
                let ratio = seen.len() as f64 / total as f64;
                assert!((ratio * d - 1.0).abs() < 0.05, "D={d} {objects}×{size}: unique fraction {ratio}");
            }
        }
    }
}
