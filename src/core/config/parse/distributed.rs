//! The `distributed` section: placement modes, agents, their addresses, SSH and TLS.

use super::*;

pub(super) fn distributed(ctx: &mut Ctx, v: &Value) -> Option<DistributedPlan> {
    let o = ctx.obj(v, "distributed", DIST_KEYS, "`distributed`")?;
    let mut d = DistributedPlan {
        agents: Vec::new(),
        shared_filesystem: ctx.boolean(o.get("shared_filesystem"), &o.at("shared_filesystem")).unwrap_or(true),
        tree_creation_mode: ctx
            .choice(
                o.get("tree_creation_mode"),
                &o.at("tree_creation_mode"),
                &[
                    ("coordinator", TreeCreationMode::Coordinator),
                    ("agent", TreeCreationMode::Agent),
                    ("controller", TreeCreationMode::Controller),
                ],
            )
            .unwrap_or(TreeCreationMode::Coordinator),
        path_selection: ctx
            .choice(
                o.get("path_selection"),
                &o.at("path_selection"),
                &[
                    ("random", PathSelection::Random),
                    ("distributed", PathSelection::Distributed),
                    ("partitioned", PathSelection::Partitioned),
                ],
            )
            .unwrap_or(PathSelection::Random),
        start_delay: Duration::from_secs(2),
        ssh: None,
        tls: None,
        token_file: None,
        agents_from: None,
        ready_timeout: DEFAULT_READY_TIMEOUT,
        path_template: DEFAULT_PATH_TEMPLATE.to_string(),
        partition_overlap: DEFAULT_PARTITION_OVERLAP,
    };
    if let Some(x) = ctx.number(o.get("partition_overlap"), &o.at("partition_overlap")) {
        if !(0.0..=1.0).contains(&x) {
            ctx.err(
                &o.at("partition_overlap"),
                format!("`{x}` is not a fraction — give 0 to 1, e.g. 0.3 for 30 % of picks from any agent's objects"),
            );
        } else if d.path_selection != PathSelection::Partitioned {
            ctx.err(
                &o.at("partition_overlap"),
                "applies only to `path_selection: partitioned` — remove it or change `path_selection`",
            );
        } else {
            d.partition_overlap = x;
        }
    }
    match ctx.duration(o.get("agent_ready_timeout"), &o.at("agent_ready_timeout")) {
        Some(t) if t.is_zero() => ctx.err(&o.at("agent_ready_timeout"), "must be longer than 0"),
        Some(t) => d.ready_timeout = t,
        None => {}
    }
    if let Some(t) = ctx.string(o.get("path_template"), &o.at("path_template")) {
        let sample = t.replace("{id}", "agent-1");
        if !t.contains("{id}") {
            ctx.err(
                &o.at("path_template"),
                format!("`{t}` has no `{{id}}` — every agent needs its own prefix, e.g. `agent-{{id}}/`"),
            );
        } else if t.starts_with('/') || t.contains("://") || sample.split('/').any(|c| c == "..") {
            ctx.err(
                &o.at("path_template"),
                format!("`{t}` must be a relative prefix under the target, e.g. `agent-{{id}}/`"),
            );
        } else {
            d.path_template = t;
        }
    }
    if o.has("start_delay") {
        d.start_delay = ctx.duration(o.get("start_delay"), &o.at("start_delay")).unwrap_or(d.start_delay);
    }
    if let Some(sv) = o.get("ssh") {
        if let Some(s) = ctx.obj(sv, "distributed.ssh", SSH_KEYS, "`ssh`") {
            let port = if s.has("port") { ctx.uint(s.get("port"), &s.at("port"), 1) } else { Some(22) };
            if port.is_some_and(|p| p > 65535) {
                ctx.err(&s.at("port"), "is not a TCP port (1–65535)");
            }
            d.ssh = Some(SshPlan {
                enabled: ctx.boolean(s.get("enabled"), &s.at("enabled")).unwrap_or(true),
                user: ctx.name(s.get("user"), &s.at("user")),
                key_path: ctx.string(s.get("key_path"), &s.at("key_path")).map(PathBuf::from),
                port: port.unwrap_or(22).min(65535) as u16,
            });
        }
    }
    if let Some(tv) = o.get("tls") {
        if let Some(t) = ctx.obj(tv, "distributed.tls", TLS_KEYS, "`tls`") {
            let tls = TlsPlan {
                ca: ctx.string(t.get("ca"), &t.at("ca")).map(PathBuf::from),
                cert: ctx.string(t.get("cert"), &t.at("cert")).map(PathBuf::from),
                key: ctx.string(t.get("key"), &t.at("key")).map(PathBuf::from),
            };
            if tls.cert.is_some() != tls.key.is_some() {
                ctx.err("distributed.tls", "`cert` and `key` go together — give both or neither");
            }
            if tls.ca.is_none() && tls.cert.is_none() {
                ctx.err("distributed.tls", "give at least `ca:` (to verify the agents) — see docs/DISTRIBUTED.md");
            }
            d.tls = Some(tls);
        }
    }
    d.token_file = ctx.string(o.get("token_file"), &o.at("token_file")).map(PathBuf::from);

    if let Some(v) = o.get("agents_from") {
        d.agents_from = agents_from(ctx, v);
        if o.has("agents") {
            ctx.err(
                "distributed.agents_from",
                "give either `agents:` (a list) or `agents_from:` (a DNS name with one address per agent), not both",
            );
        }
        if d.ssh.as_ref().is_some_and(|s| s.enabled) {
            ctx.err(
                "distributed.agents_from",
                "SSH deployment starts agents on listed hosts — list them under `agents:`, or start the agents yourself (as a Kubernetes StatefulSet does) and keep `agents_from`",
            );
        }
        return Some(d);
    }
    let items = ctx.seq(o.get("agents"), "distributed.agents", "agents (`- address: host:7761`)");
    if items.is_empty() && !ctx.errors.iter().any(|e| e.path == "distributed.agents") {
        ctx.err("distributed", "no agents — list them under `agents:` (`- address: \"host1:7761\"`), or remove `distributed:` to run locally");
    }
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("distributed.agents[{i}]");
        let Some(a) = ctx.obj(item, &path, AGENT_KEYS, "an agent (`{address, id}`)") else {
            if item.is_null() {
                ctx.err(&path, "empty agent entry — give `address:`");
            }
            continue;
        };
        let address = match ctx.name(a.get("address"), &a.at("address")) {
            Some(s) => agent_address(ctx, &s, &a.at("address")),
            None => {
                if !a.has("address") {
                    ctx.err(&path, "`address:` is missing — `host:port` of the agent (port 7761 by default)");
                }
                None
            }
        };
        let id = match ctx.name(a.get("id"), &a.at("id")) {
            Some(id) => {
                if !id_ok(&id) {
                    ctx.err(
                        &a.at("id"),
                        format!("`{id}` cannot name a results folder — use letters, digits, `-`, `_` and `.`"),
                    );
                }
                id
            }
            None => format!("agent-{i}"),
        };
        let concurrency_override = a
            .get("concurrency_override")
            .and_then(|v| ctx.uint(Some(v), &a.at("concurrency_override"), 1))
            .map(|c| c as usize);
        let multi_endpoint = a.get("multi_endpoint").and_then(|v| ctx.endpoint_block(v, &a.at("multi_endpoint")));
        if let Some(address) = address {
            d.agents.push(AgentSpec { address, id, concurrency_override, multi_endpoint });
        }
    }
    check_agent_uniqueness(ctx, &d.agents);
    Some(d)
}

