//! The live metrics of a run as Prometheus text (exposition format 0.0.4) or OpenMetrics 1.0:
//! one family after another, each with its HELP and TYPE. What the families mean, with their
//! labels, is in docs/METRICS.md; `FAMILIES` lists them in output order.

use std::fmt::Write;

use crate::core::exec::{LiveView, SeriesKey, LATENCY_BOUNDS_US};
use crate::core::{OpClass, OpKind};

/// Content type of each format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The families, in output order: (family name, type, help).
pub const FAMILIES: [(&str, &str, &str); 16] = [
    ("sai3_run", "info", "The run this process serves or last served."),
    ("sai3_run_running", "gauge", "1 while the run is in progress, 0 once it has ended."),
    ("sai3_stage", "info", "The stage in progress."),
    ("sai3_stage_index", "gauge", "Number of the stage in progress, from 1 (0: none)."),
    ("sai3_agents_connected", "gauge", "Agents taking part in the run (controller only)."),
    ("sai3_agents_expected", "gauge", "Agents the run was configured with (controller only)."),
    ("sai3_ops", "counter", "Successful requests."),
    ("sai3_bytes", "counter", "Bytes moved by successful requests (GET read, PUT written)."),
    ("sai3_errors", "counter", "Failed requests, by error kind."),
    ("sai3_latency_seconds", "histogram", "Latency of successful requests (from the intended start in open loop)."),
    ("sai3_endpoint_requests", "counter", "Requests sent to the endpoint, successful or not."),
    ("sai3_endpoint_errors", "counter", "Failed requests sent to the endpoint."),
    ("sai3_endpoint_read_bytes", "counter", "Bytes read from the endpoint."),
    ("sai3_endpoint_written_bytes", "counter", "Bytes written to the endpoint."),
    ("sai3_late_starts", "counter", "Open-loop requests that started later than intended."),
    ("sai3_scrapes", "counter", "Scrapes this process has served, this one included."),
];

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn class_name(c: OpClass) -> &'static str {
    match c {
        OpClass::Get => "GET",
        OpClass::Put => "PUT",
        OpClass::Meta => "META",
    }
}

/// `agent`, `stage` and `phase` labels of a series (`phase`: the stage's type, or `warmup`).
fn series_labels(v: &LiveView, k: &SeriesKey) -> String {
    let (name, kind) = v.stages.get(k.stage as usize).map(|(n, t)| (n.as_str(), *t)).unwrap_or(("?", "?"));
    let phase = if k.warmup { "warmup" } else { kind };
    format!("agent=\"{}\",stage=\"{}\",phase=\"{phase}\"", escape(&k.agent), escape(name))
}

fn op_labels(v: &LiveView, k: &SeriesKey, op: OpKind) -> String {
    format!("{},op=\"{}\",class=\"{}\"", series_labels(v, k), op.name(), class_name(op.class()))
}

fn seconds(us: u64) -> String {
    format!("{}", us as f64 / 1e6)
}

struct Out {
    text: String,
    om: bool,
}

impl Out {
    fn family(&mut self, i: usize) {
        let (name, ty, help) = FAMILIES[i];
        // Prometheus text has no info type and names counters with their `_total`.
        let (name, ty) = match (self.om, ty) {
            (true, _) => (name.to_string(), ty),
            (false, "info") => (format!("{name}_info"), "gauge"),
            (false, "counter") => (format!("{name}_total"), ty),
            (false, _) => (name.to_string(), ty),
        };
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {ty}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.text, "{name} {value}");
        } else {
            let _ = writeln!(self.text, "{name}{{{labels}}} {value}");
        }
    }
}

