//! The clock of one request. Its start is read from the system's monotonic clock (`Instant`); its
//! first byte and its end are the start plus what the CPU's time-stamp counter counted since,
//! where the kernel itself keeps time with that counter (clocksource `tsc`: the kernel checked
//! that it runs at a constant rate and in step on every core), calibrated once per process
//! against the monotonic clock. Elsewhere, or with `SAI3_CLOCK=monotonic` in the environment,
//! every instant is read from `Instant`.
//!
//! Why: a GET of a 4 KiB file from the page cache costs ~3 µs of system calls, and reading the
//! monotonic clock costs ~50 ns (the vDSO's data is out of the cache after the kernel's copy);
//! three reads per request were a twentieth of it. A counter read is ~20 ns and touches no
//! memory. Only the offsets within one request come from the counter, so a calibration error
//! (a few parts per million) scales a request's latency by that much and never accumulates over
//! a run; fio's default clock on x86 is the same counter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Nanoseconds per counter tick as a 32.32 fixed-point number; 0: the counter is not used.
static SCALE: OnceLock<u64> = OnceLock::new();

/// Calibrate the counter against the monotonic clock, once per process (~10 ms, the first time);
/// whether the counter is used. Call it before the workers start: a [`Stopwatch`] started
/// before it runs the calibration itself.
pub fn calibrate() -> bool {
    *SCALE.get_or_init(|| {
        if std::env::var("SAI3_CLOCK").is_ok_and(|v| v == "monotonic") {
            return 0;
        }
        measure().unwrap_or(0)
    }) != 0
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn counter() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86_64 (user mode may read it unless the kernel
    // forbids it, which it does not where the clocksource is `tsc`).
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn counter() -> u64 {
    0
}

/// The counter's scale, or `None` when the kernel does not keep time with it or the measurement
/// is implausible.
fn measure() -> Option<u64> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let source = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource").ok()?;
    if source.trim() != "tsc" {
        return None;
    }
    // A counter reading and an instant taken together: of five tries, the one whose two counter
    // readings around the clock read are closest, paired with their midpoint.
    let pair = || {
        let mut best = (u64::MAX, 0u64, Instant::now());
        for _ in 0..5 {
            let a = counter();
            let t = Instant::now();
            let b = counter();
            if b >= a && b - a < best.0 {
                best = (b - a, a + (b - a) / 2, t);
            }
        }
        (best.1, best.2)
    };
    let (c0, t0) = pair();
    std::thread::sleep(Duration::from_millis(10));
    let (c1, t1) = pair();
    let ticks = c1.checked_sub(c0).filter(|&t| t > 0)? as u128;
    let ns = t1.duration_since(t0).as_nanos();
    let scale = (ns << 32) / ticks;
    // A counter between 100 MHz and 20 GHz: 0.05 to 10 ns a tick.
    ((1u128 << 32) / 20..=(10u128 << 32)).contains(&scale).then_some(scale as u64)
}

/// The clock of one request: started once, then read for its first byte and its end.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    start: Instant,
    at: u64,
    scale: u64,
}

impl Stopwatch {
    /// Start now.
    #[inline]
    pub fn start() -> Stopwatch {
        let scale = match SCALE.get() {
            Some(&s) => s,
            None => {
                calibrate();
                SCALE.get().copied().unwrap_or(0)
            }
        };
        Stopwatch::with_scale(scale)
    }

    #[inline]
    fn with_scale(scale: u64) -> Stopwatch {
        let start = Instant::now();
        Stopwatch { start, at: if scale != 0 { counter() } else { 0 }, scale }
    }

    /// When it was started.
    #[inline]
    pub fn started(&self) -> Instant {
        self.start
    }

    /// The time since the start.
    #[inline]
    pub fn elapsed(&self) -> Duration {
        if self.scale == 0 {
            return self.start.elapsed();
        }
        // Counters of different cores are in step where the kernel uses them; a reading below
        // the start would be one of a few ticks at most: none.
        let ticks = counter().saturating_sub(self.at);
        Duration::from_nanos(((ticks as u128 * self.scale as u128) >> 32) as u64)
    }

    /// The instant now: the start plus [`Self::elapsed`].
    #[inline]
    pub fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
}

/// When the first byte of a GET's body came, on the request's stopwatch: the first stamp wins
/// (the parts of one GET read in parallel share it).
#[derive(Debug)]
pub struct FirstByte {
    watch: Stopwatch,
    /// Nanoseconds after the start + 1; 0: no byte yet.
    ns: AtomicU64,
}

impl FirstByte {
    pub fn new(watch: Stopwatch) -> FirstByte {
        FirstByte { watch, ns: AtomicU64::new(0) }
    }

    /// Stamp now, unless a stamp is there.
    #[inline]
    pub fn stamp(&self) {
        if self.ns.load(Ordering::Relaxed) == 0 {
            let n = self.watch.elapsed().as_nanos() as u64 + 1;
            let _ = self.ns.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// The stamp, if there is one.
    pub fn get(&self) -> Option<Instant> {
        match self.ns.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.watch.started() + Duration::from_nanos(n - 1)),
        }
    }

    /// Forget the stamp (a new attempt of the request).
    pub fn reset(&self) {
        self.ns.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the counter is used, its instants agree with the monotonic clock's to within a few
    /// microseconds over 50 ms (a calibration error of 1e-4 would be 5 µs), and they never go
    /// backwards; without it they are the monotonic clock's.
    #[test]
    fn the_stopwatch_agrees_with_the_system_clock() {
        let used = calibrate();
        let scale = *SCALE.get().unwrap();
        assert_eq!(used, scale != 0);
        if cfg!(target_arch = "x86_64")
            && std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
                .is_ok_and(|s| s.trim() == "tsc")
            && std::env::var("SAI3_CLOCK").is_err()
        {
            assert!(used, "the kernel keeps time with the counter, so sai3 should");
        }
        for w in [Stopwatch::with_scale(scale), Stopwatch::with_scale(0)] {
            let mut last = w.started();
            for _ in 0..1000 {
                let t = w.now();
                assert!(t >= last);
                last = t;
            }
            std::thread::sleep(Duration::from_millis(50));
            // Bracket the stopwatch's reading between two readings of the monotonic clock.
            let before = Instant::now();
            let t = w.now();
            let after = Instant::now();
            let slack = Duration::from_micros(20);
            assert!(t + slack >= before && t <= after + slack, "{:?} not within {:?}..{:?}", t, before, after);
        }
    }

    #[test]
    fn the_first_stamp_wins_until_reset() {
        let f = FirstByte::new(Stopwatch::start());
        assert_eq!(f.get(), None);
        f.stamp();
        let first = f.get().expect("stamped");
        std::thread::sleep(Duration::from_millis(2));
        f.stamp();
        assert_eq!(f.get(), Some(first));
        assert!(first >= f.watch.started() && first <= Instant::now());
        f.reset();
        assert_eq!(f.get(), None);
        f.stamp();
        assert!(f.get().unwrap() >= first + Duration::from_millis(2));
    }
}
