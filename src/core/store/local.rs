//! `file://` and `direct://` backends: blocking syscalls done inline on the worker's own OS
//! thread (no thread hop per request), keys mapped to paths under the endpoint's root.
//! Must not buffer whole large objects in memory per request beyond the reused thread buffer.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::RwLock;

use super::errmap::io_error;
use super::{buffered, direct, uring, Backend, ObjectInfo, Sink, StoreError};
use crate::core::config::PageCache;

thread_local! {
    /// The path of this thread's current request, NUL-terminated, rebuilt in place for each one.
    static PATH_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Write the path of `key` under `root` into `buf`, NUL-terminated (see [`with_path`]).
fn build_path(buf: &mut Vec<u8>, root: &Path, key: &str) {
    buf.clear();
    buf.extend_from_slice(root.as_os_str().as_bytes());
    if !buf.is_empty() && buf.last() != Some(&b'/') {
        buf.push(b'/');
    }
    buf.extend_from_slice(key.trim_start_matches('/').as_bytes());
    buf.push(0);
}

/// Call `f` with the path of `key` under `root` (what `root.join(key without leading '/')`
/// gives) and the same path NUL-terminated for the system call (an error if the key holds a NUL
/// byte), both built in the thread's reused buffer: a GET allocates and copies no path.
fn with_path<T>(root: &Path, key: &str, f: impl FnOnce(&Path, io::Result<&CStr>) -> T) -> T {
    let build = |buf: &mut Vec<u8>| build_path(buf, root, key);
    let call = |buf: &Vec<u8>| {
        let path = Path::new(OsStr::from_bytes(&buf[..buf.len() - 1]));
        let c = CStr::from_bytes_with_nul(buf)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the object key contains a NUL byte"));
        f(path, c)
    };
    PATH_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            build(&mut buf);
            call(&buf)
        }
        // Re-entered on this thread (a sink that reads): a private buffer.
        Err(_) => {
            let mut buf = Vec::new();
            build(&mut buf);
            call(&buf)
        }
    })
}

/// A local directory tree served as an object namespace.
pub struct LocalBackend {
    root: PathBuf,
    /// O_DIRECT I/O (`direct://`) instead of buffered.
    direct: bool,
    /// Directories known to exist, so PUTs skip `create_dir_all` after the first one.
    dirs: RwLock<HashSet<PathBuf>>,
    /// `storage.page_cache`: the hint given for each read (`file://` only).
    page_cache: PageCache,
}

impl LocalBackend {
    pub fn new(root: PathBuf, direct: bool) -> Self {
        LocalBackend { root, direct, dirs: RwLock::new(HashSet::new()), page_cache: PageCache::Auto }
    }

