//! The S3 data path without a general-purpose HTTP stack: GET (whole or ranged) and single-request
//! PUT of `s3://` objects on plain-HTTP endpoints, SigV4-signed, over keep-alive HTTP/1.1
//! connections that the requesting worker drives itself (no connection task, no channel, no pool
//! task between the worker and its socket). Everything else (LIST, HEAD, DELETE, multipart PUT,
//! HTTPS, instance-metadata credentials) stays with object_store; see docs/PERFORMANCE.md for
//! what this path saves and docs/BACKENDS.md for when it is used.
//!
//! Requests carry what object_store's would: path-style (or virtual-hosted) URL, `host`,
//! `x-amz-date`, `x-amz-content-sha256` (the SHA-256 of a PUT's body, `UNSIGNED-PAYLOAD` for a
//! GET), `x-amz-security-token` when a session token is set, and `range` for a ranged GET.
//! A request is never retried, with one exception every HTTP client makes: a request sent on a
//! reused keep-alive connection that the server had already closed (no byte of an answer came
//! back) is sent again once on a new connection; nothing of it had reached the server.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;

use super::errmap::http_status_error;
use super::s3wire::Wire;
pub(super) use super::sigv4::Credentials;
use super::sigv4::{as_str, encode_path, object_path, sha256_hex, Extra, Signer};
use super::{Sink, StoreError};

/// Idle connections kept per endpoint beyond which a returned one is closed.
const MAX_IDLE: usize = 1024;
/// Bytes of an error answer's body kept for its message.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Read buffer of a connection.
const READ_BUF: usize = 64 << 10;
/// A PUT body up to this size goes out in the same write as the request head.
const INLINE_BODY: usize = 64 << 10;

/// One S3 endpoint's data path.
pub(super) struct S3Http {
    /// `host:port` to connect to.
    addr: String,
    /// URI-encoded path up to the object's name: `/bucket/` or `/`.
    base_path: String,
    signer: Signer,
    idle: Mutex<Vec<Conn>>,
    timeout: Duration,
    /// `s3://host/bucket/` for messages.
    uri: String,
    cred_hint: &'static str,
    /// Blocking sockets (see s3wire.rs).
    blocking: bool,
    /// PUTs send `UNSIGNED-PAYLOAD` instead of their body's SHA-256.
    unsigned_payload: bool,
}

struct Conn {
    stream: Wire,
    buf: Vec<u8>,
}

/// What the caller of `exchange` does with a successful answer's body.
enum Body<'s, 'a> {
    /// Pass it to the sink (if any) from this object offset; count it.
    Read(u64, Option<&'s mut Sink<'a>>),
    /// Discard it.
    Discard,
}

pub(super) struct Endpoint<'a> {
    pub authority: &'a str,
    pub bucket: &'a str,
    pub path_style: bool,
}

impl S3Http {
    pub(super) fn new(
        ep: Endpoint<'_>,
        region: String,
        creds: Credentials,
        timeout: Duration,
        uri: String,
        cred_hint: &'static str,
    ) -> S3Http {
        let (host, base_path) = if ep.path_style {
            (ep.authority.to_string(), format!("/{}/", encode_path(ep.bucket)))
        } else {
            (format!("{}.{}", ep.bucket, ep.authority), "/".to_string())
        };
        S3Http {
            addr: ep.authority.to_string(),
            base_path,
            signer: Signer::new(host, region, creds),
            idle: Mutex::new(Vec::new()),
            timeout,
            uri,
            cred_hint,
            blocking: false,
            unsigned_payload: false,
        }
    }

    /// The same over blocking sockets (`storage.s3_client: threads`).
    pub(super) fn with_blocking(mut self, blocking: bool) -> Self {
        self.blocking = blocking;
        self
    }

    /// PUTs with `UNSIGNED-PAYLOAD` (`storage.unsigned_payload`).
    pub(super) fn with_unsigned_payload(mut self, unsigned: bool) -> Self {
        self.unsigned_payload = unsigned;
        self
    }

    /// GET `key` (the object `prefix` + `key`), or `range` = (offset, length) of it, feeding
    /// `sink`; returns the body's bytes.
    pub(super) async fn get(
        &self,
        prefix: &str,
        key: &str,
        range: Option<(u64, u64)>,
        mut sink: Option<Sink<'_>>,
    ) -> Result<u64, StoreError> {
        let path = object_path(&self.base_path, prefix, key);
        let range = range.filter(|r| r.1 > 0).map(|(off, len)| (off, off.saturating_add(len) - 1));
        let start = range.map_or(0, |r| r.0);
        let head = self.signer.head("GET", &path, &Extra { payload_hash: None, range, content_length: None });
        let fut = self.exchange("GET", key, &head, None, Body::Read(start, sink.as_mut()));
        self.timed("GET", key, fut).await
    }

