//! Workload configuration: raw YAML → validated [`Plan`], with every error reported at once,
//! each naming its YAML path (`workload[2].weight`) and line. Owns serde_yaml; touches no storage.

mod plan;
pub use plan::*;

use std::fmt;
use std::path::Path;

/// One problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// YAML path of the offending key, e.g. `workload[2].weight` (empty for the whole document).
    pub path: String,
    /// 1-based line in the config file, when known.
    pub line: Option<usize>,
    /// What is wrong and what to do about it.
    pub message: String,
}

/// Every problem found in a config; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file the config came from, for messages.
    pub file: Option<String>,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.path.is_empty()) {
            (Some(l), false) => write!(f, "line {l}: {}: {}", self.path, self.message),
            (Some(l), true) => write!(f, "line {l}: {}", self.message),
            (None, false) => write!(f, "{}: {}", self.path, self.message),
            (None, true) => write!(f, "{}", self.message),
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.as_deref().unwrap_or("config");
        let n = self.errors.len();
        writeln!(f, "{file}: {n} problem{} found, nothing was run:", if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            writeln!(f, "  {file}: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
