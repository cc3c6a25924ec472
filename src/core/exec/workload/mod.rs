//! The measured workload: each worker picks an op by weight, an endpoint by strategy and a key,
//! runs it (with retries), and records latency into its own recorder. Closed loop by default;
//! with `io_rate` an open-loop schedule where latency counts from the intended start.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use super::keys::{Entry, KeyPool, Source, Takes, Written, WrittenPool};
use super::phase::PhaseJob;
use super::prepare::PutRun;
use super::reads::{range_for, read_object, read_object_inline, read_parts};
use super::run::{RunError, RunRole};
use super::stopflag::StopFlag;
use super::stores::Stores;
use crate::core::config::{PartSpec, Plan, RangeSpec, SizeSpec};
use crate::core::metrics::{Snapshot, WorkerRecorder};
use crate::core::oplog::{error_text, OpRecord};
use crate::core::store::{uring, Cursor, Endpoint, Store, StoreError};
use crate::core::workload::{
    glob_match, list_prefix, sample_size, sharded, unique_dir_key, unique_put_key, worker_seed, Arrival, Generator,
    OpMix, Schedule,
};
use crate::core::OpKind;

mod draw;
use draw::{Drawn, Pick};

/// What an op works on.
enum Target {
    /// GET / STAT / DELETE: a key drawn from the pool.
    Pool(Arc<KeyPool>),
    /// GET / STAT / DELETE `from: written`: an object this run's PUTs wrote.
    Written(Arc<WrittenPool>),
    /// LIST of a prefix.
    List(Arc<str>),
    /// PUT of a new object named from the template, spread over `shards` hashed prefixes, with
    /// content from `data`.
    /// `feeds`: the `from: written` pools its objects join once written.
    /// With `parents` (a path like `tree/*/`), each new object goes into a directory drawn from it.
    Put {
        template: String,
        parents: Option<Arc<KeyPool>>,
        size: SizeSpec,
        shards: u32,
        src: Arc<Source>,
        feeds: Vec<Arc<WrittenPool>>,
    },
    /// MKDIR of a new directory in `parent` (a key ending in `/`) or in a directory drawn from
    /// `parents`; `feeds` as for PUT.
    Mkdir { parent: String, parents: Option<Arc<KeyPool>>, src: Arc<Source>, feeds: Vec<Arc<WrittenPool>> },
}

/// What a `from: written` op of kind `op` draws.
fn takes(op: OpKind) -> Takes {
    match op {
        OpKind::Rmdir => Takes::Dirs,
        OpKind::Stat => Takes::Both,
        _ => Takes::Files,
    }
}

/// For a PUT or MKDIR path with `*` (`tree/*/`): the directories it matches, where the new
/// objects or directories go.
async fn parent_dirs(
    store: &Store,
    rel: &str,
    index: usize,
    spec: &crate::core::config::OpSpec,
) -> Result<Option<Arc<KeyPool>>, RunError> {
    if !rel.contains('*') {
        return Ok(None);
    }
    let keys = list_matching(store, rel, true).await?;
    if keys.is_empty() {
        return Err(RunError::NoObjects {
            index,
            op: spec.op.config_name().to_string(),
            pattern: spec.path.clone(),
            uri: store.primary().uri.clone(),
        });
    }
    Ok(Some(Arc::new(KeyPool::new(keys, false))))
}

/// The sorted keys under `rel`'s prefix that match it: objects, or directories (keys ending in
/// `/`) for `dirs`.
async fn list_matching(store: &Store, rel: &str, dirs: bool) -> Result<Vec<Entry>, RunError> {
    let primary = store.primary();
    let err = |e| RunError::Storage { uri: primary.uri.clone(), source: e };
    let mut keys: Vec<Entry> = if dirs {
        let listed = primary.backend.list_dirs(list_prefix(rel)).await.map_err(err)?;
        listed.into_iter().filter(|k| glob_match(rel, k)).map(|k| (Arc::from(k), 0)).collect()
    } else {
        let listed = primary.backend.list(list_prefix(rel)).await.map_err(err)?;
        listed.into_iter().filter(|o| glob_match(rel, &o.key)).map(|o| (Arc::from(o.key), o.size)).collect()
    };
    keys.sort();
    Ok(keys)
}

impl ResolvedOp {
    /// DELETE and RMDIR take what they pick out of the pool.
    fn takes_out(&self) -> bool {
        matches!(self.kind, OpKind::Delete | OpKind::Rmdir)
    }
}

