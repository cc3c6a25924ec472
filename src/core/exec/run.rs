//! The run of one agent (or of the local process): open stores, preflight, then each stage set up
//! (prepare planned, pools listed) and run, recorded as a [`StageReport`]. The order of the stages
//! lives in one place, [`super::pipeline::drive`]; this file is what each step does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::command::{run_command, CommandEnv};
use super::keys::Written;
use super::outcome::{AgentReport, IntervalRow, PhaseResult, StageOutcome, StageReport, StageTag};
use super::phase::{run_phase, PhaseOutput, PhaseSpec};
use super::placement::Placement;
use super::prepare::{self, Created};
use super::replay::{self, ReplayJob};
use super::stores::{open_stores, Stores};
use super::workload::{self as wl, WorkloadJob};
use crate::core::config::{IoEngine, PathSelection, Plan, StageKind, TreeCreationMode};
use crate::core::store::{uring, StoreError};

/// Why a run could not start or had to stop. `is_usage()` errors happen before any data is
/// written by the workload (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("storage {uri}: {source}")]
    Storage { uri: String, source: StoreError },
    #[error("workload[{index}] ({op} `{pattern}`): no objects match under {uri} — add a `prepare` step that creates them, or fix the path")]
    NoObjects { index: usize, op: String, pattern: String, uri: String },
    #[error("{0}")]
    Config(String),
}

/// What this process does within the fleet.
#[derive(Debug, Clone)]
pub struct RunRole {
    /// Index in `distributed.agents`; `None` for a local run.
    pub agent_index: Option<usize>,
    pub agent_count: usize,
    pub agent_id: String,
    /// Appended to every base URI (`<agent id>/` when agents do not share storage).
    pub root_suffix: Option<String>,
    /// Prepare creates object `j` only when `j % n == i`.
    pub prepare_split: Option<(usize, usize)>,
    /// Whether this process creates the tree's directories, and the prepared objects.
    pub make_tree_dirs: bool,
    pub make_files: bool,
    /// GET/STAT/DELETE touch only objects whose index in the sorted listing is `i mod n`.
    pub path_split: Option<(usize, usize)>,
    /// With `path_split`: the share of picks from any agent's objects (`partitioned`); 0: none.
    pub path_overlap: f64,
    /// Short id unique to the run; part of every PUT name.
    pub run_id: String,
}

impl RunRole {
    /// The in-process run: does everything itself.
    pub fn local(run_id: &str) -> Self {
        RunRole {
            agent_index: None,
            agent_count: 1,
            agent_id: "local".to_string(),
            root_suffix: None,
            prepare_split: None,
            make_tree_dirs: true,
            make_files: true,
            path_split: None,
            path_overlap: 0.0,
            run_id: run_id.to_string(),
        }
    }

    /// Agent `index` of the plan's fleet, per SPEC §2's placement rules.
    pub fn agent(plan: &Plan, index: usize, run_id: &str) -> Self {
        let mut role = RunRole::local(run_id);
        role.agent_index = Some(index);
        role.agent_count = plan.agent_count();
        role.agent_id = plan.agent(index).map(|a| a.id.clone()).unwrap_or_else(|| format!("agent-{index}"));
        if let Some(d) = &plan.distributed {
            let n = role.agent_count;
            if d.shared_filesystem {
                role.prepare_split = Some((index, n));
                role.make_tree_dirs = matches!(d.tree_creation_mode, TreeCreationMode::Agent);
            } else {
                role.root_suffix = Some(d.agent_prefix(&role.agent_id));
                role.make_tree_dirs = !matches!(d.tree_creation_mode, TreeCreationMode::Controller);
            }
            role.make_files = !matches!(d.tree_creation_mode, TreeCreationMode::Controller);
            match d.path_selection {
                PathSelection::Random => {}
                PathSelection::Distributed => role.path_split = Some((index, n)),
                PathSelection::Partitioned => {
                    role.path_split = Some((index, n));
                    role.path_overlap = d.partition_overlap;
                }
            }
        }
        role
    }
}

