//! Distributed `ctl run`: drives remote agents (see the distributed issue).

use super::ctl::RunArgs;
use super::{CmdResult, Failure};
use crate::core::config::Plan;

/// Run `plan` on its agents.
pub fn run_distributed(_plan: Plan, _args: &RunArgs) -> CmdResult {
    Err(Failure::Usage("distributed runs (`distributed:` or --agents) are not available yet in this build".into()))
}
