//! The agent's gRPC service: one run at a time, driven over the `Run` stream by a controller.
//! Whatever happens (success, rejected config, abort, controller gone), the agent is idle again
//! when the stream ends.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::Stream;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::codec;
use super::pb::{self, agent_msg::Msg, control_msg::Ctl};
use crate::core::config;
use futures::future::BoxFuture;

use crate::core::exec::{
    drive, IntervalRow, LiveFeed, LiveMetrics, PhaseResult, PhaseStart, RunObserver, RunOptions, RunRole, Runner,
    StageGate, StageReport, StageTag,
};
use crate::core::oplog::{BlockWriter, OpLog, OpLogOptions, OpLogTotals};

type Tx = mpsc::UnboundedSender<Result<pb::AgentMsg, Status>>;

fn send(tx: &Tx, m: Msg) -> bool {
    tx.send(Ok(pb::AgentMsg { msg: Some(m) })).is_ok()
}

pub fn unix_ns(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// The agent service state: its id and what it is busy with.
pub struct AgentService {
    id: String,
    busy: Arc<Mutex<Option<String>>>,
    metrics: Option<Arc<LiveMetrics>>,
}

impl AgentService {
    pub fn new(id: String, metrics: Option<Arc<LiveMetrics>>) -> Self {
        AgentService { id, busy: Arc::new(Mutex::new(None)), metrics }
    }
}

/// Frees the agent when the run's task ends, however it ends.
struct BusyGuard(Arc<Mutex<Option<String>>>);
impl Drop for BusyGuard {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

#[tonic::async_trait]
impl pb::agent_server::Agent for AgentService {
    async fn ping(&self, _req: Request<pb::PingRequest>) -> Result<Response<pb::PingReply>, Status> {
        let busy = self.busy.lock().clone();
        Ok(Response::new(pb::PingReply {
            version: env!("CARGO_PKG_VERSION").to_string(),
            agent_id: self.id.clone(),
            busy: busy.is_some(),
            busy_with: busy.unwrap_or_default(),
            hostname: hostname(),
        }))
    }

    async fn clock(&self, _req: Request<pb::ClockRequest>) -> Result<Response<pb::ClockReply>, Status> {
        Ok(Response::new(pb::ClockReply { agent_unix_ns: unix_ns(SystemTime::now()) }))
    }

    type RunStream = Pin<Box<dyn Stream<Item = Result<pb::AgentMsg, Status>> + Send + 'static>>;

    async fn run(&self, req: Request<Streaming<pb::ControlMsg>>) -> Result<Response<Self::RunStream>, Status> {
        let peer = req.remote_addr().map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
        let mut inbound = req.into_inner();
        tracing::info!(event = "connect", peer = %peer, "run requested by {peer}");
        {
            let mut b = self.busy.lock();
            if let Some(w) = &*b {
                tracing::warn!(event = "busy", peer = %peer, "refused a run from {peer}: busy with {w}");
                return Err(Status::unavailable(format!(
                    "agent {} is busy with {w}; try again when that run has ended",
                    self.id
                )));
            }
            *b = Some(format!("a run from {peer}"));
        }
        let guard = BusyGuard(self.busy.clone());
        let first = match inbound.message().await {
            Ok(Some(pb::ControlMsg { ctl: Some(Ctl::Configure(c)) })) => c,
            Ok(_) => return Err(Status::invalid_argument("the first message of a run must be Configure")),
            Err(e) => return Err(Status::aborted(format!("controller stream: {e}"))),
        };
        *self.busy.lock() = Some(format!("run {} from {} ({peer})", first.run_id, first.controller));
        let (tx, rx) = mpsc::unbounded_channel();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let run_id = first.run_id.clone();
            tracing::info!(
                event = "configure",
                run = %run_id,
                controller = %first.controller,
                peer = %peer,
                agent = %first.agent_id,
                "run {run_id}: configured by {} ({peer}) as {}",
                first.controller,
                first.agent_id
            );
            let outcome = serve_run(first, inbound, tx, metrics.as_ref()).await;
            if let Some(m) = &metrics {
                m.finish();
            }
            if outcome.starts_with("completed") {
                tracing::info!(event = "end", run = %run_id, "run {run_id}: {outcome}; idle");
            } else {
                tracing::warn!(event = "end", run = %run_id, cause = %outcome, "run {run_id}: {outcome}; idle");
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))))
    }
}

/// Sends the engine's progress to the controller: closed intervals in bursts of `every` (the
/// controller's `send_every`), flushed before anything else the observer sends.
struct StreamObserver {
    tx: Tx,
    every: usize,
    held: Mutex<Vec<pb::Interval>>,
}

