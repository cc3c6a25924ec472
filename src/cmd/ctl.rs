//! `sai3 ctl run` / `sai3 ctl ping`: load and validate the config, then run it in-process
//! (no `distributed:` section) or on agents; write the results folder. Glue only.

use std::path::PathBuf;

use super::CmdResult;

/// Arguments of `ctl run`.
pub struct RunArgs {
    pub config: PathBuf,
    pub dry_run: bool,
    pub agents: Vec<String>,
    pub results_dir: Option<PathBuf>,
}

pub fn run(_args: RunArgs) -> CmdResult {
    super::not_available("ctl run")
}