impl RunRole {
    /// What the controller itself prepares before the agents do, per `tree_creation_mode`:
    /// `coordinator` on shared storage → the tree's directories; `controller` → everything
    /// (for agent `storage_of` when agents do not share storage). `None`: nothing to do.
    pub fn controller(plan: &Plan, run_id: &str, storage_of: Option<usize>) -> Option<Self> {
        let d = plan.distributed.as_ref()?;
        let mut role = RunRole::local(run_id);
        role.agent_id = "controller".to_string();
        role.agent_count = plan.agent_count();
        let has_global = plan.target.is_some() || plan.effective_endpoints(None).is_some();
        match d.tree_creation_mode {
            TreeCreationMode::Agent => return None,
            TreeCreationMode::Coordinator => {
                if !d.shared_filesystem || plan.prepare.tree.is_none() {
                    return None;
                }
                role.make_files = false;
            }
            TreeCreationMode::Controller => {
                if plan.prepare.tree.is_none() && plan.prepare.ensure_objects.is_empty() {
                    return None;
                }
                if !d.shared_filesystem {
                    let i = storage_of?;
                    role.root_suffix = Some(d.agent_prefix(&plan.agent(i)?.id));
                    role.agent_index = (!has_global).then_some(i);
                    return Some(role);
                }
            }
        }
        role.agent_index = (!has_global).then_some(0);
        Some(role)
    }
}

/// A phase is starting: what the console needs for its line and progress bar.
#[derive(Debug, Clone, Copy)]
pub struct PhaseStart<'a> {
    pub stage: &'a StageTag,
    /// `prepare`, `workload` or `cleanup`.
    pub kind: &'a str,
    /// How long a workload runs (`None`: until its operation count, or a prepare/cleanup).
    pub duration: Option<Duration>,
    pub detail: &'a str,
}

/// Receives progress as it happens (console, or the agent's stream to the controller).
pub trait RunObserver: Send + Sync {
    /// A line worth telling the user (e.g. `created directory /tmp/x/`).
    fn on_note(&self, _line: &str) {}
    fn on_stage_start(&self, _index: usize, _plan: &Plan) {}
    fn on_phase_start(&self, _phase: &PhaseStart) {}
    fn on_interval(&self, _row: &IntervalRow) {}
    fn on_phase_end(&self, _stage: &StageTag, _result: &PhaseResult) {}
    fn on_stage_end(&self, _report: &StageReport, _plan: &Plan) {}
}

/// An observer that ignores everything.
pub struct NullObserver;
impl RunObserver for NullObserver {}

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Interval length of the time series (perf_log interval locally, 100 ms on agents).
    pub tick: Duration,
    /// Cancelling stops every phase at once (Ctrl-C, lost controller).
    pub cancel: CancellationToken,
    pub observer: Arc<dyn RunObserver>,
    /// How long requests still in flight at the deadline may take before they are abandoned.
    pub grace: Duration,
    /// Where every operation is recorded (`op_log:`), when it is.
    pub oplog: Option<Arc<crate::core::oplog::OpLog>>,
    /// Keep the rows in the run's report. An agent streams each row to the controller, which
    /// builds the time series, and keeps none: its memory does not grow with the run's length.
    pub keep_intervals: bool,
}

impl RunOptions {
    pub fn new(tick: Duration, observer: Arc<dyn RunObserver>) -> Self {
        RunOptions {
            tick,
            cancel: CancellationToken::new(),
            observer,
            grace: Duration::from_secs(5),
            oplog: None,
            keep_intervals: true,
        }
    }
}

/// What `setup_stage` prepared for `run_stage`.
enum Pending {
    Nothing,
    Prepare { work: prepare::Work, workers: usize },
    Verify { work: prepare::Work, workers: usize },
    Workload { job: Arc<WorkloadJob>, duration: Duration, warmup: Duration, workers: usize },
    Replay { job: Arc<ReplayJob>, workers: usize },
}

/// `limit` operations split over the agents in proportion to their workers (the remainder to the
/// first agents): the share of agent `me`.
pub fn ops_share(limit: u64, workers: &[usize], me: usize) -> u64 {
    let total: u128 = workers.iter().map(|&w| w as u128).sum::<u128>().max(1);
    let floors: Vec<u64> = workers.iter().map(|&w| (limit as u128 * w as u128 / total) as u64).collect();
    let rest = limit - floors.iter().sum::<u64>();
    floors.get(me).copied().unwrap_or(0) + u64::from((me as u64) < rest)
}

