//! SigV4 request heads for the S3 data path (s3http.rs), and the request path of an object.
//!
//! A request is signed on every GET and PUT, so the head is built without the general string
//! machinery: the canonical request and the string to sign are hashed piece by piece (never
//! assembled), the date, digests and numbers are written into fixed buffers, and the whole head
//! is one allocation. The day's signing key is derived once per UTC day. What is signed and sent
//! is what object_store's client signs and sends (see s3http.rs).

use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use ring::{digest, hmac};

use crate::core::decimal::Decimal;

/// Static credentials (from the environment, as object_store reads them).
pub(super) struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub token: Option<String>,
}

/// Signs requests to one endpoint.
pub(super) struct Signer {
    /// The `host` header (with the bucket in front for virtual-hosted style).
    host: String,
    region: String,
    creds: Credentials,
    /// The signing key of a UTC day (days since the Unix epoch).
    key: Mutex<Option<(u64, hmac::Key)>>,
}

/// What a request carries besides its method and path.
pub(super) struct Extra<'a> {
    /// Hex SHA-256 of the body, or None for `UNSIGNED-PAYLOAD`.
    pub payload_hash: Option<&'a str>,
    /// `range: bytes=first-last`.
    pub range: Option<(u64, u64)>,
    /// `content-length`.
    pub content_length: Option<usize>,
}

const UNSIGNED: &str = "UNSIGNED-PAYLOAD";

impl Signer {
    pub(super) fn new(host: String, region: String, creds: Credentials) -> Signer {
        Signer { host, region, creds, key: Mutex::new(None) }
    }

    /// The signed request line and headers of `method` on `path` (already URI-encoded), now.
    pub(super) fn head(&self, method: &str, path: &str, extra: &Extra<'_>) -> Vec<u8> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        self.head_at(now, method, path, extra)
    }

    fn head_at(&self, now: u64, method: &str, path: &str, extra: &Extra<'_>) -> Vec<u8> {
        let date = amz_date(now);
        let date = as_str(&date);
        let day = &date[..8];
        let payload = extra.payload_hash.unwrap_or(UNSIGNED);
        let token = self.creds.token.as_deref();
        let signed = if token.is_some() {
            "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
        } else {
            "host;x-amz-content-sha256;x-amz-date"
        };
        // The canonical request, hashed as it would read.
        let mut c = digest::Context::new(&digest::SHA256);
        for piece in
            [method, "\n", path, "\n\nhost:", &self.host, "\nx-amz-content-sha256:", payload, "\nx-amz-date:", date]
        {
            c.update(piece.as_bytes());
        }
        if let Some(t) = token {
            c.update(b"\nx-amz-security-token:");
            c.update(t.as_bytes());
        }
        for piece in ["\n\n", signed, "\n", payload] {
            c.update(piece.as_bytes());
        }
        let canonical = hex(c.finish().as_ref());
        // The string to sign, into the HMAC as it would read.
        let key = self.day_key(now / 86_400, day);
        let mut s = hmac::Context::with_key(&key);
        for piece in
            ["AWS4-HMAC-SHA256\n", date, "\n", day, "/", &self.region, "/s3/aws4_request\n", as_str(&canonical)]
        {
            s.update(piece.as_bytes());
        }
        let signature = hex(s.sign().as_ref());

        let mut h = Vec::with_capacity(512 + path.len() + token.map_or(0, str::len));
        for piece in [method, " ", path, " HTTP/1.1\r\nhost: ", &self.host, "\r\nx-amz-date: ", date] {
            h.extend_from_slice(piece.as_bytes());
        }
        h.extend_from_slice(b"\r\nx-amz-content-sha256: ");
        h.extend_from_slice(payload.as_bytes());
        if let Some(t) = token {
            h.extend_from_slice(b"\r\nx-amz-security-token: ");
            h.extend_from_slice(t.as_bytes());
        }
        for piece in [
            "\r\nauthorization: AWS4-HMAC-SHA256 Credential=",
            &self.creds.access_key,
            "/",
            day,
            "/",
            &self.region,
            "/s3/aws4_request, SignedHeaders=",
            signed,
            ", Signature=",
            as_str(&signature),
        ] {
            h.extend_from_slice(piece.as_bytes());
        }
        if let Some((first, last)) = extra.range {
            h.extend_from_slice(b"\r\nrange: bytes=");
            push_u64(&mut h, first);
            h.push(b'-');
            push_u64(&mut h, last);
        }
        if let Some(len) = extra.content_length {
            h.extend_from_slice(b"\r\ncontent-length: ");
            push_u64(&mut h, len as u64);
        }
        h.extend_from_slice(b"\r\n\r\n");
        h
    }

