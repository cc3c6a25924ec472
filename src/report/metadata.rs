//! `metadata.json`: what ran, where, when, and how far the figures can be trusted.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::core::exec::{AgentReport, RunReport, StageReport};

/// CPU use (user + system, % of all cores) above which the load host, not the storage, likely
/// limited the run.
pub const LOAD_GENERATOR_BOUND_PCT: f64 = 85.0;

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn rfc3339(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Local> = t.into();
    dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

fn agent_json(a: &AgentReport) -> Value {
    json!({
        "id": a.id,
        "address": a.address,
        "concurrency": a.concurrency,
        "endpoints": a.endpoints.iter().map(|e| crate::core::store::redact_uri(e)).collect::<Vec<_>>(),
        "strategy": a.strategy,
        "prepare_existing": a.prepare_existing,
        "prepare_created": a.prepare_created,
        "clock_offset_ms": a.clock_offset_ms,
        "rtt_ms": a.rtt_ms,
        "start_skew_ms": a.start_skew_ms,
        "cpu_workload": { "user_pct": a.cpu.user_pct, "system_pct": a.cpu.system_pct, "iowait_pct": a.cpu.iowait_pct },
        "failure": a.failure,
        "oplog_records": a.oplog.map(|t| t.records),
        "oplog_dropped": a.oplog.map(|t| t.dropped),
    })
}

fn ops_errors(p: Option<&crate::core::exec::PhaseResult>) -> (u64, u64) {
    p.map(|p| (p.totals.total_ops(), p.totals.total_errors())).unwrap_or((0, 0))
}

/// Attempts beyond the first, and requests that succeeded only after a retry, of a phase.
fn retries(p: Option<&crate::core::exec::PhaseResult>) -> crate::core::metrics::RetryCount {
    p.map(|p| p.totals.total_retries()).unwrap_or_default()
}

/// One agent's part in one stage.
fn agent_stage_json(id: &str, st: &StageReport) -> Value {
    let (ops, errors) = ops_errors(st.result.as_ref());
    json!({
        "agent": id,
        "outcome": st.outcome.name(),
        "message": st.outcome.message(),
        "started_at": st.started_at.map(rfc3339),
        "ended_at": st.ended_at.map(rfc3339),
        "ops": ops,
        "errors": errors,
        "retries": retries(st.result.as_ref()).retries,
        "retried_ok": retries(st.result.as_ref()).retried_ok,
        "warmup_ops": ops_errors(st.warmup.as_ref()).0,
        "barrier_wait_ms": st.barrier_wait_ms,
        "start_skew_ms": st.start_skew_ms,
        "exit_code": st.command.as_ref().and_then(|c| c.exit_code),
        "output_tail": st.command.as_ref().map(|c| c.tail.clone()),
    })
}

/// Every stage: what it was, when it ran, what it did, and how each agent took part in it.
fn stages_json(r: &RunReport) -> Vec<Value> {
    r.aggregate
        .stages
        .iter()
        .map(|st| {
            let info = r.stage_info.iter().find(|i| i.index == st.index);
            let (ops, errors) = ops_errors(st.result.as_ref());
            let agents: Vec<Value> = r
                .agents
                .iter()
                .filter_map(|a| a.stages.iter().find(|s| s.index == st.index).map(|s| agent_stage_json(&a.id, s)))
                .collect();
            json!({
                "index": st.index,
                "name": st.name,
                "type": st.kind,
                "optional": st.optional,
                "outcome": st.outcome.name(),
                "message": st.outcome.message(),
                "started_at": st.started_at.map(rfc3339),
                "ended_at": st.ended_at.map(rfc3339),
                "wall_s": st.result.as_ref().map(|p| p.wall.as_secs_f64()),
                "ops": ops,
                "errors": errors,
                "retries": retries(st.result.as_ref()).retries,
                "retried_ok": retries(st.result.as_ref()).retried_ok,
                "warmup_ops": ops_errors(st.warmup.as_ref()).0,
                "warmup_wall_s": st.warmup.as_ref().map(|p| p.wall.as_secs_f64()),
                "prepare_existing": (st.kind == "prepare").then_some(st.existing),
                "prepare_created": (st.kind == "prepare").then_some(st.created),
                "barrier": info.map(|i| json!({"policy": i.barrier_policy, "timeout_s": i.barrier_timeout_s})),
                "agents": agents,
            })
        })
        .collect()
}

/// Warnings about the validity of the figures (load generator saturated, start skew, …).
pub fn validity_warnings(r: &RunReport) -> Vec<String> {
    let mut w = Vec::new();
    for a in &r.agents {
        let busy = a.cpu.user_pct + a.cpu.system_pct;
        if a.workload.is_some() && busy > LOAD_GENERATOR_BOUND_PCT {
            w.push(format!(
                "{}: the load host's CPU was {:.0}% busy during the workload — the load generator, not the storage, may have been the bottleneck",
                a.id, busy
            ));
        }
        if let Some(skew) = a.start_skew_ms {
            if skew.abs() > 100.0 {
                w.push(format!("{}: started {skew:.0} ms away from the common start instant", a.id));
            }
        }
    }
    if let Some(t) = r.aggregate.oplog.filter(|t| t.dropped > 0) {
        w.push(format!(
            "{} operations are missing from the op-log: its writer fell behind (oplog_dropped); the figures in results.tsv are complete",
            t.dropped
        ));
    }
    let late: u64 = r.aggregate.workload.as_ref().map(|p| p.totals.late_starts).unwrap_or(0);
    if late > 0 {
        w.push(format!("{late} operations started later than the io_rate schedule intended (latency counts from the intended start)"));
    }
    w
}

/// The metadata document (also the `metadata` member of results.json).
pub fn value(r: &RunReport) -> Value {
    let late: u64 = r.aggregate.workload.as_ref().map(|p| p.totals.late_starts).unwrap_or(0);
    let retried = retries(r.aggregate.workload.as_ref());
    let v = json!({
        "tool": "sai3",
        "tool_version": r.tool_version,
        "command_line": r.command_line,
        "config": r.config_name,
        "started_at": rfc3339(r.started_at),
        "ended_at": rfc3339(r.ended_at),
        "started_epoch_ms": epoch_ms(r.started_at),
        "ended_epoch_ms": epoch_ms(r.ended_at),
        "distributed": r.distributed,
        "agents": r.agents.iter().map(agent_json).collect::<Vec<_>>(),
        "endpoints": r.endpoints.iter().map(|e| json!({"idx": e.idx, "uri": crate::core::store::redact_uri(&e.uri)})).collect::<Vec<_>>(),
        "phases": {
            "prepare_wall_s": r.aggregate.prepare.as_ref().map(|p| p.wall.as_secs_f64()),
            "workload_wall_s": r.aggregate.workload.as_ref().map(|p| p.wall.as_secs_f64()),
            "cleanup_wall_s": r.aggregate.cleanup.as_ref().map(|p| p.wall.as_secs_f64()),
        },
        "stages": stages_json(r),
        "retries": retried.retries,
        "retried_ok": retried.retried_ok,
        "op_log": r.aggregate.oplog.map(|t| json!({
            "files": r.oplog_files,
            "records": t.records,
            "dropped": t.dropped,
            "sampled_out": t.sampled_out,
        })),
        "oplog_dropped": r.aggregate.oplog.map(|t| t.dropped),
        "warnings": r.warnings,
        "degraded": r.degraded,
        "dropped_agents": r.dropped.iter().map(|(id, why)| json!({"id": id, "reason": why})).collect::<Vec<_>>(),
        "stats_delay_ms": r.stats_delay_ms.map(|(mean, max)| json!({"mean": mean, "max": max})),
        "stats_send_every": r.stats_send_every,
        "missing_intervals": r.aggregate.intervals.iter().flatten().filter(|i| !i.missing_agents.is_empty()).map(|i| json!({
            "stage": i.stage.label(),
            "elapsed_s": i.elapsed_s,
            "timestamp_epoch_ms": i.timestamp_epoch_ms,
            "missing_agents": i.missing_agents,
        })).collect::<Vec<_>>(),
        "validity": {
            "load_generator_bound_threshold_pct": LOAD_GENERATOR_BOUND_PCT,
            "late_starts": late,
            "warnings": validity_warnings(r),
        },
    });
    v
}

pub fn serialize(r: &RunReport) -> String {
    let mut s = serde_json::to_string_pretty(&value(r)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}
