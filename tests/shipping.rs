//! What ships beside the binary: shell completions (`sai3 completions`), the man pages
//! (`sai3 man`), and the config of the Kubernetes example (deploy/kubernetes/workload.yaml), which
//! must pass the same validation as any other config.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sai3");
const SUBCOMMANDS: &[&str] = &["agent", "ctl", "ssh-setup", "analyze", "completions", "man"];

fn sai3(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn completion_scripts_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&sai3(&["completions", shell]));
        for sub in SUBCOMMANDS.iter().chain(&["run", "ping"]) {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        // fish spells long options `-l config`, bash and zsh `--config`.
        for opt in ["config", "dry-run", "agents", "results-dir"] {
            let spelled = if shell == "fish" { format!("-l {opt}") } else { format!("--{opt}") };
            assert!(script.contains(&spelled), "{shell} completion lacks {spelled}");
        }
    }
    let bad = sai3(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is a usage error");
}

/// The bash script really completes: `sai3 c<TAB>` offers ctl and completions, `sai3 ctl r<TAB>` run.
#[test]
fn bash_completion_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("sai3.bash");
    std::fs::write(&script, stdout(&sai3(&["completions", "bash"]))).unwrap();
    let complete = |words: &str| {
        let n = words.split(' ').count() - 1;
        let prog = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={n}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _sai3 sai3 \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash").args(["--norc", "-c", &prog]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect::<Vec<_>>()
    };
    let c = complete("sai3 c");
    assert!(c.contains(&"ctl".to_string()) && c.contains(&"completions".to_string()), "{c:?}");
    let r = complete("sai3 ctl r");
    assert!(r.contains(&"run".to_string()), "{r:?}");
}

#[test]
fn man_page_has_its_sections_and_renders() {
    let page = stdout(&sai3(&["man"]));
    for s in [
        ".TH sai3 1",
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
    ] {
        assert!(page.contains(s), "sai3(1) lacks {s}:\n{page}");
    }
    for sub in SUBCOMMANDS {
        assert!(page.contains(&format!("sai3\\-{}", sub.replace('-', "\\-"))), "sai3(1) does not list {sub}");
    }
    // Rendered by man(1) where it is installed, as a reader would see it.
    if Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("sai3.1");
        std::fs::write(&f, &page).unwrap();
        let out = Command::new("man")
            .args(["-l", f.to_str().unwrap()])
            .env("MANWIDTH", "100")
            .env("MAN_KEEP_FORMATTING", "0")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        // Without a terminal, man still marks bold as "X\bX": keep only what a reader sees.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&out.stdout).chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(out.status.success(), "man -l failed: {}", String::from_utf8_lossy(&out.stderr));
        for s in ["NAME", "SYNOPSIS", "EXIT STATUS", "sai3-ctl", "SAI3_AGENT_TOKEN"] {
            assert!(text.contains(s), "rendered page lacks {s}:\n{text}");
        }
    } else {
        eprintln!("man(1) is not installed: the page was checked as roff only");
    }
}

#[test]
fn man_dir_writes_one_page_per_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man");
    stdout(&sai3(&["man", "--dir", dir.to_str().unwrap()]));
    for p in [
        "sai3",
        "sai3-agent",
        "sai3-ctl",
        "sai3-ctl-run",
        "sai3-ctl-ping",
        "sai3-ssh-setup",
        "sai3-analyze",
        "sai3-completions",
        "sai3-man",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{p}.1"))).unwrap_or_else(|e| panic!("{p}.1: {e}"));
        assert!(text.contains(".SH NAME"), "{p}.1:\n{text}");
    }
    let run = std::fs::read_to_string(dir.join("sai3-ctl-run.1")).unwrap();
    assert!(run.contains("\\-\\-dry\\-run") && run.contains("\\-\\-results\\-dir"), "{run}");
}

/// The Kubernetes example config validates, and its plan finds the agents through the Service.
#[test]
fn kubernetes_workload_config_validates() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/workload.yaml");
    let out = Command::new(BIN).args(["ctl", "run", "--config", cfg.to_str().unwrap(), "--dry-run"]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("every address of sai3-agents.bench.svc.cluster.local (port 7761, waiting for 2)"), "{text}");
}