impl StreamObserver {
    fn new(tx: Tx, every: u32) -> Self {
        StreamObserver { tx, every: every.max(1) as usize, held: Mutex::new(Vec::new()) }
    }

    /// Send the held intervals back to back (the gRPC stream writes them as one frame).
    fn flush(&self) {
        let held = std::mem::take(&mut *self.held.lock());
        for w in held {
            send(&self.tx, Msg::Interval(w));
        }
    }
}

impl RunObserver for StreamObserver {
    fn on_note(&self, line: &str) {
        tracing::info!(event = "note", "{line}");
    }
    fn on_phase_start(&self, p: &PhaseStart) {
        self.flush();
        send(
            &self.tx,
            Msg::PhaseStart(pb::PhaseStart {
                stage: Some(codec::stage_to_wire(p.stage)),
                detail: p.detail.to_string(),
            }),
        );
    }
    fn on_interval(&self, row: &IntervalRow) {
        let w = codec::interval_to_wire(row);
        if self.every == 1 {
            send(&self.tx, Msg::Interval(w));
            return;
        }
        let full = {
            let mut held = self.held.lock();
            held.push(w);
            held.len() >= self.every
        };
        if full {
            self.flush();
        }
    }
    fn on_phase_end(&self, _stage: &StageTag, result: &PhaseResult) {
        self.flush();
        send(&self.tx, Msg::PhaseEnd(codec::phase_to_wire(result)));
    }
}

/// The agent's side of the fleet's barriers: a stage is set up when the controller says so and
/// starts at the instant it sends.
struct RemoteGate {
    tx: Tx,
    rx: mpsc::UnboundedReceiver<Ctl>,
    cancel: CancellationToken,
    stop: StopReason,
    names: Vec<String>,
}

impl RemoteGate {
    async fn next(&mut self) -> Result<Ctl, String> {
        tokio::select! {
            m = self.rx.recv() => m.ok_or_else(|| self.stop.get().unwrap_or_else(|| "the controller went away".into())),
            _ = self.cancel.cancelled() => Err(self.stop.get().unwrap_or_else(|| "the run was stopped".into())),
        }
    }

    fn check(&self, i: usize, index: u32, name: &str, what: &str) -> Result<(), String> {
        let mine = self.names.get(i).map(String::as_str).unwrap_or("");
        if index as usize != i || name != mine {
            return Err(format!("the controller sent {what} for stage {index} `{name}` while this agent is at stage {i} `{mine}` — do both run the same config and version?"));
        }
        Ok(())
    }
}

impl StageGate for RemoteGate {
    fn setup(&mut self, i: usize) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.next().await? {
                Ctl::StageSetup(s) => self.check(i, s.index, &s.name, "StageSetup"),
                other => Err(format!("expected StageSetup for stage {i}, got {other:?}")),
            }
        })
    }

    fn start(&mut self, i: usize) -> BoxFuture<'_, Result<Option<Instant>, String>> {
        Box::pin(async move {
            let name = self.names.get(i).cloned().unwrap_or_default();
            send(&self.tx, Msg::StageReady(pb::StageReady { index: i as u32, name }));
            match self.next().await? {
                Ctl::StageStart(s) => {
                    self.check(i, s.index, &s.name, "StageStart")?;
                    tracing::info!(event = "stage_start", stage = %s.name, index = i + 1, "stage {} `{}` starts", i + 1, s.name);
                    let now_ns = unix_ns(SystemTime::now());
                    let wait = Duration::from_nanos(s.start_unix_ns.saturating_sub(now_ns).max(0) as u64);
                    if wait > Duration::from_secs(3600) {
                        return Err(format!("start instant is {wait:?} away; refusing (clock offset wrong?)"));
                    }
                    Ok(Some(Instant::now() + wait))
                }
                other => Err(format!("expected StageStart for stage {i}, got {other:?}")),
            }
        })
    }

    fn ended(&mut self, report: &StageReport) {
        tracing::info!(
            event = "stage_end",
            stage = %report.name,
            index = report.index + 1,
            outcome = report.outcome.name(),
            cause = report.outcome.message().unwrap_or_default(),
            "stage {} `{}` {}{}",
            report.index + 1,
            report.name,
            report.outcome.name(),
            report.outcome.message().map(|m| format!(": {m}")).unwrap_or_default()
        );
        send(&self.tx, Msg::StageEnd(codec::stage_end_to_wire(report)));
    }
}

