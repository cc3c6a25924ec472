//! sai3-bench's `prepare` block: its cleanup and timing keys, `ensure_objects` sizes and content,
//! and `directory_structure` as sai3's `tree`.

use serde_yaml::{Mapping, Number, Value};

use super::rules::size_map;
use super::{get_str, items_mut, join, s, scalar, seconds, truthy, Rewrite};

/// `prepare` (top level or a stage's): returns the value of `prepare.cleanup` for the top level.
pub(super) fn prepare(rw: &mut Rewrite, p: &mut Mapping, path: &str) -> Option<Value> {
    let cleanup = p.shift_remove("cleanup");
    match p.get("cleanup_only").and_then(Value::as_bool) {
        Some(true) => rw.refuse(
            p,
            path,
            "cleanup_only",
            "a cleanup-only run (`prepare.cleanup_only`) is not in sai3 — to delete prepared objects, run the same config with `duration: 0` and `cleanup: true` (prepare finds them present and creates nothing; cleanup deletes them)",
        ),
        _ => rw.ignore(p, path, "cleanup_only", "it is false: the run prepares and runs as usual"),
    }
    match p.get("post_prepare_delay").map(seconds) {
        Some(Value::Number(n)) if n.as_u64() == Some(0) => {
            rw.ignore(p, path, "post_prepare_delay", "it is 0: no pause after prepare");
        }
        Some(v) => {
            p.insert(s("post_prepare_delay"), v);
        }
        None => {}
    }
    rw.ignore(
        p,
        path,
        "prepare_strategy",
        "sai3 creates the objects of every `ensure_objects` entry with all its workers at once",
    );
    rw.ignore(
        p,
        path,
        "skip_verification",
        "sai3 always lists what exists (one listing per prefix) and creates only what is missing",
    );
    rw.ignore(
        p,
        path,
        "cleanup_mode",
        "sai3's cleanup deletes what the run created, counts an object already gone as a `not_found` error and never stops early",
    );
    for (i, e) in items_mut(p, "ensure_objects") {
        ensure(rw, e, &format!("{path}.ensure_objects[{i}]"));
    }
    if p.contains_key("directory_structure") {
        tree(rw, p, path);
    }
    cleanup
}

pub(super) fn ensure(rw: &mut Rewrite, e: &mut Mapping, path: &str) {
    rw.rename(e, path, "size_distribution", "size_spec");
    let (min, max) = (e.get("min_size").cloned(), e.get("max_size").cloned());
    if min.is_some() || max.is_some() {
        e.shift_remove("min_size");
        e.shift_remove("max_size");
        let key = if min.is_some() { "min_size" } else { "max_size" };
        if e.contains_key("size_spec") {
            rw.ignored(&join(path, key), "`size_spec` is given, and it wins (as in sai3-bench)");
        } else {
            const MIB: u64 = 1 << 20;
            let min = min.unwrap_or(Value::Number(Number::from(MIB)));
            let max = max.unwrap_or(Value::Number(Number::from(MIB)));
            let spec = if min == max {
                min.clone()
            } else {
                let mut u = Mapping::new();
                u.insert(s("type"), s("uniform"));
                u.insert(s("min"), min.clone());
                u.insert(s("max"), max.clone());
                Value::Mapping(u)
            };
            let text = if min == max {
                scalar(&min)
            } else {
                format!("{{type: uniform, min: {}, max: {}}}", scalar(&min), scalar(&max))
            };
            rw.note(
                &join(path, key),
                format!("sai3-bench's `min_size`/`max_size` are read as `{}: {text}` (`sai3 convert` rewrites the file in sai3's spelling)", join(path, "size_spec")),
            );
            e.insert(s("size_spec"), spec);
            rw.moved(&join(path, key), &join(path, "size_spec"));
        }
    }
    size_map(rw, e, path);
    rw.value_alias(e, path, "fill", &[("prand", "random")]);
    if !e.contains_key("base_uri") && truthy(e, "use_multi_endpoint") == Some(true) {
        e.insert(s("base_uri"), s(""));
        rw.note(
            path,
            format!(
                "sai3-bench's entry without `base_uri` is read as `{}: \"\"` (the endpoints' root)",
                join(path, "base_uri")
            ),
        );
    }
}

