//! The Summary sheet: one row per run (which tool wrote it, when, the GET/PUT/META totals and
//! their % difference against the first run), then the sheets of each run, the problems, the
//! notes, the stages and a chart.

use rust_xlsxwriter::{Chart, ChartLegendPosition, ChartType, Workbook, Worksheet, XlsxError};

use super::{excel_datetime, header_text, print_setup, Formats, Run, CLASSES, SUMMARY_METRICS};

/// Columns before the GET/PUT/META metrics.
const RUN_COLUMNS: [&str; 6] = ["run", "tool", "started", "config", "agents", "workload_s"];

/// A run's total for one class and metric; empty (`None`) when its results lack it.
fn summary_value(run: &Run, class: &str, col: &str) -> Option<f64> {
    run.results.as_ref()?.class_total(class, col)
}

/// The Summary sheet's table as text rows (header first): what the golden file pins. `started`
/// is in UTC, like the sheet's date-times.
pub fn summary_rows(runs: &[Run]) -> Vec<Vec<String>> {
    let mut header: Vec<String> = RUN_COLUMNS.iter().map(|s| s.to_string()).collect();
    for (c, _) in CLASSES {
        for (m, _) in SUMMARY_METRICS {
            header.push(format!("{c} {m}"));
        }
    }
    for (c, _) in CLASSES {
        for (m, _) in &SUMMARY_METRICS[..5] {
            header.push(format!("Δ% {c} {m}"));
        }
    }
    let mut out = vec![header];
    for run in runs {
        let mut row = vec![
            run.name.clone(),
            run.tool.clone(),
            run.started.map(|d| d.to_utc().format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
            run.config.clone(),
            run.agents.map(|a| a.to_string()).unwrap_or_default(),
            run.workload_s.map(|s| format!("{s:.3}")).unwrap_or_default(),
        ];
        for (c, _) in CLASSES {
            for (_, col) in SUMMARY_METRICS {
                row.push(summary_value(run, c, col).map(|v| format!("{v:.2}")).unwrap_or_default());
            }
        }
        for (c, _) in CLASSES {
            for (_, col) in &SUMMARY_METRICS[..5] {
                row.push(delta(runs, run, c, col).map(|d| format!("{d:.2}")).unwrap_or_default());
            }
        }
        out.push(row);
    }
    out
}

/// % difference of `run` against the first run, for one metric.
fn delta(runs: &[Run], run: &Run, class: &str, col: &str) -> Option<f64> {
    let base = summary_value(runs.first()?, class, col)?;
    let v = summary_value(run, class, col)?;
    (base != 0.0).then(|| (v - base) / base * 100.0)
}

/// What a planned sheet shows, for the Summary's list of sheets.
fn sheet_label(run: &Run, what: &str) -> String {
    match what {
        "results" => run.results_file.clone(),
        "prepare" => "prepare_results.tsv".to_string(),
        "perf" => "perf_log.tsv".to_string(),
        "charts" => "charts over time".to_string(),
        "ep_workload" => "workload_endpoint_stats.tsv".to_string(),
        "ep_prepare" => "prepare_endpoint_stats.tsv".to_string(),
        w => match w.strip_prefix("stage:").and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => run.stage_tables[i].0.clone(),
            None => format!("perf log of agent {}", w.trim_start_matches("agent:")),
        },
    }
}

/// A titled list of lines from row `r` ("none" when empty); returns the next free row.
fn list(ws: &mut Worksheet, f: &Formats, mut r: u32, title: &str, lines: &[String]) -> Result<u32, XlsxError> {
    ws.write_string_with_format(r, 0, title, &f.header)?;
    r += 1;
    if lines.is_empty() {
        ws.write_string(r, 0, "none")?;
        r += 1;
    }
    for l in lines {
        ws.write_string(r, 0, l)?;
        r += 1;
    }
    Ok(r)
}

