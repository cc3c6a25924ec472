//! The rules that look at the whole plan rather than one key: target vs. endpoints, workers per
//! endpoint, directory ops only on file systems, `from: written` after something writes, and
//! the warnings about a run with nothing to do. Also run after `--agents` replaces the agents.

use super::*;

/// Every base URI requests of `op` may go to: its own full URI, else the target and every
/// endpoint set that could serve it.
fn op_uris(plan: &Plan, op: &OpSpec) -> Vec<String> {
    if let Some((base, _)) = crate::core::workload::split_absolute(&op.path) {
        return vec![base];
    }
    let mut out: Vec<String> = plan.target.iter().cloned().collect();
    if op.use_multi_endpoint {
        out.extend(plan.multi_endpoint.iter().flat_map(|e| e.endpoints.iter().cloned()));
        if let Some(d) = &plan.distributed {
            out.extend(d.agents.iter().flat_map(|a| a.multi_endpoint.iter().flat_map(|e| e.endpoints.iter().cloned())));
        }
    }
    out
}

fn is_file_system(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    lower.starts_with("file://") || lower.starts_with("direct://")
}

/// Rules that look at the whole plan. Also run after `--agents` replaces the agent list.
pub(in crate::core::config) fn cross_checks(plan: &Plan, ctx: &mut Ctx, uses: Option<&PathUse>) {
    if plan.multi_endpoint.is_some() {
        if let Some(t) = &plan.target {
            ctx.err(
                "multi_endpoint",
                format!(
                    "both `target` ({t}) and an enabled global `multi_endpoint` are set, so it is ambiguous where requests go — \
                     remove `target`, or set `multi_endpoint.enabled: false` (per-agent `multi_endpoint` blocks may be combined with `target`)"
                ),
            );
        }
    }
    let agents: Vec<Option<usize>> = match &plan.distributed {
        Some(d) if !d.agents.is_empty() => (0..d.agents.len()).map(Some).collect(),
        _ => vec![None],
    };
    for a in &agents {
        let Some(eps) = plan.effective_endpoints(*a) else { continue };
        let conc = plan.effective_concurrency(*a);
        if conc < eps.endpoints.len() {
            let (path, who) = match a.and_then(|i| plan.agent(i).map(|s| (i, s))) {
                Some((i, spec)) if spec.concurrency_override.is_some() => {
                    (format!("distributed.agents[{i}].concurrency_override"), format!("agent `{}`", spec.id))
                }
                Some((_, spec)) => ("concurrency".to_string(), format!("agent `{}`", spec.id)),
                None => ("concurrency".to_string(), "this run".to_string()),
            };
            ctx.err(
                &path,
                format!(
                    "{who} has {} endpoints but only {conc} workers — raise it to at least {} so every endpoint gets a worker",
                    eps.endpoints.len(),
                    eps.endpoints.len()
                ),
            );
        }
    }
    if let (Some(g), Some(d)) = (&plan.multi_endpoint, &plan.distributed) {
        let sharing = d.agents.iter().filter(|a| a.multi_endpoint.is_none()).count();
        if sharing > 1 && g.endpoints.len() % sharing != 0 {
            ctx.warn(
                "multi_endpoint.endpoints",
                format!("{} endpoints do not divide evenly among the {sharing} agents that use them — some endpoints will see more load", g.endpoints.len()),
            );
        }
    }
    if let Some(uses) = uses {
        let everywhere = plan.multi_endpoint.is_some()
            || plan
                .distributed
                .as_ref()
                .is_some_and(|d| !d.agents.is_empty() && d.agents.iter().all(|a| a.multi_endpoint.is_some()));
        if plan.target.is_none() {
            if let (false, false, Some((yaml, p))) =
                (everywhere, uses.target_or_endpoints_written, &uses.first_relative)
            {
                ctx.err(
                    "target",
                    format!(
                        "missing — `{yaml}` (`{p}`) is relative, so it needs `target: file:///dir/` (or s3://, az://, gs://, direct://) or a `multi_endpoint` block"
                    ),
                );
            }
            for p in uses.opt_out.iter().filter(|_| !uses.target_or_endpoints_written || plan.multi_endpoint.is_some())
            {
                ctx.err(
                    p,
                    "is false, but there is no `target` to send this request to — set `target:` or remove this line",
                );
            }
        }
        let (mut files, mut dirs) = (false, false);
        for (i, st) in plan.stages.iter().enumerate() {
            let StageKind::Workload(w) = &st.kind else { continue };
            let at = |j: usize, key: &str| {
                if plan.explicit_stages && w.ops != plan.workload {
                    format!("stages[{i}].workload[{j}].{key}")
                } else {
                    format!("workload[{j}].{key}")
                }
            };
            let needs_dirs =
                |o: &OpSpec| o.op.is_dir_op() || (o.op == OpKind::Put && o.path.contains('*') && o.path.ends_with('/'));
            for (j, o) in w.ops.iter().enumerate().filter(|(_, o)| needs_dirs(o)) {
                if let Some(uri) = op_uris(plan, o).into_iter().find(|u| !is_file_system(u)) {
                    ctx.err(
                        &at(j, "op"),
                        format!(
                            "`{}`{} works on file systems (file://, direct://), but this op goes to {uri}, an object store: its keys are flat names with no directories to create, remove or pick — send it to a file system with a full URI as `path`, or drop it",
                            o.op.config_name(),
                            if o.op == OpKind::Put { " into a directory pattern" } else { "" }
                        ),
                    );
                }
            }
            files |= w.ops.iter().any(|o| o.op == OpKind::Put);
            dirs |= w.ops.iter().any(|o| o.op == OpKind::Mkdir);
            for (j, o) in w.ops.iter().enumerate().filter(|(_, o)| o.from_written) {
                let (made, what, maker) = match o.op {
                    OpKind::Rmdir => (dirs, "directories this run's MKDIRs made", "mkdir"),
                    OpKind::Stat => (files || dirs, "objects and directories this run wrote", "put"),
                    _ => (files, "objects this run's PUTs wrote", "put"),
                };
                if !made {
                    ctx.err(
                        &at(j, "from"),
                        format!(
                            "`{}` with `from: written` reads the {what}, but no `{maker}` runs in this stage or before it — add a `{maker}` to the mix",
                            o.op.config_name()
                        ),
                    );
                }
            }
        }
        if !plan.explicit_stages && plan.duration.is_zero() && !plan.workload.is_empty() {
            ctx.warn("duration", "is 0, so only prepare (and cleanup) run; the workload is skipped");
        }
        if !plan.explicit_stages && plan.workload.is_empty() && plan.duration > Duration::ZERO && ctx.errors.is_empty()
        {
            let what = if plan.prepare.ensure_objects.is_empty() && plan.prepare.tree.is_none() {
                "and no `prepare`: the run has nothing to do"
            } else {
                "so only prepare runs; set `duration: 0s` to say so"
            };
            ctx.warn("workload", format!("no `workload` entries {what}"));
        }
    }
}
