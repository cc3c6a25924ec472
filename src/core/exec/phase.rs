//! Runs the workers of one phase and closes an interval every `tick`: each worker's recorder is
//! taken, the snapshots merged into one [`IntervalRow`] handed to the observer, and the phase
//! totals are the sum of those rows (so totals equal the sum of intervals by construction).
//! Workers run on their own OS threads when every backend is blocking (local file systems, no
//! thread hop per request), else as tasks of the ambient tokio runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::cpu::CpuSampler;
use super::outcome::{CpuSample, IntervalRow, PhaseResult, StageTag};
use super::placement::{make_private, make_private_credentials, Placement};
use super::rows::RowSink;
use super::run::RunObserver;
use super::spill::{Rows, SpillStore};
use crate::core::metrics::{Snapshot, WorkerRecorder};
use crate::core::oplog::OpLog;
use crate::core::store::uring;

/// The per-worker body of a phase.
pub trait PhaseJob: Send + Sync + 'static {
    /// Run worker `w` to completion, recording into `rec`.
    fn worker(self: Arc<Self>, w: usize, rec: WorkerRecorder) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// The phase starts at `at`: called before the gate opens (jobs with a deadline or a
    /// schedule count from it).
    fn started(&self, _at: Instant) {}
    /// Called after each interval with the interval's snapshot; returning `Some(reason)` stops
    /// the phase (error thresholds).
    fn check(&self, _interval: &Snapshot) -> Option<String> {
        None
    }
}

/// How a phase runs.
pub struct PhaseSpec {
    pub stage: StageTag,
    /// The first part of the phase whose rows are tagged warmup and kept out of the totals.
    pub warmup: Option<Duration>,
    pub workers: usize,
    /// Where the workers run (their own OS threads when every backend blocks).
    pub placement: Placement,
    pub tick: Duration,
    /// Stops the workers; cancelled by the caller (abort) or by `check`.
    pub cancel: CancellationToken,
    /// The process's op-log, when operations are recorded.
    pub oplog: Option<Arc<OpLog>>,
    /// Keep the rows for [`PhaseOutput::intervals`] (else they only go to the observer).
    pub keep_intervals: bool,
    /// Where kept rows go once closed (`None`: memory).
    pub spill: Option<Arc<SpillStore>>,
    /// Start here, not at once: the workers are started first and wait at a gate that opens at
    /// this instant, so that what happens at the instant is only the gate opening (a fleet's
    /// start skew is each agent's wake-up, not its setting up). `None`: the gate opens as soon
    /// as every worker is spawned.
    pub start_at: Option<Instant>,
}