struct ResolvedOp {
    kind: OpKind,
    store: Arc<Store>,
    target: Target,
    /// GET: the byte range to read.
    range: Option<RangeSpec>,
    /// GET: read the object in parallel parts.
    parts: Option<PartSpec>,
    /// GET with `verify: true`.
    verify: bool,
    /// What the objects of a listed pool contain (objects from `from: written` carry their own).
    expect: Generator,
    /// RMDIR: remove the directory with everything in it.
    recursive: bool,
}

/// When the workload runs; set when the phase starts ([`PhaseJob::started`]).
struct Clock {
    start: Instant,
    deadline: Instant,
    /// Cancelled `grace` after the deadline (and on abort): in-flight requests are abandoned.
    hard: CancellationToken,
    /// Whether `hard` is cancelled, read without the token's lock (once per operation).
    stopped: StopFlag,
}

pub struct WorkloadJob {
    ops: Vec<ResolvedOp>,
    mix: OpMix,
    clock: OnceLock<Clock>,
    /// What `arm` fixed for the clock `started` sets: duration, grace, the phase's stop token.
    arming: OnceLock<(Duration, Duration, CancellationToken)>,
    /// Target ops/s of this process, spread evenly over the workers, and how arrivals are spaced.
    rate: Option<f64>,
    arrival: Arrival,
    workers: usize,
    /// Workers `0..mix_workers` run the weighted mix; worker `mix_workers + k` runs only op
    /// `dedicated[k]` (`concurrency:` on an op).
    mix_workers: usize,
    dedicated: Vec<usize>,
    agent: usize,
    run_id: String,
    seed: u64,
    endpoints: bool,
    retries: u32,
    errors: AtomicU64,
    max_errors: Option<u64>,
    max_error_rate: Option<f64>,
    stop: CancellationToken,
    /// This process's share of the stage's `ops:`; `issued` counts operations started.
    op_limit: Option<u64>,
    issued: AtomicU64,
    /// (op index, worker, PUTs issued) for naming what was created.
    put_counts: Mutex<Vec<(usize, usize, u64)>>,
    /// Keep what PUTs wrote and `from: written` DELETEs removed, for later stages.
    keep_written: bool,
    made: Mutex<Made>,
    /// Counter-named PUTs of this stage that its `from: written` DELETEs removed, a bit per
    /// counter per (op, worker).
    gone: Mutex<std::collections::HashMap<(u32, u32), Vec<u64>>>,
    /// This job among all of the process's (the first part of a written object's origin).
    id: u64,
    /// The empty key a pick starts from (shared, so choosing an op allocates nothing).
    no_key: Arc<str>,
}

/// What a stage's PUTs and MKDIRs wrote and its `from: written` DELETEs and RMDIRs removed
/// (`added`, `removed`: only when a later stage reads from written), and every directory MKDIR
/// made (for cleanup).
#[derive(Default)]
pub struct Made {
    pub added: Vec<Written>,
    pub removed: Vec<Written>,
    pub dirs: Vec<(Arc<Store>, String)>,
    /// Objects PUTs wrote into directories drawn from a pattern (for cleanup).
    pub files: Vec<(Arc<Store>, String)>,
}

impl Made {
    fn absorb(&mut self, other: Made) {
        self.files.extend(other.files);
        self.added.extend(other.added);
        self.removed.extend(other.removed);
        self.dirs.extend(other.dirs);
    }
}