fn check_agent_uniqueness(ctx: &mut Ctx, agents: &[AgentSpec]) {
    for (i, a) in agents.iter().enumerate() {
        if let Some(j) = agents[..i].iter().position(|b| b.id == a.id) {
            ctx.err(
                &format!("distributed.agents[{i}].id"),
                format!("`{}` is already the id of agents[{j}] — ids must be unique", a.id),
            );
        }
        if let Some(j) = agents[..i].iter().position(|b| b.address == a.address) {
            ctx.err(
                &format!("distributed.agents[{i}].address"),
                format!("`{}` is already the address of agents[{j}] — run a second agent on another port", a.address),
            );
        }
    }
}

/// `host:port`, `host` (port 7761 added), `[v6]:port`.
/// An agent id names a results folder: letters, digits, `-`, `_`, `.`, not starting with `.`.
pub fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.')
}

/// `agents_from: {dns, port, count}`.
fn agents_from(ctx: &mut Ctx, v: &Value) -> Option<AgentsFrom> {
    let path = "distributed.agents_from";
    let o = ctx.obj(v, path, AGENTS_FROM_KEYS, "`{dns, port, count}`")?;
    if !o.has("dns") {
        ctx.err(
            path,
            "`dns:` is missing — the name with one address per agent, e.g. `sai3-agents.bench.svc.cluster.local`",
        );
    }
    let dns = ctx.name(o.get("dns"), &o.at("dns"));
    if let Some(n) = &dns {
        if n.is_empty() || n.contains([':', '/', ' ']) {
            ctx.err(&o.at("dns"), format!("`{n}` is not a host name — give the name only; the port goes in `port:`"));
        }
    }
    let port = if o.has("port") { ctx.uint(o.get("port"), &o.at("port"), 1) } else { Some(DEFAULT_AGENT_PORT as u64) };
    if port.is_some_and(|p| p > 65535) {
        ctx.err(&o.at("port"), "is not a TCP port (1–65535)");
    }
    let count = ctx.uint(o.get("count"), &o.at("count"), 1).map(|c| c as usize);
    Some(AgentsFrom { dns: dns?, port: port?.min(65535) as u16, count })
}

pub fn agent_address(ctx: &mut Ctx, s: &str, path: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://")).unwrap_or(s);
    if s.is_empty() || s.contains('/') || s.contains(char::is_whitespace) {
        ctx.err(path, format!("`{s}` is not an agent address — write `host:port` (e.g. `10.0.0.5:7761`)"));
        return None;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (format!("[{h}]"), None),
            Some((h, p)) if p.starts_with(':') => (format!("[{h}]"), Some(&p[1..])),
            _ => {
                ctx.err(path, format!("`{s}` is not an agent address — write `[v6addr]:port`"));
                return None;
            }
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
            Some(_) => {
                ctx.err(path, format!("`{s}`: write IPv6 addresses as `[addr]:port`"));
                return None;
            }
            None => (s.to_string(), None),
        }
    };
    let port = match port {
        None => DEFAULT_AGENT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                ctx.err(path, format!("`{p}` in `{s}` is not a TCP port (1–65535)"));
                return None;
            }
        },
    };
    if host.is_empty() {
        ctx.err(path, format!("`{s}` has no host"));
        return None;
    }
    Some(format!("{host}:{port}"))
}
