//! `sai3 analyze`: the workbook read back with an independent reader (calamine) and checked cell
//! by cell against the TSVs; charts present in the xlsx package; summary values pinned by a
//! golden file; bad input; folding of long perf logs.

use std::io::Read;
use std::path::{Path, PathBuf};

use calamine::{open_workbook, Data, Reader, Xlsx};
use sai3::report::analyze;

mod common;

use common::{sai3, text, tsv};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results")
}

fn num(d: &Data) -> Option<f64> {
    match d {
        Data::Float(f) => Some(*f),
        Data::Int(i) => Some(*i as f64),
        Data::DateTime(t) => Some(t.as_f64()),
        _ => None,
    }
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => format!("{other}"),
    }
}

/// Every data cell of `sheet` equals the TSV's (numbers exactly; timestamps as Excel date-times).
fn check_sheet_against_tsv(wb: &mut Xlsx<std::io::BufReader<std::fs::File>>, sheet: &str, file: &Path) {
    check_sheet(wb, sheet, &tsv(file), &file.display().to_string());
}

/// Every data cell of `sheet` equals `t` (rows of TSV cells, the header first).
fn check_sheet(wb: &mut Xlsx<std::io::BufReader<std::fs::File>>, sheet: &str, t: &[Vec<String>], what: &str) {
    let range = wb.worksheet_range(sheet).unwrap_or_else(|e| panic!("{sheet}: {e}"));
    let rows: Vec<&[Data]> = range.rows().collect();
    assert_eq!(rows.len(), t.len(), "{sheet}: rows vs {what}");
    for (c, h) in t[0].iter().enumerate() {
        let got = cell_text(&rows[0][c]);
        assert!(
            got == *h || got.starts_with(&format!("{h} (")) || (h == "timestamp_epoch_ms" && got == "timestamp"),
            "{sheet} header {c}: {got} vs {h}"
        );
    }
    assert!(rows[0].get(t[0].len()).is_none_or(|d| matches!(d, Data::Empty)), "{sheet}: only the file's columns");
    for (r, trow) in t.iter().enumerate().skip(1) {
        for (c, want) in trow.iter().enumerate() {
            let got = &rows[r][c];
            if want.is_empty() {
                assert!(matches!(got, Data::Empty), "{sheet} r{r} c{c}: {got:?} vs empty");
            } else if let Ok(w) = want.parse::<f64>() {
                let w = if t[0][c] == "timestamp_epoch_ms" { analyze::excel_datetime(w) } else { w };
                let g = num(got).unwrap_or_else(|| panic!("{sheet} r{r} c{c}: {got:?} is not a number (TSV {want})"));
                assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{sheet} r{r} c{c}: {g} vs {w}");
            } else {
                assert_eq!(cell_text(got), *want, "{sheet} r{r} c{c}");
            }
        }
    }
}

fn chart_count(xlsx: &Path) -> usize {
    let f = std::fs::File::open(xlsx).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    let names: Vec<String> = (0..z.len()).map(|i| z.by_index(i).unwrap().name().unwrap().to_string()).collect();
    let charts: Vec<&String> =
        names.iter().filter(|n| n.starts_with("xl/charts/chart") && n.ends_with(".xml")).collect();
    for c in &charts {
        let mut body = String::new();
        z.by_name(c).unwrap().read_to_string(&mut body).unwrap();
        assert!(body.contains("<c:ser>"), "{c} has a data series");
        assert!(body.contains("<c:min val=\"0\"/>"), "{c}: the value axis starts at zero");
    }
    charts.len()
}

