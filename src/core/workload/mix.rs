//! Weighted choice among the workload's operations.

use rand::Rng;

/// Cumulative weights of the workload entries; picks an entry index in proportion to its weight.
#[derive(Debug, Clone)]
pub struct OpMix {
    cumulative: Vec<u64>,
}

impl OpMix {
    /// `weights` must contain at least one non-zero weight (config validation guarantees it).
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0u64;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += u64::from(w);
                total
            })
            .collect();
        OpMix { cumulative }
    }

    pub fn is_empty(&self) -> bool {
        self.cumulative.last().copied().unwrap_or(0) == 0
    }

    /// Index of the chosen entry.
    #[inline]
    pub fn pick<R: Rng>(&self, rng: &mut R) -> usize {
        let total = *self.cumulative.last().unwrap_or(&0);
        if self.cumulative.len() <= 1 || total == 0 {
            return 0;
        }
        let x = rng.random_range(0..total);
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn proportions_follow_weights() {
        let mix = OpMix::new([70, 20, 0, 10]);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut n = [0u32; 4];
        for _ in 0..100_000 {
            n[mix.pick(&mut rng)] += 1;
        }
        assert_eq!(n[2], 0, "zero weight never picked");
        assert!((69_000..71_000).contains(&n[0]), "{n:?}");
        assert!((19_000..21_000).contains(&n[1]), "{n:?}");
        assert!((9_300..10_700).contains(&n[3]), "{n:?}");
    }

    #[test]
    fn single_entry() {
        let mix = OpMix::new([5]);
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(mix.pick(&mut rng), 0);
        assert!(!mix.is_empty());
        assert!(OpMix::new([]).is_empty());
    }
}
