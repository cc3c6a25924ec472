//! The entries of `prepare` (ensure_objects, tree) and of `workload`, and the bookkeeping of
//! which paths need a `target` or the endpoints.

use super::*;

pub(super) fn ensure_entry(ctx: &mut Ctx, v: &Value, path: &str, uses: &mut PathUse) -> Option<EnsureObjects> {
    let o = ctx.obj(v, path, &with_data(ENSURE_KEYS), "an ensure_objects entry")?;
    for k in ["base_uri", "count", "size_spec"] {
        if !o.has(k) {
            ctx.err(path, format!("`{k}:` is missing"));
        }
    }
    let base_uri = ctx.base(o.get("base_uri"), &o.at("base_uri"));
    let count = ctx.uint(o.get("count"), &o.at("count"), 0);
    let size = o.get("size_spec").and_then(|s| ctx.size_spec(s, &o.at("size_spec")));
    let data = ctx.data(&o);
    let use_me = ctx.boolean(o.get("use_multi_endpoint"), &o.at("use_multi_endpoint")).unwrap_or(true);
    let base_uri = base_uri?;
    note_path(uses, &base_uri, &o.at("base_uri"), use_me, &o.at("use_multi_endpoint"));
    let shards = shards(ctx, &o);
    Some(EnsureObjects {
        base_uri,
        count: count?,
        size: size?,
        data,
        use_multi_endpoint: use_me,
        key_prefix_shards: shards,
    })
}

pub(super) fn tree_entry(ctx: &mut Ctx, v: &Value, path: &str, uses: &mut PathUse) -> Option<TreeSpec> {
    let o = ctx.obj(v, path, &with_data(TREE_KEYS), "`prepare.tree`")?;
    for k in ["base_uri", "width", "depth", "files_per_dir", "size_spec"] {
        if !o.has(k) {
            ctx.err(path, format!("`{k}:` is missing"));
        }
    }
    let base_uri = ctx.base(o.get("base_uri"), &o.at("base_uri"));
    let width = ctx.uint(o.get("width"), &o.at("width"), 1);
    let depth = ctx.uint(o.get("depth"), &o.at("depth"), 1);
    let files = ctx.uint(o.get("files_per_dir"), &o.at("files_per_dir"), 1);
    let size = o.get("size_spec").and_then(|s| ctx.size_spec(s, &o.at("size_spec")));
    let data = ctx.data(&o);
    let all_levels =
        ctx.choice(o.get("distribution"), &o.at("distribution"), &[("bottom", false), ("all", true)]).unwrap_or(false);
    let dir_mask = ctx.string(o.get("dir_mask"), &o.at("dir_mask"));
    if let Some(m) = &dir_mask {
        let n = m.matches("%d").count();
        if n != 2 || m.contains('/') || m.contains('*') || m.trim().is_empty() {
            ctx.err(&o.at("dir_mask"), format!("`{m}` is not a directory name pattern — give one name with two `%d` (level, then the child's number), e.g. `d%d_w%d.dir`"));
        }
    }
    let (base_uri, width, depth, files, size) = (base_uri?, width?, depth?, files?, size?);
    let dirs_with_files = if all_levels {
        (1..=depth).map(|l| (width as f64).powf(l as f64)).sum::<f64>()
    } else {
        (width as f64).powf(depth as f64)
    };
    if dirs_with_files * files as f64 > 1e9 || width > u32::MAX as u64 || depth > 64 || files > u32::MAX as u64 {
        ctx.err(
            path,
            format!(
                "{width}^{depth} directories × {files} files is more than 1,000,000,000 files — make the tree smaller"
            ),
        );
        return None;
    }
    note_path(uses, &base_uri, &o.at("base_uri"), true, "");
    Some(TreeSpec {
        base_uri,
        width: width as u32,
        depth: depth as u32,
        files_per_dir: files as u32,
        size,
        data,
        all_levels,
        dir_mask,
    })
}

/// `key_prefix_shards`: 1 (none) to 65,536 hashed prefixes.
fn shards(ctx: &mut Ctx, o: &Obj) -> u32 {
    match ctx.uint(o.get("key_prefix_shards"), &o.at("key_prefix_shards"), 1) {
        Some(n) if n > 65_536 => {
            ctx.err(
                &o.at("key_prefix_shards"),
                format!("{n} is more than 65536 prefixes — 256 or 4096 spread load as well"),
            );
            1
        }
        Some(n) => n as u32,
        None => 1,
    }
}

fn note_path(uses: &mut PathUse, p: &str, yaml_path: &str, use_me: bool, opt_path: &str) {
    if p.contains("://") {
        return;
    }
    if !use_me {
        uses.opt_out.push(opt_path.to_string());
    } else if uses.first_relative.is_none() {
        uses.first_relative = Some((yaml_path.to_string(), p.to_string()));
    }
}

