//! The log: one `tracing` subscriber for every subcommand. Lines go to stderr as
//! `2026-12-02T18:40:01.123456Z  INFO sai3::net::agent_service: configured event="configure" run=…`
//! (UTC, structured fields after the message) and are kept in memory, so that `ctl run` can put
//! the controller's log into the results folder (`controller_log.txt`).
//!
//! Levels: `SAI3_LOG` (env-filter syntax, e.g. `debug` or `sai3=trace,h2=debug`) wins; otherwise
//! `-q` shows errors only, no flag shows sai3's warnings on stderr (info for `agent`, whose run
//! events are its output), `-v` info and debug in the kept log, `-vv` trace. Other crates stay at
//! `warn` unless `SAI3_LOG` names them. Nothing secret is ever logged: configs are not, URIs are
//! the redacted ones, tokens and credentials never reach a log call.

use std::io::Write;
use std::sync::Mutex;

use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// What the kept log holds (at most this many bytes; later lines are dropped and counted).
const KEEP_MAX: usize = 16 << 20;

static KEPT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes into [`KEPT`].
#[derive(Clone, Copy)]
struct Keep;

impl Write for Keep {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut k = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        if k.len() + buf.len() <= KEEP_MAX {
            k.extend_from_slice(buf);
        } else {
            DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Keep {
    type Writer = Keep;
    fn make_writer(&'a self) -> Keep {
        Keep
    }
}

/// How loud the log is: from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verbosity {
    /// `-v` count.
    pub verbose: u8,
    pub quiet: bool,
}

fn filter(spec: &str) -> EnvFilter {
    EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("warn"))
}

/// Install the subscriber. `agent`: the agent's run events are its output, so they show without `-v`.
pub fn init(v: Verbosity, agent: bool) {
    let env = std::env::var("SAI3_LOG").ok().filter(|s| !s.trim().is_empty());
    if let Some(spec) = &env {
        if EnvFilter::try_new(spec).is_err() {
            eprintln!(
                "warning: SAI3_LOG=`{spec}` is not a log filter (e.g. `info`, `sai3=debug,h2=warn`); using `warn`"
            );
        }
    }
    let (screen, kept) = match (&env, v.quiet, v.verbose) {
        (Some(s), _, _) => (s.clone(), s.clone()),
        (None, true, _) => ("error".into(), "sai3=info,warn".into()),
        (None, false, 0) if agent => ("sai3=info,warn".into(), "sai3=info,warn".into()),
        (None, false, 0) => ("sai3=warn,warn".into(), "sai3=info,warn".into()),
        (None, false, 1) => ("sai3=info,warn".into(), "sai3=debug,warn".into()),
        (None, false, _) => ("sai3=trace,warn".into(), "sai3=trace,warn".into()),
    };
    let to_screen =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_filter(filter(&screen));
    let to_keep = tracing_subscriber::fmt::layer().with_writer(Keep).with_ansi(false).with_filter(filter(&kept));
    let _ = tracing_subscriber::registry().with(to_screen).with(to_keep).try_init();
}

/// The log lines kept so far (for `controller_log.txt`).
pub fn kept() -> String {
    let k = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = String::from_utf8_lossy(&k).into_owned();
    let dropped = DROPPED.load(std::sync::atomic::Ordering::Relaxed);
    if dropped > 0 {
        s.push_str(&format!("({dropped} more log lines were not kept: the log is capped at 16 MiB)\n"));
    }
    s
}
