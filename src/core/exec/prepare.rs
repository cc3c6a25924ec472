//! Prepare (make sure the configured objects exist) and cleanup (delete what this run created).
//! Prepared names and sizes are deterministic, so re-runs and every agent agree on them.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use super::phase::PhaseJob;
use super::reads::read_object;
use super::run::{RunError, RunRole};
use super::stores::Stores;
use crate::core::config::{Plan, SizeSpec, TreeSpec};
use crate::core::metrics::WorkerRecorder;
use crate::core::oplog::{error_text, OpRecord};
use crate::core::store::{Cursor, Endpoint, Store, StoreError};
use crate::core::workload::{prepared_name, sample_size, sharded, unique_put_key, worker_seed, Generator};
use crate::core::OpKind;

/// One group of prepared objects: an `ensure_objects` entry or the tree.
pub struct Group {
    store: Arc<Store>,
    prefix: String,
    size: SizeSpec,
    /// What the objects contain.
    gen: Generator,
    /// The tree's shape, for the tree.
    tree: Option<TreeSpec>,
    seed: u64,
    shards: u32,
}

impl Group {
    fn key(&self, j: u64) -> String {
        match &self.tree {
            Some(t) => format!("{}{}", self.prefix, t.shape().file_path(j)),
            None => format!("{}{}", self.prefix, sharded(prepared_name(j), self.shards)),
        }
    }

    fn size(&self, j: u64) -> u64 {
        let mut rng = SmallRng::seed_from_u64(worker_seed(self.seed, 0, j as usize, 7));
        sample_size(&self.size, &mut rng)
    }
}

/// Objects prepare must create: (group, object number).
pub struct Work {
    pub groups: Vec<Group>,
    pub tasks: Vec<(usize, u64)>,
    /// Objects of this role's share already present.
    pub existing: u64,
}

fn storage(uri: &str, e: StoreError) -> RunError {
    RunError::Storage { uri: uri.to_string(), source: e }
}

/// Work out what to create: list what exists, keep this role's share of what is missing.
/// With `every`, (a verify stage) all of this role's share is listed as tasks, present or not,
/// without listing the storage.
pub async fn plan_work(plan: &Plan, role: &RunRole, stores: &Stores, every: bool) -> Result<Work, RunError> {
    let mut groups = Vec::new();
    let mut counts = Vec::new();
    // Entries sharing a base number their objects on from the previous entry's last.
    let mut next_index: Vec<(String, u64)> = Vec::new();
    for (i, e) in plan.prepare.ensure_objects.iter().enumerate() {
        let (store, prefix) = stores.resolve(&e.base_uri, e.use_multi_endpoint).map_err(RunError::Config)?;
        let slot = match next_index.iter_mut().find(|(b, _)| *b == e.base_uri) {
            Some(s) => s,
            None => {
                next_index.push((e.base_uri.clone(), 0));
                next_index.last_mut().expect("just pushed")
            }
        };
        let first = slot.1;
        slot.1 += e.count;
        let seed = worker_seed(plan.seed, 1000 + i, 0, 11);
        let shards = e.key_prefix_shards;
        let gen = Generator::new(plan.seed, &e.data);
        groups.push(Group { store, prefix, size: e.size.clone(), gen, tree: None, seed, shards });
        counts.push(first..first + e.count);
    }
    if let Some(t) = &plan.prepare.tree {
        let (store, prefix) = stores.resolve(&t.base_uri, true).map_err(RunError::Config)?;
        if role.make_tree_dirs && !every {
            let primary = store.primary();
            for d in t.shape().dirs() {
                primary.backend.mkdir(&format!("{prefix}{d}")).await.map_err(|e| storage(&primary.uri, e))?;
            }
        }
        let files = t.shape().files();
        let seed = worker_seed(plan.seed, 2000, 0, 11);
        let tree = Some(t.clone());
        let gen = Generator::new(plan.seed, &t.data);
        groups.push(Group { store, prefix, size: t.size.clone(), gen, tree, seed, shards: 1 });
        counts.push(0..files);
    }
    let mut tasks = Vec::new();
    let mut existing = 0u64;
    let mut listed: Vec<(String, HashSet<String>)> = Vec::new();
    let mine = |j: &u64| role.prepare_split.is_none_or(|(i, n)| j % n as u64 == i as u64);
    for (gi, (g, range)) in groups.iter().zip(counts).enumerate() {
        if every {
            tasks.extend(range.filter(mine).map(|j| (gi, j)));
            continue;
        }
        if plan.prepare.force_overwrite {
            // Every object is written again, present or not: no listing.
            if role.make_files {
                tasks.extend(range.filter(mine).map(|j| (gi, j)));
            }
            continue;
        }
        let primary = g.store.primary();
        let list_key = format!("{}|{}", primary.uri, g.prefix);
        if !listed.iter().any(|(k, _)| *k == list_key) {
            let objs = primary.backend.list(&g.prefix).await.map_err(|e| storage(&primary.uri, e))?;
            listed.push((list_key.clone(), objs.into_iter().map(|o| o.key).collect()));
        }
        let present = &listed.iter().find(|(k, _)| *k == list_key).expect("listed above").1;
        for j in range.filter(mine) {
            if present.contains(&g.key(j)) {
                existing += 1;
            } else if role.make_files {
                tasks.push((gi, j));
            }
        }
    }
    Ok(Work { groups, tasks, existing })
}

