//! The walk from a `serde_yaml::Value` to a [`Plan`]: every key checked, every problem collected
//! with its YAML path, nothing touched.

use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::lines::LineIndex;
use super::plan::*;
use super::suggest::hint;
use super::units::{parse_duration, parse_size, secs_to_duration, size_text};
use super::ConfigError;
use crate::core::store::parse_location;
use crate::core::OpKind;

mod checks;
mod distributed;
mod entries;
mod sizes;
mod stages;

pub(super) use checks::cross_checks;
use distributed::distributed;
pub use distributed::{agent_address, id_ok};
use entries::{ensure_entry, op_entry, tree_entry};

/// Default gRPC port of an agent.
pub const DEFAULT_AGENT_PORT: u16 = 7761;
/// Default seed: runs are reproducible unless `seed:` says otherwise.
pub const DEFAULT_SEED: u64 = 0x5A13_0001;
pub const DEFAULT_CONCURRENCY: usize = 16;
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);

const TOP_KEYS: &[&str] = &[
    "target",
    "duration",
    "concurrency",
    "io_rate",
    "prepare",
    "workload",
    "multi_endpoint",
    "distributed",
    "perf_log",
    "error_handling",
    "cleanup",
    "seed",
    "storage",
    "stages",
    "warmup",
    "op_log",
];
const PREPARE_KEYS: &[&str] = &["ensure_objects", "tree", "force_overwrite", "post_prepare_delay"];
const DATA_KEYS: [&str; 4] = ["fill", "dedup_factor", "compress_factor", "block_size"];
const RANGE_KEYS: &[&str] = &["length", "offset", "align"];
// Entries that write objects also take the DATA_KEYS (see `with_data`).
const ENSURE_KEYS: &[&str] = &["base_uri", "count", "size_spec", "use_multi_endpoint", "key_prefix_shards"];
const TREE_KEYS: &[&str] = &["base_uri", "width", "depth", "files_per_dir", "size_spec", "distribution", "dir_mask"];
const OP_KEYS: &[&str] = &[
    "op",
    "path",
    "weight",
    "object_size",
    "size_spec",
    "use_multi_endpoint",
    "key_prefix_shards",
    "verify",
    "range",
    "concurrency",
    "from",
    "part_size",
    "parts_in_flight",
    "recursive",
];

/// The keys of an entry that writes objects: its own plus the DATA_KEYS.
fn with_data(keys: &[&'static str]) -> Vec<&'static str> {
    [keys, &DATA_KEYS[..]].concat()
}
const ME_KEYS: &[&str] = &["enabled", "strategy", "endpoints"];
const DIST_KEYS: &[&str] = &[
    "agents",
    "agents_from",
    "shared_filesystem",
    "tree_creation_mode",
    "path_selection",
    "start_delay",
    "ssh",
    "tls",
    "token_file",
    "agent_ready_timeout",
    "path_template",
    "partition_overlap",
];
const AGENTS_FROM_KEYS: &[&str] = &["dns", "port", "count"];
const AGENT_KEYS: &[&str] = &["address", "id", "concurrency_override", "multi_endpoint"];
const SSH_KEYS: &[&str] = &["enabled", "user", "key_path", "port"];
const TLS_KEYS: &[&str] = &["ca", "cert", "key"];
const PERF_KEYS: &[&str] = &["enabled", "path", "interval_seconds"];
const OPLOG_KEYS: &[&str] = &["enabled", "sample", "merge"];
const ERR_KEYS: &[&str] = &["max_errors", "max_error_rate", "retries"];
const STORAGE_KEYS: &[&str] = &[
    "endpoint_url",
    "region",
    "path_style",
    "allow_http",
    "request_timeout",
    "retries",
    "multipart_threshold",
    "multipart_part_size",
    "use_instance_metadata",
    "page_cache",
    "s3_client",
    "unsigned_payload",
    "io_engine",
];
const SCHEMES: &[&str] = &["file", "direct", "s3", "az", "gs"];
/// S3 refuses multipart parts below this (except the last).
const MIN_PART: u64 = 5 * 1024 * 1024;

/// Collects problems while walking.
pub struct Ctx<'a> {
    idx: &'a LineIndex,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(idx: &'a LineIndex) -> Self {
        Ctx { idx, errors: Vec::new(), warnings: Vec::new() }
    }

    pub fn err(&mut self, path: &str, message: impl Into<String>) {
        let line = self.idx.line_of(path);
        self.errors.push(ConfigError { path: path.to_string(), line, message: message.into() });
    }

    pub fn warn(&mut self, path: &str, message: impl AsRef<str>) {
        let e =
            ConfigError { path: path.to_string(), line: self.idx.line_of(path), message: message.as_ref().to_string() };
        self.warnings.push(e.to_string());
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "a whole number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::Bool(b) => format!("`{b}`"),
        other => kind(other).to_string(),
    }
}