/// Totals and intervals of a finished phase, with the reason it stopped early, if it did.
pub struct PhaseOutput {
    /// Totals of the measured part (after the warmup).
    pub result: PhaseResult,
    /// Totals of the warmup, when the phase had one.
    pub warmup: Option<PhaseResult>,
    pub intervals: Rows,
    pub stopped: Option<String>,
    pub cpu: CpuSample,
    /// When the phase started (its gate opened).
    pub started: SystemTime,
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Run `job` with `spec.workers` workers until they all return. Intervals are `tick` long from
/// the start (and from the end of the warmup, which closes an interval of its own).
pub async fn run_phase(job: Arc<dyn PhaseJob>, spec: PhaseSpec, observer: &dyn RunObserver) -> PhaseOutput {
    let has_warmup = spec.warmup.is_some_and(|w| !w.is_zero());
    let recorders: Vec<WorkerRecorder> = (0..spec.workers)
        .map(|_| match &spec.oplog {
            Some(log) => WorkerRecorder::with_log(log.buffer(&spec.stage.name, has_warmup)),
            None => WorkerRecorder::new(),
        })
        .collect();
    let remaining = Arc::new(AtomicUsize::new(spec.workers));
    let done = Arc::new(Notify::new());
    let finished_at = Arc::new(OnceLock::new());
    let (open, gate) = tokio::sync::watch::channel(false);
    // Every worker waits at the gate: none works before the phase's clock starts, however long
    // spawning the others takes (on a busy machine, spawning next to running workers is slow).
    spawn_workers(&job, &spec, &recorders, &remaining, &done, &finished_at, &gate);
    let (start, start_wall) = match spec.start_at {
        Some(t) => {
            job.started(t);
            open_at(t, &spec.cancel, open).await
        }
        None => {
            let at = (Instant::now(), SystemTime::now());
            job.started(at.0);
            let _ = open.send(true);
            at
        }
    };
    let mut cpu = CpuSampler::new();
    let mut cpu_total = cpu.clone();

    let warm_end = spec.warmup.filter(|w| !w.is_zero()).map(|w| start + w);
    let mut sink = RowSink::with_spill(spec.tick.as_secs_f64(), spec.spill.clone());
    let mut totals = Snapshot::default();
    let mut warm_totals = Snapshot::default();
    let mut stopped = None;
    let mut index = 0u64;
    // Ticks count from the start of the current part (the phase, or what follows the warmup).
    let (mut part_start, mut part_ticks) = (start, 0u32);
    let mut last = start;
    let mut warm_wall = Duration::ZERO;
    loop {
        let in_warmup = warm_end.is_some_and(|w| last < w);
        let mut next_tick = part_start + spec.tick * (part_ticks + 1);
        if let (true, Some(w)) = (in_warmup, warm_end) {
            next_tick = next_tick.min(w);
        }
        if remaining.load(Ordering::Acquire) != 0 {
            let notified = done.notified();
            tokio::select! {
                _ = tokio::time::sleep_until(next_tick.into()) => {}
                _ = notified => {}
            }
        }
        let all_done = remaining.load(Ordering::Acquire) == 0;
        // The phase ends when its last worker did, even if this loop was busy closing an interval
        // then (merging every worker's histograms takes time).
        let now = match (all_done, finished_at.get()) {
            (true, Some(&t)) => t.max(last),
            _ => Instant::now(),
        };
        if !all_done && now < next_tick {
            continue; // a spurious wake-up
        }
        let mut snap = Snapshot::default();
        let closes_warmup = in_warmup && warm_end.is_some_and(|w| now >= w);
        for r in &recorders {
            snap.merge(&if closes_warmup { r.take_ending_warmup() } else { r.take() });
        }
        let row = IntervalRow {
            index,
            stage: if in_warmup { spec.stage.warmup() } else { spec.stage.clone() },
            timestamp_epoch_ms: epoch_ms(start_wall + (now - start)),
            elapsed_s: (now - start).as_secs_f64(),
            duration_s: (now - last).as_secs_f64(),
            snap,
            cpu: cpu.sample(),
            missing_agents: Vec::new(),
            summary: None,
        };
        if stopped.is_none() {
            if let Some(reason) = job.check(&row.snap) {
                stopped = Some(reason);
                spec.cancel.cancel();
            }
        }
        if in_warmup {
            warm_totals.merge(&row.snap);
        } else {
            totals.merge(&row.snap);
        }
        observer.on_interval(&row);
        if spec.keep_intervals {
            sink.push(row);
        }
        index += 1;
        part_ticks += 1;
        if in_warmup && warm_end.is_some_and(|w| now >= w) {
            warm_wall = now - start;
            (part_start, part_ticks) = (now, 0);
        } else if in_warmup {
            warm_wall = now - start;
        }
        last = now;
        if all_done {
            break;
        }
    }
    recorders.iter().for_each(WorkerRecorder::close_log);
    let measured_from = if warm_end.is_some() { start + warm_wall } else { start };
    let wall = last.saturating_duration_since(measured_from);
    let warmup = warm_end.map(|_| PhaseResult {
        stage: spec.stage.warmup(),
        wall: warm_wall,
        totals: warm_totals,
        in_flight_at_end: Vec::new(),
    });
    PhaseOutput {
        result: PhaseResult { stage: spec.stage.clone(), wall, totals, in_flight_at_end: Vec::new() },
        warmup,
        intervals: sink.finish(),
        stopped,
        cpu: cpu_total.sample(),
        started: start_wall,
    }
}

/// How long before a gated start the runtime hands the wait to a thread of its own.
const START_HANDOFF: Duration = Duration::from_millis(50);

/// Wait for the start instant `t` and open the gate of the waiting workers; returns when the
/// gate opened. The runtime's timer (millisecond ticks, and a runtime to turn when it fires)
/// waits until [`START_HANDOFF`] before `t`; a blocking thread sleeps the rest with the kernel's
/// high-resolution timer and opens the gate itself, so at the instant each process wakes one
/// thread, to the microsecond. With many agents on few cores that is what their start skew is
/// made of. Cancelled before the hand-off, the gate opens at once (the workers find the stop).
async fn open_at(
    t: Instant,
    cancel: &CancellationToken,
    open: tokio::sync::watch::Sender<bool>,
) -> (Instant, SystemTime) {
    let handoff = t.checked_sub(START_HANDOFF).unwrap_or(t);
    tokio::select! {
        _ = tokio::time::sleep_until(handoff.into()) => {}
        _ = cancel.cancelled() => {
            let _ = open.send(true);
            return (Instant::now(), SystemTime::now());
        }
    }
    let opened = tokio::task::spawn_blocking(move || {
        // SAFETY: prctl with PR_SET_TIMERSLACK only changes this thread's timer slack (1 ns
        // instead of 50 µs); a failure leaves the default.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        let raised = enter_realtime();
        let now = Instant::now();
        if t > now {
            std::thread::sleep(t - now);
        }
        let at = (Instant::now(), SystemTime::now());
        let _ = open.send(true);
        if let Some(before) = raised {
            leave_realtime(before);
        }
        at
    });
    // Without a blocking thread the sender was dropped with the task: the gate is open.
    opened.await.unwrap_or_else(|_| (Instant::now(), SystemTime::now()))
}

/// Make the calling thread real-time (`SCHED_FIFO`, priority 1) if the process may: root,
/// `CAP_SYS_NICE`, or an `RLIMIT_RTPRIO` above 0. The start thread then runs the moment its timer
/// fires, before every ordinary thread, however busy the cores; on the fair scheduler the first
/// start thread woken on a core is charged for the timer interrupts that wake the others and can
/// end up waiting behind all of them (docs/DISTRIBUTED.md "Start skew", docs/PERFORMANCE.md).
/// Returns the policy to go back to with [`leave_realtime`]; `None` when refused (nothing
/// changed) or when the thread is real-time already.
fn enter_realtime() -> Option<(libc::c_int, libc::sched_param)> {
    let mut before = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_getscheduler/sched_getparam(0, ..) read the calling thread's policy and
    // priority into `before`, which lives across the call.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy < 0 || policy == libc::SCHED_FIFO || policy == libc::SCHED_RR {
        return None;
    }
    // SAFETY: as above.
    if unsafe { libc::sched_getparam(0, &mut before) } != 0 {
        return None;
    }
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler(0, ..) changes only the calling thread's policy, reading `param`;
    // a refusal (EPERM) leaves it as it was.
    (unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0).then_some((policy, before))
}