    /// The signing key of day `n` (`day` as `YYYYMMDD`), derived on the first request of a day.
    fn day_key(&self, n: u64, day: &str) -> hmac::Key {
        let mut cached = self.key.lock();
        match cached.as_ref() {
            Some((d, k)) if *d == n => k.clone(),
            _ => {
                let k = signing_key(&self.creds.secret_key, day, &self.region);
                *cached = Some((n, k.clone()));
                k
            }
        }
    }
}

/// The derived SigV4 signing key of a day (`YYYYMMDD`).
pub(super) fn signing_key(secret: &str, day: &str, region: &str) -> hmac::Key {
    let sign = |key: &[u8], data: &str| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes());
    let k_date = sign(format!("AWS4{secret}").as_bytes(), day);
    let k_region = sign(k_date.as_ref(), region);
    let k_service = sign(k_region.as_ref(), "s3");
    let k_signing = sign(k_service.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time (UTC).
pub(super) fn amz_date(secs: u64) -> [u8; 16] {
    let (y, m, d) = crate::core::oplog::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut out = *b"00000000T000000Z";
    // Every field fits its width: the year is clamped, the others are below 100.
    let mut put = |at: usize, width: usize, v: u64| {
        out[at..at + width].copy_from_slice(Decimal::new(v, width).as_str().as_bytes());
    };
    put(0, 4, y.clamp(0, 9999) as u64);
    put(4, 2, m as u64);
    put(6, 2, d as u64);
    put(9, 2, rem / 3600);
    put(11, 2, rem / 60 % 60);
    put(13, 2, rem % 60);
    out
}

/// Lower-case hex of a 32-byte digest.
pub(super) fn hex(bytes: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; 64];
    for (i, b) in bytes.iter().take(32).enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    out
}

/// Hex SHA-256 of `data`.
pub(super) fn sha256_hex(data: &[u8]) -> [u8; 64] {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// The text of an ASCII buffer built above.
pub(super) fn as_str(b: &[u8]) -> &str {
    // Invariant: callers pass digits, hex and ASCII punctuation only.
    std::str::from_utf8(b).expect("ASCII")
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(Decimal::new(v, 0).as_str().as_bytes());
}

/// A key or prefix as an S3 canonical path: every byte but unreserved ones and `/` as `%XX`.
pub(super) fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(&mut out, s);
    out
}

pub(super) fn encode_into(out: &mut String, s: &str) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
    }
}

/// `base` followed by the request path of the object `prefix` + `key`: its object_store path
/// (object_store's escaping of what it does not keep in names), URI-encoded as object_store
/// encodes it, so both clients name every object the same. Names of letters, digits, `-`, `.`,
/// `_` and single `/` between non-empty segments other than `.` and `..` are the same in both
/// forms and are copied as they are; other names go through object_store's `Path`.
pub(super) fn object_path(base: &str, prefix: &str, key: &str) -> String {
    let key = key.trim_start_matches('/');
    let mut p = String::with_capacity(base.len() + prefix.len() + key.len() + 8);
    p.push_str(base);
    p.push_str(prefix);
    p.push_str(key);
    if !plain(&p[base.len()..]) {
        let location = object_store::path::Path::from(&p[base.len()..]);
        p.truncate(base.len());
        encode_into(&mut p, location.as_ref());
    }
    p
}

