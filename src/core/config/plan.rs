//! The validated, resolved form of a workload config: what the engine runs.
//! Built only by `config::load`/`config::parse`; every field here has passed validation.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::core::workload::Arrival;
use crate::core::OpKind;

/// A validated workload. Sizes in bytes, durations as `Duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The config file this plan came from, if any (names the results folder).
    pub config_path: Option<PathBuf>,
    /// The YAML text as given; agents receive this and parse it with the same code.
    pub config_text: String,
    /// Base URI of the namespace (`file:///tmp/x/`, `s3://bucket/prefix/`, …), always ending in `/`.
    pub target: Option<String>,
    /// How long the workload phase runs. Zero means prepare (and cleanup) only.
    pub duration: Duration,
    /// Workers per agent (or of the local run).
    pub concurrency: usize,
    /// Open-loop target rate in operations per second per agent; `None` means closed loop.
    pub io_rate: Option<f64>,
    /// How the open-loop arrivals are spaced (`io_rate: {iops, distribution}`).
    pub arrival: Arrival,
    pub prepare: PreparePlan,
    pub workload: Vec<OpSpec>,
    /// The global multi-endpoint block, when one is enabled.
    pub multi_endpoint: Option<EndpointConfig>,
    pub distributed: Option<DistributedPlan>,
    pub perf_log: PerfLogPlan,
    pub op_log: OpLogPlan,
    pub error_handling: ErrorHandling,
    /// Delete what prepare and the workload created, after the run.
    pub cleanup: bool,
    pub storage: StorageOptions,
    /// Seed for every random choice of the run (per worker RNGs derive from it).
    pub seed: u64,
    /// The stages the run executes, in order: the `stages:` list, or the implicit
    /// prepare → workload → cleanup of a config without one.
    pub stages: Vec<StagePlan>,
    /// `true` when the config lists `stages:` itself (per-stage result files are written then).
    pub explicit_stages: bool,
    /// Non-fatal findings (e.g. endpoints that do not divide evenly among agents).
    pub warnings: Vec<String>,
    /// sai3-bench spellings read as sai3's (one line each, naming the sai3 key).
    pub notices: Vec<String>,
}

/// One weighted entry of `workload:`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpSpec {
    pub op: OpKind,
    /// Path or pattern relative to the namespace root (target or endpoints), or an absolute URI.
    pub path: String,
    pub weight: u32,
    /// Object size for PUT (from `object_size` or `size_spec`); `None` for other ops.
    pub size: Option<SizeSpec>,
    /// `false` sends this op to `target` instead of the multi-endpoint set.
    pub use_multi_endpoint: bool,
    /// PUT: spread the generated names over this many hashed prefixes; 1: none.
    pub key_prefix_shards: u32,
    /// PUT: what the objects contain.
    pub data: DataSpec,
    /// GET: check every byte read against what the generator made for that name.
    pub verify: bool,
    /// GET: read a byte range instead of the whole object.
    pub range: Option<RangeSpec>,
    /// GET: read the whole object as parallel ranged reads (`part_size`, `parts_in_flight`).
    pub parts: Option<PartSpec>,
    /// Workers (per agent) that run only this op; `None`: the op is part of the shared mix.
    pub concurrency: Option<usize>,
    /// GET/STAT/DELETE: draw from the objects this run's PUTs wrote so far (`from: written`)
    /// instead of those listed when the stage starts. `path` (may be empty) then filters them.
    pub from_written: bool,
    /// RMDIR: remove each directory with everything in it (`recursive: true`).
    pub recursive: bool,
}

/// What generated objects contain (`fill`, `dedup_factor`, `compress_factor`, `block_size`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataSpec {
    pub fill: Fill,
    /// Of the blocks only 1/D are unique (1: all unique).
    pub dedup_factor: f64,
    /// Each block compresses to about 1/C (1: incompressible).
    pub compress_factor: f64,
    /// Block size of dedup and compression, bytes.
    pub block_size: u32,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec { fill: Fill::Random, dedup_factor: 1.0, compress_factor: 1.0, block_size: 4096 }
    }
}

