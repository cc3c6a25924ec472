//! Human-readable description of a resolved plan, for `ctl run --dry-run` and the run header.

use std::fmt::Write;

use crate::core::config::{DataSpec, Plan, RangeOffset, SizeSpec, StageKind, TreeCreationMode};
use crate::core::OpKind;

pub use crate::core::config::size_text;

pub fn size_spec_text(spec: &SizeSpec) -> String {
    match spec {
        SizeSpec::Fixed(n) => size_text(*n),
        SizeSpec::Uniform { min, max } => format!("uniform {} .. {}", size_text(*min), size_text(*max)),
        SizeSpec::Lognormal { mean, std_dev, min, max } => format!(
            "lognormal mean {} std_dev {} in {} .. {}",
            size_text(*mean as u64),
            size_text(*std_dev as u64),
            size_text(*min),
            size_text(*max)
        ),
    }
}

/// The plan as the local run will execute it: storage, prepare counts, op mix, timing.
pub fn describe(plan: &Plan, agent_index: Option<usize>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "=== Plan ===");
    if let Some(p) = &plan.config_path {
        let _ = writeln!(s, "Config: {}", p.display());
    }
    if let Some(t) = &plan.target {
        let _ = writeln!(s, "Target: {t}");
    }
    if let Some(ep) = plan.effective_endpoints(agent_index) {
        let _ = writeln!(s, "Endpoints: {} ({})", ep.endpoints.len(), ep.strategy.name());
        for (i, e) in ep.endpoints.iter().enumerate() {
            let _ = writeln!(s, "  [{i}] {e}");
        }
    }
    let _ = writeln!(s, "Duration: {:?}   Concurrency: {}", plan.duration, plan.effective_concurrency(agent_index));
    match plan.io_rate {
        Some(r) => {
            let _ = writeln!(s, "Schedule: open loop, {r} ops/s, {} arrivals", plan.arrival.name());
        }
        None => {
            let _ = writeln!(s, "Schedule: closed loop");
        }
    }
    if plan.op_log.enabled {
        let what = if plan.op_log.sample >= 1.0 {
            "every operation".to_string()
        } else {
            format!("a sample of {} of the operations", plan.op_log.sample)
        };
        let merged = if plan.op_log.merge { ", merged across agents" } else { "" };
        let _ = writeln!(s, "Op-log: {what} in oplog.tsv.zst{merged}");
    }
    if !plan.prepare.ensure_objects.is_empty() || plan.prepare.tree.is_some() {
        let _ = writeln!(s, "Prepare:");
        for e in &plan.prepare.ensure_objects {
            let _ = writeln!(
                s,
                "  ensure {} objects under {} ({}, {})",
                e.count,
                e.base_uri,
                size_spec_text(&e.size),
                data_text(&e.data)
            );
        }
        if let Some(t) = &plan.prepare.tree {
            let dirs = t.shape().dir_count();
            let files = t.shape().files();
            let _ = writeln!(
                s,
                "  tree under {}: width {} depth {} → {dirs} directories, {files} files{}{} ({})",
                t.base_uri,
                t.width,
                t.depth,
                if t.all_levels { " (in every directory)" } else { "" },
                t.dir_mask.as_ref().map(|m| format!(", directories named {m}")).unwrap_or_default(),
                size_spec_text(&t.size)
            );
        }
        if plan.prepare.force_overwrite {
            let _ = writeln!(s, "  force_overwrite: every object is written, present or not");
        }
        if !plan.prepare.post_delay.is_zero() {
            let _ = writeln!(s, "  then a pause of {:?} when anything was created", plan.prepare.post_delay);
        }
    }
    if plan.storage.page_cache != crate::core::config::PageCache::Auto {
        let _ = writeln!(s, "Page cache: {} (file:// reads)", plan.storage.page_cache.name());
    }
    if plan.storage.io_engine == crate::core::config::IoEngine::Sync {
        let _ = writeln!(s, "I/O engine: sync (file:// GETs with blocking calls, a thread per worker)");
    }
    let total: u64 = plan.workload.iter().filter(|o| o.concurrency.is_none()).map(|o| u64::from(o.weight)).sum();
    if !plan.workload.is_empty() {
        let _ = writeln!(s, "Workload:");
        for o in &plan.workload {
            let pct =
                if total > 0 && o.concurrency.is_none() { 100.0 * f64::from(o.weight) / total as f64 } else { 0.0 };
            let size = o.size.as_ref().map(|z| format!(", size {}", size_spec_text(z))).unwrap_or_default();
            let ep = if o.use_multi_endpoint { "" } else { ", via target" };
            let mut extra = String::new();
            if o.op == OpKind::Put && o.data != DataSpec::default() {
                extra = format!(", {}", data_text(&o.data));
            }
            if let Some(r) = &o.range {
                let at = match r.offset {
                    RangeOffset::Fixed(off) => format!("at {off}"),
                    RangeOffset::Random { align } => format!("at random offsets aligned to {align}"),
                };
                extra.push_str(&format!(", range {} bytes {at}", r.length));
            }
            if let Some(p) = &o.parts {
                extra.push_str(&format!(", in parts of {} bytes, {} at a time", p.size, p.in_flight));
            }
            if o.verify {
                extra.push_str(", verified");
            }
            if o.from_written {
                extra.push_str(", from the objects this run's PUTs wrote");
            }
            if o.recursive {
                extra.push_str(", recursive");
            }
            if let Some(k) = o.concurrency {
                extra.push_str(&format!(", {k} workers of its own (not in the mix)"));
            }
            let share = if o.concurrency.is_some() { "  own ".to_string() } else { format!("{pct:>5.1}%") };
            let path = if o.from_written && o.path.is_empty() { "(written)" } else { &o.path };
            let _ = writeln!(s, "  {:<6} {share}  {path}{size}{ep}{extra}", o.op.name());
        }
    }
    if plan.cleanup {
        let _ = writeln!(s, "Cleanup: delete what this run creates");
    }
    s.push_str(&stages(plan));
    for w in &plan.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