/// A checked mapping: every key is known.
struct Obj<'v> {
    path: String,
    m: &'v Mapping,
}

impl<'v> Obj<'v> {
    /// The value of `key`; an explicit `null` counts as absent.
    fn get(&self, key: &str) -> Option<&'v Value> {
        self.m.get(key).filter(|v| !v.is_null())
    }
    fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }
    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl Ctx<'_> {
    /// `v` as a mapping whose keys are all in `allowed`. `None` (no error) for null.
    fn obj<'v>(&mut self, v: &'v Value, path: &str, allowed: &[&str], what: &str) -> Option<Obj<'v>> {
        match v {
            Value::Mapping(m) => {
                for k in m.keys() {
                    match k.as_str() {
                        Some(key) if allowed.contains(&key) => {}
                        Some(key) => {
                            let p = join(path, key);
                            let where_ =
                                if path.is_empty() { "at the top level".to_string() } else { format!("in `{path}`") };
                            self.err(&p, format!("unknown key `{key}` {where_}{}", hint(key, allowed, "valid keys")));
                        }
                        None => self.err(path, format!("keys must be names, got {}", scalar_text(k))),
                    }
                }
                Some(Obj { path: path.to_string(), m })
            }
            Value::Null => None,
            other => {
                self.err(path, format!("expected {what} (a mapping of keys), got {}", kind(other)));
                None
            }
        }
    }

    fn seq<'v>(&mut self, v: Option<&'v Value>, path: &str, what: &str) -> Vec<&'v Value> {
        match v {
            None => Vec::new(),
            Some(Value::Sequence(s)) => s.iter().collect(),
            Some(other) => {
                self.err(path, format!("expected a list of {what} (lines starting with `- `), got {}", kind(other)));
                Vec::new()
            }
        }
    }

    fn string(&mut self, v: Option<&Value>, path: &str) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(path, format!("expected a string, got {}", kind(other)));
                None
            }
        }
    }

    /// A name that may be written unquoted: strings, and numbers/bools taken as their text.
    fn name(&mut self, v: Option<&Value>, path: &str) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            other => {
                self.err(path, format!("expected a string, got {}", kind(other)));
                None
            }
        }
    }

    fn boolean(&mut self, v: Option<&Value>, path: &str) -> Option<bool> {
        match v? {
            Value::Bool(b) => Some(*b),
            other => {
                self.err(path, format!("expected true or false, got {}", scalar_text(other)));
                None
            }
        }
    }

    fn uint(&mut self, v: Option<&Value>, path: &str, min: u64) -> Option<u64> {
        let v = v?;
        let bad = |ctx: &mut Self, got: String| {
            let what = if min == 0 {
                "a whole number, 0 or more".to_string()
            } else {
                format!("a whole number, at least {min}")
            };
            ctx.err(path, format!("expected {what}, got {got}"));
            None
        };
        match v {
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) if u >= min => Some(u),
                (Some(u), _) => bad(self, format!("`{u}`")),
                (None, Some(i)) => bad(self, format!("`{i}`")),
                _ => bad(self, format!("`{n}`")),
            },
            other => bad(self, scalar_text(other)),
        }
    }

    fn number(&mut self, v: Option<&Value>, path: &str) -> Option<f64> {
        match v? {
            Value::Number(n) => n.as_f64(),
            other => {
                self.err(path, format!("expected a number, got {}", scalar_text(other)));
                None
            }
        }
    }

    fn size(&mut self, v: Option<&Value>, path: &str) -> Option<u64> {
        match v? {
            Value::Number(n) => match n.as_u64() {
                Some(u) => Some(u),
                None => {
                    self.err(
                        path,
                        format!("`{n}` is not a size — write a whole number of bytes or e.g. `64KiB`, `1MB`"),
                    );
                    None
                }
            },
            Value::String(s) => match parse_size(s) {
                Ok(b) => Some(b),
                Err(e) => {
                    self.err(path, e);
                    None
                }
            },
            other => {
                self.err(path, format!("expected a size such as `64KiB`, `1MB` or `4096`, got {}", kind(other)));
                None
            }
        }
    }

    fn duration(&mut self, v: Option<&Value>, path: &str) -> Option<Duration> {
        match v? {
            Value::Number(n) => {
                let d = n.as_f64().and_then(secs_to_duration);
                if d.is_none() {
                    self.err(path, format!("`{n}` is not a duration — write e.g. `30s`, `5m` or a number of seconds"));
                }
                d
            }
            Value::String(s) => match parse_duration(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.err(path, e);
                    None
                }
            },
            other => {
                self.err(path, format!("expected a duration such as `30s` or `5m`, got {}", kind(other)));
                None
            }
        }
    }

    fn choice<T: Copy>(&mut self, v: Option<&Value>, path: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(v, path)?;
        if let Some((_, t)) = options.iter().find(|(n, _)| n.eq_ignore_ascii_case(&s)) {
            return Some(*t);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let msg = match super::suggest::closest(&s, &names) {
            Some(c) => format!("`{s}` is not one of {} — did you mean `{c}`?", names.join(", ")),
            None => format!("`{s}` is not one of {}", names.join(", ")),
        };
        self.err(path, msg);
        None
    }

    /// `io_rate`: operations per second, or `{iops, distribution: fixed | uniform | exponential}`.
    fn rate(&mut self, v: &Value, path: &str) -> Option<(f64, Arrival)> {
        let (iops, ipath, arrival) = match v {
            Value::Mapping(_) => {
                let o = self.obj(v, path, &["iops", "distribution"], "`{iops, distribution}`")?;
                if !o.has("iops") {
                    self.err(path, "`iops:` is missing — the target operations per second");
                }
                let dists =
                    [("fixed", Arrival::Fixed), ("uniform", Arrival::Uniform), ("exponential", Arrival::Exponential)];
                let a = if o.has("distribution") {
                    self.choice(o.get("distribution"), &o.at("distribution"), &dists)
                } else {
                    Some(Arrival::Fixed)
                };
                (o.get("iops"), o.at("iops"), a)
            }
            other => (Some(other), path.to_string(), Some(Arrival::Fixed)),
        };
        match self.number(iops, &ipath) {
            Some(r) if r > 0.0 && r.is_finite() => Some((r, arrival?)),
            Some(r) => {
                self.err(&ipath, format!("`{r}` is not a rate — give the target operations per second, larger than 0"));
                None
            }
            None => None,
        }
    }

    /// A base URI (`file:///dir/`, `s3://bucket/prefix/`, …), normalized to end in `/`.
    fn uri(&mut self, v: Option<&Value>, path: &str) -> Option<String> {
        let s = self.string(v, path)?;
        self.check_uri(&s, path)
    }

    fn check_uri(&mut self, s: &str, path: &str) -> Option<String> {
        let s = s.trim();
        let Some((scheme, _)) = s.split_once("://") else {
            let hint =
                if s.starts_with('/') { format!(" (for a local directory write `file://{s}`)") } else { String::new() };
            self.err(path, format!("`{s}` is not a URI — write file:///dir/, direct:///dir/, s3://bucket/, az://account/container/ or gs://bucket/{hint}"));
            return None;
        };
        if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
            self.err(path, format!("`{s}` has an unknown scheme `{scheme}://`{}", hint(scheme, SCHEMES, "use one of")));
            return None;
        }
        if let Err(e) = parse_location(s) {
            let msg = match e {
                crate::core::store::StoreError::InvalidUri { reason, .. } => {
                    format!("`{}` is not usable: {reason}", crate::core::store::redact_uri(s))
                }
                other => other.to_string(),
            };
            self.err(path, msg);
            return None;
        }
        Some(if s.ends_with('/') { s.to_string() } else { format!("{s}/") })
    }

    /// A base URI or a prefix relative to the target / endpoints, normalized to end in `/`.
    fn base(&mut self, v: Option<&Value>, path: &str) -> Option<String> {
        let s = self.string(v, path)?;
        if s.contains("://") {
            return self.check_uri(&s, path);
        }
        if s.starts_with('/') {
            self.err(
                path,
                format!("`{s}` starts with `/` — a base_uri is a full URI (`file://{s}`) or a prefix relative to the target (`{}`)", s.trim_start_matches('/')),
            );
            return None;
        }
        if s.is_empty() || s.ends_with('/') {
            Some(s)
        } else {
            Some(format!("{s}/"))
        }
    }

    /// `fill`, `dedup_factor`, `compress_factor`, `block_size` of an entry that writes objects.
    fn data(&mut self, o: &Obj) -> DataSpec {
        let mut d = DataSpec::default();
        let fills = [("random", Fill::Random), ("zero", Fill::Zero), ("pattern", Fill::Pattern)];
        if let Some(f) = self.choice(o.get("fill"), &o.at("fill"), &fills) {
            d.fill = f;
        }
        if let Some(b) = self.size(o.get("block_size"), &o.at("block_size")) {
            if !(512..=1 << 20).contains(&b) || b % 512 != 0 {
                self.err(&o.at("block_size"), format!("`{}` is not a block size — give a multiple of 512 bytes between 512 and 1MiB (4KiB is what most arrays deduplicate by)", size_text(b)));
            } else {
                d.block_size = b as u32;
            }
        }
        for (key, what) in [("dedup_factor", "deduplicate"), ("compress_factor", "compress")] {
            let Some(x) = self.number(o.get(key), &o.at(key)) else { continue };
            if !(1.0..=1000.0).contains(&x) {
                self.err(
                    &o.at(key),
                    format!("`{x}` is not a factor — give 1 (no data reduction) or more, e.g. 4 for 4:1, at most 1000"),
                );
                continue;
            }
            if x > 1.0 && d.fill != Fill::Random {
                let f = if d.fill == Fill::Zero { "zero" } else { "pattern" };
                self.err(
                    &o.at(key),
                    format!(
                        "`fill: {f}` data cannot be made to {what} by a factor — use `fill: random` with `{key}: {x}`"
                    ),
                );
                continue;
            }
            if key == "dedup_factor" {
                d.dedup_factor = x
            } else {
                d.compress_factor = x
            }
        }
        if d.compress_factor > d.block_size as f64 / 8.0 {
            self.err(&o.at("compress_factor"), format!("{} is more than a {}-byte block can be compressed by here — raise `block_size` or lower the factor", d.compress_factor, d.block_size));
        }
        d
    }

    /// A multi_endpoint block; `Some` only when enabled and usable.
    fn endpoint_block(&mut self, v: &Value, path: &str) -> Option<EndpointConfig> {
        let o = self.obj(v, path, ME_KEYS, "a multi_endpoint block")?;
        let enabled = self.boolean(o.get("enabled"), &o.at("enabled")).unwrap_or(true);
        let strategy = self
            .choice(
                o.get("strategy"),
                &o.at("strategy"),
                &[("round_robin", Strategy::RoundRobin), ("least_connections", Strategy::LeastConnections)],
            )
            .unwrap_or(Strategy::RoundRobin);
        let ep_path = o.at("endpoints");
        let items = self.seq(o.get("endpoints"), &ep_path, "endpoint URIs");
        let mut endpoints = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(u) = self.uri(Some(item), &format!("{ep_path}[{i}]")) {
                endpoints.push(u);
            }
        }
        if !enabled {
            return None;
        }
        if items.is_empty() {
            let p = if o.m.contains_key("endpoints") { ep_path } else { o.path.clone() };
            self.err(&p, "no endpoints — list at least one URI under `endpoints:`, or set `enabled: false`");
            return None;
        }
        let schemes: Vec<String> =
            endpoints.iter().map(|e| e.split("://").next().unwrap_or("").to_ascii_lowercase()).collect();
        if let Some(i) = schemes.iter().position(|s| *s != schemes[0]) {
            self.err(
                &format!("{ep_path}[{i}]"),
                format!(
                    "mixes `{}://` with `{}://` — all endpoints of a block must present one namespace over one protocol",
                    schemes[i], schemes[0]
                ),
            );
            return None;
        }
        if endpoints.len() != items.len() {
            return None;
        }
        Some(EndpointConfig { strategy, endpoints })
    }
}