    /// PUT `data` as `key` (the object `prefix` + `key`) in one request.
    pub(super) async fn put(&self, prefix: &str, key: &str, data: Bytes) -> Result<(), StoreError> {
        let path = object_path(&self.base_path, prefix, key);
        let hash = (!self.unsigned_payload).then(|| sha256_hex(&data));
        let extra =
            Extra { payload_hash: hash.as_ref().map(|h| as_str(h)), range: None, content_length: Some(data.len()) };
        let head = self.signer.head("PUT", &path, &extra);
        let fut = self.exchange("PUT", key, &head, Some(&data), Body::Discard);
        self.timed("PUT", key, fut).await.map(|_| ())
    }

    async fn timed<F: std::future::Future<Output = Result<u64, StoreError>>>(
        &self,
        op: &str,
        key: &str,
        fut: F,
    ) -> Result<u64, StoreError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(format!(
                "{op} {}{key}: no answer within the request timeout (storage.request_timeout)",
                self.uri
            ))),
        }
    }

    /// Send the request and read the answer. A reused connection that the server had closed is
    /// replaced once (see the module's note).
    async fn exchange(
        &self,
        op: &str,
        key: &str,
        head: &[u8],
        body: Option<&Bytes>,
        mut want: Body<'_, '_>,
    ) -> Result<u64, StoreError> {
        let blocking = self.blocking && super::s3wire::may_block();
        let pooled = self.idle.lock().pop();
        let pooled = match pooled {
            Some(c) if c.stream.is_blocking() != blocking => {
                let Conn { stream, buf } = c;
                stream.into_mode(blocking, self.timeout).ok().map(|stream| Conn { stream, buf })
            }
            other => other,
        };
        let reused = pooled.is_some();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect(op, key, blocking).await?,
        };
        let mut result = self.round_trip(&mut conn, head, body, &mut want).await;
        if reused && matches!(result, Err(Fail::Closed)) {
            conn = self.connect(op, key, blocking).await?;
            result = self.round_trip(&mut conn, head, body, &mut want).await;
        }
        match result {
            Ok((n, keep)) => {
                self.give_back(conn, keep);
                n.map_err(|(status, text)| http_status_error(op, &self.object_uri(key), self.cred_hint, status, &text))
            }
            Err(e) => Err(self.fail(op, key, e)),
        }
    }

    fn give_back(&self, conn: Conn, keep: bool) {
        if keep {
            let mut idle = self.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    fn object_uri(&self, key: &str) -> String {
        format!("{}{key}", self.uri)
    }

    fn fail(&self, op: &str, key: &str, e: Fail) -> StoreError {
        let what = format!("{op} {}", self.object_uri(key));
        match e {
            Fail::Closed => {
                StoreError::Connection(format!("{what}: the server closed the connection without an answer"))
            }
            Fail::Io(e) => StoreError::Connection(format!("{what}: {e}")),
            Fail::Protocol(m) => StoreError::Other(format!("{what}: malformed answer from the server: {m}")),
        }
    }

    async fn connect(&self, op: &str, key: &str, blocking: bool) -> Result<Conn, StoreError> {
        match Wire::connect(&self.addr, blocking, Duration::from_secs(5), self.timeout).await {
            Ok(stream) => Ok(Conn { stream, buf: Vec::with_capacity(READ_BUF) }),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(StoreError::Connection(format!(
                "{op} {}: cannot connect to the server within 5 s — is it running and reachable?",
                self.object_uri(key)
            ))),
            Err(e) => Err(StoreError::Connection(format!(
                "{op} {}: cannot connect to the server — is it running and reachable? ({e})",
                self.object_uri(key)
            ))),
        }
    }

    /// Whether requests go over blocking sockets (`storage.s3_client: threads`) — those of
    /// callers that may block (a worker with a thread and runtime of its own; others, e.g. a
    /// run whose other endpoints need async workers, use the async path).
    pub(super) fn blocking(&self) -> bool {
        self.blocking
    }

    /// One request and its answer on `conn`. Ok((Ok(body bytes) or Err((status, body text)),
    /// whether the connection can be reused)).
    async fn round_trip(
        &self,
        conn: &mut Conn,
        head: &[u8],
        body: Option<&Bytes>,
        want: &mut Body<'_, '_>,
    ) -> Result<(Result<u64, (u16, String)>, bool), Fail> {
        match body {
            Some(b) if b.len() <= INLINE_BODY => {
                let mut msg = Vec::with_capacity(head.len() + b.len());
                msg.extend_from_slice(head);
                msg.extend_from_slice(b);
                conn.stream.write_all(&msg).await.map_err(before_answer)?;
            }
            Some(b) => {
                conn.stream.write_all(head).await.map_err(before_answer)?;
                conn.stream.write_all(b).await.map_err(before_answer)?;
            }
            None => conn.stream.write_all(head).await.map_err(before_answer)?,
        }
        conn.buf.clear();
        // The status line and headers.
        let (status, framing, keep, head_len) = loop {
            if conn.buf.len() >= 1 << 20 {
                return Err(Fail::Protocol("answer headers over 1 MiB".into()));
            }
            let n = match read_more(&mut conn.stream, &mut conn.buf).await {
                Err(Fail::Io(e)) if conn.buf.is_empty() => return Err(before_answer(e)),
                r => r?,
            };
            if n == 0 {
                return Err(if conn.buf.is_empty() { Fail::Closed } else { Fail::Protocol("answer cut short".into()) });
            }
            if let Some(parsed) = parse_head(&conn.buf)? {
                break parsed;
            }
        };
        let ok = (200..300).contains(&status);
        let mut got = 0u64;
        let mut error_body = Vec::new();
        let mut deliver = |chunk: &[u8], want: &mut Body<'_, '_>| {
            if ok {
                if let Body::Read(start, Some(sink)) = want {
                    sink(*start + got, chunk);
                }
            } else if error_body.len() < MAX_ERROR_BODY {
                error_body.extend_from_slice(&chunk[..chunk.len().min(MAX_ERROR_BODY - error_body.len())]);
            }
            got += chunk.len() as u64;
        };
        let leftover = conn.buf.len() - head_len;
        match framing {
            Framing::Length(len) => {
                if leftover as u64 > len {
                    return Err(Fail::Protocol("more bytes than content-length".into()));
                }
                if leftover > 0 {
                    deliver(&conn.buf[head_len..], want);
                }
                let mut left = len - leftover as u64;
                while left > 0 {
                    conn.buf.clear();
                    let n = read_more(&mut conn.stream, &mut conn.buf).await?;
                    if n == 0 {
                        return Err(Fail::Protocol(format!("body cut short ({left} of {len} bytes missing)")));
                    }
                    if n as u64 > left {
                        return Err(Fail::Protocol("more bytes than content-length".into()));
                    }
                    deliver(&conn.buf[..n], want);
                    left -= n as u64;
                }
            }
            Framing::Chunked => {
                conn.buf.drain(..head_len);
                let mut chunks = Chunked::default();
                loop {
                    let done = chunks.feed(&mut conn.buf, |c| deliver(c, want))?;
                    if done {
                        if !conn.buf.is_empty() {
                            return Err(Fail::Protocol("bytes after the last chunk".into()));
                        }
                        break;
                    }
                    if read_more(&mut conn.stream, &mut conn.buf).await? == 0 {
                        return Err(Fail::Protocol("chunked body cut short".into()));
                    }
                }
            }
            Framing::None => {}
        }
        if ok {
            Ok((Ok(got), keep))
        } else {
            Ok((Err((status, String::from_utf8_lossy(&error_body).into_owned())), keep))
        }
    }
}

enum Fail {
    /// The connection was closed before any byte of an answer.
    Closed,
    Io(io::Error),
    Protocol(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    Length(u64),
    Chunked,
    /// No body (HEAD-like answers, 204, 304).
    None,
}

/// An I/O error before any byte of the answer: a reset or broken pipe is the server having
/// closed the (idle, reused) connection, which `exchange` answers with one new connection.
fn before_answer(e: io::Error) -> Fail {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted => Fail::Closed,
        _ => Fail::Io(e),
    }
}

/// Read what the socket has into `buf`'s spare capacity (tokio reads into it without zeroing it
/// first); 0 at the end of the stream.
async fn read_more(stream: &mut Wire, buf: &mut Vec<u8>) -> Result<usize, Fail> {
    stream.read_more(buf, READ_BUF).await.map_err(Fail::Io)
}

/// Status, framing, keep-alive and header length of a complete answer head in `buf`; None when
/// more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, Framing, bool, usize)>, Fail> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Fail::Protocol(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let mut keep = resp.version == Some(1);
    let mut framing = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().and_then(|s| s.trim().parse::<u64>().ok());
            framing = Some(v.ok_or_else(|| Fail::Protocol("bad content-length".into()))?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let has = |word: &[u8]| h.value.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word));
            if has(b"close") {
                keep = false;
            } else if has(b"keep-alive") {
                keep = true;
            }
        }
    }
    let framing = if chunked {
        Framing::Chunked
    } else if let Some(n) = framing {
        Framing::Length(n)
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else {
        // Body until the connection closes: not supported on a keep-alive data path.
        return Err(Fail::Protocol("answer without content-length or chunked encoding".into()));
    };
    Ok(Some((status, framing, keep, len)))
}