/// What this run created, for cleanup.
#[derive(Default)]
pub struct Created {
    /// Prepared objects: (store, key).
    pub prepared: Vec<(Arc<Store>, String)>,
    /// Objects created by workload PUTs whose names are not derived from a counter.
    pub put: Vec<(Arc<Store>, String)>,
    /// Objects created by workload PUTs, named by counter: kept as counts, named when cleanup
    /// reaches them (an hour of PUTs is millions of names).
    pub runs: Vec<PutRun>,
    /// Directories created by workload MKDIRs (removed after the objects, deepest first).
    pub dirs: Vec<(Arc<Store>, String)>,
}

/// The objects one worker's PUTs of one op created: counters `0..count`, minus those a
/// `from: written` DELETE of the run removed (`gone`, a bit per counter).
pub struct PutRun {
    pub store: Arc<Store>,
    pub template: String,
    pub shards: u32,
    pub run_id: String,
    pub agent: usize,
    pub worker: usize,
    pub count: u64,
    pub gone: Vec<u64>,
}

impl PutRun {
    pub fn key(&self, n: u64) -> String {
        sharded(unique_put_key(&self.template, &self.run_id, self.agent, self.worker, n), self.shards)
    }
    pub fn is_gone(&self, n: u64) -> bool {
        self.gone.get((n / 64) as usize).is_some_and(|w| w >> (n % 64) & 1 == 1)
    }
    /// Objects of the run still there as far as the run knows.
    pub fn live(&self) -> u64 {
        let gone: u64 = (0..self.count.div_ceil(64) as usize)
            .map(|i| {
                let w = self.gone.get(i).copied().unwrap_or(0);
                let bits = self.count - i as u64 * 64;
                let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
                u64::from((w & mask).count_ones())
            })
            .sum();
        self.count - gone
    }
}

