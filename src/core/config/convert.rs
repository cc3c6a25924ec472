//! `sai3 convert`: a config in sai3-bench's dialect written out in sai3's own spelling. The
//! rewrite is the one every parse applies (`dialect`); the result is checked to parse to the same
//! plan before it is handed back. Touches no file: `cmd/convert.rs` reads and writes.

use std::path::Path;

use super::{ConfigError, ConfigErrors, Plan};

/// A converted config.
#[derive(Debug)]
pub struct Converted {
    /// The config in sai3's spelling.
    pub yaml: String,
    /// One line per change (`line N: …`), in file order.
    pub changes: Vec<String>,
}

/// The plan without what differs between two spellings of one config by construction.
fn comparable(mut p: Plan) -> Plan {
    p.config_text.clear();
    p.config_path = None;
    p.warnings.clear();
    p.notices.clear();
    p
}

/// The comment lines at the head of the file (its description), kept at the head of the output.
fn head_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('#') || t.is_empty() {
            out.push_str(line.trim_end());
            out.push('\n');
        } else {
            break;
        }
    }
    out.trim_start_matches('\n').to_string()
}

/// Convert `text` (a config file's content; `source` names it in messages).
pub fn convert(text: &str, source: Option<&Path>) -> Result<Converted, ConfigErrors> {
    let file = source.map(|p| p.display().to_string());
    let fail = |errors: Vec<ConfigError>| ConfigErrors { file: file.clone(), errors };
    // The config must be valid as it is (dialect included): the same checks as a run.
    let (before, rewritten) = super::parse_rewritten(text, source)?;
    let body = serde_yaml::to_string(&rewritten.value).map_err(|e| {
        fail(vec![ConfigError { path: String::new(), line: None, message: format!("cannot write YAML: {e}") }])
    })?;
    let name = source.and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut yaml = head_comments(text);
    if !rewritten.changes.is_empty() {
        yaml.push_str(&format!(
            "# Converted by `sai3 convert` from {name}: sai3-bench's keys in sai3's spelling (see docs/MIGRATING.md).\n# Comments other than this header are not kept.\n"
        ));
    }
    yaml.push_str(&body);
    // The converted text must say exactly what the original said.
    let bug = |why: String| {
        fail(vec![ConfigError {
            path: String::new(),
            line: None,
            message: format!("the converted config {why} — this is a bug in sai3 convert; the original runs as it is"),
        }])
    };
    match super::parse(&yaml, source) {
        Ok(after) if comparable(after.clone()) == comparable(before) => {}
        Ok(_) => return Err(bug("gives another plan than the original".into())),
        Err(e) => return Err(bug(format!("does not validate ({e})"))),
    }
    Ok(Converted { yaml, changes: rewritten.changes.into_iter().map(|(_, c)| c).collect() })
}
