//! The objects a GET/STAT/DELETE picks from: resolved once at the start by listing, or (with
//! `from: written`) growing with what the run's own PUTs wrote.

use std::borrow::Cow;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rand::Rng;

use crate::core::store::Store;
use crate::core::workload::{glob_match, Generator};

/// A key and the object's size in bytes, as listed.
pub type Entry = (Arc<str>, u64);

/// Keys matching one pattern. Read-only unless a DELETE op draws from it, in which case
/// picked-for-delete keys leave the pool.
pub enum KeyPool {
    Fixed(Vec<Entry>),
    Shrinking(Mutex<Vec<Entry>>),
    /// `path_selection: partitioned`: this agent's share (`own`), and with probability `overlap`
    /// any object of the pattern (`all`). Read-only.
    Partitioned {
        own: Vec<Entry>,
        all: Vec<Entry>,
        overlap: f64,
    },
}

impl KeyPool {
    pub fn new(keys: Vec<Entry>, shrinking: bool) -> Self {
        if shrinking {
            KeyPool::Shrinking(Mutex::new(keys))
        } else {
            KeyPool::Fixed(keys)
        }
    }

    /// Keys of which agent `i` of `n` mostly takes those with index `k mod n = i`, and with
    /// probability `overlap` any of them.
    pub fn partitioned(keys: Vec<Entry>, i: usize, n: usize, overlap: f64) -> Self {
        let own = keys.iter().enumerate().filter(|(k, _)| k % n == i).map(|(_, e)| e.clone()).collect();
        KeyPool::Partitioned { own, all: keys, overlap }
    }

    /// A key chosen uniformly at random, left in the pool.
    #[inline]
    pub fn pick<R: Rng>(&self, rng: &mut R) -> Option<Entry> {
        self.pick_ref(rng).map(|(k, n)| (k.into_owned(), n))
    }

    /// [`Self::pick`] without taking a reference to the key where the pool is read-only (its
    /// counter is shared by every worker): borrowed from the pool, or a clone of it.
    #[inline]
    pub fn pick_ref<R: Rng>(&self, rng: &mut R) -> Option<(Cow<'_, Arc<str>>, u64)> {
        let v = match self {
            KeyPool::Fixed(v) => v,
            KeyPool::Partitioned { own, all, overlap } => {
                if own.is_empty() || rng.random::<f64>() < *overlap {
                    all
                } else {
                    own
                }
            }
            KeyPool::Shrinking(m) => {
                let v = m.lock();
                return (!v.is_empty()).then(|| {
                    let (k, n) = &v[rng.random_range(0..v.len())];
                    (Cow::Owned(k.clone()), *n)
                });
            }
        };
        (!v.is_empty()).then(|| {
            let (k, n) = &v[rng.random_range(0..v.len())];
            (Cow::Borrowed(k), *n)
        })
    }

