//! SSH with russh: connect with host-key checking against known_hosts, authenticate by password
//! or key, run commands, upload files over the channel, start and stop background processes.
//! The building blocks of `sai3 ssh-setup` and of the controller's agent deployment.

pub mod deploy;
mod known_hosts;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};

/// An SSH private key (ed25519 or RSA), as loaded by [`load_key`].
pub use russh::keys::PrivateKey;
use russh::ChannelMsg;

pub use known_hosts::{home, host_pattern, set_mode, HostKeyStatus, KnownHosts};

/// `user@host:port`.
#[derive(Debug, Clone, PartialEq)]
pub struct SshTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl SshTarget {
    /// `user@host[:port]`; `default_user` when there is no `user@`.
    pub fn parse(s: &str, default_port: u16, default_user: Option<&str>) -> Result<SshTarget, String> {
        let s = s.trim();
        let (user, rest) = match s.split_once('@') {
            Some((u, r)) if !u.is_empty() => (u.to_string(), r),
            Some(_) => return Err(format!("`{s}`: empty user name — write user@host[:port]")),
            None => match default_user {
                Some(u) => (u.to_string(), s),
                None => return Err(format!("`{s}`: no user — write user@host[:port]")),
            },
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => (
                h.trim_matches(['[', ']']).to_string(),
                p.parse::<u16>().map_err(|_| format!("`{s}`: `{p}` is not a port number"))?,
            ),
            _ => (rest.to_string(), default_port),
        };
        if host.is_empty() {
            return Err(format!("`{s}`: no host — write user@host[:port]"));
        }
        Ok(SshTarget { user, host, port })
    }
}

impl std::fmt::Display for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

/// What to do with a host key that known_hosts does not have. A changed key is always refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HostKeyPolicy {
    /// Refuse unknown hosts.
    Strict,
    /// Record unknown hosts (OpenSSH's `accept-new`).
    AcceptNew,
    /// Ask on the terminal; refuse when there is none.
    Ask,
}

/// How to log in.
#[derive(Clone)]
pub enum Auth {
    Password(String),
    Key(Arc<PrivateKey>),
}

/// Why an SSH step failed; the message names the host and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{0}: cannot connect: {1}")]
    Connect(String, String),
    #[error("{target}: the host key is not in {file} — accept it with `sai3 ssh-setup --accept-new-host-keys` (or answer yes when asked), after checking its fingerprint {fingerprint}")]
    UnknownHostKey { target: String, file: String, fingerprint: String },
    #[error("{target}: HOST KEY CHANGED — the server's key ({fingerprint}) differs from the one recorded in {file} line {line}; this may be an attack. If the server was really reinstalled, remove that line and run `sai3 ssh-setup` again")]
    ChangedHostKey { target: String, file: String, line: usize, fingerprint: String },
    #[error("{0}: authentication failed ({1})")]
    Auth(String, String),
    #[error("{0}: {1}")]
    Other(String, String),
}

/// The result of the host-key check, kept for the error message.
#[derive(Default)]
struct KeyCheck {
    outcome: Option<SshError>,
}

struct Handler {
    target: SshTarget,
    known: KnownHosts,
    policy: HostKeyPolicy,
    check: Arc<Mutex<KeyCheck>>,
}

fn ask_yes_no(question: &str) -> bool {
    use std::io::{BufRead, Write};
    let Ok(tty) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty") else { return false };
    let mut w = &tty;
    let _ = write!(w, "{question} (yes/no) ");
    let _ = w.flush();
    let mut line = String::new();
    let _ = std::io::BufReader::new(&tty).read_line(&mut line);
    line.trim().eq_ignore_ascii_case("yes")
}

impl client::Handler for Handler {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            self.check.lock().outcome =
                Some(SshError::Other(self.target.to_string(), "host certificates are not supported".into()));
            return Ok(false);
        };
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        let file = self.known.path.display().to_string();
        match self.known.check(&self.target.host, self.target.port, key) {
            HostKeyStatus::Known(_) => Ok(true),
            HostKeyStatus::Changed(line) => {
                self.check.lock().outcome =
                    Some(SshError::ChangedHostKey { target: self.target.to_string(), file, line, fingerprint: fp });
                Ok(false)
            }
            HostKeyStatus::Unknown => {
                let accept = match self.policy {
                    HostKeyPolicy::Strict => false,
                    HostKeyPolicy::AcceptNew => true,
                    HostKeyPolicy::Ask => ask_yes_no(&format!(
                        "The authenticity of host {} can't be established.\n{} key fingerprint is {fp}.\nAre you sure you want to continue connecting?",
                        host_pattern(&self.target.host, self.target.port),
                        key.algorithm()
                    )),
                };
                if !accept {
                    self.check.lock().outcome =
                        Some(SshError::UnknownHostKey { target: self.target.to_string(), file, fingerprint: fp });
                    return Ok(false);
                }
                if let Err(e) = self.known.add(&self.target.host, self.target.port, key) {
                    self.check.lock().outcome =
                        Some(SshError::Other(self.target.to_string(), format!("cannot record the host key: {e}")));
                    return Ok(false);
                }
                Ok(true)
            }
        }
    }
}

