//! The one stage driver: the local run and every agent execute the plan's stage list through
//! [`drive`]; what differs between them is the [`StageGate`] that says when a stage may be set
//! up and when it starts (at once locally; at the fleet's barrier and common instant on agents).
//! The controller walks the same list (`net::controller`) and answers the agents' gates.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures::future::BoxFuture;

use super::outcome::{AgentReport, StageReport};
use super::run::{RunError, RunOptions, RunRole, Runner};
use crate::core::config::Plan;

/// How a process moves from stage to stage within its fleet.
pub trait StageGate: Send {
    /// Wait until stage `i` may be set up (the fleet has finished the stage before it).
    /// `Err(why)`: do not go on.
    fn setup(&mut self, i: usize) -> BoxFuture<'_, Result<(), String>>;
    /// Stage `i` is set up here: wait until the fleet is, and return its start instant
    /// (`None`: now). `Err(why)`: do not go on.
    fn start(&mut self, i: usize) -> BoxFuture<'_, Result<Option<Instant>, String>>;
    /// Stage `i` ended here (also when its setup failed).
    fn ended(&mut self, report: &StageReport);
}

/// The gate of a process alone: every stage starts as soon as the one before it has ended.
pub struct Immediate;

impl StageGate for Immediate {
    fn setup(&mut self, _i: usize) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn start(&mut self, _i: usize) -> BoxFuture<'_, Result<Option<Instant>, String>> {
        Box::pin(async { Ok(None) })
    }
    fn ended(&mut self, _report: &StageReport) {}
}

/// Run every stage of the plan, in order, through `gate`. A stage that fails (and is not
/// optional) stops the run: the stages after it are recorded as skipped. Returns the setup
/// error that stopped the run, if one did (e.g. no objects match a GET pattern).
pub async fn drive(runner: &mut Runner, gate: &mut dyn StageGate) -> Option<RunError> {
    let n = runner.plan.stages.len();
    let mut setup_error = None;
    for i in 0..n {
        if runner.cancelled() {
            runner.skip_from(i, "the run was stopped");
            break;
        }
        if let Some(why) = runner.stopped().map(str::to_string) {
            runner.skip_from(i, &format!("not run: {why}"));
            break;
        }
        if let Err(why) = gate.setup(i).await {
            runner.halt(why.clone());
            runner.skip_from(i, &why);
            break;
        }
        let report = match runner.setup_stage(i).await {
            Err(e) => {
                let r = runner.stage_failed(i, e.to_string());
                if r.stops_run() {
                    setup_error = Some(e);
                }
                r
            }
            Ok(()) => match gate.start(i).await {
                Ok(at) => runner.run_stage(i, at).await,
                Err(why) => {
                    runner.halt(why.clone());
                    runner.skip_from(i, &why);
                    break;
                }
            },
        };
        gate.ended(&report);
    }
    setup_error
}

/// A whole run of one process alone: open the stores, preflight, every stage. The start time is
/// taken before the stores open.
pub async fn run_alone(
    plan: Arc<Plan>,
    role: RunRole,
    opts: RunOptions,
) -> Result<(AgentReport, SystemTime), RunError> {
    let started = SystemTime::now();
    let mut runner = Runner::new(plan, role, opts).await?;
    runner.preflight().await?;
    if let Some(e) = drive(&mut runner, &mut Immediate).await {
        return Err(e);
    }
    Ok((runner.into_report(), started))
}