/// Whether object_store keeps `name` as it is and the URI encoding does too.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(as_str(&amz_date(0)), "19700101T000000Z");
        // 2013-05-24T00:00:00Z, the date of AWS's published SigV4 examples.
        assert_eq!(as_str(&amz_date(1_369_353_600)), "20130524T000000Z");
        // A leap day and the end of a day.
        assert_eq!(as_str(&amz_date(1_709_251_199)), "20240229T235959Z");
        assert_eq!(as_str(&amz_date(4_102_444_800)), "21000101T000000Z");
        assert_eq!(as_str(&amz_date(1_780_000_000)), "20260528T202640Z");
    }

    #[test]
    fn paths_encode_everything_but_unreserved_and_slash() {
        assert_eq!(encode_path("a b/c+d%e/ü~_.-"), "a%20b/c%2Bd%25e/%C3%BC~_.-");
    }

    /// The fast path names every object as object_store's `Path` does.
    #[test]
    fn object_paths_are_those_of_object_store() {
        let names = [
            "prof/4KiB/obj-000001",
            "data/file_00001.dat",
            "a",
            "",
            "/",
            "a//b",
            "a/",
            "./a",
            "a/../b",
            "a/.b/..c",
            "a b/c+d",
            "x~y",
            "ü/ß",
            "a%2Fb",
            "q?r#s",
            "tab\tin",
            "UPPER-lower_0.9",
        ];
        for prefix in ["", "pre/", "pre", "p q/"] {
            for name in names {
                for key in [name.to_string(), format!("/{name}")] {
                    let joined = format!("{prefix}{}", key.trim_start_matches('/'));
                    let want = format!("/b/{}", encode_path(object_store::path::Path::from(joined.as_str()).as_ref()));
                    assert_eq!(object_path("/b/", prefix, &key), want, "prefix {prefix:?} key {key:?}");
                }
            }
        }
        assert!(plain("pre/4KiB/obj-1") && !plain("a//b") && !plain("a/..") && !plain("x~y"));
    }

    fn reference_signature(s: &Signer, now: u64, method: &str, path: &str, payload: &str) -> String {
        let date = amz_date(now);
        let (date, day) = (as_str(&date), &as_str(&date)[..8]);
        let canonical = format!(
            "{method}\n{path}\n\nhost:{}\nx-amz-content-sha256:{payload}\nx-amz-date:{date}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}",
            s.host
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{day}/{}/s3/aws4_request\n{}",
            s.region,
            as_str(&sha256_hex(canonical.as_bytes()))
        );
        let key = signing_key(&s.creds.secret_key, day, &s.region);
        as_str(&hex(hmac::sign(&key, to_sign.as_bytes()).as_ref())).to_string()
    }

    /// The head built piece by piece carries the signature of the canonical request written out
    /// whole, and the headers it signed.
    #[test]
    fn heads_carry_the_signature_of_their_canonical_request() {
        let creds = Credentials { access_key: "AKIDEXAMPLE".into(), secret_key: "SECRET/KEY".into(), token: None };
        let s = Signer::new("127.0.0.1:9000".into(), "us-east-1".into(), creds);
        let hash = sha256_hex(b"body");
        for (now, method, payload, extra) in [
            (1_369_353_600, "GET", UNSIGNED, Extra { payload_hash: None, range: Some((0, 9)), content_length: None }),
            (
                1_709_251_199,
                "PUT",
                as_str(&hash),
                Extra { payload_hash: Some(as_str(&hash)), range: None, content_length: Some(4) },
            ),
            // The next day: a new signing key.
            (1_709_251_200, "GET", UNSIGNED, Extra { payload_hash: None, range: None, content_length: None }),
        ] {
            let head = String::from_utf8(s.head_at(now, method, "/bkt/a%20b", &extra)).unwrap();
            let sig = reference_signature(&s, now, method, "/bkt/a%20b", payload);
            let date = amz_date(now);
            let day = &as_str(&date)[..8];
            assert!(head.starts_with(&format!("{method} /bkt/a%20b HTTP/1.1\r\nhost: 127.0.0.1:9000\r\n")), "{head}");
            assert!(head.contains(&format!("x-amz-content-sha256: {payload}\r\n")), "{head}");
            assert!(
                head.contains(&format!(
                    "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{day}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"
                )),
                "{head}"
            );
            assert_eq!(head.contains("range: bytes=0-9\r\n"), extra.range.is_some(), "{head}");
            assert_eq!(head.contains("content-length: 4\r\n"), extra.content_length.is_some(), "{head}");
            assert!(head.ends_with("\r\n\r\n"));
        }
    }

    /// AWS's published example (S3 documentation, "Signature calculation: GET object"): its
    /// signing key, scope and canonical form give its signature.
    #[test]
    fn signature_matches_the_published_example() {
        let key = signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1");
        let empty = sha256_hex(b"");
        let empty = as_str(&empty);
        let canonical = format!(
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:{empty}\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n{empty}"
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n{}",
            as_str(&sha256_hex(canonical.as_bytes()))
        );
        assert_eq!(
            as_str(&hex(hmac::sign(&key, to_sign.as_bytes()).as_ref())),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }
}
