//! The controller of a distributed run: connect to every agent, send each its config, then walk
//! the plan's stage list with the fleet — the controller's own part of a stage, every agent set
//! up, one start instant, their streams followed, the barrier at the stage's end under its
//! policy — and merge what they measured into a [`RunReport`]. Progress goes to a
//! [`ControllerObserver`]; writing the results folder is the caller's.

mod barrier;
mod finish;
mod member;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::agent_service::{hostname, unix_ns};
use super::fleet::{self, Dialer, Event};
use super::{codec, pb};
use crate::core::config::{Plan, StageKind};
use crate::core::exec::{self, CpuSample, IntervalRow, PhaseStart, RunObserver, RunReport, StageReport, StageTag};
use crate::core::metrics::{Snapshot, SparseSnapshot};
use member::Member;

/// Receives the controller's progress (the console, or a test).
pub trait ControllerObserver: Send + Sync {
    /// One line of progress.
    fn line(&self, text: &str);
    /// The live view of the running stage (progress bar, stage lines).
    fn live(&self) -> Arc<dyn RunObserver>;
}

/// How a distributed run ended without a report.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// Before any I/O: an agent unreachable, busy, rejecting the config (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The run started but produced nothing to report (exit code 1).
    #[error("{0}")]
    Run(String),
}

/// What the controller needs besides the plan.
#[derive(Clone)]
pub struct ControllerOptions {
    /// The config file's name (results folder, agents' logs).
    pub config_name: String,
    /// `ctl run --agents`, applied by every agent to the config as here.
    pub cli_agents: Vec<String>,
    /// Length of the intervals agents stream.
    pub tick: Duration,
    /// How long agents may take to validate the config.
    pub ready_timeout: Duration,
    pub run_id: String,
    /// Live figures for `--metrics-listen`: every agent's rows, the stage, the agents connected.
    pub metrics: Option<Arc<exec::LiveMetrics>>,
    /// With `op_log:`: where each agent's op-log is written as it arrives (`<agent id>.tsv.zst`).
    pub oplog_dir: Option<std::path::PathBuf>,
}

impl ControllerOptions {
    pub fn new(config_name: &str, cli_agents: Vec<String>, run_id: &str) -> Self {
        ControllerOptions {
            config_name: config_name.to_string(),
            cli_agents,
            tick: Duration::from_millis(100),
            ready_timeout: Duration::from_secs(60),
            run_id: run_id.to_string(),
            metrics: None,
            oplog_dir: None,
        }
    }
}

/// Run `plan` on its agents (already listening). `Ok` carries the report also of a run that
/// failed part-way (`degraded` says why); `Err` means there is nothing to report.
pub async fn run(
    plan: Plan,
    opts: ControllerOptions,
    dialer: Dialer,
    obs: Arc<dyn ControllerObserver>,
) -> Result<RunReport, ControllerError> {
    Controller::new(plan, opts, dialer, obs).run().await
}

struct Controller {
    plan: Arc<Plan>,
    opts: ControllerOptions,
    dialer: Dialer,
    obs: Arc<dyn ControllerObserver>,
    live: Arc<dyn RunObserver>,
    members: Vec<Member>,
    /// The run's endpoint table: agents in order, each agent's endpoints in its order.
    table: Vec<String>,
    events_tx: mpsc::UnboundedSender<(usize, Event)>,
    events: mpsc::UnboundedReceiver<(usize, Event)>,
    interrupts: Option<mpsc::UnboundedReceiver<()>>,
    interrupted: bool,
    /// Why the run stopped before its last stage, if it did.
    halted: Option<String>,
    /// What the controller itself did in each stage (its prepare share, `on: controller` commands).
    own: Vec<Option<StageReport>>,
    /// Commmon start instant of each stage (controller clock, ns; 0: not started).
    starts: Vec<i64>,
    live_rows: LiveRows,
    folder: exec::FleetFolder,
    /// Interval arrival delays: count, sum and max in ms.
    delay: (u64, f64, f64),
    started_at: SystemTime,
}