impl Created {
    pub fn len(&self) -> usize {
        let runs: u64 = self.runs.iter().map(PutRun::live).sum();
        self.prepared.len() + self.put.len() + self.dirs.len() + runs as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Creates the missing prepared objects; workers take tasks from a shared counter.
pub struct PrepareJob {
    work: Work,
    next: AtomicUsize,
    endpoints: bool,
    cancel: CancellationToken,
    created: Mutex<Vec<usize>>,
}

impl PrepareJob {
    pub fn new(work: Work, endpoints: bool, cancel: CancellationToken) -> Self {
        PrepareJob { work, next: AtomicUsize::new(0), endpoints, cancel, created: Mutex::new(Vec::new()) }
    }

    /// Keys this job created successfully.
    pub fn into_created(self: Arc<Self>) -> Vec<(Arc<Store>, String)> {
        let done = self.created.lock().clone();
        done.into_iter()
            .map(|t| {
                let (g, j) = self.work.tasks[t];
                let group = &self.work.groups[g];
                (group.store.clone(), group.key(j))
            })
            .collect()
    }

    async fn run(self: Arc<Self>, w: usize, rec: WorkerRecorder) {
        let mut mine = Vec::new();
        loop {
            if self.cancel.is_cancelled() {
                break;
            }
            let t = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&(g, j)) = self.work.tasks.get(t) else { break };
            let group = &self.work.groups[g];
            let key = group.key(j);
            let size = group.size(j);
            let data = group.gen.object(&key, size);
            // Cycle on the task number, not per worker: round_robin then splits prepare exactly
            // (object t goes to endpoint t mod n), however the tasks fell among the workers.
            let (ep, _guard) = group.store.pick(&mut Cursor(t));
            let idx = self.endpoints.then_some(ep.idx);
            let started = std::time::Instant::now();
            let r = ep.backend.put(&key, data).await;
            let end = std::time::Instant::now();
            match r {
                Ok(()) => {
                    let log = log_record(&rec, OpKind::Put, w, ep, &key, size, None, started, end);
                    rec.record_ok_logged(
                        OpKind::Put,
                        idx,
                        size,
                        (end - started).as_micros() as u64,
                        None,
                        None,
                        0,
                        log,
                    );
                    mine.push(t);
                }
                Err(e) => {
                    let log = log_record(&rec, OpKind::Put, w, ep, &key, size, Some(&e), started, end);
                    rec.record_err_logged(OpKind::Put, idx, e.kind_name(), 0, log);
                }
            }
        }
        self.created.lock().extend(mine);
    }
}

impl PhaseJob for PrepareJob {
    fn worker(self: Arc<Self>, w: usize, rec: WorkerRecorder) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.run(w, rec))
    }
}

/// Reads every prepared object of this role's share once and checks its bytes and size against
/// what prepare wrote (a `verify` stage). Missing objects count as `not_found`, wrong ones as
/// `verify_failed`; both name the object on stderr.
pub struct VerifyJob {
    work: Work,
    next: AtomicUsize,
    endpoints: bool,
    cancel: CancellationToken,
}

impl VerifyJob {
    pub fn new(work: Work, endpoints: bool, cancel: CancellationToken) -> Self {
        VerifyJob { work, next: AtomicUsize::new(0), endpoints, cancel }
    }

    async fn run(self: Arc<Self>, w: usize, rec: WorkerRecorder) {
        while !self.cancel.is_cancelled() {
            let t = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&(g, j)) = self.work.tasks.get(t) else { break };
            let group = &self.work.groups[g];
            let key = group.key(j);
            let (ep, _guard) = group.store.pick(&mut Cursor(t));
            let idx = self.endpoints.then_some(ep.idx);
            let started = std::time::Instant::now();
            let r = read_object(ep, &key, None, Some(group.size(j)), Some(&group.gen), Some(group.size(j)), None).await;
            let end = std::time::Instant::now();
            match r {
                Ok(n) => {
                    let log = log_record(&rec, OpKind::Get, w, ep, &key, n, None, started, end);
                    rec.record_ok_logged(OpKind::Get, idx, n, (end - started).as_micros() as u64, None, None, 0, log);
                }
                Err(e) => {
                    let log = log_record(&rec, OpKind::Get, w, ep, &key, 0, Some(&e), started, end);
                    rec.record_err_logged(OpKind::Get, idx, e.kind_name(), 0, log);
                }
            }
        }
    }
}

impl PhaseJob for VerifyJob {
    fn worker(self: Arc<Self>, w: usize, rec: WorkerRecorder) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.run(w, rec))
    }
}

