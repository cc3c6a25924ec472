//! `s3://`, `az://` and `gs://` endpoints through object_store: client construction from each
//! ecosystem's environment variables plus the config's `storage:` overrides, and the Backend
//! operations. Never falls back to cloud metadata addresses unless `use_instance_metadata`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

use super::errmap::object_error;
use super::s3http::{Credentials, Endpoint, S3Http};
use super::uri::Location;
use super::{Backend, ObjectInfo, Sink, StoreError};
use crate::core::config::{S3Client, StorageOptions};

/// Default PUT size at and above which multipart upload is used (bytes).
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 16 << 20;
/// Default multipart part size (bytes); S3 needs at least 5 MiB except for the last part.
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;

/// One object-store endpoint: a client and the key prefix inside its bucket/container.
pub struct CloudBackend {
    store: Arc<dyn ObjectStore>,
    /// `s3://host/bucket/` style name for messages (no credentials).
    uri: String,
    prefix: String,
    cred_hint: &'static str,
    threshold: u64,
    part: usize,
    /// GET and single-request PUT of plain-HTTP S3 endpoints (s3http.rs); None: object_store.
    fast: Option<S3Http>,
    /// With blocking sockets (`s3_client: threads`) the workers run on OS threads with runtimes
    /// of their own; object_store's client (its pooled connections and their tasks) belongs to
    /// the runtime that opened it, so its requests are run there.
    home: Option<tokio::runtime::Handle>,
}

fn env_set(names: &[&str]) -> bool {
    names.iter().any(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
}

fn env_true(name: &str) -> bool {
    std::env::var(name).map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")).unwrap_or(false)
}

fn client_options(opts: &StorageOptions, allow_http: bool) -> ClientOptions {
    let mut c = ClientOptions::new().with_allow_http(allow_http).with_connect_timeout(Duration::from_secs(5));
    if let Some(t) = opts.request_timeout {
        c = c.with_timeout(t);
    }
    c
}

/// The client never retries: a retry hidden inside it would land in one request's latency and
/// be counted nowhere. sai3's worker loop retries (`error_handling.retries`) and counts each one.
fn retry(opts: &StorageOptions) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 0,
        retry_timeout: opts.request_timeout.unwrap_or(Duration::from_secs(30)),
    }
}

fn missing(uri: &str, what: &str) -> StoreError {
    StoreError::Auth(format!("{uri}: no credentials found — {what}"))
}