/// Build the job: resolve each op's store and list the key pools (sorted, and split among agents
/// for `path_selection: distributed`). `from: written` pools start with `prior`, what earlier
/// stages wrote; `keep_written` collects this stage's changes to it for the stages after.
pub async fn resolve(
    plan: &Plan,
    role: &RunRole,
    stores: &Stores,
    stop: CancellationToken,
    prior: &[Written],
    keep_written: bool,
) -> Result<WorkloadJob, RunError> {
    let mut ops = Vec::new();
    let mut pools: Vec<(String, bool, Arc<KeyPool>)> = Vec::new();
    let mut written: Vec<Arc<WrittenPool>> = Vec::new();
    for spec in plan.workload.iter().filter(|o| o.from_written) {
        let filter = if spec.path.is_empty() {
            None
        } else {
            Some(stores.resolve(&spec.path, spec.use_multi_endpoint).map_err(RunError::Config)?)
        };
        if !written.iter().any(|p| p.same_filter(&filter, takes(spec.op))) {
            let pool = WrittenPool::new(filter, takes(spec.op));
            prior.iter().for_each(|w| pool.offer(w));
            written.push(Arc::new(pool));
        }
    }
    for (index, spec) in plan.workload.iter().enumerate() {
        let expect = Generator::new(plan.seed, &plan.data_for(&spec.path));
        if spec.from_written {
            let filter = if spec.path.is_empty() {
                None
            } else {
                Some(stores.resolve(&spec.path, spec.use_multi_endpoint).map_err(RunError::Config)?)
            };
            let pool =
                written.iter().find(|p| p.same_filter(&filter, takes(spec.op))).cloned().expect("pool made above");
            // Each written object names its own store; this one only stands in.
            let store = match filter {
                Some((store, _)) => store,
                None => stores.all().first().map(|s| (*s).clone()).ok_or_else(|| {
                    RunError::Config(format!("workload[{index}]: `from: written` but no store is configured"))
                })?,
            };
            ops.push(ResolvedOp {
                kind: spec.op,
                store,
                target: Target::Written(pool),
                range: spec.range,
                parts: spec.parts,
                verify: spec.verify,
                expect,
                recursive: spec.recursive,
            });
            continue;
        }
        let (store, rel) = stores.resolve(&spec.path, spec.use_multi_endpoint).map_err(RunError::Config)?;
        let target = match spec.op {
            OpKind::Put => {
                let src = Arc::new(Source { store: store.clone(), data: Generator::new(plan.seed, &spec.data) });
                let feeds = written.iter().filter(|p| p.may_accept(&store)).cloned().collect();
                let parents = parent_dirs(&store, &rel, index, spec).await?;
                Target::Put {
                    parents,
                    template: rel,
                    size: spec.size.clone().unwrap_or(SizeSpec::Fixed(0)),
                    shards: spec.key_prefix_shards,
                    src,
                    feeds,
                }
            }
            OpKind::List => Target::List(Arc::from(list_prefix(&rel))),
            OpKind::Mkdir => {
                let src = Arc::new(Source { store: store.clone(), data: Generator::new(plan.seed, &spec.data) });
                let feeds = written.iter().filter(|p| p.may_accept(&store)).cloned().collect();
                let parents = parent_dirs(&store, &rel, index, spec).await?;
                if parents.is_none() {
                    // The one parent is set up here, before the measured phase.
                    let p = store.primary();
                    p.backend.mkdir(&rel).await.map_err(|e| RunError::Storage { uri: p.uri.clone(), source: e })?;
                }
                Target::Mkdir { parent: rel, parents, src, feeds }
            }
            _ => {
                let dirs = spec.op == OpKind::Rmdir;
                let pool_key = format!("{}|{}|{}", store.primary().uri, rel, dirs);
                let shrinks = if dirs { OpKind::Rmdir } else { OpKind::Delete };
                let shrinking = plan.workload.iter().any(|o| o.op == shrinks && o.path == spec.path);
                if let Some((_, _, p)) = pools.iter().find(|(k, _, _)| *k == pool_key) {
                    Target::Pool(p.clone())
                } else {
                    let primary = store.primary();
                    let mut keys = list_matching(&store, &rel, dirs).await?;
                    let mut partitioned = None;
                    if let Some((i, n)) = role.path_split {
                        // A pool that DELETE/RMDIR shrink stays exclusive: two agents never remove one object.
                        if role.path_overlap > 0.0 && !shrinking {
                            partitioned = Some((i, n));
                        } else {
                            keys = keys.into_iter().enumerate().filter(|(k, _)| k % n == i).map(|(_, v)| v).collect();
                        }
                    }
                    if keys.is_empty() {
                        return Err(RunError::NoObjects {
                            index,
                            op: spec.op.config_name().to_string(),
                            pattern: spec.path.clone(),
                            uri: primary.uri.clone(),
                        });
                    }
                    let pool = Arc::new(match partitioned {
                        Some((i, n)) => KeyPool::partitioned(keys, i, n, role.path_overlap),
                        None => KeyPool::new(keys, shrinking),
                    });
                    pools.push((pool_key, shrinking, pool.clone()));
                    Target::Pool(pool)
                }
            }
        };
        ops.push(ResolvedOp {
            kind: spec.op,
            store,
            target,
            range: spec.range,
            parts: spec.parts,
            verify: spec.verify,
            expect,
            recursive: spec.recursive,
        });
    }
    Ok(WorkloadJob {
        ops,
        mix: OpMix::new(plan.workload.iter().map(|o| if o.concurrency.is_some() { 0 } else { o.weight })),
        clock: OnceLock::new(),
        arming: OnceLock::new(),
        rate: plan.io_rate,
        arrival: plan.arrival,
        workers: plan.workload_workers(role.agent_index).max(1),
        mix_workers: plan.mix_workers(role.agent_index),
        dedicated: plan
            .workload
            .iter()
            .enumerate()
            .flat_map(|(i, o)| std::iter::repeat_n(i, o.concurrency.unwrap_or(0)))
            .collect(),
        agent: role.agent_index.unwrap_or(0),
        run_id: role.run_id.clone(),
        seed: plan.seed,
        endpoints: stores.endpoints_in_use(),
        retries: plan.error_handling.retries,
        errors: AtomicU64::new(0),
        max_errors: plan.error_handling.max_errors,
        max_error_rate: plan.error_handling.max_error_rate,
        stop,
        op_limit: None,
        issued: AtomicU64::new(0),
        put_counts: Mutex::new(Vec::new()),
        keep_written,
        made: Mutex::new(Made::default()),
        gone: Mutex::new(std::collections::HashMap::new()),
        id: {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            NEXT.fetch_add(1, Ordering::Relaxed)
        },
        no_key: Arc::from(""),
    })
}

