//! `--metrics-listen` glue: bind the endpoint (`net::metrics_http`), render with
//! `report::openmetrics`, feed it from the run (`core::exec::LiveMetrics`), and at the end of a
//! `ctl run` wait for the scrape that carries the final figures.

use std::sync::Arc;
use std::time::Duration;

use super::Failure;
use crate::core::exec::{LiveFeed, LiveMetrics, RunObserver, Tee};
use crate::net::metrics_http;
use crate::report::openmetrics;

/// A running metrics endpoint.
pub struct Metrics {
    pub live: Arc<LiveMetrics>,
    pub addr: std::net::SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Metrics {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The flag that names the address, in messages.
const FLAG: &str = "--metrics-listen";

/// Bind and serve `addr` (`None`: no endpoint). `role`: `local`, `controller` or the agent id.
pub async fn start(addr: Option<&str>, role: &str) -> Result<Option<Metrics>, Failure> {
    let Some(addr) = addr else { return Ok(None) };
    let listener = metrics_http::bind(FLAG, addr).await.map_err(Failure::Usage)?;
    let bound = listener.local_addr().map_err(|e| Failure::Run(format!("{FLAG} {addr}: {e}")))?;
    let live = LiveMetrics::new(role);
    let l = live.clone();
    let render: metrics_http::Render = Arc::new(move |om| {
        let body = openmetrics::render(&l.scrape(), om);
        (if om { openmetrics::OPENMETRICS_CONTENT_TYPE } else { openmetrics::TEXT_CONTENT_TYPE }, body)
    });
    let server = metrics_http::spawn(listener, render);
    eprintln!("metrics: http://{bound}/metrics");
    tracing::info!(event = "metrics_listen", address = %bound, "serving live metrics on http://{bound}/metrics");
    Ok(Some(Metrics { live, addr: bound, server }))
}

impl Metrics {
    /// `observer` with this run's rows also going to the live metrics as `agent`'s.
    pub fn tee(&self, observer: Arc<dyn RunObserver>, agent: &str) -> Arc<dyn RunObserver> {
        let feed = Arc::new(LiveFeed { live: self.live.clone(), agent: agent.to_string() });
        Arc::new(Tee(vec![observer, feed]))
    }

    /// The run has ended: when the endpoint was scraped during the run, wait (at most `linger`)
    /// for one more scrape so the final figures reach the scraper.
    pub async fn end(&self, linger: Duration, say: impl Fn(&str)) {
        self.live.finish();
        let before = self.live.scrapes();
        if before > 0 && !linger.is_zero() {
            say(&format!("Waiting up to {} s for a last metrics scrape (--metrics-linger)...", linger.as_secs()));
            if !self.live.wait_final_scrape(before, linger).await {
                say("⚠ no metrics scrape came after the end: the scraper holds figures from before it");
            }
        }
    }
}
