//! The live metrics endpoint (`--metrics-listen`): HTTP/1.1, `GET /metrics` answered with what
//! `render` returns (OpenMetrics when the scraper asks for it in `Accept`, else Prometheus
//! text). The text itself is made by `report::openmetrics`, which `cmd/` wires in.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

/// `render(openmetrics)` → (content type, body).
pub type Render = Arc<dyn Fn(bool) -> (&'static str, String) + Send + Sync>;

/// Bind the metrics port: `host:port` or `:port` (all interfaces).
pub async fn bind(flag: &str, addr: &str) -> Result<TcpListener, String> {
    let a = if addr.starts_with(':') { format!("0.0.0.0{addr}") } else { addr.to_string() };
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host(&a)
        .await
        .map_err(|e| format!("{flag} {addr}: {e} — give host:port, e.g. 127.0.0.1:9464"))?
        .collect();
    let first = resolved.first().ok_or_else(|| format!("{flag} {addr}: the name resolves to no address"))?;
    TcpListener::bind(first)
        .await
        .map_err(|e| format!("{flag} {addr}: cannot listen on {first}: {e} — is another process using that port?"))
}

fn respond(req: &Request<hyper::body::Incoming>, render: &Render) -> Response<Full<Bytes>> {
    let wants_om = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let (t, b) = render(wants_om);
            (StatusCode::OK, t, b)
        }
        (&Method::GET, "/") => {
            (StatusCode::OK, "text/plain; charset=utf-8", "sai3 live metrics: GET /metrics\n".into())
        }
        (&Method::GET, _) => {
            (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found: the metrics are at /metrics\n".into())
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "only GET is served\n".into()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Serve scrapes on `listener` until the task is dropped or aborted.
pub fn spawn(listener: TcpListener, render: Render) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, say: try again shortly rather than spin.
                    tracing::warn!(event = "metrics_accept", "metrics endpoint: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let render = render.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let r = respond(&req, &render);
                    async move { Ok::<_, Infallible>(r) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await {
                    tracing::debug!(event = "metrics_conn", peer = %peer, "metrics connection from {peer}: {e}");
                }
            });
        }
    })
}