/// Where a ranged GET reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOffset {
    Fixed(u64),
    /// A random offset aligned to `align` bytes, so that the range fits in the object.
    Random {
        align: u64,
    },
}

/// `range: {length, offset, align}` of a GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSpec {
    pub length: u64,
    pub offset: RangeOffset,
}

/// `part_size` + `parts_in_flight` of a GET: the object is read as ranges of `size` bytes, at
/// most `in_flight` of them at a time; the GET's latency is the whole object's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSpec {
    pub size: u64,
    pub in_flight: usize,
}

/// A size distribution, in bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum SizeSpec {
    Fixed(u64),
    Uniform {
        min: u64,
        max: u64,
    },
    /// Log-normal with the given mean and standard deviation (bytes), clamped to [min, max].
    Lognormal {
        mean: f64,
        std_dev: f64,
        min: u64,
        max: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Random,
    Zero,
    /// Each 8-byte word holds its own byte offset in the object.
    Pattern,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreparePlan {
    pub ensure_objects: Vec<EnsureObjects>,
    pub tree: Option<TreeSpec>,
    /// Write every object, also those that exist already (`force_overwrite: true`).
    pub force_overwrite: bool,
    /// Pause after the prepare stage when it created anything (`post_prepare_delay`), e.g. for an
    /// eventually consistent store to show the new objects to every lister.
    pub post_delay: Duration,
}

/// `prepare.ensure_objects[i]`: make sure `count` objects exist under `base_uri`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsureObjects {
    /// Absolute URI, or a prefix relative to the namespace root; ends in `/`.
    pub base_uri: String,
    pub count: u64,
    pub size: SizeSpec,
    pub data: DataSpec,
    pub use_multi_endpoint: bool,
    /// Spread the names over this many hashed prefixes (`3f/prepared-…`); 1: none.
    pub key_prefix_shards: u32,
}

/// `prepare.tree`: `width` children per level, `depth` levels, `files_per_dir` files per leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSpec {
    pub base_uri: String,
    pub width: u32,
    pub depth: u32,
    pub files_per_dir: u32,
    pub size: SizeSpec,
    pub data: DataSpec,
    /// Files in every directory (`distribution: all`), not only in the leaves (`bottom`).
    pub all_levels: bool,
    /// Directory names: first `%d` the level, second the child's number, both from 1.
    pub dir_mask: Option<String>,
}

impl TreeSpec {
    /// The tree's directories and file names.
    pub fn shape(&self) -> crate::core::workload::TreeShape<'_> {
        crate::core::workload::TreeShape {
            width: self.width,
            depth: self.depth,
            files_per_dir: self.files_per_dir,
            all_levels: self.all_levels,
            dir_mask: self.dir_mask.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    LeastConnections,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastConnections => "least_connections",
        }
    }
}

/// An enabled multi-endpoint block: URIs (each ending in `/`) of one namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    pub strategy: Strategy,
    pub endpoints: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeCreationMode {
    Coordinator,
    Agent,
    Controller,
}

