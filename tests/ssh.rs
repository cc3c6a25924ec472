//! `sai3 ssh-setup` and SSH auto-deployment against the testbed's real sshd on 127.0.0.1
//! (scripts/testbed: user sai3test, password login on). Skipped without the testbed unless
//! SAI3_REQUIRE_TESTBED=1 (scripts/test.sh sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;

use common::{command, results_dir, testbed_vars, text};

struct Bed {
    host: String,
    port: String,
    user: String,
    password: String,
}

fn bed() -> Option<Bed> {
    let [host, port, user, password] =
        testbed_vars(["SAI3_TEST_SSH_HOST", "SAI3_TEST_SSH_PORT", "SAI3_TEST_SSH_USER", "SAI3_TEST_SSH_PASSWORD"])?;
    Some(Bed { host, port, user, password })
}

impl Bed {
    fn spec(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
    fn home(&self) -> PathBuf {
        let out = Command::new("getent").args(["passwd", &self.user]).output().unwrap();
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().split(':').nth(5).unwrap())
    }
}

fn setup(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = command(&["ssh-setup"]);
    c.args(args).env_remove("SAI3_SSH_PASSWORD").envs(env.iter().copied());
    c.output().unwrap()
}

/// ssh-setup with password and --accept-new-host-keys into `dir` (key `dir/id`, known_hosts `dir/kh`).
fn install(b: &Bed, dir: &Path) -> Output {
    setup(
        &[
            "--hosts",
            &b.spec(),
            "--key-path",
            dir.join("id").to_str().unwrap(),
            "--known-hosts",
            dir.join("kh").to_str().unwrap(),
            "--accept-new-host-keys",
        ],
        &[("SAI3_SSH_PASSWORD", &b.password)],
    )
}

