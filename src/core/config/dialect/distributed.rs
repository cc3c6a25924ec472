//! sai3-bench's `distributed` section: placement values, timeouts, deployment, agents, and its
//! stage list with `barrier_sync` as sai3's top-level `stages` with barriers.

use serde_yaml::{Mapping, Number, Value};

use super::rules::{HEARTBEATS, METADATA_CACHE};
use super::{get_str, items_mut, join, map_mut, s, scalar, seconds, truthy, Rewrite};

/// `distributed`: returns sai3-bench's `stages` converted, with the moves of their paths.
/// Converted stages, with the (old, new) paths of each.
pub(super) type Stages = (Vec<Value>, Vec<(String, String)>);

pub(super) fn distributed(rw: &mut Rewrite, d: &mut Mapping) -> Option<Stages> {
    let p = "distributed";
    rw.value_alias(d, p, "tree_creation_mode", &[("isolated", "agent"), ("concurrent", "agent")]);
    rw.value_alias(d, p, "path_selection", &[("exclusive", "distributed"), ("weighted", "partitioned")]);
    let overlap_used = get_str(d, "path_selection").is_some_and(|v| v == "partitioned");
    if !overlap_used {
        rw.ignore(d, p, "partition_overlap", "it applies only to `path_selection: partitioned` or `weighted`");
    }
    for k in ["grpc_keepalive_interval", "grpc_keepalive_timeout"] {
        rw.ignore(d, p, k, HEARTBEATS);
    }
    if let Some(v) = d.get("agent_ready_timeout").map(seconds) {
        d.insert(s("agent_ready_timeout"), v);
    }
    rw.ignore(d, p, "kv_cache_dir", METADATA_CACHE);
    if let Some(dep) = map_mut(d, "deployment") {
        let binary = get_str(dep, "deploy_type").is_some_and(|t| t.eq_ignore_ascii_case("binary"));
        if binary {
            rw.ignore(d, p, "deployment", "with `deploy_type: binary` it names the agent binary on each host; sai3's SSH deployment copies its own");
        } else {
            rw.refuse(d, p, "deployment", "starting agents as containers from the controller (`distributed.deployment`) is not in sai3 — run the image on each host yourself (Containerfile, docs/INSTALL.md) or as a Kubernetes StatefulSet (docs/KUBERNETES.md), and list the agents");
        }
    }
    if let Some(ssh) = map_mut(d, "ssh") {
        rw.ignore(
            ssh,
            "distributed.ssh",
            "timeout",
            "sai3's SSH connections time out after 10 s, as sai3-bench's did by default",
        );
        if ssh.contains_key("known_hosts") {
            rw.refuse(ssh, "distributed.ssh", "known_hosts", "sai3 checks host keys against ~/.ssh/known_hosts and never skips the check — run `sai3 ssh-setup --hosts … --known-hosts FILE` to record them");
        }
    }
    let ssh_on = map_mut(d, "ssh").is_some_and(|x| truthy(x, "enabled") == Some(true));
    for (i, a) in items_mut(d, "agents") {
        agent(rw, a, &format!("distributed.agents[{i}]"), ssh_on);
    }
    let barriers = d.shift_remove("barrier_sync");
    let stages = d.shift_remove("stages");
    let barriers = match barriers {
        Some(Value::Mapping(b)) if truthy(&b, "enabled") == Some(true) => {
            rw.note("distributed.barrier_sync", "sai3-bench's `distributed.barrier_sync` is read as each stage's `barrier` (heartbeat and query settings are not needed: agents report every 100 ms)".into());
            Some(b)
        }
        Some(_) => {
            rw.ignored(
                "distributed.barrier_sync",
                "it is not enabled; sai3 ends every stage at a barrier (`barrier` on each stage)",
            );
            None
        }
        None => None,
    };
    match stages {
        Some(Value::Sequence(list)) => Some(convert_stages(rw, list, barriers.as_ref())),
        Some(_) => {
            rw.refused("distributed.stages", "expected a list of stages");
            None
        }
        None => None,
    }
}

