//! The validated, resolved form of a workload config: what the engine runs.
//! Built only by `config::load`/`config::parse`; every field here has passed validation.

use std::path::PathBuf;
use std::time::Duration;

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
    pub prepare: PreparePlan,
    pub workload: Vec<OpSpec>,
    /// The global multi-endpoint block, when one is enabled.
    pub multi_endpoint: Option<EndpointConfig>,
    pub distributed: Option<DistributedPlan>,
    pub perf_log: PerfLogPlan,
    pub error_handling: ErrorHandling,
    /// Delete what prepare and the workload created, after the run.
    pub cleanup: bool,
    pub storage: StorageOptions,
    /// Seed for every random choice of the run (per worker RNGs derive from it).
    pub seed: u64,
    /// Non-fatal findings (e.g. endpoints that do not divide evenly among agents).
    pub warnings: Vec<String>,
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
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreparePlan {
    pub ensure_objects: Vec<EnsureObjects>,
    pub tree: Option<TreeSpec>,
}

/// `prepare.ensure_objects[i]`: make sure `count` objects exist under `base_uri`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsureObjects {
    /// Absolute URI, or a prefix relative to the namespace root; ends in `/`.
    pub base_uri: String,
    pub count: u64,
    pub size: SizeSpec,
    pub fill: Fill,
    pub use_multi_endpoint: bool,
}

/// `prepare.tree`: `width` children per level, `depth` levels, `files_per_dir` files per leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSpec {
    pub base_uri: String,
    pub width: u32,
    pub depth: u32,
    pub files_per_dir: u32,
    pub size: SizeSpec,
    pub fill: Fill,
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
    /// Retries of a failed operation before it counts as an error.
    pub retries: u32,
}

/// Storage client settings that override the ecosystem's environment variables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StorageOptions {
    /// Per-request timeout.
    pub request_timeout: Option<Duration>,
    /// Retries inside the storage client (object_store's retry config).
    pub max_retries: Option<u32>,
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
}

impl Plan {
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
