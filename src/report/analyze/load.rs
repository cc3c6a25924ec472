//! Reading results folders for `analyze`, of sai3 and of the original sai3-bench (one loader; a
//! [`Layout`] holds what differs): the small TSVs through polars (as text, then checked cell by
//! cell so every problem names its file and line), sai3-bench's stage files (comments skipped,
//! first table only), the perf logs streamed row by row (they can have millions of rows), and
//! metadata.json leniently. Columns that differ from sai3's are notes, not problems.

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
    /// Whether the table has total (`ALL`) rows; older sai3-bench files have only size buckets.
    pub fn has_totals(&self) -> bool {
        self.col("size_bucket").is_some_and(|b| self.rows.iter().any(|r| r[b].text() == "ALL"))
    }
    /// Column `name` of class `op`'s total: its `ALL` row; in a table without any `ALL` row,
    /// rebuilt from the size buckets where that is exact — counts, rates and errors summed,
    /// `mean_us` weighted by count. Percentiles cannot be rebuilt from buckets: `None`, as is
    /// a column the table lacks.
    pub fn class_total(&self, op: &str, name: &str) -> Option<f64> {
        if let Some(row) = self.total_row(op) {
            return self.get(row, name);
        }
        if self.has_totals() {
            return None;
        }
        let o = self.col("operation")?;
        let rows: Vec<&Vec<Val>> = self.rows.iter().filter(|r| r[o].text() == op).collect();
        if rows.is_empty() {
            return None;
        }
        let sum = |col: &str| rows.iter().map(|r| self.get(r, col)).sum::<Option<f64>>();
        match name {
            "count" | "ops_per_sec" | "throughput_mibps" | "errors" => sum(name),
            "mean_us" => {
                let weighted =
                    rows.iter().map(|r| Some(self.get(r, "mean_us")? * self.get(r, "count")?)).sum::<Option<f64>>()?;
                let n = sum("count")?;
                (n > 0.0).then(|| weighted / n)
            }
            _ => None,
        }
    }
}

/// Columns that hold text; every other column must be numeric.
pub fn is_text_column(name: &str) -> bool {
    matches!(name, "operation" | "size_bucket" | "endpoint_uri" | "agent_id" | "stage")
}

/// Load a small TSV with polars (every column as text), then type each cell. A ragged or
/// non-numeric row is an error naming the file and line.
pub fn load_table(path: &Path) -> Result<Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse_table(&path.display().to_string(), text, 0)
}

/// The first table of a numbered stage file of sai3-bench (`NN_<stage>_results.tsv`), and its
/// `#` comment lines (without the `#`). The file holds comment lines and a blank line, the
/// results table, then a blank line and a per-agent table, which is not read. Lines are
/// numbered as in the file.
pub fn load_stage_table(path: &Path) -> Result<(Table, Vec<String>), String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut comments = Vec::new();
    let mut first = 0;
    while let Some(l) = lines.get(first) {
        if let Some(c) = l.strip_prefix('#') {
            comments.push(c.trim().to_string());
        } else if !l.trim().is_empty() {
            break;
        }
        first += 1;
    }
    if first == lines.len() {
        return Err(format!("{shown}: no table (only comment and blank lines)"));
    }
    let end = (first + 1..lines.len())
        .find(|&i| lines[i].trim().is_empty() || lines[i].starts_with('#') || lines[i].starts_with("agent_id\t"))
        .unwrap_or(lines.len());
    Ok((parse_table(&shown, lines[first..end].join("\n") + "\n", first)?, comments))
}

