//! Reading results folders for `analyze`: the small TSVs through polars (as text, then checked
//! cell by cell so every problem names its file and line), the perf logs streamed row by row
//! (they can have millions of rows), and metadata.json leniently.

use std::path::{Path, PathBuf};

use polars::prelude::*;

/// One cell of a loaded table.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(f64),
    Text(String),
    Empty,
}

impl Val {
    pub fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            _ => None,
        }
    }
    pub fn text(&self) -> String {
        match self {
            Val::Num(n) => n.to_string(),
            Val::Text(s) => s.clone(),
            Val::Empty => String::new(),
        }
    }
}

/// A TSV as header + typed rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Val>>,
}

impl Table {
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
    /// The row whose `key_col` equals `key` and `bucket_col` equals `ALL` (results.tsv totals).
    pub fn total_row(&self, op: &str) -> Option<&Vec<Val>> {
        let (o, b) = (self.col("operation")?, self.col("size_bucket")?);
        self.rows.iter().find(|r| r[o].text() == op && r[b].text() == "ALL")
    }
    pub fn get(&self, row: &[Val], name: &str) -> Option<f64> {
        self.col(name).and_then(|c| row.get(c)).and_then(|v| v.num())
    }
}

/// Columns that hold text; every other column must be numeric.
pub fn is_text_column(name: &str) -> bool {
    matches!(name, "operation" | "size_bucket" | "endpoint_uri" | "agent_id" | "stage")
}

/// Load a small TSV with polars (every column as text), then type each cell. A ragged or
/// non-numeric row is an error naming the file and line.
pub fn load_table(path: &Path) -> Result<Table, String> {
    let shown = path.display().to_string();
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .map_parse_options(|p| p.with_separator(b'\t').with_quote_char(None))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish());
    let df = match df {
        Ok(df) => df,
        Err(e) => return Err(locate_ragged(path).unwrap_or_else(|| format!("{shown}: cannot read: {e}"))),
    };
    let header: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let n = df.height();
    let mut rows: Vec<Vec<Val>> = (0..n).map(|_| Vec::with_capacity(header.len())).collect();
    for (ci, name) in header.iter().enumerate() {
        let col = df.column(name).map_err(|e| format!("{shown}: {e}"))?;
        let s = col.str().map_err(|e| format!("{shown}: column {name}: {e}"))?;
        for (ri, v) in s.iter().enumerate() {
            let val = match v {
                None => Val::Empty,
                Some("") => Val::Empty,
                Some(t) if is_text_column(name) => Val::Text(t.to_string()),
                Some(t) => match t.parse::<f64>() {
                    Ok(x) if x.is_finite() => Val::Num(x),
                    _ => {
                        return Err(format!(
                            "{shown}: line {}: column {name} (column {}): `{t}` is not a number",
                            ri + 2,
                            ci + 1
                        ))
                    }
                },
            };
            rows[ri].push(val);
        }
    }
    Ok(Table { header, rows })
}

/// Find the first line whose field count differs from the header's.
fn locate_ragged(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let want = lines.next()?.split('\t').count();
    for (i, l) in lines.enumerate() {
        let got = l.split('\t').count();
        if got != want && !l.is_empty() {
            return Some(format!("{}: line {}: {got} fields, the header has {want}", path.display(), i + 2));
        }
    }
    None
}

/// Streams a perf log: header, then typed rows; a bad row is an error naming file and line.
pub struct PerfReader {
    path: PathBuf,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    pub header: Vec<String>,
    text_cols: Vec<bool>,
    line: usize,
}

impl PerfReader {
    pub fn open(path: &Path) -> Result<PerfReader, String> {
        use std::io::BufRead;
        let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut lines = std::io::BufReader::with_capacity(1 << 20, f).lines();
        let header: Vec<String> = match lines.next() {
            Some(Ok(h)) => h.split('\t').map(str::to_string).collect(),
            _ => return Err(format!("{}: empty file (no header line)", path.display())),
        };
        if !header.iter().any(|h| h == "elapsed_s") {
            return Err(format!("{}: line 1: not a perf log header (no elapsed_s column)", path.display()));
        }
        let text_cols = header.iter().map(|h| is_text_column(h)).collect();
        Ok(PerfReader { path: path.to_path_buf(), lines, header, text_cols, line: 1 })
    }

    /// The next row, `None` at the end.
    pub fn next_row(&mut self) -> Option<Result<Vec<Val>, String>> {
        loop {
            let l = match self.lines.next()? {
                Ok(l) => l,
                Err(e) => return Some(Err(format!("{}: line {}: {e}", self.path.display(), self.line + 1))),
            };
            self.line += 1;
            if l.is_empty() {
                continue;
            }
            let mut row = Vec::with_capacity(self.header.len());
            for (i, f) in l.split('\t').enumerate() {
                if i >= self.header.len() {
                    return Some(Err(format!(
                        "{}: line {}: more fields than the header's {}",
                        self.path.display(),
                        self.line,
                        self.header.len()
                    )));
                }
                row.push(if self.text_cols[i] {
                    Val::Text(f.to_string())
                } else if f.is_empty() {
                    Val::Empty
                } else {
                    match f.parse::<f64>() {
                        Ok(x) if x.is_finite() => Val::Num(x),
                        _ => {
                            return Some(Err(format!(
                                "{}: line {}: column {}: `{f}` is not a number",
                                self.path.display(),
                                self.line,
                                self.header[i]
                            )))
                        }
                    }
                });
            }
            if row.len() != self.header.len() {
                return Some(Err(format!(
                    "{}: line {}: {} fields, the header has {}",
                    self.path.display(),
                    self.line,
                    row.len(),
                    self.header.len()
                )));
            }
            return Some(Ok(row));
        }
    }
}