/// Deletes what the run created: the objects, in parallel, then the directories MKDIRs made,
/// deepest first, by the first worker once every object is gone. Objects already gone (deleted
/// by the workload) are not errors.
pub struct CleanupJob {
    keys: Vec<(Arc<Store>, String)>,
    runs: Vec<PutRun>,
    /// Task number of each run's counter 0 (after the listed keys).
    run_starts: Vec<usize>,
    tasks: usize,
    dirs: Vec<(Arc<Store>, String)>,
    next: AtomicUsize,
    done: AtomicUsize,
    all_done: tokio::sync::Notify,
    endpoints: bool,
}

impl CleanupJob {
    pub fn new(created: Created, endpoints: bool) -> Self {
        let mut keys = created.prepared;
        keys.extend(created.put);
        let mut dirs = created.dirs;
        dirs.sort_by_key(|(_, d)| std::cmp::Reverse(d.matches('/').count()));
        let mut tasks = keys.len();
        let run_starts = created
            .runs
            .iter()
            .map(|r| {
                let start = tasks;
                tasks += r.count as usize;
                start
            })
            .collect();
        CleanupJob {
            keys,
            runs: created.runs,
            run_starts,
            tasks,
            dirs,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            all_done: tokio::sync::Notify::new(),
            endpoints,
        }
    }

    async fn run(self: Arc<Self>, w: usize, rec: WorkerRecorder) {
        loop {
            let t = self.next.fetch_add(1, Ordering::Relaxed);
            if t >= self.tasks {
                break;
            }
            if let Some((store, key)) = self.keys.get(t) {
                self.remove(&rec, OpKind::Delete, store, key, t, w).await;
            } else {
                let i = self.run_starts.partition_point(|&s| s <= t) - 1;
                let (run, n) = (&self.runs[i], (t - self.run_starts[i]) as u64);
                if !run.is_gone(n) {
                    self.remove(&rec, OpKind::Delete, &run.store, &run.key(n), t, w).await;
                }
            }
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.tasks {
                self.all_done.notify_one();
            }
        }
        if w != 0 || self.dirs.is_empty() {
            return;
        }
        if self.done.load(Ordering::Acquire) < self.tasks {
            self.all_done.notified().await;
        }
        for (t, (store, dir)) in self.dirs.iter().enumerate() {
            self.remove(&rec, OpKind::Rmdir, store, dir, t, w).await;
        }
    }

    /// One measured DELETE (or RMDIR) of what the run made; already gone is not an error.
    async fn remove(&self, rec: &WorkerRecorder, op: OpKind, store: &Store, key: &str, t: usize, w: usize) {
        let (ep, _guard) = store.pick(&mut Cursor(t));
        let idx = self.endpoints.then_some(ep.idx);
        let started = std::time::Instant::now();
        let r = if op == OpKind::Rmdir { ep.backend.remove_dir(key).await } else { ep.backend.delete(key).await };
        let end = std::time::Instant::now();
        match r {
            Ok(()) => {
                let log = log_record(rec, op, w, ep, key, 0, None, started, end);
                rec.record_ok_logged(op, idx, 0, (end - started).as_micros() as u64, None, None, 0, log);
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => {
                let log = log_record(rec, op, w, ep, key, 0, Some(&e), started, end);
                rec.record_err_logged(op, idx, e.kind_name(), 0, log);
            }
        }
    }
}

impl PhaseJob for CleanupJob {
    fn worker(self: Arc<Self>, w: usize, rec: WorkerRecorder) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.run(w, rec))
    }
}

/// The op-log record of a closed-loop operation that started at `started` and ended now (only
/// when the op-log is on).
#[allow(clippy::too_many_arguments)]
fn log_record(
    rec: &WorkerRecorder,
    op: OpKind,
    w: usize,
    ep: &Endpoint,
    key: &str,
    bytes: u64,
    err: Option<&StoreError>,
    started: std::time::Instant,
    end: std::time::Instant,
) -> Option<OpRecord> {
    rec.logging().then(|| OpRecord {
        op,
        worker: w as u32,
        endpoint: ep.label.clone(),
        key: Arc::from(key),
        bytes,
        error: err.map(|e| error_text(e.kind_name(), &e.to_string())),
        intended: None,
        start: started,
        first_byte: None,
        end,
    })
}
