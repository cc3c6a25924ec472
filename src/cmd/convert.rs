//! `sai3 convert OLD.yaml [-o NEW.yaml] [--force]`: a config written for sai3-bench rewritten in
//! sai3's own spelling (core::config::convert), one line per change on stderr. Glue only.

use std::path::PathBuf;

use super::{CmdResult, Failure};
use crate::core::config;

pub struct ConvertArgs {
    pub input: PathBuf,
    pub output: Option<PathBuf>,
    pub force: bool,
}

pub fn run(args: ConvertArgs) -> CmdResult {
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| Failure::Usage(format!("{}: cannot be read: {e} — check the path", args.input.display())))?;
    let out = config::convert(&text, Some(&args.input)).map_err(|e| Failure::Usage(e.to_string()))?;
    let shown = args.input.display();
    for c in &out.changes {
        eprintln!("{shown}: {c}");
    }
    match &args.output {
        None => print!("{}", out.yaml),
        Some(o) => {
            let same =
                std::fs::canonicalize(o).ok().is_some_and(|c| std::fs::canonicalize(&args.input).ok() == Some(c));
            if same {
                return Err(Failure::Usage(format!(
                    "-o {}: that is the input file — write the converted config to a new file and compare",
                    o.display()
                )));
            }
            if o.exists() && !args.force {
                return Err(Failure::Usage(format!("-o {}: exists — give --force to replace it", o.display())));
            }
            std::fs::write(o, &out.yaml)
                .map_err(|e| Failure::Run(format!("-o {}: cannot be written: {e}", o.display())))?;
            eprintln!(
                "{}: {} change{}; written to {}",
                shown,
                out.changes.len(),
                if out.changes.len() == 1 { "" } else { "s" },
                o.display()
            );
        }
    }
    if out.changes.is_empty() {
        eprintln!("{shown}: already in sai3's spelling; nothing to change");
    }
    Ok(())
}
