//! The controller's side of the wire: connect to agents (plaintext or TLS, with the shared token),
//! ping them, measure their clocks, and run one `Run` stream per agent whose messages arrive on
//! one channel as [`Event`]s tagged with the agent's index.

use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Request;

use super::agent_service::unix_ns;
use super::auth;
use super::pb::{self, agent_client::AgentClient, agent_msg::Msg};
use crate::core::config::{AgentsFrom, Plan};
use crate::core::store::chain_text;

/// How long an agent may stay silent (it sends a heartbeat every second) before it is lost.
pub const SILENCE: Duration = Duration::from_secs(5);

/// What the controller takes in per second at most, in interval messages: 64 agents' worth at
/// 100 ms intervals. Larger fleets send their intervals in bursts instead (see [`send_every`]).
pub const MAX_INTERVALS_PER_SEC: f64 = 640.0;

/// Intervals per burst for `agents` agents streaming `tick` intervals: 1 up to 64 agents at
/// 100 ms, then as many as keep the fleet under [`MAX_INTERVALS_PER_SEC`] messages a second —
/// never a burst longer than a second. The intervals themselves stay `tick` long.
pub fn send_every(agents: usize, tick: Duration) -> u32 {
    let tick_ms = tick.as_millis().max(1) as f64;
    let per_sec = agents as f64 * 1000.0 / tick_ms;
    let want = (per_sec / MAX_INTERVALS_PER_SEC).ceil().max(1.0);
    let cap = (1000.0 / tick_ms).floor().max(1.0);
    want.min(cap) as u32
}

/// TLS material for the controller's connections.
#[derive(Clone, Default)]
pub struct ClientTls {
    pub ca: Option<Vec<u8>>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// How to reach agents.
#[derive(Clone, Default)]
pub struct Dialer {
    pub tls: Option<ClientTls>,
    pub token: Option<String>,
    pub connect_timeout: Option<Duration>,
}

/// One connected agent.
#[derive(Clone)]
pub struct AgentConn {
    pub address: String,
    pub client: AgentClient<Channel>,
    token: Option<String>,
}

fn status_text(s: &tonic::Status) -> String {
    let m = s.message();
    match s.code() {
        tonic::Code::Unavailable if m.contains("busy") => m.to_string(),
        tonic::Code::Unavailable => {
            format!("unreachable ({m}) — is `sai3 agent` running and listening on that address?")
        }
        tonic::Code::Unauthenticated => format!("refused: {m}"),
        tonic::Code::DeadlineExceeded => "no answer in time".to_string(),
        _ => format!("{:?}: {m}", s.code()),
    }
}

impl Dialer {
    /// How to reach the plan's agents: its token (file or SAI3_AGENT_TOKEN) and TLS material.
    /// Errors name the key to fix.
    pub fn for_plan(plan: &Plan) -> Result<Dialer, String> {
        let d = plan.distributed.as_ref();
        let token = auth::token(d.and_then(|d| d.token_file.as_deref()))?;
        let tls = match d.and_then(|d| d.tls.as_ref()) {
            None => None,
            Some(t) => {
                let ca =
                    match &t.ca {
                        Some(p) => Some(auth::read_pem("distributed.tls.ca", p)?),
                        None => return Err(
                            "distributed.tls.ca: give the CA certificate (PEM) that signed the agents' certificates"
                                .into(),
                        ),
                    };
                let identity = match (&t.cert, &t.key) {
                    (Some(c), Some(k)) => {
                        Some((auth::read_pem("distributed.tls.cert", c)?, auth::read_pem("distributed.tls.key", k)?))
                    }
                    (None, None) => None,
                    _ => return Err("distributed.tls.cert and distributed.tls.key go together".into()),
                };
                Some(ClientTls { ca, identity })
            }
        };
        Ok(Dialer { tls, token, connect_timeout: Some(Duration::from_secs(5)) })
    }

    /// Open a channel to `address` (`host:port`) and check it answers a ping.
    pub async fn connect(&self, address: &str) -> Result<(AgentConn, pb::PingReply), String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let timeout = self.connect_timeout.unwrap_or(Duration::from_secs(5));
        let mut ep = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(|e| format!("bad address: {e}"))?
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(2))
            .keep_alive_timeout(Duration::from_secs(4))
            .keep_alive_while_idle(true);
        if let Some(t) = &self.tls {
            let mut cfg = ClientTlsConfig::new();
            if let Some(ca) = &t.ca {
                cfg = cfg.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &t.identity {
                cfg = cfg.identity(Identity::from_pem(cert, key));
            }
            ep = ep.tls_config(cfg).map_err(|e| format!("TLS settings: {e}"))?;
        }
        let channel = match tokio::time::timeout(timeout, ep.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                let msg = chain_text(&e);
                return Err(format!("unreachable ({msg}) — is `sai3 agent --listen {address}` running there?"));
            }
            Err(_) => {
                return Err(format!("no connection within {}s — is the host up and the port open?", timeout.as_secs()))
            }
        };
        let conn = AgentConn {
            address: address.to_string(),
            client: AgentClient::new(channel).max_decoding_message_size(256 << 20),
            token: self.token.clone(),
        };
        let reply = conn.ping().await?;
        Ok((conn, reply))
    }
}

