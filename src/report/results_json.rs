//! `results.json`: every figure of the results folder in one document — the rows of results.tsv
//! and prepare_results.tsv, the endpoint stats, each stage's figures, each agent's, and
//! metadata.json — for scripts and dashboards. The rows are made by the TSV exporters and typed
//! here, so the JSON and the TSV files can never disagree. Its shape is `docs/schema/results.schema.json`.

use serde_json::{json, Map, Value};

use super::{endpoint_stats, metadata, results_tsv};
use crate::core::exec::{AgentReport, EndpointInfo, RunReport};

/// Version of the document's shape; bumped when a member changes meaning.
pub const SCHEMA: &str = "sai3-results/1";

/// A TSV file (header line, then rows) as a list of objects; numbers become JSON numbers.
pub fn rows(tsv: &str, text_columns: &[&str]) -> Vec<Value> {
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().map(|h| h.split('\t').collect()).unwrap_or_default();
    lines
        .map(|l| {
            let mut m = Map::new();
            for (k, v) in header.iter().zip(l.split('\t')) {
                let val = if text_columns.contains(k) {
                    Value::String(v.to_string())
                } else if let Ok(n) = v.parse::<u64>() {
                    json!(n)
                } else if let Ok(f) = v.parse::<f64>() {
                    json!(f)
                } else {
                    Value::String(v.to_string())
                };
                m.insert(k.to_string(), val);
            }
            Value::Object(m)
        })
        .collect()
}

fn results(p: Option<&crate::core::exec::PhaseResult>) -> Vec<Value> {
    rows(&results_tsv::serialize(p), &["operation", "size_bucket"])
}

fn endpoints(table: &[EndpointInfo], p: Option<&crate::core::exec::PhaseResult>) -> Vec<Value> {
    rows(&endpoint_stats::serialize(table, p), &["endpoint_uri"])
}

/// The figures of one agent (or of the aggregate).
fn figures(a: &AgentReport, table: &[EndpointInfo]) -> Value {
    let stages: Vec<Value> = a
        .stages
        .iter()
        .map(|s| {
            json!({
                "index": s.index,
                "name": s.name,
                "type": s.kind,
                "outcome": s.outcome.name(),
                "wall_s": s.result.as_ref().map(|r| r.wall.as_secs_f64()),
                "results": results(s.result.as_ref()),
                "warmup_results": s.warmup.as_ref().map(|w| results(Some(w))),
                "endpoint_stats": (!table.is_empty()).then(|| endpoints(table, s.result.as_ref())),
            })
        })
        .collect();
    json!({
        "id": a.id,
        "results": results(a.workload.as_ref()),
        "prepare_results": results(a.prepare.as_ref()),
        "workload_endpoint_stats": (!table.is_empty()).then(|| endpoints(table, a.workload.as_ref())),
        "prepare_endpoint_stats": (!table.is_empty()).then(|| endpoints(table, a.prepare.as_ref())),
        "stages": stages,
    })
}

/// The whole document.
pub fn value(r: &RunReport) -> Value {
    let agents: Vec<Value> = if r.distributed {
        r.agents
            .iter()
            .map(|a| {
                let table: Vec<EndpointInfo> =
                    r.endpoints.iter().filter(|e| a.endpoints.contains(&e.uri)).cloned().collect();
                figures(a, &table)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut doc = figures(&r.aggregate, &r.endpoints);
    if let Value::Object(m) = &mut doc {
        m.remove("id");
        m.insert("schema".into(), json!(SCHEMA));
        m.insert("agents".into(), Value::Array(agents));
        m.insert("metadata".into(), metadata::value(r));
    }
    doc
}

pub fn serialize(r: &RunReport) -> String {
    let mut s = serde_json::to_string_pretty(&value(r)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}
