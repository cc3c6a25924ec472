//! One operation on record: what a worker hands to the op-log ([`OpRecord`], instants of this
//! process), and a line of an op-log file ([`Line`], wall-clock nanoseconds), with the file's
//! columns, the timestamp format, and the reading of files written by sai3 or by warp.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;

use crate::core::OpKind;

/// The columns of `oplog.tsv.zst`, in order: warp's 13, then sai3's own three.
pub const COLUMNS: [&str; 16] = [
    "idx",
    "thread",
    "op",
    "client_id",
    "n_objects",
    "bytes",
    "endpoint",
    "file",
    "error",
    "start",
    "first_byte",
    "end",
    "duration_ns",
    "stage",
    "intended_start",
    "agent",
];

/// The header line of an op-log file (with its newline).
pub fn header() -> String {
    let mut h = COLUMNS.join("\t");
    h.push('\n');
    h
}

/// An operation as a worker saw it: instants of this process, converted to wall-clock time
/// (and corrected by the clock offset) by the writer.
#[derive(Debug, Clone)]
pub struct OpRecord {
    pub op: OpKind,
    /// The worker within its phase.
    pub worker: u32,
    /// The endpoint's base URI (credentials never included).
    pub endpoint: Arc<str>,
    /// The object's key relative to the endpoint.
    pub key: Arc<str>,
    pub bytes: u64,
    /// `kind: message` of a failed request; `None` when it succeeded.
    pub error: Option<Box<str>>,
    /// The scheduled start of an open-loop operation (`io_rate`, replay).
    pub intended: Option<Instant>,
    pub start: Instant,
    /// When the first byte of a GET's body arrived.
    pub first_byte: Option<Instant>,
    pub end: Instant,
}

/// An error as the op-log shows it: `kind: message`, one line, at most 240 bytes.
pub fn error_text(kind: &str, message: &str) -> Box<str> {
    let mut s = String::with_capacity(kind.len() + 2 + message.len().min(240));
    s.push_str(kind);
    if !message.is_empty() {
        s.push_str(": ");
        for c in message.chars() {
            if s.len() >= 240 {
                s.push('…');
                break;
            }
            s.push(if c == '\t' || c == '\n' || c == '\r' { ' ' } else { c });
        }
    }
    s.into_boxed_str()
}

/// One line of an op-log file. Times are nanoseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub idx: u64,
    pub thread: u64,
    pub op: String,
    pub client_id: String,
    pub n_objects: u64,
    pub bytes: u64,
    pub endpoint: String,
    pub file: String,
    pub error: String,
    pub start: i64,
    pub first_byte: Option<i64>,
    pub end: i64,
    pub duration_ns: i64,
    pub stage: String,
    pub intended_start: Option<i64>,
    pub agent: String,
}

impl Line {
    /// The operation kind, when it is one sai3 knows (warp's op names are the same words).
    pub fn kind(&self) -> Option<OpKind> {
        OpKind::parse(&self.op)
    }

    /// Append this line (tab-separated, with its newline) to `out`.
    pub fn write(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t",
            self.idx,
            self.thread,
            self.op,
            self.client_id,
            self.n_objects,
            self.bytes,
            self.endpoint,
            self.file,
            self.error
        );
        push_time(out, self.start);
        out.push('\t');
        if let Some(t) = self.first_byte {
            push_time(out, t);
        }
        out.push('\t');
        push_time(out, self.end);
        let _ = write!(out, "\t{}\t{}\t", self.duration_ns, self.stage);
        if let Some(t) = self.intended_start {
            push_time(out, t);
        }
        out.push('\t');
        out.push_str(&self.agent);
        out.push('\n');
    }
}

/// Append `ns` (since the Unix epoch, UTC) as RFC 3339 with nine fraction digits:
/// `2026-12-05T17:48:17.123456789Z`. Fixed width, so text order is time order.
pub fn push_time(out: &mut String, ns: i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    use std::fmt::Write;
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z", rem / 3600, rem % 3600 / 60, rem % 60);
}