/// `text` (a header line and rows, the header at line `skipped + 1` of the file `shown`) typed
/// cell by cell.
fn parse_table(shown: &str, text: String, skipped: usize) -> Result<Table, String> {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .map_parse_options(|p| p.with_separator(b'\t').with_quote_char(None))
        .into_reader_with_file_handle(std::io::Cursor::new(text.as_bytes()))
        .finish();
    let df = match df {
        Ok(df) => df,
        Err(e) => {
            return Err(locate_ragged(shown, &text, skipped).unwrap_or_else(|| format!("{shown}: cannot read: {e}")))
        }
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
                            skipped + ri + 2,
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
fn locate_ragged(shown: &str, text: &str, skipped: usize) -> Option<String> {
    let mut lines = text.lines();
    let want = lines.next()?.split('\t').count();
    for (i, l) in lines.enumerate() {
        let got = l.split('\t').count();
        if got != want && !l.is_empty() {
            return Some(format!("{shown}: line {}: {got} fields, the header has {want}", skipped + i + 2));
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
/// down-sampling before anything is written). Returns the header, the rows and the first
/// problem, if any.
pub fn scan_perf(path: &Path) -> Result<(Vec<String>, usize, Option<String>), String> {
    let mut r = PerfReader::open(path)?;
    let mut n = 0;
    while let Some(row) = r.next_row() {
        match row {
            Ok(_) => n += 1,
            Err(e) => return Ok((r.header, n, Some(e))),
        }
    }
    Ok((r.header, n, None))
}

/// Everything `analyze` knows about one results folder.
#[derive(Debug, Default)]
pub struct Run {
    pub dir: PathBuf,
    pub name: String,
    /// Which tool wrote the folder: `sai3`, or `sai3-bench <version>` (the original).
    pub tool: String,
    pub started: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub config: String,
    /// `None` when no metadata.json says.
    pub agents: Option<usize>,
    pub workload_s: Option<f64>,
    /// The workload results and the name of the file they came from.
    pub results: Option<Table>,
    pub results_file: String,
    pub prepare: Option<Table>,
    pub ep_workload: Option<Table>,
    pub ep_prepare: Option<Table>,
    /// perf logs to include: (label, path, data rows); the first is the run's own.
    pub perfs: Vec<(String, PathBuf, usize)>,
    /// The stages metadata.json lists (sai3), or the numbered stage files (sai3-bench), in
    /// execution order.
    pub stages: Vec<StageRow>,
    /// The numbered stage files' results tables: (file name, table).
    pub stage_tables: Vec<(String, Table)>,
    /// The slowest operations of the folder's op-log, when it holds one.
    pub slowest: Option<Table>,
    /// What cannot be read or is missing: exit code 1.
    pub problems: Vec<String>,
    /// What differs from sai3's own files but was read (other columns, no totals rows, a file
    /// the original tool does not always write): shown on the Summary, not a problem.
    pub notes: Vec<String>,
}

/// One stage of a run, as metadata.json or a stage file records it.
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

/// What differs between a folder sai3 writes and one of the original sai3-bench
/// (russfellows/sai3-bench); everything else is read the same way.
struct Layout {
    tool: String,
    /// Names of the workload results file, the first that exists is read.
    results: &'static [&'static str],
    /// sai3 always writes metadata.json and perf_log.tsv; sai3-bench writes metadata.json only
    /// when the run ends, and perf_log.tsv only when the config asks.
    always_complete: bool,
    /// Read the numbered stage files as stages: sai3-bench's are the only record of its stages
    /// (sai3's metadata.json lists its own).
    stage_files: bool,
}

impl Layout {
    fn sai3() -> Layout {
        Layout { tool: "sai3".into(), results: &["results.tsv"], always_complete: true, stage_files: false }
    }
    fn sai3_bench(version: Option<&str>) -> Layout {
        Layout {
            tool: version.map(|v| format!("sai3-bench {v}")).unwrap_or_else(|| "sai3-bench".into()),
            results: &["workload_results.tsv", "results.tsv"],
            always_complete: false,
            stage_files: true,
        }
    }

    /// Which tool wrote `dir`: its metadata.json says (sai3's has `started_at`, sai3-bench's
    /// `version` with `test_name`/`start_time`); without one, a results.tsv with or without
    /// sai3's `errors` column, or sai3-bench's file names (`workload_results.tsv`,
    /// `console.log`, `STATUS.txt`, stage files) tell. `None`: not a results folder.
    fn of(dir: &Path, meta: Option<&serde_json::Value>, stage_files: bool) -> Option<Layout> {
        if let Some(m) = meta {
            if m.get("started_at").is_some() || m["tool"].as_str() == Some("sai3") {
                return Some(Layout::sai3());
            }
            if m.get("test_name").is_some() || m.get("start_time").is_some() {
                return Some(Layout::sai3_bench(m["version"].as_str()));
            }
        }
        let results_has_errors = std::fs::File::open(dir.join("results.tsv")).ok().map(|f| {
            let mut first = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut first);
            first.trim_end().split('\t').any(|c| c == "errors")
        });
        if results_has_errors == Some(true) {
            return Some(Layout::sai3());
        }
        if stage_files
            || results_has_errors == Some(false)
            || ["workload_results.tsv", "console.log", "STATUS.txt"].iter().any(|f| dir.join(f).exists())
        {
            return Some(Layout::sai3_bench(None));
        }
        dir.join("metadata.json").exists().then(Layout::sai3)
    }
}

/// The first of `keys` (JSON pointers) that `m` has.
fn field<'a>(m: &'a serde_json::Value, keys: &[&str]) -> Option<&'a serde_json::Value> {
    keys.iter().filter_map(|k| m.pointer(k)).find(|v| !v.is_null())
}

/// sai3-bench's numbered stage files (`^\d+_.+_results\.tsv$`) in `dir`, by number: (number,
/// stage name, file name).
fn stage_files(dir: &Path) -> Vec<(u64, String, String)> {
    let mut v: Vec<(u64, String, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let (num, rest) = file.split_once('_')?;
            let stage = rest.strip_suffix("_results.tsv").filter(|s| !s.is_empty())?;
            let n = num.parse().ok().filter(|_| num.bytes().all(|b| b.is_ascii_digit()))?;
            Some((n, stage.to_string(), file))
        })
        .collect();
    v.sort();
    v
}