/// One process's run, stage by stage (see [`super::pipeline::drive`]).
pub struct Runner {
    pub plan: Arc<Plan>,
    pub role: RunRole,
    pub stores: Arc<Stores>,
    opts: RunOptions,
    report: AgentReport,
    created: Created,
    /// Objects the workload PUTs wrote so far, for `from: written` ops of later stages.
    written: Vec<Written>,
    pending: Pending,
    /// Why the run stopped early (error threshold, a failed stage, the fleet said so).
    stopped: Option<String>,
    /// Local directories (endpoint URI, path) preflight found missing: created at the first write.
    missing_roots: Vec<(String, String)>,
    /// Where kept perf-log rows go once closed (memory stays flat on long runs).
    spill: Option<Arc<super::spill::SpillStore>>,
}

impl Runner {
    /// Open the stores (clients only; no request is sent).
    pub async fn new(plan: Arc<Plan>, role: RunRole, opts: RunOptions) -> Result<Runner, RunError> {
        let stores = Arc::new(open_stores(&plan, &role).await?);
        let ep = plan.effective_endpoints(role.agent_index);
        let mut report = AgentReport::empty(&role.agent_id, "local");
        report.concurrency = plan.effective_concurrency(role.agent_index);
        report.endpoints = stores.table.iter().map(|e| e.uri.clone()).collect();
        report.strategy = ep.map(|e| e.strategy.name().to_string());
        let keep = opts.keep_intervals;
        Ok(Runner {
            plan,
            role,
            stores,
            opts,
            report,
            created: Created::default(),
            written: Vec::new(),
            pending: Pending::Nothing,
            stopped: None,
            missing_roots: Vec::new(),
            spill: if keep { super::spill::SpillStore::create_or_warn() } else { None },
        })
    }

    /// Check every endpoint is reachable (and writable when the run writes) before any I/O. A
    /// local directory that does not exist is fine when the run writes and it can be created:
    /// it is made at the first write, not here (a run that is refused touches nothing).
    pub async fn preflight(&mut self) -> Result<(), RunError> {
        let writes = self.plan.writes();
        for store in self.stores.all() {
            for ep in &store.endpoints {
                match ep.backend.preflight(writes).await {
                    Ok(()) => {}
                    Err(StoreError::MissingRoot(path)) if writes => self.missing_roots.push((ep.uri.clone(), path)),
                    // An agent's own directory under a shared target (`shared_filesystem: false`)
                    // is the run's to create: it is made when the run starts writing.
                    Err(StoreError::NotFound(_)) if self.role.root_suffix.is_some() && writes => {}
                    Err(e) => return Err(RunError::Storage { uri: ep.uri.clone(), source: e }),
                }
            }
        }
        Ok(())
    }

    /// Create this role's own root (`<target>/<agent id>/`) where the backend has directories,
    /// and the local directories preflight found missing (saying so, once each).
    async fn ensure_root(&mut self) -> Result<(), RunError> {
        if self.role.root_suffix.is_none() && self.missing_roots.is_empty() {
            return Ok(());
        }
        let missing = std::mem::take(&mut self.missing_roots);
        for store in self.stores.all() {
            for ep in &store.endpoints {
                let made = missing.iter().find(|(uri, _)| *uri == ep.uri);
                if self.role.root_suffix.is_none() && made.is_none() {
                    continue;
                }
                ep.backend.mkdir("").await.map_err(|e| RunError::Storage { uri: ep.uri.clone(), source: e })?;
                if let Some((_, path)) = made {
                    self.opts.observer.on_note(&format!("created directory {path}"));
                }
            }
        }
        Ok(())
    }

    fn tag(&self, i: usize) -> StageTag {
        StageTag::new(i, self.plan.stages.get(i).map(|s| s.name.as_str()).unwrap_or("?"))
    }

    fn spec(&self, stage: StageTag, workers: usize, cancel: CancellationToken) -> PhaseSpec {
        PhaseSpec {
            stage,
            warmup: None,
            workers: workers.max(1),
            placement: self.stores.placement(),
            tick: self.opts.tick,
            cancel,
            oplog: self.opts.oplog.clone(),
            keep_intervals: self.opts.keep_intervals,
            spill: self.spill.clone(),
            start_at: None,
        }
    }

    /// Fold a finished phase into the report and into the stage's record.
    fn absorb(&mut self, mut out: PhaseOutput, st: &mut StageReport) {
        out.result.in_flight_at_end = self.stores.in_flight();
        self.opts.observer.on_phase_end(&out.result.stage, &out.result);
        if st.kind == "workload" || st.kind == "replay" {
            self.report.cpu = out.cpu;
        }
        if let Some(reason) = out.stopped {
            st.outcome = StageOutcome::Failed(reason);
        }
        self.report.intervals.extend(out.intervals);
        st.result = Some(out.result);
        st.warmup = out.warmup;
    }

