//! `stages:`: the run's stage list, each entry checked against the keys of its type; and the
//! implicit prepare → workload → cleanup of a config without one.

use super::*;

const STAGE_COMMON: &[&str] = &["name", "type", "optional", "timeout", "barrier"];
const STAGE_PREPARE: &[&str] = &["prepare"];
const STAGE_WORKLOAD: &[&str] = &["workload", "duration", "ops", "concurrency", "io_rate", "warmup"];
const STAGE_COMMAND: &[&str] = &["command", "args", "on"];
const STAGE_REPLAY: &[&str] = &["oplog", "target", "remap", "speed", "concurrency"];
const BARRIER_KEYS: &[&str] = &["policy", "timeout"];
const TYPES: &[(&str, u8)] =
    &[("prepare", 0), ("workload", 1), ("cleanup", 2), ("command", 3), ("verify", 4), ("replay", 5)];

fn type_keys(t: u8) -> &'static [&'static str] {
    match t {
        0 => STAGE_PREPARE,
        1 => STAGE_WORKLOAD,
        3 => STAGE_COMMAND,
        5 => STAGE_REPLAY,
        _ => &[],
    }
}

/// What the top level offers the stages: its prepare block and its op mix and duration.
pub(super) struct Defaults {
    /// The top-level `warmup`: the default of every workload stage.
    pub warmup: Duration,
    pub prepare: PreparePlan,
    pub workload: Vec<OpSpec>,
    pub duration: Duration,
    pub io_rate: Option<f64>,
    pub arrival: Arrival,
    pub cleanup: bool,
}

/// The stages of a config without `stages:`: what today's fixed sequence runs.
pub(super) fn implicit(d: &Defaults) -> Vec<StagePlan> {
    let mut out = Vec::new();
    let stage = |name: &str, kind| StagePlan {
        name: name.into(),
        kind,
        optional: false,
        timeout: None,
        barrier: BarrierPlan::default(),
    };
    if !d.prepare.ensure_objects.is_empty() || d.prepare.tree.is_some() {
        out.push(stage("prepare", StageKind::Prepare(d.prepare.clone())));
    }
    if !d.workload.is_empty() && !d.duration.is_zero() {
        let w = WorkloadStage {
            ops: d.workload.to_vec(),
            duration: Some(d.duration),
            op_limit: None,
            concurrency: None,
            io_rate: d.io_rate,
            arrival: d.arrival,
            warmup: d.warmup,
        };
        out.push(stage("workload", StageKind::Workload(w)));
    }
    if d.cleanup {
        out.push(stage("cleanup", StageKind::Cleanup));
    }
    out
}

/// A stage name is part of file names (`02_read_results.tsv`): letters, digits, `_`, `-`, `.`.
fn name_ok(n: &str) -> bool {
    !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

pub(super) fn stages(ctx: &mut Ctx, v: &Value, d: &Defaults, uses: &mut PathUse) -> Vec<StagePlan> {
    let items = ctx.seq(Some(v), "stages", "stages (`- name: read`, `type: workload`)");
    if items.is_empty() && ctx.errors.is_empty() {
        ctx.err(
            "stages",
            "is empty — list at least one stage, or remove `stages:` for the implicit prepare, workload, cleanup",
        );
    }
    let mut out: Vec<StagePlan> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("stages[{i}]");
        if let Some(s) = stage(ctx, item, &path, d, uses) {
            if let Some(j) = out.iter().position(|o| o.name == s.name) {
                ctx.err(
                    &format!("{path}.name"),
                    format!("`{}` is already the name of stages[{j}] — stage names must be unique", s.name),
                );
            }
            if s.kind == StageKind::Verify && !out.iter().any(|o| matches!(o.kind, StageKind::Prepare(_))) {
                ctx.err(
                    &format!("{path}.type"),
                    "a `verify` stage reads what the `prepare` stages before it wrote — add a prepare stage before it",
                );
            }
            out.push(s);
        }
    }
    if d.cleanup && !out.iter().any(|s| s.kind == StageKind::Cleanup) {
        let name =
            if out.iter().any(|s| s.name == "cleanup") { "cleanup-end".to_string() } else { "cleanup".to_string() };
        out.push(StagePlan {
            name,
            kind: StageKind::Cleanup,
            optional: false,
            timeout: None,
            barrier: BarrierPlan::default(),
        });
    }
    out
}