/// The time as [`push_time`] writes it.
pub fn format_time(ns: i64) -> String {
    let mut s = String::with_capacity(30);
    push_time(&mut s, ns);
    s
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian calendar).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Nanoseconds since the Unix epoch of an RFC 3339 time (any number of fraction digits, `Z` or
/// an offset, as warp writes them too).
pub fn parse_time(s: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    t.timestamp_nanos_opt()
}

/// Where each known column is in a file's header (warp's files have no sai3 columns; newer
/// warp versions add `cat`, which is ignored).
#[derive(Debug, Clone)]
pub struct Columns {
    at: [Option<usize>; COLUMNS.len()],
}

impl Columns {
    /// Read a header line. Errors name what is missing.
    pub fn parse(header: &str) -> Result<Columns, String> {
        let names: Vec<&str> = header.trim_end_matches(['\n', '\r']).split('\t').collect();
        let mut at = [None; COLUMNS.len()];
        for (i, c) in COLUMNS.iter().enumerate() {
            at[i] = names.iter().position(|n| n == c);
        }
        let need = ["op", "file", "start", "end"];
        let missing: Vec<&str> = need.iter().copied().filter(|n| at[col(n)].is_none()).collect();
        if !missing.is_empty() {
            return Err(format!(
                "the header has no {} column — not an op-log (expected warp's or sai3's columns: {})",
                missing.join(", "),
                COLUMNS.join(" ")
            ));
        }
        Ok(Columns { at })
    }

    /// Parse one data line; `n` is its line number for the error.
    pub fn line(&self, text: &str, n: u64) -> Result<Line, String> {
        let f: Vec<&str> = text.trim_end_matches(['\n', '\r']).split('\t').collect();
        let get = |name: &str| self.at[col(name)].and_then(|i| f.get(i).copied()).unwrap_or("");
        let num = |name: &str| -> Result<u64, String> {
            let v = get(name);
            if v.is_empty() {
                return Ok(0);
            }
            v.parse().map_err(|_| format!("line {n}: `{name}` is `{v}`, not a whole number"))
        };
        let time = |name: &str| -> Result<Option<i64>, String> {
            let v = get(name);
            if v.is_empty() {
                return Ok(None);
            }
            parse_time(v).map(Some).ok_or_else(|| format!("line {n}: `{name}` is `{v}`, not an RFC 3339 time"))
        };
        let start = time("start")?.ok_or_else(|| format!("line {n}: `start` is empty"))?;
        let end = time("end")?.ok_or_else(|| format!("line {n}: `end` is empty"))?;
        let duration_ns = match get("duration_ns") {
            "" => end - start,
            v => v.parse().map_err(|_| format!("line {n}: `duration_ns` is `{v}`, not a whole number"))?,
        };
        Ok(Line {
            idx: num("idx")?,
            thread: num("thread")?,
            op: get("op").to_string(),
            client_id: get("client_id").to_string(),
            n_objects: num("n_objects")?,
            bytes: num("bytes")?,
            endpoint: get("endpoint").to_string(),
            file: get("file").to_string(),
            error: get("error").to_string(),
            start,
            first_byte: time("first_byte")?,
            end,
            duration_ns,
            stage: get("stage").to_string(),
            intended_start: time("intended_start")?,
            agent: get("agent").to_string(),
        })
    }
}

fn col(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).unwrap_or(0)
}

/// Open an op-log file: zstd-compressed when its name ends in `.zst`, else plain text.
pub fn open(path: &std::path::Path) -> Result<Box<dyn BufRead + Send>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "zst") {
        let d = zstd::stream::read::Decoder::new(f).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Box::new(std::io::BufReader::with_capacity(256 * 1024, d)))
    } else {
        Ok(Box::new(std::io::BufReader::with_capacity(256 * 1024, f)))
    }
}

/// The lines of an op-log file, one at a time (comment lines starting with `#`, as warp appends,
/// are skipped). Errors name the file and line.
pub struct Reader {
    path: String,
    input: Box<dyn BufRead + Send>,
    columns: Columns,
    n: u64,
    buf: String,
}

