//! io_uring for `file://` GETs: the open, read and close of a GET as one linked chain of three
//! requests, several workers' chains handed to the kernel in one `io_uring_enter`.
//!
//! A GET done with blocking calls crosses into the kernel three times; the chain crosses once for
//! all the chains queued on the thread since the last crossing (at 4 KiB from the page cache that
//! is ~15 % of a GET's CPU). The file is opened into a slot of the ring's own file table (a
//! "direct descriptor"), so no descriptor of the process's table is taken or released per GET.
//!
//! Used by the workers of a phase placed on ring threads (`exec::placement::Placement::Rings`):
//! each such thread [`install`]s a ring with a slot per worker it runs, and runs [`drive`] as a
//! task beside them. A worker's read queues its chain ([`read`]) and awaits it; the driver
//! submits what was queued when the workers of the thread have all queued or wait, wakes the
//! workers whose chains ended, and when nothing ended yet (a read that goes to the device) waits
//! on an eventfd the kernel signals when requests complete.
//! Everything here is per thread: a ring is never touched by another thread.

use std::cell::RefCell;
use std::ffi::CStr;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types, IoUring, Probe};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::pagebuf::PageBuf;

/// The largest read done through a ring (bytes); larger ones are read with blocking calls in
/// chunks (`buffered.rs`).
pub const MAX_READ: u64 = 4 * 1024 * 1024;

thread_local! {
    static RING: RefCell<Option<Ring>> = const { RefCell::new(None) };
}

/// One worker's request: its buffers and what its chain's completions said.
struct Slot {
    buf: PageBuf,
    /// The path, NUL-terminated, until the kernel has taken it (at submission).
    path: Vec<u8>,
    /// The open's and the read's results (negative: -errno).
    open: i32,
    read: i32,
    /// The close, the chain's last request, completed: the slot's buffer is the caller's.
    done: bool,
    /// The request's future was dropped before its chain ended: free the slot when it does.
    orphan: bool,
    waker: Option<Waker>,
}

struct Ring {
    ring: IoUring,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Requests pushed to the submission queue and not yet handed to the kernel.
    queued: u32,
    /// Chains handed to the kernel whose close has not completed.
    in_flight: u32,
    /// The driver, when it waits for requests to be queued or for the eventfd.
    driver: Option<Waker>,
    /// Signalled by the kernel when requests completed. Every completion, not only those of
    /// the kernel's workers (`register_eventfd_async`): a buffered read that waited for the
    /// device completes from a task work of this thread, which that would miss.
    efd: AsyncFd<OwnedFd>,
}

/// Whether this kernel runs what [`read`] needs (io_uring with open, read and close into slots
/// of a registered file table); the reason when it does not. Tried once per process, with a
/// real chain (a container's seccomp profile or `kernel.io_uring_disabled` refuse it).
pub fn available() -> Result<(), String> {
    static PROBED: OnceLock<Result<(), String>> = OnceLock::new();
    PROBED.get_or_init(probe).clone()
}

fn probe() -> Result<(), String> {
    let mut ring = IoUring::new(8).map_err(|e| format!("io_uring_setup failed: {e}"))?;
    let mut p = Probe::new();
    ring.submitter().register_probe(&mut p).map_err(|e| format!("io_uring probe failed: {e}"))?;
    for (code, name) in [(opcode::OpenAt::CODE, "openat"), (opcode::Read::CODE, "read"), (opcode::Close::CODE, "close")]
    {
        if !p.is_supported(code) {
            return Err(format!("the kernel's io_uring has no {name}"));
        }
    }
    ring.submitter()
        .register_files_sparse(1)
        .map_err(|e| format!("io_uring has no registered file table (Linux 5.19 or later): {e}"))?;
    let mut buf = [0u8; 8];
    let path = c"/dev/null";
    for sqe in chain(0, path, &mut buf, 0, 1) {
        // SAFETY: `path` and `buf` outlive the chain: it completes in `submit_and_wait` below.
        unsafe { ring.submission().push(&sqe) }.map_err(|_| "io_uring queue full".to_string())?;
    }
    ring.submit_and_wait(3).map_err(|e| format!("io_uring_enter failed: {e}"))?;
    let res: Vec<(u64, i32)> = ring.completion().map(|c| (c.user_data() & 3, c.result())).collect();
    match res.as_slice() {
        [(0, 0), (1, 0), (2, 0)] => Ok(()),
        other => Err(format!("an io_uring open/read/close chain of /dev/null returned {other:?}")),
    }
}

