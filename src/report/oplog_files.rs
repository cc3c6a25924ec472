//! The op-log files of a results folder: written to a staging folder next to it while the run
//! goes (the results folder only exists once something was measured), then moved in — per agent
//! under `agents/<id>/`, and merged in time order at the top when `op_log.merge` asks for it.

use std::path::{Path, PathBuf};

use crate::core::config::OpLogPlan;
use crate::core::exec::AgentReport;
use crate::core::oplog::{self, FILE_NAME};

/// The op-log files a results folder will hold, relative to it: the one file of a local run;
/// each agent's that sent one, and the merged one first when `op_log.merge` (distributed).
pub fn names(plan: &OpLogPlan, distributed: bool, agents: &[AgentReport]) -> Vec<String> {
    if !plan.enabled {
        return Vec::new();
    }
    if !distributed {
        return vec![FILE_NAME.to_string()];
    }
    let mut out: Vec<String> =
        agents.iter().filter(|a| a.oplog.is_some()).map(|a| format!("agents/{}/{FILE_NAME}", a.id)).collect();
    if plan.merge && !out.is_empty() {
        out.insert(0, FILE_NAME.to_string());
    }
    out
}

/// `<base>/.sai3-oplog-<run id>/`: one `<who>.tsv.zst` per process while the run goes.
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub fn create(base: &Path, run_id: &str) -> Result<Staging, String> {
        let dir = base.join(format!(".sai3-oplog-{run_id}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {} for the op-log: {e}", dir.display()))?;
        Ok(Staging { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Start the op-log of a local run, writing `local.tsv.zst` here.
    pub fn start_local(&self, sample: f64) -> Result<oplog::OpLog, String> {
        let path = self.file_for("local");
        let f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let out = std::io::BufWriter::with_capacity(256 * 1024, f);
        oplog::OpLog::start(Box::new(out), oplog::OpLogOptions::new("local", sample))
            .map_err(|e| format!("cannot start the op-log: {e}"))
    }

    /// The file of process `who` (`local`, or an agent id).
    pub fn file_for(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.tsv.zst"))
    }

    /// Move the files into the results folder `results` (`local`: the one file at its top;
    /// else `agents/<id>/`, merged at the top when `merge`). Returns the files' relative paths.
    pub fn finish(self, results: &Path, local: bool, agents: &[String], merge: bool) -> Result<Vec<String>, String> {
        let mv = |from: &Path, to: &Path| -> Result<(), String> {
            if let Some(p) = to.parent() {
                std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
            }
            std::fs::rename(from, to)
                .or_else(|_| std::fs::copy(from, to).map(|_| ()).and_then(|()| std::fs::remove_file(from)))
                .map_err(|e| format!("moving the op-log to {}: {e}", to.display()))
        };
        let mut out = Vec::new();
        if local {
            mv(&self.file_for("local"), &results.join(FILE_NAME))?;
            out.push(FILE_NAME.to_string());
        } else {
            let mut moved = Vec::new();
            for id in agents {
                let from = self.file_for(id);
                if !from.exists() {
                    continue;
                }
                let rel = format!("agents/{id}/{FILE_NAME}");
                let to = results.join(&rel);
                mv(&from, &to)?;
                out.push(rel);
                moved.push(to);
            }
            if merge && !moved.is_empty() {
                oplog::merge(&moved, &results.join(FILE_NAME))?;
                out.insert(0, FILE_NAME.to_string());
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(out)
    }

    /// The run left no results folder: remove what was written.
    pub fn discard(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