/// Why the run was stopped from outside (abort, controller gone).
#[derive(Clone, Default)]
struct StopReason(Arc<Mutex<Option<String>>>);
impl StopReason {
    fn set(&self, r: String) {
        let mut g = self.0.lock();
        if g.is_none() {
            *g = Some(r);
        }
    }
    fn get(&self) -> Option<String> {
        self.0.lock().clone()
    }
}

fn rejected(tx: &Tx, reason: String) -> String {
    tracing::warn!(event = "rejected", cause = %reason, "rejected the config: {reason}");
    send(tx, Msg::Rejected(pb::Rejected { reason: reason.clone() }));
    format!("rejected the config: {reason}")
}

async fn serve_run(
    c: pb::Configure,
    mut inbound: Streaming<pb::ControlMsg>,
    tx: Tx,
    metrics: Option<&Arc<LiveMetrics>>,
) -> String {
    // 1. Validate: parse the same YAML the controller parsed, open the stores, preflight them.
    let name = if c.config_name.is_empty() { "config.yaml".to_string() } else { c.config_name.clone() };
    let mut plan = match config::parse(&c.config_yaml, Some(Path::new(&name))) {
        Ok(p) => p,
        Err(e) => return rejected(&tx, e.to_string()),
    };
    if !c.cli_agents.is_empty() {
        if let Err(e) = config::apply_cli_agents(&mut plan, &c.cli_agents) {
            return rejected(&tx, e.to_string());
        }
    }
    let index = c.agent_index as usize;
    if index >= plan.agent_count() || plan.distributed.is_none() {
        return rejected(&tx, format!("agent index {index} is outside the config's {} agents", plan.agent_count()));
    }
    let plan = Arc::new(plan);
    let role = RunRole::agent(&plan, index, &c.run_id);
    let cancel = CancellationToken::new();
    let streamer = Arc::new(StreamObserver::new(tx.clone(), c.send_every));
    let stream: Arc<dyn RunObserver> = streamer.clone();
    let observer: Arc<dyn RunObserver> = match metrics {
        Some(m) => {
            let feed = Arc::new(LiveFeed { live: m.clone(), agent: c.agent_id.clone() });
            Arc::new(crate::core::exec::Tee(vec![stream, feed]))
        }
        None => stream,
    };
    let mut opts = RunOptions::new(Duration::from_millis(u64::from(c.tick_ms.max(10))), observer);
    opts.cancel = cancel.clone();
    // Every row is streamed; the controller keeps the time series.
    opts.keep_intervals = false;
    if plan.op_log.enabled {
        // The op-log travels in the run stream, ahead of Final.
        let chunks = tx.clone();
        let out = BlockWriter::new(Box::new(move |data| {
            if send(&chunks, Msg::OplogChunk(pb::OplogChunk { data })) {
                Ok(())
            } else {
                Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the controller's stream ended"))
            }
        }));
        let mut o = OpLogOptions::new(&c.agent_id, plan.op_log.sample);
        o.clock_offset_ns = c.clock_offset_ns;
        match OpLog::start(Box::new(out), o) {
            Ok(log) => opts.oplog = Some(Arc::new(log)),
            Err(e) => return rejected(&tx, format!("cannot start the op-log: {e}")),
        }
    }
    let oplog = opts.oplog.clone();
    let mut runner = match Runner::new(plan.clone(), role, opts).await {
        Ok(r) => r,
        Err(e) => return rejected(&tx, e.to_string()),
    };
    if let Err(e) = runner.preflight().await {
        return rejected(&tx, e.to_string());
    }
    if let Some(m) = metrics {
        m.begin(&c.run_id, &name, &plan, runner.stores.redacted_uris());
    }
    let ep = plan.effective_endpoints(Some(index));
    send(
        &tx,
        Msg::Ready(pb::Ready {
            concurrency: plan.effective_concurrency(Some(index)) as u32,
            endpoints: runner.stores.redacted_uris(),
            strategy: ep.map(|e| e.strategy.name().to_string()).unwrap_or_default(),
            hostname: hostname(),
        }),
    );

    // 2. Listen to the controller: stage messages go to the run, Abort or a broken stream stop it.
    let stop = StopReason::default();
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel::<Ctl>();
    // Cancelled once the run has ended: the controller closing its stream then is the normal end.
    let finished = CancellationToken::new();
    {
        let cancel = cancel.clone();
        let stop = stop.clone();
        let finished = finished.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    m = inbound.message() => m,
                    _ = finished.cancelled() => break,
                };
                match msg {
                    Ok(Some(pb::ControlMsg { ctl: Some(Ctl::Abort(a)) })) => {
                        tracing::warn!(event = "abort", cause = %a.reason, "aborted by the controller: {}", a.reason);
                        stop.set(format!("aborted by the controller: {}", a.reason));
                        cancel.cancel();
                        break;
                    }
                    Ok(Some(pb::ControlMsg { ctl: Some(m) })) => {
                        let _ = ctl_tx.send(m);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        tracing::warn!(event = "controller_lost", "the controller's stream ended");
                        stop.set("the controller went away".into());
                        cancel.cancel();
                        break;
                    }
                }
            }
        });
    }
    // Heartbeat: lets the controller tell a silent agent from a busy one; a failed send means the
    // controller is gone.
    {
        let tx = tx.clone();
        let cancel = cancel.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = t.tick() => {
                        if !send(&tx, Msg::Heartbeat(pb::Heartbeat {})) {
                            stop.set("the controller went away".into());
                            cancel.cancel();
                            break;
                        }
                    }
                    _ = cancel.cancelled() => break,
                    _ = tx.closed() => { stop.set("the controller went away".into()); cancel.cancel(); break; }
                }
            }
        });
    }

    // 3. Every stage, at the fleet's pace.
    let names = plan.stages.iter().map(|s| s.name.clone()).collect();
    let mut gate = RemoteGate { tx: tx.clone(), rx: ctl_rx, cancel: cancel.clone(), stop: stop.clone(), names };
    let setup_error = drive(&mut runner, &mut gate).await;
    let reason = stop.get().or(setup_error.map(|e| e.to_string()));
    finished.cancel();
    // Whatever an interrupted phase left held goes before Final.
    streamer.flush();
    let oplog = match oplog {
        Some(log) => {
            Some(tokio::task::spawn_blocking(move || log.finish()).await.unwrap_or_else(|e| Err(e.to_string())))
        }
        None => None,
    };
    finish(&tx, runner, reason, oplog)
}