impl WorkloadJob {
    /// Stop after `n` operations of this process (its share of the stage's `ops:`).
    pub fn limit_ops(&mut self, n: u64) {
        self.op_limit = Some(n);
    }

    /// Fix how long the workload runs (`duration` may be `Duration::MAX`: no deadline); `cancel`
    /// is the phase's stop token. The start is the phase's ([`PhaseJob::started`]).
    pub fn arm(&self, duration: Duration, grace: Duration, cancel: CancellationToken) {
        let _ = self.arming.set((duration, grace, cancel));
    }

    /// Whether every request of the workload is a GET its store can do through a ring thread's
    /// io_uring (`Placement::Rings`): whole-object or ranged reads of `file://` without a page
    /// cache hint. Anything else would block the other workers of its thread.
    pub fn ring_ready(&self) -> bool {
        !self.ops.is_empty()
            && self.ops.iter().all(|op| {
                op.kind == OpKind::Get
                    && op.parts.is_none()
                    && op.store.endpoints.iter().all(|e| e.backend.ring_reads())
            })
    }

    /// What this stage's PUTs and MKDIRs made and its DELETEs and RMDIRs of written ones removed.
    pub fn made(&self) -> Made {
        std::mem::take(&mut *self.made.lock())
    }

    /// Keys of every object the workload's PUTs created (for cleanup).
    pub fn created_runs(&self) -> Vec<PutRun> {
        let counts = self.put_counts.lock();
        let mut gone = std::mem::take(&mut *self.gone.lock());
        let mut out = Vec::new();
        for &(op, w, count) in counts.iter() {
            if let Target::Put { template, shards, parents: None, .. } = &self.ops[op].target {
                out.push(PutRun {
                    store: self.ops[op].store.clone(),
                    template: template.clone(),
                    shards: *shards,
                    run_id: self.run_id.clone(),
                    agent: self.agent,
                    worker: w,
                    count,
                    gone: gone.remove(&(op as u32, w as u32)).unwrap_or_default(),
                });
            }
        }
        out
    }

    async fn once(
        &self,
        op: &ResolvedOp,
        ep: &Endpoint,
        pick: &Pick<'_>,
        check: Option<&Generator>,
        first: &OnceLock<Instant>,
    ) -> Result<u64, StoreError> {
        let b = &ep.backend;
        let key: &str = &pick.key;
        match op.kind {
            OpKind::Get => match op.parts {
                // Boxed: its state is larger than a whole-object read's, and the request future
                // of every operation would carry (and move) it.
                Some(p) => Box::pin(read_parts(ep, key, pick.size, p, check, Some(first))).await,
                None => read_object(ep, key, pick.range, pick.listed(), check, None, Some(first)).await,
            },
            OpKind::Put => {
                let d = pick.body.clone().unwrap_or_default();
                let n = d.len() as u64;
                b.put(key, d).await.map(|_| n)
            }
            OpKind::List => b.list_count(key).await.map(|_| 0),
            OpKind::Stat => b.stat(key).await.map(|_| 0),
            OpKind::Delete => b.delete(key).await.map(|_| 0),
            OpKind::Mkdir => b.make_dir(key).await.map(|_| 0),
            OpKind::Rmdir if op.recursive => b.remove_tree(key).await.map(|_| 0),
            OpKind::Rmdir => b.remove_dir(key).await.map(|_| 0),
        }
    }

