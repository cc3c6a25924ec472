//! The objects a GET/STAT/DELETE picks from, resolved once at the start by listing.

use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;

/// A key and the object's size in bytes, as listed.
pub type Entry = (Arc<str>, u64);

/// Keys matching one pattern. Read-only unless a DELETE op draws from it, in which case
/// picked-for-delete keys leave the pool.
pub enum KeyPool {
    Fixed(Vec<Entry>),
    Shrinking(Mutex<Vec<Entry>>),
}

impl KeyPool {
    pub fn new(keys: Vec<Entry>, shrinking: bool) -> Self {
        if shrinking {
            KeyPool::Shrinking(Mutex::new(keys))
        } else {
            KeyPool::Fixed(keys)
        }
    }

    /// A key chosen uniformly at random, left in the pool.
    #[inline]
    pub fn pick<R: Rng>(&self, rng: &mut R) -> Option<Entry> {
        match self {
            KeyPool::Fixed(v) => (!v.is_empty()).then(|| v[rng.random_range(0..v.len())].clone()),
            KeyPool::Shrinking(m) => {
                let v = m.lock();
                (!v.is_empty()).then(|| v[rng.random_range(0..v.len())].clone())
            }
        }
    }

    /// A key chosen uniformly at random and removed from the pool (DELETE).
    pub fn take<R: Rng>(&self, rng: &mut R) -> Option<Entry> {
        match self {
            KeyPool::Fixed(v) => (!v.is_empty()).then(|| v[rng.random_range(0..v.len())].clone()),
            KeyPool::Shrinking(m) => {
                let mut v = m.lock();
                if v.is_empty() {
                    None
                } else {
                    let i = rng.random_range(0..v.len());
                    Some(v.swap_remove(i))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn shrinking_pool_empties() {
        let keys: Vec<Entry> = (0..10).map(|i| (Arc::from(format!("k{i}")), i)).collect();
        let pool = KeyPool::new(keys, true);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        while let Some(k) = pool.take(&mut rng) {
            assert!(seen.insert(k.0), "a deleted key is never picked again");
        }
        assert_eq!(seen.len(), 10);
        assert!(pool.pick(&mut rng).is_none());
    }
}