    /// Get stage `i` ready to start: plan the prepare (list what exists), list the workload's
    /// pools. Call after every agent finished the stage before, before the common start.
    pub async fn setup_stage(&mut self, i: usize) -> Result<(), RunError> {
        self.pending = Pending::Nothing;
        let Some(stage) = self.plan.stages.get(i).cloned() else { return Ok(()) };
        match &stage.kind {
            StageKind::Prepare(p) => {
                if p.ensure_objects.is_empty() && p.tree.is_none() {
                    return Ok(());
                }
                self.ensure_root().await?;
                let sp = self.plan.for_stage(i);
                let work = prepare::plan_work(&sp, &self.role, &self.stores, false).await?;
                self.pending = Pending::Prepare { work, workers: sp.effective_concurrency(self.role.agent_index) };
            }
            StageKind::Verify => {
                let sp = self.plan.for_stage(i);
                let work = prepare::plan_work(&sp, &self.role, &self.stores, true).await?;
                self.pending = Pending::Verify { work, workers: sp.effective_concurrency(self.role.agent_index) };
            }
            StageKind::Workload(w) => {
                let sp = self.plan.for_stage(i);
                if w.ops.iter().any(|o| matches!(o.op, crate::core::OpKind::Put | crate::core::OpKind::Mkdir)) {
                    self.ensure_root().await?;
                }
                // PUT names must not repeat across stages: later workload stages salt the run id.
                let first_workload = self.plan.stages.iter().position(|s| matches!(s.kind, StageKind::Workload(_)));
                let mut role = self.role.clone();
                if first_workload != Some(i) {
                    role.run_id = format!("{}s{i}", role.run_id);
                }
                let keep = self.plan.stages[i + 1..]
                    .iter()
                    .any(|s| matches!(&s.kind, StageKind::Workload(w) if w.ops.iter().any(|o| o.from_written)));
                let cancel = self.opts.cancel.child_token();
                let mut job = wl::resolve(&sp, &role, &self.stores, cancel, &self.written, keep).await?;
                if let Some(limit) = w.op_limit {
                    let me = self.role.agent_index.unwrap_or(0);
                    job.limit_ops(ops_share(limit, &self.plan.stage_workers(i), me));
                }
                let workers = sp.workload_workers(self.role.agent_index);
                self.pending =
                    Pending::Workload { job: Arc::new(job), duration: sp.duration, warmup: w.warmup, workers };
            }
            StageKind::Replay(r) => {
                let sp = self.plan.for_stage(i);
                let job = replay::resolve(&sp, r, &self.role).await?;
                let workers = sp.effective_concurrency(self.role.agent_index);
                self.pending = Pending::Replay { job: Arc::new(job), workers };
            }
            StageKind::Cleanup | StageKind::Command(_) => {}
        }
        Ok(())
    }

