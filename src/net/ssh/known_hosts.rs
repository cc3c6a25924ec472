//! OpenSSH `known_hosts`: read plain and hashed (`|1|salt|hash`) entries, check a server key,
//! append new entries in the plain format (`host` or `[host]:port`).

use std::path::{Path, PathBuf};

use base64::Engine;
use russh::keys::PublicKey;

/// What the file says about a host's key.
#[derive(Debug, Clone, PartialEq)]
pub enum HostKeyStatus {
    /// The key is recorded (at this line).
    Known(usize),
    /// The host is not in the file.
    Unknown,
    /// The host is recorded with another key of the same type (at this line): refused.
    Changed(usize),
}

/// The name OpenSSH records: `host` on port 22, `[host]:port` otherwise.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn hashed_matches(entry: &str, name: &str) -> bool {
    // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
    let mut parts = entry.trim_start_matches("|1|").splitn(2, '|');
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else { return false };
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

fn pattern_matches(patterns: &str, name: &str) -> bool {
    if patterns.starts_with("|1|") {
        return hashed_matches(patterns, name);
    }
    let mut hit = false;
    for p in patterns.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(p.as_bytes(), name.as_bytes()) {
            hit = true;
        }
    }
    hit
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

/// A known_hosts file.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    pub path: PathBuf,
}

impl KnownHosts {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KnownHosts { path: path.into() }
    }

    /// `~/.ssh/known_hosts`.
    pub fn default_path() -> PathBuf {
        home().join(".ssh").join("known_hosts")
    }

    /// Check `key` for `host:port`.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
        let Ok(text) = std::fs::read_to_string(&self.path) else { return HostKeyStatus::Unknown };
        let name = host_pattern(host, port);
        let want_alg = key.algorithm();
        let mut changed = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
            let mut f = line.split_whitespace();
            let (Some(patterns), Some(kt), Some(b64)) = (f.next(), f.next(), f.next()) else { continue };
            if !pattern_matches(patterns, &name) {
                continue;
            }
            let Ok(recorded) = PublicKey::from_openssh(&format!("{kt} {b64}")) else { continue };
            if recorded.key_data() == key.key_data() {
                return HostKeyStatus::Known(i + 1);
            }
            if recorded.algorithm() == want_alg && changed.is_none() {
                changed = Some(i + 1);
            }
        }
        match changed {
            Some(l) => HostKeyStatus::Changed(l),
            None => HostKeyStatus::Unknown,
        }
    }

    /// Append `host:port key` (creating the file, mode 600, and its folder, mode 700).
    pub fn add(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), String> {
        use std::io::Write;
        if let Some(dir) = self.path.parent() {
            if !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                set_mode(dir, 0o700);
            }
        }
        let line = format!("{} {}\n", host_pattern(host, port), key.to_openssh().map_err(|e| e.to_string())?);
        let existed = self.path.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        if !existed {
            set_mode(&self.path, 0o600);
        }
        f.write_all(line.as_bytes()).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// The user's home folder.
pub fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const K2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBo6sXFRbKx1yTnwPnhrOYAHWnPwLEXeWvFb0PEHHTN6";

    #[test]
    fn plain_hashed_changed_and_unknown() {
        let d = tempfile::tempdir().unwrap();
        let kh = KnownHosts::new(d.path().join("known_hosts"));
        let k1 = PublicKey::from_openssh(K1).unwrap();
        let k2 = PublicKey::from_openssh(K2).unwrap();
        assert_eq!(kh.check("127.0.0.1", 2222, &k1), HostKeyStatus::Unknown);
        kh.add("127.0.0.1", 2222, &k1).unwrap();
        let text = std::fs::read_to_string(&kh.path).unwrap();
        assert!(text.starts_with("[127.0.0.1]:2222 ssh-ed25519 "), "{text}");
        assert_eq!(kh.check("127.0.0.1", 2222, &k1), HostKeyStatus::Known(1));
        assert_eq!(kh.check("127.0.0.1", 2222, &k2), HostKeyStatus::Changed(1));
        assert_eq!(kh.check("127.0.0.1", 22, &k1), HostKeyStatus::Unknown, "another port is another host");
        // A hashed entry for host "h1" (port 22), as `ssh-keygen -H` writes them.
        let salt = [7u8; 20];
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
        let tag = ring::hmac::sign(&key, b"h1");
        let b64 = base64::engine::general_purpose::STANDARD;
        std::fs::write(&kh.path, format!("|1|{}|{} {K2}\n", b64.encode(salt), b64.encode(tag.as_ref()))).unwrap();
        assert_eq!(kh.check("h1", 22, &k2), HostKeyStatus::Known(1));
        assert_eq!(kh.check("h1", 22, &k1), HostKeyStatus::Changed(1));
        assert_eq!(kh.check("h2", 22, &k1), HostKeyStatus::Unknown);
    }
}
