//! Distributed `ctl run`: dry run, the credentials check, then the controller (`net::controller`)
//! with the console as its observer, and the results folder written from its report. Glue only.

use std::path::PathBuf;
use std::sync::Arc;

use super::ctl::{new_run_id, RunArgs};
use super::{CmdResult, Failure};
use crate::core::config::{self, Plan};
use crate::core::exec::RunObserver;
use crate::net::controller::{self, ControllerError, ControllerObserver, ControllerOptions};
use crate::net::fleet::Dialer;
use crate::report::{self, console::Console, plan_view};

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Run(format!("cannot start the async runtime: {e}")))
}

/// The console as the controller's observer.
struct ConsoleFeed {
    console: Console,
    live: Arc<dyn RunObserver>,
}

impl ControllerObserver for ConsoleFeed {
    fn line(&self, text: &str) {
        self.console.line(text);
    }
    fn live(&self) -> Arc<dyn RunObserver> {
        self.live.clone()
    }
}

pub fn run_distributed(plan: Plan, args: &RunArgs) -> CmdResult {
    if args.dry_run {
        print!("{}", plan_view::describe(&plan, None));
        print!("{}", plan_view::fleet(&plan));
        println!("Dry run: no agent was contacted and nothing was touched.");
        return Ok(());
    }
    let dialer = Dialer::for_plan(&plan).map_err(Failure::Usage)?;
    if dialer.tls.is_none() && config::redact_yaml(&plan.config_text) != plan.config_text {
        return Err(Failure::Usage(
            "the config holds credentials (a password or secret in a URI) and the agents are reached without TLS; credentials never travel in clear text — set distributed.tls, or remove them from the config and give each agent its credentials in its own environment (AWS_ACCESS_KEY_ID, AZURE_STORAGE_ACCOUNT_KEY, …)".into(),
        ));
    }
    let ssh = plan.distributed.as_ref().and_then(|d| d.ssh.clone()).filter(|s| s.enabled);
    match ssh {
        None => runtime()?.block_on(async move { run_plan(plan, args, dialer).await.0 }),
        Some(ssh) => runtime()?.block_on(super::ctl_ssh::run_with_ssh(plan, args, dialer, ssh)),
    }
}

/// Run `plan` on agents that are already listening; the results folder written, if any.
pub(super) async fn run_plan(plan: Plan, args: &RunArgs, dialer: Dialer) -> (CmdResult, Option<PathBuf>) {
    let console = super::ctl::console_for(args);
    let feed = Arc::new(ConsoleFeed { console: console.clone(), live: console.observer(&plan) });
    let config_name = args.config.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let run_id = new_run_id();
    let mut opts = ControllerOptions::new(&config_name, args.agents.clone(), &run_id);
    if let Some(d) = &plan.distributed {
        opts.ready_timeout = d.ready_timeout;
    }
    let base = args.results_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let staging = match plan.op_log.enabled {
        true => match report::oplog_files::Staging::create(&base, &run_id) {
            Ok(s) => Some(s),
            Err(e) => return (Err(Failure::Usage(e)), None),
        },
        false => None,
    };
    opts.oplog_dir = staging.as_ref().map(|s| s.dir().to_path_buf());
    let op_log = plan.op_log.clone();
    let metrics = match super::metrics::start(args.metrics_listen.as_deref(), "controller").await {
        Ok(m) => m,
        Err(e) => return (Err(e), None),
    };
    opts.metrics = metrics.as_ref().map(|m| m.live.clone());
    let stem = plan.config_stem();
    let perf_log = plan.perf_log.enabled.then(|| plan.perf_log.path.clone());
    let ran = controller::run(plan, opts, dialer, feed).await;
    if let Some(m) = &metrics {
        m.end(args.metrics_linger, |l| console.line(l)).await;
    }
    let mut report = match ran {
        Ok(r) => r,
        Err(e) => {
            if let Some(s) = staging {
                s.discard();
            }
            return match e {
                ControllerError::Usage(e) => (Err(Failure::Usage(e)), None),
                ControllerError::Run(e) => (Err(Failure::Run(e)), None),
            };
        }
    };
    report.oplog_files = report::oplog_files::names(&op_log, true, &report.agents);
    console.summary(&report);
    console.line("");
    console.line(if report.degraded.is_none() {
        "✅ Distributed workload complete!"
    } else {
        "⚠ Distributed workload ended with problems"
    });
    let dir = match report::results_dir::create(&base, &stem, std::time::SystemTime::now()) {
        Ok(d) => d,
        Err(e) => {
            return (Err(Failure::Run(format!("cannot create the results folder in {}: {e}", base.display()))), None)
        }
    };
    console.line(&format!("Results saved to: {}", dir.display()));
    if let Err(e) =
        report::write_results(&dir, &report, &console.text(), Some(&super::logging::kept()), perf_log.as_deref())
    {
        return (Err(Failure::Run(format!("writing results to {}: {e:#}", dir.display()))), Some(dir));
    }
    if let Some(s) = staging {
        let ids: Vec<String> = report.agents.iter().map(|a| a.id.clone()).collect();
        if let Err(e) = s.finish(&dir, false, &ids, op_log.merge) {
            return (Err(Failure::Run(e)), Some(dir));
        }
    }
    super::ctl::print_json(args, &report);
    let result = match &report.degraded {
        Some(d) => Err(Failure::Run(d.clone())),
        None => Ok(()),
    };
    (result, Some(dir))
}
