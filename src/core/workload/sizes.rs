//! Drawing object sizes from a [`SizeSpec`].

use rand::Rng;

use crate::core::config::SizeSpec;

/// One size in bytes drawn from `spec`.
pub fn sample_size<R: Rng>(spec: &SizeSpec, rng: &mut R) -> u64 {
    match *spec {
        SizeSpec::Fixed(n) => n,
        SizeSpec::Uniform { min, max } => {
            if max <= min {
                min
            } else {
                rng.random_range(min..=max)
            }
        }
        SizeSpec::Lognormal { mean, std_dev, min, max } => {
            // Parameters of the underlying normal from the desired mean and deviation.
            let mean = mean.max(1.0);
            let var = std_dev * std_dev;
            let sigma2 = (1.0 + var / (mean * mean)).ln();
            let mu = mean.ln() - sigma2 / 2.0;
            let z = standard_normal(rng);
            let v = (mu + sigma2.sqrt() * z).exp();
            (v.round() as u64).clamp(min, max.max(min))
        }
    }
}

/// Box–Muller transform.
fn standard_normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn fixed_and_uniform_bounds() {
        let mut rng = SmallRng::seed_from_u64(3);
        assert_eq!(sample_size(&SizeSpec::Fixed(1000), &mut rng), 1000);
        let spec = SizeSpec::Uniform { min: 1_000_000, max: 10_000_000 };
        let v: Vec<u64> = (0..10_000).map(|_| sample_size(&spec, &mut rng)).collect();
        assert!(v.iter().all(|&x| (1_000_000..=10_000_000).contains(&x)));
        let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
        assert!((5_300_000.0..5_700_000.0).contains(&mean), "{mean}");
    }

    #[test]
    fn lognormal_mean_and_clamp() {
        let mut rng = SmallRng::seed_from_u64(9);
        let spec = SizeSpec::Lognormal { mean: 100_000.0, std_dev: 30_000.0, min: 1024, max: 1_000_000 };
        let v: Vec<u64> = (0..50_000).map(|_| sample_size(&spec, &mut rng)).collect();
        assert!(v.iter().all(|&x| (1024..=1_000_000).contains(&x)));
        let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
        assert!((97_000.0..103_000.0).contains(&mean), "{mean}");
    }
}
