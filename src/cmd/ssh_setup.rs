//! `sai3 ssh-setup`: make (or reuse) an ed25519 key pair, install its public key on each host
//! (password login, or a key that already works), verify key login; one line per host.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{CmdResult, Failure};
use crate::net::ssh::{self, Auth, HostKeyPolicy, KnownHosts, Session, SshError, SshTarget};

pub struct SshSetupArgs {
    pub hosts: Vec<String>,
    pub key_path: Option<PathBuf>,
    pub port: Option<u16>,
    pub password_file: Option<PathBuf>,
    pub accept_new_host_keys: bool,
    pub test_only: bool,
    pub known_hosts: Option<PathBuf>,
}

const TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(a: SshSetupArgs) -> CmdResult {
    let port = a.port.unwrap_or(22);
    let targets: Vec<SshTarget> =
        a.hosts.iter().map(|h| SshTarget::parse(h, port, None)).collect::<Result<_, _>>().map_err(Failure::Usage)?;
    let key_path = a.key_path.clone().unwrap_or_else(ssh::default_key_path);
    let known = KnownHosts::new(a.known_hosts.clone().unwrap_or_else(KnownHosts::default_path));
    let policy = if a.accept_new_host_keys {
        HostKeyPolicy::AcceptNew
    } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        HostKeyPolicy::Ask
    } else {
        HostKeyPolicy::Strict
    };
    let key = if a.test_only {
        if !key_path.exists() {
            return Err(Failure::Usage(format!(
                "no key at {} — run `sai3 ssh-setup` without --test-only to create and install it",
                key_path.display()
            )));
        }
        ssh::load_key(&key_path).map_err(Failure::Usage)?
    } else {
        let (k, created) = ssh::ensure_key(&key_path).map_err(Failure::Usage)?;
        if created {
            println!("created key pair {} (+ .pub)", key_path.display());
        } else {
            println!("using key {}", key_path.display());
        }
        k
    };
    let key = Arc::new(key);
    let pub_line = ssh::public_line(key.public_key()).map_err(Failure::Usage)?;
    let file_password = match &a.password_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| Failure::Usage(format!("--password-file {}: {e}", p.display())))?
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
        ),
        None => std::env::var("SAI3_SSH_PASSWORD").ok(),
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Failure::Run(e.to_string()))?;
    let mut failed = 0;
    for t in &targets {
        let r = rt.block_on(setup_one(t, &key, &pub_line, &known, policy, a.test_only, file_password.as_deref()));
        match r {
            Ok(()) => println!("ok {t}"),
            Err(e) => {
                failed += 1;
                println!("FAILED {t}: {e}");
            }
        }
    }
    if failed > 0 {
        Err(Failure::Run(format!("{failed} of {} hosts failed", targets.len())))
    } else {
        Ok(())
    }
}

async fn setup_one(
    t: &SshTarget,
    key: &Arc<crate::net::ssh::PrivateKey>,
    pub_line: &str,
    known: &KnownHosts,
    policy: HostKeyPolicy,
    test_only: bool,
    password: Option<&str>,
) -> Result<(), String> {
    // A key that already works: nothing to install.
    match Session::connect(t, &Auth::Key(key.clone()), known, policy, TIMEOUT).await {
        Ok(s) => {
            s.close().await;
            return Ok(());
        }
        Err(SshError::Auth(..)) if !test_only => {}
        Err(SshError::Auth(_, why)) => {
            return Err(format!("key login does not work ({why}) — run `sai3 ssh-setup` without --test-only"))
        }
        Err(e) => return Err(e.to_string()),
    }
    let password = match password {
        Some(p) => p.to_string(),
        None => rpassword::prompt_password(format!("{t} password: "))
            .map_err(|e| format!("no password ({e}) — give --password-file F or SAI3_SSH_PASSWORD"))?,
    };
    let s = Session::connect(t, &Auth::Password(password), known, policy, TIMEOUT).await.map_err(|e| e.to_string())?;
    let q = ssh::shell_quote(pub_line);
    let install = format!(
        "umask 077; mkdir -p ~/.ssh && chmod 700 ~/.ssh && touch ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys && \
         (grep -qxF {q} ~/.ssh/authorized_keys || echo {q} >> ~/.ssh/authorized_keys)"
    );
    let out = s.exec(&install, None, Duration::from_secs(30)).await.map_err(|e| e.to_string())?;
    s.close().await;
    if !out.ok() {
        return Err(format!("installing the key failed: {}", out.stderr_text()));
    }
    let s = Session::connect(t, &Auth::Key(key.clone()), known, HostKeyPolicy::Strict, TIMEOUT)
        .await
        .map_err(|e| format!("the key was installed but key login still fails: {e}"))?;
    s.close().await;
    Ok(())
}