fn finish(tx: &Tx, runner: Runner, failure: Option<String>, oplog: Option<Result<OpLogTotals, String>>) -> String {
    let report = runner.into_report();
    let mut failure = failure.or(report.failure.clone());
    let totals = match oplog {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            failure.get_or_insert(e);
            None
        }
        None => None,
    };
    send(
        tx,
        Msg::Final(pb::Final {
            failure: failure.clone().unwrap_or_default(),
            cpu_user_pct: report.cpu.user_pct,
            cpu_system_pct: report.cpu.system_pct,
            cpu_iowait_pct: report.cpu.iowait_pct,
            has_oplog: totals.is_some(),
            oplog_records: totals.map_or(0, |t| t.records),
            oplog_dropped: totals.map_or(0, |t| t.dropped),
            oplog_sampled_out: totals.map_or(0, |t| t.sampled_out),
        }),
    );
    match failure {
        Some(f) => format!("ended: {f}"),
        None => "completed".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exec::CpuSample;
    use crate::core::metrics::Snapshot;

    fn row(index: u64) -> IntervalRow {
        IntervalRow {
            index,
            stage: StageTag::new(1, "mix"),
            timestamp_epoch_ms: 1_000 + 100 * index,
            elapsed_s: 0.1 * (index + 1) as f64,
            duration_s: 0.1,
            snap: Snapshot::default(),
            cpu: CpuSample::default(),
            missing_agents: vec![],
            summary: None,
        }
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Result<pb::AgentMsg, Status>>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Ok(m)) = rx.try_recv() {
            out.push(match m.msg {
                Some(Msg::Interval(i)) => format!("i{}", i.index),
                Some(Msg::PhaseEnd(_)) => "end".into(),
                other => format!("{other:?}"),
            });
        }
        out
    }

    #[test]
    fn intervals_go_in_bursts_and_a_phase_end_flushes_what_is_held() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let obs = StreamObserver::new(tx, 3);
        obs.on_interval(&row(0));
        obs.on_interval(&row(1));
        assert!(drain(&mut rx).is_empty(), "held until the burst is full");
        obs.on_interval(&row(2));
        assert_eq!(drain(&mut rx), ["i0", "i1", "i2"]);
        obs.on_interval(&row(3));
        let result = PhaseResult {
            stage: StageTag::new(1, "mix"),
            wall: Duration::from_millis(400),
            totals: Snapshot::default(),
            in_flight_at_end: vec![],
        };
        obs.on_phase_end(&result.stage, &result);
        assert_eq!(drain(&mut rx), ["i3", "end"], "the last interval goes before the phase's end");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let one = StreamObserver::new(tx, 0);
        one.on_interval(&row(0));
        assert_eq!(drain(&mut rx), ["i0"], "0 (an older controller): each as it closes");
    }
}
