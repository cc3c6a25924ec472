//! Source positions for config errors. serde_yaml's `Value` carries no positions, so this module
//! scans the (block-style) YAML text once and maps each YAML path (`workload[2].weight`) to the
//! line it starts on. Flow-style content (`{a: 1}`) is attributed to the line of its parent key.
//!
//! It also handles one quirk found in the seed documents: a literal `\n` typed inside a line
//! (`fixed: 512KB\n      fill: random`) outside quotes is read as the line break it was meant
//! to be, with a warning naming the line.

use std::collections::HashMap;

/// The config text as parsed, with a map back to the lines of the file.
pub struct Source {
    /// The text handed to the YAML parser (literal `\n` outside quotes split into real lines).
    pub text: String,
    /// For each line of `text` (0-based), the 1-based line of the original file.
    orig_line: Vec<usize>,
    /// Warnings about rewritten lines.
    pub warnings: Vec<String>,
}

impl Source {
    pub fn new(original: &str) -> Source {
        let mut text = String::with_capacity(original.len());
        let mut orig_line = Vec::new();
        let mut warnings = Vec::new();
        for (i, line) in original.lines().enumerate() {
            let parts = split_literal_newlines(line);
            if parts.len() > 1 {
                warnings.push(format!(
                    "line {}: a literal `\\n` outside quotes was read as a line break — put the text after it on its own line",
                    i + 1
                ));
            }
            for p in parts {
                text.push_str(p);
                text.push('\n');
                orig_line.push(i + 1);
            }
        }
        Source { text, orig_line, warnings }
    }

    /// The original 1-based line of a 1-based line of `text`.
    pub fn original_line(&self, line: usize) -> usize {
        line.checked_sub(1).and_then(|i| self.orig_line.get(i)).copied().unwrap_or(line)
    }

    /// The index from YAML paths to original lines.
    pub fn index(&self) -> LineIndex {
        let mut idx = LineIndex::build(&self.text);
        for l in idx.lines.values_mut() {
            *l = self.original_line(*l);
        }
        idx
    }
}

