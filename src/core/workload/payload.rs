//! Payload data for PUTs, generated once per run so that producing data is never the bottleneck:
//! a pool of random bytes from which each PUT takes a window at a random offset (zero-copy), or
//! zeros for `fill: zero`. Objects larger than the pool are assembled from several windows.

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::core::config::Fill;

/// Size of the random pool, in bytes.
const POOL: usize = 8 << 20;

/// Shared payload source (cheap to clone).
#[derive(Clone)]
pub struct Payload {
    random: Bytes,
    zeros: Bytes,
}

impl Payload {
    pub fn new(seed: u64) -> Self {
        let mut buf = vec![0u8; 2 * POOL];
        SmallRng::seed_from_u64(seed).fill_bytes(&mut buf);
        Payload { random: Bytes::from(buf), zeros: Bytes::from(vec![0u8; POOL]) }
    }

    /// `size` bytes of data of the given kind; windows start at random offsets.
    pub fn make<R: Rng>(&self, size: u64, fill: Fill, rng: &mut R) -> Bytes {
        let size = size as usize;
        let src = match fill {
            Fill::Random => &self.random,
            Fill::Zero => &self.zeros,
        };
        let window = src.len() - POOL;
        if size <= POOL {
            let off = if window == 0 { 0 } else { rng.random_range(0..window) };
            return src.slice(off..off + size);
        }
        let mut out = BytesMut::with_capacity(size);
        while out.len() < size {
            let n = (size - out.len()).min(POOL);
            let off = if window == 0 { 0 } else { rng.random_range(0..window) };
            out.extend_from_slice(&src[off..off + n]);
        }
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_fill() {
        let p = Payload::new(1);
        let mut rng = SmallRng::seed_from_u64(2);
        let a = p.make(65536, Fill::Random, &mut rng);
        let b = p.make(65536, Fill::Random, &mut rng);
        assert_eq!(a.len(), 65536);
        assert_ne!(a, b, "different windows");
        assert!(a.iter().any(|&x| x != 0));
        let z = p.make(1000, Fill::Zero, &mut rng);
        assert!(z.iter().all(|&x| x == 0));
        assert_eq!(p.make(0, Fill::Random, &mut rng).len(), 0);
        let big = p.make((POOL as u64) * 2 + 5, Fill::Random, &mut rng);
        assert_eq!(big.len(), POOL * 2 + 5);
    }
}
