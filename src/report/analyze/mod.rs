//! `sai3 analyze`: results folders (of sai3, or of the original sai3-bench) into one Excel
//! workbook — a Summary sheet comparing the runs (with % differences against the first, the
//! problems and notes found, a chart), then per run its results, prepare results, perf log (real
//! Excel date-times), charts over time, endpoint statistics, stage files and per-agent perf
//! logs. Perf logs are streamed into constant-memory sheets.

mod load;
mod slowest;
mod summary;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Chart, ChartType, Format, Workbook, Worksheet, XlsxError};

use load::PerfReader;
pub use load::{find_dirs, load_run, load_stage_table, load_table, Run, StageRow, Table, Val};
pub use summary::{summary_rows, STAGE_COLUMNS};

/// Excel's last row is 1,048,576: one header row and this many data rows.
pub const EXCEL_DATA_ROWS: usize = 1_048_575;

/// Knobs (tests lower them to exercise folding without a million rows).
#[derive(Debug, Clone)]
pub struct Options {
    /// Data rows per sheet at most; longer perf logs are folded k:1.
    pub max_sheet_rows: usize,
    /// Points per chart series at most (perf logs are down-sampled for the charts).
    pub chart_points: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_sheet_rows: EXCEL_DATA_ROWS, chart_points: 1000 }
    }
}

/// What was written.
#[derive(Debug, Default)]
pub struct Outcome {
    pub runs: usize,
    pub sheets: Vec<String>,
    /// Real problems (unreadable or missing files): exit code 1.
    pub problems: Vec<String>,
    /// What was read but differs from sai3's own files (e.g. a sai3-bench file's columns).
    pub notes: Vec<String>,
}

const CLASSES: [(&str, &str); 3] = [("GET", "get"), ("PUT", "put"), ("META", "meta")];
const SUMMARY_METRICS: [(&str, &str); 6] = [
    ("ops/s", "ops_per_sec"),
    ("MiB/s", "throughput_mibps"),
    ("mean µs", "mean_us"),
    ("p50 µs", "p50_us"),
    ("p99 µs", "p99_us"),
    ("errors", "errors"),
];

struct Formats {
    header: Format,
    int: Format,
    dec2: Format,
    dec3: Format,
    pct: Format,
    datetime: Format,
    wrap: Format,
}

impl Formats {
    fn new() -> Self {
        Formats {
            header: Format::new()
                .set_bold()
                .set_background_color("#DDEBF7")
                .set_border_bottom(rust_xlsxwriter::FormatBorder::Thin),
            int: Format::new().set_num_format("#,##0"),
            dec2: Format::new().set_num_format("#,##0.00"),
            dec3: Format::new().set_num_format("#,##0.000"),
            pct: Format::new().set_num_format("+0.00;-0.00;0.00"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss.000"),
            wrap: Format::new().set_text_wrap(),
        }
    }

    /// The number format of a TSV column, by name.
    fn for_column(&self, name: &str) -> &Format {
        if name == "timestamp_epoch_ms" {
            &self.datetime
        } else if name == "elapsed_s" {
            &self.dec3
        } else if name.contains("mean")
            || name.ends_with("_pct")
            || name.ends_with("_iops")
            || name.ends_with("_mbps")
            || name == "ops_per_sec"
            || name == "throughput_mibps"
        {
            &self.dec2
        } else {
            &self.int
        }
    }
}

/// Header text: the TSV name with its unit made visible (`p50_us` → `p50_us (µs)`).
pub fn header_text(name: &str) -> String {
    if name == "timestamp_epoch_ms" {
        "timestamp".to_string()
    } else if name.ends_with("_us") {
        format!("{name} (µs)")
    } else if name.ends_with("_mibps") || name.ends_with("_mbps") {
        format!("{name} (MiB/s)")
    } else {
        name.to_string()
    }
}

/// Epoch milliseconds as an Excel serial date-time (days since 1899-12-30, UTC).
pub fn excel_datetime(epoch_ms: f64) -> f64 {
    epoch_ms / 86_400_000.0 + 25_569.0
}

fn xerr(e: XlsxError) -> String {
    e.to_string()
}

/// A sheet name unique in the workbook, at most 31 characters, without `[]:*?/\`.
fn sheet_name(used: &mut HashSet<String>, base: &str) -> String {
    let clean: String = base.chars().map(|c| if "[]:*?/\\".contains(c) { '_' } else { c }).collect();
    let mut name: String = clean.chars().take(31).collect();
    let mut n = 2;
    while used.contains(&name.to_lowercase()) {
        let suffix = format!("~{n}");
        name = clean.chars().take(31 - suffix.len()).collect::<String>() + &suffix;
        n += 1;
    }
    used.insert(name.to_lowercase());
    name
}

fn header_row(ws: &mut Worksheet, f: &Formats, header: &[String]) -> Result<(), XlsxError> {
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, header_text(h), &f.header)?;
        ws.set_column_width(c as u16, (header_text(h).chars().count() as f64 + 3.0).clamp(9.0, 60.0))?;
    }
    ws.set_freeze_panes(1, 0)?;
    print_setup(ws);
    Ok(())
}

