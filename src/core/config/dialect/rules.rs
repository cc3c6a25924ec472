//! The rules: every key of the original sai3-bench's configuration, by place, and what sai3 does
//! with it (docs/MIGRATING.md is the same table for people). A key sai3 itself spells the same way
//! with the same meaning needs no rule.

use serde_yaml::{Mapping, Number, Value};

use super::distributed::distributed;
use super::prepare::prepare;
use super::{get_str, items_mut, join, map_mut, s, scalar, truthy, Rewrite};

pub(super) const STORAGE_LIBRARY: &str = "it tunes sai3-bench's storage library (s3dlio), which sai3 does not use; \
     for parallel ranged GETs of large objects give the get ops `part_size` and `parts_in_flight`";
pub(super) const METADATA_CACHE: &str = "it configures sai3-bench's prepare metadata cache; sai3 keeps none — \
     a re-run lists the storage and creates only what is missing";
pub(super) const HEARTBEATS: &str = "sai3's agents and controller exchange heartbeats every second and count a peer \
     silent for 5 s as lost";

/// The top level.
pub(super) fn top(rw: &mut Rewrite, m: &mut Mapping) {
    if m.contains_key("rules") && !m.contains_key("workload") {
        rw.refuse(
            m,
            "",
            "rules",
            "this is a sai3-bench replay remap file (`rules:`), not a workload config; `sai3 replay` takes `--remap OLD=NEW` URI prefixes instead",
        );
        return;
    }
    rw.ignore(m, "", "version", "sai3 reads one format, and sai3-bench's keys with it");
    rw.ignore(m, "", "autotune", "it is read only by `sai3bench-ctl autotune`, which sai3 does not have");
    for k in ["processes", "processing_mode"] {
        rw.ignore(
            m,
            "",
            k,
            "sai3 runs every worker in one process (OS threads on file systems, one async runtime on object stores); `concurrency` sets how many",
        );
    }
    rw.ignore(m, "", "s3dlio_optimization", STORAGE_LIBRARY);
    rw.ignore(m, "", "range_engine", STORAGE_LIBRARY);
    rw.ignore(m, "", "cache_checkpoint_interval_secs", METADATA_CACHE);
    rw.ignore(m, "", "enable_metadata_cache", METADATA_CACHE);
    if let Some(path) = m.shift_remove("op_log_path") {
        if m.contains_key("op_log") {
            rw.refused(
                "op_log_path",
                "both `op_log_path` (sai3-bench's spelling) and `op_log` are given — keep only `op_log`",
            );
        } else {
            let mut o = Mapping::new();
            o.insert(s("enabled"), Value::Bool(true));
            m.insert(s("op_log"), Value::Mapping(o));
            let shown = path.as_str().unwrap_or("?").to_string();
            rw.note(
                "op_log_path",
                format!("sai3-bench's `op_log_path: {shown}` is read as `op_log: {{enabled: true}}`: the op-log is written as oplog.tsv.zst in the results folder (an agent's under agents/<id>/), not at that path"),
            );
        }
    }
    rw.rename(m, "", "warmup_period", "warmup");
    if m.contains_key("page_cache_mode") {
        rw.rename_into(m, "", "page_cache_mode", "storage", "page_cache");
    }
    if let Some(e) = map_mut(m, "error_handling") {
        error_handling(rw, e);
    }
    io_rate(rw, m, "");
    if let Some(p) = map_mut(m, "perf_log") {
        rw.rename(p, "perf_log", "interval", "interval_seconds");
    }
    let mut cleanup = None;
    let mut has_tree = false;
    if let Some(p) = map_mut(m, "prepare") {
        cleanup = prepare(rw, p, "prepare");
        has_tree = p.contains_key("tree");
    }
    if let Some(c) = cleanup {
        if m.contains_key("cleanup") {
            rw.refused("prepare.cleanup", "both `prepare.cleanup` (sai3-bench's spelling) and `cleanup` are given — keep only the top-level `cleanup`");
        } else {
            m.insert(s("cleanup"), c);
            rw.alias("prepare.cleanup", "cleanup");
        }
    }
    let target = get_str(m, "target").map(str::to_string);
    let on_files = target.as_deref().is_some_and(|t| t.starts_with("file://") || t.starts_with("direct://"));
    for (i, op) in items_mut(m, "workload") {
        operation(rw, op, &format!("workload[{i}]"), has_tree && on_files);
    }
    target_and_endpoints(rw, m, target);
    rmdir_what_mkdir_made(rw, m);
    let mut stages = None;
    if let Some(d) = map_mut(m, "distributed") {
        stages = distributed(rw, d);
    }
    if let Some((list, moves)) = stages {
        if m.contains_key("stages") {
            rw.refused(
                "distributed.stages",
                "both `distributed.stages` (sai3-bench's place) and `stages` are given — keep only the top-level `stages`",
            );
        } else {
            m.insert(s("stages"), Value::Sequence(list));
            for (from, to) in moves {
                rw.moved(&from, &to);
            }
        }
    }
    // `distributed: {agents: []}` was sai3-bench's way to give a single-host config stages.
    let no_agents = map_mut(m, "distributed").is_some_and(|d| {
        matches!(d.get("agents"), Some(Value::Sequence(a)) if a.is_empty()) && !d.contains_key("agents_from")
    });
    if no_agents {
        m.shift_remove("distributed");
        rw.note(
            "distributed",
            "sai3-bench's `distributed` with `agents: []` is read as a run without agents (in-process); its stages are the top-level `stages`".into(),
        );
    }
}