    /// [`Self::once`] without a future where the request is done on the calling thread (a
    /// whole or ranged GET of a local file: the hot path); `None` otherwise.
    #[inline]
    fn once_inline(
        &self,
        op: &ResolvedOp,
        ep: &Endpoint,
        pick: &Pick<'_>,
        check: Option<&Generator>,
        first: &OnceLock<Instant>,
    ) -> Option<Result<u64, StoreError>> {
        match (op.kind, op.parts) {
            (OpKind::Get, None) => {
                read_object_inline(ep, &pick.key, pick.range, pick.listed(), check, None, Some(first))
            }
            _ => None,
        }
    }

    async fn run(self: Arc<Self>, w: usize, rec: WorkerRecorder) {
        let Some(clock) = self.clock.get() else { return };
        let mut rng = SmallRng::seed_from_u64(worker_seed(self.seed, self.agent, w, 1));
        let mut cursor = Cursor(w);
        let mut put_counters = vec![0u64; self.ops.len()];
        let mut made = Made::default();
        // The last PUT's body, back from the backend: the next one is generated into it.
        let mut spare: Option<bytes::BytesMut> = None;
        // Open loop: this worker's share of the rate, its first start spread over one period.
        let mut schedule = self.rate.map(|r| {
            Schedule::new(self.workers as f64 / r, w as f64 / r, self.arrival, worker_seed(self.seed, self.agent, w, 2))
        });
        let open_loop = schedule.is_some();
        let on_ring = uring::active();
        // Closed loop: the end of the previous request is the time the next one is chosen (the
        // clock is read twice per request: when it starts and when it ends).
        let mut now = Instant::now();
        loop {
            let mut intended = now;
            if let Some(s) = &mut schedule {
                intended = clock.start + Duration::from_secs_f64(s.next_offset());
                if intended >= clock.deadline {
                    break;
                }
                now = Instant::now();
                if intended > now {
                    tokio::select! {
                        biased;
                        _ = clock.hard.cancelled() => break,
                        _ = tokio::time::sleep_until(intended.into()) => {}
                    }
                    now = Instant::now();
                }
            }
            if clock.stopped.is_set() || now >= clock.deadline {
                break;
            }
            if let Some(limit) = self.op_limit {
                if self.issued.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
            }
            // Drawn on this thread; a future only when the draw has to wait for written objects.
            let drawn = match self.draw(w, &mut rng, &mut put_counters, &mut spare) {
                Drawn::Pick(p) => Ok(p),
                Drawn::Dry(i) => Err(Some(i)),
                Drawn::Wait => self.pick_after_wait(w, &mut rng, &mut put_counters, &mut spare, clock).await,
            };
            let mut pick = match drawn {
                Ok(p) => p,
                Err(None) => break,
                Err(Some(i)) => {
                    rec.record_err(self.ops[i].kind, None, "no_objects_left");
                    self.count_error();
                    now = Instant::now();
                    continue;
                }
            };
            // The request starts now: choosing it (generating a PUT's body, waiting for a
            // `from: written` object) is not part of its latency in closed loop, nor of its
            // service time in open loop.
            let actual = Instant::now();
            if !open_loop {
                intended = actual;
            } else if actual.duration_since(intended) > Duration::from_millis(1) {
                rec.record_late_start();
            }
            let op = &self.ops[pick.op];
            let (store, check) = match &pick.written {
                Some(wr) => (&wr.src.store, op.verify.then_some(&wr.src.data)),
                None => (&op.store, op.verify.then_some(&op.expect)),
            };
            let (ep, guard) = store.pick(&mut cursor);
            let idx = self.endpoints.then_some(ep.idx);
            // Set by the first attempt (there is always one).
            let mut result: Result<u64, StoreError> = Ok(0);
            // GET: when the first bytes of the body came (set by the read; each attempt anew).
            let mut first = OnceLock::new();
            // Attempts beyond the first: each counted in `retries` (none hidden in the client).
            let mut retries = 0u32;
            // The hard stop ended the request (its flag may be set a moment after the token's
            // waiters are woken).
            let mut abandoned = false;
            for attempt in 0..=self.retries {
                retries = attempt;
                first.take();
                // The request first: one that completes when first polled (every file:// one)
                // never touches the token.
                // On a ring thread a read the ring does not take is still done inline, by
                // `read_object`: no first attempt here.
                let inline = if on_ring { None } else { self.once_inline(op, ep, &pick, check, &first) };
                result = match inline {
                    Some(r) => r,
                    // A ring thread's requests are local file reads (`Placement::Rings`): like
                    // the inline ones, nothing to abandon, and the shared token is not touched.
                    None if on_ring => self.once(op, ep, &pick, check, &first).await,
                    None => tokio::select! {
                        biased;
                        r = self.once(op, ep, &pick, check, &first) => r,
                        _ = clock.hard.cancelled() => {
                            abandoned = true;
                            Err(StoreError::Other("abandoned at the deadline".into()))
                        }
                    },
                };
                if result.is_ok() || abandoned || clock.stopped.is_set() {
                    break;
                }
            }
            drop(guard);
            let end = Instant::now();
            now = end;
            let first_byte: Option<Instant> = first.get().copied();
            if result.is_ok() {
                self.note_written(op, &pick, w, &mut made);
            }
            let put_size = pick.body.as_ref().map_or(0, |b| b.len() as u64);
            if let Some(body) = pick.body.take() {
                spare = body.try_into_mut().ok();
            }
            let record = |bytes: u64, error: Option<Box<str>>| OpRecord {
                op: op.kind,
                worker: w as u32,
                endpoint: ep.label.clone(),
                key: Arc::clone(&pick.key),
                bytes,
                error,
                intended: open_loop.then_some(intended),
                // Closed loop: the same instant the latency counts from.
                start: if open_loop { actual } else { intended },
                first_byte,
                end,
            };
            match result {
                Ok(bytes) => {
                    let lat = end.duration_since(intended).as_micros() as u64;
                    let service = open_loop.then(|| end.duration_since(actual).as_micros() as u64);
                    // Time to first byte, from the intended start like the latency; an empty
                    // body has no first byte: the whole request.
                    let ttfb = (op.kind == OpKind::Get)
                        .then(|| first_byte.unwrap_or(end).duration_since(intended).as_micros() as u64);
                    let log = rec.logging().then(|| record(bytes, None));
                    rec.record_ok_logged(op.kind, idx, bytes, lat, service, ttfb, retries, log);
                }
                Err(e) => {
                    let kind = if abandoned || clock.stopped.is_set() { "aborted" } else { e.kind_name() };
                    let log = rec.logging().then(|| record(put_size, Some(error_text(kind, &e.to_string()))));
                    rec.record_err_logged(op.kind, idx, kind, retries, log);
                    self.count_error();
                }
            }
        }
        let mut counts = self.put_counts.lock();
        counts.extend(put_counters.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| (i, w, n)));
        self.made.lock().absorb(made);
    }

    fn count_error(&self) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(max) = self.max_errors {
            if n > max {
                self.stop.cancel();
            }
        }
    }
}

