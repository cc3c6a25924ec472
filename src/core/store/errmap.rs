//! Maps `std::io` and `object_store` errors to [`StoreError`] kinds, with the operation and the
//! object's path or URI in the message. Never includes request headers, bodies beyond the
//! server's error code and message, or credentials.

use std::error::Error as StdError;
use std::io;
use std::path::Path;

use object_store::client::{HttpError, HttpErrorKind};

use super::StoreError;

/// Longest detail text kept from a server's error (characters).
const MAX_DETAIL: usize = 300;

/// An I/O error of a local backend: `"{op} {path}: {error}"`, classified by its kind.
pub(super) fn io_error(op: &str, path: &Path, e: io::Error) -> StoreError {
    let what = format!("{op} {}", path.display());
    match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound(what),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            StoreError::PermissionDenied(format!("{what}: {e}"))
        }
        io::ErrorKind::TimedOut => StoreError::Timeout(format!("{what}: {e}")),
        _ => StoreError::Io(format!("{what}: {e}")),
    }
}

/// An error of an object-store request. `uri` names the object (`s3://host/bucket/key`);
/// `cred_hint` says which variables hold the backend's credentials.
pub(super) fn object_error(op: &str, uri: &str, cred_hint: &str, e: &object_store::Error) -> StoreError {
    let text = chain_text(e);
    let detail = server_detail(&text);
    let what = match &detail {
        Some(d) => format!("{op} {uri}: {d}"),
        None => format!("{op} {uri}"),
    };
    let status = status_code(&text);
    let code = xml_tag(&text, "Code").unwrap_or_default();
    match e {
        object_store::Error::NotFound { .. } => return StoreError::NotFound(what),
        object_store::Error::Unauthenticated { .. } => {
            return StoreError::Auth(format!("{what} — credentials rejected; {cred_hint}"));
        }
        object_store::Error::PermissionDenied { .. } => return forbidden(what, &code, cred_hint),
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            return StoreError::Unsupported(format!("{op} {uri}: {}", truncate(&text)));
        }
        _ => {}
    }
    if let Some(kind) = http_kind(e) {
        match kind {
            HttpErrorKind::Connect => {
                return StoreError::Connection(format!(
                    "{op} {uri}: cannot connect to the server — is it running and reachable? ({})",
                    truncate(&root_cause(e))
                ));
            }
            HttpErrorKind::Timeout => {
                return StoreError::Timeout(format!(
                    "{op} {uri}: no answer within the request timeout (storage.request_timeout)"
                ));
            }
            HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                return StoreError::Connection(format!("{op} {uri}: {}", truncate(&root_cause(e))));
            }
            _ => {}
        }
    }
    match status {
        Some(status) => by_status(what, status, &code, cred_hint),
        None => StoreError::Other(format!("{op} {uri}: {}", truncate(&text))),
    }
}

/// An answer with a non-2xx `status` and its (XML) error `body`, as `object_error` maps it.
pub(super) fn http_status_error(op: &str, uri: &str, cred_hint: &str, status: u16, body: &str) -> StoreError {
    let what = match server_detail(body) {
        Some(d) => format!("{op} {uri}: {d}"),
        None => format!("{op} {uri}"),
    };
    by_status(what, status, &xml_tag(body, "Code").unwrap_or_default(), cred_hint)
}

fn by_status(what: String, status: u16, code: &str, cred_hint: &str) -> StoreError {
    match status {
        401 => StoreError::Auth(format!("{what} — credentials rejected; {cred_hint}")),
        403 => forbidden(what, code, cred_hint),
        404 => StoreError::NotFound(what),
        408 | 504 => StoreError::Timeout(what),
        status => StoreError::Http { status, message: what },
    }
}

