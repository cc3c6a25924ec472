//! Execution: open the stores, prepare, run the workers (closed and open loop), clean up, and
//! hand out interval snapshots as they happen. Used in-process by `ctl run` and by every agent.
//! Must not write files or talk to the network; results go out as an [`AgentReport`].

mod cpu;
mod keys;
mod merge;
mod outcome;
mod phase;
mod prepare;
mod run;
mod stores;
mod workload;

pub use cpu::CpuSampler;
pub use merge::{aggregate, fold_intervals, merge_fleet, FleetFolder};
pub use outcome::*;
pub use run::{run, NullObserver, RunError, RunObserver, RunOptions, RunRole, Runner};
pub use stores::{open_stores, Stores};