/// The three linked requests of a read of `len` bytes at `off` of `path` into `buf` through file
/// slot `slot`: the read runs only when the open succeeded; the close runs whatever the read did
/// (a short read ends a plain link). User data: the slot, shifted, and the step (0, 1, 2).
fn chain(slot: u32, path: &CStr, buf: &mut [u8], off: u64, len: u32) -> [squeue::Entry; 3] {
    let ud = (slot as u64) << 2;
    // O_CLOEXEC is refused for direct descriptors (they are never in the process's table).
    let open = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
        .flags(libc::O_RDONLY)
        .file_index(types::DestinationSlot::try_from_slot_target(slot).ok())
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(ud);
    let read = opcode::Read::new(types::Fixed(slot), buf.as_mut_ptr(), len)
        .offset(off)
        .build()
        .flags(squeue::Flags::IO_HARDLINK)
        .user_data(ud | 1);
    let close = opcode::Close::new(types::Fixed(slot)).build().user_data(ud | 2);
    [open, read, close]
}

/// Whether a thread can [`install`] a ring of `slots` slots ([`available`], then a ring of that
/// size made and dropped: a kernel that counts ring memory against `RLIMIT_MEMLOCK` refuses a
/// large one). Checked before workers are placed on ring threads, whose workers would otherwise
/// share their thread with blocking reads.
pub fn can_install(slots: usize) -> Result<(), String> {
    available()?;
    new_ring(slots).map(drop).map_err(|e| format!("an io_uring of {slots} file slots cannot be made: {e}"))
}

/// A ring for `slots` slots (clamped to [`MAX_SLOTS`]) with its registered file table; the
/// slots it has.
fn new_ring(slots: usize) -> io::Result<(IoUring, u32)> {
    let slots = slots.clamp(1, MAX_SLOTS) as u32;
    let ring = IoUring::new(entries(slots))?;
    ring.submitter().register_files_sparse(slots)?;
    Ok((ring, slots))
}

/// Slots of one ring at most (a thread with more workers reads the rest with blocking calls).
const MAX_SLOTS: usize = 4096;

/// The submission queue's size for `slots` slots: room for every slot's chain of three.
fn entries(slots: u32) -> u32 {
    (slots * 3).next_power_of_two().max(8)
}

/// Give the calling thread a ring with `slots` slots (one per worker it runs; a worker has one
/// request at a time). Must be called inside the thread's tokio runtime (with its I/O driver).
pub fn install(slots: usize) -> io::Result<()> {
    let (mut ring, slots) = new_ring(slots)?;
    // SAFETY: eventfd returns a new descriptor owned by nothing else (or -1).
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let efd = unsafe { OwnedFd::from_raw_fd(fd) };
    ring.submitter().register_eventfd(efd.as_raw_fd())?;
    // SAFETY: the eventfd is owned by the AsyncFd, open until it is dropped.
    let efd = unsafe { AsyncFd::register_with_interest(efd, Interest::READABLE) }?;
    // Signalled only while the driver waits (see `poll_drive`): a signal per `io_uring_enter`
    // that completed requests would cost every batch.
    ring.completion().disable_eventfd();
    let slots_v = (0..slots)
        .map(|_| Slot {
            buf: PageBuf::empty(),
            path: Vec::new(),
            open: 0,
            read: 0,
            done: false,
            orphan: false,
            waker: None,
        })
        .collect();
    let r = Ring { ring, slots: slots_v, free: (0..slots).rev().collect(), queued: 0, in_flight: 0, driver: None, efd };
    RING.with(|cell| *cell.borrow_mut() = Some(r));
    Ok(())
}

/// Remove the calling thread's ring, first waiting for the chains still in the kernel (their
/// buffers are the ring's).
pub fn uninstall() {
    RING.with(|cell| {
        let Some(mut r) = cell.borrow_mut().take() else { return };
        while r.in_flight > 0 {
            if r.ring.submit_and_wait(1).is_err() {
                break;
            }
            r.reap();
        }
    });
}

/// Whether the calling thread has a ring (its workers' GETs go through it).
pub fn active() -> bool {
    RING.with(|cell| cell.try_borrow().map(|r| r.is_some()).unwrap_or(true))
}

