//! A `command` stage's program: started with the run's identity in its environment, its output
//! read line by line (the last lines kept), killed when the stage times out or the run stops.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio_util::sync::CancellationToken;

use super::outcome::CommandOutcome;
use crate::core::config::CommandStage;

/// Lines of output kept per command.
pub const TAIL_LINES: usize = 20;

/// Who runs the command, as its environment tells it.
#[derive(Debug, Clone)]
pub struct CommandEnv {
    pub run_id: String,
    pub stage: String,
    pub agent_id: String,
    pub agent_index: usize,
    pub agents: usize,
}

type Tail = Arc<Mutex<VecDeque<String>>>;

fn keep(tail: &Tail, line: String) {
    let mut t = tail.lock();
    if t.len() == TAIL_LINES {
        t.pop_front();
    }
    t.push_back(line);
}

async fn read_lines(r: impl AsyncRead + Unpin, tail: Tail) {
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        keep(&tail, l);
    }
}

/// Run the command; `Err` says why the stage failed (exit status, timeout, could not start).
pub async fn run_command(
    c: &CommandStage,
    env: &CommandEnv,
    timeout: Option<Duration>,
    cancel: &CancellationToken,
) -> (CommandOutcome, Result<(), String>) {
    let mut cmd = tokio::process::Command::new(&c.command);
    cmd.args(&c.args)
        .env("SAI3_RUN_ID", &env.run_id)
        .env("SAI3_STAGE", &env.stage)
        .env("SAI3_AGENT_ID", &env.agent_id)
        .env("SAI3_AGENT_INDEX", env.agent_index.to_string())
        .env("SAI3_AGENTS", env.agents.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so that a timeout kills what it started too.
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            let why = format!(
                "cannot start `{}`: {e} — check the program name and that it is installed on this host",
                c.command
            );
            return (CommandOutcome { exit_code: None, tail: vec![] }, Err(why));
        }
    };
    let tail: Tail = Arc::new(Mutex::new(VecDeque::new()));
    let readers: Vec<_> = [
        child.stdout.take().map(|o| tokio::spawn(read_lines(o, tail.clone()))),
        child.stderr.take().map(|e| tokio::spawn(read_lines(e, tail.clone()))),
    ]
    .into_iter()
    .flatten()
    .collect();
    let limit = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let status = tokio::select! {
        s = child.wait() => Ok(s),
        _ = limit => Err(format!("timed out after {}s and was killed", timeout.map(|t| t.as_secs_f64()).unwrap_or(0.0))),
        _ = cancel.cancelled() => Err("stopped with the run and was killed".to_string()),
    };
    if status.is_err() {
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) with a negative pid signals the process group we created above.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
        let _ = child.kill().await;
    }
    for r in readers {
        // The pipes close when the process (and what inherited them) is gone; don't wait forever.
        let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
    }
    let tail: Vec<String> = tail.lock().iter().cloned().collect();
    match status {
        Err(why) => (CommandOutcome { exit_code: None, tail }, Err(format!("`{}` {why}", c.command))),
        Ok(Err(e)) => (CommandOutcome { exit_code: None, tail }, Err(format!("`{}`: {e}", c.command))),
        Ok(Ok(s)) => {
            let code = s.code();
            let outcome = CommandOutcome { exit_code: code, tail };
            match code {
                Some(0) => (outcome, Ok(())),
                Some(n) => (outcome, Err(format!("`{}` exited with status {n}", c.command))),
                None => (outcome, Err(format!("`{}` was killed by a signal", c.command))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> CommandStage {
        CommandStage { command: "sh".into(), args: vec!["-c".into(), script.into()], on_controller: false }
    }

    fn env() -> CommandEnv {
        CommandEnv { run_id: "r1".into(), stage: "snap".into(), agent_id: "agent-1".into(), agent_index: 1, agents: 3 }
    }

    #[tokio::test]
    async fn the_command_sees_the_run_and_its_output_tail_is_kept() {
        let c = sh("for i in $(seq 1 30); do echo line$i; done; echo \"$SAI3_RUN_ID $SAI3_STAGE $SAI3_AGENT_ID $SAI3_AGENT_INDEX $SAI3_AGENTS\"");
        let (out, r) = run_command(&c, &env(), None, &CancellationToken::new()).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(out.exit_code, Some(0));
        assert_eq!(out.tail.len(), TAIL_LINES);
        assert_eq!(out.tail.last().map(String::as_str), Some("r1 snap agent-1 1 3"));
    }

    #[tokio::test]
    async fn non_zero_exit_timeout_and_missing_program_fail_the_stage() {
        let (out, r) = run_command(&sh("echo oops >&2; exit 3"), &env(), None, &CancellationToken::new()).await;
        assert_eq!(out.exit_code, Some(3));
        assert!(r.unwrap_err().contains("status 3"));
        assert_eq!(out.tail, vec!["oops".to_string()]);
        let t0 = std::time::Instant::now();
        let (out, r) =
            run_command(&sh("sleep 30"), &env(), Some(Duration::from_millis(200)), &CancellationToken::new()).await;
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert_eq!(out.exit_code, None);
        assert!(r.unwrap_err().contains("timed out"));
        let missing = CommandStage { command: "/nonexistent/x".into(), args: vec![], on_controller: false };
        let (_, r) = run_command(&missing, &env(), None, &CancellationToken::new()).await;
        assert!(r.unwrap_err().contains("cannot start"));
    }
}