/// Back to the policy the thread had (its nice value was kept) after [`enter_realtime`], before
/// the thread returns to the runtime's pool of blocking threads.
fn leave_realtime((policy, param): (libc::c_int, libc::sched_param)) {
    // SAFETY: as in `enter_realtime`; leaving a real-time policy is always allowed.
    unsafe { libc::sched_setscheduler(0, policy, &param) };
}

/// Whether this process's start threads can be real-time ([`enter_realtime`]), tried on a thread
/// of its own; an agent says so when it starts.
pub fn realtime_start() -> bool {
    std::thread::spawn(|| enter_realtime().map(leave_realtime).is_some()).join().unwrap_or(false)
}

fn spawn_workers(
    job: &Arc<dyn PhaseJob>,
    spec: &PhaseSpec,
    recorders: &[WorkerRecorder],
    remaining: &Arc<AtomicUsize>,
    done: &Arc<Notify>,
    finished_at: &Arc<OnceLock<Instant>>,
    gate: &tokio::sync::watch::Receiver<bool>,
) {
    // Each worker's run: the gate, then the job's worker, then its count as finished.
    let runs = recorders.iter().enumerate().map(|(w, rec)| {
        let mut gate = gate.clone();
        let job = job.clone();
        let rec = rec.clone();
        let remaining = remaining.clone();
        let done = done.clone();
        let at = finished_at.clone();
        async move {
            // An error (the phase went away) opens it too: the worker then finds the stop.
            let _ = gate.wait_for(|open| *open).await;
            job.worker(w, rec).await;
            if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _ = at.set(Instant::now());
                done.notify_one();
            }
        }
    });
    let placement = spec.placement;
    if placement == Placement::Tasks {
        for run in runs {
            tokio::spawn(run);
        }
        return;
    }
    // The workers of each thread (thread t: workers t, t + n, t + 2n, ...).
    let n = placement.threads(recorders.len());
    let mut groups: Vec<Vec<_>> = (0..n).map(|_| Vec::new()).collect();
    for (w, run) in runs.enumerate() {
        groups[w % n].push(run);
    }
    for (t, group) in groups.into_iter().enumerate() {
        let count = group.len();
        // Counts `count` workers as finished (they could not run).
        let give_up = {
            let (remaining, done) = (remaining.clone(), done.clone());
            move |why: &str| {
                eprintln!("sai3: worker thread {t} {why}");
                if remaining.fetch_sub(count, Ordering::AcqRel) == count {
                    done.notify_one();
                }
            }
        };
        let on_error = give_up.clone();
        let spawned = std::thread::Builder::new().name(format!("sai3-w{t}")).spawn(move || {
            match placement {
                Placement::PrivateThreads => make_private(),
                Placement::Rings => make_private_credentials(),
                _ => {}
            }
            let rt = match placement.worker_runtime() {
                Ok(rt) => rt,
                Err(e) => return on_error(&format!("could not start its runtime: {e}")),
            };
            rt.block_on(async move {
                if placement != Placement::Rings {
                    for run in group {
                        run.await;
                    }
                    return;
                }
                // Without a ring the workers read with blocking calls (the same results).
                let driver = match uring::install(group.len()) {
                    Ok(()) => Some(tokio::spawn(uring::drive())),
                    Err(e) => {
                        eprintln!(
                            "sai3: worker thread {t} has no io_uring ({e}); its workers read with blocking calls"
                        );
                        None
                    }
                };
                let tasks: Vec<_> = group.into_iter().map(tokio::spawn).collect();
                for task in tasks {
                    let _ = task.await;
                }
                if let Some(d) = driver {
                    d.abort();
                }
                uring::uninstall();
            });
            // The workers are done when their futures are: the runtime's teardown is not part
            // of the phase.
            drop(rt);
        });
        if let Err(e) = spawned {
            // Its workers were dropped with the closure: count them here.
            give_up(&format!("could not start: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gate opens at the instant, never before it; a stop before the hand-off opens it at
    /// once; an instant already past opens it at once.
    #[tokio::test]
    async fn the_gate_opens_at_the_instant() {
        let cancel = CancellationToken::new();
        let t = Instant::now() + START_HANDOFF + Duration::from_millis(40);
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let (at, wall) = open_at(t, &cancel, tx).await;
        assert!(at >= t, "opened {:?} before the instant", t - at);
        assert!(at - t < Duration::from_millis(50), "opened {:?} late", at - t);
        assert!(*rx.borrow_and_update());
        assert!(wall <= SystemTime::now());

        let (tx, rx) = tokio::sync::watch::channel(false);
        let t = Instant::now() + Duration::from_secs(30);
        cancel.cancel();
        let (at, _) = open_at(t, &cancel, tx).await;
        assert!(at < t - START_HANDOFF, "a stop opens the gate at once");
        assert!(*rx.borrow());

        let (tx, rx) = tokio::sync::watch::channel(false);
        let past = Instant::now() - Duration::from_millis(5);
        let (at, _) = open_at(past, &CancellationToken::new(), tx).await;
        assert!(at - past < Duration::from_secs(1));
        assert!(*rx.borrow());
    }

    /// The start thread's real-time policy, where the process may have it, is given back before
    /// the thread returns to the pool: policy and nice value as before (a niced agent stays
    /// niced, a `SCHED_BATCH` one batch, an ordinary blocking task never runs real-time).
    #[test]
    fn the_start_thread_gives_its_real_time_policy_back() {
        std::thread::spawn(|| {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: both calls change only this thread: SCHED_BATCH and a higher nice value
            // need no privilege.
            assert_eq!(unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) }, 0);
            assert_eq!(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 3) }, 0);
            // SAFETY: reads the calling thread's policy and nice value.
            let view = || unsafe { (libc::sched_getscheduler(0), libc::getpriority(libc::PRIO_PROCESS, 0)) };
            assert_eq!(view(), (libc::SCHED_BATCH, 3));
            match enter_realtime() {
                Some(before) => {
                    assert_eq!(view().0, libc::SCHED_FIFO);
                    assert!(enter_realtime().is_none(), "a real-time thread is left as it is");
                    leave_realtime(before);
                }
                None => assert_eq!(view(), (libc::SCHED_BATCH, 3), "a refused raise changed the thread"),
            }
            assert_eq!(view(), (libc::SCHED_BATCH, 3));
        })
        .join()
        .unwrap();
    }
}
