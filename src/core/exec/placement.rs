//! Where a phase's workers run, and the per-thread kernel state of a worker on an OS thread.
//!
//! With local file systems only, a worker's requests are `open`, `read`/`write`, `close` on its
//! own thread. Threads of one process share two things every `open` and `close` writes: the
//! descriptor table (its lock, taken to allocate and release a descriptor) and the credentials
//! (every open file holds a reference to them, taken at `open` and dropped at `close`). On a
//! machine with several cores those cache lines travel between the cores at every request — at
//! 4 KiB from the page cache that was up to half a microsecond of a ~3 µs GET, varying with where
//! the cores sit. Separate processes (fio's jobs) have neither; a worker thread gets the same
//! with a private copy of both ([`make_private`]).

use std::io;

use crate::core::store::Backend;

/// Where the workers of a phase run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Tasks of the ambient tokio runtime (a backend awaits the network).
    Tasks,
    /// An OS thread each (every backend completes its requests on the calling thread).
    Threads,
    /// An OS thread each, with a private descriptor table and credentials: every backend opens
    /// and closes its own descriptors per request and shares none (local file systems).
    PrivateThreads,
    /// As many OS threads as the process may use cores (at most one per worker), the workers
    /// spread over them as tasks, each thread with private credentials and an io_uring through
    /// which its workers' GETs go (`store/uring.rs`): a phase whose every request is a
    /// `file://` GET, when the kernel allows io_uring and `storage.io_engine` is not `sync`.
    /// The files are opened into the ring's own table: no descriptor of the process's is used.
    Rings,
}

impl Placement {
    /// The placement every one of `backends` allows.
    pub fn of<'a>(backends: impl IntoIterator<Item = &'a dyn Backend>) -> Placement {
        let (mut blocking, mut own) = (true, true);
        for b in backends {
            blocking &= b.is_blocking();
            own &= b.own_descriptors();
        }
        match (blocking, own) {
            (false, _) => Placement::Tasks,
            (true, false) => Placement::Threads,
            (true, true) => Placement::PrivateThreads,
        }
    }

    /// The runtime a worker thread drives its worker on (after [`make_private`] for
    /// [`Placement::PrivateThreads`]). A private thread's runtime has no I/O driver: its
    /// descriptors would be in the thread's private table, where a wake-up from another thread
    /// (which writes to the driver's descriptor by number, in the shared table) cannot reach
    /// them. Its timers and wake-ups then go through a condition variable.
    pub fn worker_runtime(self) -> io::Result<tokio::runtime::Runtime> {
        let mut b = tokio::runtime::Builder::new_current_thread();
        match self {
            Placement::PrivateThreads => b.enable_time(),
            _ => b.enable_all(),
        };
        b.build()
    }

    /// How many threads carry `workers` workers: one each, or for [`Placement::Rings`] one per
    /// core the process may use (none idle).
    pub fn threads(self, workers: usize) -> usize {
        match self {
            Placement::Rings => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                cores.min(workers).max(1)
            }
            _ => workers,
        }
    }
}

/// Give the calling thread a private copy of the process's descriptor table and of its
/// credentials (best effort: a sandbox that refuses either leaves that one shared, which only
/// costs speed). Only for a thread that uses no descriptor opened by another thread after this
/// call and hands none of its own to another thread: a descriptor number means a different
/// file, or none, in the other table. Descriptors open at the call stay open in the copy until
/// the thread ends.
pub fn make_private() {
    // SAFETY: unshare(CLONE_FILES) only replaces the calling thread's descriptor table by a copy;
    // it touches no memory of ours.
    unsafe { libc::unshare(libc::CLONE_FILES) };
    make_private_credentials();
}

/// The credentials half of [`make_private`]: a ring thread opens into its ring's own file table
/// and keeps the process's descriptor table (its runtime's I/O driver is woken through it).
pub fn make_private_credentials() {
    // SAFETY: the prctl calls read and rewrite the calling thread's "keep capabilities" flag with
    // the value it has (no change of privilege), which makes the kernel give the thread a private
    // copy of its credentials. Neither touches memory of ours.
    unsafe {
        let keep = libc::prctl(libc::PR_GET_KEEPCAPS, 0, 0, 0, 0);
        if keep >= 0 {
            libc::prctl(libc::PR_SET_KEEPCAPS, keep as libc::c_ulong, 0, 0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    /// After `make_private` a descriptor the thread opens is in its own table only (gone with
    /// the thread, never in the process's), one opened before is in both, and the thread still
    /// opens, reads and closes files.
    #[test]
    fn a_private_thread_has_its_own_descriptor_table() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dat");
        std::fs::write(&path, b"abc").unwrap();
        let before = std::fs::File::open(&path).unwrap();
        let before_fd = before.as_raw_fd();
        let (fd, seen_before, read) = std::thread::spawn({
            let path = path.clone();
            move || {
                make_private();
                // Left open: without a private table it would stay open in the process's.
                let fd = std::fs::File::open(&path).unwrap().into_raw_fd();
                // SAFETY: fcntl(F_GETFD) only queries the table.
                let seen_before = unsafe { libc::fcntl(before_fd, libc::F_GETFD) } >= 0;
                (fd, seen_before, std::fs::read(&path).unwrap())
            }
        })
        .join()
        .unwrap();
        assert!(seen_before, "a descriptor open before the call is in the copy");
        assert_eq!(read, b"abc");
        let m = std::fs::metadata(&path).unwrap();
        // SAFETY: fstat of a number into a zeroed buffer of ours; it fails when nothing is open.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let open_here = unsafe { libc::fstat(fd, &mut st) } == 0;
        assert!(
            !(open_here && st.st_ino == m.ino() && st.st_dev == m.dev()),
            "the thread's descriptor {fd} is in the process's table"
        );
        drop(before);
    }

    #[test]
    fn placement_follows_the_backends() {
        use crate::core::store::LocalBackend;
        let l = LocalBackend::new(std::path::PathBuf::from("/tmp"), false);
        assert_eq!(Placement::of([&l as &dyn Backend]), Placement::PrivateThreads);
    }

    /// A private thread's runtime (no I/O driver) runs timers and is woken from other threads.
    #[test]
    fn a_private_runtime_is_woken_from_another_thread() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let t = std::thread::spawn(move || {
            make_private();
            let rt = Placement::PrivateThreads.worker_runtime().unwrap();
            rt.block_on(async move {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                rx.await.unwrap()
            })
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        tx.send(7).unwrap();
        assert_eq!(t.join().unwrap(), 7);
    }
}