/// Build the client for an object-store location. Sends no request.
pub(super) fn open(uri: &str, loc: &Location, opts: &StorageOptions) -> Result<Arc<dyn Backend>, StoreError> {
    let shown = super::redact_uri(uri);
    let build_err = |e: object_store::Error| StoreError::InvalidUri { uri: shown.clone(), reason: e.to_string() };
    let mut fast = None;
    let (store, prefix, cred_hint): (Arc<dyn ObjectStore>, String, &'static str) = match loc {
        Location::S3 { endpoint, bucket, prefix } => {
            if !opts.use_instance_metadata && !env_set(&["AWS_ACCESS_KEY_ID"]) {
                return Err(missing(&shown, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or storage.use_instance_metadata: true on cloud hosts)"));
            }
            let allow_http = opts.allow_http.unwrap_or_else(|| env_true("AWS_ALLOW_HTTP"));
            // Both clients send the same: SHA-256 of a PUT's body, unless asked not to.
            let unsigned = opts.unsigned_payload.unwrap_or_else(|| env_true("AWS_UNSIGNED_PAYLOAD"));
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_allow_http(allow_http)
                .with_unsigned_payload(unsigned);
            if let Some(ep) = endpoint {
                let scheme = if allow_http { "http" } else { "https" };
                b = b.with_endpoint(format!("{scheme}://{ep}"));
            } else if let Some(ep) = &opts.endpoint_url {
                b = b.with_endpoint(ep.clone());
            }
            b = b.with_region(
                opts.region.clone().or_else(|| std::env::var("AWS_REGION").ok()).unwrap_or_else(|| "us-east-1".into()),
            );
            b = b.with_virtual_hosted_style_request(!opts.path_style.unwrap_or(true));
            if !opts.use_instance_metadata {
                b = b.with_metadata_endpoint("http://127.0.0.1:1");
            }
            let s = b
                .with_client_options(client_options(opts, allow_http))
                .with_retry(retry(opts))
                .build()
                .map_err(build_err)?;
            fast = s3_data_path(endpoint.as_deref(), bucket, opts, allow_http, &shown)
                .map(|f| f.with_unsigned_payload(unsigned));
            (Arc::new(s), prefix.clone(), "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")
        }
        Location::Azure { account, container, prefix } => {
            let emulator = env_true("AZURE_STORAGE_USE_EMULATOR");
            if !emulator
                && !opts.use_instance_metadata
                && !env_set(&[
                    "AZURE_STORAGE_ACCOUNT_KEY",
                    "AZURE_STORAGE_ACCESS_KEY",
                    "AZURE_STORAGE_SAS_KEY",
                    "AZURE_STORAGE_TOKEN",
                ])
            {
                return Err(missing(&shown, "set AZURE_STORAGE_ACCOUNT_KEY (or a SAS via AZURE_STORAGE_SAS_KEY, or AZURE_STORAGE_USE_EMULATOR=true for Azurite)"));
            }
            let allow_http = opts.allow_http.unwrap_or(emulator || env_true("AZURE_ALLOW_HTTP"));
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_account(account)
                .with_container_name(container)
                .with_allow_http(allow_http);
            if let Some(ep) = &opts.endpoint_url {
                b = b.with_endpoint(ep.clone());
            }
            let s = b
                .with_client_options(client_options(opts, allow_http))
                .with_retry(retry(opts))
                .build()
                .map_err(build_err)?;
            (Arc::new(s), prefix.clone(), "AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY")
        }
        Location::Gcs { bucket, prefix } => {
            if !opts.use_instance_metadata
                && !env_set(&[
                    "GOOGLE_SERVICE_ACCOUNT",
                    "GOOGLE_SERVICE_ACCOUNT_PATH",
                    "GOOGLE_SERVICE_ACCOUNT_KEY",
                    "GOOGLE_APPLICATION_CREDENTIALS",
                ])
            {
                return Err(missing(
                    &shown,
                    "set GOOGLE_SERVICE_ACCOUNT (a service-account JSON file) or GOOGLE_APPLICATION_CREDENTIALS",
                ));
            }
            let allow_http = opts.allow_http.unwrap_or_else(|| env_true("GOOGLE_ALLOW_HTTP"));
            let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
            if let Some(ep) = opts.endpoint_url.clone().or_else(|| std::env::var("GOOGLE_BASE_URL").ok()) {
                b = b.with_base_url(&ep);
            }
            let s = b
                .with_client_options(client_options(opts, allow_http))
                .with_retry(retry(opts))
                .build()
                .map_err(build_err)?;
            (Arc::new(s), prefix.clone(), "GOOGLE_SERVICE_ACCOUNT / GOOGLE_APPLICATION_CREDENTIALS")
        }
        Location::File { .. } | Location::Direct { .. } => {
            return Err(StoreError::Unsupported(format!("{shown}: not an object-store URI")));
        }
    };
    Ok(Arc::new(CloudBackend {
        store,
        uri: shown,
        prefix,
        cred_hint,
        threshold: opts.multipart_threshold.unwrap_or(DEFAULT_MULTIPART_THRESHOLD),
        part: opts.multipart_part_size.unwrap_or(DEFAULT_PART_SIZE).max(5 << 20) as usize,
        home: fast.as_ref().filter(|f| f.blocking()).and_then(|_| tokio::runtime::Handle::try_current().ok()),
        fast,
    }))
}

/// The direct data path for an S3 endpoint when it applies: plain HTTP, static credentials from
/// the environment, and `storage.s3_client` not `object_store`.
fn s3_data_path(
    endpoint: Option<&str>,
    bucket: &str,
    opts: &StorageOptions,
    allow_http: bool,
    shown: &str,
) -> Option<S3Http> {
    if opts.use_instance_metadata || !allow_http || opts.s3_client == S3Client::ObjectStore {
        return None;
    }
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let creds = Credentials {
        access_key: var("AWS_ACCESS_KEY_ID")?,
        secret_key: var("AWS_SECRET_ACCESS_KEY")?,
        token: var("AWS_SESSION_TOKEN").or_else(|| var("AWS_SECURITY_TOKEN")),
    };
    let authority = match endpoint {
        Some(ep) => ep.to_string(),
        None => {
            let url = opts.endpoint_url.clone().or_else(|| var("AWS_ENDPOINT_URL")).or_else(|| var("AWS_ENDPOINT"))?;
            let rest = url.strip_prefix("http://")?.trim_end_matches('/');
            if rest.is_empty() || rest.contains('/') {
                return None;
            }
            rest.to_string()
        }
    };
    let region = opts.region.clone().or_else(|| var("AWS_REGION")).unwrap_or_else(|| "us-east-1".into());
    let ep = Endpoint { authority: &authority, bucket, path_style: opts.path_style.unwrap_or(true) };
    let timeout = opts.request_timeout.unwrap_or(Duration::from_secs(30));
    let http = S3Http::new(ep, region, creds, timeout, shown.to_string(), "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY");
    Some(http.with_blocking(opts.s3_client == S3Client::Threads))
}

impl CloudBackend {
    fn path(&self, key: &str) -> Path {
        Path::from(format!("{}{}", self.prefix, key.trim_start_matches('/')))
    }

    fn err(&self, op: &str, key: &str, e: &object_store::Error) -> StoreError {
        object_error(op, &format!("{}{key}", self.uri), self.cred_hint, e)
    }

    /// Run an object_store request on the client's home runtime (see `home`), else here; its
    /// error names the step that failed.
    async fn on_home<T: Send + 'static>(
        &self,
        key: &str,
        f: impl std::future::Future<Output = Result<T, (&'static str, object_store::Error)>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let r = match &self.home {
            Some(h) => match h.spawn(f).await {
                Ok(r) => r,
                Err(e) => return Err(StoreError::Other(format!("{}{key}: the request's task failed: {e}", self.uri))),
            },
            None => f.await,
        };
        r.map_err(|(op, e)| self.err(op, key, &e))
    }

    async fn do_read(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        mut sink: Option<Sink<'_>>,
    ) -> Result<u64, StoreError> {
        if let Some(f) = &self.fast {
            return f.get(&self.prefix, key, range, sink).await;
        }
        let path = self.path(key);
        let (r, start) = match range {
            Some((off, len)) if len > 0 => {
                let opts =
                    GetOptions { range: Some(GetRange::Bounded(off..off.saturating_add(len))), ..Default::default() };
                (self.store.get_opts(&path, opts).await, off)
            }
            _ => (self.store.get(&path).await, 0),
        };
        let mut stream = r.map_err(|e| self.err("GET", key, &e))?.into_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.err("GET", key, &e))?;
            if let Some(s) = sink.as_mut() {
                s(start + n, &chunk);
            }
            n += chunk.len() as u64;
        }
        Ok(n)
    }

    async fn do_put(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        if (data.len() as u64) < self.threshold {
            if let Some(f) = &self.fast {
                return f.put(&self.prefix, key, data).await;
            }
            let path = self.path(key);
            self.store.put(&path, PutPayload::from(data)).await.map_err(|e| self.err("PUT", key, &e))?;
            return Ok(());
        }
        let (store, part, path) = (self.store.clone(), self.part, self.path(key));
        self.on_home(key, async move {
            let mut upload = store.put_multipart(&path).await.map_err(|e| ("PUT (multipart)", e))?;
            let mut off = 0;
            while off < data.len() {
                let end = (off + part).min(data.len());
                if let Err(e) = upload.put_part(PutPayload::from(data.slice(off..end))).await {
                    let _ = upload.abort().await;
                    return Err(("PUT (part)", e));
                }
                off = end;
            }
            upload.complete().await.map_err(|e| ("PUT (complete)", e))?;
            Ok(())
        })
        .await
    }

    async fn do_list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        // object_store lists whole path segments: list the directory part, filter by the rest.
        let full = format!("{}{}", self.prefix, prefix);
        let dir = match full.rfind('/') {
            Some(i) => &full[..i],
            None => "",
        };
        let dir_path = (!dir.is_empty()).then(|| Path::from(dir));
        let store = self.store.clone();
        let all = self
            .on_home(prefix, async move {
                let mut stream = store.list(dir_path.as_ref());
                let mut all = Vec::new();
                while let Some(meta) = stream.next().await {
                    all.push(meta.map_err(|e| ("LIST", e))?);
                }
                Ok(all)
            })
            .await?;
        let mut out = Vec::new();
        for meta in all {
            let loc = meta.location.as_ref();
            if let Some(rel) = loc.strip_prefix(self.prefix.as_str()) {
                if rel.starts_with(prefix) {
                    out.push(ObjectInfo { key: rel.to_string(), size: meta.size });
                }
            }
        }
        Ok(out)
    }

    async fn do_preflight(&self, _write: bool) -> Result<(), StoreError> {
        // One LIST proves the endpoint answers, the credentials are accepted and the bucket exists.
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.trim_end_matches('/')));
        let mut stream = self.store.list(prefix.as_ref());
        match stream.next().await {
            Some(Err(e)) => Err(self.err("LIST (preflight)", "", &e)),
            _ => Ok(()),
        }
    }
}

impl Backend for CloudBackend {
    fn read<'a>(
        &'a self,
        key: &'a str,
        range: Option<(u64, u64)>,
        sink: Option<Sink<'a>>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.do_read(key, range, sink))
    }
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.do_put(key, data))
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectInfo>, StoreError>> {
        Box::pin(self.do_list(prefix))
    }
    fn stat<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        let (store, path) = (self.store.clone(), self.path(key));
        Box::pin(self.on_home(key, async move { store.head(&path).await.map(|m| m.size).map_err(|e| ("STAT", e)) }))
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let (store, path) = (self.store.clone(), self.path(key));
        Box::pin(self.on_home(key, async move { store.delete(&path).await.map_err(|e| ("DELETE", e)) }))
    }
    fn mkdir<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
    fn is_blocking(&self) -> bool {
        // GETs and PUTs block on their sockets: each worker needs an OS thread of its own.
        self.fast.as_ref().is_some_and(|f| f.blocking())
    }
    fn preflight<'a>(&'a self, write: bool) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.do_preflight(write))
    }
}
