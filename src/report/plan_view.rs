//! Human-readable description of a resolved plan, for `ctl run --dry-run` and the run header.

use std::fmt::Write;

use crate::core::config::{Plan, SizeSpec};

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
            let _ = writeln!(s, "Schedule: open loop, {r} ops/s");
        }
        None => {
            let _ = writeln!(s, "Schedule: closed loop");
        }
    }
    if !plan.prepare.ensure_objects.is_empty() || plan.prepare.tree.is_some() {
        let _ = writeln!(s, "Prepare:");
        for e in &plan.prepare.ensure_objects {
            let _ = writeln!(
                s,
                "  ensure {} objects under {} ({}, fill {:?})",
                e.count,
                e.base_uri,
                size_spec_text(&e.size),
                e.fill
            );
        }
        if let Some(t) = &plan.prepare.tree {
            let dirs: u64 = (1..=t.depth).map(|d| u64::from(t.width).pow(d)).sum();
            let files = u64::from(t.width).pow(t.depth) * u64::from(t.files_per_dir);
            let _ = writeln!(
                s,
                "  tree under {}: width {} depth {} → {dirs} directories, {files} files ({})",
                t.base_uri,
                t.width,
                t.depth,
                size_spec_text(&t.size)
            );
        }
    }
    let total: u64 = plan.workload.iter().map(|o| u64::from(o.weight)).sum();
    if !plan.workload.is_empty() {
        let _ = writeln!(s, "Workload:");
        for o in &plan.workload {
            let pct = if total > 0 { 100.0 * f64::from(o.weight) / total as f64 } else { 0.0 };
            let size = o.size.as_ref().map(|z| format!(", size {}", size_spec_text(z))).unwrap_or_default();
            let ep = if o.use_multi_endpoint { "" } else { ", via target" };
            let _ = writeln!(s, "  {:<6} {:>5.1}%  {}{size}{ep}", o.op.name(), pct, o.path);
        }
    }
    if plan.cleanup {
        let _ = writeln!(s, "Cleanup: delete what this run creates");
    }
    for w in &plan.warnings {
        let _ = writeln!(s, "warning: {w}");
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
