//! The socket under sai3's S3 data path (s3http.rs): a tokio stream, or — with
//! `storage.s3_client: threads` — a blocking one, used from workers that each have an OS thread
//! of their own. A blocking request is a `write` and a `read` that sleeps in the kernel until the
//! answer is there: no readiness registration, no event loop wake-up, no hand-over between
//! threads (what a request on the tokio stream costs on top, docs/PERFORMANCE.md "Local S3").

use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes a blocking read takes at most at once.
const SCRATCH: usize = 64 << 10;

/// Whether the caller may block its thread: it runs on a runtime of its own (a worker's
/// current-thread runtime) or on none; tasks of a shared multi-thread runtime may not.
pub(super) fn may_block() -> bool {
    tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
        .unwrap_or(true)
}

pub(super) enum Wire {
    Async(tokio::net::TcpStream),
    /// With a scratch buffer reads land in (zeroed once, reused).
    Blocking(std::net::TcpStream, Vec<u8>),
}

impl Wire {
    /// Connect to `addr` (`host:port`) within `connect`; a blocking socket gets `timeout` on its
    /// reads and writes (the request timeout).
    pub(super) async fn connect(addr: &str, blocking: bool, connect: Duration, timeout: Duration) -> io::Result<Wire> {
        if blocking {
            let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr} resolves to no address"));
            for sa in addr.to_socket_addrs()? {
                match std::net::TcpStream::connect_timeout(&sa, connect) {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        s.set_read_timeout(Some(timeout))?;
                        s.set_write_timeout(Some(timeout))?;
                        return Ok(Wire::Blocking(s, vec![0; SCRATCH]));
                    }
                    Err(e) => last = e,
                }
            }
            return Err(last);
        }
        match tokio::time::timeout(connect, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(Wire::Async(s))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("no connection within {connect:?}"))),
        }
    }

    /// The same connection for the other kind of caller: blocking for a worker on a thread of
    /// its own, async for a task on a shared runtime (a connection from the idle list may have
    /// served either).
    pub(super) fn into_mode(self, blocking: bool, timeout: Duration) -> io::Result<Wire> {
        match (self, blocking) {
            (Wire::Async(s), true) => {
                let s = s.into_std()?;
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                Ok(Wire::Blocking(s, vec![0; SCRATCH]))
            }
            (Wire::Blocking(s, _), false) => {
                s.set_nonblocking(true)?;
                Ok(Wire::Async(tokio::net::TcpStream::from_std(s)?))
            }
            (w, _) => Ok(w),
        }
    }

    pub(super) fn is_blocking(&self) -> bool {
        matches!(self, Wire::Blocking(..))
    }

    pub(super) async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Wire::Async(s) => s.write_all(b).await,
            Wire::Blocking(s, _) => s.write_all(b),
        }
    }

    /// Read what is there into the spare capacity of `buf` (made room for `more` bytes when
    /// full); 0 is the end of the stream.
    pub(super) async fn read_more(&mut self, buf: &mut Vec<u8>, more: usize) -> io::Result<usize> {
        if buf.capacity() == buf.len() {
            buf.reserve(more);
        }
        match self {
            Wire::Async(s) => s.read_buf(buf).await,
            Wire::Blocking(s, scratch) => {
                let r = loop {
                    match s.read(scratch) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r,
                    }
                };
                if let Ok(n) = r {
                    buf.extend_from_slice(&scratch[..n]);
                }
                r.map_err(|e| match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        io::Error::new(io::ErrorKind::TimedOut, "no answer within the request timeout")
                    }
                    _ => e,
                })
            }
        }
    }
}
