//! The results folder: `sai3-YYYYMMDD-HHMM-<config stem>` in local time, with `-2`, `-3`, …
//! instead of overwriting an earlier run's folder.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The folder name for a config stem at `now` (stem characters other than letters, digits, `_`
/// and `.` become `_`, as in `sai3-20260129-1534-distributed_test`).
pub fn folder_name(config_stem: &str, now: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Local> = now.into();
    let stem: String =
        config_stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '.' { c } else { '_' }).collect();
    format!("sai3-{}-{}", t.format("%Y%m%d-%H%M"), if stem.is_empty() { "run".into() } else { stem })
}

/// Create a new, empty results folder under `base` (created too if missing) and return its path.
pub fn create(base: &Path, config_stem: &str, now: SystemTime) -> io::Result<PathBuf> {
    std::fs::create_dir_all(base)?;
    let name = folder_name(config_stem, now);
    for n in 1u32..=10_000 {
        let candidate = if n == 1 { base.join(&name) } else { base.join(format!("{name}-{n}")) };
        match std::fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{name} and 10,000 suffixed folders already exist in {}", base.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_instead_of_overwriting() {
        let base = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let a = create(base.path(), "distributed-test", now).unwrap();
        let b = create(base.path(), "distributed-test", now).unwrap();
        let c = create(base.path(), "distributed-test", now).unwrap();
        let an = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(an.starts_with("sai3-") && an.ends_with("-distributed_test"), "{an}");
        assert_eq!(b.file_name().unwrap().to_string_lossy(), format!("{an}-2"));
        assert_eq!(c.file_name().unwrap().to_string_lossy(), format!("{an}-3"));
    }
}
