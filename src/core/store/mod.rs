//! Storage: one [`Backend`] per endpoint URI (object_store for s3/az/gs, sai3's own fast paths
//! for `file://` and `direct://`), grouped into a [`Store`] that picks an endpoint per request
//! (round_robin / least_connections). Keys are relative to the endpoint's base URI.
//! Must not record metrics itself: callers time requests and record them per worker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::core::config::{StorageOptions, Strategy};

mod buffered;
mod cloud;
mod direct;
mod errmap;
mod local;
mod pagebuf;
mod s3http;
mod s3wire;
mod sigv4;
mod uri;
pub mod uring;

pub use buffered::Sink;
pub(crate) use errmap::chain_text;
pub use local::LocalBackend;
pub use uri::{parse_location, redact_uri, Location};

/// Why a storage request failed, classified so errors can be counted by kind.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid URI {uri}: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("I/O error: {0}")]
    Io(String),
    /// Preflight of a run that writes: the local directory does not exist yet but can be created
    /// (its nearest existing ancestor is a writable directory). The path, as shown to the user.
    #[error("directory {0} does not exist yet; it is created when the run first writes")]
    MissingRoot(String),
    /// A GET read bytes other than the generator made for the object (`verify: true`).
    #[error("verification failed: {0}")]
    Verify(String),
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// Short stable name used to count errors by kind (`not_found`, `timeout`, …).
    pub fn kind_name(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) => "not_found",
            StoreError::PermissionDenied(_) => "permission_denied",
            StoreError::Auth(_) => "auth",
            StoreError::Timeout(_) => "timeout",
            StoreError::Connection(_) => "connection",
            StoreError::Http { .. } => "http",
            StoreError::Unsupported(_) => "unsupported",
            StoreError::InvalidUri { .. } => "invalid_uri",
            StoreError::Io(_) => "io",
            StoreError::MissingRoot(_) => "not_found",
            StoreError::Verify(_) => "verify_failed",
            StoreError::Other(_) => "other",
        }
    }
}

/// An object found by `list`: key relative to the backend's base, and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// One endpoint's storage client. All keys are relative to the base URI it was built for.
pub trait Backend: Send + Sync {
    /// Read the whole object, discarding the data; returns bytes read.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.read(key, None, None)
    }
    /// Read `range` (`(offset, length)`, clipped at the object's end; `None`: all of it), passing
    /// each chunk with its offset to `sink` when one is given; returns the bytes of the range read.
    fn read<'a>(
        &'a self,
        key: &'a str,
        range: Option<(u64, u64)>,
        sink: Option<Sink<'a>>,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
    /// Read the whole object like `read(key, None, sink)`, knowing it was listed (or written)
    /// with `size` bytes: a backend may use that to read it in fewer requests, but must still
    /// return (and pass to `sink`) all of the object as it is now, larger or smaller than `size`.
    fn read_sized<'a>(
        &'a self,
        key: &'a str,
        size: u64,
        sink: Option<Sink<'a>>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let _ = size;
        self.read(key, None, sink)
    }
    /// [`Self::read`] (with `known`: [`Self::read_sized`]) done on the calling thread without a
    /// future, by a backend whose reads complete without awaiting (local files): the hot path of
    /// a GET allocates nothing. `None` (the default): use `read`/`read_sized`; `sink` is taken
    /// only when the read is done here.
    fn read_inline(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        known: Option<u64>,
        sink: &mut Option<Sink<'_>>,
    ) -> Option<Result<u64, StoreError>> {
        let _ = (key, range, known, sink);
        None
    }
    /// Write (create or replace) the object.
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Every object under `prefix` (recursive), keys relative to the base.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectInfo>, StoreError>>;
    /// Number of objects under `prefix` (recursive): the measured LIST. Backends may answer it
    /// more cheaply than `list` (a file system reads directory entries without stat-ing each).
    fn list_count<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move { self.list(prefix).await.map(|v| v.len() as u64) })
    }
    /// Size of the object in bytes.
    fn stat<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>>;
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Create a directory and its parents (file systems); a no-op on object stores.
    fn mkdir<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The measured MKDIR: create one directory whose parent exists (file systems only).
    fn make_dir<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::Unsupported(format!(
            "MKDIR {key}: object stores have no directories"
        )))))
    }
    /// The measured RMDIR: remove one empty directory (file systems only).
    fn remove_dir<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::Unsupported(format!(
            "RMDIR {key}: object stores have no directories"
        )))))
    }
    /// The measured recursive RMDIR: remove a directory with everything in it (file systems only).
    fn remove_tree<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::Unsupported(format!(
            "RMDIR {key}: object stores have no directories"
        )))))
    }
    /// Every directory under `prefix` (recursive), keys relative to the base ending in `/`
    /// (file systems only).
    fn list_dirs<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::Unsupported(format!(
            "listing directories under {prefix}: object stores have no directories"
        )))))
    }
    /// True when each request completes without awaiting anything (local file systems):
    /// the engine then runs each worker on its own OS thread.
    fn is_blocking(&self) -> bool;
    /// True when every request opens and closes its own file descriptors on the calling thread
    /// and keeps none between requests (local file systems): a worker thread may then have a
    /// private descriptor table (`exec::placement`). Pooled connections are shared: false.
    fn own_descriptors(&self) -> bool {
        false
    }
    /// True when a worker on a ring thread (`exec::placement`) reads through the thread's
    /// io_uring (`uring.rs`): `file://` without a page-cache hint.
    fn ring_reads(&self) -> bool {
        false
    }
    /// Check, before any I/O of the run, that the endpoint is reachable and (if `write`) writable.
    fn preflight<'a>(&'a self, write: bool) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// One endpoint of a [`Store`].
