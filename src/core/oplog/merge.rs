//! `sai3 oplog merge`: several op-logs (one per agent) into one, ordered by start time, numbered
//! anew. Files larger than memory are sorted in runs spilled to temporary files, then merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::record::{header, Line, Reader};

/// Lines sorted in memory at a time before a run is spilled to disk.
const RUN_LINES: usize = 500_000;

/// Write `inputs` merged into `output` (zstd when its name ends in `.zst`). Returns the lines
/// written. Temporary runs go next to `output`, and are removed.
pub fn merge(inputs: &[PathBuf], output: &Path) -> Result<u64, String> {
    merge_with(inputs, output, RUN_LINES)
}

fn merge_with(inputs: &[PathBuf], output: &Path, run_lines: usize) -> Result<u64, String> {
    if inputs.is_empty() {
        return Err("no op-log files to merge".into());
    }
    let mut runs: Vec<PathBuf> = Vec::new();
    let cleanup = |runs: &[PathBuf]| runs.iter().for_each(|r| drop(std::fs::remove_file(r)));
    let mut batch: Vec<Line> = Vec::new();
    let result = (|| {
        for p in inputs {
            for line in Reader::open(p)? {
                batch.push(line?);
                if batch.len() >= run_lines {
                    let run = output.with_extension(format!("run{}.zst", runs.len()));
                    runs.push(run.clone());
                    write_sorted(&mut batch, &run, false)?;
                }
            }
        }
        if runs.is_empty() {
            return write_sorted(&mut batch, output, true);
        }
        if !batch.is_empty() {
            let run = output.with_extension(format!("run{}.zst", runs.len()));
            runs.push(run.clone());
            write_sorted(&mut batch, &run, false)?;
        }
        merge_runs(&runs, output)
    })();
    cleanup(&runs);
    result
}

fn order(l: &Line) -> (i64, String, u64, u64) {
    (l.start, l.agent.clone(), l.thread, l.idx)
}

fn create(path: &Path) -> Result<Box<dyn Write>, String> {
    let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let w = std::io::BufWriter::with_capacity(256 * 1024, f);
    if path.extension().is_some_and(|e| e == "zst") {
        let enc = zstd::stream::write::Encoder::new(w, 3).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Box::new(enc.auto_finish()))
    } else {
        Ok(Box::new(w))
    }
}

/// Sort `batch` by start time and write it (renumbering `idx` when `renumber`), emptying it.
fn write_sorted(batch: &mut Vec<Line>, path: &Path, renumber: bool) -> Result<u64, String> {
    batch.sort_by_cached_key(order);
    let mut out = create(path)?;
    let mut text = header();
    let n = batch.len() as u64;
    for (i, mut l) in batch.drain(..).enumerate() {
        if renumber {
            l.idx = i as u64;
        }
        l.write(&mut text);
        if text.len() > 1 << 20 {
            out.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
            text.clear();
        }
    }
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(n)
}

fn merge_runs(runs: &[PathBuf], output: &Path) -> Result<u64, String> {
    let mut readers: Vec<Reader> = runs.iter().map(|r| Reader::open(r)).collect::<Result<_, _>>()?;
    let mut heap = BinaryHeap::new();
    let mut heads: Vec<Option<Line>> = Vec::with_capacity(readers.len());
    for (i, r) in readers.iter_mut().enumerate() {
        let head = r.next_line()?;
        if let Some(l) = &head {
            heap.push(Reverse((order(l), i)));
        }
        heads.push(head);
    }
    let mut out = create(output)?;
    let mut text = header();
    let mut n = 0u64;
    while let Some(Reverse((_, i))) = heap.pop() {
        let Some(mut l) = heads[i].take() else { continue };
        l.idx = n;
        n += 1;
        l.write(&mut text);
        if text.len() > 1 << 20 {
            out.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", output.display()))?;
            text.clear();
        }
        let next = readers[i].next_line()?;
        if let Some(l) = &next {
            heap.push(Reverse((order(l), i)));
        }
        heads[i] = next;
    }
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| format!("{}: {e}", output.display()))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(agent: &str, idx: u64, start: i64) -> Line {
        Line {
            idx,
            thread: 0,
            op: "GET".into(),
            client_id: agent.into(),
            n_objects: 1,
            bytes: 1,
            endpoint: "file:///x/".into(),
            file: format!("{agent}-{idx}"),
            error: String::new(),
            start,
            first_byte: None,
            end: start + 5,
            duration_ns: 5,
            stage: "w".into(),
            intended_start: None,
            agent: agent.into(),
        }
    }

    fn write(path: &Path, lines: &[Line]) {
        let mut v = lines.to_vec();
        // Written in completion order, not start order, as the capture does.
        v.reverse();
        let mut text = header();
        v.iter().for_each(|l| l.write(&mut text));
        std::fs::write(path, zstd::encode_all(text.as_bytes(), 1).unwrap()).unwrap();
    }

    #[test]
    fn merges_in_start_order_in_memory_and_through_spilled_runs() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<Line> = (0..1000).map(|i| line("a", i, 1_000_000 + (i as i64) * 7)).collect();
        let b: Vec<Line> = (0..700).map(|i| line("b", i, 1_000_003 + (i as i64) * 11)).collect();
        let (pa, pb) = (dir.path().join("a.tsv.zst"), dir.path().join("b.tsv.zst"));
        write(&pa, &a);
        write(&pb, &b);
        for run_lines in [RUN_LINES, 64] {
            let out = dir.path().join(format!("m{run_lines}.tsv.zst"));
            assert_eq!(merge_with(&[pa.clone(), pb.clone()], &out, run_lines).unwrap(), 1700);
            let got: Vec<Line> = Reader::open(&out).unwrap().map(|l| l.unwrap()).collect();
            assert_eq!(got.len(), 1700);
            assert!(got.windows(2).all(|w| w[0].start <= w[1].start), "time-ordered");
            assert!(got.iter().enumerate().all(|(i, l)| l.idx == i as u64), "renumbered");
            assert_eq!(got.iter().filter(|l| l.agent == "b").count(), 700);
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".run"))
                .collect();
            assert!(leftovers.is_empty(), "temporary runs removed");
        }
        let e = merge(&[dir.path().join("nope.tsv.zst")], &dir.path().join("o.tsv")).unwrap_err();
        assert!(e.contains("nope.tsv.zst"), "{e}");
    }
}
