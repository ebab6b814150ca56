//! The figures of `bench load`: what a run measured, the two tables printed and
//! `target/bench/load.json`.

use std::fmt::Write as _;

use super::capture::Captured;
use super::workloads::GET_ONE_ROW;
use crate::Result;

/// A measured load: throughput and latency.
#[derive(Debug, Clone, Default)]
pub(super) struct Measured {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    /// Answers with another status than expected (wrk: non-2xx/3xx).
    pub unexpected: u64,
}

/// What answered a row's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Run {
    /// The stack: Envoy with the filter, the sidecar, PostgreSQL.
    Pgmesh,
    /// pgbench, PostgREST's transaction as separate statements.
    CeilingA,
    /// pgbench, the sidecar's statements grouped as it sends them.
    CeilingB,
    /// Envoy answering with `direct_response`.
    ProxyCeiling,
    /// A plain Envoy in front of the `direct_response` one.
    ProxyHop,
}

impl Run {
    fn label(self) -> &'static str {
        match self {
            Run::Pgmesh => "pgmesh",
            Run::CeilingA => "ceiling A",
            Run::CeilingB => "ceiling B",
            Run::ProxyCeiling => "proxy ceiling",
            Run::ProxyHop => "proxy hop",
        }
    }
}

/// The proxy ceiling's row.
pub(super) const DIRECT: &str = "Envoy direct_response";

/// The plain proxy hop's row.
pub(super) const HOP: &str = "Envoy → Envoy direct_response (no filter)";

/// One row of the table.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub workload: &'static str,
    pub connections: u32,
    pub what: Run,
    pub m: Measured,
    /// CPU µs per request: Envoy, sidecar, PostgreSQL.
    pub cpu: [Option<f64>; 3],
    pub round_trips: Option<f64>,
}

/// One row of the filter-cost table: Envoy CPU µs per request.
#[derive(Debug, Clone)]
pub(super) struct FilterRow {
    pub request: String,
    pub connections: u32,
    pub with_filter: f64,
    pub pass_through: f64,
}

impl FilterRow {
    fn cost(&self) -> f64 {
        self.with_filter - self.pass_through
    }
}

/// A row's throughput against its ceilings: × ceiling A, × ceiling B, × `direct_response`.
fn ratios(r: &Row, rows: &[Row]) -> [Option<f64>; 3] {
    let find = |w: &str, what: Run| {
        rows.iter()
            .find(|o| o.workload == w && o.connections == r.connections && o.what == what)
            .map(|o| o.m.rps)
    };
    let ratio = |ceiling: Option<f64>| ceiling.filter(|c| *c > 0.0).map(|c| r.m.rps / c);
    match r.what {
        Run::Pgmesh => [
            ratio(find(r.workload, Run::CeilingA)),
            ratio(find(r.workload, Run::CeilingB)),
            ratio(find(DIRECT, Run::ProxyCeiling)),
        ],
        // A hop with nothing behind it, against the database's own ceiling for one row.
        Run::ProxyHop => [
            ratio(find(GET_ONE_ROW.name, Run::CeilingA)),
            None,
            ratio(find(DIRECT, Run::ProxyCeiling)),
        ],
        Run::CeilingA | Run::CeilingB | Run::ProxyCeiling => [None; 3],
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| String::from("-"), |v| format!("{v:.digits$}"))
}

/// The main table, as printed (Markdown).
fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "\n| request | conns | run | req/s | p50 ms | p99 ms | Envoy µs/req | sidecar µs/req | PostgreSQL µs/req | PG round trips/req | × ceiling A | × ceiling B | × direct_response |\n\
         | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let [a, b, d] = ratios(r, rows);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.connections,
            r.what.label(),
            r.m.rps,
            r.m.p50_ms,
            r.m.p99_ms,
            fmt(r.cpu[0], 1),
            fmt(r.cpu[1], 1),
            fmt(r.cpu[2], 1),
            fmt(r.round_trips, 2),
            fmt(a, 2),
            fmt(b, 2),
            fmt(d, 2),
        );
    }
    out
}

fn rows_json(rows: &[Row]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|r| {
            let [a, b, d] = ratios(r, rows);
            serde_json::json!({
                "request": r.workload,
                "connections": r.connections,
                "run": r.what.label(),
                "requests_per_second": r.m.rps,
                "p50_ms": r.m.p50_ms,
                "p99_ms": r.m.p99_ms,
                "requests": r.m.requests,
                "unexpected_answers": r.m.unexpected,
                "cpu_us_per_request": {"envoy": r.cpu[0], "sidecar": r.cpu[1], "postgresql": r.cpu[2]},
                "pg_round_trips_per_request": r.round_trips,
                "ratio_to_ceiling_a": a,
                "ratio_to_ceiling_b": b,
                "ratio_to_direct_response": d,
            })
        })
        .collect()
}

