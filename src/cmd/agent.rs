//! `sai3 agent`: bind, print where it listens, serve runs until killed. Glue only.

use std::net::SocketAddr;
use std::path::PathBuf;

use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::{CmdResult, Failure};
use crate::net::agent_service::{hostname, AgentService};
use crate::net::{auth, pb};

pub struct AgentArgs {
    pub listen: String,
    pub id: Option<String>,
    pub token_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
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
    let addr = listen_addr(&args.listen).map_err(Failure::Usage)?;
    let token = auth::token(args.token_file.as_deref()).map_err(Failure::Usage)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => {
            let cert = auth::read_pem("--tls-cert", c).map_err(Failure::Usage)?;
            let key = auth::read_pem("--tls-key", k).map_err(Failure::Usage)?;
            let mut cfg = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
            if let Some(ca) = &args.tls_client_ca {
                cfg = cfg.client_ca_root(Certificate::from_pem(
                    auth::read_pem("--tls-client-ca", ca).map_err(Failure::Usage)?,
                ));
            }
            Some(cfg)
        }
        (None, None) => {
            if args.tls_client_ca.is_some() {
                return Err(Failure::Usage("--tls-client-ca needs --tls-cert and --tls-key".into()));
            }
            None
        }
        _ => return Err(Failure::Usage("--tls-cert and --tls-key go together: give both, or neither".into())),
    };
    let id = args.id.clone().unwrap_or_else(hostname);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Run(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Failure::Usage(format!("cannot listen on {addr}: {e} — is another agent already using that port?")))?;
        let bound = listener.local_addr().map_err(|e| Failure::Run(e.to_string()))?;
        let mode = if tls.is_some() { "TLS" } else { "PLAINTEXT" };
        let mut builder = Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(2)))
            .http2_keepalive_timeout(Some(std::time::Duration::from_secs(4)));
        if let Some(cfg) = tls.clone() {
            builder = builder.tls_config(cfg).map_err(|e| Failure::Usage(format!("TLS settings (--tls-cert/--tls-key): {e}")))?;
        }
        if !bound.ip().is_loopback() && tls.is_none() && token.is_none() {
            eprintln!("⚠ WARNING: this agent listens on {bound} with neither TLS nor a token: anyone who can reach this port");
            eprintln!("⚠ can make it read, write and DELETE data with its credentials. Use --token-file (or SAI3_AGENT_TOKEN)");
            eprintln!("⚠ and/or --tls-cert/--tls-key, or listen on 127.0.0.1.");
        }
        let prog = std::env::args_os()
            .next()
            .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("sai3bench-agent"))
            .unwrap_or_else(|| "sai3 agent".to_string());
        println!("{prog} listening ({mode}) on {bound}");
        eprintln!("agent id {id}, version {}{}", env!("CARGO_PKG_VERSION"), if token.is_some() { ", token required" } else { "" });
        let svc = AgentService::new(id);
        let inner = pb::agent_server::AgentServer::new(svc).max_decoding_message_size(256 << 20).max_encoding_message_size(256 << 20);
        let server = tonic::service::interceptor::InterceptedService::new(inner, move |req: tonic::Request<()>| {
            auth::check(&token, &req)?;
            Ok(req)
        });
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        builder
            .add_service(server)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| Failure::Run(format!("agent service: {e}")))
    })
}
