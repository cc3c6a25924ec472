//! How fast sai3 makes object content (run by scripts/bench-datagen.sh, in release): GB/s of one
//! thread for each kind of data, with the thread's CPU time, next to a plain memcpy of the same
//! bytes (the ceiling of any generator that writes memory).

use std::time::Instant;

use sai3::core::config::{DataSpec, Fill};
use sai3::core::workload::{Checker, Generator};

const SIZE: usize = 64 << 20;
const ROUNDS: usize = 16;

fn thread_cpu_s() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn measure(name: &str, mut f: impl FnMut(usize)) {
    f(0); // warm up: page in the buffers
    let (t0, c0) = (Instant::now(), thread_cpu_s());
    for r in 1..=ROUNDS {
        f(r);
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu_s() - c0);
    let gb = (SIZE * ROUNDS) as f64 / 1e9;
    println!("{name:<44} {:>7.2} GB/s  {:>5.0} % of one core", gb / wall, 100.0 * cpu / wall);
}

fn main() {
    let mut buf = vec![0u8; SIZE];
    let src = vec![0x5au8; SIZE];
    println!("{:<44} {:>12}  CPU", "one thread, 64 MiB per round", "rate");
    measure("reference: memcpy", |_| {
        buf.copy_from_slice(&src);
        std::hint::black_box(&buf);
    });
    let specs = [
        ("sai3 fill: random", DataSpec::default()),
        ("sai3 random, compress_factor 2", DataSpec { compress_factor: 2.0, ..DataSpec::default() }),
        (
            "sai3 random, dedup_factor 4, compress 2",
            DataSpec { dedup_factor: 4.0, compress_factor: 2.0, ..DataSpec::default() },
        ),
        ("sai3 fill: pattern", DataSpec { fill: Fill::Pattern, ..DataSpec::default() }),
    ];
    for (name, spec) in specs {
        let g = Generator::new(1, &spec);
        measure(name, |r| {
            g.fill(g.key(&format!("obj-{r}")), 0, &mut buf);
            std::hint::black_box(&buf);
        });
    }
    let g = Generator::new(1, &DataSpec::default());
    g.fill(g.key("obj"), 0, &mut buf);
    let mut scratch = Vec::new();
    measure("sai3 verify (regenerate + compare), random", |_| {
        let mut c = Checker::new(&g, "obj", std::mem::take(&mut scratch));
        c.check(0, &buf);
        assert!(c.mismatch.is_none());
        scratch = c.into_buf();
    });
    let g = Generator::new(1, &DataSpec::default());
    measure("sai3 PUT body, new buffer (page faults)", |r| {
        std::hint::black_box(g.object(&format!("obj-{r}"), SIZE as u64));
    });
    // What a worker does from its second PUT on: the body the backend gave back is refilled.
    let mut spare = None;
    measure("sai3 PUT body, reused buffer", |r| {
        let b = g.object_in(&format!("obj-{r}"), SIZE as u64, &mut spare);
        spare = std::hint::black_box(b).try_into_mut().ok();
    });
}