/// Merges the agents' short rows of the same index for the progress bar.
#[derive(Default)]
struct LiveRows {
    pending: std::collections::BTreeMap<(StageTag, u64), (Snapshot, usize, f64, f64)>,
}

impl Controller {
    fn new(plan: Plan, opts: ControllerOptions, dialer: Dialer, obs: Arc<dyn ControllerObserver>) -> Self {
        let members: Vec<Member> = plan
            .distributed
            .as_ref()
            .map(|d| d.agents.iter().map(|a| Member::new(&a.id, &a.address, &plan)).collect())
            .unwrap_or_default();
        let (events_tx, events) = mpsc::unbounded_channel();
        let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
        let folder = exec::FleetFolder::new(&ids, opts.tick, plan.perf_log.interval);
        let n = plan.stages.len();
        let live = obs.live();
        Controller {
            plan: Arc::new(plan),
            opts,
            dialer,
            obs,
            live,
            members,
            table: Vec::new(),
            events_tx,
            events,
            interrupts: None,
            interrupted: false,
            halted: None,
            own: vec![None; n],
            starts: vec![0; n],
            live_rows: LiveRows::default(),
            folder,
            delay: (0, 0.0, 0.0),
            started_at: SystemTime::now(),
        }
    }

    fn line(&self, s: &str) {
        self.obs.line(s);
    }

    fn abort_all(&self, reason: &str) {
        for m in &self.members {
            m.send(pb::control_msg::Ctl::Abort(pb::Abort { reason: reason.to_string() }));
        }
    }

    /// Stop the run after the current stage (the first reason is kept); every agent is aborted.
    fn halt(&mut self, why: String) {
        if self.halted.is_none() {
            tracing::warn!(event = "halt", cause = %why, "stopping the run: {why}");
            self.line(&format!("⚠ Stopping the run: {why}"));
            self.abort_all(&why);
            self.halted = Some(why);
        }
    }

    fn interrupt(&mut self) {
        if !self.interrupted {
            self.interrupted = true;
            self.line("⚠ Interrupted: stopping every agent...");
            self.halt("interrupted (Ctrl-C on the controller)".into());
        }
    }

