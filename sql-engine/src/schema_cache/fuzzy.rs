//! "Perhaps you meant …" for unknown tables, in the manner of the fuzzy set PostgREST uses:
//! candidates share character n-grams (3-grams, then 2-grams: a cosine similarity above zero), and the
//! best of them by Levenshtein similarity wins if it is similar enough.

/// Schemas with this many relations or more get no suggestion (as in PostgREST).
pub const MAX_RELATIONS: usize = 500;
const MIN_SCORE: f64 = 0.33;

/// The distinct `n`-grams (n ≤ 3) of the lower-cased name padded with `-`, each packed into a
/// `u64` (21 bits a character), sorted.
fn grams(s: &str, n: usize) -> Vec<u64> {
    let padded: Vec<char> = std::iter::once('-')
        .chain(s.to_lowercase().chars())
        .chain(std::iter::once('-'))
        .collect();
    let mut out: Vec<u64> = padded
        .windows(n)
        .map(|w| {
            w.iter()
                .fold(0u64, |acc, c| (acc << 21) | u64::from(u32::from(*c)))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether two sorted gram lists share one: their cosine similarity is above zero.
fn share(a: &[u64], b: &[u64]) -> bool {
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    false
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
            .filter(|c| share(&wanted, &grams(c, n)))
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
