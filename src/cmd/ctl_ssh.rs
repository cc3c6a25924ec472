//! `ctl run` with `distributed.ssh.enabled`: start every agent over SSH (copying this binary when
//! the host lacks it) with a fresh per-run token, run, then stop every agent that was started —
//! also after a failure or Ctrl-C — and fetch their logs into `agents/<id>/agent.log`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ctl::RunArgs;
use super::ctl_distributed::run_plan;
use super::{CmdResult, Failure};
use crate::core::config::{Plan, SshPlan};
use crate::net::fleet::Dialer;
use crate::net::ssh::deploy::{binary_identity, deploy_agent, listen_for, RemoteAgent};
use crate::net::ssh::{self, KnownHosts, SshTarget};

fn token() -> Result<String, Failure> {
    let mut b = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| Failure::Run("no system randomness for the run token".into()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

async fn stop_all(started: &[(String, RemoteAgent)], dir: Option<&PathBuf>) {
    for (id, ra) in started {
        if let Some(d) = dir {
            if let Ok(log) = ra.fetch_log().await {
                let sub = d.join("agents").join(id);
                let _ = std::fs::create_dir_all(&sub);
                let _ = std::fs::write(sub.join("agent.log"), log);
            }
        }
        match ra.stop().await {
            Ok(true) => println!("stopped agent {id} on {} (pid {})", ra.session.target, ra.pid),
            Ok(false) => {
                eprintln!("⚠ agent {id} on {} (pid {}) did not stop; kill it by hand", ra.session.target, ra.pid)
            }
            Err(e) => eprintln!("⚠ stopping agent {id}: {e}"),
        }
    }
}

pub async fn run_with_ssh(plan: Plan, args: &RunArgs, mut dialer: Dialer, ssh_plan: SshPlan) -> CmdResult {
    // Ctrl-C from here on must not leave agents behind: note it, act on it between steps.
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
    }
    let key_path = ssh_plan.key_path.clone().unwrap_or_else(ssh::default_key_path);
    let key = Arc::new(ssh::load_key(&key_path).map_err(|e| {
        Failure::Usage(format!(
            "distributed.ssh.key_path: {e} — create and install it with `sai3 ssh-setup --hosts user@host,…`"
        ))
    })?);
    let user = ssh_plan.user.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "root".into());
    let known = KnownHosts::new(KnownHosts::default_path());
    let exe = std::env::current_exe().map_err(|e| Failure::Run(format!("cannot find this sai3 binary: {e}")))?;
    let identity = binary_identity(&exe).map_err(Failure::Run)?;
    let run_token = token()?;
    let run_id = super::ctl::new_run_id();
    let agents = plan.distributed.as_ref().map(|d| d.agents.clone()).unwrap_or_default();

    println!("Starting {} agents over SSH (user {user}, key {})...", agents.len(), key_path.display());
    // Hosts in parallel; the agents of one host one after the other (one copy of the binary).
    let host_of = |a: &crate::core::config::AgentSpec| {
        a.address.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']'])).unwrap_or(&a.address).to_string()
    };
    let mut hosts: Vec<String> = Vec::new();
    for a in &agents {
        if !hosts.contains(&host_of(a)) {
            hosts.push(host_of(a));
        }
    }
    let per_host = futures::future::join_all(hosts.iter().map(|host| {
        let target = SshTarget { user: user.clone(), host: host.clone(), port: ssh_plan.port };
        let mine: Vec<&crate::core::config::AgentSpec> = agents.iter().filter(|a| host_of(a) == *host).collect();
        let (key, known, identity, token, run_id) =
            (key.clone(), known.clone(), &identity, run_token.clone(), run_id.clone());
        async move {
            let mut out = Vec::new();
            for a in mine {
                let r = deploy_agent(
                    &target,
                    key.clone(),
                    &known,
                    identity,
                    &listen_for(&a.address),
                    &a.id,
                    &token,
                    &run_id,
                )
                .await;
                out.push((a.id.clone(), r));
            }
            out
        }
    }))
    .await;
    let deployments: Vec<_> = per_host.into_iter().flatten().collect();
    let mut started: Vec<(String, RemoteAgent)> = Vec::new();
    let mut problems = Vec::new();
    for (id, r) in deployments {
        match r {
            Ok(ra) => {
                println!(
                    "  {id}: started on {} (pid {}{})",
                    ra.session.target,
                    ra.pid,
                    if ra.uploaded { ", binary copied" } else { "" }
                );
                started.push((id, ra));
            }
            Err(e) => problems.push(format!("agent {id}: {e}")),
        }
    }
    if problems.is_empty() && interrupted.load(Ordering::SeqCst) {
        problems.push("interrupted (Ctrl-C) while starting agents".into());
    }
    // Wait until every agent answers (with the run's token).
    dialer.token = Some(run_token);
    if problems.is_empty() {
        let deadline = Instant::now() + Duration::from_secs(15);
        for a in &agents {
            loop {
                match dialer.connect(&a.address).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() >= deadline || interrupted.load(Ordering::SeqCst) => {
                        problems
                            .push(format!("agent {} ({}) started over SSH but does not answer: {e}", a.id, a.address));
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }
    if !problems.is_empty() {
        // Logs of agents that started but did not answer help; keep them next to the error.
        for (id, ra) in &started {
            if let Ok(log) = ra.fetch_log().await {
                let text = String::from_utf8_lossy(&log);
                if !text.trim().is_empty() {
                    eprintln!("--- agent {id} log ---\n{}", text.trim_end());
                }
            }
        }
        stop_all(&started, None).await;
        return Err(Failure::Usage(format!("cannot start the run; no I/O was done:\n  {}", problems.join("\n  "))));
    }
    let (result, dir) = run_plan(plan, args, dialer).await;
    stop_all(&started, dir.as_ref()).await;
    for (_, ra) in started {
        ra.session.close().await;
    }
    result
}