#[test]
fn setup_installs_the_key_once_and_key_login_works() {
    let Some(b) = bed() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let o = install(&b, tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(&format!("ok {}", b.spec())), "{}", text(&o));
    // The key pair: private mode 600, public in OpenSSH format; known_hosts in OpenSSH format.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(tmp.path().join("id")).unwrap().permissions().mode() & 0o777, 0o600);
    let pubkey = std::fs::read_to_string(tmp.path().join("id.pub")).unwrap();
    assert!(pubkey.starts_with("ssh-ed25519 "));
    let kh = std::fs::read_to_string(tmp.path().join("kh")).unwrap();
    assert!(kh.starts_with(&format!("[{}]:{} ssh-", b.host, b.port)), "{kh}");
    // Twice: still one line for this key in authorized_keys.
    let o = install(&b, tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ak = std::fs::read_to_string(b.home().join(".ssh/authorized_keys")).unwrap();
    let key_b64 = pubkey.split_whitespace().nth(1).unwrap();
    assert_eq!(ak.lines().filter(|l| l.contains(key_b64)).count(), 1, "idempotent");
    // --test-only: verifies, changes nothing, needs no password.
    let o = setup(
        &[
            "--hosts",
            &b.spec(),
            "--key-path",
            tmp.path().join("id").to_str().unwrap(),
            "--known-hosts",
            tmp.path().join("kh").to_str().unwrap(),
            "--test-only",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn failures_are_one_clear_line_per_host() {
    let Some(b) = bed() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id");
    let kh = tmp.path().join("kh");
    let (key_s, kh_s) = (key.to_str().unwrap(), kh.to_str().unwrap());
    // Wrong password (a fresh key, so the password is needed).
    let o = setup(
        &["--hosts", &b.spec(), "--key-path", key_s, "--known-hosts", kh_s, "--accept-new-host-keys"],
        &[("SAI3_SSH_PASSWORD", "not-the-password")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("FAILED {}", b.spec())) && text(&o).contains("authentication failed"),
        "{}",
        text(&o)
    );
    // Key refused: --test-only with a key that was never installed.
    let o = setup(&["--hosts", &b.spec(), "--key-path", key_s, "--known-hosts", kh_s, "--test-only"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("key login does not work"), "{}", text(&o));
    // Port closed, and a host that does not exist: fast and named.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t0 = Instant::now();
    let o = setup(
        &[
            "--hosts",
            &format!("{}@127.0.0.1:{closed},{}@no-such-host.invalid:22", b.user, b.user),
            "--key-path",
            key_s,
            "--known-hosts",
            kh_s,
            "--accept-new-host-keys",
        ],
        &[("SAI3_SSH_PASSWORD", &b.password)],
    );
    assert!(t0.elapsed() < Duration::from_secs(15));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("FAILED {}@127.0.0.1:{closed}: ", b.user)) && t.contains("connection refused"), "{t}");
    assert!(t.contains(&format!("FAILED {}@no-such-host.invalid:22", b.user)), "{t}");
    // Unknown host key without --accept-new-host-keys (and no terminal to ask): refused.
    let o = setup(
        &["--hosts", &b.spec(), "--key-path", key_s, "--known-hosts", tmp.path().join("empty-kh").to_str().unwrap()],
        &[("SAI3_SSH_PASSWORD", &b.password)],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("host key is not in"), "{}", text(&o));
    // Changed host key: a known_hosts line with another ed25519 key for this host is refused,
    // even with --accept-new-host-keys, and the file is left as it was.
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBo6sXFRbKx1yTnwPnhrOYAHWnPwLEXeWvFb0PEHHTN6";
    let line = format!("[{}]:{} {other}\n", b.host, b.port);
    std::fs::write(&kh, &line).unwrap();
    let o = setup(
        &["--hosts", &b.spec(), "--key-path", key_s, "--known-hosts", kh_s, "--accept-new-host-keys"],
        &[("SAI3_SSH_PASSWORD", &b.password)],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("HOST KEY CHANGED") && text(&o).contains("line 1"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), line);
}

/// PIDs of processes of `user` whose command line contains `needle` (zombies excluded).
fn processes(user: &str, needle: &str) -> Vec<u32> {
    let uid =
        String::from_utf8_lossy(&Command::new("id").args(["-u", user]).output().unwrap().stdout).trim().to_string();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let owner =
            status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("");
        let zombie = status.lines().any(|l| l.starts_with("State:") && l.contains('Z'));
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if owner == uid && !zombie && cmd.contains(needle) {
            v.push(pid);
        }
    }
    v
}

#[test]
fn distributed_run_with_agents_started_over_ssh() {
    let Some(b) = bed() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let o = install(&b, tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::copy(tmp.path().join("kh"), home.join(".ssh/known_hosts")).unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // The agents run as the SSH user: let them write here.
    for d in [tmp.path(), data.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let ports: Vec<u16> =
        (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let yaml = format!(
        r#"target: "file://{}/"
duration: 2s
concurrency: 2
distributed:
  start_delay: 1
  ssh:
    enabled: true
    user: {}
    key_path: "{}"
    port: {}
  agents:
    - address: "127.0.0.1:{}"
      id: ssh-a
    - address: "127.0.0.1:{}"
      id: ssh-b
prepare:
  ensure_objects:
    - base_uri: "obj/"
      count: 10
      size_spec: 4KiB
workload:
  - op: get
    path: "obj/*"
"#,
        data.display(),
        b.user,
        tmp.path().join("id").display(),
        b.port,
        ports[0],
        ports[1]
    );
    let cfg = tmp.path().join("ssh-run.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let o = command(&["ctl", "run", "--config", cfg.to_str().unwrap()])
        .current_dir(tmp.path())
        .env("HOME", &home)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("ssh-a: started on") && t.contains("stopped agent ssh-a") && t.contains("stopped agent ssh-b"),
        "{t}"
    );
    let dir = results_dir(tmp.path()).expect("a results folder");
    let log = std::fs::read_to_string(dir.join("agents/ssh-a/agent.log")).unwrap();
    assert!(log.contains("listening (PLAINTEXT) on 127.0.0.1:") && log.contains("token required"), "{log}");
    assert!(dir.join("agents/ssh-b/results.tsv").exists());
    // No agent left running, and the run's token is not left on the host.
    for p in &ports {
        assert!(processes(&b.user, &format!("127.0.0.1:{p}")).is_empty(), "agent on port {p} still running");
    }
    let cache = b.home().join(".cache/sai3");
    let tokens: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".token"))
        .collect();
    assert!(tokens.is_empty(), "token files removed");
    // The copied binary of this (debug, large) build is not needed on the test host afterwards.
    let _ = std::fs::remove_dir_all(cache.join("bin"));
    // An agent's address the SSH host does not answer on: the run stops before any I/O and
    // nothing is left running.
    let bad = std::fs::read_to_string(&cfg).unwrap().replace(&format!("port: {}", b.port), "port: 1");
    std::fs::write(&cfg, bad).unwrap();
    let o = command(&["ctl", "run", "--config", cfg.to_str().unwrap()])
        .current_dir(tmp.path())
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("agent ssh-a") && text(&o).contains("connection refused"), "{}", text(&o));
}
