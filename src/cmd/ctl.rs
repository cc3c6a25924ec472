//! `sai3 ctl run` / `sai3 ctl ping`: load and validate the config, then run it in-process
//! (no `distributed:` section) or on agents; write the results folder. Glue only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{CmdResult, Failure};
use crate::core::config::{self, Plan};
use crate::core::exec::{self, RunOptions, RunReport, RunRole, Runner, StageInfo};
use crate::report::{self, console::Console, plan_view};

/// Arguments of `ctl run`.
pub struct RunArgs {
    pub config: PathBuf,
    pub dry_run: bool,
    pub agents: Vec<String>,
    pub results_dir: Option<PathBuf>,
    /// Print results.json on stdout at the end; the console goes to stderr.
    pub json: bool,
    /// `--metrics-listen`: serve live metrics there.
    pub metrics_listen: Option<String>,
    /// `--metrics-linger`: how long to wait for the final scrape.
    pub metrics_linger: Duration,
}

/// The console of a run: stdout, or stderr with `--json`.
pub fn console_for(args: &RunArgs) -> Console {
    if args.json {
        Console::on_stderr()
    } else {
        Console::new()
    }
}

/// With `--json`: results.json on stdout, after everything else.
pub fn print_json(args: &RunArgs, report: &RunReport) {
    if args.json {
        print!("{}", report::results_json::serialize(report));
    }
}

/// A short id unique to this run, part of every object name its PUTs create.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:08x}", (nanos as u64 ^ (u64::from(std::process::id()) << 32)) as u32)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Run(format!("cannot start the async runtime: {e}")))
}

pub fn run(args: RunArgs) -> CmdResult {
    let plan = config::load(&args.config).map_err(|e| Failure::Usage(e.to_string()))?;
    run_plan(plan, args)
}

