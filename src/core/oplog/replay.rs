//! The schedule a replay follows: each recorded operation with its start relative to the first,
//! and where it goes (the recorded endpoint, `--target`, then `--remap`).

use std::path::Path;

use super::record::Reader;
use crate::core::OpKind;

/// `old=new`: a URI prefix of the recorded objects and what replaces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Remap {
    pub old: String,
    pub new: String,
}

impl Remap {
    /// Parse `old=new` (both non-empty URIs or prefixes).
    pub fn parse(s: &str) -> Result<Remap, String> {
        match s.split_once('=') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() => Ok(Remap { old: o.to_string(), new: n.to_string() }),
            _ => Err(format!("remap `{s}`: write OLD=NEW, e.g. s3://bench/data/=s3://bench/copy/")),
        }
    }
}

/// One operation to issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    /// Nanoseconds after the first recorded start (before dividing by the speed).
    pub at_ns: u64,
    pub op: OpKind,
    /// Index into [`Schedule::bases`].
    pub base: usize,
    pub key: Box<str>,
    /// Bytes as recorded (the size of a PUT).
    pub bytes: u64,
    /// The operations before this index must have completed first: the recorded run's stage
    /// boundary (its stages ran one after the other). 0: no wait.
    pub after: usize,
}

/// A loaded op-log, ready to replay.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    pub ops: Vec<Scheduled>,
    /// The base URIs the operations go to (each ends in `/`).
    pub bases: Vec<String>,
    /// Lines whose op sai3 cannot issue (counted, not replayed).
    pub skipped: u64,
    /// The recorded span: first start to last end (ns).
    pub span_ns: u64,
}

impl Schedule {
    /// Operations per kind.
    pub fn counts(&self) -> Vec<(OpKind, u64)> {
        let mut c = [0u64; 7];
        self.ops.iter().for_each(|o| c[o.op.index()] += 1);
        OpKind::ALL.iter().filter(|k| c[k.index()] > 0).map(|k| (*k, c[k.index()])).collect()
    }

    /// The most operations that start within one second (at speed 1).
    pub fn peak_per_second(&self) -> u64 {
        let mut peak = 0;
        let mut lo = 0;
        for hi in 0..self.ops.len() {
            while self.ops[hi].at_ns - self.ops[lo].at_ns >= 1_000_000_000 {
                lo += 1;
            }
            peak = peak.max((hi - lo + 1) as u64);
        }
        peak
    }

    /// Keep the operations agent `i` of `n` replays: those on the objects whose name hashes to
    /// it, so every operation on one object (its PUT, then its GETs) is replayed by one agent, in
    /// order. Stage boundaries are renumbered to the kept operations.
    pub fn share(&mut self, i: usize, n: usize) {
        if n <= 1 {
            return;
        }
        let ops = std::mem::take(&mut self.ops);
        // `before[k]`: operations kept among the first k.
        let mut before = Vec::with_capacity(ops.len() + 1);
        let mut kept = 0;
        let mine: Vec<bool> = ops
            .iter()
            .map(|o| {
                before.push(kept);
                let m = owner(&self.bases[o.base], &o.key, n) == i;
                kept += usize::from(m);
                m
            })
            .collect();
        before.push(kept);
        self.ops = ops
            .into_iter()
            .zip(mine)
            .filter(|(_, m)| *m)
            .map(|(mut o, _)| {
                o.after = before[o.after];
                o
            })
            .collect();
    }
}

/// The agent (of `n`) that replays the operations on `base` + `key` (FNV-1a of the name).
fn owner(base: &str, key: &str, n: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in base.bytes().chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % n as u64) as usize
}

/// Where a recorded operation goes: its base URI and key.
fn destination(endpoint: &str, file: &str, target: Option<&str>, remaps: &[Remap]) -> (String, String) {
    let mut base = target.unwrap_or(endpoint).to_string();
    if !base.ends_with('/') {
        base.push('/');
    }
    let full = format!("{base}{file}");
    for r in remaps {
        if base.starts_with(&r.old) {
            return (format!("{}{}", r.new, &base[r.old.len()..]), file.to_string());
        }
        if let Some(rest) = full.strip_prefix(&r.old) {
            let new = &r.new;
            if !new.ends_with('/') {
                // `data=data2` renames a key prefix: keep the part after it in the key.
                return match new.rfind('/') {
                    Some(i) => (new[..=i].to_string(), format!("{}{rest}", &new[i + 1..])),
                    None => (base, format!("{new}{rest}")),
                };
            }
            return (new.clone(), rest.to_string());
        }
    }
    (base, file.to_string())
}

