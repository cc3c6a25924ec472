//! The shared token (gRPC metadata `authorization: Bearer <token>`) and TLS material.

use std::path::Path;

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

/// Environment variable holding the shared token, on the agent and on the controller.
pub const TOKEN_ENV: &str = "SAI3_AGENT_TOKEN";

/// Read a token file: its first line, trimmed; an empty file is an error.
pub fn read_token_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("token file {}: {e}", path.display()))?;
    let t = text.lines().next().unwrap_or("").trim().to_string();
    if t.is_empty() {
        return Err(format!("token file {} is empty — write the shared token on its first line", path.display()));
    }
    Ok(t)
}

/// The token from `--token-file` / `distributed.token_file`, else from `SAI3_AGENT_TOKEN`.
pub fn token(file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(f) = file {
        return read_token_file(f).map(Some);
    }
    Ok(std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()))
}

fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Server side: refuse a request without the right token (when a token is set).
pub fn check(expected: &Option<String>, req: &Request<()>) -> Result<(), Status> {
    let Some(tok) = expected else { return Ok(()) };
    let got = req.metadata().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match got {
        Some(g) if same(g.as_bytes(), tok.as_bytes()) => Ok(()),
        Some(_) => Err(Status::unauthenticated(
            "wrong token: this agent requires the shared token it was started with (--token-file or SAI3_AGENT_TOKEN)",
        )),
        None => Err(Status::unauthenticated(
            "this agent requires a token: give the controller `distributed.token_file` or SAI3_AGENT_TOKEN",
        )),
    }
}

/// Client side: attach the token (when there is one) to an outgoing request.
pub fn attach<T>(token: &Option<String>, mut req: Request<T>) -> Request<T> {
    if let Some(t) = token {
        if let Ok(v) = MetadataValue::try_from(format!("Bearer {t}")) {
            req.metadata_mut().insert("authorization", v);
        }
    }
    req
}

/// Read a PEM file, naming it in the error.
pub fn read_pem(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_check() {
        let exp = Some("s3cret".to_string());
        assert!(check(&None, &Request::new(())).is_ok());
        assert!(check(&exp, &Request::new(())).is_err());
        assert!(check(&exp, &attach(&Some("wrong!".into()), Request::new(()))).is_err());
        assert!(check(&exp, &attach(&exp, Request::new(()))).is_ok());
    }
}