pub(super) fn op_entry(ctx: &mut Ctx, v: &Value, path: &str, uses: &mut PathUse) -> Option<OpSpec> {
    let o = ctx.obj(v, path, &with_data(OP_KEYS), "an operation (`{op, path, weight}`)")?;
    if !o.has("op") {
        ctx.err(path, "`op:` is missing — one of get, put, list, stat, delete, mkdir, rmdir");
    }
    let from_written = match o.get("from") {
        None => false,
        Some(Value::String(s)) if s == "written" => true,
        Some(Value::String(s)) if s == "listed" => false,
        Some(_) => {
            ctx.err(
                &o.at("from"),
                "must be `listed` (objects that exist when the stage starts) or `written` (objects this run's PUTs wrote)",
            );
            false
        }
    };
    if !o.has("path") && !from_written {
        ctx.err(path, "`path:` is missing — the object, pattern or prefix this operation works on");
    }
    let op = o.get("op").and_then(|v| {
        let s = ctx.string(Some(v), &o.at("op"))?;
        let op = OpKind::parse(&s);
        if op.is_none() {
            let names = ["get", "put", "list", "stat", "delete", "mkdir", "rmdir"];
            ctx.err(&o.at("op"), format!("`{s}` is not an operation{}", hint(&s, &names, "use one of")));
        }
        op
    });
    let mut p =
        if o.has("path") || !from_written { ctx.string(o.get("path"), &o.at("path")) } else { Some(String::new()) };
    let weight = if o.has("weight") { ctx.uint(o.get("weight"), &o.at("weight"), 1) } else { Some(1) };
    if weight.is_some_and(|w| w > u32::MAX as u64) {
        ctx.err(&o.at("weight"), "is too large — weights are relative, use smaller numbers");
    }
    let use_me = ctx.boolean(o.get("use_multi_endpoint"), &o.at("use_multi_endpoint")).unwrap_or(true);
    let size = match (o.get("object_size"), o.get("size_spec")) {
        (Some(_), Some(_)) => {
            ctx.err(&o.at("size_spec"), "give either `object_size` or `size_spec`, not both");
            None
        }
        (Some(s), None) => ctx.size(Some(s), &o.at("object_size")).map(SizeSpec::Fixed),
        (None, Some(s)) => ctx.size_spec(s, &o.at("size_spec")),
        (None, None) => None,
    };
    let op = op?;
    let size_key = if o.has("object_size") { "object_size" } else { "size_spec" };
    if op == OpKind::Put {
        if !o.has("object_size") && !o.has("size_spec") {
            ctx.err(path, "a `put` needs `object_size:` (e.g. `1MB`) or `size_spec:`");
        }
    } else if o.has(size_key) {
        ctx.err(
            &o.at(size_key),
            format!("only `put` takes a size; remove `{size_key}` from this `{}`", op.config_name()),
        );
    }
    if let Some(ps) = &mut p {
        if ps.starts_with('/') {
            ctx.err(
                &o.at("path"),
                format!(
                    "`{ps}` starts with `/` — paths are relative to the target (`{}`) or full URIs",
                    ps.trim_start_matches('/')
                ),
            );
        } else if let Some((scheme, _)) = ps.split_once("://") {
            if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
                ctx.err(
                    &o.at("path"),
                    format!("`{ps}` has an unknown scheme `{scheme}://`{}", hint(scheme, SCHEMES, "use one of")),
                );
            }
        }
        match op {
            OpKind::Put if ps.contains('*') && !ps.ends_with('/') => {
                ctx.err(
                    &o.at("path"),
                    format!("`{ps}`: a put path has `*` only in a directory pattern ending in `/` (`tree/*/`: new files in every directory of a tree) — use `{{}}` for generated names"),
                );
            }
            OpKind::Get | OpKind::Stat | OpKind::Delete | OpKind::Rmdir if ps.ends_with('/') => ps.push('*'),
            OpKind::Get | OpKind::Stat | OpKind::Delete | OpKind::Rmdir if ps.is_empty() && !from_written => {
                ps.push('*')
            }
            OpKind::Mkdir if !ps.is_empty() && !ps.ends_with('/') && !ps.contains('*') => ps.push('/'),
            _ => {}
        }
        if !ps.is_empty() {
            note_path(uses, ps, &o.at("path"), use_me, &o.at("use_multi_endpoint"));
        }
    }
    let key_prefix_shards = shards(ctx, &o);
    if o.has("key_prefix_shards") && op != OpKind::Put {
        ctx.err(
            &o.at("key_prefix_shards"),
            format!(
                "only `put` names new objects; a `{}` finds sharded objects through its pattern (`data/*`)",
                op.config_name()
            ),
        );
    }
    let data = ctx.data(&o);
    if op != OpKind::Put {
        if let Some(k) = DATA_KEYS.iter().find(|k| o.has(k)) {
            let hint = if op == OpKind::Get { " — a `get` checks content with `verify: true`" } else { "" };
            ctx.err(&o.at(k), format!("only `put` writes data; remove `{k}` from this `{}`{hint}", op.config_name()));
        }
    }
    let verify = ctx.boolean(o.get("verify"), &o.at("verify")).unwrap_or(false);
    if o.has("verify") && op != OpKind::Get {
        ctx.err(
            &o.at("verify"),
            format!("only `get` reads content to verify; remove `verify` from this `{}`", op.config_name()),
        );
    }
    let range = o.get("range").and_then(|v| range(ctx, v, &o.at("range")));
    if o.has("range") && op != OpKind::Get {
        ctx.err(&o.at("range"), format!("only `get` reads a range; remove `range` from this `{}`", op.config_name()));
    }
    let parts = parts(ctx, &o, op);
    if o.has("from") && !matches!(op, OpKind::Get | OpKind::Stat | OpKind::Delete | OpKind::Rmdir) {
        ctx.err(
            &o.at("from"),
            format!(
                "only `get`, `stat`, `delete` and `rmdir` pick existing objects; remove `from` from this `{}`",
                op.config_name()
            ),
        );
    }
    let recursive = ctx.boolean(o.get("recursive"), &o.at("recursive")).unwrap_or(false);
    if o.has("recursive") && op != OpKind::Rmdir {
        ctx.err(
            &o.at("recursive"),
            format!("only `rmdir` removes directories; remove `recursive` from this `{}`", op.config_name()),
        );
    }
    let concurrency = match ctx.uint(o.get("concurrency"), &o.at("concurrency"), 1) {
        Some(k) if k > 100_000 => {
            ctx.err(&o.at("concurrency"), format!("{k} workers for one op is more than 100000 — use fewer"));
            None
        }
        k => k.map(|k| k as usize),
    };
    Some(OpSpec {
        op,
        concurrency,
        path: p?,
        weight: weight?.min(u32::MAX as u64) as u32,
        size: if op == OpKind::Put { size } else { None },
        use_multi_endpoint: use_me,
        key_prefix_shards,
        data,
        verify,
        range: if op == OpKind::Get { range } else { None },
        parts,
        from_written,
        recursive: recursive && op == OpKind::Rmdir,
    })
}

