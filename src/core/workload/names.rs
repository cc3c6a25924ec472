//! Object names: deterministic names for prepared data (every agent and every re-run agrees on
//! them) and run-unique names for PUTs (agents never collide).

use std::fmt::Write;

/// Name of prepared object number `j` (`prepared-00000042.dat`).
pub fn prepared_name(j: u64) -> String {
    format!("prepared-{j:08}.dat")
}

/// Key of a new object for a PUT of `template`: `{}` is replaced by a name unique across the run
/// (`<run>-a<agent>-w<worker>-<counter>`); a template ending in `/` gets `sai3-<unique>.dat`
/// under it; any other template gets `-<unique>` before its extension.
pub fn unique_put_key(template: &str, run_id: &str, agent: usize, worker: usize, counter: u64) -> String {
    // Written out by hand: one PUT of a small object costs a few µs, and this is on every one.
    let mut unique = String::with_capacity(run_id.len() + 48);
    unique.push_str(run_id);
    unique.push_str("-a");
    push_dec(&mut unique, agent as u64);
    unique.push_str("-w");
    push_dec(&mut unique, worker as u64);
    unique.push('-');
    push_dec(&mut unique, counter);
    if let Some(at) = template.find("{}") {
        let mut key = String::with_capacity(template.len() + unique.len());
        key.push_str(&template[..at]);
        key.push_str(&unique);
        key.push_str(&template[at + 2..]);
        key
    } else if template.is_empty() || template.ends_with('/') {
        format!("{template}sai3-{unique}.dat")
    } else {
        match template.rfind('.') {
            Some(dot) if !template[dot..].contains('/') => {
                format!("{}-{unique}{}", &template[..dot], &template[dot..])
            }
            _ => format!("{template}-{unique}"),
        }
    }
}

/// Append `v` in decimal.
fn push_dec(out: &mut String, v: u64) {
    out.push_str(crate::core::decimal::Decimal::new(v, 0).as_str());
}

/// Key of a new directory made by MKDIR in `parent` (a key ending in `/`, or empty for the
/// root): `<parent>sai3-<run>-a<agent>-w<worker>-<counter>/`, unique across the run.
pub fn unique_dir_key(parent: &str, run_id: &str, agent: usize, worker: usize, counter: u64) -> String {
    format!("{parent}sai3-{run_id}-a{agent}-w{worker}-{counter}/")
}

/// `key` with a hashed shard directory before its last component (`data/3f/prepared-00000042.dat`)
/// when `shards > 1`: the same name always lands in the same shard, so every agent and re-run
/// agree, and a hash-partitioned system sees no single hot prefix. Shards are hex, zero-padded to
/// the width of `shards - 1`.
pub fn sharded(key: String, shards: u32) -> String {
    if shards <= 1 {
        return key;
    }
    let (dir, file) = match key.rsplit_once('/') {
        Some((d, f)) => (Some(d), f),
        None => (None, key.as_str()),
    };
    // FNV-1a: stable across platforms, versions and processes.
    let h = file.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let width = format!("{:x}", shards - 1).len();
    let shard = format!("{:0width$x}", h % u64::from(shards));
    match dir {
        Some(d) => format!("{d}/{shard}/{file}"),
        None => format!("{shard}/{file}"),
    }
}

/// The shape of a `prepare.tree`: `width` children per directory, `depth` levels,
/// `files_per_dir` files in each leaf (or in every directory with `all_levels`), directories
/// named `d<level>_<i>` (0-based) or by a `dir_mask` whose first `%d` is the level and second the
/// child's number among its siblings (both from 1, as sai3-bench numbered them).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeShape<'a> {
    pub width: u32,
    pub depth: u32,
    pub files_per_dir: u32,
    pub all_levels: bool,
    pub dir_mask: Option<&'a str>,
}

impl TreeShape<'_> {
    fn dir_name(&self, level: u32, i: u64, out: &mut String) {
        match self.dir_mask {
            None => {
                let _ = write!(out, "d{level}_{i}");
            }
            Some(mask) => {
                let mut n = 0;
                let mut rest = mask;
                while let Some(at) = rest.find("%d") {
                    out.push_str(&rest[..at]);
                    let v = if n == 0 { u64::from(level) + 1 } else { i + 1 };
                    let _ = write!(out, "{v}");
                    n += 1;
                    rest = &rest[at + 2..];
                }
                out.push_str(rest);
            }
        }
        out.push('/');
    }

    /// Directories at level `l` (0-based): `width^(l+1)`.
    fn level_size(&self, l: u32) -> u64 {
        u64::from(self.width).saturating_pow(l + 1)
    }

    /// The path of directory `k` (0-based) of level `l`: its digits in base `width` name it.
    fn dir_path(&self, l: u32, k: u64, out: &mut String) {
        let w = u64::from(self.width.max(1));
        let mut digits = vec![0u64; l as usize + 1];
        let mut rest = k;
        for d in (0..=l as usize).rev() {
            digits[d] = rest % w;
            rest /= w;
        }
        for (level, i) in digits.iter().enumerate() {
            self.dir_name(level as u32, *i, out);
        }
    }

    /// Every directory, parents first, each ending in `/`.
    pub fn dirs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in 0..self.depth {
            for k in 0..self.level_size(l) {
                let mut p = String::new();
                self.dir_path(l, k, &mut p);
                out.push(p);
            }
        }
        out
    }

    /// How many directories the tree has.
    pub fn dir_count(&self) -> u64 {
        (0..self.depth).map(|l| self.level_size(l)).fold(0, u64::saturating_add)
    }

    /// How many directories hold files.
    fn file_dirs(&self) -> u64 {
        if self.all_levels {
            self.dir_count()
        } else {
            self.level_size(self.depth.saturating_sub(1))
        }
    }

    /// How many files the tree has.
    pub fn files(&self) -> u64 {
        self.file_dirs().saturating_mul(u64::from(self.files_per_dir))
    }

    /// Path of file number `j`: directory `j / files_per_dir` among those holding files (leaves,
    /// or every directory parents first with `all_levels`), file `file_<j>.dat`.
    pub fn file_path(&self, j: u64) -> String {
        let mut k = j / u64::from(self.files_per_dir.max(1));
        let mut level = self.depth.saturating_sub(1);
        if self.all_levels {
            level = 0;
            while level + 1 < self.depth && k >= self.level_size(level) {
                k -= self.level_size(level);
                level += 1;
            }
        }
        let mut path = String::with_capacity(self.depth as usize * 8 + 20);
        self.dir_path(level, k, &mut path);
        let _ = write!(path, "file_{j:08}.dat");
        path
    }
}