/// `fill Random`, plus the data reduction when there is any.
fn data_text(d: &DataSpec) -> String {
    let mut t = format!("fill {:?}", d.fill);
    if d.dedup_factor > 1.0 {
        t.push_str(&format!(", dedup {}:1", d.dedup_factor));
    }
    if d.compress_factor > 1.0 {
        t.push_str(&format!(", compress {}:1", d.compress_factor));
    }
    if d.block_size != DataSpec::default().block_size {
        t.push_str(&format!(" in {}-byte blocks", d.block_size));
    }
    t
}

/// Share of the prepare work per agent, for the dry run.
fn prepare_share(plan: &Plan, i: usize) -> String {
    let total: u64 = plan.prepare.ensure_objects.iter().map(|e| e.count).sum::<u64>()
        + plan.prepare.tree.as_ref().map(|t| t.shape().files()).unwrap_or(0);
    if total == 0 {
        return "nothing to prepare".into();
    }
    let Some(d) = &plan.distributed else { return String::new() };
    if matches!(d.tree_creation_mode, TreeCreationMode::Controller) {
        return "none (the controller creates everything)".into();
    }
    if d.shared_filesystem {
        let n = plan.agent_count() as u64;
        let mine = (0..total).filter(|j| j % n == i as u64).count();
        format!("{mine} of {total} objects (object j when j mod {n} = {i})")
    } else {
        format!(
            "all {total} objects, under <target>/{}",
            d.agent_prefix(plan.agent(i).map(|a| a.id.as_str()).unwrap_or(""))
        )
    }
}