/// Incremental decoder of a chunked body.
#[derive(Default)]
struct Chunked {
    /// Bytes left of the current chunk's data (then its CRLF).
    left: u64,
    in_data: bool,
    last: bool,
}

impl Chunked {
    /// Consume what `buf` holds; true at the end of the body (after the trailers).
    fn feed(&mut self, buf: &mut Vec<u8>, mut out: impl FnMut(&[u8])) -> Result<bool, Fail> {
        let mut pos = 0;
        let result = loop {
            if self.in_data {
                let avail = (buf.len() - pos) as u64;
                let take = avail.min(self.left) as usize;
                if take > 0 {
                    out(&buf[pos..pos + take]);
                    pos += take;
                    self.left -= take as u64;
                }
                if self.left > 0 {
                    break Ok(false);
                }
                if buf.len() - pos < 2 {
                    break Ok(false);
                }
                if &buf[pos..pos + 2] != b"\r\n" {
                    break Err(Fail::Protocol("chunk without its CRLF".into()));
                }
                pos += 2;
                self.in_data = false;
                continue;
            }
            let Some(eol) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                break Ok(false);
            };
            let line = &buf[pos..pos + eol];
            pos += eol + 2;
            if self.last {
                // Trailers end with an empty line.
                if line.is_empty() {
                    break Ok(true);
                }
                continue;
            }
            let size_text = std::str::from_utf8(line).unwrap_or("").split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_text, 16).map_err(|_| Fail::Protocol("bad chunk size".into()))?;
            if size == 0 {
                self.last = true;
            } else {
                self.left = size;
                self.in_data = true;
            }
        };
        buf.drain(..pos);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    #[test]
    fn heads_give_status_framing_and_keep_alive() {
        let (s, f, k, n) =
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcd").ok().flatten().expect("complete");
        assert_eq!((s, f, k, n), (200, Framing::Length(4), true, 38));
        let (s, f, k, _) =
            parse_head(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                .ok()
                .flatten()
                .expect("complete");
        assert_eq!((s, f, k), (404, Framing::Chunked, false));
        let keep = |head: &[u8]| parse_head(head).ok().flatten().expect("complete").2;
        assert!(keep(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n"));
        assert!(!keep(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(!keep(b"HTTP/1.1 200 OK\r\nconnection: CLOSE\r\ncontent-length: 0\r\n\r\n"));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-len").ok().expect("no error").is_none());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err(), "no framing: refused");
    }

    /// Reads one request head from `s` (up to the blank line) and returns it.
    async fn read_request(s: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut b = [0u8; 1024];
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0, "the client closed before sending a request");
            buf.extend_from_slice(&b[..n]);
        }
        String::from_utf8(buf).unwrap()
    }

    /// Over a real socket: a keep-alive connection the server closed while idle is replaced
    /// once (the request never reached the server); chunked bodies and XML errors are read.
    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced_and_answers_are_framed() {
        closed_idle_replaced_and_framed(false).await;
    }

    /// The same over blocking sockets (`s3_client: threads`), as from a worker's own runtime.
    #[tokio::test]
    async fn blocking_sockets_do_the_same() {
        closed_idle_replaced_and_framed(true).await;
    }

    /// A caller on a shared runtime never blocks: the async path, even with `threads`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_of_a_shared_runtime_take_the_async_path() {
        assert!(!super::super::s3wire::may_block());
        closed_idle_replaced_and_framed(true).await;
    }

    async fn closed_idle_replaced_and_framed(blocking: bool) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let serve = |listener: tokio::net::TcpListener| async move {
            let (mut c1, _) = listener.accept().await.unwrap();
            let req = read_request(&mut c1).await;
            assert!(req.starts_with("GET /bkt/dir/a%20b HTTP/1.1\r\n"), "{req}");
            assert!(req.contains("authorization: AWS4-HMAC-SHA256 Credential=AK/"), "{req}");
            c1.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await.unwrap();
            drop(c1); // closed while the client keeps it idle
            let (mut c2, _) = listener.accept().await.unwrap();
            read_request(&mut c2).await;
            c2.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nwor\r\n2\r\nld\r\n0\r\n\r\n")
                .await
                .unwrap();
            read_request(&mut c2).await;
            let body = "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
            let head = format!("HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\n\r\n", body.len());
            c2.write_all(head.as_bytes()).await.unwrap();
            c2.write_all(body.as_bytes()).await.unwrap();
            // A third connection would be a resend that should not have happened.
            tokio::time::timeout(Duration::from_millis(300), listener.accept()).await.is_err()
        };
        // A blocking client holds its thread while it waits: the server gets a thread of its own.
        let (done, server) = tokio::sync::oneshot::channel();
        let std_listener = listener.into_std().unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let ok = rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                serve(listener).await
            });
            let _ = done.send(ok);
        });
        let ep = Endpoint { authority: &addr, bucket: "bkt", path_style: true };
        let creds = Credentials { access_key: "AK".into(), secret_key: "SK".into(), token: None };
        let c = S3Http::new(ep, "us-east-1".into(), creds, Duration::from_secs(5), "s3://x/bkt/dir/".into(), "hint")
            .with_blocking(blocking);
        let read = |key: &'static str| {
            let c = &c;
            async move {
                let mut got = Vec::new();
                let mut sink = |_: u64, b: &[u8]| got.extend_from_slice(b);
                let r = c.get("dir/", key, None, Some(&mut sink)).await;
                r.map(|n| (n, got))
            }
        };
        assert_eq!(read("a b").await.ok(), Some((5, b"hello".to_vec())));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(read("x").await.ok(), Some((5, b"world".to_vec())), "resent on a new connection");
        match read("y").await {
            Err(StoreError::NotFound(m)) => {
                assert!(m.contains("NoSuchKey: gone") && m.contains("s3://x/bkt/dir/y"), "{m}")
            }
            other => panic!("a 404 is NotFound: {:?}", other.map(|r| r.0)),
        }
        let expect = blocking && super::super::s3wire::may_block();
        let modes: Vec<bool> = c.idle.lock().iter().map(|k| k.stream.is_blocking()).collect();
        assert!(!modes.is_empty() && modes.iter().all(|m| *m == expect), "blocking: {expect}: {modes:?}");
        assert!(server.await.unwrap(), "no request was sent a second time beyond the one resend");
    }

    /// A PUT carries its body's SHA-256, or `UNSIGNED-PAYLOAD` when asked (and the same
    /// content-length and body either way).
    #[tokio::test]
    async fn puts_sign_their_payload_unless_asked_not_to() {
        for unsigned in [false, true] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let server = tokio::spawn(async move {
                let (mut c, _) = listener.accept().await.unwrap();
                let mut head = read_request(&mut c).await;
                while !head.ends_with("\r\n\r\nhello") {
                    let mut b = [0u8; 16];
                    let n = c.read(&mut b).await.unwrap();
                    assert!(n > 0, "the body was cut short: {head}");
                    head.push_str(std::str::from_utf8(&b[..n]).unwrap());
                }
                c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.unwrap();
                head
            });
            let ep = Endpoint { authority: &addr, bucket: "bkt", path_style: true };
            let creds = Credentials { access_key: "AK".into(), secret_key: "SK".into(), token: None };
            let c = S3Http::new(ep, "us-east-1".into(), creds, Duration::from_secs(5), "s3://x/bkt/".into(), "hint")
                .with_unsigned_payload(unsigned);
            c.put("", "k", Bytes::from_static(b"hello")).await.unwrap();
            let head = server.await.unwrap();
            let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
            let want = if unsigned { "UNSIGNED-PAYLOAD" } else { sha };
            assert!(head.starts_with("PUT /bkt/k HTTP/1.1\r\n"), "{head}");
            assert!(head.contains(&format!("x-amz-content-sha256: {want}\r\n")), "{head}");
            assert!(head.contains("content-length: 5\r\n"), "{head}");
        }
    }

    #[test]
    fn chunked_bodies_decode_across_any_split() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nx-trailer: 1\r\n\r\n";
        for split in 0..wire.len() {
            let mut c = Chunked::default();
            let mut out = Vec::new();
            let mut buf = wire[..split].to_vec();
            let done = c.feed(&mut buf, |d| out.extend_from_slice(d)).ok().expect("valid");
            assert!(!done || split == wire.len());
            buf.extend_from_slice(&wire[split..]);
            assert!(c.feed(&mut buf, |d| out.extend_from_slice(d)).ok().expect("valid"), "split {split}");
            assert_eq!(out, b"Wikipedia", "split {split}");
            assert!(buf.is_empty());
        }
    }
}