    async fn run(&mut self) -> Result<RunReport, ControllerError> {
        self.started_at = SystemTime::now();
        let n = self.members.len();
        if let Some(m) = &self.opts.metrics {
            m.begin(&self.opts.run_id, &self.opts.config_name, &self.plan, Vec::new());
            m.set_agents(0, n);
        }
        let d = self.plan.distributed.clone().ok_or_else(|| ControllerError::Usage("the plan has no agents".into()))?;
        self.line("=== Distributed Workload ===");
        self.line(&format!("Config: {}", self.opts.config_name));
        self.line(&format!("Agents: {n}"));
        self.line(&format!("Start delay: {}s", d.start_delay.as_secs_f64()));
        self.line(if d.shared_filesystem {
            "Storage mode: shared (all agents access same data)"
        } else {
            "Storage mode: independent (each agent has its own data)"
        });
        self.connect().await?;
        self.configure().await?;
        self.metrics_fleet();
        // Ctrl-C: abort every agent and still write what was measured.
        let (int_tx, int_rx) = mpsc::unbounded_channel::<()>();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = int_tx.send(());
            }
        });
        self.interrupts = Some(int_rx);

        for i in 0..self.plan.stages.len() {
            if self.halted.is_some() {
                break;
            }
            self.stage(i).await;
        }
        // Every agent ends its run after its last stage (or its abort) with Final.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.members.iter().any(|m| !m.done()) {
            match tokio::time::timeout_at(deadline.into(), self.events.recv()).await {
                Ok(Some((i, ev))) => self.absorb(i, ev),
                _ => break,
            }
        }
        let completed = self.members.iter().filter(|m| m.completed()).count();
        if completed == n {
            self.line(&format!("✓ All {n} agents completed"));
        } else {
            self.line(&format!("⚠ {completed} of {n} agents completed"));
        }
        self.finish(SystemTime::now())
    }

    /// Connect to every agent and measure its clock; stop before any I/O if one is missing.
    async fn connect(&mut self) -> Result<(), ControllerError> {
        let conns = futures::future::join_all(self.members.iter().map(|m| {
            let dialer = self.dialer.clone();
            let addr = m.address.clone();
            async move { dialer.connect(&addr).await }
        }))
        .await;
        let mut problems = Vec::new();
        for (m, r) in self.members.iter_mut().zip(conns) {
            match r {
                Ok((conn, ping)) => {
                    if ping.busy {
                        problems.push(format!(
                            "agent {} ({}): busy with {} — wait for that run to end",
                            m.id, m.address, ping.busy_with
                        ));
                    } else if ping.version != env!("CARGO_PKG_VERSION") {
                        self.obs.line(&format!(
                            "⚠ agent {} runs sai3 {} (this controller is {})",
                            m.id,
                            ping.version,
                            env!("CARGO_PKG_VERSION")
                        ));
                    }
                    m.conn = Some(conn);
                }
                Err(e) => problems.push(format!("agent {} ({}): {e}", m.id, m.address)),
            }
        }
        if problems.is_empty() {
            // A few agents at a time: a clock sample is only as good as its round trip is short,
            // and hundreds of agents answering at once make every round trip long.
            use futures::StreamExt;
            let clocks: Vec<Result<(i64, i64), String>> = futures::stream::iter(self.members.iter().map(|m| {
                let conn = m.conn.clone();
                async move {
                    match conn {
                        Some(c) => c.clock(8).await,
                        None => Err("not connected".into()),
                    }
                }
            }))
            .buffered(8)
            .collect()
            .await;
            for (m, r) in self.members.iter_mut().zip(clocks) {
                match r {
                    Ok((off, rtt)) => (m.offset_ns, m.rtt_ns) = (off, rtt),
                    Err(e) => problems.push(format!("agent {} ({}): clock sync failed: {e}", m.id, m.address)),
                }
            }
        }
        if !problems.is_empty() {
            return Err(ControllerError::Usage(format!(
                "cannot start the run; nothing was touched:\n  {}",
                problems.join("\n  ")
            )));
        }
        Ok(())
    }

    /// Send every agent its config and wait until each validated it against its storage.
    async fn configure(&mut self) -> Result<(), ControllerError> {
        let n = self.members.len();
        self.line("");
        self.line(&format!("Starting workload on {n} agents with live stats..."));
        self.line("");
        self.line("⏳ Waiting for agents to validate configuration...");
        let controller = hostname();
        let mut problems = Vec::new();
        for i in 0..n {
            let conf = pb::Configure {
                config_yaml: self.plan.config_text.clone(),
                config_name: self.opts.config_name.clone(),
                agent_index: i as u32,
                agent_id: self.members[i].id.clone(),
                run_id: self.opts.run_id.clone(),
                tick_ms: self.opts.tick.as_millis() as u32,
                controller: controller.clone(),
                cli_agents: self.opts.cli_agents.clone(),
                clock_offset_ns: self.members[i].offset_ns,
                send_every: fleet::send_every(n, self.opts.tick),
            };
            let oplog = self.opts.oplog_dir.as_ref().map(|d| d.join(format!("{}.tsv.zst", self.members[i].id)));
            let Some(conn) = self.members[i].conn.clone() else { continue };
            match conn.start_run(i, conf, self.events_tx.clone(), oplog).await {
                Ok(tx) => self.members[i].tx = Some(tx),
                Err(e) => problems.push(format!("agent {} ({}): {e}", self.members[i].id, self.members[i].address)),
            }
        }
        if problems.is_empty() {
            self.wait_ready(&mut problems).await;
        }
        if !problems.is_empty() {
            self.abort_all("another agent could not start");
            return Err(ControllerError::Usage(format!(
                "cannot start the run; no I/O was done:\n  {}",
                problems.join("\n  ")
            )));
        }
        self.line(&format!("✅ All {n} agents ready - starting workload execution"));
        for i in 0..n {
            let eps = self.members[i].ready.as_ref().map(|r| r.endpoints.clone()).unwrap_or_default();
            self.members[i].map = eps.iter().map(|e| self.table_index(e)).collect();
        }
        if let Some(line) = self.endpoints_line() {
            self.line(&line);
        }
        Ok(())
    }

    async fn wait_ready(&mut self, problems: &mut Vec<String>) {
        let n = self.members.len();
        let deadline = Instant::now() + self.opts.ready_timeout;
        let mut next_note = Instant::now() + Duration::from_secs(5);
        while self.members.iter().any(|m| m.ready.is_none() && m.lost.is_none()) {
            if Instant::now() >= next_note {
                let ready = self.members.iter().filter(|m| m.ready.is_some()).count();
                let left = deadline.saturating_duration_since(Instant::now()).as_secs();
                self.line(&format!("⏳ {ready}/{n} agents ready, {} remaining ({left}s timeout remaining)", n - ready));
                next_note += Duration::from_secs(5);
            }
            let Ok(got) = tokio::time::timeout_at(deadline.min(next_note).into(), self.events.recv()).await else {
                if Instant::now() < deadline {
                    continue;
                }
                for m in self.members.iter().filter(|m| m.ready.is_none()) {
                    let secs = self.opts.ready_timeout.as_secs();
                    problems.push(format!(
                        "agent {} ({}): no answer to the config within {secs}s — see the agent's log",
                        m.id, m.address
                    ));
                }
                break;
            };
            let Some((i, ev)) = got else { break };
            let m = &mut self.members[i];
            match ev {
                Event::Ready(r) => {
                    tracing::info!(event = "ready", agent = %m.id, address = %m.address, "agent {} ready", m.id);
                    self.obs.line(&format!("✅ {} ready", m.id));
                    m.ready = Some(r);
                }
                Event::Rejected(reason) => {
                    tracing::warn!(event = "rejected", agent = %m.id, cause = %reason, "agent {} rejected the config", m.id);
                    self.obs.line(&format!("❌ {} rejected the config", m.id));
                    problems.push(format!("agent {} ({}) rejected the config: {reason}", m.id, m.address));
                    m.lost = Some(reason);
                }
                Event::Lost(reason) => {
                    problems.push(format!("agent {} ({}): {reason}", m.id, m.address));
                    m.lost = Some(reason);
                }
                other => self.absorb(i, other),
            }
        }
    }

    fn table_index(&mut self, uri: &str) -> usize {
        match self.table.iter().position(|e| e == uri) {
            Some(i) => i,
            None => {
                self.table.push(uri.to_string());
                self.table.len() - 1
            }
        }
    }

    /// `Endpoints: 4 (2 per agent, round_robin)` and the table with the agents using each.
    fn endpoints_line(&self) -> Option<String> {
        if self.table.is_empty() {
            return None;
        }
        let counts: Vec<usize> = self.members.iter().map(|m| m.map.len()).collect();
        let mut strategies: Vec<String> = Vec::new();
        for r in self.members.iter().filter_map(|m| m.ready.as_ref()) {
            if !r.strategy.is_empty() && !strategies.contains(&r.strategy) {
                strategies.push(r.strategy.clone());
            }
        }
        let per = if counts.iter().all(|c| *c == counts[0]) {
            format!("{} per agent", counts[0])
        } else {
            "per agent".to_string()
        };
        let mut s = format!("Endpoints: {} ({per}, {})", self.table.len(), strategies.join(" / "));
        for (idx, uri) in self.table.iter().enumerate() {
            let users: Vec<&str> =
                self.members.iter().filter(|m| m.map.contains(&idx)).map(|m| m.id.as_str()).collect();
            s.push_str(&format!("\n  [{idx}] {uri}  ({})", users.join(", ")));
        }
        Some(s)
    }

    /// One stage with the fleet: the controller's part, setup, one start instant, the barrier.
    async fn stage(&mut self, i: usize) {
        let plan = self.plan.clone();
        let st = &plan.stages[i];
        self.live.on_stage_start(i, &plan);
        if let Some(m) = &self.opts.metrics {
            m.set_stage(i);
        }
        if let Err(why) = self.own_part(i).await {
            self.halt(why);
            return;
        }
        let who: Vec<usize> = (0..self.members.len()).filter(|&k| self.members[k].active()).collect();
        if who.is_empty() {
            self.halt("no agent is left to run the remaining stages".into());
            return;
        }
        for &k in &who {
            self.members[k]
                .send(pb::control_msg::Ctl::StageSetup(pb::StageSetup { index: i as u32, name: st.name.clone() }));
        }
        if self.barrier(i, barrier::Wait::Ready).await.is_err() {
            return;
        }
        // A setup that failed on any agent (a workload that finds no objects) stops the run here.
        self.check_failures(i);
        if self.halted.is_some() {
            return;
        }
        // One start instant for every agent that is set up, on each agent's own clock.
        let first_workload = plan.stages.iter().position(|s| matches!(s.kind, StageKind::Workload(_))) == Some(i);
        let rtt = self.members.iter().map(|m| m.rtt_ns).max().unwrap_or(0);
        let start_delay = plan.distributed.as_ref().map(|d| d.start_delay).unwrap_or(Duration::from_secs(2));
        let lead = if first_workload {
            start_delay
        } else {
            start_delay.min(Duration::from_millis(250).max(Duration::from_nanos(4 * rtt.max(0) as u64)))
        };
        let start_ns = unix_ns(SystemTime::now() + lead);
        self.starts[i] = start_ns;
        let ready: Vec<usize> =
            (0..self.members.len()).filter(|&k| self.members[k].active() && self.members[k].ready_for(i)).collect();
        tracing::info!(event = "stage_start", stage = %st.name, index = i + 1, agents = ready.len(), "stage {} `{}` starts on {} agents", i + 1, st.name, ready.len());
        for &k in &ready {
            let m = &self.members[k];
            m.send(pb::control_msg::Ctl::StageStart(pb::StageStart {
                index: i as u32,
                name: st.name.clone(),
                start_unix_ns: start_ns + m.offset_ns,
            }));
        }
        let workload = match &st.kind {
            StageKind::Workload(w) => Some(w.duration),
            _ => None,
        };
        if first_workload {
            self.line("");
            self.line(&format!("⏳ Starting in {}s...", lead.as_secs_f64()));
        }
        let start_at = Instant::now() + lead;
        self.wait_until(start_at).await;
        let tag = StageTag::new(i, &st.name);
        if let Some(duration) = workload {
            if first_workload {
                self.line("✅ Starting workload now!");
            }
            let shown = duration.filter(|d| *d != Duration::MAX);
            self.live.on_phase_start(&PhaseStart { stage: &tag, kind: "workload", duration: shown, detail: "" });
        }
        let ended = self.barrier(i, barrier::Wait::End).await;
        let merged = exec::merge_stages(&self.agent_stage_reports(i, true));
        if let Some(m) = merged.first() {
            if workload.is_some() {
                if let Some(r) = &m.result {
                    self.live.on_phase_end(&tag, r);
                }
            }
            let mut m = m.clone();
            if let Some(own) = &self.own[i] {
                m.command = own.command.clone();
                if own.outcome != exec::StageOutcome::Completed {
                    m.outcome = own.outcome.clone();
                }
            }
            self.live.on_stage_end(&m, &plan);
        }
        if ended.is_ok() {
            self.check_failures(i);
        }
    }

    /// Follow the agents' streams until `t` (stage starts are announced on time).
    async fn wait_until(&mut self, t: Instant) {
        while Instant::now() < t {
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some((i, ev)) => self.absorb(i, ev),
                    None => return,
                },
                _ = tokio::time::sleep_until(t.into()) => return,
                _ = recv_interrupt(&mut self.interrupts) => self.interrupt(),
            }
        }
    }

    /// Each agent's record of stage `i` (of the agents still in the run, or all), plus the
    /// controller's own.
    fn agent_stage_reports(&self, i: usize, active_only: bool) -> Vec<exec::AgentReport> {
        let mut out: Vec<exec::AgentReport> = self
            .members
            .iter()
            .filter(|m| !active_only || m.dropped.is_none())
            .filter_map(|m| {
                let st = m.stages.get(i)?;
                let mut a = exec::AgentReport::empty(&m.id, &m.address);
                a.stages.push(st.clone());
                Some(a)
            })
            .collect();
        if let Some(own) = &self.own[i] {
            let mut a = exec::AgentReport::empty("controller", "local");
            a.stages.push(own.clone());
            out.push(a);
        }
        out
    }

    /// A non-optional stage that failed on an agent (or on the controller) stops the run.
    fn check_failures(&mut self, i: usize) {
        let st = &self.plan.stages[i];
        if st.optional {
            return;
        }
        let mut failed: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.dropped.is_none())
            .filter_map(|m| match &m.stages.get(i)?.outcome {
                exec::StageOutcome::Failed(w) => Some(format!("{}: {w}", m.id)),
                _ => None,
            })
            .collect();
        if let Some(Some(own)) = self.own.get(i) {
            if let exec::StageOutcome::Failed(w) = &own.outcome {
                failed.push(format!("controller: {w}"));
            }
        }
        if !failed.is_empty() {
            self.halt(format!("stage `{}` failed ({})", st.name, failed.join("; ")));
        }
    }

    /// The controller's own part of stage `i`: its share of a prepare (`tree_creation_mode`
    /// coordinator / controller) or a command `on: controller`.
    async fn own_part(&mut self, i: usize) -> Result<(), String> {
        let plan = self.plan.clone();
        let st = &plan.stages[i];
        match &st.kind {
            StageKind::Prepare(_) => self.controller_prepare(i).await,
            StageKind::Command(c) if c.on_controller => {
                let mut rep = StageReport::new(i, st);
                rep.started_at = Some(SystemTime::now());
                let env = exec::CommandEnv {
                    run_id: self.opts.run_id.clone(),
                    stage: st.name.clone(),
                    agent_id: "controller".into(),
                    agent_index: 0,
                    agents: self.members.len(),
                };
                let cancel = tokio_util::sync::CancellationToken::new();
                self.line(&format!("Controller running `{}`...", c.command));
                let (out, r) = exec::run_command(c, &env, st.timeout, &cancel).await;
                rep.ended_at = Some(SystemTime::now());
                rep.command = Some(out);
                if let Err(why) = &r {
                    rep.outcome = exec::StageOutcome::Failed(why.clone());
                    self.line(&format!("⚠ controller: stage `{}`: {why}", st.name));
                }
                self.own[i] = Some(rep);
                match r {
                    Err(why) if !st.optional => Err(format!("stage `{}` on the controller: {why}", st.name)),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Record what agent `i` said.
    fn absorb(&mut self, i: usize, ev: Event) {
        if let Event::Interval(w) = &ev {
            let now_ms = unix_ns(SystemTime::now()) as f64 / 1e6;
            let d = (now_ms - (w.timestamp_epoch_ms as f64 - self.members[i].offset_ns as f64 / 1e6)).max(0.0);
            self.delay = (self.delay.0 + 1, self.delay.1 + d, self.delay.2.max(d));
        }
        let len = self.table.len();
        let m = &mut self.members[i];
        match ev {
            // Decoded once; its figures are added straight into the progress line's row and the
            // agent's open perf-log row (and, with live metrics on, binned for them).
            Event::Interval(w) => match codec::interval_from_wire(&w, &m.map) {
                Ok((r, figures)) => {
                    if let Some(live) = &self.opts.metrics {
                        let mut full = r.clone();
                        full.snap.merge_sparse(&figures);
                        live.add_row(&m.id, &full);
                    }
                    self.live_interval(&r, &figures);
                    self.folder.push_sparse(i, r, &figures)
                }
                Err(e) => m.bad(e.to_string()),
            },
            Event::PhaseEnd(p) => match codec::phase_from_wire(&p, &m.map, len) {
                Ok(r) => m.phase_end(r),
                Err(e) => m.bad(e.to_string()),
            },
            Event::StageReady(r) => m.ready_upto = Some(r.index as usize),
            Event::StageEnd(e) => {
                tracing::info!(event = "stage_end", agent = %m.id, stage = %e.name, index = e.index + 1, outcome = %e.outcome, cause = %e.message, "agent {} ended stage `{}`: {}", m.id, e.name, e.outcome);
                if let Some(line) = m.stage_end(&e, &self.plan, &self.starts) {
                    self.obs.line(&line);
                }
            }
            Event::Final(f) => {
                if !f.failure.is_empty() && m.dropped.is_none() {
                    tracing::warn!(event = "agent_failed", agent = %m.id, cause = %f.failure, "agent {} failed", m.id);
                    self.obs.line(&format!("⚠ {}: {}", m.id, f.failure));
                }
                m.fin = Some(f);
                self.folder.agent_done(i, false);
                self.metrics_fleet();
            }
            Event::Lost(reason) => {
                if m.fin.is_none() && m.lost.is_none() {
                    tracing::warn!(event = "agent_lost", agent = %m.id, cause = %reason, "agent {} lost", m.id);
                    self.obs.line(&format!("❌ {} lost: {reason}", m.id));
                    m.lost = Some(reason);
                    self.folder.agent_done(i, true);
                    self.metrics_fleet();
                }
            }
            Event::Rejected(reason) => {
                if m.lost.is_none() {
                    m.lost = Some(format!("rejected: {reason}"));
                }
            }
            Event::OplogFailed(e) => {
                tracing::warn!(event = "oplog_failed", agent = %m.id, cause = %e, "op-log of agent {} not written: {e}", m.id);
                self.obs.line(&format!("⚠ {}: its op-log could not be written: {e}", m.id));
            }
            Event::Ready(_) | Event::PhaseStart(_) => {}
        }
    }

    /// The live metrics' agents connected and endpoint names.
    fn metrics_fleet(&self) {
        if let Some(m) = &self.opts.metrics {
            m.set_agents(self.members.iter().filter(|m| m.active()).count(), self.members.len());
            m.set_endpoints(self.table.iter().map(|u| crate::core::store::redact_uri(u)).collect());
        }
    }

    /// Feed the progress bar with the fleet's row once every live agent sent its row `index`.
    fn live_interval(&mut self, r: &IntervalRow, figures: &SparseSnapshot) {
        let is_workload =
            self.plan.stages.get(r.stage.index as usize).is_some_and(|s| matches!(s.kind, StageKind::Workload(_)));
        if !is_workload {
            return;
        }
        let live = self.members.iter().filter(|m| m.active()).count().max(1);
        let key = (r.stage.clone(), r.index);
        let e = self.live_rows.pending.entry(key.clone()).or_insert_with(|| (Snapshot::default(), 0, 0.0, 0.0));
        e.0.merge_sparse(figures);
        e.1 += 1;
        e.2 = e.2.max(r.elapsed_s);
        e.3 = e.3.max(r.duration_s);
        if e.1 >= live {
            let Some((snap, _, elapsed_s, duration_s)) = self.live_rows.pending.remove(&key) else { return };
            // Rows older than this one that some agent never sent are dropped from the display.
            self.live_rows.pending.retain(|k, _| k.0 != key.0 || k.1 > key.1);
            let row = IntervalRow {
                index: key.1,
                stage: key.0,
                timestamp_epoch_ms: 0,
                elapsed_s,
                duration_s,
                snap,
                cpu: CpuSample::default(),
                missing_agents: vec![],
                summary: None,
            };
            self.live.on_interval(&row);
        }
    }
}

/// The next Ctrl-C (never, once the channel is gone).
async fn recv_interrupt(rx: &mut Option<mpsc::UnboundedReceiver<()>>) {
    match rx {
        Some(r) => {
            if r.recv().await.is_none() {
                *rx = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
