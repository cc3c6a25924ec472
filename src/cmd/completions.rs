//! `sai3 completions SHELL`: the shell's completion script for the whole command line, on stdout.
//! Glue only: clap_complete renders the `clap::Command` that main.rs defines.

use std::io::Write;

use super::{CmdResult, Failure};

pub fn run(mut cli: clap::Command, shell: clap_complete::Shell) -> CmdResult {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli, "sai3", &mut script);
    write_stdout(&script)
}

/// Write to stdout; a closed pipe (`sai3 man | head`) is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> CmdResult {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Run(format!("writing to stdout: {e}"))),
        _ => Ok(()),
    }
}