fn error_handling(rw: &mut Rewrite, e: &mut Mapping) {
    let p = "error_handling";
    rw.rename(e, p, "max_total_errors", "max_errors");
    let retry = truthy(e, "retry_on_error");
    match (retry, e.contains_key("retries")) {
        (Some(true), false) => {
            let n = e.shift_remove("max_retries").unwrap_or(Value::Number(Number::from(3u64)));
            e.shift_remove("retry_on_error");
            rw.note(
                "error_handling.retry_on_error",
                format!("sai3-bench's `retry_on_error: true` with `max_retries: {}` is read as `error_handling.retries: {}` (every retry is counted in the results)", scalar(&n), scalar(&n)),
            );
            e.insert(s("retries"), n);
        }
        _ => {
            if e.shift_remove("retry_on_error").is_some() {
                rw.note("error_handling.retry_on_error", "sai3-bench's `retry_on_error` is dropped: retries are off unless `error_handling.retries` is above 0".into());
            }
            rw.ignore(
                e,
                p,
                "max_retries",
                "retries were off (`retry_on_error` is not true); sai3's key is `error_handling.retries`",
            );
        }
    }
    for k in ["error_rate_threshold", "backoff_duration", "error_rate_window"] {
        rw.ignore(
            e,
            p,
            k,
            "sai3 never pauses on errors (a benchmark that backs off reports a rate the storage did not deliver); every error is counted, and `max_error_rate` stops a run whose failed fraction exceeds it",
        );
    }
    for k in ["initial_retry_delay_ms", "max_retry_delay_ms", "retry_backoff_multiplier", "retry_jitter_factor"] {
        rw.ignore(e, p, k, "sai3 retries a failed operation at once, and counts every retry (see `error_handling.retries` in docs/CONFIG.md)");
    }
}

/// `io_rate` at `path` (top level or a stage): `deterministic` spacing, and `iops: max | 0`.
fn io_rate(rw: &mut Rewrite, m: &mut Mapping, path: &str) {
    let at = join(path, "io_rate");
    let Some(r) = map_mut(m, "io_rate") else { return };
    rw.value_alias(r, &at, "distribution", &[("deterministic", "fixed")]);
    let unlimited = match r.get("iops") {
        Some(Value::String(t)) if t.eq_ignore_ascii_case("max") => true,
        Some(Value::String(t)) => t.trim().parse::<f64>().is_ok_and(|x| x <= 0.0),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x <= 0.0),
        _ => false,
    };
    if unlimited {
        m.shift_remove("io_rate");
        rw.note(&at, format!("sai3-bench's `{at}.iops` of max/0 (no limit) is read as no `io_rate` (closed loop)"));
        return;
    }
    if r.contains_key("iops") && !r.contains_key("distribution") {
        r.insert(s("distribution"), s("fixed"));
        rw.note(
            &at,
            format!("`{at}` without `distribution` is read as `distribution: fixed` (evenly spaced, sai3's default); sai3-bench spaced arrivals as `exponential` — write that to keep Poisson arrivals"),
        );
    }
    if let Some(Value::String(t)) = r.get("iops") {
        if let Ok(x) = t.trim().parse::<f64>() {
            r.insert(s("iops"), Value::Number(Number::from(x)));
        }
    }
}

/// A size mapping: `type: fixed` with `value:` (sai3 spells it `size:`).
pub(super) fn size_map(rw: &mut Rewrite, m: &mut Mapping, path: &str) {
    let Some(Value::Mapping(sm)) = m.get_mut("size_spec") else { return };
    if get_str(sm, "type") == Some("fixed") {
        rw.rename(sm, &join(path, "size_spec"), "value", "size");
    }
}

