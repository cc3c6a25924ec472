//! Distributed `ctl run`: connect to every agent, send each its config, wait for
//! all to be ready, prepare, start them at one instant, follow their streams, merge, write the
//! results folder. The wire is in `net::fleet`; merging in `core::exec::merge`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::ctl::{new_run_id, RunArgs};
use super::{CmdResult, Failure};
use crate::core::config::{self, PathSelection, Plan, TreeCreationMode};
use crate::core::exec::{
    self, AgentReport, CpuSample, EndpointInfo, IntervalRow, NullObserver, PhaseResult, RunOptions, RunReport, RunRole,
    Runner, Stage,
};
use crate::core::metrics::Snapshot;
use crate::net::agent_service::unix_ns;
use crate::net::fleet::{AgentConn, ClientTls, Dialer, Event};
use crate::net::{auth, codec, pb};
use crate::report::{self, console::Console, plan_view};

/// Length of the intervals agents stream.
const TICK: Duration = Duration::from_millis(100);
/// How long agents may take to validate the config (open stores, reach the storage).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Run(format!("cannot start the async runtime: {e}")))
}

pub(super) fn dialer(plan: &Plan) -> Result<Dialer, Failure> {
    let d = plan.distributed.as_ref();
    let token = auth::token(d.and_then(|d| d.token_file.as_deref())).map_err(Failure::Usage)?;
    let tls = match d.and_then(|d| d.tls.as_ref()) {
        None => None,
        Some(t) => {
            let ca = match &t.ca {
                Some(p) => Some(auth::read_pem("distributed.tls.ca", p).map_err(Failure::Usage)?),
                None => {
                    return Err(Failure::Usage(
                        "distributed.tls.ca: give the CA certificate (PEM) that signed the agents' certificates".into(),
                    ))
                }
            };
            let identity = match (&t.cert, &t.key) {
                (Some(c), Some(k)) => Some((
                    auth::read_pem("distributed.tls.cert", c).map_err(Failure::Usage)?,
                    auth::read_pem("distributed.tls.key", k).map_err(Failure::Usage)?,
                )),
                (None, None) => None,
                _ => return Err(Failure::Usage("distributed.tls.cert and distributed.tls.key go together".into())),
            };
            Some(ClientTls { ca, identity })
        }
    };
    Ok(Dialer { tls, token, connect_timeout: Some(Duration::from_secs(5)) })
}

/// Share of the prepare work per agent, for the dry run.
fn prepare_share(plan: &Plan, i: usize) -> String {
    let total: u64 = plan.prepare.ensure_objects.iter().map(|e| e.count).sum::<u64>()
        + plan.prepare.tree.as_ref().map(|t| u64::from(t.width).pow(t.depth) * u64::from(t.files_per_dir)).unwrap_or(0);
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
        format!("all {total} objects, under <target>/{}/", plan.agent(i).map(|a| a.id.as_str()).unwrap_or(""))
    }
}

