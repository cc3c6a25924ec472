//! Execution: open the stores, run the plan's stages (prepare, workload with closed or open loop,
//! cleanup, command) through one driver, and hand out interval snapshots as they happen. Used in-process by `ctl run` and by every agent.
//! Must not write files or talk to the network; results go out as an [`AgentReport`].

mod command;
mod cpu;
mod keys;
mod live;
mod merge;
mod outcome;
mod phase;
mod pipeline;
mod placement;
mod prepare;
mod reads;
mod replay;
mod rows;
mod run;
mod spill;
mod stopflag;
mod stores;
mod workload;

pub use command::{run_command, CommandEnv};
pub use cpu::CpuSampler;
pub use live::{EndpointSeries, LiveFeed, LiveMetrics, LiveView, OpSeries, SeriesKey, Tee, LATENCY_BOUNDS_US};
pub use merge::{aggregate, merge_stages, FleetFolder};
pub use outcome::*;
pub use phase::realtime_start;
pub use pipeline::{drive, run_alone, Immediate, StageGate};
pub use rows::{absorb_row, RowSink};
pub use run::{ops_share, NullObserver, PhaseStart, RunError, RunObserver, RunOptions, RunRole, Runner};
pub use spill::{Rows, SpillStore};
pub use stores::{open_stores, Stores};