#[test]
fn two_runs_cell_by_cell_charts_and_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (fixtures().join("sai3-20261124-1134-l2"), fixtures().join("sai3-20261124-1147-w"));
    let out = tmp.path().join("cmp.xlsx");
    let o = sai3(
        &["analyze", "--dirs", &format!("{},{}", a.display(), b.display()), "--output", out.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    let names = wb.sheet_names().to_vec();
    assert_eq!(names[0], "Summary");
    assert!(names.iter().all(|n| n.chars().count() <= 31));
    for (sheet, file) in [
        ("R1 results", a.join("results.tsv")),
        ("R1 prepare", a.join("prepare_results.tsv")),
        ("R1 perf", a.join("perf_log.tsv")),
        ("R1 test-agent-1", a.join("agents/test-agent-1/perf_log.tsv")),
        ("R2 results", b.join("results.tsv")),
        ("R2 perf", b.join("perf_log.tsv")),
        ("R2 endpoints workload", b.join("workload_endpoint_stats.tsv")),
        ("R2 endpoints prepare", b.join("prepare_endpoint_stats.tsv")),
        ("R2 agent-dc-b", b.join("agents/agent-dc-b/perf_log.tsv")),
    ] {
        check_sheet_against_tsv(&mut wb, sheet, &file);
    }
    // Summary: one row per run, the GET ops/s of each equal to its results.tsv, Δ% against run 1.
    let s = wb.worksheet_range("Summary").unwrap();
    let hdr: Vec<String> = s.rows().next().unwrap().iter().map(cell_text).collect();
    let col = |name: &str| hdr.iter().position(|h| h == name).unwrap();
    let get_ops = |dir: &Path| -> f64 {
        let t = tsv(&dir.join("results.tsv"));
        let c = t[0].iter().position(|h| h == "ops_per_sec").unwrap();
        t.iter().find(|r| r[0] == "GET" && r[1] == "ALL").unwrap()[c].parse().unwrap()
    };
    let rows: Vec<&[Data]> = s.rows().collect();
    assert_eq!(num(&rows[1][col("GET ops/s")]).unwrap(), get_ops(&a));
    assert_eq!(num(&rows[2][col("GET ops/s")]).unwrap(), get_ops(&b));
    let d = num(&rows[2][col("Δ% GET ops/s")]).unwrap();
    assert!((d - (get_ops(&b) - get_ops(&a)) / get_ops(&a) * 100.0).abs() < 1e-9);
    assert!(matches!(rows[1][col("started")], Data::DateTime(_)), "a real date-time: {:?}", rows[1][col("started")]);
    // Charts: Summary 1, per run 3 over time, and one per endpoint table.
    assert_eq!(chart_count(&out), 1 + 3 + 3 + 2);
}

#[test]
fn summary_values_match_the_golden_file() {
    let runs: Vec<analyze::Run> = [
        "sai3-20261124-1134-l2",
        "sai3-20261124-1147-w",
        "sai3-20260302-0915-mixed_v08",
        "sai3-20251029-1732-put_get_v070",
    ]
    .iter()
    .map(|n| analyze::load_run(&fixtures().join(n)).unwrap())
    .collect();
    let body: String = analyze::summary_rows(&runs).iter().map(|r| r.join("\t") + "\n").collect();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/analyze/summary.tsv");
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &body).unwrap();
    }
    assert_eq!(body, std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)"));
}

#[test]
fn bad_input_is_named_and_the_other_runs_still_make_it() {
    let tmp = tempfile::tempdir().unwrap();
    let not_results = tmp.path().join("just-a-folder");
    std::fs::create_dir(&not_results).unwrap();
    let good = fixtures().join("sai3-20261124-1134-l2");
    let broken = fixtures().join("sai3-20261124-1200-broken");
    let out = tmp.path().join("x.xlsx");
    let dirs = format!("{},{},{}", good.display(), broken.display(), not_results.display());
    let o = sai3(&["analyze", "--dirs", &dirs, "--output", out.to_str().unwrap()], tmp.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("just-a-folder: not a sai3 results folder"), "{t}");
    assert!(t.contains("sai3-20261124-1200-broken/results.tsv: line 4"), "file and line named: {t}");
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    let names = wb.sheet_names().to_vec();
    assert!(names.contains(&"R1 results".to_string()) && names.contains(&"R2 perf".to_string()), "{names:?}");
    let s = wb.worksheet_range("Summary").unwrap();
    let all: Vec<String> = s.rows().flat_map(|r| r.iter().map(cell_text).collect::<Vec<_>>()).collect();
    assert!(all.iter().any(|c| c.contains("results.tsv: line 4")), "problem listed on the Summary sheet");
    assert!(all.iter().any(|c| c.contains("not a sai3 results folder")));
}