/// Output of a remote command.
#[derive(Debug, Default)]
pub struct ExecOutput {
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_string()
    }
}

/// An authenticated SSH connection.
pub struct Session {
    pub target: SshTarget,
    handle: client::Handle<Handler>,
}

impl Session {
    /// Connect (within `timeout`), check the host key per `policy`, authenticate.
    pub async fn connect(
        target: &SshTarget,
        auth: &Auth,
        known: &KnownHosts,
        policy: HostKeyPolicy,
        timeout: Duration,
    ) -> Result<Session, SshError> {
        let config = Arc::new(client::Config {
            nodelay: true,
            inactivity_timeout: Some(Duration::from_secs(600)),
            ..Default::default()
        });
        let check = Arc::new(Mutex::new(KeyCheck::default()));
        let handler = Handler { target: target.clone(), known: known.clone(), policy, check: check.clone() };
        let shown = target.to_string();
        let addr = (target.host.clone(), target.port);
        let mut handle = match tokio::time::timeout(timeout, client::connect(config, addr, handler)).await {
            Err(_) => {
                return Err(SshError::Connect(
                    shown,
                    format!("no answer within {}s — is the host up and the port open?", timeout.as_secs()),
                ))
            }
            Ok(Err(e)) => {
                if let Some(err) = check.lock().outcome.take() {
                    return Err(err);
                }
                let msg = match &e {
                    russh::Error::IO(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                        "connection refused — is sshd running on that port?".to_string()
                    }
                    russh::Error::IO(io) => format!("{io} — is the host name right and the host up?"),
                    other => other.to_string(),
                };
                return Err(SshError::Connect(shown, msg));
            }
            Ok(Ok(h)) => h,
        };
        let res = match auth {
            Auth::Password(p) => handle.authenticate_password(&target.user, p).await,
            Auth::Key(k) => {
                let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
                handle.authenticate_publickey(&target.user, PrivateKeyWithHashAlg::new(k.clone(), hash)).await
            }
        };
        match res {
            Ok(r) if r.success() => Ok(Session { target: target.clone(), handle }),
            Ok(_) => Err(SshError::Auth(
                shown,
                match auth {
                    Auth::Password(_) => "wrong password, or password login is disabled".into(),
                    Auth::Key(_) => "the key was refused — install it with `sai3 ssh-setup`".into(),
                },
            )),
            Err(e) => Err(SshError::Auth(shown, e.to_string())),
        }
    }

    /// Run `cmd` (through the user's shell), feeding `stdin` when given; wait at most `timeout`.
    pub async fn exec(&self, cmd: &str, stdin: Option<&[u8]>, timeout: Duration) -> Result<ExecOutput, SshError> {
        let shown = self.target.to_string();
        let run = async {
            let mut ch = self
                .handle
                .channel_open_session()
                .await
                .map_err(|e| SshError::Other(shown.clone(), format!("open channel: {e}")))?;
            ch.exec(true, cmd).await.map_err(|e| SshError::Other(shown.clone(), format!("exec: {e}")))?;
            if let Some(data) = stdin {
                ch.data(data).await.map_err(|e| SshError::Other(shown.clone(), format!("send: {e}")))?;
            }
            ch.eof().await.map_err(|e| SshError::Other(shown.clone(), format!("eof: {e}")))?;
            let mut out = ExecOutput::default();
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, .. } => out.stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                    _ => {}
                }
            }
            Ok(out)
        };
        tokio::time::timeout(timeout, run).await.map_err(|_| {
            SshError::Other(shown.clone(), format!("`{cmd}` did not finish within {}s", timeout.as_secs()))
        })?
    }

    /// Write `data` to `path` (mode `mode`) over the SSH channel: to a temporary name, then
    /// renamed, so a half-written file is never used.
    pub async fn upload(&self, data: &[u8], path: &str, mode: u32) -> Result<(), SshError> {
        let q = shell_quote(path);
        // A temporary name per upload (`$$`: the remote shell's pid): two uploads of one file at
        // once (two agents on one host) do not trip over each other.
        let cmd = format!(
            "mkdir -p \"$(dirname {q})\" && cat > {q}.part.$$ && chmod {mode:o} {q}.part.$$ && mv -f {q}.part.$$ {q}"
        );
        let out = self.exec(&cmd, Some(data), Duration::from_secs(600)).await?;
        if !out.ok() {
            return Err(SshError::Other(
                self.target.to_string(),
                format!("upload to {path} failed: {}", out.stderr_text()),
            ));
        }
        Ok(())
    }

    /// Start `cmd` in the background (surviving this connection), output to `log`; its PID.
    pub async fn start_background(&self, cmd: &str, log: &str) -> Result<u32, SshError> {
        let full = format!("nohup {cmd} > {} 2>&1 < /dev/null & echo $!", shell_quote(log));
        let out = self.exec(&full, None, Duration::from_secs(30)).await?;
        out.stdout_text().parse::<u32>().map_err(|_| {
            SshError::Other(
                self.target.to_string(),
                format!("could not start `{cmd}`: {} {}", out.stdout_text(), out.stderr_text()),
            )
        })
    }

    /// Whether process `pid` is alive (a zombie is not).
    pub async fn alive(&self, pid: u32) -> Result<bool, SshError> {
        let out = self.exec(&format!("s=$(cut -d' ' -f3 /proc/{pid}/stat 2>/dev/null); [ -n \"$s\" ] && [ \"$s\" != Z ] && echo alive || echo dead"), None, Duration::from_secs(10)).await?;
        Ok(out.stdout_text() == "alive")
    }

    /// Stop process `pid`: TERM, then KILL after `grace`; true once it is gone.
    pub async fn stop(&self, pid: u32, grace: Duration) -> Result<bool, SshError> {
        let _ = self.exec(&format!("kill {pid} 2>/dev/null"), None, Duration::from_secs(10)).await?;
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if !self.alive(pid).await? {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.exec(&format!("kill -9 {pid} 2>/dev/null"), None, Duration::from_secs(10)).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(!self.alive(pid).await?)
    }

    /// The contents of a remote file.
    pub async fn fetch(&self, path: &str) -> Result<Vec<u8>, SshError> {
        let out = self.exec(&format!("cat {}", shell_quote(path)), None, Duration::from_secs(120)).await?;
        if !out.ok() {
            return Err(SshError::Other(self.target.to_string(), format!("cannot read {path}: {}", out.stderr_text())));
        }
        Ok(out.stdout)
    }

    pub async fn close(self) {
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }
}

