//! The copy of a config saved with the results: secrets replaced by `***`.

use crate::core::store::redact_uri;

/// Key names whose values are secrets.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if k.ends_with("_path") || k.ends_with("_file") || k == "key" {
        return false;
    }
    [
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "access_key",
        "account_key",
        "private_key",
        "sas",
        "session_key",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// The config text with the values of secret-looking keys and `user:pass@` in URIs replaced by
/// `***`. Line structure and comments are kept so the copy reads like the original.
pub fn redact_yaml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let content = body.trim_start().trim_start_matches("- ");
        let redacted = match content.split_once(':') {
            Some((key, value)) if is_secret_key(key.trim().trim_matches(['"', '\''])) && !value.trim().is_empty() => {
                let cut = body.len() - value.len();
                format!("{} \"***\"", &body[..cut])
            }
            _ => redact_uris(body),
        };
        out.push_str(&redacted);
        out.push_str(ending);
    }
    out
}

fn redact_uris(line: &str) -> String {
    if !line.contains('@') || !line.contains("://") {
        return line.to_string();
    }
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
            .map(|p| p + 1)
            .unwrap_or(0);
        let end =
            rest[i..].find(|c: char| c.is_whitespace() || c == '"' || c == '\'').map(|e| i + e).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        out.push_str(&redact_uri(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_userinfo() {
        let text = "target: \"s3://bucket/x/\"\nstorage:\n  secret_access_key: abc123\n  token: 'tok'\n  region: us-east-1\ndistributed:\n  token_file: /etc/sai3/token\n  tls:\n    key: /etc/sai3/agent.key\nendpoints:\n  - \"s3://user:pw@host:9000/b/\"\n";
        let r = redact_yaml(text);
        assert!(!r.contains("abc123") && !r.contains("tok'") && !r.contains("pw@"), "{r}");
        assert!(r.contains("secret_access_key: \"***\""));
        assert!(r.contains("token_file: /etc/sai3/token"));
        assert!(r.contains("key: /etc/sai3/agent.key"));
        assert!(r.contains("s3://***@host:9000/b/"));
        assert!(r.contains("region: us-east-1"));
        assert_eq!(r.lines().count(), text.lines().count());
    }
}