/// A stage file's row on the Summary: type and wall time from its comments (`# Stage 3 Results:
/// execute (Workload)`, `# Duration: 10.02s`), ops from its totals.
fn stage_row(name: &str, comments: &[String], t: &Table) -> StageRow {
    let kind = comments
        .iter()
        .find(|c| c.starts_with("Stage ") && c.contains("Results:"))
        .and_then(|c| c.strip_suffix(')').and_then(|c| c.rsplit_once('(')).map(|(_, k)| k.to_string()))
        .unwrap_or_default();
    let wall_s = comments
        .iter()
        .find_map(|c| c.strip_prefix("Duration:"))
        .and_then(|d| d.trim().trim_end_matches('s').parse().ok());
    let counts: Vec<f64> = ["GET", "PUT", "META"].iter().filter_map(|c| t.class_total(c, "count")).collect();
    let ops = (!counts.is_empty()).then(|| counts.iter().sum());
    StageRow { name: name.to_string(), kind, wall_s, ops, ..Default::default() }
}

/// A note when a file's columns are not sai3's (`expected`): which it lacks and which it adds.
/// Columns sai3 appended later ([`crate::report::results_tsv::LATER_COLUMNS`]) may be missing
/// without a note: older sai3 files lack them, and the Summary reads none of them.
fn column_note(file: &Path, header: &[String], expected: &[&str]) -> Option<String> {
    use crate::report::results_tsv::LATER_COLUMNS;
    let missing: Vec<&str> =
        expected.iter().copied().filter(|c| !LATER_COLUMNS.contains(c) && !header.iter().any(|h| h == c)).collect();
    let extra: Vec<&str> = header.iter().map(String::as_str).filter(|h| !expected.contains(h)).collect();
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("lacks {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("has extra {}", extra.join(", ")));
    }
    Some(format!(
        "{}: columns differ from sai3's: {} (the sheet has the file's columns)",
        file.display(),
        parts.join("; ")
    ))
}

