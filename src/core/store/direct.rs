//! The hot path of `direct://`: whole-object reads and writes with `O_DIRECT`, through a
//! per-thread buffer aligned to [`ALIGN`] bytes, plus the checks that a directory's file system
//! really does direct I/O. Linux only. Must not fall back to buffered I/O silently.

use std::cell::RefCell;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::buffered::close_checked;
use super::pagebuf::PageBuf;

/// Alignment of buffers, offsets and lengths for O_DIRECT (bytes). 4096 also satisfies devices
/// with 512-byte logical blocks.
pub(super) const ALIGN: usize = super::pagebuf::PAGE;
/// Size of one aligned transfer (bytes); objects larger than this move in several requests.
const CHUNK: usize = 1024 * 1024;

thread_local! {
    static BUF: RefCell<PageBuf> = const { RefCell::new(PageBuf::empty()) };
}

/// Run `f` with this thread's aligned buffer of `CHUNK` bytes (a private one if the thread's is
/// in use).
fn with_buf<R>(f: impl FnOnce(&mut [u8]) -> io::Result<R>) -> io::Result<R> {
    BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.grow(CHUNK)?;
            f(&mut buf)
        }
        Err(_) => f(&mut PageBuf::zeroed(CHUNK)?),
    })
}

fn open_direct(path: &Path, write: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    if write {
        o.write(true).create(true).truncate(true);
    } else {
        o.read(true);
    }
    o.custom_flags(libc::O_DIRECT).open(path)
}

/// Read `path` to EOF with O_DIRECT in aligned chunks, discarding the data; returns bytes read.
/// A short read ends the object (its last, partial block): O_DIRECT reads never continue from
/// an unaligned offset.
pub(super) fn read_all(path: &Path) -> io::Result<u64> {
    let mut file = open_direct(path, false)?;
    with_buf(|buf| {
        let mut total = 0u64;
        loop {
            let n = match file.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n as u64;
            if n < buf.len() {
                return Ok(total);
            }
        }
    })
}

/// Read `range` of `path` with O_DIRECT (aligned offsets and lengths; see
/// [`super::buffered::read_range`]), feeding `sink`; returns the bytes of the range read.
pub(super) fn read(path: &Path, range: Option<(u64, u64)>, sink: Option<super::buffered::Sink<'_>>) -> io::Result<u64> {
    if range.is_none() && sink.is_none() {
        return read_all(path);
    }
    let file = open_direct(path, false)?;
    with_buf(|buf| super::buffered::read_range(&file, buf, range, ALIGN as u64, sink))
}

/// Create or replace `path` with `data` using O_DIRECT: each chunk is copied into the aligned
/// buffer, the last one padded with zeros to [`ALIGN`], and the file then truncated to the real
/// length. No fsync: O_DIRECT already bypasses the page cache for the data.
pub(super) fn write_all(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = open_direct(path, true)?;
    with_buf(|buf| {
        for chunk in data.chunks(CHUNK) {
            buf[..chunk.len()].copy_from_slice(chunk);
            let padded = chunk.len().div_ceil(ALIGN) * ALIGN;
            buf[chunk.len()..padded].fill(0);
            write_exact(&mut file, &buf[..padded])?;
        }
        Ok(())
    })?;
    if !data.len().is_multiple_of(ALIGN) {
        file.set_len(data.len() as u64)?;
    }
    close_checked(file)
}

fn write_exact(file: &mut File, block: &[u8]) -> io::Result<()> {
    loop {
        match file.write(block) {
            Ok(n) if n == block.len() => return Ok(()),
            Ok(n) => {
                return Err(io::Error::other(format!(
                    "short O_DIRECT write ({n} of {} bytes) — is the disk full?",
                    block.len()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The name of a memory file system at `path` (`tmpfs`, `ramfs`), where O_DIRECT is refused or
/// (on newer kernels) accepted without any device I/O to measure.
pub(super) fn memory_fs(path: &Path) -> io::Result<Option<&'static str>> {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: an all-zero `statfs` is a valid value of this plain C struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid, writable statfs.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    let magic = st.f_type as i64;
    Ok(match magic {
        TMPFS_MAGIC => Some("tmpfs"),
        RAMFS_MAGIC => Some("ramfs"),
        _ => None,
    })
}

/// Prove O_DIRECT works in `dir`: write one aligned block to a probe file, read it back, remove it.
pub(super) fn probe_write(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!(".sai3-direct-probe-{}", std::process::id()));
    let block = vec![0x5au8; ALIGN];
    let result = write_all(&probe, &block).and_then(|_| read_all(&probe));
    let removed = std::fs::remove_file(&probe);
    match result {
        Ok(n) if n == ALIGN as u64 => removed,
        Ok(n) => Err(io::Error::other(format!("O_DIRECT probe read {n} bytes, expected {ALIGN}"))),
        Err(e) => Err(e),
    }
}

/// Prove O_DIRECT reads work in `dir` without writing: open the first regular file found
/// (depth-first, a bounded number of entries) and read its first chunk. `Ok` when none exists.
pub(super) fn probe_read(dir: &Path) -> io::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    let mut budget = 10_000usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return Ok(());
            }
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                let mut f = open_direct(&entry.path(), false)?;
                return with_buf(|buf| f.read(&mut buf[..ALIGN]).map(|_| ()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp dir on a disk-backed file system (not tmpfs), or `None` if none is at hand.
    fn disk_dir() -> Option<tempfile::TempDir> {
        for base in ["/var/tmp", "/work", env!("CARGO_MANIFEST_DIR")] {
            if let Ok(d) = tempfile::tempdir_in(base) {
                if memory_fs(d.path()).ok()?.is_none() {
                    return Some(d);
                }
            }
        }
        None
    }

    #[test]
    fn round_trips_unaligned_sizes() {
        let Some(dir) = disk_dir() else {
            eprintln!("skipped: no disk-backed directory");
            return;
        };
        for size in [0usize, 1, 100, ALIGN - 1, ALIGN, ALIGN + 1, CHUNK, CHUNK + 4097, 3 * CHUNK + 5] {
            let p = dir.path().join(format!("o{size}"));
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
            write_all(&p, &data).unwrap();
            assert_eq!(std::fs::metadata(&p).unwrap().len(), size as u64, "size {size}");
            assert_eq!(std::fs::read(&p).unwrap(), data, "content {size}");
            assert_eq!(read_all(&p).unwrap(), size as u64, "read {size}");
        }
        probe_write(dir.path()).unwrap();
        probe_read(dir.path()).unwrap();
    }

    #[test]
    fn buffers_are_aligned() {
        with_buf(|b| {
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert_eq!(b.len(), CHUNK);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn dev_shm_is_reported_as_memory_fs() {
        let p = Path::new("/dev/shm");
        if p.is_dir() && std::fs::read_to_string("/proc/mounts").unwrap_or_default().contains(" /dev/shm tmpfs ") {
            assert_eq!(memory_fs(p).unwrap(), Some("tmpfs"));
        }
    }
}