/// Read an op-log (sai3's or warp's) into a schedule ordered by start time. `target` replaces
/// every recorded endpoint; `remaps` then rewrite URI prefixes (the first that matches wins).
pub fn load_schedule(path: &Path, target: Option<&str>, remaps: &[Remap]) -> Result<Schedule, String> {
    let mut s = Schedule::default();
    let mut rows: Vec<(i64, OpKind, String, String, u64, String)> = Vec::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for line in Reader::open(path)? {
        let l = line?;
        let Some(op) = l.kind() else {
            s.skipped += 1;
            continue;
        };
        if l.endpoint.is_empty() && target.is_none() {
            return Err(format!(
                "{}: line {} has no endpoint — give --target URI to say where the operations go",
                path.display(),
                l.idx
            ));
        }
        first = first.min(l.start);
        last = last.max(l.end);
        let (base, key) = destination(&l.endpoint, &l.file, target, remaps);
        // A stage's warmup and its measured part ran without a boundary between them.
        let stage = l.stage.strip_suffix(":warmup").unwrap_or(&l.stage).to_string();
        rows.push((l.start, op, base, key, l.bytes, stage));
    }
    if rows.is_empty() {
        return Err(format!("{}: no operations to replay", path.display()));
    }
    rows.sort_by_key(|r| r.0);
    let (mut after, mut stage): (usize, Option<String>) = (0, None);
    for (i, (start, op, base, key, bytes, st)) in rows.into_iter().enumerate() {
        if stage.as_ref().is_some_and(|s| *s != st) {
            after = i;
        }
        stage = Some(st);
        let b = match s.bases.iter().position(|x| *x == base) {
            Some(i) => i,
            None => {
                s.bases.push(base);
                s.bases.len() - 1
            }
        };
        s.ops.push(Scheduled { at_ns: (start - first) as u64, op, base: b, key: key.into_boxed_str(), bytes, after });
    }
    s.span_ns = (last - first).max(0) as u64;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_follow_target_then_remap() {
        let r = |s: &str| Remap::parse(s).unwrap();
        assert_eq!(destination("s3://b/data/", "k1", None, &[]), ("s3://b/data/".into(), "k1".into()));
        assert_eq!(destination("s3://b/data/", "k1", Some("file:///t"), &[]), ("file:///t/".into(), "k1".into()));
        // A remap of the endpoint keeps the key.
        let m = [r("s3://b/data/=s3://c/copy/")];
        assert_eq!(destination("s3://b/data/", "d/k1", None, &m), ("s3://c/copy/".into(), "d/k1".into()));
        // A remap reaching into the key moves that part.
        let m = [r("s3://b/data/d/=s3://b/other/")];
        assert_eq!(destination("s3://b/data/", "d/k1", None, &m), ("s3://b/other/".into(), "k1".into()));
        let m = [r("s3://b/data/d=s3://b/data/e")];
        assert_eq!(destination("s3://b/data/", "d/k1", None, &m), ("s3://b/data/".into(), "e/k1".into()));
        // The first match wins; no match leaves it.
        let m = [r("s3://x/=s3://y/"), r("s3://b/=s3://z/"), r("s3://b/data/=s3://w/")];
        assert_eq!(destination("s3://b/data/", "k", None, &m), ("s3://z/data/".into(), "k".into()));
        assert!(Remap::parse("nothing").is_err() && Remap::parse("=x").is_err());
    }

    #[test]
    fn shares_keep_their_stage_boundaries_and_each_object_on_one_agent() {
        // 40 objects: each PUT in stage 1, then two GETs of it in stage 2.
        let mut all = Vec::new();
        for k in 0..40 {
            all.push(Scheduled { at_ns: k, op: OpKind::Put, base: 0, key: format!("k{k}").into(), bytes: 1, after: 0 });
        }
        for r in 0..80u64 {
            let k = (r * 7) % 40;
            all.push(Scheduled {
                at_ns: 40 + r,
                op: OpKind::Get,
                base: 0,
                key: format!("k{k}").into(),
                bytes: 0,
                after: 40,
            });
        }
        for n in 1..=4 {
            let mut kept = 0;
            for i in 0..n {
                let mut s = Schedule { ops: all.clone(), bases: vec!["s3://b/".into()], ..Default::default() };
                s.share(i, n);
                kept += s.ops.len();
                let first_get = s.ops.iter().position(|o| o.op == OpKind::Get).unwrap_or(s.ops.len());
                for o in &s.ops {
                    assert_eq!(o.after, if o.op == OpKind::Get { first_get } else { 0 }, "share {i} of {n}");
                    // Every GET's object is PUT by the same agent, before the boundary.
                    if o.op == OpKind::Get {
                        assert!(s.ops[..first_get].iter().any(|p| p.key == o.key), "share {i} of {n}: {}", o.key);
                    }
                }
                assert!(n == 1 || s.ops.len() < all.len(), "share {i} of {n} is a part");
            }
            assert_eq!(kept, 120, "every operation replayed once");
        }
    }
}
