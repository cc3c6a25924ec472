//! `results.tsv` and `prepare_results.tsv`: latency, throughput and counts per operation class and
//! size bucket of one phase, then per-op META rows, then the class totals.

use super::fmt::{f2, f3, header, per_sec, tsv_line, Lat, MIB};
use crate::core::exec::PhaseResult;
use crate::core::metrics::{Cell, Snapshot, SIZE_BUCKETS};
use crate::core::{OpClass, OpKind};

/// The columns, in order. The first 13 are the older tool's; `errors`, the service-time, the
/// time-to-first-byte and the `retries` columns come after them so scripts that read the older
/// files keep working.
pub const COLUMNS: [&str; 20] = [
    "operation",
    "size_bucket",
    "bucket_idx",
    "mean_us",
    "p50_us",
    "p90_us",
    "p95_us",
    "p99_us",
    "max_us",
    "avg_bytes",
    "ops_per_sec",
    "throughput_mibps",
    "count",
    "errors",
    "service_mean_us",
    "service_p50_us",
    "service_p99_us",
    "ttfb_p50_us",
    "ttfb_p99_us",
    "retries",
];

/// The columns sai3 appended after its first results files (here, and `retries` also in
/// perf_log.tsv and the endpoint stats): a file that lacks them is sai3's all the same
/// (`analyze` does not note their absence).
pub const LATER_COLUMNS: [&str; 3] = ["ttfb_p50_us", "ttfb_p99_us", "retries"];

/// `bucket_idx` of the per-op META rows (MKDIR, RMDIR, LIST, STAT, DELETE; size_bucket `ALL`).
pub fn op_row_idx(op: OpKind) -> u32 {
    match op {
        OpKind::Mkdir => 92,
        OpKind::Rmdir => 93,
        OpKind::List => 94,
        OpKind::Stat => 95,
        OpKind::Delete => 96,
        OpKind::Get => 98,
        OpKind::Put => 99,
    }
}

/// Failed requests and retries of a row (both without a size: 0 in size-bucket rows).
#[derive(Clone, Copy, Default)]
struct Failures {
    errors: u64,
    retries: u64,
}

fn row(out: &mut String, operation: &str, bucket: &str, idx: u32, cell: Option<&Cell>, f: Failures, wall_s: f64) {
    let empty = Cell::new();
    let c = cell.unwrap_or(&empty);
    let lat = Lat::of(&c.hist);
    let svc = Lat::of(c.service_hist());
    // Rows without first-byte times (PUT, META, verify GETs) show 0, as empty histograms do.
    let ttfb = c.ttfb.as_ref().map(Lat::of).unwrap_or_default();
    let avg_bytes = if c.count > 0 { c.bytes as f64 / c.count as f64 } else { 0.0 };
    tsv_line(
        out,
        &[
            operation.to_string(),
            bucket.to_string(),
            idx.to_string(),
            f2(lat.mean),
            lat.p50.to_string(),
            lat.p90.to_string(),
            lat.p95.to_string(),
            lat.p99.to_string(),
            lat.max.to_string(),
            format!("{:.0}", avg_bytes),
            f2(per_sec(c.count as f64, wall_s)),
            f3(per_sec(c.bytes as f64 / MIB, wall_s)),
            c.count.to_string(),
            f.errors.to_string(),
            f2(svc.mean),
            svc.p50.to_string(),
            svc.p99.to_string(),
            ttfb.p50.to_string(),
            ttfb.p99.to_string(),
            f.retries.to_string(),
        ],
    );
}

/// The file for one phase (header only when the phase did not run).
pub fn serialize(phase: Option<&PhaseResult>) -> String {
    let mut out = String::new();
    header(&mut out, &COLUMNS);
    let Some(p) = phase else { return out };
    let s: &Snapshot = &p.totals;
    let wall = p.wall.as_secs_f64();
    // 1. Per class and size bucket, buckets ascending. Errors and retries have no size: they are
    // in the per-op rows and the totals.
    for class in [OpClass::Get, OpClass::Put, OpClass::Meta] {
        for (b, (label, _)) in SIZE_BUCKETS.iter().enumerate() {
            if let Some(c) = s.total_where(|o, kb| o.class() == class && kb == b) {
                row(&mut out, class.name(), label, b as u32, Some(&c), Failures::default(), wall);
            }
        }
    }
    // 2. Each META op on its own.
    for op in [OpKind::Mkdir, OpKind::Rmdir, OpKind::List, OpKind::Stat, OpKind::Delete] {
        let c = s.op_total(op);
        let f = Failures { errors: s.errors_where(|o| o == op), retries: s.retries_where(|o| o == op).retries };
        if c.is_some() || f.errors > 0 {
            row(&mut out, op.name(), "ALL", op_row_idx(op), c.as_ref(), f, wall);
        }
    }
    // 3. Class totals: 97 META, 98 GET, 99 PUT.
    for class in [OpClass::Meta, OpClass::Get, OpClass::Put] {
        let c = s.class_total(class);
        let f = Failures {
            errors: s.errors_where(|o| o.class() == class),
            retries: s.retries_where(|o| o.class() == class).retries,
        };
        if c.is_some() || f.errors > 0 {
            row(&mut out, class.name(), "ALL", class.total_bucket_idx(), c.as_ref(), f, wall);
        }
    }
    out
}