impl TreeCreationMode {
    pub fn name(self) -> &'static str {
        match self {
            TreeCreationMode::Coordinator => "coordinator",
            TreeCreationMode::Agent => "agent",
            TreeCreationMode::Controller => "controller",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSelection {
    Random,
    Distributed,
    /// Mostly this agent's share, and `partition_overlap` of the picks from anywhere.
    Partitioned,
}

impl PathSelection {
    pub fn name(self) -> &'static str {
        match self {
            PathSelection::Random => "random",
            PathSelection::Distributed => "distributed",
            PathSelection::Partitioned => "partitioned",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DistributedPlan {
    pub agents: Vec<AgentSpec>,
    pub shared_filesystem: bool,
    pub tree_creation_mode: TreeCreationMode,
    pub path_selection: PathSelection,
    pub start_delay: Duration,
    pub ssh: Option<SshPlan>,
    /// TLS material for the controller↔agent channel (`distributed.tls`).
    pub tls: Option<TlsPlan>,
    /// File holding the shared token agents require (`distributed.token_file`).
    pub token_file: Option<PathBuf>,
    /// `distributed.agents_from`: the agents are every address a DNS name resolves to (filled in
    /// by `ctl run` before the run; `agents` is empty until then).
    pub agents_from: Option<AgentsFrom>,
    /// How long agents may take to validate the config and storage (`agent_ready_timeout`).
    pub ready_timeout: Duration,
    /// Each agent's own prefix when agents do not share storage; `{id}` is the agent's id
    /// (`path_template`, default `{id}/`).
    pub path_template: String,
    /// `path_selection: partitioned`: the share of picks from any agent's objects (0..1).
    pub partition_overlap: f64,
}

/// Default of `distributed.agent_ready_timeout`.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `distributed.partition_overlap` (sai3-bench's).
pub const DEFAULT_PARTITION_OVERLAP: f64 = 0.3;
/// Default of `distributed.path_template`.
pub const DEFAULT_PATH_TEMPLATE: &str = "{id}/";

impl DistributedPlan {
    /// The prefix of agent `id`'s own storage (agents that do not share storage), ending in `/`.
    pub fn agent_prefix(&self, id: &str) -> String {
        let p = self.path_template.replace("{id}", id);
        if p.ends_with('/') {
            p
        } else {
            format!("{p}/")
        }
    }
}

/// `distributed.agents_from: {dns, port, count}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentsFrom {
    /// A name with one address per agent (a Kubernetes headless Service).
    pub dns: String,
    pub port: u16,
    /// Wait until the name has this many addresses (pods become ready one by one).
    pub count: Option<usize>,
}

/// `distributed.tls`: PEM files. `ca` verifies the peer; `cert` + `key` present ours.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsPlan {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// `host:port` of the agent's gRPC service (port 7761 added when missing).
    pub address: String,
    /// Explicit id, or `agent-<index>`.
    pub id: String,
    pub concurrency_override: Option<usize>,
    pub multi_endpoint: Option<EndpointConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SshPlan {
    pub enabled: bool,
    pub user: Option<String>,
    pub key_path: Option<PathBuf>,
    /// SSH port (default 22); the agent's gRPC port stays in its address.
    pub port: u16,
}

/// `op_log:`: record every operation (or a `sample` of them) in `oplog.tsv.zst`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpLogPlan {
    pub enabled: bool,
    /// Fraction of operations recorded (0 < sample <= 1).
    pub sample: f64,
    /// Distributed runs: also write one time-ordered `oplog.tsv.zst` of all agents at the top.
    pub merge: bool,
}

impl Default for OpLogPlan {
    fn default() -> Self {
        OpLogPlan { enabled: false, sample: 1.0, merge: false }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PerfLogPlan {
    pub enabled: bool,
    /// File name inside the results folder (default `perf_log.tsv`).
    pub path: String,
    pub interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorHandling {
    /// Stop the run once this many operations failed (after retries). `None`: never.
    pub max_errors: Option<u64>,
    /// Stop the run once the failed fraction exceeds this (0..1), checked per interval. `None`: never.
    pub max_error_rate: Option<f64>,
    /// Retries of a failed operation before it counts as an error (`error_handling.retries`, or
    /// `storage.retries`; default 0). The storage client itself never retries.
    pub retries: u32,
}

/// Storage client settings that override the ecosystem's environment variables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StorageOptions {
    /// Per-request timeout.
    pub request_timeout: Option<Duration>,
    /// PUTs at or above this size use multipart upload (bytes).
    pub multipart_threshold: Option<u64>,
    /// Part size of multipart uploads (bytes).
    pub multipart_part_size: Option<u64>,
    pub region: Option<String>,
    /// Endpoint URL for `s3://bucket/` targets (like `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    pub path_style: Option<bool>,
    pub allow_http: Option<bool>,
    /// Allow falling back to cloud instance metadata for credentials (default: never).
    pub use_instance_metadata: bool,
    /// The page-cache hint for `file://` reads (`page_cache`).
    pub page_cache: PageCache,
    /// `storage.s3_client`: which client carries S3 GETs and PUTs.
    pub s3_client: S3Client,
    /// `storage.io_engine`: how `file://` GETs reach the kernel.
    pub io_engine: IoEngine,
    /// `storage.unsigned_payload`: S3 PUTs send `UNSIGNED-PAYLOAD` instead of the body's
    /// SHA-256 (None: `AWS_UNSIGNED_PAYLOAD`, else signed).
    pub unsigned_payload: Option<bool>,
}

/// `storage.s3_client`: `auto` sends the GETs and single-request PUTs of plain-HTTP S3 endpoints
/// with static credentials over sai3's own HTTP/1.1 data path, everything else through
/// object_store; `object_store` sends everything through object_store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum S3Client {
    #[default]
    Auto,
    ObjectStore,
    /// As `auto`, over blocking sockets from workers with an OS thread each.
    Threads,
}

/// `storage.io_engine`: `auto` runs a workload whose every request is a `file://` GET on io_uring
/// threads when the kernel allows it (`exec::placement::Placement::Rings`), everything else
/// with blocking system calls on a thread per worker; `sync` always the latter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoEngine {
    #[default]
    Auto,
    Sync,
}

/// `storage.page_cache`: what `file://` GETs tell the kernel about the file they read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageCache {
    /// No hint: the kernel's own read-ahead.
    #[default]
    Auto,
    /// `POSIX_FADV_NORMAL` before reading.
    Normal,
    /// `POSIX_FADV_SEQUENTIAL` before reading (more read-ahead).
    Sequential,
    /// `POSIX_FADV_RANDOM` before reading (no read-ahead).
    Random,
    /// `POSIX_FADV_DONTNEED` after reading: the file's pages leave the cache.
    DontNeed,
}

impl PageCache {
    pub fn name(self) -> &'static str {
        match self {
            PageCache::Auto => "auto",
            PageCache::Normal => "normal",
            PageCache::Sequential => "sequential",
            PageCache::Random => "random",
            PageCache::DontNeed => "dontneed",
        }
    }
}