/// The agent list of a distributed dry run: each agent's address, concurrency, endpoints and
/// share of the prepare work.
pub fn fleet(plan: &Plan) -> String {
    let mut s = String::new();
    let d = plan.distributed.as_ref();
    s.push_str("=== Agent List ===\n");
    match d.and_then(|d| d.agents_from.as_ref()).filter(|_| d.is_some_and(|d| d.agents.is_empty())) {
        Some(f) => s.push_str(&format!(
            "Agents: every address of {} (port {}{}), ids as the agents report them\n",
            f.dns,
            f.port,
            f.count.map(|n| format!(", waiting for {n}")).unwrap_or_default()
        )),
        None => s.push_str(&format!("Agents: {}\n", plan.agent_count())),
    }
    if let Some(d) = d {
        s.push_str(&format!(
            "Storage: {}; tree_creation_mode {}; path_selection {}; start_delay {}s\n",
            if d.shared_filesystem {
                "shared (all agents access the same data)"
            } else {
                "per agent (each agent works under <target>/<agent id>/)"
            }
            .replace("<agent id>/", &d.agent_prefix("<agent id>")),
            d.tree_creation_mode.name(),
            d.path_selection.name(),
            d.start_delay.as_secs_f64()
        ));
        for (i, a) in d.agents.iter().enumerate() {
            s.push_str(&format!(
                "  [{i}] {} at {}: concurrency {}\n",
                a.id,
                a.address,
                plan.effective_concurrency(Some(i))
            ));
            match plan.effective_endpoints(Some(i)) {
                Some(ep) => s.push_str(&format!(
                    "      endpoints ({}): {}\n",
                    ep.strategy.name(),
                    ep.endpoints.iter().map(|e| crate::core::store::redact_uri(e)).collect::<Vec<_>>().join(", ")
                )),
                None => s.push_str(&format!("      target: {}\n", plan.target.as_deref().unwrap_or("-"))),
            }
            s.push_str(&format!("      prepare: {}\n", prepare_share(plan, i)));
        }
    }
    s
}

/// The stage list, one line each: what runs, for how long, and how the fleet waits after it.
pub fn stages(plan: &Plan) -> String {
    let mut s = String::new();
    let how = if plan.explicit_stages { "" } else { " (implicit: no `stages:` in the config)" };
    let _ = writeln!(s, "Stages: {}{how}", plan.stages.len());
    for (i, st) in plan.stages.iter().enumerate() {
        let what = match &st.kind {
            StageKind::Prepare(p) => {
                let n: u64 = p.ensure_objects.iter().map(|e| e.count).sum::<u64>()
                    + p.tree.as_ref().map(|t| t.shape().files()).unwrap_or(0);
                format!("prepare {n} objects")
            }
            StageKind::Workload(w) => {
                let mut parts = vec![format!("{} ops in the mix", w.ops.len())];
                if let Some(d) = w.duration {
                    parts.push(format!("for {}s", d.as_secs_f64()));
                }
                if let Some(n) = w.op_limit {
                    parts.push(format!("until {n} operations (fleet)"));
                }
                if !w.warmup.is_zero() {
                    parts.push(format!("warmup {}s not counted", w.warmup.as_secs_f64()));
                }
                if let Some(c) = w.concurrency {
                    parts.push(format!("concurrency {c}"));
                }
                if let Some(r) = w.io_rate {
                    parts.push(format!("io_rate {r} ops/s ({})", w.arrival.name()));
                }
                format!("workload: {}", parts.join(", "))
            }
            StageKind::Cleanup => "cleanup: delete what the run created so far".to_string(),
            StageKind::Verify => "verify: read every prepared object once and check its content".to_string(),
            StageKind::Replay(r) => {
                let mut parts = vec![format!("replay {} at speed {}", r.oplog, r.speed)];
                if let Some(t) = &r.target {
                    parts.push(format!("to {t}"));
                }
                parts.extend(r.remap.iter().map(|m| format!("remap {} → {}", m.old, m.new)));
                if let Some(c) = r.concurrency {
                    parts.push(format!("concurrency {c}"));
                }
                parts.join(", ")
            }
            StageKind::Command(c) => format!(
                "command on {}: {} {}",
                if c.on_controller { "the controller" } else { "every agent" },
                c.command,
                c.args.join(" ")
            ),
        };
        let mut extra = Vec::new();
        if plan.distributed.is_some() {
            extra.push(format!("barrier {} {}s", st.barrier.policy.name(), st.barrier.timeout.as_secs_f64()));
        }
        if let Some(t) = st.timeout {
            extra.push(format!("timeout {}s", t.as_secs_f64()));
        }
        if st.optional {
            extra.push("optional".into());
        }
        let extra = if extra.is_empty() { String::new() } else { format!("  [{}]", extra.join(", ")) };
        let _ = writeln!(s, "  {:>2}. {:<16} {what}{extra}", i + 1, st.name);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size_text(65536), "64 KiB");
        assert_eq!(size_text(1 << 20), "1 MiB");
        assert_eq!(size_text(1000), "1 KB");
        assert_eq!(size_text(1234), "1234 B");
        assert_eq!(size_text(0), "0 B");
    }
}