/// Load a results folder of sai3 or of the original sai3-bench; what is missing or broken is
/// recorded in `problems`, what merely differs from sai3's files in `notes`, never fatal.
/// `Err` when the folder is not a results folder at all.
pub fn load_run(dir: &Path) -> Result<Run, String> {
    use crate::report::{endpoint_stats, perf_log, results_tsv};
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(format!("{shown}: not a directory"));
    }
    let meta_path = dir.join("metadata.json");
    let meta = meta_path.exists().then(|| {
        let text = std::fs::read_to_string(&meta_path).map_err(|e| format!("{shown}/metadata.json: {e}"))?;
        serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| format!("{shown}/metadata.json: line {}: not valid JSON: {e}", e.line()))
    });
    let stages = stage_files(dir);
    let Some(layout) = Layout::of(dir, meta.as_ref().and_then(|m| m.as_ref().ok()), !stages.is_empty()) else {
        return Err(format!(
            "{shown}: not a sai3 results folder (no results.tsv, metadata.json, workload_results.tsv, console.log, STATUS.txt or NN_<stage>_results.tsv)"
        ));
    };
    // sai3-bench's metadata may name no agents; its distributed runs have agents/<id>/.
    let mut agent_ids: Vec<String> = std::fs::read_dir(dir.join("agents"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    agent_ids.sort();
    let mut run = Run {
        dir: dir.to_path_buf(),
        name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(shown.clone()),
        tool: layout.tool.clone(),
        ..Default::default()
    };
    match meta {
        Some(Ok(m)) => {
            run.started = field(&m, &["/started_at", "/start_time"])
                .and_then(|v| v.as_str())
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
            run.config = field(&m, &["/config", "/config_name", "/config_path", "/test_name"])
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            run.agents = Some(m["agents"].as_array().map_or(agent_ids.len(), |a| a.len()));
            run.workload_s = field(&m, &["/phases/workload_wall_s", "/duration_secs"]).and_then(|v| v.as_f64());
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
        Some(Err(e)) => run.problems.push(e),
        None if layout.always_complete => run.problems.push(format!("{shown}/metadata.json: missing")),
        None => run.notes.push(format!(
            "{shown}/metadata.json: missing (sai3-bench writes it when the run ends): start time, config, agents and workload seconds are empty"
        )),
    }
    if run.agents.is_none() && !agent_ids.is_empty() {
        run.agents = Some(agent_ids.len());
    }
    let (mut problems, mut notes) = (Vec::new(), Vec::new());
    // A table, or its problem; a note when its columns are not sai3's.
    let table = |file: &str, expected: &[&str], problems: &mut Vec<String>, notes: &mut Vec<String>| {
        let p = dir.join(file);
        match load_table(&p) {
            Ok(t) => {
                notes.extend(column_note(&p, &t.header, expected));
                Some(t)
            }
            Err(e) => {
                problems.push(e);
                None
            }
        }
    };
    match layout.results.iter().find(|f| dir.join(f).exists()) {
        Some(file) => {
            run.results_file = file.to_string();
            run.results = table(file, &results_tsv::COLUMNS, &mut problems, &mut notes);
            if run.results.as_ref().is_some_and(|t| !t.has_totals() && !t.rows.is_empty()) {
                notes.push(format!(
                    "{shown}/{file}: no ALL (total) rows: the Summary's ops/s, MiB/s and mean are summed from the size buckets, p50 and p99 are empty"
                ));
            }
        }
        None if layout.always_complete || stages.is_empty() => problems.push(match layout.results {
            [only] => format!("{shown}/{only}: missing"),
            names => format!("{shown}: no {} (the run did not finish?)", names.join(" or ")),
        }),
        None => notes.push(format!(
            "{shown}: no {}: the results are in the stage files; the Summary's GET/PUT/META columns are empty",
            layout.results.join(" or ")
        )),
    }
    for (file, slot) in [
        ("prepare_results.tsv", &mut run.prepare),
        ("workload_endpoint_stats.tsv", &mut run.ep_workload),
        ("prepare_endpoint_stats.tsv", &mut run.ep_prepare),
    ] {
        if dir.join(file).exists() {
            let expected: &[&str] =
                if file.ends_with("endpoint_stats.tsv") { &endpoint_stats::COLUMNS } else { &results_tsv::COLUMNS };
            *slot = table(file, expected, &mut problems, &mut notes);
        }
    }
    for (_, stage, file) in stages.iter().filter(|_| layout.stage_files) {
        let p = dir.join(file);
        match load_stage_table(&p) {
            Ok((t, comments)) => {
                notes.extend(column_note(&p, &t.header, &results_tsv::COLUMNS));
                run.stages.push(stage_row(stage, &comments, &t));
                run.stage_tables.push((file.clone(), t));
            }
            Err(e) => problems.push(e),
        }
    }
    let mut perfs = vec![("perf".to_string(), dir.join("perf_log.tsv"))];
    perfs.extend(agent_ids.iter().map(|id| (id.clone(), dir.join("agents").join(id).join("perf_log.tsv"))));
    for (label, p) in perfs {
        if !p.exists() {
            if label == "perf" && layout.always_complete {
                problems.push(format!("{}: missing", p.display()));
            }
            continue;
        }
        match scan_perf(&p) {
            Ok((header, n, None)) => {
                notes.extend(column_note(&p, &header, &perf_log::COLUMNS));
                run.perfs.push((label, p, n));
            }
            Ok((_, _, Some(e))) | Err(e) => problems.push(e),
        }
    }
    run.slowest = super::slowest::slowest_ops(dir, &agent_ids, &mut problems);
    run.problems.extend(problems);
    run.notes.extend(notes);
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

    /// A results.tsv of an older sai3 (without the ttfb columns) is sai3's own: no note; a file
    /// that lacks other columns is noted for those only.
    #[test]
    fn later_columns_may_be_missing_without_a_note() {
        use crate::report::results_tsv::{COLUMNS, LATER_COLUMNS};
        let p = Path::new("results.tsv");
        let all: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        assert_eq!(column_note(p, &all, &COLUMNS), None);
        let older: Vec<String> = all.iter().filter(|c| !LATER_COLUMNS.contains(&c.as_str())).cloned().collect();
        assert_eq!(older.len(), COLUMNS.len() - LATER_COLUMNS.len());
        assert_eq!(column_note(p, &older, &COLUMNS), None);
        let no_errors: Vec<String> = older.into_iter().filter(|c| c != "errors").collect();
        let note = column_note(p, &no_errors, &COLUMNS).expect("a note");
        assert!(note.contains("lacks errors (the sheet"), "{note}");
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

    const STAGE_FILE: &str = "# Stage 3 Results: execute (Workload)\n# Agents: 2\n# Duration: 10.50s\n\n\
operation\tsize_bucket\tbucket_idx\tmean_us\tcount\n\
GET\t1B-8KiB\t1\t80.5\t100\n\
PUT\t1B-8KiB\t1\t120\t40\n\
GET\tALL\t98\t80.5\t100\n\
PUT\tALL\t99\t120\t40\n\
\n\
# Per-Agent Details\n\
agent_id\tget_ops\tget_bytes\tput_ops\tput_bytes\tmeta_ops\tduration_s\terrors\n\
a1\t60\t600\t20\t200\t0\t10.50\t0\n\
a2\t40\t400\t20\t200\t0\t10.20\t1\n";

    #[test]
    fn stage_file_reader_skips_comments_and_reads_the_first_table_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("03_execute_results.tsv");
        std::fs::write(&p, STAGE_FILE).unwrap();
        let (t, comments) = load_stage_table(&p).unwrap();
        assert_eq!(t.header, ["operation", "size_bucket", "bucket_idx", "mean_us", "count"]);
        assert_eq!(t.rows.len(), 4, "the per-agent rows are not results rows: {:?}", t.rows);
        assert_eq!(
            t.rows[3],
            [Val::Text("PUT".into()), Val::Text("ALL".into()), Val::Num(99.0), Val::Num(120.0), Val::Num(40.0)]
        );
        assert_eq!(comments, ["Stage 3 Results: execute (Workload)", "Agents: 2", "Duration: 10.50s"]);
        let st = stage_row("execute", &comments, &t);
        assert_eq!((st.kind.as_str(), st.wall_s, st.ops), ("Workload", Some(10.5), Some(140.0)));
        // The first table also ends at the second header when the blank line is missing, and a bad
        // cell is named by its line in the file.
        std::fs::write(
            &p,
            STAGE_FILE.replace("\n\n# Per-Agent Details\n", "\n").replacen(
                "80.5\t100\nPUT",
                "80.5\t100\nPUT\t1B-8KiB\t1\tx\t1\nPUT",
                1,
            ),
        )
        .unwrap();
        let e = load_stage_table(&p).unwrap_err();
        assert!(e.contains("line 7") && e.contains("`x`"), "{e}");
        std::fs::write(&p, "# only a comment\n\n").unwrap();
        assert!(load_stage_table(&p).unwrap_err().contains("no table"));
        assert_eq!(
            stage_files(d.path()),
            [(3, "execute".to_string(), "03_execute_results.tsv".to_string())],
            "NN_<stage>_results.tsv"
        );
    }

    #[test]
    fn totals_are_rebuilt_from_buckets_only_where_exact() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("results.tsv");
        std::fs::write(
            &p,
            "operation\tsize_bucket\tbucket_idx\tmean_us\tp50_us\tops_per_sec\tcount\nGET\ta\t1\t10\t9\t30\t300\nGET\tb\t2\t20\t19\t10\t100\n",
        )
        .unwrap();
        let t = load_table(&p).unwrap();
        assert!(!t.has_totals());
        assert_eq!(t.class_total("GET", "count"), Some(400.0));
        assert_eq!(t.class_total("GET", "ops_per_sec"), Some(40.0));
        assert_eq!(t.class_total("GET", "mean_us"), Some(12.5));
        assert_eq!(t.class_total("GET", "p50_us"), None, "percentiles cannot be rebuilt");
        assert_eq!(t.class_total("GET", "errors"), None, "no such column: empty, not 0");
        assert_eq!(t.class_total("PUT", "count"), None);
    }

    #[test]
    fn the_writer_is_told_by_metadata_or_file_names() {
        let d = tempfile::tempdir().unwrap();
        let sai3 = serde_json::json!({"started_at": "2026-01-01T00:00:00Z", "tool": "sai3"});
        let orig =
            serde_json::json!({"version": "0.8.50", "test_name": "t", "start_time": "2026-01-01T00:00:00-06:00"});
        assert_eq!(Layout::of(d.path(), Some(&sai3), false).unwrap().tool, "sai3");
        assert_eq!(Layout::of(d.path(), Some(&orig), false).unwrap().tool, "sai3-bench 0.8.50");
        assert!(Layout::of(d.path(), None, false).is_none());
        assert_eq!(Layout::of(d.path(), None, true).unwrap().tool, "sai3-bench");
        std::fs::write(d.path().join("results.tsv"), "operation\tcount\terrors\n").unwrap();
        assert_eq!(Layout::of(d.path(), None, false).unwrap().tool, "sai3", "sai3's results.tsv has errors");
        std::fs::write(d.path().join("results.tsv"), "operation\tcount\n").unwrap();
        assert_eq!(Layout::of(d.path(), None, false).unwrap().tool, "sai3-bench", "the original's has not");
        std::fs::remove_file(d.path().join("results.tsv")).unwrap();
        std::fs::write(d.path().join("console.log"), "").unwrap();
        assert_eq!(Layout::of(d.path(), None, false).unwrap().tool, "sai3-bench");
        let note = column_note(
            Path::new("perf_log.tsv"),
            &["agent_id".into(), "elapsed_s".into(), "is_warmup".into()],
            &["agent_id", "elapsed_s", "get_mean_us"],
        )
        .unwrap();
        assert!(note.contains("lacks get_mean_us") && note.contains("extra is_warmup"), "{note}");
        assert_eq!(column_note(Path::new("x"), &["a".into()], &["a"]), None);
    }
}