pub(super) fn write_summary(
    wb: &mut Workbook,
    f: &Formats,
    runs: &[Run],
    problems: &[String],
    notes: &[String],
    sheet_names: &[Vec<(String, String)>],
) -> Result<(), XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name("Summary")?;
    let rows = summary_rows(runs);
    let header = &rows[0];
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &f.header)?;
        ws.set_column_width(c as u16, (h.chars().count() as f64 + 3.0).clamp(10.0, 40.0))?;
    }
    ws.set_column_width(0, runs.iter().map(|r| r.name.len()).max().unwrap_or(10).clamp(12, 60) as f64 + 2.0)?;
    ws.set_column_width(1, runs.iter().map(|r| r.tool.len()).max().unwrap_or(6).clamp(8, 30) as f64 + 2.0)?;
    ws.set_column_width(2, 20)?;
    ws.set_freeze_panes(1, 1)?;
    print_setup(ws);
    let first_metric = RUN_COLUMNS.len() as u16;
    for (i, run) in runs.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &run.name)?;
        ws.write_string(r, 1, &run.tool)?;
        if let Some(d) = run.started {
            ws.write_number_with_format(r, 2, excel_datetime(d.timestamp_millis() as f64), &f.datetime)?;
        }
        ws.write_string(r, 3, &run.config)?;
        if let Some(a) = run.agents {
            ws.write_number_with_format(r, 4, a as f64, &f.int)?;
        }
        if let Some(s) = run.workload_s {
            ws.write_number_with_format(r, 5, s, &f.dec2)?;
        }
        let mut c = first_metric;
        for (class, _) in CLASSES {
            for (_, col) in SUMMARY_METRICS {
                if let Some(v) = summary_value(run, class, col) {
                    let fmt = if col == "errors" || col.starts_with('p') { &f.int } else { &f.dec2 };
                    ws.write_number_with_format(r, c, v, fmt)?;
                }
                c += 1;
            }
        }
        for (class, _) in CLASSES {
            for (_, col) in &SUMMARY_METRICS[..5] {
                if let Some(d) = delta(runs, run, class, col) {
                    ws.write_number_with_format(r, c, d, &f.pct)?;
                }
                c += 1;
            }
        }
    }
    let last = runs.len() as u32;
    ws.autofilter(0, 0, last.max(1), header.len() as u16 - 1)?;
    // Sheets of each run, then the problems and the notes.
    let mut r = last + 2;
    ws.write_string_with_format(r, 0, "Sheets", &f.header)?;
    r += 1;
    for (run, names) in runs.iter().zip(sheet_names) {
        let list: Vec<String> = names.iter().map(|(n, what)| format!("{n}: {}", sheet_label(run, what))).collect();
        ws.write_string(r, 0, &run.name)?;
        ws.write_string(r, 1, list.join("; "))?;
        r += 1;
    }
    r = list(ws, f, r + 1, "Problems", problems)?;
    r = list(ws, f, r + 1, "Notes (read, but not as sai3 writes it)", notes)?;
    r = stage_table(ws, f, runs, r + 1)?;
    if !runs.is_empty() {
        let mut chart = Chart::new(ChartType::Column);
        chart.title().set_name("Throughput by run (ops/s)");
        chart.y_axis().set_name("ops/s");
        chart.y_axis().set_min(0);
        for (k, (class, _)) in CLASSES.iter().enumerate() {
            let col = first_metric + (k * SUMMARY_METRICS.len()) as u16;
            chart
                .add_series()
                .set_name(*class)
                .set_categories(("Summary", 1, 0, last, 0))
                .set_values(("Summary", 1, col, last, col));
        }
        chart.legend().set_position(ChartLegendPosition::Bottom);
        // Narrow enough to sit on the first landscape page with the run table.
        chart.set_width(640).set_height(340);
        ws.insert_chart(r + 1, 0, &chart)?;
    }
    Ok(())
}

/// Columns of the Summary sheet's stage table.
pub const STAGE_COLUMNS: [&str; 10] =
    ["run", "#", "stage", "type", "outcome", "wall_s", "ops", "ops_per_sec", "errors", "warmup_ops"];

/// The per-stage table on the Summary sheet from row `r`: one row per stage of every run that
/// lists its stages. Returns the next free row.
fn stage_table(ws: &mut Worksheet, f: &Formats, runs: &[Run], mut r: u32) -> Result<u32, XlsxError> {
    if runs.iter().all(|run| run.stages.is_empty()) {
        return Ok(r);
    }
    ws.write_string_with_format(r, 0, "Stages", &f.header)?;
    r += 1;
    for (c, h) in STAGE_COLUMNS.iter().enumerate() {
        ws.write_string_with_format(r, c as u16, header_text(h), &f.header)?;
    }
    r += 1;
    for run in runs {
        for (i, st) in run.stages.iter().enumerate() {
            ws.write_string(r, 0, &run.name)?;
            ws.write_number_with_format(r, 1, (i + 1) as f64, &f.int)?;
            ws.write_string(r, 2, &st.name)?;
            ws.write_string(r, 3, &st.kind)?;
            ws.write_string(r, 4, &st.outcome)?;
            if let Some(w) = st.wall_s {
                ws.write_number_with_format(r, 5, w, &f.dec2)?;
            }
            if let Some(n) = st.ops {
                ws.write_number_with_format(r, 6, n, &f.int)?;
                if let Some(w) = st.wall_s.filter(|w| *w > 0.0) {
                    ws.write_number_with_format(r, 7, n / w, &f.dec2)?;
                }
            }
            if let Some(e) = st.errors {
                ws.write_number_with_format(r, 8, e, &f.int)?;
            }
            if let Some(w) = st.warmup_ops {
                ws.write_number_with_format(r, 9, w, &f.int)?;
            }
            r += 1;
        }
    }
    Ok(r + 1)
}
