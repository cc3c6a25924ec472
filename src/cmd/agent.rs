//! `sai3 agent`: bind, print where it listens, serve runs until killed. Glue only.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{CmdResult, Failure};
use crate::net::agent_server::{serve, ServeError, ServeOptions};
use crate::net::agent_service::hostname;
use crate::net::auth;

pub struct AgentArgs {
    pub listen: String,
    pub id: Option<String>,
    pub token_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub metrics_listen: Option<String>,
    /// sai3-bench's self-signed TLS flags that were given (refused).
    pub legacy_tls: Vec<&'static str>,
    /// sai3-bench's `--op-log PATH` (refused).
    pub op_log: Option<PathBuf>,
}

/// `0.0.0.0:7761`, `host:port`, `:7761` or a bare host (port 7761).
fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let with_port = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else if !s.contains(':') {
        format!("{s}:7761")
    } else {
        s.to_string()
    };
    use std::net::ToSocketAddrs;
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("--listen {s}: {e} — give host:port, e.g. 0.0.0.0:7761"))?
        .next()
        .ok_or_else(|| format!("--listen {s}: the name resolves to no address"))
}

pub fn run(args: AgentArgs) -> CmdResult {
    if !args.legacy_tls.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: sai3-bench's self-signed TLS is not in sai3 — give a certificate and key (PEM) with --tls-cert C --tls-key K (and --tls-client-ca CA to require client certificates); docs/DISTRIBUTED.md shows how to make them",
            args.legacy_tls.join(", ")
        )));
    }
    if let Some(p) = &args.op_log {
        return Err(Failure::Usage(format!(
            "--op-log {}: in sai3 the op-log is asked for by the run's config (`op_log: {{enabled: true}}`) and written into the controller's results folder — start the agent without it",
            p.display()
        )));
    }
    let addr = listen_addr(&args.listen).map_err(Failure::Usage)?;
    let token = auth::token(args.token_file.as_deref()).map_err(Failure::Usage)?;
    let id = args.id.clone().unwrap_or_else(hostname);
    let has_token = token.is_some();
    let mut opts = ServeOptions {
        listen: addr,
        id: id.clone(),
        token,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        tls_client_ca: args.tls_client_ca,
        metrics: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Run(format!("cannot start the async runtime: {e}")))?;
    let realtime = crate::core::exec::realtime_start();
    let on_bound = move |bound: SocketAddr, tls: bool| {
        if !bound.ip().is_loopback() && !tls && !has_token {
            eprintln!(
                "⚠ WARNING: this agent listens on {bound} with neither TLS nor a token: anyone who can reach this port"
            );
            eprintln!("⚠ can make it read, write and DELETE data with its credentials. Use --token-file (or SAI3_AGENT_TOKEN)");
            eprintln!("⚠ and/or --tls-cert/--tls-key, or listen on 127.0.0.1.");
        }
        let prog = std::env::args_os()
            .next()
            .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("sai3bench-agent"))
            .unwrap_or_else(|| "sai3 agent".to_string());
        println!("{prog} listening ({}) on {bound}", if tls { "TLS" } else { "PLAINTEXT" });
        eprintln!(
            "agent id {id}, version {}{}",
            env!("CARGO_PKG_VERSION"),
            if has_token { ", token required" } else { "" }
        );
        if !realtime {
            eprintln!(
                "note: no real-time start thread (needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO above 0): with many agents per core their start skew is larger (docs/DISTRIBUTED.md \"Start skew\")"
            );
        }
    };
    rt.block_on(async move {
        // Kept alive while the agent serves.
        let metrics = super::metrics::start(args.metrics_listen.as_deref(), &opts.id).await?;
        opts.metrics = metrics.as_ref().map(|m| m.live.clone());
        serve(opts, on_bound).await.map_err(|e| match e {
            ServeError::Usage(m) => Failure::Usage(m),
            ServeError::Run(m) => Failure::Run(m),
        })
    })
}
