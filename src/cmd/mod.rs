//! Subcommands: one thin file each, glue between the CLI, `net`, `report` and `core`.
pub mod agent;
pub mod analyze;
pub mod completions;
pub mod convert;
pub mod ctl;
pub mod ctl_distributed;
pub mod ctl_ping;
pub mod ctl_ssh;
pub mod logging;
pub mod man;
pub mod metrics;
pub mod oplog;
pub mod replay;
pub mod ssh_setup;

use std::fmt;

/// How a command ended, mapped to the process exit code by `main`.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or config; nothing was touched (exit 2).
    Usage(String),
    /// The run finished but something failed: errors over threshold, an agent lost (exit 1).
    Run(String),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Run(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Run(m) => f.write_str(m),
        }
    }
}

pub type CmdResult = Result<(), Failure>;

/// The answer of a subcommand that a later piece of work builds.
pub fn not_available(what: &str) -> CmdResult {
    Err(Failure::Usage(format!("`sai3 {what}` is not available yet in this build")))
}