fn agent(rw: &mut Rewrite, a: &mut Mapping, path: &str, ssh: bool) {
    if let Some(t) = a.shift_remove("target_override") {
        if a.contains_key("multi_endpoint") {
            rw.refused(
                &join(path, "target_override"),
                "both `target_override` and `multi_endpoint` are given — keep `multi_endpoint`",
            );
        } else {
            let mut me = Mapping::new();
            me.insert(s("endpoints"), Value::Sequence(vec![t.clone()]));
            a.insert(s("multi_endpoint"), Value::Mapping(me));
            rw.note(
                &join(path, "target_override"),
                format!(
                    "sai3-bench's `{}: {}` is read as `{}: {{endpoints: [{}]}}` (this agent's paths resolve there)",
                    join(path, "target_override"),
                    scalar(&t),
                    join(path, "multi_endpoint"),
                    scalar(&t)
                ),
            );
        }
    }
    if let Some(port) = a.shift_remove("listen_port") {
        let at = join(path, "listen_port");
        match a.get("address").and_then(Value::as_str).map(str::to_string) {
            Some(addr) if !addr.contains(':') => {
                let now = format!("{addr}:{}", scalar(&port));
                rw.note(&at, format!("sai3-bench's `{at}` is read as the port of `{}: {now}`", join(path, "address")));
                a.insert(s("address"), s(&now));
            }
            _ => rw.ignored(&at, "the agent listens on the port of its `address`"),
        }
    }
    if a.contains_key("env") {
        if ssh {
            rw.refuse(a, path, "env", "environment variables for SSH-started agents (`env`) are not in sai3 — set them in the remote user's environment (e.g. ~/.ssh/environment) or start the agents yourself");
        } else {
            rw.ignore(a, path, "env", "it applied only to agents the controller starts as containers");
        }
    }
    rw.ignore(a, path, "volumes", "it applied only to agents the controller starts as containers");
    rw.ignore(a, path, "kv_cache_dir", METADATA_CACHE);
    if a.contains_key("path_template") {
        rw.refuse(
            a,
            path,
            "path_template",
            "a per-agent `path_template` is not in sai3 — set `distributed.path_template` for all agents",
        );
    }
}

/// A barrier mapping of sai3-bench → sai3's `{policy, timeout}`.
fn barrier(b: &Mapping) -> Value {
    let mut out = Mapping::new();
    let policy = match get_str(b, "type") {
        Some("majority") => "majority",
        Some("best_effort") => "best_effort",
        _ => "all",
    };
    out.insert(s("policy"), s(policy));
    let timeout = b.get("agent_barrier_timeout").map(seconds).unwrap_or(Value::Number(Number::from(120u64)));
    out.insert(s("timeout"), timeout);
    Value::Mapping(out)
}

/// sai3-bench's `distributed.stages` → sai3 `stages`, in `order`.
fn convert_stages(
    rw: &mut Rewrite,
    list: Vec<Value>,
    barriers: Option<&Mapping>,
) -> (Vec<Value>, Vec<(String, String)>) {
    let mut indexed: Vec<(usize, u64, Value)> = list
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let order = v.get("order").and_then(Value::as_u64).unwrap_or(i as u64);
            (i, order, v)
        })
        .collect();
    indexed.sort_by_key(|(i, o, _)| (*o, *i));
    let mut out = Vec::new();
    let mut moves = Vec::new();
    for (i, _, v) in indexed {
        let from = format!("distributed.stages[{i}]");
        let Value::Mapping(mut st) = v else {
            rw.refused(&from, "expected a stage `{name, order, type, …}`");
            continue;
        };
        let ty = get_str(&st, "type").unwrap_or("").to_string();
        if ty == "validation" {
            rw.note(&from, format!("sai3-bench's `validation` stage `{}` is dropped: sai3 validates the config and the storage before any I/O", get_str(&st, "name").unwrap_or("?")));
            continue;
        }
        let phase = match ty.as_str() {
            "execute" | "hybrid" => {
                st.insert(s("type"), s("workload"));
                "execute"
            }
            "custom" => {
                st.insert(s("type"), s("command"));
                "execute"
            }
            "prepare" => "prepare",
            "cleanup" => "cleanup",
            _ => "",
        };
        st.shift_remove("order");
        st.shift_remove("completion");
        st.shift_remove("expected_objects");
        if let Some(t) = st.shift_remove("timeout_secs") {
            st.insert(s("timeout"), seconds(&t));
        }
        if ty == "hybrid" {
            if let Some(d) = st.shift_remove("max_duration") {
                st.insert(s("duration"), d);
            }
            if let Some(n) = st.shift_remove("expected_tasks") {
                st.insert(s("ops"), n);
            }
        }
        match st.shift_remove("barrier") {
            Some(Value::Mapping(b)) => {
                st.insert(s("barrier"), barrier(&b));
            }
            Some(other) => {
                st.insert(s("barrier"), other);
            }
            None => {
                if let Some(bs) = barriers {
                    let phase_barrier = match bs.get(phase) {
                        Some(Value::Mapping(b)) => barrier(b),
                        _ => barrier(&Mapping::new()),
                    };
                    st.insert(s("barrier"), phase_barrier);
                }
            }
        }
        let to = format!("stages[{}]", out.len());
        moves.push((from, to));
        out.push(Value::Mapping(st));
    }
    if !out.is_empty() || !moves.is_empty() {
        rw.note("distributed.stages", "sai3-bench's `distributed.stages` are read as the top-level `stages`, in `order` (execute → `type: workload`, custom → `type: command`, `timeout_secs` → `timeout`; `completion` follows from the type)".into());
    }
    (out, moves)
}
