//! The knobs of `bench load`, read once from the environment (README, "Benchmarks").

/// Connection counts measured when `PGMESH_BENCH_CONNECTIONS` is unset.
const CONNECTIONS: [u32; 2] = [10, 50];

/// Seconds per measurement when `PGMESH_BENCH_SECONDS` is unset.
const SECONDS: u64 = 8;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Options {
    /// Seconds each measurement runs (`PGMESH_BENCH_SECONDS`).
    pub seconds: u64,
    /// The connection counts to measure (`PGMESH_BENCH_CONNECTIONS`, comma-separated).
    pub connections: Vec<u32>,
    /// Parts of names a run is narrowed to (`PGMESH_BENCH_ONLY`, comma-separated); `None`
    /// when unset or blank, so that everything runs.
    only: Option<Vec<String>>,
}

impl Options {
    pub fn from_env() -> Self {
        Self::from_source(|key| std::env::var(key).ok())
    }

    /// The options from a key → value source (the environment, or a map in tests).
    fn from_source(get: impl Fn(&str) -> Option<String>) -> Self {
        let seconds = get("PGMESH_BENCH_SECONDS")
            .and_then(|s| s.parse().ok())
            .unwrap_or(SECONDS);
        let connections = get("PGMESH_BENCH_CONNECTIONS")
            .map(|s| {
                s.split(',')
                    .filter_map(|c| c.trim().parse().ok())
                    .collect::<Vec<u32>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| CONNECTIONS.to_vec());
        let only = get("PGMESH_BENCH_ONLY")
            .filter(|only| !only.trim().is_empty())
            .map(|only| {
                only.split(',')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(String::from)
                    .collect()
            });
        Options {
            seconds,
            connections,
            only,
        }
    }

    /// Whether the measurement called `name` runs: a name holding one of the parts given.
    pub fn selected(&self, name: &str) -> bool {
        match &self.only {
            Some(parts) => parts.iter().any(|part| name.contains(part.as_str())),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Options {
        Options::from_source(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn unset_options_measure_everything_at_10_and_50_connections_for_8_seconds() {
        let o = options(&[]);
        assert_eq!((o.seconds, o.connections.as_slice()), (8, &[10, 50][..]));
        assert!(o.selected("GET one row") && o.selected("filter cost"));
        assert!(options(&[("PGMESH_BENCH_ONLY", "  ")]).selected("RPC"));
    }

    #[test]
    fn connection_counts_skip_what_is_not_a_number_and_fall_back_when_none_is_left() {
        let o = options(&[("PGMESH_BENCH_CONNECTIONS", " 5, x,20 ")]);
        assert_eq!(o.connections, [5, 20]);
        let o = options(&[
            ("PGMESH_BENCH_CONNECTIONS", "x"),
            ("PGMESH_BENCH_SECONDS", "y"),
        ]);
        assert_eq!((o.seconds, o.connections.as_slice()), (8, &[10, 50][..]));
        assert_eq!(options(&[("PGMESH_BENCH_SECONDS", "1")]).seconds, 1);
    }

    #[test]
    fn only_selects_names_holding_one_of_its_parts() {
        let o = options(&[("PGMESH_BENCH_ONLY", "one row, filter cost")]);
        assert!(o.selected("GET one row"));
        assert!(o.selected("POST one row"));
        assert!(o.selected("filter cost"));
        assert!(!o.selected("GET 100 rows"));
        assert!(!o.selected("RPC"));
        // Not blank, yet no part is left: nothing is selected.
        assert!(!options(&[("PGMESH_BENCH_ONLY", ",")]).selected("RPC"));
    }
}