    /// A token for one stage: cancelled with the run, or when the stage's timeout passes
    /// (`timed_out` then says so).
    fn stage_token(&self, timeout: Option<Duration>) -> (CancellationToken, Arc<AtomicBool>) {
        let token = self.opts.cancel.child_token();
        let timed_out = Arc::new(AtomicBool::new(false));
        if let Some(t) = timeout {
            let (tok, flag) = (token.clone(), timed_out.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(t) => {
                        flag.store(true, Ordering::SeqCst);
                        tok.cancel();
                    }
                    _ = tok.cancelled() => {}
                }
            });
        }
        (token, timed_out)
    }

    /// Run stage `i` (set up by [`Runner::setup_stage`]) from `start_at` (waited for here; `None`:
    /// now) and record what it did.
    pub async fn run_stage(&mut self, i: usize, start_at: Option<Instant>) -> StageReport {
        let plan = self.plan.clone();
        let stage = &plan.stages[i];
        let mut st = StageReport::new(i, stage);
        // A workload waits for its instant inside its phase, its workers ready (see
        // `PhaseSpec::start_at`); every other stage waits here.
        let gated = start_at.filter(|_| matches!(self.pending, Pending::Workload { .. }));
        if let Some(t) = start_at.filter(|_| gated.is_none()) {
            tokio::select! {
                _ = tokio::time::sleep_until(t.into()) => {}
                _ = self.opts.cancel.cancelled() => {}
            }
        }
        if self.opts.cancel.is_cancelled() {
            st.outcome = StageOutcome::Skipped("the run was stopped".into());
            return self.record(st);
        }
        st.started_at = Some(SystemTime::now());
        self.opts.observer.on_stage_start(i, &plan);
        let until_start = gated.map_or(Duration::ZERO, |t| t.saturating_duration_since(Instant::now()));
        let (token, timed_out) = self.stage_token(stage.timeout.map(|t| t + until_start));
        let tag = self.tag(i);
        match (std::mem::replace(&mut self.pending, Pending::Nothing), &stage.kind) {
            (Pending::Prepare { work, workers }, _) => {
                st.existing = work.existing;
                st.created = work.tasks.len() as u64;
                let detail = format!("{} objects present, {} to create", work.existing, work.tasks.len());
                self.opts.observer.on_phase_start(&PhaseStart {
                    stage: &tag,
                    kind: "prepare",
                    duration: None,
                    detail: &detail,
                });
                let spec = self.spec(tag, workers, token.clone());
                let job = Arc::new(prepare::PrepareJob::new(work, self.stores.endpoints_in_use(), token.clone()));
                let out = run_phase(job.clone(), spec, &*self.opts.observer).await;
                let made = job.into_created();
                st.created = made.len() as u64;
                self.created.prepared.extend(made);
                self.absorb(out, &mut st);
                let delay = match &stage.kind {
                    StageKind::Prepare(p) => p.post_delay,
                    _ => Duration::ZERO,
                };
                if st.created > 0 && !delay.is_zero() && !token.is_cancelled() {
                    self.opts.observer.on_note(&format!(
                        "pausing {} s after prepare (post_prepare_delay) so that the new objects are listed everywhere",
                        delay.as_secs_f64()
                    ));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = token.cancelled() => {}
                    }
                }
            }
            (Pending::Verify { work, workers }, _) => {
                let detail = format!("{} objects to read and check", work.tasks.len());
                self.opts.observer.on_phase_start(&PhaseStart {
                    stage: &tag,
                    kind: "verify",
                    duration: None,
                    detail: &detail,
                });
                let spec = self.spec(tag, workers, token.clone());
                let job = Arc::new(prepare::VerifyJob::new(work, self.stores.endpoints_in_use(), token.clone()));
                let out = run_phase(job, spec, &*self.opts.observer).await;
                self.absorb(out, &mut st);
            }
            (Pending::Workload { job, duration, warmup, workers }, _) => {
                let mut spec = self.spec(tag.clone(), workers, token.clone());
                spec.warmup = Some(warmup).filter(|w| !w.is_zero());
                spec.start_at = gated;
                let ring_threads = Placement::Rings.threads(spec.workers);
                if spec.placement == Placement::PrivateThreads
                    && self.plan.storage.io_engine == IoEngine::Auto
                    && job.ring_ready()
                    && uring::can_install(spec.workers.div_ceil(ring_threads)).is_ok()
                {
                    spec.placement = Placement::Rings;
                }
                job.arm(duration, self.opts.grace, spec.cancel.clone());
                let shown = Some(duration).filter(|d| *d != Duration::MAX);
                // Which I/O path the GETs take is part of what the figures mean: say it.
                let detail = match spec.placement {
                    Placement::Rings => format!("file:// GETs through io_uring, {ring_threads} threads"),
                    _ => String::new(),
                };
                self.opts.observer.on_phase_start(&PhaseStart {
                    stage: &tag,
                    kind: "workload",
                    duration: shown,
                    detail: &detail,
                });
                let out = run_phase(job.clone(), spec, &*self.opts.observer).await;
                st.started_at = Some(out.started);
                self.created.runs.extend(job.created_runs());
                let changes = job.made();
                self.created.dirs.extend(changes.dirs);
                self.created.put.extend(changes.files);
                self.written.extend(changes.added);
                if !changes.removed.is_empty() {
                    let gone: std::collections::HashSet<(usize, &str)> =
                        changes.removed.iter().map(|w| (Arc::as_ptr(&w.src.store) as usize, &*w.key)).collect();
                    self.written.retain(|w| !gone.contains(&(Arc::as_ptr(&w.src.store) as usize, &*w.key)));
                }
                self.absorb(out, &mut st);
            }
            (Pending::Replay { job, workers }, _) => {
                let speed = match &stage.kind {
                    StageKind::Replay(r) => r.speed,
                    _ => 1.0,
                };
                let detail = format!("{} operations at speed {speed}", job.op_count());
                self.opts.observer.on_phase_start(&PhaseStart {
                    stage: &tag,
                    kind: "replay",
                    duration: None,
                    detail: &detail,
                });
                let mut spec = self.spec(tag, workers, token.clone());
                spec.placement = job.placement();
                job.arm(token.clone());
                let out = run_phase(job, spec, &*self.opts.observer).await;
                self.absorb(out, &mut st);
            }
            (Pending::Nothing, StageKind::Cleanup) => {
                let created = std::mem::take(&mut self.created);
                if !created.is_empty() {
                    let detail = format!("{} objects to delete", created.len());
                    self.opts.observer.on_phase_start(&PhaseStart {
                        stage: &tag,
                        kind: "cleanup",
                        duration: None,
                        detail: &detail,
                    });
                    let workers = plan.effective_concurrency(self.role.agent_index);
                    let spec = self.spec(tag, workers, token.clone());
                    let job = Arc::new(prepare::CleanupJob::new(created, self.stores.endpoints_in_use()));
                    let out = run_phase(job, spec, &*self.opts.observer).await;
                    self.absorb(out, &mut st);
                }
            }
            (Pending::Nothing, StageKind::Command(c)) => {
                if c.on_controller && self.role.agent_index.is_some() {
                    st.outcome = StageOutcome::Skipped("runs on the controller".into());
                } else {
                    let env = CommandEnv {
                        run_id: self.role.run_id.clone(),
                        stage: stage.name.clone(),
                        agent_id: self.role.agent_id.clone(),
                        agent_index: self.role.agent_index.unwrap_or(0),
                        agents: self.role.agent_count,
                    };
                    let (out, r) = run_command(c, &env, None, &token).await;
                    st.command = Some(out);
                    if let Err(why) = r {
                        st.outcome = StageOutcome::Failed(why);
                    }
                }
            }
            (Pending::Nothing, _) => {}
        }
        if timed_out.load(Ordering::SeqCst) {
            let t = stage.timeout.map(|t| t.as_secs_f64()).unwrap_or(0.0);
            st.outcome = StageOutcome::Failed(format!("stage `{}` timed out after {t}s", stage.name));
        } else if self.opts.cancel.is_cancelled() && st.outcome == StageOutcome::Completed {
            st.outcome = StageOutcome::Failed("stopped before the stage completed".into());
        }
        token.cancel();
        st.ended_at = Some(SystemTime::now());
        self.record(st)
    }

    /// A stage whose setup failed.
    pub fn stage_failed(&mut self, i: usize, why: String) -> StageReport {
        let mut st = StageReport::new(i, &self.plan.stages[i]);
        st.outcome = StageOutcome::Failed(why);
        self.record(st)
    }

    /// Stages from `i` on that have no record yet did not run: say why.
    pub fn skip_from(&mut self, i: usize, why: &str) {
        let plan = self.plan.clone();
        for (j, s) in plan.stages.iter().enumerate().skip(i) {
            if self.report.stages.iter().any(|r| r.index == j) {
                continue;
            }
            let mut st = StageReport::new(j, s);
            st.outcome = StageOutcome::Skipped(why.to_string());
            self.report.stages.push(st);
        }
    }

    fn record(&mut self, st: StageReport) -> StageReport {
        if let (Some(why), true) = (st.outcome.message(), st.stops_run()) {
            self.halt(format!("stage `{}`: {why}", st.name));
        }
        self.opts.observer.on_stage_end(&st, &self.plan);
        self.report.stages.push(st.clone());
        st
    }

    /// Stop the run here (the first reason is kept).
    pub fn halt(&mut self, why: String) {
        if self.stopped.is_none() {
            self.stopped = Some(why);
        }
    }

    /// Why the run stopped early, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Whether the run's stop token was cancelled (Ctrl-C, abort, lost controller).
    pub fn cancelled(&self) -> bool {
        self.opts.cancel.is_cancelled()
    }

    /// What this process measured.
    pub fn into_report(mut self) -> AgentReport {
        if self.report.failure.is_none() {
            self.report.failure = self.stopped.take();
        }
        self.report.stages.sort_by_key(|s| s.index);
        self.report.sum_stages();
        self.report
    }
}