/// Split a line at each literal `\n` (backslash, n) that is outside quotes and before a comment.
fn split_literal_newlines(line: &str) -> Vec<&str> {
    let b = line.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q == b'"' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' if i == 0 || matches!(b[i - 1], b' ' | b':' | b'-' | b'[' | b'{' | b',') => {
                    quote = Some(c)
                }
                b'#' if i == 0 || b[i - 1] == b' ' => break,
                b'\\' if b.get(i + 1) == Some(&b'n') => {
                    parts.push(line[start..i].trim_end());
                    start = i + 2;
                    i += 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    parts.push(&line[start..]);
    parts
}

/// Map from rendered YAML path to 1-based line.
#[derive(Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

#[derive(Clone)]
enum Seg {
    Key(String),
    Item(usize),
}

struct Frame {
    indent: usize,
    seg: Seg,
}

impl LineIndex {
    /// An index that knows no lines (for checks on a plan that did not come from a file).
    pub fn empty() -> LineIndex {
        LineIndex::default()
    }

    fn build(text: &str) -> LineIndex {
        let mut lines = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut block_scalar_indent: Option<usize> = None;
        for (n, raw) in text.lines().enumerate() {
            let trimmed = raw.trim_start();
            let mut col = raw.len() - trimmed.len();
            if let Some(bi) = block_scalar_indent {
                if trimmed.is_empty() || col > bi {
                    continue;
                }
                block_scalar_indent = None;
            }
            if trimmed.is_empty()
                || trimmed.starts_with('#')
                || trimmed.starts_with("---")
                || trimmed.starts_with("...")
            {
                continue;
            }
            let mut rest = trimmed;
            loop {
                if rest == "-" || rest.starts_with("- ") {
                    let mut next = 0;
                    while let Some(top) = stack.last() {
                        if top.indent > col {
                            stack.pop();
                        } else if top.indent == col {
                            if let Seg::Item(i) = top.seg {
                                next = i + 1;
                                stack.pop();
                            }
                            break;
                        } else {
                            break;
                        }
                    }
                    stack.push(Frame { indent: col, seg: Seg::Item(next) });
                    lines.entry(render(&stack)).or_insert(n + 1);
                    let after = &rest[1..];
                    let content = after.trim_start();
                    col += 1 + (after.len() - content.len());
                    rest = content;
                    if rest.is_empty() || rest.starts_with('#') {
                        break;
                    }
                    continue;
                }
                if let Some((key, value)) = split_key(rest) {
                    while stack.last().is_some_and(|t| t.indent >= col) {
                        stack.pop();
                    }
                    stack.push(Frame { indent: col, seg: Seg::Key(key) });
                    lines.entry(render(&stack)).or_insert(n + 1);
                    let v = value.trim_start();
                    if v.starts_with('|') || v.starts_with('>') {
                        block_scalar_indent = Some(col);
                    }
                }
                break;
            }
        }
        LineIndex { lines }
    }

    /// Make the lines of `from` and everything under it known under `to` as well (a subtree the
    /// dialect rewrite moved), without replacing lines `to` already has.
    pub fn alias(&mut self, from: &str, to: &str) {
        let moved: Vec<(String, usize)> = self
            .lines
            .iter()
            .filter_map(|(k, l)| {
                let rest = k.strip_prefix(from)?;
                (rest.is_empty() || rest.starts_with(['.', '['])).then(|| (format!("{to}{rest}"), *l))
            })
            .collect();
        for (k, l) in moved {
            self.lines.entry(k).or_insert(l);
        }
    }

    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

fn render(stack: &[Frame]) -> String {
    let mut s = String::new();
    for f in stack {
        match &f.seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Item(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// `key: value` → (key, value); `None` when the content is not a block mapping entry.
fn split_key(content: &str) -> Option<(String, &str)> {
    if content.starts_with(['{', '[', '|', '>', '&', '*', '!']) {
        return None;
    }
    if let Some(q) = content.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = content[1..].find(q)? + 1;
        let after = content[close + 1..].trim_start();
        let value = after.strip_prefix(':')?;
        if !(value.is_empty() || value.starts_with([' ', '\t'])) {
            return None;
        }
        return Some((content[1..close].to_string(), value));
    }
    let b = content.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'#' && i > 0 && b[i - 1] == b' ' {
            return None;
        }
        if b[i] == b':' && (i + 1 == b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t') {
            return Some((content[..i].trim_end().to_string(), &content[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# comment
target: \"file:///tmp/x/\"
duration: 5s

workload:
  - op: get
    path: \"a/*\"
    weight: 3
  - op: put
    size_spec:
      uniform:
        min: 1KB
        max: 2KB
multi_endpoint:
  endpoints:
    - file:///a/
    - \"file:///b/\"
list_at_parent_indent:
- x: 1
- x: 2
note: |
  text: not a key
after: 1
";

    #[test]
    fn lines_of_paths() {
        let src = Source::new(DOC);
        let idx = src.index();
        assert_eq!(idx.line_of("target"), Some(2));
        assert_eq!(idx.line_of("workload"), Some(5));
        assert_eq!(idx.line_of("workload[0]"), Some(6));
        assert_eq!(idx.line_of("workload[0].op"), Some(6));
        assert_eq!(idx.line_of("workload[0].weight"), Some(8));
        assert_eq!(idx.line_of("workload[1].op"), Some(9));
        assert_eq!(idx.line_of("workload[1].size_spec.uniform.max"), Some(13));
        assert_eq!(idx.line_of("multi_endpoint.endpoints[1]"), Some(17));
        assert_eq!(idx.line_of("list_at_parent_indent[1].x"), Some(20));
        assert_eq!(idx.line_of("after"), Some(23));
        assert_eq!(idx.line_of("note.text"), Some(21), "block scalar content is not a key");
        // Unknown child falls back to the parent's line.
        assert_eq!(idx.line_of("workload[1].nothing"), Some(9));
        assert_eq!(idx.line_of("nothing"), None);
    }

    #[test]
    fn literal_newline_quirk() {
        let text = "prepare:\n  ensure_objects:\n    - base_uri: \"testdata/\"\n      count: 100\n      size_spec:\n        fixed: 512KB\\n      fill: random     # Use random\n      use_multi_endpoint: true\n";
        let src = Source::new(text);
        assert_eq!(src.warnings.len(), 1);
        assert!(src.warnings[0].starts_with("line 6:"), "{:?}", src.warnings);
        assert!(src.text.contains("        fixed: 512KB\n      fill: random"));
        let idx = src.index();
        assert_eq!(idx.line_of("prepare.ensure_objects[0].fill"), Some(6));
        assert_eq!(idx.line_of("prepare.ensure_objects[0].use_multi_endpoint"), Some(7));
    }

    #[test]
    fn quoted_and_commented_backslash_n_untouched() {
        for line in ["a: \"x\\ny\"", "a: 'x\\ny'", "a: 1 # see \\n"] {
            assert_eq!(split_literal_newlines(line), vec![line], "{line}");
        }
    }
}
