//! The "slowest ops" sheet: the slowest operations of a results folder's op-log.

use std::path::{Path, PathBuf};

use super::load::{Table, Val};

/// How many of the slowest operations the "slowest" sheet lists.
pub const SLOWEST: usize = 100;

/// The slowest operations of the folder's op-log (the merged one, or every agent's), as a table;
/// `None` without an op-log.
pub fn slowest_ops(dir: &Path, agents: &[String], problems: &mut Vec<String>) -> Option<Table> {
    let top = dir.join(crate::core::oplog::FILE_NAME);
    let files: Vec<PathBuf> = if top.exists() {
        vec![top]
    } else {
        agents
            .iter()
            .map(|id| dir.join("agents").join(id).join(crate::core::oplog::FILE_NAME))
            .filter(|p| p.exists())
            .collect()
    };
    if files.is_empty() {
        return None;
    }
    let mut lines = Vec::new();
    for f in &files {
        match crate::core::oplog::stats(f, SLOWEST) {
            Ok(s) => lines.extend(s.slowest),
            Err(e) => problems.push(e),
        }
    }
    lines.sort_by_key(|l| std::cmp::Reverse(crate::core::oplog::latency_us(l)));
    lines.truncate(SLOWEST);
    let header: Vec<String> =
        ["latency_us", "ttfb_us", "op", "bytes", "stage", "agent", "thread", "start", "endpoint", "file", "error"]
            .iter()
            .map(|h| h.to_string())
            .collect();
    let text = |s: &str| if s.is_empty() { Val::Empty } else { Val::Text(s.to_string()) };
    let rows = lines
        .iter()
        .map(|l| {
            let from = l.intended_start.unwrap_or(l.start);
            vec![
                Val::Num(crate::core::oplog::latency_us(l) as f64),
                l.first_byte.map_or(Val::Empty, |t| Val::Num(((t - from).max(0) / 1000) as f64)),
                Val::Text(l.op.clone()),
                Val::Num(l.bytes as f64),
                text(&l.stage),
                text(&l.agent),
                Val::Num(l.thread as f64),
                Val::Text(crate::core::oplog::format_time(l.start)),
                text(&l.endpoint),
                text(&l.file),
                text(&l.error),
            ]
        })
        .collect();
    Some(Table { header, rows })
}