    /// A key chosen uniformly at random and removed from the pool (DELETE).
    pub fn take<R: Rng>(&self, rng: &mut R) -> Option<Entry> {
        match self {
            KeyPool::Fixed(v) => (!v.is_empty()).then(|| v[rng.random_range(0..v.len())].clone()),
            KeyPool::Partitioned { .. } => self.pick(rng),
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

/// Where a written object lives and what it holds: the PUT op's store and generator.
pub struct Source {
    pub store: Arc<Store>,
    pub data: Generator,
}

/// One object a PUT (or directory a MKDIR) of this run wrote.
#[derive(Clone)]
pub struct Written {
    pub key: Arc<str>,
    pub size: u64,
    pub src: Arc<Source>,
    pub dir: bool,
    /// The counter-named PUT that wrote it (workload job, op index, worker, counter), for
    /// cleanup to skip it once a `from: written` DELETE of the same stage removed it; None for
    /// names not derived from a counter.
    pub origin: Option<(u64, u32, u32, u64)>,
}

/// What a `from: written` pool takes: objects (GET, DELETE), directories (RMDIR), or both (STAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    Files,
    Dirs,
    Both,
}

/// The objects this run's PUTs wrote so far that a `from: written` op draws from: those of one
/// store matching a pattern, or all of them. Grows as PUTs succeed; a DELETE takes from it.
pub struct WrittenPool {
    filter: Option<(Arc<Store>, String)>,
    takes: Takes,
    objects: RwLock<Vec<Written>>,
}

impl WrittenPool {
    pub fn new(filter: Option<(Arc<Store>, String)>, takes: Takes) -> Self {
        WrittenPool { filter, takes, objects: RwLock::new(Vec::new()) }
    }

    /// Same store, pattern and kind: ops that share them share the pool.
    pub fn same_filter(&self, filter: &Option<(Arc<Store>, String)>, takes: Takes) -> bool {
        takes == self.takes
            && match (&self.filter, filter) {
                (None, None) => true,
                (Some((a, p)), Some((b, q))) => Arc::ptr_eq(a, b) && p == q,
                _ => false,
            }
    }

    /// Whether an object (or directory) written to `store` under `key` belongs here.
    pub fn accepts(&self, store: &Arc<Store>, key: &str, dir: bool) -> bool {
        let kind = match self.takes {
            Takes::Files => !dir,
            Takes::Dirs => dir,
            Takes::Both => true,
        };
        kind && match &self.filter {
            None => true,
            Some((s, pattern)) => Arc::ptr_eq(s, store) && glob_match(pattern, key),
        }
    }

    /// Whether objects written to `store` may belong here (the pattern is checked per object).
    pub fn may_accept(&self, store: &Arc<Store>) -> bool {
        self.filter.as_ref().is_none_or(|(s, _)| Arc::ptr_eq(s, store))
    }

    /// Add `w` when it belongs here.
    pub fn offer(&self, w: &Written) {
        if self.accepts(&w.src.store, &w.key, w.dir) {
            self.objects.write().push(w.clone());
        }
    }

    /// An object chosen uniformly at random, left in the pool.
    pub fn pick<R: Rng>(&self, rng: &mut R) -> Option<Written> {
        let v = self.objects.read();
        (!v.is_empty()).then(|| v[rng.random_range(0..v.len())].clone())
    }

    /// An object chosen uniformly at random and removed from the pool (DELETE).
    pub fn take<R: Rng>(&self, rng: &mut R) -> Option<Written> {
        let mut v = self.objects.write();
        if v.is_empty() {
            return None;
        }
        let i = rng.random_range(0..v.len());
        Some(v.swap_remove(i))
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

    /// `pick_ref` draws what `pick` draws from the same seed (a seeded run picks the same keys),
    /// borrowing from read-only pools and cloning from a shrinking one.
    #[test]
    fn pick_ref_draws_what_pick_draws() {
        let keys: Vec<Entry> = (0..50).map(|i| (Arc::from(format!("k{i}")), i)).collect();
        for pool in [
            KeyPool::new(keys.clone(), false),
            KeyPool::new(keys.clone(), true),
            KeyPool::partitioned(keys.clone(), 0, 3, 0.4),
        ] {
            let (mut a, mut b) = (SmallRng::seed_from_u64(3), SmallRng::seed_from_u64(3));
            for _ in 0..1000 {
                let (k, n) = pool.pick(&mut a).unwrap();
                let (r, m) = pool.pick_ref(&mut b).unwrap();
                assert_eq!((&*k, n), (&**r, m));
                assert_eq!(matches!(r, Cow::Borrowed(_)), !matches!(pool, KeyPool::Shrinking(_)));
            }
        }
        assert!(KeyPool::new(Vec::new(), false).pick_ref(&mut SmallRng::seed_from_u64(1)).is_none());
    }

    /// `partitioned`: agent 1 of 2 picks its own (odd) keys, and with probability `overlap` any
    /// key, so `overlap / 2` of its picks are the other agent's; 0 is exclusive, 1 is random.
    #[test]
    fn partitioned_pool_mostly_picks_its_own_share() {
        let keys: Vec<Entry> = (0..100).map(|i| (Arc::from(format!("k{i:03}")), i)).collect();
        let mut rng = SmallRng::seed_from_u64(7);
        for (overlap, want) in [(0.0, 0.0), (0.3, 0.15), (1.0, 0.5)] {
            let pool = KeyPool::partitioned(keys.clone(), 1, 2, overlap);
            let n = 100_000;
            let foreign = (0..n).filter(|_| pool.pick(&mut rng).unwrap().1.is_multiple_of(2)).count();
            let got = foreign as f64 / n as f64;
            assert!((got - want).abs() < 0.01, "overlap {overlap}: {got} of the picks were foreign, want {want}");
        }
    }
}