    /// The same backend, giving `hint` to the kernel for every read.
    pub fn with_page_cache(mut self, hint: PageCache) -> Self {
        self.page_cache = hint;
        self
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key.trim_start_matches('/'))
    }

    fn ensure_parent(&self, path: &Path) -> io::Result<()> {
        let Some(parent) = path.parent() else { return Ok(()) };
        if self.dirs.read().contains(parent) {
            return Ok(());
        }
        std::fs::create_dir_all(parent)?;
        self.dirs.write().insert(parent.to_path_buf());
        Ok(())
    }

    /// The one read (offset, length) through this thread's io_uring (`uring.rs`) that does the
    /// read of [`Self::do_read`]: `range`, or a whole object of `known` size read with one byte
    /// more (exactly `known` bytes back is all of it, see `buffered::read_loop`). `None` when the
    /// read is not the ring's: not on a ring thread, `direct://` or a page cache hint, no size
    /// known, or larger than [`uring::MAX_READ`].
    fn ring_span(&self, range: Option<(u64, u64)>, known: Option<u64>) -> Option<(u64, u64)> {
        let span = match (range, known) {
            (Some(r), _) => r,
            (None, Some(size)) => (0, size + 1),
            (None, None) => return None,
        };
        (span.1 <= uring::MAX_READ && self.ring_reads() && uring::active()).then_some(span)
    }

    /// The read of [`Self::do_read`] as a linked open/read/close on the thread's ring, of the
    /// `span` [`Self::ring_span`] gave; a whole object that came back with another size than
    /// `known` is read again with blocking calls, as the file is now. Blocking calls too when the
    /// ring has no room.
    async fn ring_read(
        &self,
        key: &str,
        (off, len): (u64, u64),
        range: Option<(u64, u64)>,
        known: Option<u64>,
        sink: Option<Sink<'_>>,
    ) -> Result<u64, StoreError> {
        let ticket = match uring::read(|buf| build_path(buf, &self.root, key), off, len) {
            Some(Ok(t)) => t,
            None => return self.do_read(key, range, known, sink),
            Some(Err(e)) => return Err(io_error("GET", &self.path(key), e)),
        };
        let filled = ticket.await.map_err(|e| io_error("GET", &self.path(key), e))?;
        let n = filled.len() as u64;
        if range.is_none() && Some(n) != known {
            drop(filled);
            return self.do_read(key, range, known, sink);
        }
        if let Some(sink) = sink {
            let handed = filled.with(|d| {
                if !d.is_empty() {
                    sink(off, d)
                }
            });
            if handed.is_none() {
                // The bytes are out of the sink's reach: read them again, as the file is now.
                drop(filled);
                return self.do_read(key, range, known, Some(sink));
            }
        }
        Ok(n)
    }

    /// `known`: the size the object was listed with, for a whole-object read (see
    /// [`Backend::read_sized`]). O_DIRECT reads already end at the first short read (a whole
    /// object below 1 MiB takes one read) and ignore it.
    fn do_read(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        known: Option<u64>,
        sink: Option<Sink<'_>>,
    ) -> Result<u64, StoreError> {
        if self.direct {
            let p = self.path(key);
            return direct::read(&p, range, sink).map_err(|e| io_error("GET", &p, e));
        }
        with_path(&self.root, key, |p, c| {
            c.and_then(|c| buffered::read(c, range, known, sink, self.page_cache)).map_err(|e| io_error("GET", p, e))
        })
    }

    fn do_put(&self, key: &str, data: &[u8]) -> Result<(), StoreError> {
        let p = self.path(key);
        let write = |p: &Path| if self.direct { direct::write_all(p, data) } else { buffered::write_all(p, data) };
        match write(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.ensure_parent(&p).map_err(|e| io_error("PUT (mkdir)", &p, e))?;
                write(&p).map_err(|e| io_error("PUT", &p, e))
            }
            r => r.map_err(|e| io_error("PUT", &p, e)),
        }
    }

    fn do_list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        // The prefix may end inside a file name (`data/obj-`): walk its directory, filter by prefix.
        let (dir_part, name_part) = match prefix.rfind('/') {
            Some(i) => (&prefix[..=i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let start = self.path(dir_part);
        let mut out = Vec::new();
        let mut stack = vec![(start.clone(), dir_part.to_string())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound && dir == start => return Ok(out),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("LIST", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error("LIST", &dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if rel == dir_part && !name.starts_with(name_part) {
                    continue;
                }
                let ft = entry.file_type().map_err(|e| io_error("LIST", &entry.path(), e))?;
                if ft.is_dir() {
                    stack.push((entry.path(), format!("{rel}{name}/")));
                } else if ft.is_file() {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push(ObjectInfo { key: format!("{rel}{name}"), size });
                }
            }
        }
        Ok(out)
    }

    /// Like `do_list` but only counts regular files, from directory entries alone (no stat per
    /// file; `d_type` tells files from directories on every common Linux file system).
    fn do_list_count(&self, prefix: &str) -> Result<u64, StoreError> {
        let (dir_part, name_part) = match prefix.rfind('/') {
            Some(i) => (&prefix[..=i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let start = self.path(dir_part);
        let mut n = 0u64;
        let mut stack = vec![(start.clone(), true)];
        while let Some((dir, top)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("LIST", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error("LIST", &dir, e))?;
                if top
                    && !name_part.is_empty()
                    && !entry.file_name().as_encoded_bytes().starts_with(name_part.as_bytes())
                {
                    continue;
                }
                let ft = entry.file_type().map_err(|e| io_error("LIST", &entry.path(), e))?;
                if ft.is_dir() {
                    stack.push((entry.path(), false));
                } else if ft.is_file() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn do_stat(&self, key: &str) -> Result<u64, StoreError> {
        let p = self.path(key);
        std::fs::metadata(&p).map(|m| m.len()).map_err(|e| io_error("STAT", &p, e))
    }

    fn do_delete(&self, key: &str) -> Result<(), StoreError> {
        let p = self.path(key);
        std::fs::remove_file(&p).map_err(|e| io_error("DELETE", &p, e))
    }

    fn do_mkdir(&self, key: &str) -> Result<(), StoreError> {
        let p = self.path(key);
        std::fs::create_dir_all(&p).map_err(|e| io_error("MKDIR", &p, e))?;
        self.dirs.write().insert(p);
        Ok(())
    }

    fn do_make_dir(&self, key: &str) -> Result<(), StoreError> {
        let p = self.path(key);
        std::fs::create_dir(&p).map_err(|e| io_error("MKDIR", &p, e))
    }

    fn do_remove_dir(&self, key: &str) -> Result<(), StoreError> {
        let p = self.path(key);
        std::fs::remove_dir(&p).map_err(|e| match e.kind() {
            io::ErrorKind::DirectoryNotEmpty => {
                StoreError::Io(format!("RMDIR {}: the directory is not empty", p.display()))
            }
            _ => io_error("RMDIR", &p, e),
        })?;
        self.dirs.write().remove(&p);
        Ok(())
    }

    fn do_remove_tree(&self, key: &str) -> Result<(), StoreError> {
        let p = self.path(key);
        std::fs::remove_dir_all(&p).map_err(|e| io_error("RMDIR", &p, e))?;
        self.dirs.write().retain(|d| !d.starts_with(&p));
        Ok(())
    }

    /// Directories below the directory part of `prefix` whose key starts with `prefix`.
    fn do_list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let dir_part = prefix.rfind('/').map_or("", |i| &prefix[..=i]);
        let mut out = Vec::new();
        let mut stack = vec![(self.path(dir_part), dir_part.to_string())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("LIST", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error("LIST", &dir, e))?;
                if entry.file_type().map_err(|e| io_error("LIST", &entry.path(), e))?.is_dir() {
                    let key = format!("{rel}{}/", entry.file_name().to_string_lossy());
                    if key.starts_with(prefix) {
                        out.push(key.clone());
                    }
                    stack.push((entry.path(), key));
                }
            }
        }
        Ok(out)
    }

    /// The root does not exist: a run that writes may create it when its nearest existing
    /// ancestor is a directory it can write in (and, for O_DIRECT, not a memory file system).
    fn missing_root(&self, write: bool) -> StoreError {
        let root = &self.root;
        let missing = || {
            StoreError::NotFound(format!(
                "directory {} does not exist — create it or fix the URI in the config",
                root.display()
            ))
        };
        if !write {
            return missing();
        }
        let Some(anc) = root.ancestors().skip(1).find(|a| a.exists()) else { return missing() };
        if !anc.is_dir() {
            return StoreError::Io(format!(
                "{} cannot be created: {} is not a directory — fix the URI in the config",
                root.display(),
                anc.display()
            ));
        }
        let c = std::ffi::CString::new(anc.as_os_str().as_encoded_bytes()).unwrap_or_default();
        // SAFETY: access(2) only reads the NUL-terminated path it is given.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return StoreError::PermissionDenied(format!(
                "{} does not exist and cannot be created: {} is not writable",
                root.display(),
                anc.display()
            ));
        }
        if self.direct {
            if let Ok(Some(fs)) = direct::memory_fs(anc) {
                return StoreError::Unsupported(format!(
                    "{} would be on {fs}, which does not do O_DIRECT device I/O — use file:// or a directory on a real disk",
                    root.display()
                ));
            }
        }
        let mut shown = root.display().to_string();
        if !shown.ends_with('/') {
            shown.push('/');
        }
        StoreError::MissingRoot(shown)
    }

    fn do_preflight(&self, write: bool) -> Result<(), StoreError> {
        let root = &self.root;
        match std::fs::metadata(root) {
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                return Err(self.missing_root(write))
            }
            Err(e) => return Err(io_error("open", root, e)),
            Ok(m) if !m.is_dir() => {
                return Err(StoreError::Io(format!(
                    "{} is not a directory — fix the URI in the config",
                    root.display()
                )))
            }
            Ok(_) => {}
        }
        if self.direct {
            if let Ok(Some(fs)) = direct::memory_fs(root) {
                return Err(StoreError::Unsupported(format!(
                    "{} is on {fs}, which does not do O_DIRECT device I/O — use file:// or a directory on a real disk",
                    root.display()
                )));
            }
            let probe = if write { direct::probe_write(root) } else { direct::probe_read(root) };
            return probe.map_err(|e| match e.raw_os_error() {
                Some(libc::EINVAL) => StoreError::Unsupported(format!(
                    "the file system refuses O_DIRECT ({e}) — use file:// or a directory on a real disk"
                )),
                _ => io_error("O_DIRECT probe in", root, e),
            });
        }
        if write {
            let probe = root.join(format!(".sai3-probe-{}", std::process::id()));
            buffered::write_all(&probe, b"sai3").map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    StoreError::PermissionDenied(format!(
                        "directory {} is not writable ({e}) — fix its permissions or choose another target",
                        root.display()
                    ))
                }
                _ => io_error("write probe in", root, e),
            })?;
            let _ = std::fs::remove_file(&probe);
        }
        Ok(())
    }
}

