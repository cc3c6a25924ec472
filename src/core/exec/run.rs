//! The run of one agent (or of the local process): open stores, preflight, prepare, resolve the
//! workload's key pools, run the workload, clean up. Each step is a method so the distributed
//! agent can put a synchronised start between them; [`run`] chains them for a local run.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::outcome::{AgentReport, CpuSample, IntervalRow, PhaseResult, Stage};
use super::phase::{run_phase, PhaseOutput, PhaseSpec};
use super::prepare::{self, Created};
use super::stores::{open_stores, Stores};
use super::workload::{self as wl, WorkloadJob};
use crate::core::config::{PathSelection, Plan, TreeCreationMode};
use crate::core::store::StoreError;
use crate::core::workload::Payload;

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
                role.root_suffix = Some(format!("{}/", role.agent_id));
                role.make_tree_dirs = !matches!(d.tree_creation_mode, TreeCreationMode::Controller);
            }
            role.make_files = !matches!(d.tree_creation_mode, TreeCreationMode::Controller);
            if d.path_selection == PathSelection::Distributed {
                role.path_split = Some((index, n));
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
                    role.root_suffix = Some(format!("{}/", plan.agent(i)?.id));
                    role.agent_index = (!has_global).then_some(i);
                    return Some(role);
                }
            }
        }
        role.agent_index = (!has_global).then_some(0);
        Some(role)
    }
}

/// Receives progress as it happens (console, or the agent's stream to the controller).
pub trait RunObserver: Send + Sync {
    fn on_phase_start(&self, _stage: Stage, _detail: &str) {}
    fn on_interval(&self, _row: &IntervalRow) {}
    fn on_phase_end(&self, _stage: Stage, _result: &PhaseResult) {}
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
}

impl RunOptions {
    pub fn new(tick: Duration, observer: Arc<dyn RunObserver>) -> Self {
        RunOptions { tick, cancel: CancellationToken::new(), observer, grace: Duration::from_secs(5) }
    }
}

/// One process's run, step by step.
pub struct Runner {
    pub plan: Arc<Plan>,
    pub role: RunRole,
    pub stores: Arc<Stores>,
    opts: RunOptions,
    payload: Option<Payload>,
    report: AgentReport,
    created: Created,
    job: Option<Arc<WorkloadJob>>,
    stopped: Option<String>,
}

impl Runner {
    /// Open the stores (clients only; no request is sent).
    pub async fn new(plan: Arc<Plan>, role: RunRole, opts: RunOptions) -> Result<Runner, RunError> {
        let stores = Arc::new(open_stores(&plan, &role).await?);
        let ep = plan.effective_endpoints(role.agent_index);
        let report = AgentReport {
            id: role.agent_id.clone(),
            address: "local".to_string(),
            concurrency: plan.effective_concurrency(role.agent_index),
            endpoints: stores.table.iter().map(|e| e.uri.clone()).collect(),
            strategy: ep.map(|e| e.strategy.name().to_string()),
            prepare: None,
            workload: None,
            cleanup: None,
            intervals: Vec::new(),
            prepare_existing: 0,
            prepare_created: 0,
            failure: None,
            clock_offset_ms: None,
            rtt_ms: None,
            start_skew_ms: None,
            cpu: CpuSample::default(),
        };
        Ok(Runner {
            plan,
            role,
            stores,
            opts,
            payload: None,
            report,
            created: Created::default(),
            job: None,
            stopped: None,
        })
    }

    /// Check every endpoint is reachable (and writable when the run writes) before any I/O.
    pub async fn preflight(&self) -> Result<(), RunError> {
        let p = &self.plan;
        let writes = !p.prepare.ensure_objects.is_empty()
            || p.prepare.tree.is_some()
            || p.cleanup
            || p.workload.iter().any(|o| matches!(o.op, crate::core::OpKind::Put | crate::core::OpKind::Delete));
        for store in self.stores.all() {
            for ep in &store.endpoints {
                match ep.backend.preflight(writes).await {
                    Ok(()) => {}
                    // An agent's own directory under a shared target (`shared_filesystem: false`)
                    // is the run's to create: it is made when the run starts writing.
                    Err(StoreError::NotFound(_)) if self.role.root_suffix.is_some() && writes => {}
                    Err(e) => return Err(RunError::Storage { uri: ep.uri.clone(), source: e }),
                }
            }
        }
        Ok(())
    }

    /// Create this role's own root (`<target>/<agent id>/`) where the backend has directories.
    async fn ensure_root(&self) -> Result<(), RunError> {
        if self.role.root_suffix.is_none() {
            return Ok(());
        }
        for store in self.stores.all() {
            for ep in &store.endpoints {
                ep.backend.mkdir("").await.map_err(|e| RunError::Storage { uri: ep.uri.clone(), source: e })?;
            }
        }
        Ok(())
    }

    fn payload(&mut self) -> Payload {
        let seed = self.plan.seed ^ 0x5a5a;
        self.payload.get_or_insert_with(|| Payload::new(seed)).clone()
    }

    fn spec(&self, stage: Stage, workers: usize) -> PhaseSpec {
        PhaseSpec {
            stage,
            workers: workers.max(1),
            threads: self.stores.all_blocking(),
            tick: self.opts.tick,
            cancel: self.opts.cancel.child_token(),
        }
    }