/// Run a loaded plan as `ctl run` does (also `sai3 replay`'s).
pub fn run_plan(mut plan: Plan, mut args: RunArgs) -> CmdResult {
    let from = plan.distributed.as_ref().and_then(|d| d.agents_from.clone());
    if let (Some(from), true, false) = (from, args.agents.is_empty(), args.dry_run) {
        // The agents behind a DNS name become an `--agents` list, which every agent applies too.
        let dialer = crate::net::fleet::Dialer::for_plan(&plan).map_err(Failure::Usage)?;
        let found = runtime()?.block_on(dialer.discover(&from, std::time::Duration::from_secs(60)));
        args.agents = found.map_err(Failure::Usage)?;
        eprintln!("agents from {}: {}", from.dns, args.agents.join(", "));
    }
    if !args.agents.is_empty() {
        config::apply_cli_agents(&mut plan, &args.agents).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    for n in &plan.notices {
        eprintln!("note: {n}");
    }
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    if plan.distributed.is_some() {
        return super::ctl_distributed::run_distributed(plan, &args);
    }
    if args.dry_run {
        print!("{}", plan_view::describe(&plan, None));
        println!("Dry run: nothing was touched.");
        return Ok(());
    }
    runtime()?.block_on(run_local(plan, args))
}

async fn run_local(plan: Plan, args: RunArgs) -> CmdResult {
    let console = console_for(&args);
    let config_name = args.config.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    console.line("=== Local Workload ===");
    console.line(&format!("Config: {config_name}"));
    let plan = Arc::new(plan);
    let metrics = super::metrics::start(args.metrics_listen.as_deref(), "local").await?;
    let observer = match &metrics {
        Some(m) => m.tee(console.observer(&plan), "local"),
        None => console.observer(&plan),
    };
    let mut opts = RunOptions::new(plan.perf_log.interval, observer);
    opts.grace = Duration::from_secs(5);
    let cancel = opts.cancel.clone();
    let started = SystemTime::now();
    let run_id = new_run_id();
    let base = args.results_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let staging = match plan.op_log.enabled {
        true => Some(report::oplog_files::Staging::create(&base, &run_id).map_err(Failure::Usage)?),
        false => None,
    };
    if let Some(s) = &staging {
        opts.oplog = Some(Arc::new(s.start_local(plan.op_log.sample).map_err(Failure::Usage)?));
    }
    let oplog = opts.oplog.clone();
    let mut runner =
        Runner::new(plan.clone(), RunRole::local(&run_id), opts).await.map_err(|e| Failure::Usage(format!("{e}")))?;
    if let Some(m) = &metrics {
        m.live.begin(&run_id, &config_name, &plan, runner.stores.redacted_uris());
    }
    if let Some(line) = report::console::endpoints_line(&runner.stores.table, plan.effective_endpoints(None), 1) {
        console.line(&line);
    }
    runner.preflight().await.map_err(|e| Failure::Usage(format!("{e}")))?;

    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                cancel.cancel();
            }
        });
    }
    let usage_error = exec::drive(&mut runner, &mut exec::Immediate).await.map(|e| e.to_string());
    let ended = SystemTime::now();
    if let Some(m) = &metrics {
        m.end(args.metrics_linger, |l| console.line(l)).await;
    }
    let mut agent = runner.into_report();
    if let Some(log) = &oplog {
        match tokio::task::block_in_place(|| log.finish()) {
            Ok(t) => agent.oplog = Some(t),
            Err(e) => agent.failure = agent.failure.or(Some(e)),
        }
    }
    if interrupted.load(std::sync::atomic::Ordering::SeqCst) && agent.failure.is_none() {
        agent.failure = Some("interrupted (Ctrl-C)".to_string());
    }
    let measured = agent.stages.iter().any(|s| s.result.is_some() || s.command.is_some());
    if !measured {
        // Nothing was measured (e.g. no objects to read): no results folder is left behind.
        if let Some(s) = staging {
            s.discard();
        }
        return match usage_error {
            Some(e) => Err(Failure::Usage(e)),
            None => Err(Failure::Run(agent.failure.unwrap_or_else(|| "nothing ran".into()))),
        };
    }
    let report = RunReport {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        config_name,
        config_text: config::redact_yaml(&plan.config_text),
        started_at: started,
        ended_at: ended,
        endpoints: runner_endpoints(&agent),
        distributed: false,
        stage_info: StageInfo::of_plan(&plan),
        explicit_stages: plan.explicit_stages,
        dropped: Vec::new(),
        warnings: plan.warnings.clone(),
        stats_delay_ms: None,
        stats_send_every: None,
        oplog_files: report::oplog_files::names(&plan.op_log, false, std::slice::from_ref(&agent)),
        degraded: agent.failure.clone().or(usage_error.clone()),
        aggregate: agent.clone(),
        agents: vec![agent],
    };
    console.summary(&report);
    let dir = report::results_dir::create(&base, &plan.config_stem(), SystemTime::now())
        .map_err(|e| Failure::Run(format!("cannot create the results folder in {}: {e}", base.display())))?;
    console.line(&format!("Results saved to: {}", dir.display()));
    report::write_results(
        &dir,
        &report,
        &console.text(),
        None,
        plan.perf_log.enabled.then_some(plan.perf_log.path.as_str()),
    )
    .map_err(|e| Failure::Run(format!("writing results to {}: {e:#}", dir.display())))?;
    if let Some(s) = staging {
        s.finish(&dir, true, &[], false).map_err(Failure::Run)?;
    }
    print_json(&args, &report);
    match (usage_error, &report.degraded) {
        (Some(e), _) => Err(Failure::Run(e)),
        (None, Some(reason)) => Err(Failure::Run(reason.clone())),
        (None, None) => Ok(()),
    }
}

fn runner_endpoints(agent: &crate::core::exec::AgentReport) -> Vec<crate::core::exec::EndpointInfo> {
    agent
        .endpoints
        .iter()
        .enumerate()
        .map(|(idx, uri)| crate::core::exec::EndpointInfo { idx, uri: uri.clone() })
        .collect()
}