fn stage(ctx: &mut Ctx, v: &Value, path: &str, d: &Defaults, uses: &mut PathUse) -> Option<StagePlan> {
    // The type decides which keys are allowed, so read it before checking the keys.
    let ty = match v {
        Value::Mapping(m) => match m.get("type") {
            Some(t) => ctx.choice(Some(t), &join(path, "type"), TYPES),
            None => {
                ctx.err(path, "`type:` is missing — one of prepare, workload, verify, cleanup, command, replay");
                None
            }
        },
        _ => None,
    };
    let mut allowed: Vec<&str> = STAGE_COMMON.to_vec();
    match ty {
        Some(t) => allowed.extend_from_slice(type_keys(t)),
        // Unknown type: accept every stage key so that only the type is reported.
        None => {
            for t in [0, 1, 3, 5] {
                allowed.extend_from_slice(type_keys(t));
            }
        }
    }
    if let (Some(t), Value::Mapping(m)) = (ty, v) {
        for k in m.keys().filter_map(|k| k.as_str()) {
            if allowed.contains(&k) {
                continue;
            }
            let owner = [0u8, 1, 3, 5].into_iter().find(|o| type_keys(*o).contains(&k));
            if let Some(o) = owner {
                let tn = TYPES.iter().find(|x| x.1 == o).map(|x| x.0).unwrap_or("");
                let this = TYPES.iter().find(|x| x.1 == t).map(|x| x.0).unwrap_or("");
                ctx.err(
                    &join(path, k),
                    format!("`{k}` belongs to a `{tn}` stage, not to a `{this}` stage — remove it or change `type`"),
                );
                allowed.push(k);
            }
        }
    }
    let o = ctx.obj(v, path, &allowed, "a stage (`{name, type}`)")?;
    let name = ctx.name(o.get("name"), &o.at("name"));
    if !o.has("name") {
        ctx.err(path, "`name:` is missing — every stage has a unique name (it names its result files)");
    }
    if let Some(n) = &name {
        if !name_ok(n) {
            ctx.err(
                &o.at("name"),
                format!("`{n}` can't name files — use letters, digits, `_`, `-` and `.` (at most 64)"),
            );
        }
    }
    let optional = ctx.boolean(o.get("optional"), &o.at("optional")).unwrap_or(false);
    let timeout = match ctx.duration(o.get("timeout"), &o.at("timeout")) {
        Some(t) if t.is_zero() => {
            ctx.err(&o.at("timeout"), "must be longer than 0 — leave it out for no timeout");
            None
        }
        t => t,
    };
    let barrier = barrier(ctx, o.get("barrier"), &o.at("barrier"));
    let kind = match ty? {
        0 => StageKind::Prepare(match o.get("prepare") {
            Some(pv) => prepare_block(ctx, pv, &o.at("prepare"), uses),
            None => {
                if d.prepare.ensure_objects.is_empty() && d.prepare.tree.is_none() {
                    ctx.err(path, "a `prepare` stage needs a `prepare:` block here or at the top level");
                }
                d.prepare.clone()
            }
        }),
        1 => StageKind::Workload(workload_stage(ctx, &o, path, d, uses)?),
        2 => StageKind::Cleanup,
        4 => StageKind::Verify,
        5 => StageKind::Replay(replay_stage(ctx, &o, path)?),
        _ => StageKind::Command(command_stage(ctx, &o, path)?),
    };
    Some(StagePlan { name: name?, kind, optional, timeout, barrier })
}

fn barrier(ctx: &mut Ctx, v: Option<&Value>, path: &str) -> BarrierPlan {
    let mut b = BarrierPlan::default();
    let Some(v) = v else { return b };
    let Some(o) = ctx.obj(v, path, BARRIER_KEYS, "`{policy, timeout}`") else { return b };
    let policies = [
        ("all", BarrierPolicy::All),
        ("majority", BarrierPolicy::Majority),
        ("best_effort", BarrierPolicy::BestEffort),
    ];
    if let Some(p) = ctx.choice(o.get("policy"), &o.at("policy"), &policies) {
        b.policy = p;
    }
    match ctx.duration(o.get("timeout"), &o.at("timeout")) {
        Some(t) if t.is_zero() => ctx.err(&o.at("timeout"), "must be longer than 0"),
        Some(t) => b.timeout = t,
        None => {}
    }
    b
}

fn workload_stage(ctx: &mut Ctx, o: &Obj, path: &str, d: &Defaults, uses: &mut PathUse) -> Option<WorkloadStage> {
    let ops = if o.has("workload") {
        let wpath = o.at("workload");
        let items = ctx.seq(o.get("workload"), &wpath, "operations (`- op: get`)");
        if items.is_empty() {
            ctx.err(
                &wpath,
                "is empty — list the operations of this stage, or leave `workload` out to use the top-level mix",
            );
        }
        let mut ops = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            if let Some(op) = op_entry(ctx, item, &format!("{wpath}[{i}]"), uses) {
                ops.push(op);
            }
        }
        ops
    } else {
        if d.workload.is_empty() {
            ctx.err(path, "a `workload` stage needs a `workload:` list here or at the top level");
        }
        d.workload.to_vec()
    };
    let op_limit = ctx.uint(o.get("ops"), &o.at("ops"), 1);
    let duration = match ctx.duration(o.get("duration"), &o.at("duration")) {
        Some(t) if t.is_zero() => {
            ctx.err(&o.at("duration"), "must be longer than 0 — a stage that should not run can be left out");
            None
        }
        Some(t) => Some(t),
        None if op_limit.is_some() => None,
        None => Some(d.duration).filter(|t| !t.is_zero()),
    };
    if duration.is_none() && op_limit.is_none() && !o.has("duration") {
        ctx.err(path, "a `workload` stage needs `duration:` or `ops:` (the top-level duration is 0)");
    }
    let concurrency = if o.has("concurrency") {
        ctx.uint(o.get("concurrency"), &o.at("concurrency"), 1).map(|c| c.min(1 << 20) as usize)
    } else {
        None
    };
    let (io_rate, arrival) = match o.get("io_rate") {
        None => (d.io_rate, d.arrival),
        Some(v) => match ctx.rate(v, &o.at("io_rate")) {
            Some((r, a)) => (Some(r), a),
            None => (None, Arrival::Fixed),
        },
    };
    let warmup = ctx.duration(o.get("warmup"), &o.at("warmup")).unwrap_or(d.warmup);
    if let Some(t) = duration {
        if !warmup.is_zero() && warmup >= t {
            ctx.err(
                &o.at("warmup"),
                format!("{warmup:?} is not shorter than the stage's duration ({t:?}) — the warmup is the first part of the stage"),
            );
        }
    }
    Some(WorkloadStage { ops, duration, op_limit, concurrency, io_rate, arrival, warmup })
}

