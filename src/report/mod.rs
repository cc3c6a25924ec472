//! Output: one exporter per results file, the results folder, the console, and `analyze`.
//! Each file's columns are a `COLUMNS` constant in its module; `write_results` owns all writing.

pub mod analyze;
pub mod console;
pub mod endpoint_stats;
pub mod fmt;
pub mod metadata;
pub mod openmetrics;
pub mod oplog_files;
pub mod perf_log;
pub mod plan_view;
pub mod results_dir;
pub mod results_json;
pub mod results_tsv;

use std::path::Path;

use anyhow::Context;

use crate::core::exec::{AgentReport, EndpointInfo, RunReport};

/// The name of stage `index`'s file `suffix` (`02_read_results.tsv`): numbered in execution order.
pub fn stage_file(index: usize, name: &str, suffix: &str) -> String {
    format!("{:02}_{name}_{suffix}", index + 1)
}

/// The files of one agent's (or the aggregate's) figures, as (file name, contents).
/// `perf_log_name` is `None` when `perf_log.enabled: false`; `per_stage` adds the numbered
/// per-stage files (a config with `stages:`).
pub fn agent_files(
    a: &AgentReport,
    perf_id: &str,
    endpoints: &[EndpointInfo],
    perf_log_name: Option<&str>,
    per_stage: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = vec![
        ("results.tsv".to_string(), results_tsv::serialize(a.workload.as_ref())),
        ("prepare_results.tsv".to_string(), results_tsv::serialize(a.prepare.as_ref())),
    ];
    if let Some(name) = perf_log_name {
        let body = perf_log::serialize(perf_id, &a.intervals)
            .with_context(|| format!("reading back the perf-log rows of {perf_id}"))?;
        files.push((name.to_string(), body));
    }
    if !endpoints.is_empty() {
        files.push(("workload_endpoint_stats.tsv".into(), endpoint_stats::serialize(endpoints, a.workload.as_ref())));
        files.push(("prepare_endpoint_stats.tsv".into(), endpoint_stats::serialize(endpoints, a.prepare.as_ref())));
    }
    if per_stage {
        for st in a.stages.iter().filter(|s| s.result.is_some()) {
            files.push((stage_file(st.index, &st.name, "results.tsv"), results_tsv::serialize(st.result.as_ref())));
            if !endpoints.is_empty() {
                let body = endpoint_stats::serialize(endpoints, st.result.as_ref());
                files.push((stage_file(st.index, &st.name, "endpoint_stats.tsv"), body));
            }
        }
    }
    Ok(files)
}

/// Every file of the results folder `dir` (which must exist): SPEC §4.
/// Write the results folder. `controller_log`: the controller's log (distributed runs).
pub fn write_results(
    dir: &Path,
    r: &RunReport,
    console_text: &str,
    controller_log: Option<&str>,
    perf_log_name: Option<&str>,
) -> anyhow::Result<()> {
    let write = |name: &str, body: &str| -> anyhow::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, body).with_context(|| format!("writing {}", p.display()))
    };
    let perf_id = if r.distributed { "all" } else { r.aggregate.id.as_str() };
    for (name, body) in agent_files(&r.aggregate, perf_id, &r.endpoints, perf_log_name, r.explicit_stages)? {
        write(&name, &body)?;
    }
    write("config.yaml", &r.config_text)?;
    write("metadata.json", &metadata::serialize(r))?;
    write("results.json", &results_json::serialize(r))?;
    if r.distributed {
        for a in &r.agents {
            let sub = dir.join("agents").join(&a.id);
            std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
            let table: Vec<EndpointInfo> =
                r.endpoints.iter().filter(|e| a.endpoints.contains(&e.uri)).cloned().collect();
            for (name, body) in agent_files(a, &a.id, &table, perf_log_name, r.explicit_stages)? {
                let p = sub.join(&name);
                std::fs::write(&p, body).with_context(|| format!("writing {}", p.display()))?;
            }
        }
    }
    write("console_log.txt", console_text)?;
    if let Some(log) = controller_log {
        write("controller_log.txt", log)?;
    }
    Ok(())
}