impl Reader {
    pub fn open(path: &std::path::Path) -> Result<Reader, String> {
        let mut input = open(path)?;
        let mut header = String::new();
        input.read_line(&mut header).map_err(|e| format!("{}: {e}", path.display()))?;
        if header.is_empty() {
            return Err(format!("{}: the file is empty (no header line)", path.display()));
        }
        let columns = Columns::parse(&header).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Reader { path: path.display().to_string(), input, columns, n: 1, buf: String::new() })
    }

    /// The next line, `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<Line>, String> {
        loop {
            self.buf.clear();
            let got = self.input.read_line(&mut self.buf).map_err(|e| format!("{}: {e}", self.path))?;
            if got == 0 {
                return Ok(None);
            }
            self.n += 1;
            if self.buf.starts_with('#') || self.buf.trim().is_empty() {
                continue;
            }
            return self.columns.line(&self.buf, self.n).map(Some).map_err(|e| format!("{}: {e}", self.path));
        }
    }
}

impl Iterator for Reader {
    type Item = Result<Line, String>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_line().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_nanoseconds_and_read_back() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000000000Z");
        let t = 1_796_492_897_123_456_789; // 2026-12-05T17:48:17.123456789Z
        assert_eq!(format_time(t), "2026-12-05T17:48:17.123456789Z");
        assert_eq!(parse_time(&format_time(t)), Some(t));
        // Leap day, end of a year, and warp's trimmed fractions with an offset.
        assert_eq!(format_time(951_782_400_000_000_000), "2000-02-29T00:00:00.000000000Z");
        assert_eq!(format_time(1_767_225_599_999_999_999), "2025-12-31T23:59:59.999999999Z");
        assert_eq!(parse_time("2026-12-05T18:48:17.5+01:00"), Some(1_796_492_897_500_000_000));
        // Every seventh day from 1967 to 2243 round-trips through the calendar.
        for day in (-1000..100_000).step_by(7) {
            let ns = day as i64 * 86_400 * 1_000_000_000 + 3_723_000_000_001;
            assert_eq!(parse_time(&format_time(ns)), Some(ns), "day {day}");
        }
    }

    #[test]
    fn lines_round_trip_and_warp_files_read() {
        let line = Line {
            idx: 7,
            thread: 3,
            op: "GET".into(),
            client_id: "agent-1".into(),
            n_objects: 1,
            bytes: 4096,
            endpoint: "s3://bench/data/".into(),
            file: "prepared-00000001.dat".into(),
            error: String::new(),
            start: 1_796_492_897_000_000_000,
            first_byte: Some(1_796_492_897_000_400_000),
            end: 1_796_492_897_001_000_000,
            duration_ns: 1_000_000,
            stage: "main".into(),
            intended_start: None,
            agent: "agent-1".into(),
        };
        let mut text = header();
        line.write(&mut text);
        let mut lines = text.lines();
        let cols = Columns::parse(lines.next().unwrap()).unwrap();
        assert_eq!(cols.line(lines.next().unwrap(), 2).unwrap(), line);

        // warp's own layout (with the newer `cat` column, trimmed fractions, an error).
        let warp = "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns\tcat\n\
                    0\t2\tPUT\tabc\t1\t1024\thttp://127.0.0.1:9000\tobj/1\tSlowDown\t2026-12-05T17:48:17.5Z\t\t2026-12-05T17:48:17.75Z\t250000000\t0\n";
        let mut l = warp.lines();
        let cols = Columns::parse(l.next().unwrap()).unwrap();
        let got = cols.line(l.next().unwrap(), 2).unwrap();
        assert_eq!((got.op.as_str(), got.bytes, got.error.as_str()), ("PUT", 1024, "SlowDown"));
        assert_eq!(got.end - got.start, 250_000_000);
        assert_eq!((got.first_byte, got.intended_start, got.stage.as_str()), (None, None, ""));
        assert!(Columns::parse("a\tb\tc").unwrap_err().contains("op, file, start, end"));
        assert!(cols.line("0\t1\tGET\tx\t1\tnope", 9).is_err());
    }

    #[test]
    fn errors_are_one_bounded_line() {
        assert_eq!(&*error_text("not_found", ""), "not_found");
        assert_eq!(&*error_text("http", "503\tSlow\nDown"), "http: 503 Slow Down");
        assert!(error_text("other", &"x".repeat(1000)).len() < 250);
    }
}