#[test]
fn existing_output_needs_overwrite_and_pattern_finds_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.xlsx");
    std::fs::write(&out, b"keep me").unwrap();
    let base = fixtures();
    let o = sai3(
        &["analyze", "--pattern", "sai3-*-l2", "--base-dir", base.to_str().unwrap(), "--output", out.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--overwrite"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let o = sai3(
        &[
            "analyze",
            "--pattern",
            "sai3-*-l2",
            "--base-dir",
            base.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--overwrite",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1 runs"), "{}", text(&o));
    let o = sai3(
        &["analyze", "--pattern", "nothing-*", "--base-dir", base.to_str().unwrap(), "--output", "y.xlsx"],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(2));
}

fn synthetic_perf_log(path: &Path, rows: usize) {
    use std::io::Write;
    let header = std::fs::read_to_string(fixtures().join("sai3-20261124-1134-l2/perf_log.tsv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "{header}").unwrap();
    for i in 0..rows {
        let t = 1_795_520_074_000u64 + i as u64 * 1000;
        writeln!(
            f,
            "all\t{t}\t{}.000\tworkload\t10\t40960\t10.00\t0.039\t100.00\t90\t150\t{}\t5\t20480\t5.00\t0.020\t200.00\t180\t300\t400\t1\t1.00\t50.00\t40\t60\t70\t10.00\t5.00\t0.00\t0",
            i + 1,
            200 + i % 7
        )
        .unwrap();
    }
}

#[test]
fn long_perf_logs_are_folded_and_said_so() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("sai3-20260101-0000-long");
    std::fs::create_dir(&run).unwrap();
    for f in ["results.tsv", "metadata.json"] {
        std::fs::copy(fixtures().join("sai3-20261124-1134-l2").join(f), run.join(f)).unwrap();
    }
    synthetic_perf_log(&run.join("perf_log.tsv"), 1000);
    let out = tmp.path().join("long.xlsx");
    let opts = analyze::Options { max_sheet_rows: 300, chart_points: 50 };
    let res = analyze::analyze(std::slice::from_ref(&run), &out, &opts).unwrap();
    assert!(res.problems.is_empty(), "{:?}", res.problems);
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    let perf = wb.worksheet_range("R1 perf").unwrap();
    let rows: Vec<&[Data]> = perf.rows().collect();
    assert_eq!(rows.len(), 1 + 250, "1000 rows folded 4:1");
    let note = cell_text(&rows[0][30]);
    assert!(note.contains("1000 rows folded 4:1"), "{note}");
    // Folded: ops summed, p99 the maximum, elapsed the last of the group.
    let hdr: Vec<String> = rows[0].iter().map(cell_text).collect();
    let c = |n: &str| hdr.iter().position(|h| h == n || h.starts_with(&format!("{n} ("))).unwrap();
    assert_eq!(num(&rows[1][c("get_ops")]), Some(40.0));
    assert_eq!(num(&rows[1][c("get_p99_us")]), Some(203.0));
    assert_eq!(num(&rows[1][c("elapsed_s")]), Some(4.0));
    let charts = wb.worksheet_range("R1 charts").unwrap();
    assert!(charts.rows().count() <= 51, "chart series down-sampled to 50 points");
}

/// The scale case: 1,000,000 perf-log rows. Slow in a debug build (about a minute);
/// run with `cargo test --release --test analyze -- --ignored`.
#[test]
#[ignore]
fn a_million_row_perf_log() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("sai3-20260101-0000-million");
    std::fs::create_dir(&run).unwrap();
    for f in ["results.tsv", "metadata.json"] {
        std::fs::copy(fixtures().join("sai3-20261124-1134-l2").join(f), run.join(f)).unwrap();
    }
    synthetic_perf_log(&run.join("perf_log.tsv"), 1_000_000);
    let out = tmp.path().join("m.xlsx");
    let res = analyze::analyze(&[run], &out, &analyze::Options::default()).unwrap();
    assert!(res.problems.is_empty());
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    assert_eq!(wb.worksheet_range("R1 perf").unwrap().rows().count(), 1_000_001);
}

