//! The hot path of `file://`: whole-object reads and writes with plain blocking syscalls, done
//! inline on the calling thread (no thread hop), into a per-thread buffer that is reused across
//! requests. Must not allocate per request once the buffer has grown to its working size.

use std::cell::RefCell;
use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::Path;

use super::pagebuf::PageBuf;
use crate::core::config::PageCache;

/// First size of a thread's read buffer (bytes).
const INITIAL_BUF: usize = 128 * 1024;
/// The read buffer stops growing here; larger objects are read in chunks of this size (bytes).
const MAX_BUF: usize = 4 * 1024 * 1024;

thread_local! {
    /// Page-aligned: the kernel copies into it faster than into a buffer 16 bytes past a page
    /// (what an ordinary allocation of this size gets), see pagebuf.rs.
    static READ_BUF: RefCell<PageBuf> = const { RefCell::new(PageBuf::empty()) };
}

/// Open `path`, read it to EOF into the thread's buffer (discarding the data), close it.
/// Returns the number of bytes read.
#[cfg(test)]
pub(super) fn read_all(path: &Path) -> io::Result<u64> {
    read_file(&mut File::open(path)?, None, None)
}

/// Read `file` to EOF into the thread's buffer, handing each chunk to `sink` (when given);
/// `known`: the size it was listed (or written) with (see [`read_loop`]).
fn read_file(file: &mut File, known: Option<u64>, sink: Option<Sink<'_>>) -> io::Result<u64> {
    READ_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => read_loop(file, &mut buf, known, sink),
        // Re-entered on this thread (cannot happen from the engine): use a private buffer.
        Err(_) => read_loop(file, &mut PageBuf::empty(), known, sink),
    })
}

/// Read `file` to EOF. With the size it is `known` to have (below [`MAX_BUF`]), the first read
/// asks for one byte more than that: a regular file returns fewer bytes than asked only at its
/// end, so exactly `known` bytes back is the whole file, in one read and without the read that
/// returns 0. Any other count (the file grew, or is shorter than listed) goes on reading to a
/// read of 0 bytes as without a size, so the bytes counted and passed on are the file's
/// whatever its size is now.
fn read_loop(
    file: &mut impl Read,
    buf: &mut PageBuf,
    known: Option<u64>,
    mut sink: Option<Sink<'_>>,
) -> io::Result<u64> {
    buf.grow(INITIAL_BUF)?;
    let mut total = 0u64;
    if let Some(size) = known.filter(|&s| s < MAX_BUF as u64) {
        let want = size as usize + 1;
        buf.grow(want)?;
        let n = loop {
            match file.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(0);
        }
        if let Some(s) = sink.as_mut() {
            s(0, &buf[..n]);
        }
        total = n as u64;
        if total == size {
            return Ok(total);
        }
    }
    loop {
        match file.read(&mut buf[..]) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                if let Some(s) = sink.as_mut() {
                    s(total, &buf[..n]);
                }
                total += n as u64;
                // A full buffer means a large object: grow so the next one needs fewer syscalls.
                if n == buf.len() && buf.len() < MAX_BUF {
                    buf.grow((buf.len() * 2).min(MAX_BUF))?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A consumer of the bytes a read returns: (offset in the object, bytes).
pub type Sink<'a> = &'a mut (dyn FnMut(u64, &[u8]) + Send);

/// Read `range` (`(offset, length)`, clipped at the end of the file; `None`: the whole file)
/// from `file` with positioned reads into `buf`, feeding `sink`. I/O is done at `align`ed offsets
/// and lengths (O_DIRECT needs that); only the requested bytes are counted and passed on.
pub(super) fn read_range(
    file: &File,
    buf: &mut [u8],
    range: Option<(u64, u64)>,
    align: u64,
    mut sink: Option<Sink<'_>>,
) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let (start, end) = match range {
        Some((off, len)) => (off, off.saturating_add(len)),
        None => (0, u64::MAX),
    };
    let mut pos = start / align * align;
    let mut total = 0u64;
    while pos < end {
        let left = end - pos;
        let want = if left >= buf.len() as u64 { buf.len() } else { (left.div_ceil(align) * align) as usize };
        let want = want.min(buf.len());
        let n = match file.read_at(&mut buf[..want], pos) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        let lo = start.saturating_sub(pos).min(n as u64) as usize;
        let hi = (n as u64).min(end - pos) as usize;
        if hi > lo {
            total += (hi - lo) as u64;
            if let Some(s) = sink.as_mut() {
                s(pos + lo as u64, &buf[lo..hi]);
            }
        }
        pos += n as u64;
        // A short read is the end of the file (O_DIRECT never continues from an unaligned offset).
        if n < want {
            break;
        }
    }
    Ok(total)
}

/// Open `path` and read `range` of it (see [`read_range`]; without a range, all of it to EOF with
/// sequential reads into a buffer that grows with the objects, the hot path of whole-object GETs,
/// sink or not, in one read when the file still has the size it is `known` to have: see
/// [`read_loop`]) through the thread's buffer. `hint` is `storage.page_cache`: `posix_fadvise`
/// SEQUENTIAL, RANDOM or NORMAL before reading, or DONTNEED after it (the file's pages leave the
/// cache, so the next read of it goes to the storage); `Auto` makes no call.
pub(super) fn read(
    path: &CStr,
    range: Option<(u64, u64)>,
    known: Option<u64>,
    sink: Option<Sink<'_>>,
    hint: PageCache,
) -> io::Result<u64> {
    let mut file = open_read(path)?;
    let before = match hint {
        PageCache::Sequential => Some(libc::POSIX_FADV_SEQUENTIAL),
        PageCache::Random => Some(libc::POSIX_FADV_RANDOM),
        PageCache::Normal => Some(libc::POSIX_FADV_NORMAL),
        PageCache::Auto | PageCache::DontNeed => None,
    };
    if let Some(advice) = before {
        // SAFETY: the descriptor is owned by `file`, open for the whole call.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, advice) };
    }
    let n = if range.is_none() {
        read_file(&mut file, known, sink)
    } else {
        READ_BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                buf.grow(MAX_BUF)?;
                read_range(&file, &mut buf, range, 1, sink)
            }
            Err(_) => read_range(&file, &mut vec![0u8; MAX_BUF], range, 1, sink),
        })
    }?;
    if hint == PageCache::DontNeed {
        // SAFETY: as above.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    Ok(n)
}