/// One stage of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    /// Unique within the run; names result files and perf-log rows.
    pub name: String,
    pub kind: StageKind,
    /// A failure is recorded but does not fail the run.
    pub optional: bool,
    /// The stage is stopped (and fails) after this long.
    pub timeout: Option<Duration>,
    /// How the fleet waits for every agent to finish this stage before the next one starts.
    pub barrier: BarrierPlan,
}

/// What a stage does.
#[derive(Debug, Clone, PartialEq)]
pub enum StageKind {
    /// Make sure the objects of this prepare block exist.
    Prepare(PreparePlan),
    Workload(WorkloadStage),
    /// Delete what the run created so far.
    Cleanup,
    /// Read every object the prepare stages before it wrote, once, and check its content.
    Verify,
    Command(CommandStage),
    /// Issue the operations of an op-log at their recorded times.
    Replay(ReplayStage),
}

impl StageKind {
    /// The `type:` of the stage in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            StageKind::Prepare(_) => "prepare",
            StageKind::Workload(_) => "workload",
            StageKind::Cleanup => "cleanup",
            StageKind::Verify => "verify",
            StageKind::Command(_) => "command",
            StageKind::Replay(_) => "replay",
        }
    }
}

/// A `replay` stage: the operations of an op-log file, at their recorded start times divided by
/// `speed`, open loop.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayStage {
    /// The op-log (sai3's `oplog.tsv.zst` or warp's `.csv.zst`), on the host that replays it.
    pub oplog: String,
    /// Send every operation here instead of its recorded endpoint.
    pub target: Option<String>,
    /// URI prefixes rewritten after `target` (`old=new`; the first match wins).
    pub remap: Vec<crate::core::oplog::Remap>,
    pub speed: f64,
    /// Workers issuing the operations (per agent); `None`: the top-level `concurrency`.
    pub concurrency: Option<usize>,
}

/// A measured workload stage.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadStage {
    pub ops: Vec<OpSpec>,
    /// Stop after this long (warmup included). `None`: only `op_limit` ends the stage.
    pub duration: Option<Duration>,
    /// Stop after this many operations across the whole fleet (split by worker share).
    pub op_limit: Option<u64>,
    /// Workers per agent in this stage (replaces `concurrency` and per-agent overrides).
    pub concurrency: Option<usize>,
    /// Open-loop rate of this stage, operations per second per agent, and its arrival process.
    pub io_rate: Option<f64>,
    pub arrival: Arrival,
    /// The first part of the stage that runs at full load but stays out of every total.
    pub warmup: Duration,
}