/// The filter-cost table, as printed (Markdown), with its heading.
fn filter_table(rows: &[FilterRow]) -> String {
    let mut out = String::from(
        "\nThe filter's own cost: Envoy CPU per request with the filter doing all its work and answering itself, against a pass-through wasm filter\n\n\
         | request | conns | with the filter µs/req | pass-through µs/req | filter's own cost µs/req |\n\
         | --- | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} |",
            r.request,
            r.connections,
            r.with_filter,
            r.pass_through,
            r.cost()
        );
    }
    out
}

/// Prints both tables and writes `target/bench/load.json`.
pub(super) fn report(
    rows: &[Row],
    captured: &[Captured],
    filter_rows: &[FilterRow],
    seconds: u64,
) -> Result<()> {
    print!("{}", table(rows));
    print!("{}", filter_table(filter_rows));
    let statements: Vec<serde_json::Value> = captured
        .iter()
        .map(|c| serde_json::json!({"request": c.workload, "statements": c.statements, "round_trips": c.round_trips}))
        .collect();
    let filter_json: Vec<serde_json::Value> = filter_rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "request": r.request, "connections": r.connections,
                "envoy_cpu_us_with_filter": r.with_filter, "envoy_cpu_us_pass_through": r.pass_through,
                "filter_cost_us": r.cost(),
            })
        })
        .collect();
    super::write_report(
        "load",
        &serde_json::json!({
            "seconds_per_run": seconds,
            "rows": rows_json(rows),
            "captured": statements,
            "filter_cost": filter_json,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(workload: &'static str, what: Run, rps: f64) -> Row {
        Row {
            workload,
            connections: 10,
            what,
            m: Measured {
                rps,
                p50_ms: 1.234,
                p99_ms: 5.0,
                ..Measured::default()
            },
            cpu: [Some(40.04), None, None],
            round_trips: None,
        }
    }

    #[test]
    fn pgmesh_rows_are_compared_with_their_own_ceilings_and_the_hop_with_one_row() {
        let rows = [
            row(DIRECT, Run::ProxyCeiling, 20_000.0),
            row(HOP, Run::ProxyHop, 10_000.0),
            row("GET one row", Run::Pgmesh, 5_000.0),
            row("GET one row", Run::CeilingA, 8_000.0),
            row("GET one row", Run::CeilingB, 0.0),
            // Another connection count is another comparison.
            Row {
                connections: 50,
                ..row("GET one row", Run::CeilingA, 1.0)
            },
            row("bad JWT", Run::Pgmesh, 16_000.0),
        ];
        let got: Vec<[Option<f64>; 3]> = rows.iter().map(|r| ratios(r, &rows)).collect();
        assert_eq!(
            got,
            [
                [None, None, None],
                [Some(1.25), None, Some(0.5)],
                // A ceiling of 0 req/s gives no ratio.
                [Some(0.625), None, Some(0.25)],
                [None, None, None],
                [None, None, None],
                [None, None, None],
                [None, None, Some(0.8)],
            ]
        );
    }

    #[test]
    fn the_table_has_one_line_per_row_under_its_header_and_dashes_for_what_is_not_measured() {
        let rows = [
            row(DIRECT, Run::ProxyCeiling, 20_000.0),
            Row {
                cpu: [Some(30.0), Some(20.0), Some(10.0)],
                round_trips: Some(1.0),
                ..row("RPC", Run::Pgmesh, 4_999.6)
            },
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0], "");
        assert!(lines[1].starts_with("| request | conns | run | req/s |"));
        assert_eq!(lines[1].matches('|').count(), lines[2].matches('|').count());
        assert_eq!(
            lines[3],
            "| Envoy direct_response | 10 | proxy ceiling | 20000 | 1.23 | 5.00 | 40.0 | - | - | - | - | - | - |"
        );
        assert_eq!(
            lines[4],
            "| RPC | 10 | pgmesh | 5000 | 1.23 | 5.00 | 30.0 | 20.0 | 10.0 | 1.00 | - | - | 0.25 |"
        );
        assert_eq!(lines[4].matches('|').count(), lines[1].matches('|').count());
    }

    #[test]
    fn the_filter_cost_is_the_difference_of_envoy_cpu_with_and_without_the_filter() {
        let text = filter_table(&[FilterRow {
            request: String::from("GET one row, anonymous"),
            connections: 50,
            with_filter: 80.06,
            pass_through: 50.0,
        }]);
        assert_eq!(
            text.lines().last(),
            Some("| GET one row, anonymous | 50 | 80.1 | 50.0 | 30.1 |")
        );
    }
}