/// `open(path, O_RDONLY | O_CLOEXEC)` of a path already NUL-terminated (what `File::open` does,
/// without copying the path to add the NUL).
fn open_read(path: &CStr) -> io::Result<File> {
    loop {
        // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: `fd` was just opened and is owned by nothing else.
            return Ok(unsafe { File::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Create or replace `path` with `data` (no temporary file, no fsync) and close it, reporting
/// errors that only `close` reveals (NFS). `NotFound` means a parent directory is missing.
pub(super) fn write_all(path: &Path, data: &[u8]) -> io::Result<()> {
    let file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    write_and_close(file, data)
}

/// Write all of `data` to `file`, then close it and report a failed close.
pub(super) fn write_and_close(mut file: File, data: &[u8]) -> io::Result<()> {
    io::Write::write_all(&mut file, data)?;
    close_checked(file)
}

/// Close a file and return the error `close(2)` reports (std's `Drop` ignores it).
pub(super) fn close_checked(file: File) -> io::Result<()> {
    use std::os::fd::IntoRawFd;
    let fd = file.into_raw_fd();
    // SAFETY: `fd` was just released by `into_raw_fd`, so it is open and owned by nobody else;
    // it is closed exactly once here.
    let rc = unsafe { libc::close(fd) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(p: &Path) -> std::ffi::CString {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
    }

    #[test]
    fn reads_small_and_large_files_exactly() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0usize, 1, 4096, INITIAL_BUF, INITIAL_BUF + 1, 3 * MAX_BUF + 17] {
            let p = dir.path().join(format!("f{size}"));
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            write_all(&p, &data).unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), data);
            assert_eq!(read_all(&p).unwrap(), size as u64);
            // With a sink: every byte once, in order, at its offset; no chunk for an empty file.
            let mut got = Vec::new();
            let mut sink = |off: u64, d: &[u8]| {
                assert_eq!(off, got.len() as u64);
                assert!(!d.is_empty());
                got.extend_from_slice(d);
            };
            assert_eq!(read(&c(&p), None, None, Some(&mut sink), PageCache::Auto).unwrap(), size as u64);
            assert!(got == data, "{size} bytes");
        }
    }

    /// A file's bytes served like a regular file: each read returns what is asked, up to the end
    /// (at most `chunk` bytes when set: a reader that returns short reads mid-file), counting the
    /// reads.
    struct Counted {
        data: Vec<u8>,
        pos: usize,
        chunk: Option<usize>,
        reads: usize,
    }

    impl Read for Counted {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let n = out.len().min(self.data.len() - self.pos).min(self.chunk.unwrap_or(usize::MAX));
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// With the size known: the whole file, every byte once at its offset, whether it is the
    /// listed size (one read, none returning 0), larger (it grew: read on to the end) or smaller
    /// (read on to a read of 0 bytes), and with short reads mid-file.
    #[test]
    fn a_known_size_reads_the_whole_file_whatever_its_size_now() {
        for (actual, listed, chunk, reads) in [
            (4096usize, 4096u64, None, Some(1)),
            (0, 0, None, Some(1)),
            (1, 1, None, Some(1)),
            (INITIAL_BUF + 10, INITIAL_BUF as u64 + 10, None, Some(1)),
            (MAX_BUF - 1, MAX_BUF as u64 - 1, None, Some(1)),
            (4097, 4096, None, Some(2)),
            (4098, 4096, None, Some(3)),
            (1_000_000, 4096, None, None),
            (4095, 4096, None, Some(2)),
            (0, 4096, None, Some(1)),
            (4096, 4096, Some(1000), None),
            (MAX_BUF + 5, MAX_BUF as u64 + 5, None, None),
        ] {
            let data: Vec<u8> = (0..actual).map(|i| (i % 251) as u8).collect();
            let mut f = Counted { data: data.clone(), pos: 0, chunk, reads: 0 };
            let mut got = Vec::new();
            let mut sink = |off: u64, d: &[u8]| {
                assert_eq!(off, got.len() as u64);
                assert!(!d.is_empty());
                got.extend_from_slice(d);
            };
            let what = format!("{actual} bytes listed as {listed}, chunk {chunk:?}");
            let n = read_loop(&mut f, &mut PageBuf::empty(), Some(listed), Some(&mut sink)).unwrap();
            assert_eq!(n, actual as u64, "{what}");
            assert!(got == data, "{what}");
            assert_eq!(f.pos, actual, "{what}");
            if let Some(r) = reads {
                assert_eq!(f.reads, r, "{what}");
            }
            // Without a sink, the same count.
            let mut f = Counted { data: data.clone(), pos: 0, chunk, reads: 0 };
            assert_eq!(read_loop(&mut f, &mut PageBuf::empty(), Some(listed), None).unwrap(), actual as u64, "{what}");
        }
    }

    /// On a real file: a GET with the listed size returns the file's bytes as they are now.
    #[test]
    fn known_size_on_files_that_changed_since_listed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        for (actual, listed) in [(4096usize, 4096u64), (10_000, 4096), (100, 4096), (0, 4096), (65_536, 65_536)] {
            let data: Vec<u8> = (0..actual).map(|i| (i % 253) as u8).collect();
            write_all(&p, &data).unwrap();
            let mut got = Vec::new();
            let mut sink = |_: u64, d: &[u8]| got.extend_from_slice(d);
            let n = read(&c(&p), None, Some(listed), Some(&mut sink), PageCache::Auto).unwrap();
            assert_eq!(n, actual as u64, "{actual} listed as {listed}");
            assert!(got == data, "{actual} listed as {listed}");
            assert_eq!(read(&c(&p), None, Some(listed), None, PageCache::Auto).unwrap(), actual as u64);
        }
    }

    #[test]
    fn missing_parent_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_all(&dir.path().join("no/such/dir/f"), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(read_all(&dir.path().join("nope")).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
