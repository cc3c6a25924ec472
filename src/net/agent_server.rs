//! Serving the agent: bind, TLS and token, the gRPC server until Ctrl-C. `cmd/agent.rs` gives the
//! options and prints; the wire stays here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::agent_service::AgentService;
use super::{auth, pb};

/// How the agent serves.
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub id: String,
    pub token: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    /// Where each run's rows also go (`agent --metrics-listen`).
    pub metrics: Option<std::sync::Arc<crate::core::exec::LiveMetrics>>,
}

/// Why the agent cannot serve. `Usage`: fix the options (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Run(String),
}

fn tls_config(o: &ServeOptions) -> Result<Option<ServerTlsConfig>, ServeError> {
    match (&o.tls_cert, &o.tls_key) {
        (Some(c), Some(k)) => {
            let cert = auth::read_pem("--tls-cert", c).map_err(ServeError::Usage)?;
            let key = auth::read_pem("--tls-key", k).map_err(ServeError::Usage)?;
            let mut cfg = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
            if let Some(ca) = &o.tls_client_ca {
                let pem = auth::read_pem("--tls-client-ca", ca).map_err(ServeError::Usage)?;
                cfg = cfg.client_ca_root(Certificate::from_pem(pem));
            }
            Ok(Some(cfg))
        }
        (None, None) if o.tls_client_ca.is_some() => {
            Err(ServeError::Usage("--tls-client-ca needs --tls-cert and --tls-key".into()))
        }
        (None, None) => Ok(None),
        _ => Err(ServeError::Usage("--tls-cert and --tls-key go together: give both, or neither".into())),
    }
}

/// Bind and serve until Ctrl-C. `on_bound(address, tls)` is called once the port is bound (port
/// 0 picks a free one), before the first request can arrive.
pub async fn serve(o: ServeOptions, on_bound: impl FnOnce(SocketAddr, bool)) -> Result<(), ServeError> {
    let tls = tls_config(&o)?;
    let listener = tokio::net::TcpListener::bind(o.listen).await.map_err(|e| {
        ServeError::Usage(format!("cannot listen on {}: {e} — is another agent already using that port?", o.listen))
    })?;
    let bound = listener.local_addr().map_err(|e| ServeError::Run(e.to_string()))?;
    let mut builder = Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(2)))
        .http2_keepalive_timeout(Some(Duration::from_secs(4)));
    if let Some(cfg) = tls.clone() {
        builder = builder
            .tls_config(cfg)
            .map_err(|e| ServeError::Usage(format!("TLS settings (--tls-cert/--tls-key): {e}")))?;
    }
    on_bound(bound, tls.is_some());
    let inner = pb::agent_server::AgentServer::new(AgentService::new(o.id, o.metrics))
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let token = o.token;
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
        .map_err(|e| ServeError::Run(format!("agent service: {e}")))
}