pub struct Endpoint {
    /// Index of this endpoint in the run's endpoint table (endpoint stats rows).
    pub idx: usize,
    /// Base URI as configured (credentials never included).
    pub uri: String,
    /// The same, shared: what op-log records name.
    pub label: Arc<str>,
    pub backend: Arc<dyn Backend>,
    /// Requests in flight right now: counted only where least_connections reads it (a store of
    /// several endpoints with that strategy), else 0 — every worker would otherwise write this
    /// one shared counter twice per request.
    pub in_flight: AtomicUsize,
}

/// A set of endpoints of one namespace and the strategy that picks among them.
pub struct Store {
    pub endpoints: Vec<Arc<Endpoint>>,
    pub strategy: Strategy,
}

/// Per-worker round-robin position; each worker cycles through the endpoints on its own,
/// so the split is even within one request per worker and needs no shared counter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cursor(pub usize);

/// Decrements the endpoint's in-flight count when the request ends (when it was counted).
pub struct InFlight<'a>(Option<&'a Endpoint>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(ep) = self.0 {
            ep.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The backend for one endpoint base URI. Builds the client only: sends no request.
pub async fn open_backend(uri: &str, opts: &StorageOptions) -> Result<Arc<dyn Backend>, StoreError> {
    match parse_location(uri)? {
        Location::File { root } => Ok(Arc::new(LocalBackend::new(root, false).with_page_cache(opts.page_cache))),
        Location::Direct { root } => Ok(Arc::new(LocalBackend::new(root, true))),
        loc => cloud::open(uri, &loc, opts),
    }
}

impl Store {
    /// Open one backend per URI; endpoint indexes start at `first_idx`.
    pub async fn open(
        uris: &[String],
        strategy: Strategy,
        opts: &StorageOptions,
        first_idx: usize,
    ) -> Result<Store, StoreError> {
        let mut endpoints = Vec::with_capacity(uris.len());
        for (i, uri) in uris.iter().enumerate() {
            let backend = open_backend(uri, opts).await?;
            let uri = redact_uri(uri);
            endpoints.push(Arc::new(Endpoint {
                idx: first_idx + i,
                label: Arc::from(uri.as_str()),
                uri,
                backend,
                in_flight: AtomicUsize::new(0),
            }));
        }
        if endpoints.is_empty() {
            return Err(StoreError::Other("no endpoint URI given".into()));
        }
        Ok(Store { endpoints, strategy })
    }

