//! "Did you mean" hints for misspelt keys and values.

/// Edit distance with adjacent transpositions (optimal string alignment), case-insensitive.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate, when it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
        .or_else(|| {
            // `concurrency_overide`-style: one is a prefix of the other.
            let w = word.to_lowercase();
            candidates
                .iter()
                .copied()
                .find(|c| w.len() >= 4 && (c.starts_with(&w) || w.starts_with(*c)) && c.len() >= 4)
        })
}

/// " — did you mean `x`?" or " — valid keys: a, b, c".
pub fn hint(word: &str, candidates: &[&str], what: &str) -> String {
    match closest(word, candidates) {
        Some(c) => format!(" — did you mean `{c}`?"),
        None => format!(" — {what}: {}", candidates.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos() {
        let keys = ["target", "duration", "concurrency", "workload", "prepare"];
        assert_eq!(closest("concurency", &keys), Some("concurrency"));
        assert_eq!(closest("Duration", &keys), Some("duration"));
        assert_eq!(closest("workloads", &keys), Some("workload"));
        assert_eq!(closest("tagret", &keys), Some("target"));
        assert_eq!(closest("xyz", &keys), None);
        assert_eq!(closest("gte", &["get", "put"]), Some("get"));
        assert!(hint("zzz", &keys, "valid keys").contains("valid keys: target, duration"));
        assert_eq!(hint("concurency", &keys, "valid keys"), " — did you mean `concurrency`?");
    }
}
