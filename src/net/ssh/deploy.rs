//! Agent deployment over SSH: make sure the host has this very `sai3` (copied over the SSH
//! channel when missing or different), start `sai3 agent` in the background with a per-run
//! token, stop it afterwards and fetch its log.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;

use super::{shell_quote, HostKeyPolicy, KnownHosts, Session, SshError, SshTarget};

/// This binary's identity: version and the start of its SHA-256, so that two builds of the same
/// version are told apart.
pub fn binary_identity(exe: &Path) -> Result<(String, Vec<u8>), String> {
    let bytes = std::fs::read(exe).map_err(|e| format!("reading this sai3 binary {}: {e}", exe.display()))?;
    let d = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let hex: String = d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
    Ok((format!("{}-{hex}", env!("CARGO_PKG_VERSION")), bytes))
}

/// An agent started over SSH.
pub struct RemoteAgent {
    pub session: Session,
    pub pid: u32,
    pub log_path: String,
    token_path: String,
    /// The binary was copied (false: the matching one was already there).
    pub uploaded: bool,
}

/// Where the agent listens: the address's IP, or all interfaces when it names a host.
pub fn listen_for(address: &str) -> String {
    match address.rsplit_once(':') {
        Some((h, p)) if h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok() => format!("{h}:{p}"),
        Some((_, p)) => format!("0.0.0.0:{p}"),
        None => "0.0.0.0:7761".to_string(),
    }
}

/// Connect to `target`, install this binary when needed, start `sai3 agent` on `listen` with
/// `token`; never accepts an unknown or changed host key (run `sai3 ssh-setup` first).
#[allow(clippy::too_many_arguments)]
pub async fn deploy_agent(
    target: &SshTarget,
    key: Arc<PrivateKey>,
    known: &KnownHosts,
    identity: &(String, Vec<u8>),
    listen: &str,
    id: &str,
    token: &str,
    run_id: &str,
) -> Result<RemoteAgent, SshError> {
    let session =
        Session::connect(target, &super::Auth::Key(key), known, HostKeyPolicy::Strict, Duration::from_secs(10)).await?;
    let (ident, bytes) = identity;
    let bin = format!("~/.cache/sai3/bin/sai3-{ident}");
    let check = session
        .exec(&format!("test -x {0} && {0} --version", shell_quote(&bin)), None, Duration::from_secs(30))
        .await?;
    let uploaded = !(check.ok() && check.stdout_text() == format!("sai3 {}", env!("CARGO_PKG_VERSION")));
    if uploaded {
        session.upload(bytes, &bin, 0o755).await?;
        // Other builds copied earlier are removed (after 10 minutes, so that a concurrent
        // deployment of another build is not disturbed); a running agent keeps its file open.
        let _ = session
            .exec(
                &format!(
                    "find ~/.cache/sai3/bin -maxdepth 1 -name 'sai3-*' ! -name {} -mmin +10 -delete 2>/dev/null",
                    shell_quote(&format!("sai3-{ident}"))
                ),
                None,
                Duration::from_secs(30),
            )
            .await;
    }
    let token_path = format!("~/.cache/sai3/run-{run_id}-{id}.token");
    session.upload(format!("{token}\n").as_bytes(), &token_path, 0o600).await?;
    let log_path = format!("~/.cache/sai3/agent-{run_id}-{id}.log");
    let cmd = format!(
        "{} agent --listen {} --id {} --token-file {}",
        shell_quote(&bin),
        shell_quote(listen),
        shell_quote(id),
        shell_quote(&token_path)
    );
    let pid = session.start_background(&cmd, &log_path).await?;
    Ok(RemoteAgent { session, pid, log_path, token_path, uploaded })
}

impl RemoteAgent {
    /// Stop the agent (TERM, then KILL) and remove its token file; true once it is gone.
    pub async fn stop(&self) -> Result<bool, SshError> {
        let gone = self.session.stop(self.pid, Duration::from_secs(5)).await?;
        let _ =
            self.session.exec(&format!("rm -f {}", shell_quote(&self.token_path)), None, Duration::from_secs(10)).await;
        Ok(gone)
    }

    pub async fn fetch_log(&self) -> Result<Vec<u8>, SshError> {
        self.session.fetch(&self.log_path).await
    }
}
