//! The original sai3-bench's config dialect: before the walk, its keys are rewritten in place into
//! sai3's own spelling (each rewrite a one-line notice naming the sai3 key), its storage-library
//! and transport tuning knobs are dropped with a warning that says why, and its features that sai3
//! does not have are refused with a message naming what to use instead. `sai3 convert` writes the
//! rewritten document out. Owns no validation: the walk (`parse`) checks what comes out.
//!
//! The rules themselves are in `rules.rs`; this file is the machinery they use.

mod distributed;
mod prepare;
mod rules;

use serde_yaml::{Mapping, Number, Value};

/// What became of one key of the original dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Read as the sai3 key the message names (a notice).
    Alias,
    /// Accepted and ignored (a warning that says why).
    Ignored,
    /// Refused (an error naming the feature and what to use instead).
    Refused,
}

/// One rewrite, at the YAML path of the key as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub kind: Kind,
    pub message: String,
}

/// Everything the rewrite did to a document.
#[derive(Debug, Default)]
pub struct Rewrite {
    pub findings: Vec<Finding>,
    /// (path as written, path after the rewrite) of every moved subtree, so that problems found
    /// later under the new path are reported at the line of the old one.
    pub moves: Vec<(String, String)>,
}

/// Rewrite `root` (a whole config) from the original dialect into sai3's. A document in sai3's
/// own spelling comes out unchanged with no findings.
pub fn rewrite(root: &mut Value) -> Rewrite {
    let mut rw = Rewrite::default();
    if let Value::Mapping(m) = root {
        rules::top(&mut rw, m);
    }
    rw
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `key: value` text of a scalar, for messages.
pub(crate) fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => "…".into(),
    }
}

impl Rewrite {
    fn push(&mut self, path: String, kind: Kind, message: String) {
        self.findings.push(Finding { path, kind, message });
    }

    /// A notice: `path` (sai3-bench's spelling) is read as `now`.
    fn alias(&mut self, path: &str, now: &str) {
        self.push(
            path.to_string(),
            Kind::Alias,
            format!("sai3-bench's `{path}` is read as `{now}` (`sai3 convert` rewrites the file in sai3's spelling)"),
        );
    }

    /// A notice with its own text.
    fn note(&mut self, path: &str, message: String) {
        self.push(path.to_string(), Kind::Alias, message);
    }

    fn ignored(&mut self, path: &str, why: &str) {
        self.push(path.to_string(), Kind::Ignored, format!("sai3-bench's `{path}` is ignored: {why}"));
    }

    fn refused(&mut self, path: &str, why: &str) {
        self.push(path.to_string(), Kind::Refused, why.to_string());
    }

    fn moved(&mut self, from: &str, to: &str) {
        if from != to {
            self.moves.push((from.to_string(), to.to_string()));
        }
    }

    /// Rename `old` to `new` in `m` (at `path`), keeping its place among the keys. Both given is
    /// an error (which one did the author mean?). Returns whether `old` was there.
    fn rename(&mut self, m: &mut Mapping, path: &str, old: &str, new: &str) -> bool {
        if !m.contains_key(old) {
            return false;
        }
        let (po, pn) = (join(path, old), join(path, new));
        if m.contains_key(new) {
            self.refused(
                &po,
                &format!("both `{old}` (sai3-bench's spelling) and `{new}` are given — keep only `{new}`"),
            );
            m.shift_remove(old);
            return true;
        }
        let entries: Vec<(Value, Value)> = std::mem::take(m).into_iter().collect();
        for (k, v) in entries {
            if k.as_str() == Some(old) {
                m.insert(Value::String(new.to_string()), v);
            } else {
                m.insert(k, v);
            }
        }
        self.alias(&po, &pn);
        self.moved(&po, &pn);
        true
    }

    /// Move `key` of `m` (at `path`) into the mapping `parent` of `m` as `new` (creating it).
    fn rename_into(&mut self, m: &mut Mapping, path: &str, key: &str, parent: &str, new: &str) {
        let Some(v) = m.shift_remove(key) else { return };
        let (po, pn) = (join(path, key), join(&join(path, parent), new));
        let target = m.entry(Value::String(parent.to_string())).or_insert_with(|| Value::Mapping(Mapping::new()));
        match target {
            Value::Mapping(t) if !t.contains_key(new) => {
                t.insert(Value::String(new.to_string()), v);
                self.alias(&po, &pn);
                self.moved(&po, &pn);
            }
            Value::Mapping(_) => self
                .refused(&po, &format!("both `{po}` (sai3-bench's spelling) and `{pn}` are given — keep only `{pn}`")),
            _ => self.refused(&po, &format!("`{parent}` must be a mapping to hold `{new}`")),
        }
    }

    /// Drop `key` from `m` with a warning, if present.
    fn ignore(&mut self, m: &mut Mapping, path: &str, key: &str, why: &str) {
        if m.shift_remove(key).is_some() {
            self.ignored(&join(path, key), why);
        }
    }

    /// Drop `key` from `m` as an error naming what to use instead, if present.
    fn refuse(&mut self, m: &mut Mapping, path: &str, key: &str, why: &str) {
        if m.shift_remove(key).is_some() {
            self.refused(&join(path, key), why);
        }
    }

    /// Map a string value of `key` through `values` ((original, sai3) pairs, case-insensitive).
    /// Values not listed stay as they are (the walk then reports them if sai3 does not know them).
    fn value_alias(&mut self, m: &mut Mapping, path: &str, key: &str, values: &[(&str, &str)]) {
        let Some(Value::String(s)) = m.get(key) else { return };
        let Some((old, new)) = values.iter().find(|(o, _)| o.eq_ignore_ascii_case(s)) else { return };
        let p = join(path, key);
        self.note(
            &p,
            format!("sai3-bench's `{p}: {old}` is read as `{p}: {new}` (`sai3 convert` rewrites the file in sai3's spelling)"),
        );
        m.insert(Value::String(key.to_string()), Value::String(new.to_string()));
    }
}

pub(super) fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

pub(super) fn get_str<'a>(m: &'a Mapping, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

pub(super) fn truthy(m: &Mapping, key: &str) -> Option<bool> {
    m.get(key).and_then(Value::as_bool)
}

/// A whole number of seconds, as sai3-bench's duration fields wrote them (`300`, `"300"`), or a
/// duration string (`"5m"`), which sai3 reads the same way.
pub(super) fn seconds(v: &Value) -> Value {
    match v.as_str().and_then(|t| t.trim().parse::<u64>().ok()) {
        Some(n) => Value::Number(Number::from(n)),
        None => v.clone(),
    }
}

/// The mapping under `key` of `m`, if it is one.
pub(super) fn map_mut<'a>(m: &'a mut Mapping, key: &str) -> Option<&'a mut Mapping> {
    match m.get_mut(key) {
        Some(Value::Mapping(x)) => Some(x),
        _ => None,
    }
}

/// The mappings of the list under `key` of `m`, with their indices.
pub(super) fn items_mut<'a>(m: &'a mut Mapping, key: &str) -> Vec<(usize, &'a mut Mapping)> {
    match m.get_mut(key) {
        Some(Value::Sequence(s)) => s
            .iter_mut()
            .enumerate()
            .filter_map(|(i, v)| match v {
                Value::Mapping(x) => Some((i, x)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}