/// Queue the read of `len` bytes at `off` of the path `fill` writes (NUL-terminated, into the
/// request's own buffer: it must live until the kernel took it) on the thread's ring; `None`
/// when the thread has none or no free slot (read with blocking calls then).
pub fn read(fill: impl FnOnce(&mut Vec<u8>), off: u64, len: u64) -> Option<io::Result<Ticket>> {
    if len > MAX_READ {
        return None;
    }
    RING.with(|cell| {
        let mut g = cell.try_borrow_mut().ok()?;
        let r = g.as_mut()?;
        let slot = r.free.pop()?;
        let s = &mut r.slots[slot as usize];
        if let Err(e) = s.buf.grow(len as usize) {
            r.free.push(slot);
            return Some(Err(e));
        }
        s.path.clear();
        fill(&mut s.path);
        let p = match CStr::from_bytes_with_nul(&s.path) {
            Ok(p) => p,
            Err(_) => {
                r.free.push(slot);
                let e = io::Error::new(io::ErrorKind::InvalidInput, "the object key contains a NUL byte");
                return Some(Err(e));
            }
        };
        (s.open, s.read, s.done, s.orphan, s.waker) = (0, 0, false, false, None);
        let sqes = chain(slot, p, &mut s.buf[..len as usize], off, len as u32);
        // SAFETY: the path and the buffer are the slot's, which stays taken until the chain's
        // close completed (a dropped ticket leaves it an orphan until then).
        if unsafe { r.ring.submission().push_multiple(&sqes) }.is_err() {
            r.free.push(slot);
            return None;
        }
        r.queued += 3;
        r.in_flight += 1;
        if let Some(w) = r.driver.take() {
            w.wake();
        }
        Some(Ok(Ticket { slot, finished: false }))
    })
}

/// A queued read; resolves to the bytes read, in the slot's buffer until the [`Filled`] is
/// dropped.
pub struct Ticket {
    slot: u32,
    finished: bool,
}

