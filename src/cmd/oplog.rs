//! `sai3 oplog merge|stats`: tools on op-log files (core::oplog). Glue only.

use std::path::PathBuf;

use super::{CmdResult, Failure};
use crate::core::oplog;

pub fn merge(inputs: Vec<PathBuf>, output: PathBuf, force: bool) -> CmdResult {
    if inputs.is_empty() {
        return Err(Failure::Usage("name the op-log files to merge".into()));
    }
    if output.exists() && !force {
        return Err(Failure::Usage(format!("-o {}: exists — give --force to replace it", output.display())));
    }
    if inputs.iter().any(|i| std::fs::canonicalize(i).ok() == std::fs::canonicalize(&output).ok() && output.exists()) {
        return Err(Failure::Usage(format!("-o {}: that is one of the inputs", output.display())));
    }
    let n = oplog::merge(&inputs, &output).map_err(Failure::Usage)?;
    eprintln!("{n} operations from {} files, in start order, written to {}", inputs.len(), output.display());
    Ok(())
}

pub fn stats(file: PathBuf, top: usize) -> CmdResult {
    let s = oplog::stats(&file, top).map_err(Failure::Usage)?;
    print!("{}", oplog::render_stats(&s, &file));
    Ok(())
}