/// A `command` stage: run a program on every agent, or once on the controller.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandStage {
    pub command: String,
    pub args: Vec<String>,
    /// `on: controller`: run once on the controller instead of on every agent.
    pub on_controller: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierPolicy {
    /// Every agent must arrive within the timeout, or the run fails.
    All,
    /// Continue when more than half arrived; the others are dropped (degraded).
    Majority,
    /// Continue with whoever arrived.
    BestEffort,
}

impl BarrierPolicy {
    pub fn name(self) -> &'static str {
        match self {
            BarrierPolicy::All => "all",
            BarrierPolicy::Majority => "majority",
            BarrierPolicy::BestEffort => "best_effort",
        }
    }
}

/// `barrier: {policy, timeout}` of a stage; the timeout counts from the first agent's arrival.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarrierPlan {
    pub policy: BarrierPolicy,
    pub timeout: Duration,
}

/// Default barrier timeout: how long agents that finished a stage wait for the others.
pub const DEFAULT_BARRIER_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for BarrierPlan {
    fn default() -> Self {
        BarrierPlan { policy: BarrierPolicy::All, timeout: DEFAULT_BARRIER_TIMEOUT }
    }
}

impl Plan {
    /// The plan as stage `i` runs it: its prepare block, op mix, duration, rate and concurrency
    /// in place of the top-level ones (a stage of another type gets an empty prepare and mix).
    pub fn for_stage(&self, i: usize) -> Plan {
        let mut p = self.clone();
        p.prepare = PreparePlan::default();
        p.workload = Vec::new();
        p.duration = Duration::ZERO;
        p.io_rate = None;
        p.cleanup = false;
        match self.stages.get(i).map(|s| &s.kind) {
            Some(StageKind::Prepare(pp)) => p.prepare = pp.clone(),
            Some(StageKind::Workload(w)) => {
                p.workload = w.ops.clone();
                p.duration = w.duration.unwrap_or(Duration::MAX);
                p.io_rate = w.io_rate;
                p.arrival = w.arrival;
                if let Some(c) = w.concurrency {
                    p.concurrency = c;
                    if let Some(d) = &mut p.distributed {
                        for a in &mut d.agents {
                            a.concurrency_override = None;
                        }
                    }
                }
            }
            Some(StageKind::Cleanup) => p.cleanup = true,
            Some(StageKind::Verify) => {
                for s in &self.stages[..i] {
                    if let StageKind::Prepare(pp) = &s.kind {
                        p.prepare.ensure_objects.extend(pp.ensure_objects.iter().cloned());
                        if pp.tree.is_some() {
                            p.prepare.tree = pp.tree.clone();
                        }
                    }
                }
            }
            Some(StageKind::Replay(r)) => {
                if let Some(c) = r.concurrency {
                    p.concurrency = c;
                    if let Some(d) = &mut p.distributed {
                        for a in &mut d.agents {
                            a.concurrency_override = None;
                        }
                    }
                }
            }
            Some(StageKind::Command(_)) | None => {}
        }
        p
    }

    /// Whether any stage writes or deletes (preflight then checks the storage is writable).
    pub fn writes(&self) -> bool {
        self.stages.iter().any(|s| match &s.kind {
            StageKind::Prepare(p) => !p.ensure_objects.is_empty() || p.tree.is_some(),
            StageKind::Workload(w) => w.ops.iter().any(|o| matches!(o.op, OpKind::Put | OpKind::Delete)),
            StageKind::Cleanup => true,
            StageKind::Verify => false,
            StageKind::Command(_) => false,
            // A replay opens the stores it replays to itself, when it is set up.
            StageKind::Replay(_) => false,
        })
    }