/// 403: a signature or key problem is an authentication failure, anything else a permission one.
fn forbidden(what: String, code: &str, cred_hint: &str) -> StoreError {
    const AUTH_CODES: [&str; 6] = [
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AuthenticationFailed",
        "InvalidSecurity",
        "ExpiredToken",
        "InvalidToken",
    ];
    if AUTH_CODES.contains(&code) {
        StoreError::Auth(format!("{what} — credentials rejected; {cred_hint}"))
    } else {
        StoreError::PermissionDenied(format!("{what} — the credentials lack permission for this request"))
    }
}

/// The error and its sources as one line, each source added only when not already included.
pub(crate) fn chain_text(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cur = s.source();
    }
    text
}

fn root_cause(e: &(dyn StdError + 'static)) -> String {
    let mut cur: &(dyn StdError + 'static) = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

fn http_kind(e: &(dyn StdError + 'static)) -> Option<HttpErrorKind> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(s) = cur {
        if let Some(h) = s.downcast_ref::<HttpError>() {
            return Some(h.kind());
        }
        cur = s.source();
    }
    None
}

/// The HTTP status in object_store's retry error text ("… status code: 503 Service Unavailable").
fn status_code(text: &str) -> Option<u16> {
    let i = text.find("status code: ")? + "status code: ".len();
    text.get(i..i + 3)?.parse().ok()
}

/// `Code: Message` from an XML error body (S3, Azure, GCS XML API), if there is one.
fn server_detail(text: &str) -> Option<String> {
    let code = xml_tag(text, "Code");
    let msg = xml_tag(text, "Message");
    let d = match (code, msg) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => {
            let s = status_code(text)?;
            format!("HTTP {s}")
        }
    };
    Some(truncate(&d))
}

fn xml_tag(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&close)?;
    Some(text[start..start + len].trim().to_string())
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_DETAIL) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Msg(String);

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic { store: "S3", source: Box::new(Msg(text.into())) }
    }

    #[test]
    fn io_kinds() {
        let p = Path::new("/x/y");
        let e = io_error("GET", p, io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.kind_name(), "not_found");
        assert!(e.to_string().contains("GET /x/y"), "{e}");
        let e = io_error("PUT", p, io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(e.kind_name(), "permission_denied");
        let e = io_error("PUT", p, io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(e.kind_name(), "io");
    }

    #[test]
    fn statuses_from_text() {
        let body = "Server returned non-2xx status code: 403 Forbidden: <Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>The request signature we calculated does not match</Message></Error>";
        let e = object_error("GET", "s3://h/b/k", "set AWS_SECRET_ACCESS_KEY", &generic(body));
        assert_eq!(e.kind_name(), "auth", "{e}");
        assert!(e.to_string().contains("SignatureDoesNotMatch"), "{e}");
        assert!(e.to_string().contains("s3://h/b/k"), "{e}");
        let e = object_error("GET", "u", "", &generic("Server returned non-2xx status code: 503 Service Unavailable"));
        assert!(matches!(e, StoreError::Http { status: 503, .. }), "{e:?}");
        let e = object_error("GET", "u", "", &generic("status code: 403 Forbidden <Code>AccessDenied</Code>"));
        assert_eq!(e.kind_name(), "permission_denied");
        let e = object_error("GET", "u", "", &generic("something odd"));
        assert_eq!(e.kind_name(), "other");
    }

    #[test]
    fn transport_kinds() {
        let connect = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(HttpErrorKind::Connect, Msg("tcp connect error".into()))),
        };
        let e = object_error("PUT", "s3://127.0.0.1:1/b/k", "", &connect);
        assert_eq!(e.kind_name(), "connection", "{e}");
        assert!(e.to_string().contains("s3://127.0.0.1:1/b/k"), "{e}");
        let timeout = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(HttpErrorKind::Timeout, Msg("timed out".into()))),
        };
        assert_eq!(object_error("GET", "u", "", &timeout).kind_name(), "timeout");
    }

    #[test]
    fn long_details_are_truncated() {
        let long = format!("status code: 500 x <Message>{}</Message>", "y".repeat(2000));
        let e = object_error("GET", "u", "", &generic(&long)).to_string();
        assert!(e.len() < 400, "{}", e.len());
    }
}