/// Landscape with the header row repeated on every printed page. Sheets with charts are also
/// scaled to one page wide (`set_print_fit_to_pages(1, 0)`) so a printed or PDF-rendered chart
/// is whole; wide data sheets keep their natural size, shrunk they would be unreadable.
fn print_setup(ws: &mut Worksheet) {
    ws.set_landscape();
    let _ = ws.set_repeat_rows(0, 0);
}

fn write_val(ws: &mut Worksheet, f: &Formats, row: u32, col: u16, name: &str, v: &Val) -> Result<(), XlsxError> {
    match v {
        Val::Num(x) if name == "timestamp_epoch_ms" => {
            ws.write_number_with_format(row, col, excel_datetime(*x), &f.datetime)?;
        }
        Val::Num(x) => {
            ws.write_number_with_format(row, col, *x, f.for_column(name))?;
        }
        Val::Text(s) => {
            ws.write_string(row, col, s)?;
        }
        Val::Empty => {}
    }
    Ok(())
}

/// A small table as a sheet: bold frozen header, autofilter, widths, number formats.
fn table_sheet(wb: &mut Workbook, f: &Formats, name: &str, t: &Table) -> Result<(), XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name(name)?;
    header_row(ws, f, &t.header)?;
    for (r, row) in t.rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            write_val(ws, f, r as u32 + 1, c as u16, &t.header[c], v)?;
        }
    }
    for (c, h) in t.header.iter().enumerate() {
        let longest = t.rows.iter().map(|r| r.get(c).map(|v| v.text().chars().count()).unwrap_or(0)).max().unwrap_or(0);
        let w = (header_text(h).chars().count().max(longest) as f64 + 3.0).clamp(9.0, 70.0);
        ws.set_column_width(c as u16, w)?;
    }
    if !t.header.is_empty() {
        ws.autofilter(0, 0, t.rows.len() as u32, t.header.len() as u16 - 1)?;
    }
    Ok(())
}

/// How k consecutive perf rows fold into one (same stage and agent only).
#[derive(Clone, Copy, PartialEq)]
enum FoldRule {
    First,
    Last,
    Sum,
    Mean,
    Max,
    /// Mean weighted by the class's op count in column `usize`.
    Weighted(usize),
}

fn fold_rules(header: &[String]) -> Vec<FoldRule> {
    header
        .iter()
        .map(|h| {
            let h = h.as_str();
            if h == "agent_id" || h == "stage" {
                FoldRule::First
            } else if h == "timestamp_epoch_ms" || h == "elapsed_s" {
                FoldRule::Last
            } else if h.ends_with("_ops") || h.ends_with("_bytes") || h == "errors" {
                FoldRule::Sum
            } else if h.ends_with("_mean_us") {
                let class = h.trim_end_matches("_mean_us");
                header
                    .iter()
                    .position(|x| x == &format!("{class}_ops"))
                    .map(FoldRule::Weighted)
                    .unwrap_or(FoldRule::Mean)
            } else if h.ends_with("_us") {
                FoldRule::Max
            } else {
                FoldRule::Mean
            }
        })
        .collect()
}

struct RowFolder {
    rules: Vec<FoldRule>,
    k: usize,
    acc: Vec<Vec<Val>>,
}

impl RowFolder {
    fn new(header: &[String], k: usize) -> Self {
        RowFolder { rules: fold_rules(header), k: k.max(1), acc: Vec::new() }
    }

    fn key(&self, row: &[Val]) -> String {
        self.rules
            .iter()
            .zip(row)
            .filter(|(r, _)| **r == FoldRule::First)
            .map(|(_, v)| v.text())
            .collect::<Vec<_>>()
            .join("\t")
    }

    /// Add a row; returns a folded row when a group is complete.
    fn push(&mut self, row: Vec<Val>) -> Vec<Vec<Val>> {
        let mut out = Vec::new();
        if let Some(first) = self.acc.first() {
            if self.key(first) != self.key(&row) {
                out.extend(self.flush());
            }
        }
        self.acc.push(row);
        if self.acc.len() >= self.k {
            out.extend(self.flush());
        }
        out
    }

