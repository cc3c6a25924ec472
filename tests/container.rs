//! The container image: `scripts/release.sh image` builds it (Containerfile: FROM scratch, CA
//! certificates, the static binary) with podman; two agents run in it as containers on loopback
//! (`--network host`, read-only root, non-root user: as deploy/kubernetes runs them), a container
//! reaches an agent by a name only its /etc/hosts knows, and `sai3 ctl run` on the host drives the
//! agents against the testbed's S3 server to a complete result.
//! Needs the testbed, podman and a static build of the suite (scripts/test.sh gives all three);
//! skipped without them unless SAI3_REQUIRE_TESTBED=1.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sai3");

fn require_or_skip(why: &str) {
    assert!(std::env::var("SAI3_REQUIRE_TESTBED").as_deref() != Ok("1"), "{why} but SAI3_REQUIRE_TESTBED=1");
    eprintln!("skipped: {why} (scripts/test.sh sets up the testbed, podman and a static build)");
}

/// True when the ELF file has no program interpreter (PT_INTERP): it is statically linked.
fn is_static(path: &Path) -> bool {
    let mut head = vec![0u8; 64 * 1024];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    let head = &head[..n];
    if n < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(head[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        o + 4 <= n && u32::from_le_bytes(head[o..o + 4].try_into().unwrap()) != 3
    })
}

struct Bed {
    podman: String,
    s3_uri: String,
}

fn bed() -> Option<Bed> {
    let Some(s3_uri) = std::env::var("SAI3_TEST_S3_URI").ok().filter(|v| !v.is_empty()) else {
        require_or_skip("SAI3_TEST_S3_URI not set");
        return None;
    };
    let podman = std::env::var("SAI3_TEST_PODMAN").unwrap_or_else(|_| "podman".into());
    if !Command::new(&podman).arg("--version").output().is_ok_and(|o| o.status.success()) {
        require_or_skip("podman is not installed");
        return None;
    }
    if !is_static(Path::new(BIN)) {
        if std::env::var("SAI3_TEST_STATIC").as_deref() == Ok("0") {
            eprintln!("skipped: SAI3_TEST_STATIC=0 builds the suite dynamically; the image needs the static binary");
            return None;
        }
        require_or_skip(&format!("{BIN} is not statically linked"));
        return None;
    }
    Some(Bed { podman, s3_uri })
}

impl Bed {
    /// podman with the settings these machines need (docs/INSTALL.md): runc, cgroupfs.
    fn podman(&self) -> Command {
        let mut c = Command::new(&self.podman);
        c.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
        c
    }
}

/// Soft limit of this process for a /proc/self/limits row ("Max open files", …).
fn soft_limit(row: &str) -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with(row))?;
    line[row.len()..].split_whitespace().next()?.parse().ok()
}

/// `--ulimit` values at or below ours: a container may not be given more than its parent has.
fn ulimits() -> Vec<String> {
    let nofile = soft_limit("Max open files").unwrap_or(1024).min(65536);
    let nproc = soft_limit("Max processes").unwrap_or(4096).min(4096);
    vec!["--ulimit".into(), format!("nofile={nofile}:{nofile}"), "--ulimit".into(), format!("nproc={nproc}:{nproc}")]
}

/// A container image, removed when dropped.
struct Image<'a> {
    bed: &'a Bed,
    tag: String,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        let _ = self.bed.podman().args(["rmi", "--force", &self.tag]).output();
    }
}

/// An agent running in a container, removed when dropped.
struct Agent<'a> {
    bed: &'a Bed,
    name: String,
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Drop for Agent<'_> {
    fn drop(&mut self) {
        let _ = self.bed.podman().args(["rm", "--force", "--time", "0", &self.name]).output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const STORAGE_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
    "AWS_ENDPOINT_URL",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_METADATA_ENDPOINT",
];

