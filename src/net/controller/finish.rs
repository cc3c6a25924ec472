//! The controller's own share of a prepare stage, and the run's report assembled from what every
//! agent sent: per-agent stages and time series, the fleet's merged rows, the validity record.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::super::fleet;
use super::{codec, Controller, ControllerError};
use crate::core::config::{self, StageKind, TreeCreationMode};
use crate::core::exec::{
    self, merge_phases, AgentReport, CpuSample, EndpointInfo, NullObserver, PhaseResult, RunOptions, RunReport,
    RunRole, Runner, StageInfo, StageOutcome, StageReport, StageTag,
};

impl Controller {
    /// The controller's share of prepare stage `i`, per `tree_creation_mode`: the tree's
    /// directories (`coordinator`, shared storage) or everything (`controller`).
    pub(super) async fn controller_prepare(&mut self, i: usize) -> Result<(), String> {
        let plan = self.plan.clone();
        let Some(d) = &plan.distributed else { return Ok(()) };
        let sp = Arc::new(plan.for_stage(i));
        let per_agent = matches!(d.tree_creation_mode, TreeCreationMode::Controller) && !d.shared_filesystem;
        let targets: Vec<Option<usize>> =
            if per_agent { (0..self.members.len()).map(Some).collect() } else { vec![None] };
        let tag = StageTag::new(i, &plan.stages[i].name);
        for t in targets {
            let Some(role) = RunRole::controller(&sp, &self.opts.run_id, t) else { continue };
            let what = if role.make_files { "tree and files" } else { "directory tree" };
            let under = role.root_suffix.as_ref().map(|s| format!(" under {s}")).unwrap_or_default();
            self.line(&format!("Controller preparing the {what}{under}..."));
            let dirs_only = !role.make_files;
            let opts = RunOptions::new(plan.perf_log.interval, Arc::new(NullObserver));
            let mut runner = Runner::new(sp.clone(), role, opts).await.map_err(|e| e.to_string())?;
            runner.preflight().await.map_err(|e| e.to_string())?;
            let local_table: Vec<String> =
                runner.stores.table.iter().map(|e| crate::core::store::redact_uri(&e.uri)).collect();
            let rep = match runner.setup_stage(i).await {
                Ok(()) => runner.run_stage(i, None).await,
                Err(e) => return Err(e.to_string()),
            };
            if let StageOutcome::Failed(w) = &rep.outcome {
                return Err(w.clone());
            }
            let dirs = sp.prepare.tree.as_ref().map(|t| t.shape().dir_count()).unwrap_or(0);
            let secs = rep.result.as_ref().map(|r| r.wall.as_secs_f64()).unwrap_or(0.0);
            if dirs_only {
                self.line(&format!("✓ controller created {dirs} directories in {secs:.3}s"));
            } else {
                self.line(&format!("✓ controller created {} objects ({dirs} directories) in {secs:.3}s", rep.created));
            }
            let map: Vec<usize> = local_table.iter().map(|u| self.table_index(u)).collect();
            let moved = match &rep.result {
                Some(p) => Some(
                    codec::phase_from_wire(&codec::phase_to_wire(p), &map, self.table.len())
                        .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            let own = self.own[i].get_or_insert_with(|| StageReport::new(i, &plan.stages[i]));
            own.started_at = own.started_at.or(rep.started_at);
            own.ended_at = rep.ended_at;
            own.created += rep.created;
            if let Some(mut p) = moved {
                p.stage = tag.clone();
                own.result = merge_phases(own.result.iter().chain([&p]), true);
            }
        }
        Ok(())
    }

    /// One agent's report: its stages (a lost agent's unfinished stage from what it streamed),
    /// time series, clock and CPU.
    fn agent_report(&mut self, i: usize) -> AgentReport {
        let plan = self.plan.clone();
        let (rows, partial) = self.folder.take_agent(i);
        let m = &mut self.members[i];
        let ready = m.ready.clone().unwrap_or_default();
        let mut a = AgentReport::empty(&m.id, &m.address);
        a.concurrency =
            if ready.concurrency > 0 { ready.concurrency as usize } else { plan.effective_concurrency(Some(i)) };
        a.endpoints = ready.endpoints.clone();
        a.strategy = (!ready.strategy.is_empty()).then(|| ready.strategy.clone());
        a.failure = m.lost.clone().map(|l| format!("lost: {l}"));
        if let Some(f) = &m.fin {
            if !f.failure.is_empty() && a.failure.is_none() {
                a.failure = Some(f.failure.clone());
            }
            a.cpu = CpuSample { user_pct: f.cpu_user_pct, system_pct: f.cpu_system_pct, iowait_pct: f.cpu_iowait_pct };
            a.oplog = f.has_oplog.then_some(crate::core::oplog::OpLogTotals {
                records: f.oplog_records,
                dropped: f.oplog_dropped,
                sampled_out: f.oplog_sampled_out,
            });
        }
        if let Some(d) = &m.dropped {
            a.failure = Some(d.clone());
        }
        let mut stages = m.stages.clone();
        if m.lost.is_some() || m.dropped.is_some() {
            let why = m.dropped.clone().or_else(|| m.lost.clone().map(|l| format!("lost: {l}"))).unwrap_or_default();
            for st in stages.iter_mut().filter(|s| m.ended_upto.is_none_or(|e| e < s.index)) {
                let tag = StageTag::new(st.index, &st.name);
                // A stage it never finished: its totals are the sum of what it streamed.
                st.result = partial.get(&tag).cloned().map(|totals| PhaseResult {
                    stage: tag.clone(),
                    wall: Duration::from_secs_f64(
                        rows.iter().flatten().filter(|r| r.stage == tag).map(|r| r.elapsed_s).fold(0.0, f64::max),
                    ),
                    totals,
                    in_flight_at_end: vec![0; self.table.len()],
                });
                st.outcome = if st.result.is_some() {
                    StageOutcome::Failed(why.clone())
                } else {
                    StageOutcome::Skipped(why.clone())
                };
            }
        }
        a.start_skew_ms = stages.iter().filter(|s| s.kind == "workload").find_map(|s| s.start_skew_ms);
        a.stages = stages;
        a.intervals = rows;
        a.clock_offset_ms = Some(m.offset_ns as f64 / 1e6);
        a.rtt_ms = Some(m.rtt_ns as f64 / 1e6);
        a.sum_stages();
        a
    }

    /// Merge everything into the run's report.
    pub(super) fn finish(&mut self, ended_at: SystemTime) -> Result<RunReport, ControllerError> {
        let plan = self.plan.clone();
        for i in 0..self.members.len() {
            let m = &self.members[i];
            if !m.done() || m.lost.is_some() {
                let lost = m.lost.is_some();
                self.folder.agent_done(i, lost);
            }
        }
        let fleet_rows = self.folder.finish();
        let agents: Vec<AgentReport> = (0..self.members.len()).map(|i| self.agent_report(i)).collect();
        let mut aggregate = exec::aggregate(&agents, fleet_rows);
        // A stage's outcome is that of the agents that stayed in the run: an agent dropped at a
        // barrier (and stopped there) does not make the stage fail.
        let kept: Vec<AgentReport> =
            agents.iter().zip(&self.members).filter(|(_, m)| m.dropped.is_none()).map(|(a, _)| a.clone()).collect();
        for view in exec::merge_stages(&kept) {
            if let Some(st) = aggregate.stages.iter_mut().find(|s| s.index == view.index) {
                st.outcome = view.outcome;
            }
        }
        // The controller's own part of each stage joins the fleet's record of it.
        for (i, own) in self.own.iter().enumerate() {
            let (Some(own), Some(st)) = (own, aggregate.stages.iter_mut().find(|s| s.index == i)) else { continue };
            // The controller's part ran before the agents': their wall times add.
            st.result = merge_phases(st.result.iter().chain(own.result.iter()), true);
            st.created += own.created;
            st.command = own.command.clone();
            st.started_at = match (st.started_at, own.started_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if matches!(plan.stages[i].kind, StageKind::Command(_)) {
                st.outcome = own.outcome.clone();
                st.ended_at = own.ended_at.max(st.ended_at);
            } else if let StageOutcome::Failed(_) = own.outcome {
                st.outcome = own.outcome.clone();
            }
        }
        aggregate.sum_stages();
        let dropped: Vec<(String, String)> =
            self.members.iter().filter_map(|m| m.dropped.clone().map(|d| (m.id.clone(), d))).collect();
        let lost_ids: Vec<String> =
            self.members.iter().filter(|m| m.lost.is_some() && m.dropped.is_none()).map(|m| m.id.clone()).collect();
        let failed: Vec<String> = agents
            .iter()
            .zip(&self.members)
            .filter(|(_, m)| m.dropped.is_none())
            .filter_map(|(a, _)| a.failure.as_ref().map(|f| format!("{}: {f}", a.id)))
            .collect();
        let degraded = if self.interrupted {
            Some("interrupted (Ctrl-C on the controller)".to_string())
        } else if !lost_ids.is_empty() {
            Some(format!("lost agent(s) {}: their missing intervals are marked in perf_log.tsv", lost_ids.join(", ")))
        } else if let Some(h) = &self.halted {
            Some(h.clone())
        } else if !failed.is_empty() {
            Some(failed.join("; "))
        } else {
            None
        };
        let report = RunReport {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
            config_name: self.opts.config_name.clone(),
            config_text: config::redact_yaml(&plan.config_text),
            started_at: self.started_at,
            ended_at,
            endpoints: self.table.iter().enumerate().map(|(idx, uri)| EndpointInfo { idx, uri: uri.clone() }).collect(),
            distributed: true,
            stage_info: StageInfo::of_plan(&plan),
            explicit_stages: plan.explicit_stages,
            dropped,
            warnings: plan.warnings.clone(),
            degraded: degraded.clone(),
            stats_delay_ms: (self.delay.0 > 0).then(|| (self.delay.1 / self.delay.0 as f64, self.delay.2)),
            stats_send_every: Some(fleet::send_every(self.members.len(), self.opts.tick)),
            // Named by the caller, which moves the files into the results folder.
            oplog_files: Vec::new(),
            aggregate,
            agents,
        };
        let measured = report.aggregate.stages.iter().any(|s| s.result.is_some() || s.command.is_some())
            || report.agents.iter().any(|a| a.stages.iter().any(|s| s.command.is_some()));
        if !measured {
            return Err(ControllerError::Run(degraded.unwrap_or_else(|| "nothing ran".into())));
        }
        Ok(report)
    }
}