    fn absorb(&mut self, mut out: PhaseOutput) {
        let stage = out.result.stage;
        out.result.in_flight_at_end = self.stores.in_flight();
        self.opts.observer.on_phase_end(stage, &out.result);
        if stage == Stage::Workload {
            self.report.cpu = out.cpu;
        }
        if self.stopped.is_none() {
            self.stopped = out.stopped;
        }
        self.report.intervals.extend(out.intervals);
        match stage {
            Stage::Prepare => self.report.prepare = Some(out.result),
            Stage::Workload => self.report.workload = Some(out.result),
            Stage::Cleanup => self.report.cleanup = Some(out.result),
        }
    }

    /// Create the tree's directories (when this role does) and every missing prepared object
    /// this role owns. Returns without a phase when there is nothing to prepare.
    pub async fn prepare(&mut self) -> Result<(), RunError> {
        let plan = self.plan.clone();
        if plan.prepare.ensure_objects.is_empty() && plan.prepare.tree.is_none() {
            return Ok(());
        }
        self.ensure_root().await?;
        let work = prepare::plan_work(&plan, &self.role, &self.stores).await?;
        self.report.prepare_existing = work.existing;
        self.report.prepare_created = work.tasks.len() as u64;
        let detail = format!("{} objects present, {} to create", work.existing, work.tasks.len());
        self.opts.observer.on_phase_start(Stage::Prepare, &detail);
        let workers = plan.effective_concurrency(self.role.agent_index);
        let spec = self.spec(Stage::Prepare, workers);
        let job = Arc::new(prepare::PrepareJob::new(
            work,
            self.payload(),
            self.stores.endpoints_in_use(),
            spec.cancel.clone(),
        ));
        let out = run_phase(job.clone(), spec, &*self.opts.observer).await;
        self.created.prepared = job.into_created();
        self.absorb(out);
        Ok(())
    }

    /// List the objects each GET/STAT/DELETE draws from. Call after prepare, before the start.
    pub async fn resolve_workload(&mut self) -> Result<(), RunError> {
        if self.plan.workload.is_empty() || self.plan.duration.is_zero() {
            return Ok(());
        }
        if self.plan.workload.iter().any(|o| o.op == crate::core::OpKind::Put) {
            self.ensure_root().await?;
        }
        let payload = self.payload();
        let job = wl::resolve(&self.plan, &self.role, &self.stores, payload, self.opts.cancel.child_token()).await?;
        self.job = Some(Arc::new(job));
        Ok(())
    }

    /// Run the workload for the plan's duration from now (or from `start_at`, waited for here).
    pub async fn workload(&mut self, start_at: Option<Instant>) -> Result<(), RunError> {
        if self.job.is_none() {
            self.resolve_workload().await?;
        }
        let Some(job) = self.job.clone() else { return Ok(()) };
        if let Some(t) = start_at {
            tokio::select! {
                _ = tokio::time::sleep_until(t.into()) => {}
                _ = self.opts.cancel.cancelled() => return Ok(()),
            }
        }
        if self.opts.cancel.is_cancelled() || self.stopped.is_some() {
            return Ok(());
        }
        let workers = self.plan.effective_concurrency(self.role.agent_index);
        let spec = self.spec(Stage::Workload, workers);
        job.arm(Instant::now(), self.plan.duration, self.opts.grace, spec.cancel.clone());
        self.opts.observer.on_phase_start(Stage::Workload, "");
        let out = run_phase(job.clone(), spec, &*self.opts.observer).await;
        self.created.put = job.created_keys();
        self.absorb(out);
        Ok(())
    }

    /// Delete what this run created (prepared objects and PUTs), when the plan asks for it.
    pub async fn cleanup(&mut self) -> Result<(), RunError> {
        if !self.plan.cleanup || self.opts.cancel.is_cancelled() {
            return Ok(());
        }
        let created = std::mem::take(&mut self.created);
        if created.is_empty() {
            return Ok(());
        }
        self.opts.observer.on_phase_start(Stage::Cleanup, &format!("{} objects to delete", created.len()));
        let workers = self.plan.effective_concurrency(self.role.agent_index);
        let spec = self.spec(Stage::Cleanup, workers);
        let job = Arc::new(prepare::CleanupJob::new(created, self.stores.endpoints_in_use()));
        let out = run_phase(job, spec, &*self.opts.observer).await;
        self.absorb(out);
        Ok(())
    }

    /// Objects prepare found present, and created (0, 0 before prepare).
    pub fn prepare_counts(&self) -> (u64, u64) {
        (self.report.prepare_existing, self.report.prepare_created)
    }

    /// Why the run stopped early (error threshold), if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// What this process measured.
    pub fn into_report(mut self) -> AgentReport {
        if self.report.failure.is_none() {
            self.report.failure = self.stopped.take();
        }
        self.report
    }
}

/// A whole local run: preflight, prepare, workload, cleanup.
pub async fn run(plan: Arc<Plan>, role: RunRole, opts: RunOptions) -> Result<(AgentReport, SystemTime), RunError> {
    let started = SystemTime::now();
    let mut runner = Runner::new(plan, role, opts).await?;
    runner.preflight().await?;
    runner.prepare().await?;
    runner.resolve_workload().await?;
    runner.workload(None).await?;
    runner.cleanup().await?;
    Ok((runner.into_report(), started))
}
