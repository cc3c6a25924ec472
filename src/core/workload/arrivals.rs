//! Open-loop arrival schedules: when each operation of a worker is meant to start. `fixed` is a
//! metronome; `uniform` and `exponential` draw the gaps from that distribution (exponential gaps
//! are Poisson arrivals). Random gaps are drawn in blocks of [`BLOCK`] and scaled so that each
//! block spans exactly `BLOCK` periods: the arrivals within a block are those of a Poisson (or
//! uniform-gap) process conditioned on its count, and the achieved mean rate is the target's,
//! not a random walk around it.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Gaps per block of a random schedule.
pub const BLOCK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Fixed,
    Uniform,
    Exponential,
}

impl Arrival {
    pub fn name(self) -> &'static str {
        match self {
            Arrival::Fixed => "fixed",
            Arrival::Uniform => "uniform",
            Arrival::Exponential => "exponential",
        }
    }
}

/// One worker's schedule: offsets in seconds from the start, increasing.
pub struct Schedule {
    period: f64,
    phase: f64,
    arrival: Arrival,
    rng: SmallRng,
    block: Vec<f64>,
    at: usize,
    block_start: f64,
    k: u64,
}

impl Schedule {
    /// `period`: seconds between this worker's operations on average; `phase`: offset of its
    /// first (workers are spread over the first period).
    pub fn new(period: f64, phase: f64, arrival: Arrival, seed: u64) -> Self {
        Schedule {
            period,
            phase,
            arrival,
            rng: SmallRng::seed_from_u64(seed),
            block: Vec::with_capacity(BLOCK),
            at: BLOCK,
            block_start: 0.0,
            k: 0,
        }
    }

    fn refill(&mut self) {
        let gaps: Vec<f64> = (0..BLOCK)
            .map(|_| match self.arrival {
                // 1 - u is in (0, 1]: the logarithm is finite.
                Arrival::Exponential => -(1.0 - self.rng.random::<f64>()).ln(),
                Arrival::Uniform => 2.0 * self.rng.random::<f64>(),
                Arrival::Fixed => 1.0,
            })
            .collect();
        let scale = BLOCK as f64 * self.period / gaps.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        self.block.clear();
        let mut t = self.block_start;
        for g in gaps {
            self.block.push(t);
            t += g * scale;
        }
        self.block_start = t;
        self.at = 0;
    }

    /// The intended start of the next operation, seconds from the start of the phase.
    pub fn next_offset(&mut self) -> f64 {
        if self.arrival == Arrival::Fixed {
            let t = self.phase + self.period * self.k as f64;
            self.k += 1;
            return t;
        }
        if self.at == BLOCK {
            self.refill();
        }
        let t = self.phase + self.block[self.at];
        self.at += 1;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(a: Arrival, n: usize) -> Vec<f64> {
        let mut s = Schedule::new(0.01, 0.0, a, 7);
        let times: Vec<f64> = (0..=n).map(|_| s.next_offset()).collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn mean_cv(g: &[f64]) -> (f64, f64) {
        let m = g.iter().sum::<f64>() / g.len() as f64;
        let var = g.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / g.len() as f64;
        (m, var.sqrt() / m)
    }

    #[test]
    fn gaps_have_the_distribution_asked_for_and_the_exact_mean() {
        for (a, cv) in [(Arrival::Fixed, 0.0), (Arrival::Uniform, 1.0 / 3f64.sqrt()), (Arrival::Exponential, 1.0)] {
            let g = gaps(a, 64 * BLOCK);
            let (m, c) = mean_cv(&g);
            assert!((m - 0.01).abs() < 1e-9, "{a:?}: mean gap {m}");
            assert!((c - cv).abs() < 0.06, "{a:?}: coefficient of variation {c}, expected about {cv}");
        }
        // Exponential: about e^-1 of the gaps are longer than the mean.
        let g = gaps(Arrival::Exponential, 256 * BLOCK);
        let long = g.iter().filter(|x| **x > 0.01).count() as f64 / g.len() as f64;
        assert!((long - (-1f64).exp()).abs() < 0.02, "{long}");
    }

    #[test]
    fn every_block_spans_exactly_its_periods_and_times_increase() {
        let mut s = Schedule::new(0.5, 0.25, Arrival::Exponential, 3);
        let times: Vec<f64> = (0..(4 * BLOCK + 1)).map(|_| s.next_offset()).collect();
        assert!(times.windows(2).all(|w| w[1] >= w[0]));
        for b in 0..4 {
            let start = times[b * BLOCK];
            assert!((start - (0.25 + b as f64 * BLOCK as f64 * 0.5)).abs() < 1e-9, "block {b} starts at {start}");
        }
    }
}