    /// Whether endpoints' in-flight counts are read (to pick among them), so kept.
    fn counts_in_flight(&self) -> bool {
        self.endpoints.len() > 1 && matches!(self.strategy, Strategy::LeastConnections)
    }

    /// Pick the endpoint for the next request and, when the strategy reads it, count it in flight
    /// until the guard drops.
    pub fn pick<'s>(&'s self, cursor: &mut Cursor) -> (&'s Arc<Endpoint>, InFlight<'s>) {
        let i = match self.strategy {
            _ if self.endpoints.len() == 1 => 0,
            Strategy::RoundRobin => {
                let i = cursor.0 % self.endpoints.len();
                cursor.0 = cursor.0.wrapping_add(1);
                i
            }
            Strategy::LeastConnections => {
                // Start the scan at the cursor so ties rotate instead of piling onto endpoint 0.
                let n = self.endpoints.len();
                let start = cursor.0 % n;
                cursor.0 = cursor.0.wrapping_add(1);
                let mut best = start;
                let mut best_load = usize::MAX;
                for k in 0..n {
                    let j = (start + k) % n;
                    let load = self.endpoints[j].in_flight.load(Ordering::Relaxed);
                    if load < best_load {
                        best = j;
                        best_load = load;
                    }
                }
                best
            }
        };
        let ep = &self.endpoints[i];
        if !self.counts_in_flight() {
            return (ep, InFlight(None));
        }
        ep.in_flight.fetch_add(1, Ordering::Relaxed);
        (ep, InFlight(Some(ep)))
    }

    /// The first endpoint: used for listing and other one-off requests outside the measured mix.
    pub fn primary(&self) -> &Arc<Endpoint> {
        &self.endpoints[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(n: usize, strategy: Strategy) -> Store {
        let endpoints = (0..n)
            .map(|i| {
                Arc::new(Endpoint {
                    idx: i,
                    uri: format!("file:///e{i}/"),
                    label: Arc::from(format!("file:///e{i}/")),
                    backend: Arc::new(LocalBackend::new(format!("/e{i}").into(), false)),
                    in_flight: AtomicUsize::new(0),
                })
            })
            .collect();
        Store { endpoints, strategy }
    }

    fn loads(s: &Store) -> Vec<usize> {
        s.endpoints.iter().map(|e| e.in_flight.load(Ordering::Relaxed)).collect()
    }

    /// least_connections counts requests in flight and sends the next one to the least loaded
    /// endpoint; the count drops with the guard.
    #[test]
    fn least_connections_counts_and_picks_the_least_loaded() {
        let s = store(3, Strategy::LeastConnections);
        let mut c = Cursor(0);
        let (a, ga) = s.pick(&mut c);
        let (b, gb) = s.pick(&mut c);
        let (d, gd) = s.pick(&mut c);
        let mut picked = vec![a.idx, b.idx, d.idx];
        picked.sort();
        assert_eq!(picked, [0, 1, 2], "one request each");
        assert_eq!(loads(&s), [1, 1, 1]);
        drop(gb);
        let (e, ge) = s.pick(&mut c);
        assert_eq!(e.idx, b.idx, "the endpoint with nothing in flight");
        drop((ga, gd, ge));
        assert_eq!(loads(&s), [0, 0, 0]);
    }

    /// Nothing reads the counts of a single endpoint or of round_robin: they are not kept.
    #[test]
    fn round_robin_and_single_endpoints_count_nothing() {
        for (n, strategy) in [(3, Strategy::RoundRobin), (1, Strategy::LeastConnections), (1, Strategy::RoundRobin)] {
            let s = store(n, strategy);
            let mut c = Cursor(0);
            let picks: Vec<_> = (0..6).map(|_| s.pick(&mut c)).collect();
            let order: Vec<usize> = picks.iter().map(|(e, _)| e.idx).collect();
            assert_eq!(order, (0..6).map(|i| i % n).collect::<Vec<_>>(), "{n} endpoints");
            assert!(loads(&s).iter().all(|&l| l == 0));
            drop(picks);
            assert!(loads(&s).iter().all(|&l| l == 0), "no underflow on drop");
        }
    }
}