/// What the walk of `workload` and `prepare` found about paths, for the cross-checks.
pub(super) struct PathUse {
    /// (yaml path, config path) of the first relative path that goes through the endpoints/target.
    first_relative: Option<(String, String)>,
    /// yaml paths of `use_multi_endpoint: false` entries.
    opt_out: Vec<String>,
    /// `target:` or `multi_endpoint:` were written (even if invalid): no "missing target" then.
    target_or_endpoints_written: bool,
}

/// Walk the whole document. Problems go to `ctx`; the plan is only meaningful when there are none.
pub fn build(root: &Value, text: &str, source: Option<&std::path::Path>, ctx: &mut Ctx) -> Plan {
    let mut plan = Plan {
        config_path: source.map(|p| p.to_path_buf()),
        config_text: text.to_string(),
        target: None,
        duration: DEFAULT_DURATION,
        concurrency: DEFAULT_CONCURRENCY,
        io_rate: None,
        arrival: Arrival::Fixed,
        prepare: PreparePlan::default(),
        workload: Vec::new(),
        multi_endpoint: None,
        distributed: None,
        perf_log: PerfLogPlan { enabled: true, path: "perf_log.tsv".into(), interval: Duration::from_secs(1) },
        op_log: OpLogPlan::default(),
        error_handling: ErrorHandling { max_errors: None, max_error_rate: None, retries: 0 },
        cleanup: false,
        storage: StorageOptions::default(),
        seed: DEFAULT_SEED,
        stages: Vec::new(),
        explicit_stages: false,
        warnings: Vec::new(),
        notices: Vec::new(),
    };
    let top = match root {
        Value::Null => {
            ctx.err("", "the config is empty — see docs/CONFIG.md for a complete example");
            return plan;
        }
        Value::Mapping(_) => match ctx.obj(root, "", TOP_KEYS, "the config") {
            Some(o) => o,
            None => return plan,
        },
        other => {
            ctx.err(
                "",
                format!("the config must be a mapping of keys (`target:`, `workload:`, …), got {}", kind(other)),
            );
            return plan;
        }
    };

    plan.target = top.get("target").and_then(|v| ctx.uri(Some(v), "target"));
    if top.has("duration") {
        plan.duration = ctx.duration(top.get("duration"), "duration").unwrap_or(DEFAULT_DURATION);
    }
    if top.has("concurrency") {
        plan.concurrency = ctx.uint(top.get("concurrency"), "concurrency", 1).unwrap_or(1) as usize;
    }
    if let Some(v) = top.get("io_rate") {
        if let Some((r, a)) = ctx.rate(v, "io_rate") {
            (plan.io_rate, plan.arrival) = (Some(r), a);
        }
    }
    if top.has("cleanup") {
        plan.cleanup = ctx.boolean(top.get("cleanup"), "cleanup").unwrap_or(false);
    }
    if top.has("seed") {
        plan.seed = ctx.uint(top.get("seed"), "seed", 0).unwrap_or(DEFAULT_SEED);
    }

    // multi_endpoint (global)
    plan.multi_endpoint = top.get("multi_endpoint").and_then(|v| ctx.endpoint_block(v, "multi_endpoint"));

    let mut uses = PathUse {
        first_relative: None,
        opt_out: Vec::new(),
        target_or_endpoints_written: top.m.contains_key("target") || top.m.contains_key("multi_endpoint"),
    };

    // prepare
    if let Some(pv) = top.get("prepare") {
        plan.prepare = stages::prepare_block(ctx, pv, "prepare", &mut uses);
    }

    // workload
    let ops = ctx.seq(top.get("workload"), "workload", "operations (`- op: get`)");
    for (i, item) in ops.into_iter().enumerate() {
        let path = format!("workload[{i}]");
        if let Some(op) = op_entry(ctx, item, &path, &mut uses) {
            plan.workload.push(op);
        }
    }

    if let Some(v) = top.get("distributed") {
        plan.distributed = distributed(ctx, v);
    }
    if let Some(v) = top.get("perf_log") {
        if let Some(o) = ctx.obj(v, "perf_log", PERF_KEYS, "`perf_log`") {
            if o.has("enabled") {
                plan.perf_log.enabled = ctx.boolean(o.get("enabled"), &o.at("enabled")).unwrap_or(true);
            }
            if let Some(p) = ctx.string(o.get("path"), &o.at("path")) {
                if p.is_empty() || p.contains(['/', '\\']) || p == "." || p == ".." {
                    ctx.err(
                        &o.at("path"),
                        format!("`{p}` must be a plain file name; the file is written inside the results folder"),
                    );
                } else {
                    plan.perf_log.path = p;
                }
            }
            if o.has("interval_seconds") {
                match ctx.duration(o.get("interval_seconds"), &o.at("interval_seconds")) {
                    Some(d) if d >= Duration::from_millis(100) => plan.perf_log.interval = d,
                    Some(_) => ctx.err(&o.at("interval_seconds"), "must be at least 0.1 seconds"),
                    None => {}
                }
            }
        }
    }
    if let Some(v) = top.get("op_log") {
        if let Some(o) = ctx.obj(v, "op_log", OPLOG_KEYS, "`op_log` (`{enabled: true, sample: 1.0, merge: false}`)") {
            plan.op_log.enabled = ctx.boolean(o.get("enabled"), &o.at("enabled")).unwrap_or(true);
            if let Some(f) = ctx.number(o.get("sample"), &o.at("sample")) {
                if f > 0.0 && f <= 1.0 {
                    plan.op_log.sample = f;
                } else {
                    ctx.err(
                        &o.at("sample"),
                        format!(
                            "`{f}` is not a fraction of operations — write e.g. 0.1 to record one in ten (at most 1)"
                        ),
                    );
                }
            }
            plan.op_log.merge = ctx.boolean(o.get("merge"), &o.at("merge")).unwrap_or(false);
        }
    }
    if let Some(v) = top.get("error_handling") {
        if let Some(o) = ctx.obj(v, "error_handling", ERR_KEYS, "`error_handling`") {
            plan.error_handling.max_errors = ctx.uint(o.get("max_errors"), &o.at("max_errors"), 1);
            if let Some(r) = ctx.number(o.get("max_error_rate"), &o.at("max_error_rate")) {
                if (0.0..=1.0).contains(&r) && r > 0.0 {
                    plan.error_handling.max_error_rate = Some(r);
                } else {
                    ctx.err(&o.at("max_error_rate"), format!("`{r}` is not a fraction — write e.g. 0.05 for 5 %"));
                }
            }
            plan.error_handling.retries =
                ctx.uint(o.get("retries"), &o.at("retries"), 0).unwrap_or(0).min(u32::MAX as u64) as u32;
        }
    }
    let error_retries = top.get("error_handling").and_then(|v| v.get("retries")).is_some();
    if let Some(v) = top.get("storage") {
        if let Some(o) = ctx.obj(v, "storage", STORAGE_KEYS, "`storage`") {
            let s = &mut plan.storage;
            s.endpoint_url = ctx.string(o.get("endpoint_url"), &o.at("endpoint_url"));
            if let Some(u) = &s.endpoint_url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    ctx.err(&o.at("endpoint_url"), format!("`{u}` must start with http:// or https://"));
                }
            }
            s.region = ctx.string(o.get("region"), &o.at("region"));
            s.path_style = ctx.boolean(o.get("path_style"), &o.at("path_style"));
            s.allow_http = ctx.boolean(o.get("allow_http"), &o.at("allow_http"));
            s.request_timeout = ctx.duration(o.get("request_timeout"), &o.at("request_timeout"));
            // The storage client never retries by itself: `storage.retries` is sai3's own retry
            // loop, the one `error_handling.retries` sets; giving both is refused.
            if let Some(r) = ctx.uint(o.get("retries"), &o.at("retries"), 0) {
                if error_retries {
                    ctx.err(
                        &o.at("retries"),
                        "`storage.retries` and `error_handling.retries` are both given: they are the same setting (sai3 retries a failed request itself and counts every retry; the storage client never retries) — keep one",
                    );
                } else {
                    plan.error_handling.retries = r.min(u32::MAX as u64) as u32;
                }
            }
            s.multipart_threshold = ctx.size(o.get("multipart_threshold"), &o.at("multipart_threshold"));
            s.multipart_part_size = ctx.size(o.get("multipart_part_size"), &o.at("multipart_part_size"));
            if let Some(p) = s.multipart_part_size {
                if p < MIN_PART {
                    ctx.err(
                        &o.at("multipart_part_size"),
                        format!("{} is below the 5 MiB minimum part size of S3", size_text(p)),
                    );
                }
            }
            s.use_instance_metadata =
                ctx.boolean(o.get("use_instance_metadata"), &o.at("use_instance_metadata")).unwrap_or(false);
            let hints = [
                ("auto", PageCache::Auto),
                ("normal", PageCache::Normal),
                ("sequential", PageCache::Sequential),
                ("random", PageCache::Random),
                ("dontneed", PageCache::DontNeed),
            ];
            s.page_cache = ctx.choice(o.get("page_cache"), &o.at("page_cache"), &hints).unwrap_or_default();
            let clients =
                [("auto", S3Client::Auto), ("object_store", S3Client::ObjectStore), ("threads", S3Client::Threads)];
            s.s3_client = ctx.choice(o.get("s3_client"), &o.at("s3_client"), &clients).unwrap_or_default();
            s.unsigned_payload = ctx.boolean(o.get("unsigned_payload"), &o.at("unsigned_payload"));
            let engines = [("auto", IoEngine::Auto), ("sync", IoEngine::Sync)];
            s.io_engine = ctx.choice(o.get("io_engine"), &o.at("io_engine"), &engines).unwrap_or_default();
        }
    }

    let warmup = ctx.duration(top.get("warmup"), "warmup").unwrap_or(Duration::ZERO);
    if !warmup.is_zero() && !plan.duration.is_zero() && warmup >= plan.duration && !top.has("stages") {
        ctx.err(
            "warmup",
            format!(
                "{warmup:?} is not shorter than `duration` ({:?}) — the warmup is the first part of the workload",
                plan.duration
            ),
        );
    }
    let defaults = stages::Defaults {
        warmup,
        prepare: plan.prepare.clone(),
        workload: plan.workload.clone(),
        duration: plan.duration,
        io_rate: plan.io_rate,
        arrival: plan.arrival,
        cleanup: plan.cleanup,
    };
    match top.get("stages") {
        Some(v) => {
            plan.stages = stages::stages(ctx, v, &defaults, &mut uses);
            plan.explicit_stages = true;
        }
        None => plan.stages = stages::implicit(&defaults),
    }

    cross_checks(&plan, ctx, Some(&uses));
    for w in std::mem::take(&mut ctx.warnings) {
        plan.warnings.push(w);
    }
    plan
}
