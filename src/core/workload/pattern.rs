//! Key patterns of the workload: `*` matches any run of characters, `/` included.

/// The listing prefix of a pattern: everything before its first `*`.
pub fn list_prefix(pattern: &str) -> &str {
    match pattern.find('*') {
        Some(i) => &pattern[..i],
        None => pattern,
    }
}

/// Whether `key` matches `pattern` (`*` = any run of characters including `/`).
pub fn glob_match(pattern: &str, key: &str) -> bool {
    let p = pattern.as_bytes();
    let k = key.as_bytes();
    let (mut pi, mut ki) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ki < k.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = ki;
        } else if pi < p.len() && p[pi] == k[ki] {
            pi += 1;
            ki += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ki = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Split an absolute URI path into (base URI ending in `/`, relative pattern): the base ends at
/// the last `/` before the first `*`. Returns `None` for a relative path.
pub fn split_absolute(path: &str) -> Option<(String, String)> {
    let scheme_end = path.find("://")? + 3;
    let head = list_prefix(path);
    let cut = head[scheme_end..].rfind('/').map(|i| scheme_end + i + 1).unwrap_or(path.len());
    Some((path[..cut].to_string(), path[cut..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_cross_slashes() {
        assert!(glob_match("*/*.dat", "d0_1/d1_2/file_1.dat"));
        assert!(!glob_match("*/*.dat", "file_1.dat"));
        assert!(glob_match("mixed/*", "mixed/prepared-00000001.dat"));
        assert!(!glob_match("mixed/*", "other/x"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("exact.dat", "exact.dat"));
    }

    #[test]
    fn prefixes_and_absolute() {
        assert_eq!(list_prefix("testdata/*"), "testdata/");
        assert_eq!(list_prefix("*/*.dat"), "");
        assert_eq!(list_prefix("mixed/"), "mixed/");
        assert_eq!(
            split_absolute("s3://bucket/data/obj-*"),
            Some(("s3://bucket/data/".to_string(), "obj-*".to_string()))
        );
        assert_eq!(
            split_absolute("file:///tmp/x/new-{}.dat"),
            Some(("file:///tmp/x/".to_string(), "new-{}.dat".to_string()))
        );
        assert_eq!(split_absolute("data/*"), None);
    }
}