/// sai3-bench sent an op to `target` unless it said `use_multi_endpoint: true`, so it allowed a
/// `target` beside an enabled global `multi_endpoint`. sai3 refuses that pair as ambiguous;
/// the same meaning is each such op's path made a full URI under `target`, and no `target`
/// (when some entry opts in with `use_multi_endpoint: true`, sai3-bench's way).
fn target_and_endpoints(rw: &mut Rewrite, m: &mut Mapping, target: Option<String>) {
    let Some(target) = target else { return };
    let enabled = match m.get("multi_endpoint") {
        Some(Value::Mapping(me)) => truthy(me, "enabled") != Some(false),
        _ => false,
    };
    // Only a config that opts in per entry, as sai3-bench required, was written with that
    // meaning; without any `use_multi_endpoint: true` the pair stays the ambiguity sai3 refuses.
    let opts_in = |key: &str, m: &mut Mapping| {
        items_mut(m, key).iter().any(|(_, o)| truthy(o, "use_multi_endpoint") == Some(true))
    };
    let prepared = map_mut(m, "prepare").is_some_and(|p| opts_in("ensure_objects", p));
    if !enabled || !(prepared || opts_in("workload", m)) {
        return;
    }
    let base = if target.ends_with('/') { target.clone() } else { format!("{target}/") };
    for (i, op) in items_mut(m, "workload") {
        if truthy(op, "use_multi_endpoint") == Some(true) {
            continue;
        }
        let Some(p) = get_str(op, "path").map(str::to_string) else { continue };
        if p.contains("://") {
            continue;
        }
        let at = format!("workload[{i}].path");
        let full = format!("{base}{p}");
        rw.note(&at, format!("sai3-bench sent `{at}` to `target` (no `use_multi_endpoint: true`): read as `{full}`"));
        op.insert(s("path"), s(&full));
        op.insert(s("use_multi_endpoint"), Value::Bool(false));
    }
    m.shift_remove("target");
    rw.note("target", format!("sai3-bench's `target` beside an enabled global `multi_endpoint` is read as the full URIs of the ops it served (`{base}…`); sai3 allows only one of the two"));
}

fn operation(rw: &mut Rewrite, o: &mut Mapping, path: &str, has_tree: bool) {
    rw.rename(o, path, "size_distribution", "size_spec");
    size_map(rw, o, path);
    let op = get_str(o, "op").unwrap_or("").to_ascii_lowercase();
    if get_str(o, "path") == Some("/") {
        let now = match op.as_str() {
            "put" | "mkdir" if has_tree => "*/",
            "put" | "mkdir" | "list" => "",
            _ => "*",
        };
        let at = join(path, "path");
        rw.note(&at, format!("sai3-bench's `{at}: \"/\"` (the whole namespace) is read as `{at}: \"{now}\"`"));
        o.insert(s("path"), s(now));
    }
    // sai3-bench replaced a `*` in a PUT path with the generated part of the name.
    if op == "put" {
        if let Some(p) = get_str(o, "path").map(str::to_string) {
            if p.contains('*') && !p.ends_with('/') && !p.contains("{}") {
                let at = join(path, "path");
                let now = match p.rfind('*') {
                    Some(i) => format!("{}{{}}{}", &p[..i], &p[i + 1..]),
                    None => p.clone(),
                };
                rw.note(&at, format!("sai3-bench's PUT path `{p}` (`*`: the generated part) is read as `{now}`"));
                o.insert(s("path"), s(&now));
            }
        }
    }
    // sai3-bench's mkdir made a directory named after a path with `*` (`test-dirs/dir-*`);
    // sai3's mkdir makes a uniquely named one in its parent.
    if op == "mkdir" {
        if let Some(p) = get_str(o, "path").map(str::to_string) {
            let last = p.rsplit('/').next().unwrap_or("");
            if let Some(star) = p.rfind('*').filter(|_| !p.ends_with('/') && last != "*") {
                let parent = p[..star].rfind('/').map(|i| p[..=i].to_string()).unwrap_or_default();
                if !parent.contains('*') {
                    let at = join(path, "path");
                    rw.note(&at, format!("sai3-bench's MKDIR path `{p}` (`*`: the generated part) is read as the parent `{parent}`: each MKDIR makes a new uniquely named directory in it"));
                    o.insert(s("path"), s(&parent));
                }
            }
        }
    }
    if op == "rmdir" {
        match truthy(o, "recursive") {
            Some(true) => {}
            _ => rw.ignore(o, path, "recursive", "it is false: each rmdir removes one empty directory"),
        }
    }
}

/// An RMDIR of the folder a MKDIR of the same mix makes directories in: sai3-bench picked among
/// what was there, which in such a mix is what its MKDIRs made; sai3 lists at the start, so the
/// same meaning is `from: written` (the directories this run's MKDIRs made, `path` filtering).
fn rmdir_what_mkdir_made(rw: &mut Rewrite, m: &mut Mapping) {
    let norm = |p: &str| if p.is_empty() || p.ends_with('/') { p.to_string() } else { format!("{p}/") };
    let parents: Vec<String> = items_mut(m, "workload")
        .into_iter()
        .filter(|(_, o)| get_str(o, "op").is_some_and(|x| x.eq_ignore_ascii_case("mkdir")))
        .filter_map(|(_, o)| get_str(o, "path").map(norm))
        .collect();
    for (i, o) in items_mut(m, "workload") {
        let rmdir = get_str(o, "op").is_some_and(|x| x.eq_ignore_ascii_case("rmdir"));
        let Some(p) = get_str(o, "path").map(norm) else { continue };
        if rmdir && !o.contains_key("from") && parents.contains(&p) {
            let at = format!("workload[{i}]");
            rw.note(&at, format!("sai3-bench's RMDIR of `{p}` beside a MKDIR into it is read as `{at}.from: written` (the directories this run's MKDIRs made there)"));
            o.insert(s("from"), s("written"));
        }
    }
}