/// `prepare.directory_structure` → `prepare.tree`, with the first `ensure_objects` entry's place,
/// sizes and content (sai3-bench took them from there); entries that only described the tree's
/// files (`count` 0 or the tree's total) are dropped.
pub(super) fn tree(rw: &mut Rewrite, p: &mut Mapping, path: &str) {
    let from = join(path, "directory_structure");
    let to = join(path, "tree");
    if p.contains_key("tree") {
        rw.refuse(
            p,
            path,
            "directory_structure",
            "both `directory_structure` (sai3-bench's spelling) and `tree` are given — keep only `tree`",
        );
        return;
    }
    let Some(Value::Mapping(mut t)) = p.shift_remove("directory_structure") else {
        rw.refused(&from, "expected a mapping `{width, depth, files_per_dir}`");
        return;
    };
    for k in ["width", "depth", "files_per_dir"] {
        if let Some(n) = t.get(k).and_then(count) {
            t.insert(s(k), Value::Number(Number::from(n)));
        }
    }
    let dim = |k: &str| t.get(k).and_then(count).unwrap_or(0).min(u64::from(u32::MAX)) as u32;
    let total = crate::core::workload::TreeShape {
        width: dim("width"),
        depth: dim("depth"),
        files_per_dir: dim("files_per_dir"),
        all_levels: get_str(&t, "distribution").is_some_and(|x| x.eq_ignore_ascii_case("all")),
        dir_mask: None,
    }
    .files();
    let entries = items_mut(p, "ensure_objects");
    let Some((_, first)) = entries.into_iter().next() else {
        rw.refused(&from, "sai3-bench builds the tree under the first `ensure_objects` entry's `base_uri`, with its sizes — there is none; add one, or write `prepare.tree` with its own `base_uri` and `size_spec`");
        return;
    };
    for k in ["base_uri", "size_spec", "fill", "dedup_factor", "compress_factor"] {
        if let Some(v) = first.get(k) {
            t.insert(s(k), v.clone());
        }
    }
    if !t.contains_key("size_spec") {
        t.insert(s("size_spec"), Value::Number(Number::from(1u64 << 20)));
    }
    p.insert(s("tree"), Value::Mapping(t));
    rw.note(
        &from,
        format!("sai3-bench's `{from}` is read as `{to}`, with the `base_uri`, sizes and content of `{path}.ensure_objects[0]` ({total} files)"),
    );
    rw.moved(&from, &to);
    // Drop the entries that describe the tree's files.
    let mut kept = Vec::new();
    if let Some(Value::Sequence(list)) = p.shift_remove("ensure_objects") {
        for (i, e) in list.into_iter().enumerate() {
            let at = format!("{path}.ensure_objects[{i}]");
            match e.get("count").and_then(count) {
                Some(0) => rw.note(&at, format!("sai3-bench's `{at}` with `count: 0` described the tree's files: dropped")),
                Some(c) if c == total => {
                    rw.note(&at, format!("sai3-bench's `{at}` with `count: {c}` (the tree's files) described the tree: dropped"))
                }
                Some(c) => rw.refused(
                    &join(&at, "count"),
                    &format!("with a directory tree sai3-bench wanted `count` to be 0 or the tree's {total} files, not {c} — fix the count (sai3-bench refused it too)"),
                ),
                None => kept.push(e),
            }
        }
    }
    if !kept.is_empty() {
        p.insert(s("ensure_objects"), Value::Sequence(kept));
    }
}

/// A count as sai3-bench read it: a number, or a string with `,`, `_` or space separators.
fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(x) => x.replace([',', '_', ' '], "").parse().ok(),
        _ => None,
    }
}