/// Seed of one worker's RNG: distinct for every (run seed, agent, worker, purpose) and stable.
pub fn worker_seed(run_seed: u64, agent: usize, worker: usize, purpose: u64) -> u64 {
    // SplitMix64 finaliser over the combined inputs.
    let mut z = run_seed
        ^ (agent as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (worker as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ purpose.wrapping_mul(0x1656_67B1_9E37_79F9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_keys() {
        assert_eq!(unique_put_key("uploads/new-{}.dat", "r1", 2, 3, 7), "uploads/new-r1-a2-w3-7.dat");
        assert_eq!(unique_put_key("objects/", "r1", 0, 1, 2), "objects/sai3-r1-a0-w1-2.dat");
        assert_eq!(unique_put_key("x/file.bin", "r", 0, 0, 0), "x/file-r-a0-w0-0.bin");
        assert_eq!(unique_put_key("x.d/file", "r", 0, 0, 0), "x.d/file-r-a0-w0-0");
        // Only the first `{}` is replaced; numbers are written out in full.
        assert_eq!(unique_put_key("{}/{}", "r", 10, 305, u64::MAX), "r-a10-w305-18446744073709551615/{}");
    }

    #[test]
    fn shards_are_stable_hex_directories_spread_over_all_of_them() {
        assert_eq!(sharded("data/prepared-00000001.dat".into(), 1), "data/prepared-00000001.dat");
        let a = sharded("data/prepared-00000001.dat".into(), 256);
        assert_eq!(a, sharded("data/prepared-00000001.dat".into(), 256), "deterministic");
        assert!(
            a.starts_with("data/")
                && a.ends_with("/prepared-00000001.dat")
                && a.len() == "data/xx/prepared-00000001.dat".len(),
            "{a}"
        );
        assert_eq!(sharded("top.dat".into(), 16).len(), "x/top.dat".len());
        let mut seen = std::collections::HashSet::new();
        for j in 0..2000 {
            seen.insert(sharded(prepared_name(j), 64).split('/').next().unwrap().to_string());
        }
        assert_eq!(seen.len(), 64, "2000 names reach every one of 64 shards");
    }

    fn shape(all_levels: bool, dir_mask: Option<&str>) -> TreeShape<'_> {
        TreeShape { width: 4, depth: 3, files_per_dir: 50, all_levels, dir_mask }
    }

    #[test]
    fn tree_shape() {
        let t = shape(false, None);
        let dirs = t.dirs();
        assert_eq!(dirs.len(), 4 + 16 + 64);
        assert_eq!(dirs[0], "d0_0/");
        assert!(dirs.contains(&"d0_3/d1_2/d2_1/".to_string()));
        // 64 leaves × 50 files: the last file sits in the last leaf.
        assert_eq!(t.files(), 64 * 50);
        assert_eq!(t.file_path(0), "d0_0/d1_0/d2_0/file_00000000.dat");
        assert_eq!(t.file_path(64 * 50 - 1), "d0_3/d1_3/d2_3/file_00003199.dat");
        assert_eq!(t.file_path(50), "d0_0/d1_0/d2_1/file_00000050.dat");
    }

    #[test]
    fn tree_with_files_everywhere_and_a_mask() {
        let t = shape(true, Some("lvl%d_w%d.dir"));
        assert_eq!(t.files(), (4 + 16 + 64) * 50);
        assert_eq!(t.dirs()[0], "lvl1_w1.dir/");
        assert_eq!(t.file_path(0), "lvl1_w1.dir/file_00000000.dat");
        assert_eq!(t.file_path(4 * 50), "lvl1_w1.dir/lvl2_w1.dir/file_00000200.dat");
        let last = t.files() - 1;
        assert_eq!(t.file_path(last), format!("lvl1_w4.dir/lvl2_w4.dir/lvl3_w4.dir/file_{last:08}.dat"));
        // Every file lands in a directory the tree has, and every directory holds 50 files.
        let dirs: std::collections::HashSet<String> = t.dirs().into_iter().collect();
        let mut per_dir = std::collections::HashMap::new();
        for j in 0..t.files() {
            let p = t.file_path(j);
            let d = &p[..p.rfind('/').unwrap() + 1];
            assert!(dirs.contains(d), "{p}");
            *per_dir.entry(d.to_string()).or_insert(0) += 1;
        }
        assert_eq!(per_dir.len(), dirs.len());
        assert!(per_dir.values().all(|&n| n == 50));
    }

    #[test]
    fn seeds_differ() {
        let a = worker_seed(1, 0, 0, 0);
        assert_ne!(a, worker_seed(1, 0, 1, 0));
        assert_ne!(a, worker_seed(1, 1, 0, 0));
        assert_ne!(a, worker_seed(2, 0, 0, 0));
        assert_eq!(a, worker_seed(1, 0, 0, 0));
    }
}