/// Count a perf log's data rows and check every one (first pass: decides folding and the chart
/// down-sampling before anything is written). Returns the rows and the first problem, if any.
pub fn scan_perf(path: &Path) -> Result<(usize, Option<String>), String> {
    let mut r = PerfReader::open(path)?;
    let mut n = 0;
    while let Some(row) = r.next_row() {
        match row {
            Ok(_) => n += 1,
            Err(e) => return Ok((n, Some(e))),
        }
    }
    Ok((n, None))
}

/// Everything `analyze` knows about one results folder.
#[derive(Debug, Default)]
pub struct Run {
    pub dir: PathBuf,
    pub name: String,
    pub started: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub config: String,
    pub agents: usize,
    pub workload_s: Option<f64>,
    pub results: Option<Table>,
    pub prepare: Option<Table>,
    pub ep_workload: Option<Table>,
    pub ep_prepare: Option<Table>,
    /// perf logs to include: (label, path, data rows); the first is the run's own.
    pub perfs: Vec<(String, PathBuf, usize)>,
    /// The stages metadata.json lists, in execution order.
    pub stages: Vec<StageRow>,
    pub problems: Vec<String>,
}

/// One stage of a run, as metadata.json records it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageRow {
    pub name: String,
    pub kind: String,
    pub outcome: String,
    pub wall_s: Option<f64>,
    pub ops: Option<f64>,
    pub errors: Option<f64>,
    pub warmup_ops: Option<f64>,
}

/// Load a results folder; what is missing or broken is recorded in `problems`, never fatal.
/// `Err` when the folder is not a results folder at all.
pub fn load_run(dir: &Path) -> Result<Run, String> {
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(format!("{shown}: not a directory"));
    }
    if !dir.join("results.tsv").exists() && !dir.join("metadata.json").exists() {
        return Err(format!("{shown}: not a sai3 results folder (no results.tsv or metadata.json)"));
    }
    let mut run = Run {
        dir: dir.to_path_buf(),
        name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(shown.clone()),
        ..Default::default()
    };
    match std::fs::read_to_string(dir.join("metadata.json")) {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(m) => {
                run.started = m["started_at"].as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
                run.config = m["config"].as_str().or(m["config_name"].as_str()).unwrap_or("").to_string();
                run.agents = m["agents"].as_array().map(|a| a.len()).unwrap_or(0);
                run.workload_s = m["phases"]["workload_wall_s"].as_f64();
                for st in m["stages"].as_array().into_iter().flatten() {
                    run.stages.push(StageRow {
                        name: st["name"].as_str().unwrap_or("").to_string(),
                        kind: st["type"].as_str().unwrap_or("").to_string(),
                        outcome: st["outcome"].as_str().unwrap_or("").to_string(),
                        wall_s: st["wall_s"].as_f64(),
                        ops: st["ops"].as_f64(),
                        errors: st["errors"].as_f64(),
                        warmup_ops: st["warmup_ops"].as_f64(),
                    });
                }
            }
            Err(e) => run.problems.push(format!("{shown}/metadata.json: line {}: not valid JSON: {e}", e.line())),
        },
        Err(e) => run.problems.push(format!("{shown}/metadata.json: {e}")),
    }
    let mut table = |file: &str, required: bool| -> Option<Table> {
        let p = dir.join(file);
        if !p.exists() {
            if required {
                run.problems.push(format!("{shown}/{file}: missing"));
            }
            return None;
        }
        match load_table(&p) {
            Ok(t) => Some(t),
            Err(e) => {
                run.problems.push(e);
                None
            }
        }
    };
    run.results = table("results.tsv", true);
    run.prepare = table("prepare_results.tsv", false);
    run.ep_workload = table("workload_endpoint_stats.tsv", false);
    run.ep_prepare = table("prepare_endpoint_stats.tsv", false);
    let mut perfs = vec![("perf".to_string(), dir.join("perf_log.tsv"))];
    if let Ok(rd) = std::fs::read_dir(dir.join("agents")) {
        let mut ids: Vec<String> =
            rd.flatten().filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        ids.sort();
        for id in ids {
            perfs.push((id.clone(), dir.join("agents").join(&id).join("perf_log.tsv")));
        }
    }
    for (label, p) in perfs {
        if !p.exists() {
            if label == "perf" {
                run.problems.push(format!("{}: missing", p.display()));
            }
            continue;
        }
        match scan_perf(&p) {
            Ok((n, None)) => run.perfs.push((label, p, n)),
            Ok((_, Some(e))) | Err(e) => run.problems.push(e),
        }
    }
    Ok(run)
}

/// Folders in `base` whose names match `pattern` (`*` any run, `?` one character), sorted.
pub fn find_dirs(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(base).map_err(|e| format!("--base-dir {}: {e}", base.display()))?;
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.path().is_dir() && glob(pattern.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob(b"sai3-*", b"sai3-20260101-1200-x"));
        assert!(!glob(b"sai3-*", b"other"));
        assert!(glob(b"sai3-2026????-*", b"sai3-20260101-x"));
        assert!(glob(b"*", b""));
    }

    #[test]
    fn ragged_and_non_numeric_rows_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("results.tsv");
        std::fs::write(&p, "operation\tcount\nGET\t5\nPUT\tfive\n").unwrap();
        let e = load_table(&p).unwrap_err();
        assert!(e.contains("line 3") && e.contains("`five`"), "{e}");
        std::fs::write(&p, "operation\tcount\nGET\t5\nPUT\t1\t2\n").unwrap();
        let e = load_table(&p).unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        std::fs::write(&p, "operation\tcount\nGET\t5\n").unwrap();
        let t = load_table(&p).unwrap();
        assert_eq!(t.rows, vec![vec![Val::Text("GET".into()), Val::Num(5.0)]]);
    }
}