    fn flush(&mut self) -> Option<Vec<Val>> {
        if self.acc.is_empty() {
            return None;
        }
        let rows = std::mem::take(&mut self.acc);
        if rows.len() == 1 {
            return rows.into_iter().next();
        }
        let n = rows.len() as f64;
        let nums = |c: usize| rows.iter().filter_map(move |r| r[c].num());
        Some(
            self.rules
                .iter()
                .enumerate()
                .map(|(c, rule)| match rule {
                    FoldRule::First => rows[0][c].clone(),
                    FoldRule::Last => rows[rows.len() - 1][c].clone(),
                    FoldRule::Sum => Val::Num(nums(c).sum()),
                    FoldRule::Mean => Val::Num(nums(c).sum::<f64>() / n),
                    FoldRule::Max => Val::Num(nums(c).fold(0.0, f64::max)),
                    FoldRule::Weighted(w) => {
                        let (s, wsum) = rows.iter().fold((0.0, 0.0), |(s, ws), r| {
                            let weight = r[*w].num().unwrap_or(0.0);
                            (s + r[c].num().unwrap_or(0.0) * weight, ws + weight)
                        });
                        Val::Num(if wsum > 0.0 { s / wsum } else { 0.0 })
                    }
                })
                .collect(),
        )
    }
}

/// Stream a perf log into a constant-memory sheet, folding k:1 when it has more rows than a
/// sheet may hold (and saying so in the header row).
fn perf_sheet(
    wb: &mut Workbook,
    f: &Formats,
    name: &str,
    path: &Path,
    rows: usize,
    opts: &Options,
) -> Result<(), String> {
    let mut rd = PerfReader::open(path)?;
    let header = rd.header.clone();
    let k = rows.div_ceil(opts.max_sheet_rows.max(1)).max(1);
    let ws = wb.add_worksheet_with_constant_memory().map_err(xerr)?;
    ws.set_name(name).map_err(xerr)?;
    header_row(ws, f, &header).map_err(xerr)?;
    if k > 1 {
        let note = format!(
            "{rows} rows folded {k}:1 to fit Excel's {} rows: ops, bytes and errors summed, rates and CPU averaged, mean latency weighted by ops, percentile columns are the maximum of the folded rows; perf_log.tsv has every row",
            EXCEL_DATA_ROWS + 1
        );
        ws.set_column_width(header.len() as u16, 80).map_err(xerr)?;
        ws.write_string_with_format(0, header.len() as u16, note, &f.wrap).map_err(xerr)?;
    }
    let mut folder = RowFolder::new(&header, k);
    let mut r = 1u32;
    let write = |ws: &mut Worksheet, row: &[Val], r: &mut u32| -> Result<(), String> {
        for (c, v) in row.iter().enumerate() {
            write_val(ws, f, *r, c as u16, &header[c], v).map_err(xerr)?;
        }
        *r += 1;
        Ok(())
    };
    while let Some(row) = rd.next_row() {
        let row = row?;
        for out in folder.push(row) {
            write(ws, &out, &mut r)?;
        }
    }
    if let Some(out) = folder.flush() {
        write(ws, &out, &mut r)?;
    }
    ws.autofilter(0, 0, r.saturating_sub(1).max(1), header.len() as u16 - 1).map_err(xerr)?;
    Ok(())
}

