//! Parsing of endpoint base URIs into a [`Location`]: which backend, which bucket/container/dir,
//! which key prefix. Pure string work: touches no file, no network, no environment.

use std::net::IpAddr;
use std::path::PathBuf;

use super::StoreError;

/// Where an endpoint's objects live, as parsed from its base URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `file:///dir/`: sai3's buffered local backend rooted at `root`.
    File { root: PathBuf },
    /// `direct:///dir/`: the O_DIRECT local backend rooted at `root`.
    Direct { root: PathBuf },
    /// `s3://bucket/prefix/` or `s3://host:port/bucket/prefix/`.
    S3 {
        /// `host:port` (or IP) named by the URI; `None` when the authority is the bucket.
        endpoint: Option<String>,
        bucket: String,
        /// Key prefix inside the bucket: empty or ending in `/`.
        prefix: String,
    },
    /// `az://account/container/prefix/`.
    Azure { account: String, container: String, prefix: String },
    /// `gs://bucket/prefix/`.
    Gcs { bucket: String, prefix: String },
}

impl Location {
    /// Short scheme name for messages: `file`, `direct`, `s3`, `az`, `gs`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Location::File { .. } => "file",
            Location::Direct { .. } => "direct",
            Location::S3 { .. } => "s3",
            Location::Azure { .. } => "az",
            Location::Gcs { .. } => "gs",
        }
    }
}

fn invalid(uri: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidUri { uri: redact_uri(uri), reason: reason.into() }
}

/// Parse an endpoint base URI. Accepted forms: `file:///abs/dir/` (or `file://rel/dir/`, relative
/// to the working directory), `direct:///abs/dir/`, `s3://bucket/prefix/`,
/// `s3://host:port/bucket/prefix/` (an authority with a port, an IP address or `[v6]` names an
/// endpoint), `az://account/container/prefix/`, `gs://bucket/prefix/`.
/// Credentials inside URIs (`user:pass@`) are refused: they would end up in results files.
pub fn parse_location(uri: &str) -> Result<Location, StoreError> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(invalid(
            uri,
            "no scheme — write file:///dir/, direct:///dir/, s3://bucket/, az://account/container/ or gs://bucket/",
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => Ok(Location::File { root: local_root(uri, rest)? }),
        "direct" => Ok(Location::Direct { root: local_root(uri, rest)? }),
        "s3" => parse_s3(uri, rest),
        "az" => {
            let (account, rest) = first_segment(uri, rest, "storage account")?;
            let (container, prefix) = first_segment(uri, rest, "container")?;
            Ok(Location::Azure { account, container, prefix: normalize_prefix(prefix) })
        }
        "gs" => {
            let (bucket, prefix) = first_segment(uri, rest, "bucket")?;
            Ok(Location::Gcs { bucket, prefix: normalize_prefix(prefix) })
        }
        other => {
            Err(invalid(uri, format!("unknown scheme `{other}://` — use file://, direct://, s3://, az:// or gs://")))
        }
    }
}

fn local_root(uri: &str, rest: &str) -> Result<PathBuf, StoreError> {
    if rest.is_empty() {
        return Err(invalid(uri, "no directory after the scheme — write e.g. file:///data/bench/"));
    }
    if rest.contains('\0') {
        return Err(invalid(uri, "the path contains a NUL byte"));
    }
    // `file://localhost/dir` is the RFC 8089 spelling of `/dir`.
    let rest = rest.strip_prefix("localhost").filter(|r| r.starts_with('/')).unwrap_or(rest);
    Ok(PathBuf::from(rest))
}

fn parse_s3(uri: &str, rest: &str) -> Result<Location, StoreError> {
    let (authority, after) = first_segment(uri, rest, "bucket")?;
    if is_endpoint_authority(&authority) {
        let (bucket, prefix) = first_segment(uri, after, "bucket (after the endpoint host:port)")?;
        return Ok(Location::S3 { endpoint: Some(authority), bucket, prefix: normalize_prefix(prefix) });
    }
    Ok(Location::S3 { endpoint: None, bucket: authority, prefix: normalize_prefix(after) })
}

/// True when an `s3://` authority names a server (`host:port`, an IP, `[v6]`) rather than a bucket.
fn is_endpoint_authority(authority: &str) -> bool {
    authority.contains(':') || authority.starts_with('[') || authority.parse::<IpAddr>().is_ok()
}