impl Dialer {
    /// The agents of `distributed.agents_from`: every address `from.dns` resolves to (waiting up
    /// to `wait` for `from.count` of them), each asked for its id. Returns `id=address` entries in
    /// address order, as `ctl run --agents` takes them; ids are the agents' own (their host name
    /// unless started with `--id`), made unique with `-<n>` when two agents report the same.
    pub async fn discover(&self, from: &AgentsFrom, wait: Duration) -> Result<Vec<String>, String> {
        let deadline = tokio::time::Instant::now() + wait;
        let name = format!("distributed.agents_from `{}`", from.dns);
        let addrs = loop {
            let found = match tokio::net::lookup_host((from.dns.as_str(), from.port)).await {
                Ok(it) => {
                    let mut v: Vec<std::net::SocketAddr> = it.collect();
                    v.sort();
                    v.dedup();
                    Ok(v)
                }
                Err(e) => Err(format!("{name} does not resolve ({e})")),
            };
            let enough = match (&found, from.count) {
                (Ok(v), Some(n)) => v.len() >= n,
                (Ok(v), None) => !v.is_empty(),
                (Err(_), _) => false,
            };
            if enough {
                break found?;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(match (found, from.count) {
                    (Err(e), _) => format!("{e} — is the headless Service there, and are its pods ready?"),
                    (Ok(v), Some(n)) => format!(
                        "{name} has {} of the {n} addresses `count:` asks for after {}s — are all agent pods ready?",
                        v.len(),
                        wait.as_secs()
                    ),
                    (Ok(_), None) => format!("{name} resolves to no address"),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let mut ids = Vec::new();
        for a in &addrs {
            let addr = a.to_string();
            let (_, reply) = self.connect(&addr).await.map_err(|e| format!("{name}: agent {addr}: {e}"))?;
            ids.push(if reply.agent_id.is_empty() { reply.hostname } else { reply.agent_id });
        }
        let mut out = Vec::new();
        for (i, (id, a)) in ids.iter().zip(&addrs).enumerate() {
            let clash = ids.iter().filter(|x| *x == id).count() > 1;
            let id =
                if clash || !crate::core::config::id_ok(id) { format!("{}-{i}", sanitize(id)) } else { id.clone() };
            out.push(format!("{id}={a}"));
        }
        Ok(out)
    }
}

/// `id` with every character a results folder name cannot hold replaced by `-`.
fn sanitize(id: &str) -> String {
    let s: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' }).collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "agent".into()
    } else {
        s
    }
}

impl AgentConn {
    fn req<T>(&self, m: T) -> Request<T> {
        let mut r = auth::attach(&self.token, Request::new(m));
        r.set_timeout(Duration::from_secs(10));
        r
    }

    pub async fn ping(&self) -> Result<pb::PingReply, String> {
        self.client
            .clone()
            .ping(self.req(pb::PingRequest {}))
            .await
            .map(|r| r.into_inner())
            .map_err(|s| status_text(&s))
    }

    /// Clock offset (agent − controller) and round-trip time in ns: the sample with the lowest
    /// round trip out of `samples`.
    pub async fn clock(&self, samples: usize) -> Result<(i64, i64), String> {
        let mut best: Option<(i64, i64)> = None;
        for _ in 0..samples.max(1) {
            let t0 = unix_ns(SystemTime::now());
            let r = self
                .client
                .clone()
                .clock(self.req(pb::ClockRequest {}))
                .await
                .map_err(|s| status_text(&s))?
                .into_inner();
            let t2 = unix_ns(SystemTime::now());
            let rtt = t2 - t0;
            let offset = r.agent_unix_ns - (t0 + rtt / 2);
            if best.is_none_or(|(_, b)| rtt < b) {
                best = Some((offset, rtt));
            }
        }
        best.ok_or_else(|| "no clock sample".to_string())
    }

    /// Open the run stream with `configure` as its first message. Messages from the agent arrive
    /// on `events` tagged with `idx`; the stream ends with `Final` or `Lost`.
    pub async fn start_run(
        &self,
        idx: usize,
        configure: pb::Configure,
        events: mpsc::UnboundedSender<(usize, Event)>,
        oplog: Option<std::path::PathBuf>,
    ) -> Result<mpsc::UnboundedSender<pb::ControlMsg>, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(pb::ControlMsg { ctl: Some(pb::control_msg::Ctl::Configure(configure)) });
        let req = auth::attach(&self.token, Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)));
        let mut stream = self.client.clone().run(req).await.map_err(|s| status_text(&s))?.into_inner();
        tokio::spawn(async move {
            // The agent's op-log, written here as it arrives (off the controller's event loop).
            let mut oplog_file: Option<tokio::fs::File> = None;
            let mut oplog_error: Option<String> = None;
            // Silence is checked once a second against the last arrival (a timer per message
            // would cost the controller a timer-wheel update per message).
            let mut check = tokio::time::interval(Duration::from_secs(1));
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = tokio::time::Instant::now();
            loop {
                let got = tokio::select! {
                    m = stream.message() => m,
                    _ = check.tick() => {
                        if last.elapsed() < SILENCE {
                            continue;
                        }
                        let _ = events.send((idx, Event::Lost(format!("no message for {}s", SILENCE.as_secs()))));
                        break;
                    }
                };
                last = tokio::time::Instant::now();
                match got {
                    Err(s) => {
                        let _ = events.send((idx, Event::Lost(format!("connection lost: {}", s.message()))));
                        break;
                    }
                    Ok(None) => {
                        let _ = events.send((idx, Event::Lost("the agent closed the run stream".into())));
                        break;
                    }
                    Ok(Some(pb::AgentMsg { msg: Some(Msg::OplogChunk(c)) })) => {
                        use tokio::io::AsyncWriteExt;
                        let (Some(path), None) = (&oplog, &oplog_error) else { continue };
                        if oplog_file.is_none() {
                            match tokio::fs::File::create(path).await {
                                Ok(f) => oplog_file = Some(f),
                                Err(e) => oplog_error = Some(format!("{}: {e}", path.display())),
                            }
                        }
                        if let Some(f) = &mut oplog_file {
                            if let Err(e) = f.write_all(&c.data).await {
                                oplog_error = Some(format!("{}: {e}", path.display()));
                            }
                        }
                    }
                    Ok(Some(pb::AgentMsg { msg: Some(m) })) => {
                        let fin = matches!(m, Msg::Final(_) | Msg::Rejected(_));
                        if fin {
                            use tokio::io::AsyncWriteExt;
                            if let Some(f) = &mut oplog_file {
                                if let Err(e) = f.flush().await {
                                    oplog_error.get_or_insert(format!("op-log: {e}"));
                                }
                            }
                        }
                        let ev = match m {
                            Msg::Ready(r) => Event::Ready(r),
                            Msg::Rejected(r) => Event::Rejected(r.reason),
                            Msg::PhaseStart(p) => Event::PhaseStart(p),
                            Msg::Interval(i) => Event::Interval(i),
                            Msg::PhaseEnd(p) => Event::PhaseEnd(p),
                            Msg::StageReady(r) => Event::StageReady(r),
                            Msg::StageEnd(e) => Event::StageEnd(e),
                            Msg::Final(mut f) => {
                                if let Some(e) = oplog_error.take() {
                                    // The records did not reach the disk: count them as dropped.
                                    f.oplog_dropped += std::mem::take(&mut f.oplog_records);
                                    let _ = events.send((idx, Event::OplogFailed(e)));
                                }
                                Event::Final(f)
                            }
                            Msg::Heartbeat(_) | Msg::OplogChunk(_) => continue,
                        };
                        if events.send((idx, ev)).is_err() || fin {
                            break;
                        }
                    }
                    Ok(Some(_)) => {}
                }
            }
        });
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_grow_with_the_fleet_and_never_span_more_than_a_second() {
        let t = Duration::from_millis(100);
        let got: Vec<u32> = [1, 64, 65, 128, 256, 512, 2_000].iter().map(|&n| send_every(n, t)).collect();
        assert_eq!(got, [1, 1, 2, 2, 4, 8, 10]);
        assert_eq!(send_every(256, Duration::from_secs(1)), 1, "1 s intervals: 256 a second is under the bound");
        assert_eq!(send_every(10_000, Duration::from_millis(250)), 4);
        assert_eq!(send_every(0, t), 1);
    }
}

/// What an agent said (or that it was lost).
#[derive(Debug)]
pub enum Event {
    Ready(pb::Ready),
    Rejected(String),
    PhaseStart(pb::PhaseStart),
    Interval(pb::Interval),
    PhaseEnd(pb::PhaseEnd),
    StageReady(pb::StageReady),
    StageEnd(pb::StageEnd),
    Final(pb::Final),
    Lost(String),
    /// The agent's op-log could not be written on the controller.
    OplogFailed(String),
}
