//! `workload_endpoint_stats.tsv` / `prepare_endpoint_stats.tsv`: requests per endpoint.

use super::fmt::{f2, header, pct, tsv_line, Lat};
use crate::core::exec::{EndpointInfo, PhaseResult};
use crate::core::metrics::EndpointCell;

pub const COLUMNS: [&str; 15] = [
    "endpoint_idx",
    "endpoint_uri",
    "total_requests",
    "bytes_read",
    "bytes_written",
    "error_count",
    "active_requests",
    "request_pct",
    "read_pct",
    "write_pct",
    "mean_us",
    "p50_us",
    "p90_us",
    "p99_us",
    "retries",
];

/// One row per endpoint of `table`, figures from the phase totals.
pub fn serialize(table: &[EndpointInfo], phase: Option<&PhaseResult>) -> String {
    let mut out = String::new();
    header(&mut out, &COLUMNS);
    let empty = EndpointCell::new();
    let cells: Vec<&EndpointCell> =
        table.iter().map(|e| phase.and_then(|p| p.totals.endpoints.get(e.idx)).unwrap_or(&empty)).collect();
    let req: u64 = cells.iter().map(|c| c.requests).sum();
    let read: u64 = cells.iter().map(|c| c.bytes_read).sum();
    let written: u64 = cells.iter().map(|c| c.bytes_written).sum();
    for (e, c) in table.iter().zip(&cells) {
        let lat = Lat::of(&c.hist);
        let active = phase.and_then(|p| p.in_flight_at_end.get(e.idx)).copied().unwrap_or(0);
        tsv_line(
            &mut out,
            &[
                e.idx.to_string(),
                crate::core::store::redact_uri(&e.uri),
                c.requests.to_string(),
                c.bytes_read.to_string(),
                c.bytes_written.to_string(),
                c.errors.to_string(),
                active.to_string(),
                f2(pct(c.requests, req)),
                f2(pct(c.bytes_read, read)),
                f2(pct(c.bytes_written, written)),
                f2(lat.mean),
                lat.p50.to_string(),
                lat.p90.to_string(),
                lat.p99.to_string(),
                c.retries.to_string(),
            ],
        );
    }
    out
}