/// The workload rows of a perf log, down-sampled to at most `points` (rates averaged, p99 the
/// maximum), as a data sheet with line charts of ops/s, MiB/s and p99 over time per op class.
fn chart_sheet(
    wb: &mut Workbook,
    f: &Formats,
    name: &str,
    path: &Path,
    run_label: &str,
    opts: &Options,
) -> Result<(), String> {
    let cols = [
        "elapsed_s",
        "get_iops",
        "put_iops",
        "meta_iops",
        "get_mbps",
        "put_mbps",
        "get_p99_us",
        "put_p99_us",
        "meta_p99_us",
    ];
    let mut rd = PerfReader::open(path)?;
    let idx: Vec<Option<usize>> = cols.iter().map(|c| rd.header.iter().position(|h| h == c)).collect();
    let stage = rd.header.iter().position(|h| h == "stage");
    let mut n = 0usize;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    // First pass: count workload rows (the file was checked already).
    {
        let mut r2 = PerfReader::open(path)?;
        while let Some(Ok(row)) = r2.next_row() {
            if stage.is_none_or(|s| row[s].text().eq_ignore_ascii_case("workload")) {
                n += 1;
            }
        }
    }
    let g = n.div_ceil(opts.chart_points.max(1)).max(1);
    let mut acc: Vec<Vec<f64>> = Vec::new();
    let fold = |acc: &mut Vec<Vec<f64>>, rows: &mut Vec<Vec<f64>>| {
        if acc.is_empty() {
            return;
        }
        let m = acc.len() as f64;
        let mut out = vec![0.0; cols.len()];
        out[0] = acc[acc.len() - 1][0];
        for c in 1..cols.len() {
            out[c] = if cols[c].ends_with("_us") {
                acc.iter().map(|r| r[c]).fold(0.0, f64::max)
            } else {
                acc.iter().map(|r| r[c]).sum::<f64>() / m
            };
        }
        rows.push(out);
        acc.clear();
    };
    while let Some(row) = rd.next_row() {
        let row = row?;
        if stage.is_some_and(|s| !row[s].text().eq_ignore_ascii_case("workload")) {
            continue;
        }
        acc.push(idx.iter().map(|i| i.and_then(|i| row[i].num()).unwrap_or(0.0)).collect());
        if acc.len() >= g {
            fold(&mut acc, &mut rows);
        }
    }
    fold(&mut acc, &mut rows);

    let ws = wb.add_worksheet();
    ws.set_name(name).map_err(xerr)?;
    let header: Vec<String> = cols.iter().map(|s| s.to_string()).collect();
    header_row(ws, f, &header).map_err(xerr)?;
    ws.set_print_fit_to_pages(1, 0);
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_number_with_format(r as u32 + 1, c as u16, *v, f.for_column(cols[c])).map_err(xerr)?;
        }
    }
    if g > 1 {
        ws.write_string(0, cols.len() as u16 + 1, format!("down-sampled {g}:1 from {n} workload rows for the charts"))
            .map_err(xerr)?;
    }
    if rows.is_empty() {
        ws.write_string(1, 0, "no workload rows in the perf log").map_err(xerr)?;
        return Ok(());
    }
    let last = rows.len() as u32;
    let charts: [(&str, &str, &[usize]); 3] = [
        ("Throughput (ops/s)", "ops/s", &[1, 2, 3]),
        ("Throughput (MiB/s)", "MiB/s", &[4, 5]),
        ("p99 latency (µs)", "µs", &[6, 7, 8]),
    ];
    for (i, (title, unit, series)) in charts.iter().enumerate() {
        let mut chart = Chart::new(ChartType::ScatterStraight);
        chart.title().set_name(&format!("{run_label}: {title}"));
        chart.x_axis().set_name("elapsed (s)");
        chart.y_axis().set_name(*unit);
        // Rates and latencies start at zero, so a small wobble does not look like a collapse.
        chart.y_axis().set_min(0);
        for &c in series.iter() {
            let label = ["", "GET", "PUT", "META", "GET", "PUT", "GET", "PUT", "META"][c];
            chart
                .add_series()
                .set_name(label)
                .set_categories((name, 1, 0, last, 0))
                .set_values((name, 1, c as u16, last, c as u16));
        }
        chart.set_width(720).set_height(300);
        ws.insert_chart(1 + (i as u32) * 16, cols.len() as u16 + 1, &chart).map_err(xerr)?;
    }
    Ok(())
}

/// Requests per endpoint as a bar chart beside the endpoint table.
fn endpoint_chart(wb: &mut Workbook, name: &str, t: &Table, title: &str) -> Result<(), String> {
    let (Some(u), Some(n)) = (t.col("endpoint_uri"), t.col("total_requests")) else { return Ok(()) };
    if t.rows.is_empty() {
        return Ok(());
    }
    let ws = wb.worksheet_from_name(name).map_err(xerr)?;
    let mut chart = Chart::new(ChartType::Bar);
    chart.title().set_name(title);
    chart
        .add_series()
        .set_name("requests")
        .set_categories((name, 1, u as u16, t.rows.len() as u32, u as u16))
        .set_values((name, 1, n as u16, t.rows.len() as u32, n as u16));
    // Bar charts swap the axes: the x axis holds the values. Start it at zero so that an even
    // split (1,270 vs 1,269) looks even, and give every endpoint room for its label.
    chart.x_axis().set_min(0);
    chart.legend().set_hidden();
    ws.set_print_fit_to_pages(1, 0);
    chart.set_width(640).set_height((120 + 36 * t.rows.len() as u32).min(1200));
    ws.insert_chart(t.rows.len() as u32 + 3, 0, &chart).map_err(xerr)?;
    Ok(())
}