/// Split `rest` at its first `/`: the segment (required, non-empty) and what follows.
fn first_segment<'r>(uri: &str, rest: &'r str, what: &str) -> Result<(String, &'r str), StoreError> {
    let (seg, after) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if seg.is_empty() {
        return Err(invalid(uri, format!("the {what} is missing")));
    }
    if seg.contains('@') {
        return Err(invalid(
            uri,
            "credentials in the URI are not accepted (they would be saved with the results) — \
             use the backend's environment variables (see docs/STORAGE.md)",
        ));
    }
    Ok((seg.to_string(), after))
}

/// `a/b` → `a/b/`; empty stays empty; repeated and leading slashes collapse.
fn normalize_prefix(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 1);
    for seg in p.split('/').filter(|s| !s.is_empty()) {
        out.push_str(seg);
        out.push('/');
    }
    out
}

/// The URI with any `user:password@` userinfo replaced by `***@`, safe for messages and results.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else { return uri.to_string() };
    let auth_end = rest.find('/').unwrap_or(rest.len());
    match rest[..auth_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: Option<&str>, bucket: &str, prefix: &str) -> Location {
        Location::S3 { endpoint: endpoint.map(str::to_string), bucket: bucket.into(), prefix: prefix.into() }
    }

    #[test]
    fn s3_bucket_and_endpoint_forms() {
        assert_eq!(parse_location("s3://my-bucket/data/").unwrap(), s3(None, "my-bucket", "data/"));
        assert_eq!(parse_location("s3://my-bucket").unwrap(), s3(None, "my-bucket", ""));
        assert_eq!(parse_location("s3://10.0.0.1:9000/bucket/").unwrap(), s3(Some("10.0.0.1:9000"), "bucket", ""));
        assert_eq!(
            parse_location("s3://minio-node1:9000/bucket/a/b").unwrap(),
            s3(Some("minio-node1:9000"), "bucket", "a/b/")
        );
        assert_eq!(parse_location("s3://192.168.1.10/bucket/x/").unwrap(), s3(Some("192.168.1.10"), "bucket", "x/"));
        assert_eq!(parse_location("s3://[::1]:9000/b/").unwrap(), s3(Some("[::1]:9000"), "b", ""));
    }

    #[test]
    fn s3_endpoint_without_bucket_is_an_error() {
        let e = parse_location("s3://127.0.0.1:9000/").unwrap_err();
        assert!(e.to_string().contains("bucket"), "{e}");
        assert_eq!(e.kind_name(), "invalid_uri");
    }

    #[test]
    fn azure_and_gcs() {
        assert_eq!(
            parse_location("az://acct/cont/pre/fix/").unwrap(),
            Location::Azure { account: "acct".into(), container: "cont".into(), prefix: "pre/fix/".into() }
        );
        assert!(parse_location("az://acct/").is_err());
        assert_eq!(parse_location("gs://b//p").unwrap(), Location::Gcs { bucket: "b".into(), prefix: "p/".into() });
    }

    #[test]
    fn local_forms() {
        assert_eq!(parse_location("file:///tmp/x/").unwrap(), Location::File { root: "/tmp/x/".into() });
        assert_eq!(parse_location("file://localhost/tmp/x/").unwrap(), Location::File { root: "/tmp/x/".into() });
        assert_eq!(parse_location("file://rel/dir/").unwrap(), Location::File { root: "rel/dir/".into() });
        assert_eq!(parse_location("DIRECT:///mnt/d/").unwrap(), Location::Direct { root: "/mnt/d/".into() });
        assert!(parse_location("file://").is_err());
    }

    #[test]
    fn bad_schemes_and_credentials() {
        let e = parse_location("ftp://x/").unwrap_err().to_string();
        assert!(e.contains("unknown scheme `ftp://`"), "{e}");
        assert!(parse_location("/tmp/x").unwrap_err().to_string().contains("no scheme"));
        let e = parse_location("s3://AKIA:s3cr3t@host:9000/b/").unwrap_err().to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(e.contains("credentials in the URI"), "{e}");
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_uri("s3://k:secret@h:9000/b/"), "s3://***@h:9000/b/");
        assert_eq!(redact_uri("s3://h:9000/b/a@b"), "s3://h:9000/b/a@b");
        assert_eq!(redact_uri("file:///x"), "file:///x");
    }
}
