//! A `replay` stage: the operations of an op-log issued again at their recorded start times
//! divided by the speed, open loop — latency counts from each operation's scheduled start, and
//! starts more than 1 ms late are counted, as with `io_rate`. PUTs write generated objects of the
//! recorded size; GET, STAT, DELETE, LIST, MKDIR and RMDIR name the recorded objects.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::phase::PhaseJob;
use super::placement::Placement;
use super::reads::read_object;
use super::run::{RunError, RunRole};
use crate::core::config::{DataSpec, Plan, ReplayStage, Strategy};
use crate::core::metrics::WorkerRecorder;
use crate::core::oplog::{error_text, load_schedule, OpRecord, Schedule};
use crate::core::store::{Cursor, Endpoint, Store, StoreError};
use crate::core::workload::Generator;
use crate::core::OpKind;

pub struct ReplayJob {
    sched: Schedule,
    stores: Vec<Arc<Store>>,
    speed: f64,
    next: AtomicUsize,
    /// Operations completed (stage boundaries wait for it).
    done: AtomicUsize,
    /// How far (ns) later stages run behind the recorded times, because an earlier stage took
    /// longer than it did when recorded.
    shift_ns: AtomicU64,
    start: OnceLock<Instant>,
    /// The stage's stop token, set by `arm`.
    cancel: OnceLock<CancellationToken>,
    data: Generator,
}

/// Load the op-log (this agent's share of it) and open a store for every base URI it goes to.
/// A local directory that is missing is created when the replay writes; nothing else is touched.
pub async fn resolve(plan: &Plan, stage: &ReplayStage, role: &RunRole) -> Result<ReplayJob, RunError> {
    let path = std::path::Path::new(&stage.oplog);
    let mut sched = load_schedule(path, stage.target.as_deref(), &stage.remap)
        .map_err(|e| RunError::Config(format!("replay: {e}")))?;
    if let Some(i) = role.agent_index {
        sched.share(i, role.agent_count);
    }
    let writes = sched.ops.iter().any(|o| !matches!(o.op, OpKind::Get | OpKind::Stat | OpKind::List));
    let mut stores = Vec::new();
    for base in &sched.bases {
        let store = Store::open(std::slice::from_ref(base), Strategy::RoundRobin, &plan.storage, 0)
            .await
            .map_err(|e| RunError::Storage { uri: base.clone(), source: e })?;
        let ep = store.primary();
        match ep.backend.preflight(writes).await {
            Ok(()) => {}
            Err(StoreError::MissingRoot(_)) if writes => {
                ep.backend.mkdir("").await.map_err(|e| RunError::Storage { uri: base.clone(), source: e })?
            }
            Err(e) => return Err(RunError::Storage { uri: base.clone(), source: e }),
        }
        stores.push(Arc::new(store));
    }
    Ok(ReplayJob {
        sched,
        stores,
        speed: stage.speed,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        shift_ns: AtomicU64::new(0),
        start: OnceLock::new(),
        cancel: OnceLock::new(),
        data: Generator::new(plan.seed, &DataSpec::default()),
    })
}

impl ReplayJob {
    /// Operations this process replays.
    pub fn op_count(&self) -> usize {
        self.sched.ops.len()
    }

    /// `cancel` stops the replay. The scheduled times count from the phase's start
    /// ([`PhaseJob::started`]).
    pub fn arm(&self, cancel: CancellationToken) {
        let _ = self.cancel.set(cancel);
    }

    /// Where workers run: what every backend allows.
    pub fn placement(&self) -> Placement {
        Placement::of(self.stores.iter().flat_map(|s| s.endpoints.iter().map(|e| &*e.backend)))
    }

    async fn issue(
        &self,
        op: OpKind,
        ep: &Endpoint,
        key: &str,
        bytes: u64,
        first: &OnceLock<Instant>,
    ) -> Result<u64, StoreError> {
        let b = &ep.backend;
        match op {
            OpKind::Get => read_object(ep, key, None, None, None, None, Some(first)).await,
            OpKind::Put => b.put(key, self.data.object(key, bytes)).await.map(|_| bytes),
            OpKind::Stat => b.stat(key).await.map(|_| 0),
            OpKind::Delete => b.delete(key).await.map(|_| 0),
            OpKind::List => b.list_count(key).await.map(|_| 0),
            OpKind::Mkdir => b.make_dir(key).await.map(|_| 0),
            OpKind::Rmdir => b.remove_dir(key).await.map(|_| 0),
        }
    }

    async fn run(self: Arc<Self>, w: usize, rec: WorkerRecorder) {
        let (Some(&start), Some(cancel)) = (self.start.get(), self.cancel.get()) else { return };
        let mut cursor = Cursor(w);
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(op) = self.sched.ops.get(i) else { break };
            let at = |ns: u64| Duration::from_nanos((ns as f64 / self.speed) as u64);
            if op.after > 0 && self.done.load(Ordering::Acquire) < op.after {
                // The recorded run's next stage began once the one before had ended: so here.
                while self.done.load(Ordering::Acquire) < op.after {
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_micros(200)) => {}
                    }
                }
                let first = self.sched.ops[op.after].at_ns;
                let late = Instant::now().saturating_duration_since(start + at(first));
                self.shift_ns.fetch_max(late.as_nanos() as u64, Ordering::AcqRel);
            }
            let shift = Duration::from_nanos(self.shift_ns.load(Ordering::Acquire));
            let intended = start + at(op.at_ns) + shift;
            if intended > Instant::now() {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep_until(intended.into()) => {}
                }
            }
            if cancel.is_cancelled() {
                break;
            }
            let actual = Instant::now();
            if actual.duration_since(intended) > Duration::from_millis(1) {
                rec.record_late_start();
            }
            let (ep, guard) = self.stores[op.base].pick(&mut cursor);
            let first = OnceLock::new();
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(StoreError::Other("abandoned: the stage was stopped".into())),
                r = self.issue(op.op, ep, &op.key, op.bytes, &first) => r,
            };
            drop(guard);
            let end = Instant::now();
            self.done.fetch_add(1, Ordering::AcqRel);
            let record = |bytes: u64, error: Option<Box<str>>| OpRecord {
                op: op.op,
                worker: w as u32,
                endpoint: ep.label.clone(),
                key: Arc::from(&*op.key),
                bytes,
                error,
                intended: Some(intended),
                start: actual,
                first_byte: first.get().copied(),
                end,
            };
            match result {
                Ok(bytes) => {
                    let lat = end.duration_since(intended).as_micros() as u64;
                    let service = Some(end.duration_since(actual).as_micros() as u64);
                    let ttfb = (op.op == OpKind::Get)
                        .then(|| first.get().copied().unwrap_or(end).duration_since(intended).as_micros() as u64);
                    let log = rec.logging().then(|| record(bytes, None));
                    rec.record_ok_logged(op.op, None, bytes, lat, service, ttfb, 0, log);
                }
                Err(e) => {
                    let kind = if cancel.is_cancelled() { "aborted" } else { e.kind_name() };
                    let log = rec.logging().then(|| record(op.bytes, Some(error_text(kind, &e.to_string()))));
                    rec.record_err_logged(op.op, None, kind, 0, log);
                }
            }
        }
    }
}

impl PhaseJob for ReplayJob {
    fn started(&self, at: Instant) {
        let _ = self.start.set(at);
    }
    fn worker(self: Arc<Self>, w: usize, rec: WorkerRecorder) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.run(w, rec))
    }
}
