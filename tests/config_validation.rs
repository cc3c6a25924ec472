//! Every config in tests/configs/ validates (with the warnings listed here); every config in
//! tests/configs/invalid/ fails with exactly the message stored beside it in `<name>.expected`.
//! Set SAI3_BLESS=1 to (re)write missing `.expected` files — then review them.

use std::path::Path;

use sai3::core::config::{self, parse};

mod common;

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Warnings each valid config must produce (substring of each, in order); others produce none.
fn expected_warnings(file: &str) -> Vec<&'static str> {
    match file {
        "multi_endpoint_prepare.yaml" => vec!["line 47: a literal `\\n` outside quotes was read as a line break"],
        "agent_ids_explicit.yaml"
        | "agent_ids_default.yaml"
        | "me_per_agent_regions.yaml"
        | "me_minio_nodes.yaml"
        | "agent_concurrency_override.yaml"
        | "start_delay.yaml"
        | "ssh_deploy.yaml"
        | "config_endpoints_1_2.yaml"
        | "config_endpoints_3_4.yaml" => vec!["no `workload` entries and no `prepare`: the run has nothing to do"],
        _ => vec![],
    }
}

#[test]
fn every_valid_config_parses() {
    let files = common::yaml_files("tests/configs");
    assert!(files.len() >= 19, "expected the seed configs and quickstart, found {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        match config::load(f) {
            Ok(plan) => {
                let want = expected_warnings(&name(f));
                let ok = plan.warnings.len() == want.len()
                    && plan.warnings.iter().zip(&want).all(|(got, w)| got.contains(w));
                if !ok {
                    failures.push(format!("{}: warnings {:?}, expected {:?}", name(f), plan.warnings, want));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", name(f))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_invalid_config_fails_with_its_expected_message() {
    let files = common::yaml_files("tests/configs/invalid");
    assert!(files.len() >= 12, "found only {} invalid configs", files.len());
    let bless = std::env::var_os("SAI3_BLESS").is_some();
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let got = match parse(&text, Some(Path::new(&name(f)))) {
            Ok(_) => {
                failures.push(format!("{}: was accepted", name(f)));
                continue;
            }
            Err(e) => e.to_string(),
        };
        let exp_path = f.with_extension("expected");
        match std::fs::read_to_string(&exp_path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!("{}:\n--- expected\n{want}--- got\n{got}", name(f))),
            Err(_) if bless => std::fs::write(&exp_path, &got).unwrap(),
            Err(_) => {
                failures.push(format!("{}: no {} (run with SAI3_BLESS=1 and review)\n{got}", name(f), name(&exp_path)))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_quirk_reads_fill_after_literal_newline() {
    let plan =
        config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/multi_endpoint_prepare.yaml")).unwrap();
    let e = &plan.prepare.ensure_objects[0];
    assert_eq!(e.count, 100);
    assert_eq!(e.size, config::SizeSpec::Fixed(512_000));
    assert_eq!(e.data.fill, config::Fill::Random);
    let d = plan.distributed.as_ref().unwrap();
    assert_eq!(d.agents.len(), 2);
    assert_eq!(d.agents[1].multi_endpoint.as_ref().unwrap().strategy, config::Strategy::LeastConnections);
    assert_eq!(plan.effective_concurrency(Some(0)), 8);
    assert!(plan.duration.is_zero());
}

#[test]
fn seed_configs_resolve_as_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs");
    let hybrid = config::load(&dir.join("me_hybrid.yaml")).unwrap();
    assert_eq!(hybrid.effective_endpoints(Some(0)).unwrap().endpoints.len(), 4);
    assert_eq!(
        hybrid.effective_endpoints(Some(1)).unwrap().endpoints,
        vec!["s3://192.168.1.14:9000/bucket/", "s3://192.168.1.15:9000/bucket/"]
    );
    assert_eq!(hybrid.effective_endpoints(Some(2)).unwrap().endpoints.len(), 4);

    let ids = config::load(&dir.join("agent_ids_default.yaml")).unwrap();
    let d = ids.distributed.unwrap();
    assert_eq!(d.agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["agent-0", "agent-1"]);
    assert_eq!(d.start_delay, std::time::Duration::from_secs(2));

    let ssh = config::load(&dir.join("ssh_deploy.yaml")).unwrap();
    let d = ssh.distributed.unwrap();
    assert_eq!(d.agents[0].address, "host1.example.com:7761");
    let s = d.ssh.unwrap();
    assert!(s.enabled);
    assert_eq!(s.user.as_deref(), Some("ubuntu"));
    assert_eq!(s.port, 22);

    let mixed = config::load(&dir.join("distributed_mixed_test.yaml")).unwrap();
    assert!(mixed.distributed.is_none());
    assert_eq!(mixed.prepare.ensure_objects.iter().map(|e| e.count).sum::<u64>(), 180);
    assert_eq!(mixed.workload[1].size, Some(config::SizeSpec::Uniform { min: 1000, max: 64_000 }));
    assert_eq!(mixed.workload[0].path, "mixed/*");

    let quick = config::load(&dir.join("quickstart.yaml")).unwrap();
    assert_eq!(quick.target.as_deref(), Some("file:///tmp/sai3-quickstart/"));
    assert_eq!(quick.concurrency, 4);
    assert_eq!(quick.prepare.ensure_objects[0].size, config::SizeSpec::Fixed(65536));
}

#[test]
fn every_size_spec_form() {
    let cases = [
        ("1KB", config::SizeSpec::Fixed(1000)),
        ("4096", config::SizeSpec::Fixed(4096)),
        ("{fixed: 1.5GB}", config::SizeSpec::Fixed(1_500_000_000)),
        ("{uniform: {min: 1KiB, max: 2KiB}}", config::SizeSpec::Uniform { min: 1024, max: 2048 }),
        ("{type: uniform, min: 1, max: 10}", config::SizeSpec::Uniform { min: 1, max: 10 }),
        ("{type: fixed, size: 1MiB}", config::SizeSpec::Fixed(1 << 20)),
        (
            "{type: lognormal, mean: 1MB, std_dev: 100KB, min: 1KB, max: 10MB}",
            config::SizeSpec::Lognormal { mean: 1e6, std_dev: 1e5, min: 1000, max: 10_000_000 },
        ),
    ];
    for (spec, want) in cases {
        let text =
            format!("target: file:///tmp/x/\nworkload:\n  - op: put\n    path: \"p/{{}}\"\n    size_spec: {spec}\n");
        let plan = parse(&text, None).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(plan.workload[0].size.as_ref(), Some(&want), "{spec}");
    }
}

#[test]
fn cli_agents_replace_the_list() {
    let mut plan = parse("target: file:///tmp/x/\nworkload:\n  - op: get\n    path: \"*\"\n", None).unwrap();
    config::apply_cli_agents(&mut plan, &["127.0.0.1:7761".into(), "127.0.0.2".into()]).unwrap();
    let d = plan.distributed.as_ref().unwrap();
    assert_eq!(d.agents[1].address, "127.0.0.2:7761");
    assert_eq!(d.agents[1].id, "agent-1");
    let err = config::apply_cli_agents(&mut plan, &["h:99999".into()]).unwrap_err().to_string();
    assert!(err.contains("`99999` in `h:99999` is not a TCP port"), "{err}");
}

/// `storage.retries` is `error_handling.retries` by another name (sai3 retries, never the storage
/// client); both default to 0. Giving both is an error (tests/configs/invalid/retries_twice.yaml).
#[test]
fn storage_retries_set_the_retry_loop() {
    let base = "target: file:///tmp/x/\nduration: 1s\nworkload:\n  - {op: get, path: \"d/*\"}\n";
    assert_eq!(parse(base, None).unwrap().error_handling.retries, 0, "no retries by default");
    let plan = parse(&format!("{base}storage:\n  retries: 4\n"), None).unwrap();
    assert_eq!(plan.error_handling.retries, 4);
    let plan = parse(&format!("{base}error_handling:\n  retries: 2\n"), None).unwrap();
    assert_eq!(plan.error_handling.retries, 2);
}