fn command_stage(ctx: &mut Ctx, o: &Obj, path: &str) -> Option<CommandStage> {
    if !o.has("command") {
        ctx.err(path, "a `command` stage needs `command:` (the program to run)");
    }
    let command = ctx.string(o.get("command"), &o.at("command"));
    if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        ctx.err(&o.at("command"), "is empty — name the program to run");
    }
    let apath = o.at("args");
    let mut args = Vec::new();
    for (i, a) in ctx.seq(o.get("args"), &apath, "arguments").into_iter().enumerate() {
        if let Some(s) = ctx.name(Some(a), &format!("{apath}[{i}]")) {
            args.push(s);
        }
    }
    let on_controller = match o.get("on") {
        None => false,
        Some(v) => ctx.choice(Some(v), &o.at("on"), &[("agents", false), ("controller", true)]).unwrap_or(false),
    };
    Some(CommandStage { command: command?, args, on_controller })
}

fn replay_stage(ctx: &mut Ctx, o: &Obj, path: &str) -> Option<ReplayStage> {
    if !o.has("oplog") {
        ctx.err(path, "a `replay` stage needs `oplog:` (the op-log file to replay)");
    }
    let oplog = ctx.string(o.get("oplog"), &o.at("oplog"));
    let target =
        ctx.string(o.get("target"), &o.at("target")).map(|t| if t.ends_with('/') { t } else { format!("{t}/") });
    if let Some(t) = &target {
        if let Err(e) = crate::core::store::parse_location(t) {
            ctx.err(&o.at("target"), format!("{e}"));
        }
    }
    let rpath = o.at("remap");
    let mut remap = Vec::new();
    for (i, r) in ctx.seq(o.get("remap"), &rpath, "`old=new` URI prefixes").into_iter().enumerate() {
        let at = format!("{rpath}[{i}]");
        if let Some(text) = ctx.string(Some(r), &at) {
            match crate::core::oplog::Remap::parse(&text) {
                Ok(m) => remap.push(m),
                Err(e) => ctx.err(&at, e),
            }
        }
    }
    let speed = match ctx.number(o.get("speed"), &o.at("speed")) {
        Some(s) if s > 0.0 && s.is_finite() => s,
        Some(s) => {
            ctx.err(
                &o.at("speed"),
                format!("`{s}` — the speed divides the recorded times: write e.g. 2 for twice as fast"),
            );
            1.0
        }
        None => 1.0,
    };
    let concurrency = if o.has("concurrency") {
        ctx.uint(o.get("concurrency"), &o.at("concurrency"), 1).map(|c| c.min(1 << 20) as usize)
    } else {
        None
    };
    Some(ReplayStage { oplog: oplog?, target, remap, speed, concurrency })
}

/// A `prepare:` block (top level or a stage's own).
pub(super) fn prepare_block(ctx: &mut Ctx, pv: &Value, path: &str, uses: &mut PathUse) -> PreparePlan {
    let mut out = PreparePlan::default();
    let Some(p) = ctx.obj(pv, path, PREPARE_KEYS, "`prepare`") else { return out };
    let epath = p.at("ensure_objects");
    let items = ctx.seq(p.get("ensure_objects"), &epath, "`{base_uri, count, size_spec}` entries");
    for (i, item) in items.into_iter().enumerate() {
        if let Some(e) = ensure_entry(ctx, item, &format!("{epath}[{i}]"), uses) {
            out.ensure_objects.push(e);
        }
    }
    if let Some(tv) = p.get("tree") {
        out.tree = tree_entry(ctx, tv, &p.at("tree"), uses);
    }
    out.force_overwrite = ctx.boolean(p.get("force_overwrite"), &p.at("force_overwrite")).unwrap_or(false);
    out.post_delay = ctx.duration(p.get("post_prepare_delay"), &p.at("post_prepare_delay")).unwrap_or(Duration::ZERO);
    out
}