impl PhaseJob for WorkloadJob {
    /// The start and deadline, from the phase's start and what `arm` fixed.
    fn started(&self, start: Instant) {
        let Some((duration, grace, cancel)) = self.arming.get().cloned() else { return };
        let hard = cancel.child_token();
        // No deadline: a year stands in for "never" (tokio timers reach about two years).
        let deadline = start + duration.min(Duration::from_secs(365 * 86_400));
        let stop = self.stop.clone();
        let h = hard.clone();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until((deadline + grace).into()) => h.cancel(),
                _ = stop.cancelled() => c.cancel(),
                _ = c.cancelled() => {}
            }
        });
        let stopped = StopFlag::watch(&hard);
        let _ = self.clock.set(Clock { start, deadline, hard, stopped });
    }

    fn worker(self: Arc<Self>, w: usize, rec: WorkerRecorder) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.run(w, rec))
    }

    fn check(&self, interval: &Snapshot) -> Option<String> {
        let errors = interval.total_errors();
        if let Some(max) = self.max_errors {
            if self.errors.load(Ordering::Relaxed) > max {
                return Some(format!("stopped: more than error_handling.max_errors = {max} failed requests"));
            }
        }
        if let Some(rate) = self.max_error_rate {
            let total = errors + interval.total_ops();
            if total > 0 && errors as f64 / total as f64 > rate {
                return Some(format!(
                    "stopped: {errors} of {total} requests failed in one interval, above error_handling.max_error_rate = {rate}"
                ));
            }
        }
        None
    }
}
