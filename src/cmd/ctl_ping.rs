//! `sai3 ctl ping`: reachability, version, state, round trip and clock offset of each agent.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::ctl_distributed::runtime;
use super::{CmdResult, Failure};
use crate::net::auth;
use crate::net::fleet::Dialer;

/// `sai3 ctl ping --agents a,b`: one line per agent; exit 1 when any does not answer.
pub fn ping(agents: Vec<String>, token_file: Option<PathBuf>) -> CmdResult {
    let token = auth::token(token_file.as_deref()).map_err(Failure::Usage)?;
    let dialer = Dialer { tls: None, token, connect_timeout: Some(Duration::from_secs(3)) };
    runtime()?.block_on(async move {
        let mut bad = 0;
        for a in &agents {
            let addr = if a.contains(':') { a.clone() } else { format!("{a}:7761") };
            let t0 = Instant::now();
            match dialer.connect(&addr).await {
                Ok((conn, r)) => {
                    let connect_ms = t0.elapsed().as_secs_f64() * 1e3;
                    let state = if r.busy { format!("busy with {}", r.busy_with) } else { "idle".into() };
                    // The connect time includes TCP/TLS set-up and the agent's first request; the
                    // round trip and clock offset are those a run would use (best of 5 samples).
                    let timing = match conn.clock(5).await {
                        Ok((offset, rtt)) => format!(
                            "round trip {:.2} ms, clock offset {:+.2} ms, connect {connect_ms:.1} ms",
                            rtt as f64 / 1e6,
                            offset as f64 / 1e6
                        ),
                        Err(e) => format!("connect {connect_ms:.1} ms, clock query failed: {e}"),
                    };
                    println!(
                        "✅ {addr}: sai3 {} agent {} on {} — {state}; {timing}",
                        r.version, r.agent_id, r.hostname
                    );
                }
                Err(e) => {
                    bad += 1;
                    println!("❌ {addr}: {e}");
                }
            }
        }
        if bad > 0 {
            Err(Failure::Run(format!("{bad} of {} agents did not answer", agents.len())))
        } else {
            Ok(())
        }
    })
}
