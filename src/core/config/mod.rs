//! Workload configuration: raw YAML → validated [`Plan`], with every error reported at once,
//! each naming its YAML path (`workload[2].weight`) and line. Owns serde_yaml; touches no storage.

mod convert;
mod dialect;
mod lines;
mod parse;
mod plan;
mod redact;
mod suggest;
mod units;

pub use convert::{convert, Converted};
pub use parse::{id_ok, DEFAULT_AGENT_PORT, DEFAULT_CONCURRENCY, DEFAULT_DURATION, DEFAULT_SEED};
pub use plan::*;
pub use redact::redact_yaml;
pub use units::{parse_duration, parse_size, size_text};

use std::fmt;
use std::path::Path;

use lines::{LineIndex, Source};
use parse::Ctx;

/// Parse and validate a config. `source` names the file in messages and the results folder.
/// Every problem is reported at once; nothing is touched.
pub fn parse(text: &str, source: Option<&Path>) -> Result<Plan, ConfigErrors> {
    parse_rewritten(text, source).map(|(plan, _)| plan)
}

/// A config's YAML with sai3-bench's dialect rewritten into sai3's keys.
struct Rewritten {
    value: serde_yaml::Value,
    /// What the rewrite did, in file order, each with its line (`line N: …`).
    changes: Vec<(dialect::Kind, String)>,
}

/// [`parse`], also handing back the rewritten YAML (for `convert`).
fn parse_rewritten(text: &str, source: Option<&Path>) -> Result<(Plan, Rewritten), ConfigErrors> {
    let file = source.map(|p| p.display().to_string());
    let src = Source::new(text);
    let fail = |errors: Vec<ConfigError>| ConfigErrors { file: file.clone(), errors };
    let mut value: serde_yaml::Value = match serde_yaml::from_str(&src.text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| src.original_line(l.line()));
            let mut msg = e.to_string();
            let mut hint = " — check the indentation and the `key: value` syntax";
            if msg.contains("more than one document") {
                msg = "the file holds several YAML documents (`---` lines)".into();
                hint = " — give one config per file";
            }
            // serde_yaml appends " at line L column C" of the rewritten text; the line is reported separately.
            if let Some(i) = msg.find(" at line ") {
                msg.truncate(i);
            }
            return Err(fail(vec![ConfigError {
                path: String::new(),
                line,
                message: format!("not valid YAML: {msg}{hint}"),
            }]));
        }
    };
    // sai3-bench's dialect first: its keys become sai3's, each change a notice.
    let rewrite = dialect::rewrite(&mut value);
    let mut idx = src.index();
    for (from, to) in &rewrite.moves {
        idx.alias(from, to);
    }
    let mut ctx = Ctx::new(&idx);
    let mut findings = rewrite.findings;
    findings.sort_by_key(|f| idx.line_of(&f.path).unwrap_or(usize::MAX));
    let mut changes = Vec::with_capacity(findings.len());
    for f in findings {
        let line = idx.line_of(&f.path);
        changes
            .push((f.kind.clone(), ConfigError { path: String::new(), line, message: f.message.clone() }.to_string()));
        match f.kind {
            dialect::Kind::Alias => {}
            dialect::Kind::Ignored => ctx.warn(&f.path, &f.message),
            dialect::Kind::Refused => ctx.err(&f.path, f.message),
        }
    }
    let mut plan = parse::build(&value, text, source, &mut ctx);
    plan.notices = changes.iter().filter(|(k, _)| *k == dialect::Kind::Alias).map(|(_, c)| c.clone()).collect();
    if !ctx.errors.is_empty() {
        // File order reads best; problems without a line (missing keys) go last.
        ctx.errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        return Err(fail(ctx.errors));
    }
    let mut warnings = src.warnings.clone();
    warnings.append(&mut plan.warnings);
    plan.warnings = warnings;
    Ok((plan, Rewritten { value, changes }))
}

/// Read and parse a config file. A missing or unreadable file is reported like any other problem.
pub fn load(path: &Path) -> Result<Plan, ConfigErrors> {
    let file = Some(path.display().to_string());
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                return Err(ConfigErrors {
                    file,
                    errors: vec![ConfigError {
                        path: String::new(),
                        line: None,
                        message: "is not UTF-8 text — save the config as UTF-8".into(),
                    }],
                })
            }
        },
        Err(e) => {
            let what = match e.kind() {
                std::io::ErrorKind::NotFound => "does not exist — check the path given to --config".to_string(),
                std::io::ErrorKind::PermissionDenied => {
                    "cannot be read (permission denied) — check its permissions".to_string()
                }
                _ if path.is_dir() => "is a directory — give the YAML file inside it".to_string(),
                _ => format!("cannot be read: {e}"),
            };
            return Err(ConfigErrors {
                file,
                errors: vec![ConfigError { path: String::new(), line: None, message: what }],
            });
        }
    };
    parse(&text, Some(path))
}

/// Replace (or create) `distributed.agents` from `ctl run --agents h:p,…` (or `id=h:p`); ids
/// are `agent-0..` unless given.
pub fn apply_cli_agents(plan: &mut Plan, agents: &[String]) -> Result<(), ConfigErrors> {
    let idx = LineIndex::empty();
    let mut ctx = Ctx::new(&idx);
    let mut specs = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        let at = format!("--agents[{i}]");
        let (id, addr) = match a.split_once('=') {
            Some((id, addr)) => {
                if !parse::id_ok(id) {
                    ctx.err(
                        &at,
                        format!("`{id}` cannot name a results folder — use letters, digits, `-`, `_` and `.`"),
                    );
                }
                (id.to_string(), addr)
            }
            None => (format!("agent-{i}"), a.as_str()),
        };
        if let Some(address) = parse::agent_address(&mut ctx, addr, &at) {
            if specs.iter().any(|s: &AgentSpec| s.address == address) {
                ctx.err(&at, format!("`{address}` is given twice"));
            }
            if specs.iter().any(|s: &AgentSpec| s.id == id) {
                ctx.err(&at, format!("the id `{id}` is given twice"));
            }
            specs.push(AgentSpec { address, id, concurrency_override: None, multi_endpoint: None });
        }
    }
    let d = plan.distributed.get_or_insert_with(|| DistributedPlan {
        agents: Vec::new(),
        shared_filesystem: true,
        tree_creation_mode: TreeCreationMode::Coordinator,
        path_selection: PathSelection::Random,
        start_delay: std::time::Duration::from_secs(2),
        ssh: None,
        tls: None,
        token_file: None,
        agents_from: None,
        ready_timeout: DEFAULT_READY_TIMEOUT,
        path_template: DEFAULT_PATH_TEMPLATE.to_string(),
        partition_overlap: DEFAULT_PARTITION_OVERLAP,
    });
    d.agents = specs;
    parse::cross_checks(plan, &mut ctx, None);
    if !ctx.errors.is_empty() {
        return Err(ConfigErrors { file: Some("--agents".into()), errors: ctx.errors });
    }
    plan.warnings.append(&mut ctx.warnings);
    Ok(())
}

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
        if self.errors.len() == 1 && self.errors[0].path.is_empty() && self.errors[0].line.is_none() {
            return writeln!(f, "{file}: {}", self.errors[0].message);
        }
        let n = self.errors.len();
        writeln!(f, "{file}: {n} problem{} found, nothing was run:", if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            writeln!(f, "  {file}: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