/// The view as Prometheus text (`openmetrics: false`) or OpenMetrics text.
pub fn render(v: &LiveView, openmetrics: bool) -> String {
    let mut o = Out { text: String::with_capacity(4096), om: openmetrics };
    o.family(0);
    let labels =
        format!("run_id=\"{}\",config=\"{}\",role=\"{}\"", escape(&v.run_id), escape(&v.config), escape(&v.role));
    o.sample("sai3_run_info", &labels, 1);
    o.family(1);
    o.sample("sai3_run_running", "", u8::from(v.running));
    o.family(2);
    if let Some((i, (name, kind))) = v.current.and_then(|i| v.stages.get(i).map(|s| (i, s))) {
        let l = format!("index=\"{}\",stage=\"{}\",kind=\"{kind}\"", i + 1, escape(name));
        o.sample("sai3_stage_info", &l, 1);
    }
    o.family(3);
    o.sample("sai3_stage_index", "", v.current.map(|i| i + 1).unwrap_or(0));
    if let Some((connected, expected)) = v.agents {
        o.family(4);
        o.sample("sai3_agents_connected", "", connected);
        o.family(5);
        o.sample("sai3_agents_expected", "", expected);
    }
    o.family(6);
    for ((k, op), s) in &v.ops {
        o.sample("sai3_ops_total", &op_labels(v, k, *op), s.ops);
    }
    o.family(7);
    for ((k, op), s) in &v.ops {
        o.sample("sai3_bytes_total", &op_labels(v, k, *op), s.bytes);
    }
    o.family(8);
    for ((k, op, kind), n) in &v.errors {
        o.sample("sai3_errors_total", &format!("{},kind=\"{}\"", op_labels(v, k, *op), escape(kind)), n);
    }
    o.family(9);
    for ((k, op), s) in &v.ops {
        let l = op_labels(v, k, *op);
        let mut cum = 0u64;
        for (i, n) in s.buckets.iter().enumerate() {
            cum += n;
            let le = LATENCY_BOUNDS_US.get(i).map(|&b| seconds(b)).unwrap_or_else(|| "+Inf".into());
            o.sample("sai3_latency_seconds_bucket", &format!("{l},le=\"{le}\""), cum);
        }
        o.sample("sai3_latency_seconds_count", &l, cum);
        o.sample("sai3_latency_seconds_sum", &l, s.sum_us as f64 / 1e6);
    }
    let endpoint_labels = |k: &SeriesKey, i: usize| {
        let uri = v.endpoints.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
        format!("{},endpoint=\"{}\"", series_labels(v, k), escape(&uri))
    };
    type Field = fn(&crate::core::exec::EndpointSeries) -> u64;
    let fields: [(usize, &str, Field); 4] = [
        (10, "sai3_endpoint_requests_total", |e| e.requests),
        (11, "sai3_endpoint_errors_total", |e| e.errors),
        (12, "sai3_endpoint_read_bytes_total", |e| e.bytes_read),
        (13, "sai3_endpoint_written_bytes_total", |e| e.bytes_written),
    ];
    for (fam, name, get) in fields {
        o.family(fam);
        for ((k, i), e) in &v.endpoint {
            o.sample(name, &endpoint_labels(k, *i), get(e));
        }
    }
    o.family(14);
    for (k, n) in &v.late_starts {
        o.sample("sai3_late_starts_total", &series_labels(v, k), n);
    }
    o.family(15);
    o.sample("sai3_scrapes_total", "", v.scrapes);
    if openmetrics {
        o.text.push_str("# EOF\n");
    }
    o.text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exec::{IntervalRow, LiveMetrics, StageTag};
    use crate::core::metrics::Snapshot;

    fn view() -> LiveView {
        let plan = crate::core::config::parse(
            "target: \"file:///tmp/x/\"\nduration: 1s\nworkload:\n  - op: get\n    path: \"d/*\"\n    weight: 1\n",
            None,
        )
        .unwrap();
        let live = LiveMetrics::new("local");
        live.begin("r1", "a \"q\".yaml", &plan, vec!["file:///tmp/x/".into()]);
        live.set_stage(0);
        let mut s = Snapshot::default();
        s.record_ok(OpKind::Get, Some(0), 100, 7, None, None);
        s.record_ok(OpKind::Get, Some(0), 100, 300, None, None);
        s.record_err(OpKind::Get, Some(0), "not_found");
        let row = IntervalRow {
            index: 0,
            stage: StageTag::new(0, &plan.stages[0].name),
            timestamp_epoch_ms: 0,
            elapsed_s: 0.1,
            duration_s: 0.1,
            snap: s,
            cpu: Default::default(),
            missing_agents: vec![],
            summary: None,
        };
        live.add_row("local", &row);
        live.scrape()
    }

    #[test]
    fn text_format_names_counters_with_total_and_escapes_labels() {
        let t = render(&view(), false);
        assert!(t.contains("# TYPE sai3_ops_total counter\n"), "{t}");
        assert!(t.contains("# TYPE sai3_run_info gauge\n"));
        assert!(t.contains("config=\"a \\\"q\\\".yaml\""), "{t}");
        let stage = &view().stages[0].0.clone();
        let l = format!("agent=\"local\",stage=\"{stage}\",phase=\"workload\",op=\"GET\",class=\"GET\"");
        assert!(t.contains(&format!("sai3_ops_total{{{l}}} 2\n")), "{t}");
        assert!(t.contains(&format!("sai3_bytes_total{{{l}}} 200\n")));
        assert!(t.contains(&format!("sai3_errors_total{{{l},kind=\"not_found\"}} 1\n")));
        assert!(t.contains(&format!("sai3_latency_seconds_bucket{{{l},le=\"0.00001\"}} 1\n")), "{t}");
        assert!(t.contains(&format!("sai3_latency_seconds_bucket{{{l},le=\"0.00025\"}} 1\n")));
        assert!(t.contains(&format!("sai3_latency_seconds_bucket{{{l},le=\"0.0005\"}} 2\n")));
        assert!(t.contains(&format!("sai3_latency_seconds_bucket{{{l},le=\"+Inf\"}} 2\n")));
        assert!(t.contains(&format!("sai3_latency_seconds_count{{{l}}} 2\n")));
        assert!(t.contains("endpoint=\"file:///tmp/x/\"} 3\n"), "{t}");
        assert!(t.contains("sai3_stage_index 1\n"));
        assert!(!t.contains("# EOF"));
        assert!(!t.contains("sai3_agents_connected"), "only the controller knows its agents");
    }

    #[test]
    fn openmetrics_uses_family_names_and_ends_with_eof() {
        let t = render(&view(), true);
        assert!(t.contains("# TYPE sai3_ops counter\n"));
        assert!(t.contains("# TYPE sai3_run info\n"));
        assert!(t.contains("sai3_run_info{run_id=\"r1\""));
        assert!(t.ends_with("# EOF\n"));
        // Every sample line belongs to the family declared last before it.
        let mut fam = String::new();
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                fam = rest.split(' ').next().unwrap().to_string();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&fam), "{line} outside family {fam}");
            }
        }
    }
}