/// The results table of a sai3-bench stage file, read independently of the loader: `#` and
/// blank lines before it skipped, ended by the blank line before the per-agent table.
fn stage_file_table(path: &Path) -> Vec<Vec<String>> {
    let body = std::fs::read_to_string(path).unwrap();
    body.lines()
        .skip_while(|l| l.starts_with('#') || l.is_empty())
        .take_while(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// The total of `col` for class `op` as the Summary must show it, computed from the TSV: the
/// ALL row; without any ALL row, counts and rates summed over the buckets and the mean weighted
/// by count; otherwise (percentiles, a missing column) nothing.
fn expected_total(t: &[Vec<String>], op: &str, col: &str) -> Option<f64> {
    let c = |name: &str| t[0].iter().position(|h| h == name);
    let v = |r: &Vec<String>, name: &str| -> Option<f64> { r[c(name)?].parse().ok() };
    if let Some(r) = t[1..].iter().find(|r| r[0] == op && r[1] == "ALL") {
        return v(r, col);
    }
    if t[1..].iter().any(|r| r[1] == "ALL") {
        return None;
    }
    let rows: Vec<&Vec<String>> = t[1..].iter().filter(|r| r[0] == op).collect();
    if rows.is_empty() {
        return None;
    }
    match col {
        "ops_per_sec" | "throughput_mibps" | "errors" => rows.iter().map(|r| v(r, col)).sum(),
        "mean_us" => {
            let n: f64 = rows.iter().map(|r| v(r, "count").unwrap()).sum();
            Some(rows.iter().map(|r| v(r, "mean_us").unwrap() * v(r, "count").unwrap()).sum::<f64>() / n)
        }
        _ => None,
    }
}

/// The lines of the Summary's list titled `title` (up to the next empty row).
fn summary_list(s: &calamine::Range<Data>, title: &str) -> Vec<String> {
    let rows: Vec<&[Data]> = s.rows().collect();
    let at = rows.iter().position(|r| cell_text(&r[0]).starts_with(title)).unwrap_or_else(|| panic!("no {title}"));
    rows[at + 1..].iter().map(|r| cell_text(&r[0])).take_while(|c| !c.is_empty()).collect()
}

#[test]
fn sai3_and_sai3_bench_runs_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let sai3_run = fixtures().join("sai3-20261124-1134-l2");
    let v08 = fixtures().join("sai3-20260302-0915-mixed_v08");
    let v070 = fixtures().join("sai3-20251029-1732-put_get_v070");
    let out = tmp.path().join("old-and-new.xlsx");
    let dirs = format!("{},{},{}", sai3_run.display(), v08.display(), v070.display());
    let o = sai3(&["analyze", "--dirs", &dirs, "--output", out.to_str().unwrap()], tmp.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "column differences are notes, not problems: {t}");
    assert!(!t.contains("problem"), "{t}");
    assert!(t.contains("note: ") && t.contains("lacks errors"), "{t}");

    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    for (sheet, file) in [
        ("R1 results", sai3_run.join("results.tsv")),
        ("R2 results", v08.join("workload_results.tsv")),
        ("R2 prepare", v08.join("prepare_results.tsv")),
        ("R2 perf", v08.join("perf_log.tsv")),
        ("R3 results", v070.join("results.tsv")),
    ] {
        check_sheet_against_tsv(&mut wb, sheet, &file);
    }
    let stage_file = v08.join("03_execute_results.tsv");
    let stage = stage_file_table(&stage_file);
    assert_eq!(stage.len(), 6, "header and five rows, not the per-agent table");
    check_sheet(&mut wb, "R2 03_execute", &stage, "the stage file's first table");
    // The Workload stage of sai3-bench's perf log (capitalised) is charted.
    let charts = wb.worksheet_range("R2 charts").unwrap();
    assert_eq!(charts.rows().count(), 1 + 5, "every workload row of the perf log");

    // Summary: which tool, when, and every metric equal to its file; what a file lacks is empty.
    let s = wb.worksheet_range("Summary").unwrap();
    let rows: Vec<&[Data]> = s.rows().collect();
    let hdr: Vec<String> = rows[0].iter().map(cell_text).collect();
    let col = |name: &str| hdr.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name}"));
    let tools: Vec<String> = (1..=3).map(|r| cell_text(&rows[r][col("tool")])).collect();
    assert_eq!(tools, ["sai3", "sai3-bench 0.8.50", "sai3-bench"]);
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:15:04.512338817-06:00").unwrap();
    assert_eq!(num(&rows[2][col("started")]), Some(analyze::excel_datetime(start.timestamp_millis() as f64)));
    assert_eq!(cell_text(&rows[2][col("config")]), "configs/mixed_v08.yaml");
    assert_eq!(num(&rows[2][col("workload_s")]), Some(30.012));
    assert_eq!(num(&rows[2][col("agents")]), Some(0.0), "standalone");
    for c in ["started", "config", "agents", "workload_s"] {
        assert_eq!(cell_text(&rows[3][col(c)]), "", "{c}: no metadata.json");
    }
    let metrics = [
        ("ops/s", "ops_per_sec"),
        ("MiB/s", "throughput_mibps"),
        ("mean µs", "mean_us"),
        ("p50 µs", "p50_us"),
        ("p99 µs", "p99_us"),
        ("errors", "errors"),
    ];
    let files = [sai3_run.join("results.tsv"), v08.join("workload_results.tsv"), v070.join("results.tsv")];
    let mut filled = 0;
    for (i, file) in files.iter().enumerate() {
        let t = tsv(file);
        for class in ["GET", "PUT", "META"] {
            for (label, name) in metrics {
                let got = &rows[i + 1][col(&format!("{class} {label}"))];
                match expected_total(&t, class, name) {
                    Some(want) => {
                        let g = num(got).unwrap_or_else(|| panic!("run {} {class} {label}: {got:?}", i + 1));
                        assert!(
                            (g - want).abs() <= 1e-9 * want.abs().max(1.0),
                            "run {} {class} {label}: {g} vs {want}",
                            i + 1
                        );
                        filled += 1;
                    }
                    None => {
                        assert!(matches!(got, Data::Empty), "run {} {class} {label}: {got:?} should be empty", i + 1)
                    }
                }
            }
        }
    }
    assert_eq!(filled, 18 + 15 + 9, "sai3 all 18; sai3-bench 0.8 all but errors; 0.7.0 ops/s, MiB/s, mean");
    let d = num(&rows[2][col("Δ% GET ops/s")]).unwrap();
    let base = expected_total(&tsv(&files[0]), "GET", "ops_per_sec").unwrap();
    let v = expected_total(&tsv(&files[1]), "GET", "ops_per_sec").unwrap();
    assert!((d - (v - base) / base * 100.0).abs() < 1e-9);

    assert_eq!(summary_list(&s, "Problems"), ["none"]);
    let notes = summary_list(&s, "Notes");
    let lacks = "columns differ from sai3's: lacks errors, service_mean_us, service_p50_us, service_p99_us";
    for (dir, file) in [
        (&v08, "workload_results.tsv"),
        (&v08, "prepare_results.tsv"),
        (&v08, "03_execute_results.tsv"),
        (&v070, "results.tsv"),
    ] {
        let want = format!("{}: {lacks}", dir.join(file).display());
        assert_eq!(notes.iter().filter(|n| n.starts_with(&want)).count(), 1, "one note for {file}: {notes:#?}");
    }
    assert!(notes.iter().any(|n| n.contains("put_get_v070/results.tsv: no ALL (total) rows")), "{notes:#?}");
    assert!(notes.iter().any(|n| n.contains("put_get_v070/metadata.json: missing")), "{notes:#?}");
    assert!(!notes.iter().any(|n| n.contains("perf_log.tsv")), "a 30-column perf log is sai3's: {notes:#?}");
    assert!(!notes.iter().any(|n| n.contains("1134-l2")), "sai3's own files: no notes: {notes:#?}");
    assert_eq!(notes.len(), 6, "{notes:#?}");

    // The stage file is a row of the Stages table: ops from its ALL rows, wall time from its comments.
    let at = rows.iter().position(|r| cell_text(&r[0]) == "Stages").expect("Stages table");
    let st: Vec<String> = rows[at + 2].iter().take(5).map(cell_text).collect();
    assert_eq!(
        [&st[0], &st[2], &st[3], &st[4]],
        [v08.file_name().unwrap().to_str().unwrap(), "execute", "Workload", ""]
    );
    assert_eq!(num(&rows[at + 2][1]), Some(1.0));
    assert_eq!(num(&rows[at + 2][5]), Some(30.01));
    let ops = expected_total(&stage, "GET", "count").unwrap() + expected_total(&stage, "PUT", "count").unwrap();
    assert_eq!(num(&rows[at + 2][6]), Some(ops));
    assert!((num(&rows[at + 2][7]).unwrap() - ops / 30.01).abs() < 1e-9);
}