impl Backend for LocalBackend {
    fn read<'a>(
        &'a self,
        key: &'a str,
        range: Option<(u64, u64)>,
        sink: Option<Sink<'a>>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        if let Some(span) = self.ring_span(range, None) {
            return Box::pin(self.ring_read(key, span, range, None, sink));
        }
        Box::pin(std::future::ready(self.do_read(key, range, None, sink)))
    }
    fn read_sized<'a>(
        &'a self,
        key: &'a str,
        size: u64,
        sink: Option<Sink<'a>>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        if let Some(span) = self.ring_span(None, Some(size)) {
            return Box::pin(self.ring_read(key, span, None, Some(size), sink));
        }
        Box::pin(std::future::ready(self.do_read(key, None, Some(size), sink)))
    }
    fn read_inline(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        known: Option<u64>,
        sink: &mut Option<Sink<'_>>,
    ) -> Option<Result<u64, StoreError>> {
        if self.ring_span(range, known).is_some() {
            return None;
        }
        Some(self.do_read(key, range, known, sink.take()))
    }
    fn ring_reads(&self) -> bool {
        !self.direct && self.page_cache == PageCache::Auto
    }
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.do_put(key, &data)))
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectInfo>, StoreError>> {
        Box::pin(std::future::ready(self.do_list(prefix)))
    }
    fn list_count<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(std::future::ready(self.do_list_count(prefix)))
    }
    fn stat<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(std::future::ready(self.do_stat(key)))
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.do_delete(key)))
    }
    fn mkdir<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.do_mkdir(key)))
    }
    fn make_dir<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.do_make_dir(key)))
    }
    fn remove_dir<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.do_remove_dir(key)))
    }
    fn remove_tree<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.do_remove_tree(key)))
    }
    fn list_dirs<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(std::future::ready(self.do_list_dirs(prefix)))
    }
    fn is_blocking(&self) -> bool {
        true
    }
    fn own_descriptors(&self) -> bool {
        true
    }
    fn preflight<'a>(&'a self, write: bool) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.do_preflight(write)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    /// The reused path buffer gives what `path` (`root.join`) gives, for every shape of root and
    /// key, even when re-entered, and refuses a key with a NUL byte (so a GET of it fails).
    #[test]
    fn request_paths_are_the_joined_paths() {
        for root in ["/var/tmp/x", "/var/tmp/x/", "rel", "/"] {
            let b = LocalBackend::new(PathBuf::from(root), false);
            for key in ["a.dat", "/a.dat", "d/e/f", "", "dir/", "ünï cödé"] {
                let (p, c) = with_path(&b.root, key, |p, c| (p.to_path_buf(), c.unwrap().to_owned()));
                assert_eq!(p, b.path(key), "{root} + {key}");
                assert_eq!(c.as_bytes(), p.as_os_str().as_bytes(), "{root} + {key}");
                let inner = with_path(&b.root, "x", |_, _| with_path(&b.root, key, |p, _| p.to_path_buf()));
                assert_eq!(inner, b.path(key));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().to_path_buf(), false);
        assert!(with_path(&b.root, "a\0b", |_, c| c.is_err()));
        let e = block_on(b.read("a\0b", None, None)).unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
    }

    #[test]
    fn put_get_list_stat_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().to_path_buf(), false);
        block_on(b.preflight(true)).unwrap();
        block_on(b.put("a/b/c.dat", Bytes::from_static(b"hello"))).unwrap();
        block_on(b.put("a/x.dat", Bytes::from_static(b"hi"))).unwrap();
        block_on(b.put("ab.dat", Bytes::from_static(b"h"))).unwrap();
        assert_eq!(block_on(b.get("a/b/c.dat")).unwrap(), 5);
        assert_eq!(block_on(b.stat("a/x.dat")).unwrap(), 2);
        let mut keys: Vec<String> = block_on(b.list("a/")).unwrap().into_iter().map(|o| o.key).collect();
        keys.sort();
        assert_eq!(keys, vec!["a/b/c.dat", "a/x.dat"]);
        let mut all: Vec<String> = block_on(b.list("a")).unwrap().into_iter().map(|o| o.key).collect();
        all.sort();
        assert_eq!(all, vec!["a/b/c.dat", "a/x.dat", "ab.dat"]);
        assert!(block_on(b.list("nope/")).unwrap().is_empty());
        assert_eq!(block_on(b.list_count("a/")).unwrap(), 2);
        assert_eq!(block_on(b.list_count("a")).unwrap(), 3);
        assert_eq!(block_on(b.list_count("nope/")).unwrap(), 0);
        block_on(b.delete("a/x.dat")).unwrap();
        assert!(matches!(block_on(b.get("a/x.dat")), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn preflight_names_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("missing"), false);
        let e = block_on(b.preflight(false)).unwrap_err().to_string();
        assert!(e.contains("does not exist") && e.contains("missing"), "{e}");
    }

    #[test]
    fn direct_is_refused_on_tmpfs() {
        let shm = Path::new("/dev/shm");
        if direct::memory_fs(shm).ok().flatten().is_none() {
            return; // not tmpfs on this machine
        }
        let b = LocalBackend::new(shm.to_path_buf(), true);
        let e = block_on(b.preflight(true)).unwrap_err();
        assert!(matches!(e, StoreError::Unsupported(_)), "{e}");
    }

    #[test]
    fn direct_round_trip_on_disk() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        if direct::memory_fs(dir.path()).ok().flatten().is_some() {
            return;
        }
        let b = LocalBackend::new(dir.path().to_path_buf(), true);
        block_on(b.preflight(true)).unwrap();
        let data = Bytes::from(vec![7u8; 10_000]);
        block_on(b.put("d/x.bin", data)).unwrap();
        assert_eq!(block_on(b.get("d/x.bin")).unwrap(), 10_000);
        assert_eq!(std::fs::metadata(dir.path().join("d/x.bin")).unwrap().len(), 10_000);
    }

    /// Ranged reads hand over exactly the requested bytes at their offsets, clipped at the end
    /// of the file, with plain and O_DIRECT I/O (O_DIRECT reads aligned blocks around the range).
    #[test]
    fn ranged_reads_pass_the_requested_bytes() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let direct_ok = direct::memory_fs(dir.path()).ok().flatten().is_none();
        for is_direct in [false, true] {
            if is_direct && !direct_ok {
                continue;
            }
            let b = LocalBackend::new(dir.path().to_path_buf(), is_direct);
            block_on(b.put("r.bin", Bytes::from(data.clone()))).unwrap();
            for (off, len) in [(0u64, 4096u64), (5000, 10_000), (12_288, 8192), (99_000, 4096), (1, 99_999)] {
                let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
                let mut sink = |o: u64, d: &[u8]| got.push((o, d.to_vec()));
                let n = block_on(b.read("r.bin", Some((off, len)), Some(&mut sink))).unwrap();
                let end = (off + len).min(data.len() as u64);
                assert_eq!(n, end - off, "direct={is_direct} range {off}+{len}");
                let joined: Vec<u8> = got.iter().flat_map(|(_, d)| d.clone()).collect();
                assert_eq!(got.first().map(|g| g.0), Some(off));
                assert_eq!(&joined[..], &data[off as usize..end as usize], "direct={is_direct} range {off}+{len}");
            }
            let n = block_on(b.read("r.bin", Some((4096, 4096)), None)).unwrap();
            assert_eq!(n, 4096);
        }
    }

    /// Every `storage.page_cache` hint reads the same bytes, whole or ranged; `dontneed` leaves
    /// the file's pages out of the cache after the read (mincore on a fresh mapping).
    #[test]
    fn page_cache_hints_read_the_same_bytes() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        for hint in [PageCache::Normal, PageCache::Sequential, PageCache::Random, PageCache::DontNeed] {
            let b = LocalBackend::new(dir.path().to_path_buf(), false).with_page_cache(hint);
            block_on(b.put("h.bin", Bytes::from(data.clone()))).unwrap();
            assert_eq!(block_on(b.read("h.bin", None, None)).unwrap(), data.len() as u64, "{hint:?}");
            let mut got = Vec::new();
            let mut sink = |_: u64, d: &[u8]| got.extend_from_slice(d);
            let n = block_on(b.read("h.bin", Some((1000, 200_000)), Some(&mut sink))).unwrap();
            assert_eq!(n, 200_000, "{hint:?}");
            assert_eq!(&got[..], &data[1000..201_000], "{hint:?}");
        }
        // After a DONTNEED read, (almost) none of the file is resident: the next GET goes to the
        // device. tmpfs ignores the advice, so /var/tmp on a disk is used (skipped on tmpfs).
        if direct::memory_fs(dir.path()).ok().flatten().is_none() {
            let p = dir.path().join("h.bin");
            let resident = |p: &std::path::Path| -> usize {
                use std::os::unix::io::AsRawFd;
                let f = std::fs::File::open(p).unwrap();
                let len = f.metadata().unwrap().len() as usize;
                // SAFETY: a read-only shared mapping of an open file, unmapped below.
                unsafe {
                    let m = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0);
                    assert_ne!(m, libc::MAP_FAILED);
                    let pages = len.div_ceil(4096);
                    let mut vec = vec![0u8; pages];
                    assert_eq!(libc::mincore(m, len, vec.as_mut_ptr()), 0);
                    libc::munmap(m, len);
                    vec.iter().filter(|v| **v & 1 == 1).count()
                }
            };
            // Dirty pages cannot be dropped, only clean ones: the file written above is flushed
            // first, or the writeback timing decides the result.
            std::fs::File::open(&p).unwrap().sync_all().unwrap();
            let b = LocalBackend::new(dir.path().to_path_buf(), false).with_page_cache(PageCache::DontNeed);
            block_on(b.read("h.bin", None, None)).unwrap();
            let pages = data.len().div_ceil(4096);
            assert!(resident(&p) < pages / 4, "{} of {pages} pages still cached after dontneed", resident(&p));
        }
    }

    /// A recursive RMDIR removes a directory with everything below it, in one request.
    #[test]
    fn remove_tree_removes_everything_below() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().to_path_buf(), false);
        block_on(b.put("t/a/b/x.dat", Bytes::from_static(b"x"))).unwrap();
        block_on(b.put("t/a/y.dat", Bytes::from_static(b"y"))).unwrap();
        assert!(block_on(b.remove_dir("t/a/")).is_err(), "not empty");
        block_on(b.remove_tree("t/a/")).unwrap();
        assert!(!dir.path().join("t/a").exists());
        assert!(dir.path().join("t").is_dir(), "only what is below it");
        assert!(matches!(block_on(b.remove_tree("t/a/")), Err(StoreError::NotFound(_))), "gone");
    }
}