fn describe_fleet(plan: &Plan) -> String {
    let mut s = String::new();
    let d = plan.distributed.as_ref();
    s.push_str("=== Agent List ===\n");
    s.push_str(&format!("Agents: {}\n", plan.agent_count()));
    if let Some(d) = d {
        s.push_str(&format!(
            "Storage: {}; tree_creation_mode {}; path_selection {}; start_delay {}s\n",
            if d.shared_filesystem {
                "shared (all agents access the same data)"
            } else {
                "per agent (each agent works under <target>/<agent id>/)"
            },
            d.tree_creation_mode.name(),
            if d.path_selection == PathSelection::Distributed { "distributed" } else { "random" },
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

pub fn run_distributed(plan: Plan, args: &RunArgs) -> CmdResult {
    if args.dry_run {
        print!("{}", plan_view::describe(&plan, None));
        print!("{}", describe_fleet(&plan));
        println!("Dry run: no agent was contacted and nothing was touched.");
        return Ok(());
    }
    let dialer = dialer(&plan)?;
    if dialer.tls.is_none() && config::redact_yaml(&plan.config_text) != plan.config_text {
        return Err(Failure::Usage(
            "the config holds credentials (a password or secret in a URI) and the agents are reached without TLS; credentials never travel in clear text — set distributed.tls, or remove them from the config and give each agent its credentials in its own environment (AWS_ACCESS_KEY_ID, AZURE_STORAGE_ACCOUNT_KEY, …)".into(),
        ));
    }
    let ssh = plan.distributed.as_ref().and_then(|d| d.ssh.clone()).filter(|s| s.enabled);
    match ssh {
        None => runtime()?.block_on(async move { Controller::new(plan, args, dialer).run().await }),
        Some(ssh) => runtime()?.block_on(super::ctl_ssh::run_with_ssh(plan, args, dialer, ssh)),
    }
}

/// Run `plan` on agents that are already listening; the results folder written, if any.
pub(super) async fn run_plan(plan: Plan, args: &RunArgs, dialer: Dialer) -> (CmdResult, Option<PathBuf>) {
    let mut c = Controller::new(plan, args, dialer);
    let r = c.run().await;
    (r, c.results_dir.take())
}

/// What the controller knows of one agent.
struct Member {
    id: String,
    address: String,
    conn: Option<AgentConn>,
    tx: Option<mpsc::UnboundedSender<pb::ControlMsg>>,
    offset_ns: i64,
    rtt_ns: i64,
    /// Agent endpoint index → run table index.
    map: Vec<usize>,
    ready: Option<pb::Ready>,
    prepared: Option<pb::Prepared>,
    resolved: bool,
    started_ns: Option<i64>,
    phases: BTreeMap<Stage, PhaseResult>,
    fin: Option<pb::Final>,
    lost: Option<String>,
}

impl Member {
    fn done(&self) -> bool {
        self.fin.is_some() || self.lost.is_some()
    }
    fn send(&self, c: pb::control_msg::Ctl) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(pb::ControlMsg { ctl: Some(c) });
        }
    }
}

struct Controller {
    plan: Arc<Plan>,
    config_name: String,
    results_base: PathBuf,
    cli_agents: Vec<String>,
    dialer: Dialer,
    console: Console,
    members: Vec<Member>,
    table: Vec<String>,
    events_tx: mpsc::UnboundedSender<(usize, Event)>,
    events: mpsc::UnboundedReceiver<(usize, Event)>,
    interrupted: bool,
    controller_prepare: Option<PhaseResult>,
    controller_created: u64,
    live: LiveView,
    folder: exec::FleetFolder,
    /// The results folder, once written.
    results_dir: Option<PathBuf>,
    /// Interval arrival delays: count, sum and max in ms.
    delay: (u64, f64, f64),
}

/// Merges the agents' 100 ms rows of the same index for the progress bar.
#[derive(Default)]
struct LiveView {
    pending: BTreeMap<(Stage, u64), (Snapshot, usize, f64, f64)>,
}

impl Controller {
    fn new(plan: Plan, args: &RunArgs, dialer: Dialer) -> Self {
        let members: Vec<Member> = plan
            .distributed
            .as_ref()
            .map(|d| d.agents.iter())
            .into_iter()
            .flatten()
            .map(|a| Member {
                id: a.id.clone(),
                address: a.address.clone(),
                conn: None,
                tx: None,
                offset_ns: 0,
                rtt_ns: 0,
                map: Vec::new(),
                ready: None,
                prepared: None,
                resolved: false,
                started_ns: None,
                phases: BTreeMap::new(),
                fin: None,
                lost: None,
            })
            .collect();
        let (events_tx, events) = mpsc::unbounded_channel();
        let ids: Vec<String> = members.iter().map(|m: &Member| m.id.clone()).collect();
        let folder = exec::FleetFolder::new(&ids, TICK, plan.perf_log.interval);
        Controller {
            config_name: args.config.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            results_base: args.results_dir.clone().unwrap_or_else(|| PathBuf::from(".")),
            cli_agents: args.agents.clone(),
            plan: Arc::new(plan),
            dialer,
            console: Console::new(),
            members,
            table: Vec::new(),
            events_tx,
            events,
            interrupted: false,
            controller_prepare: None,
            controller_created: 0,
            live: LiveView::default(),
            folder,
            results_dir: None,
            delay: (0, 0.0, 0.0),
        }
    }

    fn abort_all(&self, reason: &str) {
        for m in &self.members {
            m.send(pb::control_msg::Ctl::Abort(pb::Abort { reason: reason.to_string() }));
        }
    }

    async fn run(&mut self) -> CmdResult {
        let started_at = SystemTime::now();
        let n = self.members.len();
        let d = self.plan.distributed.clone().expect("distributed plan");
        let c = self.console.clone();
        c.line("=== Distributed Workload ===");
        c.line(&format!("Config: {}", self.config_name));
        c.line(&format!("Agents: {n}"));
        c.line(&format!("Start delay: {}s", d.start_delay.as_secs_f64()));
        c.line(if d.shared_filesystem {
            "Storage mode: shared (all agents access same data)"
        } else {
            "Storage mode: independent (each agent has its own data)"
        });

        // 1. Connect to every agent, in parallel; stop before any I/O if one is missing or busy.
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
                        c.line(&format!(
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
        if !problems.is_empty() {
            return Err(Failure::Usage(format!(
                "cannot start the run; nothing was touched:\n  {}",
                problems.join("\n  ")
            )));
        }
        // 2. Clocks.
        let clocks = futures::future::join_all(self.members.iter().map(|m| {
            let conn = m.conn.clone().expect("connected");
            async move { conn.clock(8).await }
        }))
        .await;
        for (m, r) in self.members.iter_mut().zip(clocks) {
            match r {
                Ok((off, rtt)) => {
                    m.offset_ns = off;
                    m.rtt_ns = rtt;
                }
                Err(e) => problems.push(format!("agent {} ({}): clock sync failed: {e}", m.id, m.address)),
            }
        }
        if !problems.is_empty() {
            return Err(Failure::Usage(format!(
                "cannot start the run; nothing was touched:\n  {}",
                problems.join("\n  ")
            )));
        }

        // 3. Configure: each agent validates against its own storage.
        c.line("");
        c.line(&format!("Starting workload on {n} agents with live stats..."));
        c.line("");
        c.line("⏳ Waiting for agents to validate configuration...");
        let run_id = new_run_id();
        let controller = crate::net::agent_service::hostname();
        for i in 0..n {
            let conf = pb::Configure {
                config_yaml: self.plan.config_text.clone(),
                config_name: self.config_name.clone(),
                agent_index: i as u32,
                agent_id: self.members[i].id.clone(),
                run_id: run_id.clone(),
                tick_ms: TICK.as_millis() as u32,
                controller: controller.clone(),
                cli_agents: self.cli_agents.clone(),
            };
            let conn = self.members[i].conn.clone().expect("connected");
            match conn.start_run(i, conf, self.events_tx.clone()).await {
                Ok(tx) => self.members[i].tx = Some(tx),
                Err(e) => problems.push(format!("agent {} ({}): {e}", self.members[i].id, self.members[i].address)),
            }
        }
        if problems.is_empty() {
            let deadline = Instant::now() + READY_TIMEOUT;
            let mut next_note = Instant::now() + Duration::from_secs(5);
            while self.members.iter().any(|m| m.ready.is_none() && m.lost.is_none()) {
                if Instant::now() >= next_note {
                    let ready = self.members.iter().filter(|m| m.ready.is_some()).count();
                    c.line(&format!(
                        "⏳ {ready}/{n} agents ready, {} remaining ({}s timeout remaining)",
                        n - ready,
                        deadline.saturating_duration_since(Instant::now()).as_secs()
                    ));
                    next_note += Duration::from_secs(5);
                }
                let Some((i, ev)) = self.next_event(deadline.min(next_note)).await else {
                    if Instant::now() < deadline {
                        continue;
                    }
                    for m in self.members.iter().filter(|m| m.ready.is_none()) {
                        problems.push(format!(
                            "agent {} ({}): no answer to the config within {}s — see the agent's log",
                            m.id,
                            m.address,
                            READY_TIMEOUT.as_secs()
                        ));
                    }
                    break;
                };
                match ev {
                    Event::Ready(r) => {
                        c.line(&format!("✅ {} ready", self.members[i].id));
                        self.members[i].ready = Some(r);
                    }
                    Event::Rejected(reason) => {
                        c.line(&format!("❌ {} rejected the config", self.members[i].id));
                        self.members[i].lost = Some(reason.clone());
                        problems.push(format!(
                            "agent {} ({}) rejected the config: {reason}",
                            self.members[i].id, self.members[i].address
                        ));
                    }
                    Event::Lost(reason) => {
                        self.members[i].lost = Some(reason.clone());
                        problems.push(format!("agent {} ({}): {reason}", self.members[i].id, self.members[i].address));
                    }
                    other => self.absorb(i, other),
                }
            }
        }
        if !problems.is_empty() {
            self.abort_all("another agent could not start");
            return Err(Failure::Usage(format!("cannot start the run; no I/O was done:\n  {}", problems.join("\n  "))));
        }
        c.line(&format!("✅ All {n} agents ready - starting workload execution"));
        // The run's endpoint table: agents in order, each agent's endpoints in its order.
        for i in 0..n {
            let eps = self.members[i].ready.as_ref().map(|r| r.endpoints.clone()).unwrap_or_default();
            self.members[i].map = eps.iter().map(|e| self.table_index(e)).collect();
        }
        if let Some(line) = self.endpoints_line() {
            c.line(&line);
        }

        // Ctrl-C: abort every agent and still write what was measured.
        let (int_tx, mut int_rx) = mpsc::unbounded_channel::<()>();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = int_tx.send(());
            }
        });

        // 4. The controller's own share of prepare (tree_creation_mode coordinator/controller).
        if let Err(e) = self.controller_prepare(&run_id).await {
            self.abort_all("the controller's prepare failed");
            return Err(Failure::Run(format!("controller prepare: {e}")));
        }

        // 5. Agents prepare and resolve their workload.
        for m in &self.members {
            m.send(pb::control_msg::Ctl::Prepare(pb::Prepare {}));
        }
        while self.members.iter().any(|m| m.prepared.is_none() && !m.done()) && !self.interrupted {
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some((i, ev)) => self.absorb(i, ev),
                    None => break,
                },
                _ = int_rx.recv() => self.interrupt(),
            }
        }

        // 5b. Then each lists what its workload draws from (seeing every agent's prepared data).
        for m in self.members.iter().filter(|m| m.prepared.is_some() && !m.done()) {
            m.send(pb::control_msg::Ctl::Resolve(pb::Resolve {}));
        }
        while self.members.iter().any(|m| m.prepared.is_some() && !m.resolved && !m.done()) && !self.interrupted {
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some((i, ev)) => self.absorb(i, ev),
                    None => break,
                },
                _ = int_rx.recv() => self.interrupt(),
            }
        }

        // 6. One start instant for all, on each agent's own clock.
        let live: Vec<usize> = (0..n).filter(|&i| self.members[i].resolved && !self.members[i].done()).collect();
        let mut start_ns = 0i64;
        if !self.interrupted && live.len() == n {
            let delay = d.start_delay;
            start_ns = unix_ns(SystemTime::now() + delay);
            for &i in &live {
                let m = &self.members[i];
                m.send(pb::control_msg::Ctl::Start(pb::Start { start_unix_ns: start_ns + m.offset_ns }));
            }
            let has_workload = !self.plan.workload.is_empty() && !self.plan.duration.is_zero();
            if has_workload {
                c.line("");
                c.line(&format!("⏳ Starting in {}s...", delay.as_secs_f64()));
            }
            let observer = c.observer(self.plan.duration);
            let start_at = Instant::now() + delay;
            let mut announced = false;
            while self.members.iter().any(|m| !m.done()) {
                let wake = if announced { Instant::now() + Duration::from_secs(3600) } else { start_at };
                tokio::select! {
                    ev = self.events.recv() => match ev {
                        Some((i, ev)) => {
                            if let Event::Interval(w) = &ev {
                                self.live_interval(i, w, &*observer);
                            }
                            self.absorb(i, ev);
                        }
                        None => break,
                    },
                    _ = tokio::time::sleep_until(wake.into()), if !announced && has_workload => {
                        announced = true;
                        c.line("✅ Starting workload now!");
                        observer.on_phase_start(Stage::Workload, "");
                    }
                    _ = int_rx.recv() => self.interrupt(),
                }
            }
            if announced {
                let merged = self.members.iter().filter_map(|m| m.phases.get(&Stage::Workload)).fold(
                    None::<PhaseResult>,
                    |acc, p| {
                        Some(match acc {
                            None => p.clone(),
                            Some(mut a) => {
                                a.totals.merge(&p.totals);
                                a.wall = a.wall.max(p.wall);
                                a
                            }
                        })
                    },
                );
                if let Some(p) = merged {
                    observer.on_phase_end(Stage::Workload, &p);
                }
            }
        } else {
            let why = if self.interrupted {
                "interrupted (Ctrl-C on the controller)".to_string()
            } else {
                let bad: Vec<String> = self.members.iter().filter(|m| !m.resolved).map(|m| m.id.clone()).collect();
                format!("agent(s) {} could not get ready to start", bad.join(", "))
            };
            self.console.line(&format!("⚠ Not starting the workload: {why}"));
            self.abort_all(&why);
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.members.iter().any(|m| !m.done()) {
                match self.next_event(deadline).await {
                    Some((i, ev)) => self.absorb(i, ev),
                    None => break,
                }
            }
        }
        let completed = self.members.iter().filter(|m| m.fin.as_ref().is_some_and(|f| f.failure.is_empty())).count();
        if completed == n {
            c.line(&format!("✓ All {n} agents completed"));
        } else {
            c.line(&format!("⚠ {completed} of {n} agents completed"));
        }
        let ended_at = SystemTime::now();
        self.finish(started_at, ended_at, start_ns).await
    }

    fn interrupt(&mut self) {
        if !self.interrupted {
            self.interrupted = true;
            self.console.line("⚠ Interrupted: stopping every agent...");
            self.abort_all("interrupted (Ctrl-C on the controller)");
        }
    }

    async fn next_event(&mut self, deadline: Instant) -> Option<(usize, Event)> {
        tokio::time::timeout_at(deadline.into(), self.events.recv()).await.ok().flatten()
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
        for m in &self.members {
            if let Some(r) = &m.ready {
                if !r.strategy.is_empty() && !strategies.contains(&r.strategy) {
                    strategies.push(r.strategy.clone());
                }
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

    fn table_info(&self) -> Vec<EndpointInfo> {
        self.table.iter().enumerate().map(|(idx, uri)| EndpointInfo { idx, uri: uri.clone() }).collect()
    }

    /// Record what agent `i` said.
    fn absorb(&mut self, i: usize, ev: Event) {
        let len = self.table.len();
        let m = &mut self.members[i];
        let bad = |m: &mut Member, e: codec::DecodeError| {
            if m.lost.is_none() {
                m.lost = Some(e.to_string());
            }
        };
        match ev {
            Event::Interval(w) => match {
                let now_ms = unix_ns(SystemTime::now()) as f64 / 1e6;
                let d = (now_ms - (w.timestamp_epoch_ms as f64 - m.offset_ns as f64 / 1e6)).max(0.0);
                self.delay = (self.delay.0 + 1, self.delay.1 + d, self.delay.2.max(d));
                codec::interval_from_wire(&w, &m.map)
            } {
                Ok(r) => self.folder.push(i, r),
                Err(e) => bad(m, e),
            },
            Event::PhaseEnd(p) => match codec::phase_from_wire(&p, &m.map, len) {
                Ok(r) => {
                    m.phases.insert(r.stage, r);
                }
                Err(e) => bad(m, e),
            },
            Event::Prepared(p) => {
                self.console
                    .line(&format!("✓ {} prepared: {} objects present, {} created", m.id, p.existing, p.created));
                m.prepared = Some(p);
            }
            Event::Started(ns) => m.started_ns = Some(ns),
            Event::Resolved => m.resolved = true,
            Event::Final(f) => {
                if !f.failure.is_empty() {
                    self.console.line(&format!("⚠ {}: {}", m.id, f.failure));
                }
                m.fin = Some(f);
                self.folder.agent_done(i, false);
            }
            Event::Lost(reason) => {
                if m.fin.is_none() && m.lost.is_none() {
                    self.console.line(&format!("❌ {} lost: {reason}", m.id));
                    m.lost = Some(reason);
                    self.folder.agent_done(i, true);
                }
            }
            Event::Rejected(reason) => {
                if m.lost.is_none() {
                    m.lost = Some(format!("rejected: {reason}"));
                }
            }
            Event::Ready(_) | Event::PhaseStart(_) => {}
        }
    }

    /// Feed the progress bar with the fleet's row once every live agent sent its row `index`.
    fn live_interval(&mut self, i: usize, w: &pb::Interval, obs: &dyn exec::RunObserver) {
        let Ok(r) = codec::interval_from_wire(w, &self.members[i].map) else { return };
        if r.stage != Stage::Workload {
            return;
        }
        let live = self.members.iter().filter(|m| !m.done()).count().max(1);
        let key = (r.stage, r.index);
        let e = self.live.pending.entry(key).or_insert_with(|| (Snapshot::default(), 0, 0.0, 0.0));
        e.0.merge(&r.snap);
        e.1 += 1;
        e.2 = e.2.max(r.elapsed_s);
        e.3 = e.3.max(r.duration_s);
        if e.1 >= live {
            let (snap, _, elapsed_s, duration_s) = self.live.pending.remove(&key).expect("entry");
            // Rows older than this one that some agent never sent are dropped from the display.
            self.live.pending.retain(|k, _| k.1 > key.1 || k.0 != key.0);
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
            obs.on_interval(&row);
        }
    }

    async fn controller_prepare(&mut self, run_id: &str) -> Result<(), String> {
        let plan = self.plan.clone();
        let Some(d) = &plan.distributed else { return Ok(()) };
        let targets: Vec<Option<usize>> =
            if matches!(d.tree_creation_mode, TreeCreationMode::Controller) && !d.shared_filesystem {
                (0..self.members.len()).map(Some).collect()
            } else {
                vec![None]
            };
        for t in targets {
            let Some(role) = RunRole::controller(&plan, run_id, t) else { continue };
            let what = if role.make_files { "tree and files" } else { "directory tree" };
            self.console.line(&format!(
                "Controller preparing the {what}{}...",
                role.root_suffix.as_ref().map(|s| format!(" under {s}")).unwrap_or_default()
            ));
            let opts = RunOptions::new(self.plan.perf_log.interval, Arc::new(NullObserver));
            let mut runner = Runner::new(plan.clone(), role, opts).await.map_err(|e| e.to_string())?;
            runner.preflight().await.map_err(|e| e.to_string())?;
            let local_table: Vec<String> =
                runner.stores.table.iter().map(|e| crate::core::store::redact_uri(&e.uri)).collect();
            runner.prepare().await.map_err(|e| e.to_string())?;
            let (_, created) = runner.prepare_counts();
            let rep = runner.into_report();
            if let Some(p) = rep.prepare {
                let map: Vec<usize> = local_table.iter().map(|u| self.table_index(u)).collect();
                let moved = codec::phase_from_wire(&codec::phase_to_wire(&p), &map, self.table.len())
                    .map_err(|e| e.to_string())?;
                self.console
                    .line(&format!("✓ controller created {created} objects in {:.2}s", moved.wall.as_secs_f64()));
                self.controller_created += created;
                self.controller_prepare = Some(match self.controller_prepare.take() {
                    None => moved,
                    Some(mut acc) => {
                        acc.totals.merge(&moved.totals);
                        acc.wall += moved.wall;
                        acc
                    }
                });
            }
            if let Some(f) = rep.failure {
                return Err(f);
            }
        }
        Ok(())
    }

    async fn finish(&mut self, started_at: SystemTime, ended_at: SystemTime, start_ns: i64) -> CmdResult {
        let plan = self.plan.clone();
        let table_len = self.table.len();
        let mut agents = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            if !m.done() || m.lost.is_some() {
                self.folder.agent_done(i, m.lost.is_some());
            }
        }
        let fleet_rows = self.folder.finish();
        for (i, m) in self.members.iter_mut().enumerate() {
            let (rows, partial) = self.folder.take_agent(i);
            let ready = m.ready.clone().unwrap_or_default();
            let mut failure = m.lost.clone().map(|l| format!("lost: {l}"));
            if let Some(f) = &m.fin {
                if !f.failure.is_empty() && failure.is_none() {
                    failure = Some(f.failure.clone());
                }
            }
            let cpu = m
                .fin
                .as_ref()
                .map(|f| CpuSample {
                    user_pct: f.cpu_user_pct,
                    system_pct: f.cpu_system_pct,
                    iowait_pct: f.cpu_iowait_pct,
                })
                .unwrap_or_default();
            let mut phases = std::mem::take(&mut m.phases);
            // A lost agent's phase that never ended: its totals are the sum of what it streamed.
            if m.lost.is_some() {
                for stage in [Stage::Prepare, Stage::Workload, Stage::Cleanup] {
                    if phases.contains_key(&stage) {
                        continue;
                    }
                    let Some(totals) = partial.get(&stage).cloned() else { continue };
                    let wall = Duration::from_secs_f64(
                        rows.iter().filter(|r| r.stage == stage).map(|r| r.elapsed_s).fold(0.0, f64::max),
                    );
                    phases.insert(stage, PhaseResult { stage, wall, totals, in_flight_at_end: vec![0; table_len] });
                }
            }
            agents.push(AgentReport {
                id: m.id.clone(),
                address: m.address.clone(),
                concurrency: if ready.concurrency > 0 {
                    ready.concurrency as usize
                } else {
                    plan.effective_concurrency(Some(i))
                },
                endpoints: ready.endpoints.clone(),
                strategy: (!ready.strategy.is_empty()).then(|| ready.strategy.clone()),
                prepare: phases.remove(&Stage::Prepare),
                workload: phases.remove(&Stage::Workload),
                cleanup: phases.remove(&Stage::Cleanup),
                intervals: rows,
                prepare_existing: m.prepared.as_ref().map(|p| p.existing).unwrap_or(0),
                prepare_created: m.prepared.as_ref().map(|p| p.created).unwrap_or(0),
                failure,
                clock_offset_ms: Some(m.offset_ns as f64 / 1e6),
                rtt_ms: Some(m.rtt_ns as f64 / 1e6),
                start_skew_ms: m.started_ns.filter(|_| start_ns > 0).map(|s| (s - m.offset_ns - start_ns) as f64 / 1e6),
                cpu,
            });
        }
        let mut aggregate = exec::aggregate(&agents, fleet_rows);
        if let Some(cp) = self.controller_prepare.take() {
            aggregate.prepare = Some(match aggregate.prepare.take() {
                None => cp,
                Some(mut p) => {
                    p.totals.merge(&cp.totals);
                    p.wall += cp.wall;
                    p
                }
            });
            aggregate.prepare_created += self.controller_created;
        }
        let lost_ids: Vec<String> = self.members.iter().filter(|m| m.lost.is_some()).map(|m| m.id.clone()).collect();
        let failed: Vec<String> =
            agents.iter().filter_map(|a| a.failure.as_ref().map(|f| format!("{}: {f}", a.id))).collect();
        let degraded = if self.interrupted {
            Some("interrupted (Ctrl-C on the controller)".to_string())
        } else if !lost_ids.is_empty() {
            Some(format!("lost agent(s) {}: their missing intervals are marked in perf_log.tsv", lost_ids.join(", ")))
        } else if !failed.is_empty() {
            Some(failed.join("; "))
        } else {
            None
        };
        let report = RunReport {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
            config_name: self.config_name.clone(),
            config_text: config::redact_yaml(&plan.config_text),
            started_at,
            ended_at,
            endpoints: self.table_info(),
            distributed: true,
            warnings: plan.warnings.clone(),
            degraded: degraded.clone(),
            stats_delay_ms: (self.delay.0 > 0).then(|| (self.delay.1 / self.delay.0 as f64, self.delay.2)),
            aggregate,
            agents,
        };
        let c = self.console.clone();
        c.summary(&report);
        if report.aggregate.prepare.is_none() && report.aggregate.workload.is_none() {
            return Err(Failure::Run(degraded.unwrap_or_else(|| "nothing ran".into())));
        }
        c.line("");
        c.line(if degraded.is_none() {
            "✅ Distributed workload complete!"
        } else {
            "⚠ Distributed workload ended with problems"
        });
        let dir =
            report::results_dir::create(&self.results_base, &plan.config_stem(), SystemTime::now()).map_err(|e| {
                Failure::Run(format!("cannot create the results folder in {}: {e}", self.results_base.display()))
            })?;
        c.line(&format!("Results saved to: {}", dir.display()));
        self.results_dir = Some(dir.clone());
        report::write_results(&dir, &report, &c.text(), plan.perf_log.enabled.then_some(plan.perf_log.path.as_str()))
            .map_err(|e| Failure::Run(format!("writing results to {}: {e:#}", dir.display())))?;
        match degraded {
            Some(d) => Err(Failure::Run(d)),
            None => Ok(()),
        }
    }
}
