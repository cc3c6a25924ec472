//! `perf_log.tsv`: one row per interval, figures of that interval alone.

use super::fmt::{f2, f3, header, per_sec, tsv_line, Lat, MIB};
use crate::core::exec::Rows;
use crate::core::OpClass;

/// The 30 columns of the seed's perf_log, in order, then sai3's `retries`.
pub const COLUMNS: [&str; 31] = [
    "agent_id",
    "timestamp_epoch_ms",
    "elapsed_s",
    "stage",
    "get_ops",
    "get_bytes",
    "get_iops",
    "get_mbps",
    "get_mean_us",
    "get_p50_us",
    "get_p90_us",
    "get_p99_us",
    "put_ops",
    "put_bytes",
    "put_iops",
    "put_mbps",
    "put_mean_us",
    "put_p50_us",
    "put_p90_us",
    "put_p99_us",
    "meta_ops",
    "meta_iops",
    "meta_mean_us",
    "meta_p50_us",
    "meta_p90_us",
    "meta_p99_us",
    "cpu_user_pct",
    "cpu_system_pct",
    "cpu_iowait_pct",
    "errors",
    "retries",
];

/// Rows for `agent_id` (an agent's id, or `all` for the merged rows of a distributed run); an
/// error when spilled rows cannot be read back.
pub fn serialize(agent_id: &str, rows: &Rows) -> std::io::Result<String> {
    let mut out = String::new();
    header(&mut out, &COLUMNS);
    for r in rows.iter() {
        let r = r?;
        let secs = r.duration_s;
        let mut f = vec![agent_id.to_string(), r.timestamp_epoch_ms.to_string(), f3(r.elapsed_s), r.stage.label()];
        let sum = r.summary();
        for (i, class) in [OpClass::Get, OpClass::Put, OpClass::Meta].into_iter().enumerate() {
            let c = sum.classes[i];
            let (ops, bytes) = (c.ops, c.bytes);
            let lat = Lat { mean: c.mean_us, p50: c.p50_us, p90: c.p90_us, p95: 0, p99: c.p99_us, max: 0 };
            f.push(ops.to_string());
            if class != OpClass::Meta {
                f.push(bytes.to_string());
            }
            f.push(f2(per_sec(ops as f64, secs)));
            if class != OpClass::Meta {
                f.push(f3(per_sec(bytes as f64 / MIB, secs)));
            }
            f.push(f2(lat.mean));
            f.push(lat.p50.to_string());
            f.push(lat.p90.to_string());
            f.push(lat.p99.to_string());
        }
        f.push(f2(r.cpu.user_pct));
        f.push(f2(r.cpu.system_pct));
        f.push(f2(r.cpu.iowait_pct));
        f.push(r.total_errors().to_string());
        f.push(r.total_retries().to_string());
        debug_assert_eq!(f.len(), COLUMNS.len());
        tsv_line(&mut out, &f);
    }
    Ok(out)
}