    /// Every path and base URI any stage names (for opening stores).
    pub fn all_paths(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.stages {
            match &s.kind {
                StageKind::Prepare(p) => {
                    out.extend(p.ensure_objects.iter().map(|e| e.base_uri.as_str()));
                    out.extend(p.tree.iter().map(|t| t.base_uri.as_str()));
                }
                StageKind::Workload(w) => out.extend(w.ops.iter().map(|o| o.path.as_str())),
                _ => {}
            }
        }
        out.extend(self.workload.iter().map(|o| o.path.as_str()));
        out.extend(self.prepare.ensure_objects.iter().map(|e| e.base_uri.as_str()));
        out.extend(self.prepare.tree.iter().map(|t| t.base_uri.as_str()));
        out
    }

    /// What the objects a GET of `path` reads were written with: the first prepare block or PUT
    /// (in stage order) whose names share the path's prefix; the default data otherwise.
    pub fn data_for(&self, path: &str) -> DataSpec {
        let norm = |p: &str| -> String {
            let p = p.split(['*', '{']).next().unwrap_or("");
            match &self.target {
                Some(t) => p.strip_prefix(t.as_str()).unwrap_or(p).to_string(),
                None => p.to_string(),
            }
        };
        let want = norm(path);
        let covers = |base: &str| {
            let b = norm(base);
            want.starts_with(&b) || b.starts_with(&want)
        };
        for s in &self.stages {
            match &s.kind {
                StageKind::Prepare(p) => {
                    if let Some(e) = p.ensure_objects.iter().find(|e| covers(&e.base_uri)) {
                        return e.data;
                    }
                    if let Some(t) = p.tree.as_ref().filter(|t| covers(&t.base_uri)) {
                        return t.data;
                    }
                }
                StageKind::Workload(w) => {
                    if let Some(o) = w.ops.iter().find(|o| o.op == OpKind::Put && covers(&o.path)) {
                        return o.data;
                    }
                }
                _ => {}
            }
        }
        DataSpec::default()
    }

    /// Workers of each agent in stage `i` (one entry for a local run).
    pub fn stage_workers(&self, i: usize) -> Vec<usize> {
        let p = self.for_stage(i);
        let w =
            |a: Option<usize>| if p.workload.is_empty() { p.effective_concurrency(a) } else { p.workload_workers(a) };
        match &self.distributed {
            Some(d) if !d.agents.is_empty() => (0..d.agents.len()).map(|a| w(Some(a))).collect(),
            _ => vec![w(None)],
        }
    }

    /// Workers of the shared op mix of the workload: `concurrency` when some op has no
    /// `concurrency` of its own, else none.
    pub fn mix_workers(&self, agent_index: Option<usize>) -> usize {
        if self.workload.iter().any(|o| o.concurrency.is_none()) {
            self.effective_concurrency(agent_index)
        } else {
            0
        }
    }

    /// Every worker of the workload: the mix's plus each op's own (`concurrency:` on an op).
    pub fn workload_workers(&self, agent_index: Option<usize>) -> usize {
        self.mix_workers(agent_index) + self.workload.iter().filter_map(|o| o.concurrency).sum::<usize>()
    }

    /// The agent spec at `agent_index`, when distributed.
    pub fn agent(&self, agent_index: usize) -> Option<&AgentSpec> {
        self.distributed.as_ref().and_then(|d| d.agents.get(agent_index))
    }

    /// Workers the given agent runs (`None`: the local run).
    pub fn effective_concurrency(&self, agent_index: Option<usize>) -> usize {
        agent_index.and_then(|i| self.agent(i)).and_then(|a| a.concurrency_override).unwrap_or(self.concurrency)
    }

    /// Endpoints the given agent uses: its own block, else the global one, else none.
    pub fn effective_endpoints(&self, agent_index: Option<usize>) -> Option<&EndpointConfig> {
        agent_index.and_then(|i| self.agent(i)).and_then(|a| a.multi_endpoint.as_ref()).or(self.multi_endpoint.as_ref())
    }

    /// Number of agents (1 for a local run).
    pub fn agent_count(&self) -> usize {
        self.distributed.as_ref().map(|d| d.agents.len().max(1)).unwrap_or(1)
    }

    /// Config file stem, used in the results folder name (`quickstart` for `quickstart.yaml`).
    pub fn config_stem(&self) -> String {
        self.config_path
            .as_ref()
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".to_string())
    }
}
