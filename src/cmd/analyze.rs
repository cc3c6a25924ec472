//! `sai3 analyze`: pick the results folders, refuse to overwrite by accident, write the workbook,
//! report problems. Glue only; the workbook is `report::analyze`.

use std::path::PathBuf;

use super::{CmdResult, Failure};
use crate::report::analyze;

pub struct AnalyzeArgs {
    pub dirs: Vec<PathBuf>,
    pub output: PathBuf,
    pub pattern: Option<String>,
    pub base_dir: Option<PathBuf>,
    pub overwrite: bool,
}

pub fn run(a: AnalyzeArgs) -> CmdResult {
    let mut dirs = a.dirs.clone();
    if let Some(p) = &a.pattern {
        let base = a.base_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let found = analyze::find_dirs(&base, p).map_err(Failure::Usage)?;
        if found.is_empty() {
            return Err(Failure::Usage(format!("--pattern '{p}': no folder in {} matches", base.display())));
        }
        dirs.extend(found);
    } else if a.base_dir.is_some() {
        return Err(Failure::Usage(
            "--base-dir goes with --pattern (e.g. --pattern 'sai3-*' --base-dir results/)".into(),
        ));
    }
    if dirs.is_empty() {
        return Err(Failure::Usage("give the results folders: --dirs a,b or --pattern 'sai3-*' [--base-dir D]".into()));
    }
    if a.output.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()) != Some("xlsx".into()) {
        return Err(Failure::Usage(format!("--output {}: the workbook's name must end in .xlsx", a.output.display())));
    }
    if a.output.exists() && !a.overwrite {
        return Err(Failure::Usage(format!("--output {} exists; add --overwrite to replace it", a.output.display())));
    }
    let out = analyze::analyze(&dirs, &a.output, &analyze::Options::default()).map_err(Failure::Run)?;
    println!("Wrote {} ({} runs, {} sheets)", a.output.display(), out.runs, out.sheets.len());
    for n in &out.notes {
        println!("note: {n}");
    }
    if out.problems.is_empty() {
        Ok(())
    } else {
        for p in &out.problems {
            eprintln!("problem: {p}");
        }
        Err(Failure::Run(format!(
            "{} problem(s) — listed above and on the Summary sheet; the readable runs are in the workbook",
            out.problems.len()
        )))
    }
}
