//! Number formatting shared by the results files: fixed decimals, `.` as separator, no
//! thousands separators, so every file parses the same in any locale.

use hdrhistogram::Histogram;

pub const MIB: f64 = 1024.0 * 1024.0;

/// Latency summary of a histogram, µs. All zero when it is empty.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lat {
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

impl Lat {
    pub fn of(h: &Histogram<u64>) -> Lat {
        if h.is_empty() {
            return Lat::default();
        }
        Lat {
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// Two decimals.
pub fn f2(v: f64) -> String {
    format!("{:.2}", if v.is_finite() { v } else { 0.0 })
}

/// Three decimals.
pub fn f3(v: f64) -> String {
    format!("{:.3}", if v.is_finite() { v } else { 0.0 })
}

/// `n / secs`, 0 when no time passed.
pub fn per_sec(n: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        n / secs
    } else {
        0.0
    }
}

/// A share in percent, 0 when the whole is 0.
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Join fields with tabs and end the line.
pub fn tsv_line(out: &mut String, fields: &[String]) {
    out.push_str(&fields.join("\t"));
    out.push('\n');
}

/// The header line of a file.
pub fn header(out: &mut String, columns: &[&str]) {
    out.push_str(&columns.join("\t"));
    out.push('\n');
}
