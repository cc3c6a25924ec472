//! CPU use of the load host from `/proc/stat` deltas (user, system, iowait as % of all cores).
//! On systems without `/proc/stat` every sample is zero.

use super::outcome::CpuSample;

/// Jiffies counters of the aggregate `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    user: u64,
    system: u64,
    iowait: u64,
    total: u64,
}

fn read() -> Option<Counters> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse(text.lines().next()?)
}

fn parse(line: &str) -> Option<Counters> {
    let mut it = line.split_whitespace();
    if it.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = it.filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal ...
    if v.len() < 5 {
        return None;
    }
    let total = v.iter().take(8).sum();
    Some(Counters {
        user: v[0] + v[1],
        system: v[2] + v.get(5).unwrap_or(&0) + v.get(6).unwrap_or(&0),
        iowait: v[4],
        total,
    })
}

/// Samples CPU use since the previous sample (or since creation). A clone samples from the same
/// start (one read of `/proc/stat` for two samplers: it costs tens of µs, and at a fleet's start
/// instant every agent reads it at once).
#[derive(Clone)]
pub struct CpuSampler {
    last: Option<Counters>,
}

impl CpuSampler {
    pub fn new() -> Self {
        CpuSampler { last: read() }
    }

    /// CPU use since the previous call, in percent of all cores.
    pub fn sample(&mut self) -> CpuSample {
        let now = read();
        let out = match (self.last, now) {
            (Some(a), Some(b)) if b.total > a.total => {
                let t = (b.total - a.total) as f64;
                CpuSample {
                    user_pct: 100.0 * b.user.saturating_sub(a.user) as f64 / t,
                    system_pct: 100.0 * b.system.saturating_sub(a.system) as f64 / t,
                    iowait_pct: 100.0 * b.iowait.saturating_sub(a.iowait) as f64 / t,
                }
            }
            _ => CpuSample::default(),
        };
        if now.is_some() {
            self.last = now;
        }
        out
    }
}

impl Default for CpuSampler {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_line() {
        let c = parse("cpu  100 5 50 1000 20 3 2 0 0 0").unwrap();
        assert_eq!(c.user, 105);
        assert_eq!(c.system, 55);
        assert_eq!(c.iowait, 20);
        assert_eq!(c.total, 1180);
        assert!(parse("cpu0 1 2 3 4 5").is_none());
    }

    #[test]
    fn busy_loop_shows_user_time() {
        let mut s = CpuSampler::new();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(200) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let c = s.sample();
        assert!(c.user_pct > 0.0, "{c:?}");
        assert!(c.user_pct + c.system_pct + c.iowait_pct <= 100.0 + 1e-9);
    }
}