#[test]
fn older_perf_log_columns_are_a_note_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("sai3-20251201-1000-perf28");
    std::fs::create_dir(&run).unwrap();
    let src = fixtures().join("sai3-20260302-0915-mixed_v08");
    for f in ["metadata.json", "workload_results.tsv"] {
        std::fs::copy(src.join(f), run.join(f)).unwrap();
    }
    // The v0.8.15 layout: 28 columns, no *_mean_us, an is_warmup flag at the end.
    let t = tsv(&src.join("perf_log.tsv"));
    let keep: Vec<usize> = (0..t[0].len()).filter(|&c| !t[0][c].ends_with("_mean_us")).collect();
    let old: Vec<Vec<String>> = t
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let mut v: Vec<String> = keep.iter().map(|&c| row[c].clone()).collect();
            v.push(if r == 0 {
                "is_warmup".into()
            } else {
                if r == 1 {
                    "1".into()
                } else {
                    "0".into()
                }
            });
            v
        })
        .collect();
    assert_eq!(old[0].len(), 28);
    let body: String = old.iter().map(|r| r.join("\t") + "\n").collect();
    std::fs::write(run.join("perf_log.tsv"), body).unwrap();
    let out = tmp.path().join("p.xlsx");
    let res = analyze::analyze(std::slice::from_ref(&run), &out, &analyze::Options::default()).unwrap();
    assert!(res.problems.is_empty(), "{:?}", res.problems);
    let note = res.notes.iter().find(|n| n.contains("perf_log.tsv")).expect("a note for the perf log");
    assert!(note.contains("lacks get_mean_us, put_mean_us, meta_mean_us; has extra is_warmup"), "{note}");
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    check_sheet(&mut wb, "R1 perf", &old, "the 28-column perf log");
}

#[test]
fn sai3s_own_stage_files_stay_out_of_the_stage_list() {
    // sai3 also writes NN_<stage>_results.tsv; its metadata.json lists the stages already.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("sai3-20260101-0000-staged");
    std::fs::create_dir(&run).unwrap();
    let src = fixtures().join("sai3-20261124-1134-l2");
    for f in ["results.tsv", "metadata.json", "perf_log.tsv"] {
        std::fs::copy(src.join(f), run.join(f)).unwrap();
    }
    std::fs::copy(src.join("results.tsv"), run.join("01_read_results.tsv")).unwrap();
    let r = analyze::load_run(&run).unwrap();
    assert_eq!(r.tool, "sai3");
    assert!(r.stages.is_empty() && r.stage_tables.is_empty(), "{:?}", r.stages);
    assert!(r.problems.is_empty() && r.notes.is_empty(), "{:?} {:?}", r.problems, r.notes);
}