/// Default `parts_in_flight` when only `part_size` is given.
const DEFAULT_PARTS_IN_FLIGHT: u64 = 8;

/// `part_size` + `parts_in_flight` of a GET.
fn parts(ctx: &mut Ctx, o: &Obj, op: OpKind) -> Option<PartSpec> {
    if !o.has("part_size") && !o.has("parts_in_flight") {
        return None;
    }
    if op != OpKind::Get {
        let k = if o.has("part_size") { "part_size" } else { "parts_in_flight" };
        ctx.err(&o.at(k), format!("only `get` reads in parts; remove `{k}` from this `{}`", op.config_name()));
        return None;
    }
    if !o.has("part_size") {
        ctx.err(
            &o.at("parts_in_flight"),
            "needs `part_size:` — the bytes each ranged read of the object covers, e.g. `8MiB`",
        );
        return None;
    }
    if o.has("range") {
        ctx.err(
            &o.at("part_size"),
            "give either `range` (read part of the object) or `part_size` (read all of it in parallel parts), not both",
        );
    }
    let size = ctx.size(o.get("part_size"), &o.at("part_size"));
    if size == Some(0) {
        ctx.err(&o.at("part_size"), "is 0 — give the bytes of each part, e.g. `8MiB`");
    }
    let in_flight = if o.has("parts_in_flight") {
        ctx.uint(o.get("parts_in_flight"), &o.at("parts_in_flight"), 1)
    } else {
        Some(DEFAULT_PARTS_IN_FLIGHT)
    };
    if in_flight.is_some_and(|n| n > 1024) {
        ctx.err(&o.at("parts_in_flight"), "is more than 1024 parts at a time for one GET — use fewer");
    }
    Some(PartSpec { size: size.filter(|&s| s > 0)?, in_flight: in_flight?.min(1024) as usize })
}

/// `range: {length, offset: 0 | random | <size>, align}` of a GET.
fn range(ctx: &mut Ctx, v: &Value, path: &str) -> Option<RangeSpec> {
    let o = ctx.obj(v, path, RANGE_KEYS, "`{length, offset, align}`")?;
    if !o.has("length") {
        ctx.err(path, "`length:` is missing — how many bytes each GET reads, e.g. `1MiB`");
    }
    let length = ctx.size(o.get("length"), &o.at("length"));
    if length == Some(0) {
        ctx.err(&o.at("length"), "is 0 — give the bytes each GET reads, e.g. `1MiB`");
    }
    let align = match ctx.size(o.get("align"), &o.at("align")) {
        Some(0) => {
            ctx.err(
                &o.at("align"),
                "is 0 — give the alignment of random offsets in bytes, e.g. `4KiB` (or 1 for none)",
            );
            None
        }
        Some(a) => Some(a),
        None => Some(4096),
    };
    if o.has("align") && o.get("offset").and_then(|v| v.as_str()) != Some("random") {
        ctx.err(&o.at("align"), "only applies to `offset: random`; remove it or set `offset: random`");
    }
    let offset = match o.get("offset") {
        None => Some(RangeOffset::Fixed(0)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("random") => align.map(|align| RangeOffset::Random { align }),
        Some(v) => ctx.size(Some(v), &o.at("offset")).map(RangeOffset::Fixed),
    };
    let length = length.filter(|&l| l > 0)?;
    Some(RangeSpec { length, offset: offset? })
}
