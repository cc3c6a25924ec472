//! The op-log: every operation on record (`oplog.tsv.zst`, warp's per-operation columns plus
//! sai3's), its capture without blocking the workers, merging, statistics and the schedule a
//! replay follows. Formats its own file; knows nothing of the network.

mod merge;
mod record;
mod replay;
mod stats;
mod writer;

pub use merge::merge;
/// Date arithmetic shared with the S3 request signer (store/s3http.rs).
pub(crate) use record::civil_from_days;
pub use record::{error_text, format_time, header, parse_time, Columns, Line, OpRecord, Reader, COLUMNS};
pub use replay::{load_schedule, Remap, Schedule, Scheduled};
pub use stats::{latency_us, render as render_stats, stats, OpStats, Stats};
pub use writer::{BlockWriter, LogBuf, OpLog, OpLogOptions, OpLogTotals, BUFFER_RECORDS};

/// The op-log's file name in a results folder (and in `agents/<id>/`).
pub const FILE_NAME: &str = "oplog.tsv.zst";
