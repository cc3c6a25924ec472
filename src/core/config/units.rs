//! Sizes (`64KiB`, `1.5GB`, `1048576`) and durations (`30s`, `5m`, `1m30s`, `500ms`, `60`).

use std::time::Duration;

/// Parse a size: an integer number of bytes, or a number with a unit. Decimal units `KB MB GB TB`
/// (powers of 1000), binary units `KiB MiB GiB TiB` (powers of 1024), `B` for bytes; case does not
/// matter, a space may separate number and unit, fractions are allowed (`1.5GB`). Bare `K`/`M`/`G`
/// are refused because tools disagree on what they mean.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("is empty — write a size such as `64KiB`, `1MB` or `4096`".into());
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim());
    if s.starts_with('-') {
        return Err(format!("`{s}` is negative — a size must be 0 or more"));
    }
    if num.is_empty() {
        return Err(format!("`{s}` is not a size — write e.g. `64KiB`, `1MB`, `1.5GB` or a number of bytes"));
    }
    let value: f64 =
        num.replace('_', "").parse().map_err(|_| format!("`{s}` is not a size — `{num}` is not a number"))?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "k" | "m" | "g" | "t" => {
            let u = unit.to_ascii_uppercase();
            return Err(format!(
                "`{s}` is ambiguous — write `{num}{u}iB` (binary, 1024-based) or `{num}{u}B` (decimal, 1000-based)"
            ));
        }
        _ => {
            return Err(format!(
                "`{s}` has an unknown unit `{unit}` — use B, KB, MB, GB, TB (1000-based) or KiB, MiB, GiB, TiB (1024-based)"
            ))
        }
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    if unit.is_empty() && value.fract() != 0.0 {
        return Err(format!("`{s}` is a fraction of a byte — a size in bytes must be a whole number"));
    }
    Ok(bytes.round() as u64)
}

/// Parse a duration: integer or fractional seconds (`60`, `2.5`), or one or more number+unit
/// pairs with units `ms`, `s`, `m`, `h` (`500ms`, `30s`, `5m`, `1h`, `1m30s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("is empty — write a duration such as `30s`, `5m` or `60`".into());
    }
    if s.starts_with('-') {
        return Err(format!("`{s}` is negative — a duration must be 0 or more"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs).ok_or_else(|| format!("`{s}` is not a valid number of seconds"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if n_end == 0 {
            return Err(bad_duration(s));
        }
        let value: f64 = rest[..n_end].parse().map_err(|_| bad_duration(s))?;
        let after = rest[n_end..].trim_start();
        let u_end = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let secs_per = match after[..u_end].to_ascii_lowercase().as_str() {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => return Err(bad_duration(s)),
        };
        total += value * secs_per;
        rest = after[u_end..].trim_start();
    }
    secs_to_duration(total).ok_or_else(|| bad_duration(s))
}

fn bad_duration(s: &str) -> String {
    format!("`{s}` is not a duration — write e.g. `30s`, `5m`, `1h`, `1m30s`, `500ms` or a number of seconds")
}

pub(crate) fn secs_to_duration(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..1e12).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// A size for messages, in the unit it was most likely written in: `64 KiB`, `10 MB`, `1234 B`.
pub fn size_text(bytes: u64) -> String {
    const BIN: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    const DEC: [(&str, u64); 4] = [("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000)];
    for (u, m) in BIN.into_iter().chain(DEC) {
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{} {u}", bytes / m);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1KB"), Ok(1000));
        assert_eq!(parse_size("1kb"), Ok(1000));
        assert_eq!(parse_size("1 KiB"), Ok(1024));
        assert_eq!(parse_size("512KB"), Ok(512_000));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("10B"), Ok(10));
        assert!(parse_size("12QB").unwrap_err().contains("unknown unit `QB`"));
        assert!(parse_size("4k").unwrap_err().contains("ambiguous"));
        assert!(parse_size("-1KB").unwrap_err().contains("negative"));
        assert!(parse_size("KB").unwrap_err().contains("not a size"));
        assert!(parse_size("1.5").unwrap_err().contains("fraction"));
        assert!(parse_size("").is_err());
        assert!(parse_size("1e30TB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("10x").unwrap_err().contains("not a duration"));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn size_texts() {
        assert_eq!(size_text(65536), "64 KiB");
        assert_eq!(size_text(1000), "1 KB");
        assert_eq!(size_text(1234), "1234 B");
        assert_eq!(size_text(3 << 30), "3 GiB");
    }
}
