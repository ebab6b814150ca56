//! "Perhaps you meant …" for unknown tables, in the manner of the fuzzy set PostgREST uses:
//! candidates share character n-grams (cosine similarity over 3-grams, then 2-grams), and the
//! best of them by Levenshtein similarity wins if it is similar enough.

use std::collections::HashMap;

/// Schemas with this many relations or more get no suggestion (as in PostgREST).
pub const MAX_RELATIONS: usize = 500;
const MIN_SCORE: f64 = 0.33;

fn grams(s: &str, n: usize) -> HashMap<Vec<char>, usize> {
    let padded: Vec<char> = std::iter::once('-')
        .chain(s.to_lowercase().chars())
        .chain(std::iter::once('-'))
        .collect();
    let mut out = HashMap::new();
    for w in padded.windows(n) {
        *out.entry(w.to_vec()).or_insert(0) += 1;
    }
    out
}

fn cosine(a: &HashMap<Vec<char>, usize>, b: &HashMap<Vec<char>, usize>) -> f64 {
    let dot: usize = a.iter().filter_map(|(g, x)| b.get(g).map(|y| x * y)).sum();
    let norm =
        |m: &HashMap<Vec<char>, usize>| (m.values().map(|v| v * v).sum::<usize>() as f64).sqrt();
    let denominator = norm(a) * norm(b);
    if denominator == 0.0 {
        0.0
    } else {
        dot as f64 / denominator
    }
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// The closest candidate to `name`, if one is close enough.
pub fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    for n in [3, 2] {
        let wanted = grams(name, n);
        let mut sharing: Vec<&str> = candidates
            .clone()
            .into_iter()
            .filter(|c| cosine(&wanted, &grams(c, n)) > 0.0)
            .collect();
        if sharing.is_empty() {
            continue;
        }
        let lower: Vec<char> = name.to_lowercase().chars().collect();
        sharing.sort_unstable();
        return sharing
            .into_iter()
            .map(|c| {
                let other: Vec<char> = c.to_lowercase().chars().collect();
                let longest = lower.len().max(other.len()).max(1);
                (1.0 - levenshtein(&lower, &other) as f64 / longest as f64, c)
            })
            .filter(|(score, _)| *score >= MIN_SCORE)
            .fold(None, |best: Option<(f64, &str)>, (score, c)| match best {
                Some((s, _)) if s >= score => best,
                _ => Some((score, c)),
            })
            .map(|(_, c)| c);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested() {
        let tables = ["films", "directors", "actors", "roles", "reviews"];
        assert_eq!(closest("flims", tables), Some("films"));
        assert_eq!(closest("director", tables), Some("directors"));
        assert_eq!(closest("Actor", tables), Some("actors"));
        assert_eq!(closest("nope", tables), None);
        assert_eq!(closest("zzzzzz", tables), None);
        assert_eq!(levenshtein(&['a', 'b'], &['b', 'a']), 2);
    }
}