/// Single-quote for a POSIX shell (a leading `~/` stays expandable).
pub fn shell_quote(s: &str) -> String {
    if let Some(rest) = s.strip_prefix("~/") {
        return format!("~/{}", shell_quote(rest));
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Default key pair location of `ssh-setup` and deployment.
pub fn default_key_path() -> PathBuf {
    home().join(".ssh").join("sai3_id_ed25519")
}

/// Load a private key (OpenSSH format, unencrypted).
pub fn load_key(path: &Path) -> Result<PrivateKey, String> {
    russh::keys::load_secret_key(path, None).map_err(|e| format!("key {}: {e}", path.display()))
}

/// Create an ed25519 key pair at `path` (private, mode 600) and `path.pub`, unless one exists.
/// Returns the key and whether it was created.
pub fn ensure_key(path: &Path) -> Result<(PrivateKey, bool), String> {
    if path.exists() {
        return load_key(path).map(|k| (k, false));
    }
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        .map_err(|_| "no system randomness".to_string())?;
    let mut key = PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed));
    key.set_comment(format!("sai3@{}", crate::net::agent_service::hostname()));
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            set_mode(dir, 0o700);
        }
    }
    let pem = key.to_openssh(russh::keys::ssh_key::LineEnding::LF).map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(pem.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let pubpath = pub_path(path);
    std::fs::write(&pubpath, public_line(key.public_key())? + "\n")
        .map_err(|e| format!("{}: {e}", pubpath.display()))?;
    set_mode(&pubpath, 0o644);
    Ok((key, true))
}

pub fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// `ssh-ed25519 AAAA… comment` — the authorized_keys line.
pub fn public_line(k: &PublicKey) -> Result<String, String> {
    k.to_openssh().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            SshTarget::parse("u@h", 22, None).unwrap(),
            SshTarget { user: "u".into(), host: "h".into(), port: 22 }
        );
        assert_eq!(SshTarget::parse("u@127.0.0.1:2222", 22, None).unwrap().port, 2222);
        assert_eq!(
            SshTarget::parse("h:2200", 22, Some("me")).unwrap(),
            SshTarget { user: "me".into(), host: "h".into(), port: 2200 }
        );
        assert!(SshTarget::parse("h", 22, None).is_err());
        assert!(SshTarget::parse("u@h:x", 22, None).is_err());
    }

    #[test]
    fn key_pair_is_created_once_with_private_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ssh/id");
        let (k, created) = ensure_key(&p).unwrap();
        assert!(created);
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let pubtext = std::fs::read_to_string(pub_path(&p)).unwrap();
        assert!(pubtext.starts_with("ssh-ed25519 "), "{pubtext}");
        let (k2, created2) = ensure_key(&p).unwrap();
        assert!(!created2);
        assert_eq!(k.public_key(), k2.public_key());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("~/x y"), "~/'x y'");
    }
}