fn start_agent<'a>(bed: &'a Bed, image: &Image, id: &str, token_dir: &Path, tmp: &Path) -> Agent<'a> {
    let name = format!("sai3-test-{}-{id}", std::process::id());
    let log = tmp.join(format!("{id}.log"));
    let mut c = bed.podman();
    c.args(["run", "--rm", "--name", &name, "--network", "host", "--read-only", "--user", "65532:65532"])
        .args(ulimits())
        .args(["--volume", &format!("{}:/etc/sai3/token:ro", token_dir.display())]);
    for k in STORAGE_ENV {
        if let Ok(v) = std::env::var(k) {
            c.args(["--env", &format!("{k}={v}")]);
        }
    }
    c.args([&image.tag, "agent", "--listen", "127.0.0.1:0", "--id", id, "--token-file", "/etc/sai3/token/token"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = c.spawn().expect("start podman run");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let mut agent = Agent { bed, name, child, addr: String::new(), log };
    assert!(
        line.contains("sai3 agent listening (PLAINTEXT) on"),
        "agent {id} in a container did not start: {line:?}\n{}",
        std::fs::read_to_string(&agent.log).unwrap_or_default()
    );
    agent.addr = line.trim().rsplit(' ').next().unwrap().to_string();
    agent
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn agents_in_the_scratch_image_run_a_distributed_s3_workload() {
    let Some(bed) = bed() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let unique = format!("{}-{}", std::process::id(), chrono_free_stamp());

    // The image, built the way users build it.
    let image = Image { bed: &bed, tag: format!("localhost/sai3-test:{unique}") };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/release.sh"))
        .args(["image", "--bin", BIN, "--tag", &image.tag])
        .env("CONTAINER_ENGINE", &bed.podman)
        .output()
        .unwrap();
    assert!(out.status.success(), "scripts/release.sh image failed:\n{}", text(&out));

    // The token as deploy/kubernetes gives it: a read-only mounted file, readable by the agent's user.
    let token_dir = tmp.path().join("token");
    std::fs::create_dir(&token_dir).unwrap();
    std::fs::write(token_dir.join("token"), format!("container-test-{unique}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&token_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(token_dir.join("token"), std::fs::Permissions::from_mode(0o644)).unwrap();

    let a0 = start_agent(&bed, &image, "container-agent-0", &token_dir, tmp.path());
    let a1 = start_agent(&bed, &image, "container-agent-1", &token_dir, tmp.path());

    // Name resolution inside the empty image: a name that only the container's /etc/hosts knows.
    let port = a0.addr.rsplit(':').next().unwrap();
    let ping = bed
        .podman()
        .args(["run", "--rm", "--network", "host", "--read-only", "--user", "65532:65532"])
        .args(ulimits())
        .args(["--add-host", "sai3-agent-0.sai3-test.internal:127.0.0.1"])
        .args(["--env", &format!("SAI3_AGENT_TOKEN=container-test-{unique}")])
        .args([&image.tag, "ctl", "ping", "--agents", &format!("sai3-agent-0.sai3-test.internal:{port}")])
        .output()
        .unwrap();
    assert_eq!(ping.status.code(), Some(0), "ctl ping by host name from the image:\n{}", text(&ping));
    assert!(text(&ping).contains("container-agent-0"), "{}", text(&ping));

    // The run: S3 through the host name `localhost`, resolved by each agent inside its container.
    let s3 = bed.s3_uri.replace("127.0.0.1", "localhost");
    let yaml = format!(
        "target: \"{s3}container-{unique}/\"\nduration: 2s\nconcurrency: 2\n\
prepare:\n  ensure_objects:\n    - base_uri: \"data/\"\n      count: 20\n      size_spec:\n        fixed: 4KiB\n\
workload:\n  - op: get\n    path: \"data/*\"\n    weight: 70\n  - op: put\n    path: \"up/obj-{{}}.dat\"\n    object_size: 4KiB\n    weight: 20\n  - op: list\n    path: \"data/\"\n    weight: 10\n\
cleanup: true\n\
distributed:\n  shared_filesystem: true\n  start_delay: 1\n  token_file: \"{tok}\"\n  agents:\n    - address: \"{}\"\n      id: container-agent-0\n    - address: \"{}\"\n      id: container-agent-1\n",
        a0.addr,
        a1.addr,
        tok = token_dir.join("token").display()
    );
    let cfg = tmp.path().join("container.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let results = tmp.path().join("results");
    let run = Command::new(BIN)
        .args(["ctl", "run", "--config", cfg.to_str().unwrap(), "--results-dir", results.to_str().unwrap()])
        .current_dir(tmp.path())
        .env_remove("SAI3_AGENT_TOKEN")
        .output()
        .unwrap();
    let logs = || {
        format!(
            "{}\n{}",
            std::fs::read_to_string(&a0.log).unwrap_or_default(),
            std::fs::read_to_string(&a1.log).unwrap_or_default()
        )
    };
    assert_eq!(run.status.code(), Some(0), "ctl run:\n{}\nagent logs:\n{}", text(&run), logs());

    let dir =
        std::fs::read_dir(&results).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).expect("a results folder");
    for f in [
        "results.tsv",
        "perf_log.tsv",
        "metadata.json",
        "agents/container-agent-0/results.tsv",
        "agents/container-agent-1/results.tsv",
    ] {
        assert!(dir.join(f).is_file(), "{} has no {f}", dir.display());
    }
    let tsv = std::fs::read_to_string(dir.join("results.tsv")).unwrap();
    let get_all = tsv.lines().find(|l| l.starts_with("GET\tALL")).unwrap_or_else(|| panic!("no GET ALL row:\n{tsv}"));
    let count: u64 = get_all.split('\t').nth(12).unwrap().parse().unwrap();
    assert!(count > 0, "no GET measured:\n{tsv}");
}

/// Nanoseconds of the current second: with the pid, unique enough for names on one machine.
fn chrono_free_stamp() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_000
}