/// Write the workbook for `dirs` to `output`. Runs that cannot be read are listed as problems and
/// left out; the others are written. `Err` only when no workbook could be written.
pub fn analyze(dirs: &[PathBuf], output: &Path, opts: &Options) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let mut runs = Vec::new();
    for d in dirs {
        match load_run(d) {
            Ok(run) => {
                out.problems.extend(run.problems.iter().cloned());
                out.notes.extend(run.notes.iter().cloned());
                runs.push(run);
            }
            Err(e) => out.problems.push(e),
        }
    }
    let f = Formats::new();
    let mut wb = Workbook::new();
    let mut used: HashSet<String> = HashSet::new();
    used.insert("summary".into());
    // Names first, so the Summary (written first) can list them.
    let mut plan: Vec<Vec<(String, String)>> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let p = format!("R{} ", i + 1);
        let mut names = Vec::new();
        let mut add = |what: &str, base: String| names.push((sheet_name(&mut used, &base), what.to_string()));
        if run.results.is_some() {
            add("results", format!("{p}results"));
        }
        if run.prepare.is_some() {
            add("prepare", format!("{p}prepare"));
        }
        for (label, _, _) in &run.perfs {
            if label == "perf" {
                add("perf", format!("{p}perf"));
                add("charts", format!("{p}charts"));
            }
        }
        if run.ep_workload.is_some() {
            add("ep_workload", format!("{p}endpoints workload"));
        }
        if run.ep_prepare.is_some() {
            add("ep_prepare", format!("{p}endpoints prepare"));
        }
        for (k, (file, _)) in run.stage_tables.iter().enumerate() {
            add(&format!("stage:{k}"), format!("{p}{}", file.trim_end_matches("_results.tsv")));
        }
        for (label, _, _) in &run.perfs {
            if label != "perf" {
                add(&format!("agent:{label}"), format!("{p}{label}"));
            }
        }
        if run.slowest.is_some() {
            add("slowest", format!("{p}slowest ops"));
        }
        plan.push(names);
    }
    summary::write_summary(&mut wb, &f, &runs, &out.problems, &out.notes, &plan).map_err(xerr)?;
    out.sheets.push("Summary".into());
    for (i, run) in runs.iter().enumerate() {
        let label = format!("R{} {}", i + 1, run.name);
        for (name, what) in &plan[i] {
            let r = match what.as_str() {
                "results" => table_sheet(&mut wb, &f, name, run.results.as_ref().expect("planned")).map_err(xerr),
                "prepare" => table_sheet(&mut wb, &f, name, run.prepare.as_ref().expect("planned")).map_err(xerr),
                "ep_workload" => table_sheet(&mut wb, &f, name, run.ep_workload.as_ref().expect("planned"))
                    .map_err(xerr)
                    .and_then(|_| {
                        endpoint_chart(
                            &mut wb,
                            name,
                            run.ep_workload.as_ref().expect("planned"),
                            &format!("{label}: workload requests per endpoint"),
                        )
                    }),
                "ep_prepare" => table_sheet(&mut wb, &f, name, run.ep_prepare.as_ref().expect("planned"))
                    .map_err(xerr)
                    .and_then(|_| {
                        endpoint_chart(
                            &mut wb,
                            name,
                            run.ep_prepare.as_ref().expect("planned"),
                            &format!("{label}: prepare requests per endpoint"),
                        )
                    }),
                "perf" => {
                    let (_, p, n) = &run.perfs[0];
                    perf_sheet(&mut wb, &f, name, p, *n, opts)
                }
                "charts" => chart_sheet(&mut wb, &f, name, &run.perfs[0].1, &label, opts),
                "slowest" => table_sheet(&mut wb, &f, name, run.slowest.as_ref().expect("planned")).map_err(xerr),
                w if w.starts_with("stage:") => {
                    let k: usize = w["stage:".len()..].parse().expect("planned");
                    table_sheet(&mut wb, &f, name, &run.stage_tables[k].1).map_err(xerr)
                }
                w => {
                    let id = w.trim_start_matches("agent:");
                    match run.perfs.iter().find(|(l, _, _)| l == id) {
                        Some((_, p, n)) => perf_sheet(&mut wb, &f, name, p, *n, opts),
                        None => Ok(()),
                    }
                }
            };
            match r {
                Ok(()) => out.sheets.push(name.clone()),
                Err(e) => out.problems.push(format!("{}: sheet {name}: {e}", run.dir.display())),
            }
        }
    }
    out.runs = runs.len();
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(format!("--output {}: the folder {} does not exist", output.display(), parent.display()));
        }
    }
    wb.save(output).map_err(|e| format!("writing {}: {e}", output.display()))?;
    Ok(out)
}