impl Future for Ticket {
    type Output = io::Result<Filled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<Filled>> {
        let slot = self.slot;
        let out = RING.with(|cell| {
            let Ok(mut g) = cell.try_borrow_mut() else {
                // Polled from inside the ring's own code (a waker that polls inline): later.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            };
            let Some(r) = g.as_mut() else {
                return Poll::Ready(Err(io::Error::other("the thread's io_uring went away")));
            };
            let s = &mut r.slots[slot as usize];
            if !s.done {
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            let res = if s.open < 0 {
                Err(io::Error::from_raw_os_error(-s.open))
            } else if s.read < 0 {
                Err(io::Error::from_raw_os_error(-s.read))
            } else {
                Ok(s.read as usize)
            };
            if res.is_err() {
                r.free.push(slot);
            }
            Poll::Ready(res)
        });
        match out {
            Poll::Ready(r) => {
                self.finished = true;
                Poll::Ready(r.map(|len| Filled { slot, len }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let slot = self.slot;
        RING.with(|cell| {
            if let Ok(mut g) = cell.try_borrow_mut() {
                if let Some(r) = g.as_mut() {
                    let s = &mut r.slots[slot as usize];
                    if s.done {
                        r.free.push(slot);
                    } else {
                        s.orphan = true;
                        s.waker = None;
                    }
                }
            }
        });
    }
}

/// The bytes a ring read returned, in its slot's buffer; the slot is free again when dropped.
pub struct Filled {
    slot: u32,
    len: usize,
}

impl Filled {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Call `f` with the bytes; `None` (and `f` not called) when they are out of reach: the
    /// thread's ring went away, or is borrowed by its own code. Never a silent empty slice in
    /// place of bytes that were read.
    pub fn with<T>(&self, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        RING.with(|cell| match cell.try_borrow().as_deref() {
            Ok(Some(r)) => Some(f(&r.slots[self.slot as usize].buf[..self.len])),
            _ => None,
        })
    }
}

impl Drop for Filled {
    fn drop(&mut self) {
        RING.with(|cell| {
            if let Ok(mut g) = cell.try_borrow_mut() {
                if let Some(r) = g.as_mut() {
                    r.free.push(self.slot);
                }
            }
        });
    }
}

impl Ring {
    /// Take the completions off the ring; returns how many chains ended (their workers woken).
    fn reap(&mut self) -> usize {
        let mut ended = 0;
        let (ring, slots, free) = (&mut self.ring, &mut self.slots, &mut self.free);
        for cqe in ring.completion() {
            let ud = cqe.user_data();
            let Some(s) = slots.get_mut((ud >> 2) as usize) else { continue };
            match ud & 3 {
                0 => s.open = cqe.result(),
                1 => s.read = cqe.result(),
                _ => {
                    s.done = true;
                    ended += 1;
                    if s.orphan {
                        s.orphan = false;
                        free.push((ud >> 2) as u32);
                    } else if let Some(w) = s.waker.take() {
                        w.wake();
                    }
                }
            }
        }
        self.in_flight -= ended as u32;
        ended
    }
}

/// The thread's driver: hands the queued requests to the kernel and wakes the workers whose
/// chains ended. Runs until the ring is uninstalled (or the task is dropped).
pub async fn drive() {
    std::future::poll_fn(poll_drive).await
}

fn poll_drive(cx: &mut Context<'_>) -> Poll<()> {
    RING.with(|cell| {
        let Ok(mut g) = cell.try_borrow_mut() else {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        let Some(r) = g.as_mut() else { return Poll::Ready(()) };
        loop {
            if r.queued > 0 {
                match r.ring.submit() {
                    Ok(_) => r.queued = 0,
                    // The kernel is short of completion space or memory: reap, then try again.
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EAGAIN) | Some(libc::EINTR)) => {}
                    Err(e) => {
                        eprintln!("sai3: io_uring_enter failed: {e}");
                        r.queued = 0;
                    }
                }
            }
            if r.reap() > 0 || r.queued > 0 {
                // Run again after the workers just woken have queued their next requests.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if r.in_flight == 0 {
                r.driver = Some(cx.waker().clone());
                return Poll::Pending;
            }
            // Requests still in the kernel: have it signal the eventfd, and look once more for
            // completions that came before it would.
            r.ring.completion().enable_eventfd();
            if r.reap() > 0 {
                r.ring.completion().disable_eventfd();
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match r.efd.poll_read_ready(cx) {
                Poll::Ready(Ok(mut ready)) => {
                    r.ring.completion().disable_eventfd();
                    let mut n = [0u8; 8];
                    // SAFETY: reads 8 bytes into `n` from the eventfd (non-blocking).
                    unsafe { libc::read(r.efd.get_ref().as_raw_fd(), n.as_mut_ptr().cast(), 8) };
                    ready.clear_ready();
                }
                Poll::Ready(Err(_)) => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Pending => {
                    r.driver = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::path::Path;

    fn cpath(p: &Path) -> CString {
        CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
    }

    /// A current-thread runtime with a ring of `slots` slots and its driver, like a ring thread.
    fn on_ring<T>(slots: usize, f: impl std::future::Future<Output = T>) -> Option<T> {
        if let Err(why) = available() {
            eprintln!("skipped: {why}");
            return None;
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let out = rt.block_on(async {
            install(slots).unwrap();
            let driver = tokio::spawn(drive());
            let out = f.await;
            driver.abort();
            uninstall();
            out
        });
        assert!(!active(), "uninstall removes the ring");
        Some(out)
    }

    fn q(path: &CStr, off: u64, len: u64) -> Option<io::Result<Ticket>> {
        read(|b| b.extend_from_slice(path.to_bytes_with_nul()), off, len)
    }

    async fn get(path: &Path, off: u64, len: u64) -> io::Result<Vec<u8>> {
        let c = cpath(path);
        let t = read(|b| b.extend_from_slice(c.as_bytes_with_nul()), off, len).expect("a free slot")?;
        let filled = t.await?;
        Ok(filled.with(|d| d.to_vec()).expect("the ring is installed"))
    }

    /// Whole reads, ranges (clipped at the end), an empty file and a missing one, from several
    /// workers at once: the bytes are the file's, the errors the system's.
    #[test]
    fn chains_read_what_the_files_hold() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(dir.path().join("a"), &data).unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let d = dir.path().to_path_buf();
        let data2 = data.clone();
        on_ring(4, async move {
            assert!(active());
            let (a, empty) = (d.join("a"), d.join("empty"));
            let (whole, range, tail, empty) = tokio::join!(
                get(&a, 0, data2.len() as u64 + 1),
                get(&a, 4096, 10_000),
                get(&a, 65_000, 10_000),
                get(&empty, 0, 1),
            );
            assert_eq!(whole.unwrap(), data2);
            assert_eq!(range.unwrap(), data2[4096..14_096]);
            assert_eq!(tail.unwrap(), data2[65_000..]);
            assert!(empty.unwrap().is_empty());
            let e = get(&d.join("missing"), 0, 10).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            // A directory opens but does not read.
            let e = get(&d, 0, 10).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
            // Sequential reuse of every slot: no slot is lost to finished or failed requests.
            for _ in 0..20 {
                assert_eq!(get(&d.join("a"), 0, 100).await.unwrap(), data2[..100]);
            }
        });
    }

    /// The check before placing workers on ring threads makes a ring of the size they need.
    #[test]
    fn rings_of_the_needed_size_can_be_made() {
        if available().is_err() {
            return;
        }
        for slots in [1, 8, 1000, 100_000] {
            assert_eq!(can_install(slots), Ok(()), "{slots} slots");
        }
        assert_eq!(entries(8), 32);
        assert_eq!(entries(1), 8);
    }

    /// More requests than slots: the extra ones get `None` (the caller reads with blocking
    /// calls); a ticket dropped before its chain ended gives its slot back once it has.
    #[test]
    fn slots_are_bounded_and_dropped_tickets_return_theirs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"abcdef").unwrap();
        let p = cpath(&dir.path().join("a"));
        on_ring(2, async move {
            let t1 = q(&p, 0, 7).unwrap().unwrap();
            let t2 = q(&p, 0, 7).unwrap().unwrap();
            assert!(q(&p, 0, 7).is_none(), "two slots, two requests");
            drop(t1);
            assert_eq!(t2.await.unwrap().with(|d| d.to_vec()).unwrap(), b"abcdef");
            // The dropped one ends in the kernel and frees its slot: both are usable again.
            let mut ok = 0;
            for _ in 0..100 {
                if let (Some(Ok(a)), Some(Ok(b))) = (q(&p, 0, 7), q(&p, 2, 2)) {
                    assert_eq!(a.await.unwrap().with(|d| d.to_vec()).unwrap(), b"abcdef");
                    assert_eq!(b.await.unwrap().with(|d| d.to_vec()).unwrap(), b"cd");
                    ok += 1;
                    break;
                }
                tokio::task::yield_now().await;
            }
            assert_eq!(ok, 1, "the dropped ticket's slot came back");
            assert!(q(&p, 0, MAX_READ + 1).is_none(), "larger reads are not the ring's");
        });
    }

    /// A chain that cannot complete at once (the open of a FIFO waits for a writer, in the
    /// kernel's own workers) completes later and wakes its worker through the eventfd.
    #[test]
    fn a_chain_that_waits_completes_later() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = cpath(&fifo);
        // SAFETY: mkfifo of a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(100));
                std::fs::write(&fifo, b"late").unwrap();
            })
        };
        let got = on_ring(1, async move {
            let t = q(&c, 0, 64).unwrap().unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(10), t)
                .await
                .expect("woken")
                .unwrap()
                .with(|d| d.to_vec())
                .unwrap()
        });
        writer.join().unwrap();
        if let Some(got) = got {
            assert_eq!(got, b"late");
        }
    }

    /// A read of a file whose pages left the cache waits for the device and completes from a
    /// task work of the thread, not from the kernel's workers: the eventfd must still wake the
    /// driver (with `register_eventfd_async` this hung).
    #[test]
    fn a_read_from_the_device_completes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cold");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut runs = 0;
        for _ in 0..5 {
            std::fs::write(&p, &data).unwrap();
            let f = std::fs::File::open(&p).unwrap();
            f.sync_all().unwrap();
            // SAFETY: advice on a descriptor we own; the file's clean pages leave the cache.
            unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            let path = p.clone();
            let Some(got) = on_ring(1, async move {
                let read = get(&path, 0, 1_000_001);
                tokio::time::timeout(std::time::Duration::from_secs(10), read).await.expect("woken").unwrap()
            }) else {
                return;
            };
            assert_eq!(got.len(), data.len());
            assert!(got == data);
            runs += 1;
        }
        assert_eq!(runs, 5);
    }
}
