//! The SQL printer: plans in, statements out. SQL is built as pieces and parameters
//! ([`fragment`]) and rendered to `$1…$n` once; one module per plan kind.

mod call;
mod expr;
pub mod fragment;
mod mutate;
mod read;

pub use fragment::{quote_ident, settings_statement, Sql, Statement};

use crate::api_request::preferences::Count;
use crate::plan::Plan;

/// What the sidecar runs for a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statements {
    /// One result row per row of the page (at least one): `total_result_set`, `page_total`,
    /// `body`, `csv_header`, `response_headers`, `response_status`, `location`, `inserted`.
    pub main: Statement,
    /// `EXPLAIN (FORMAT JSON)` of the count query, for planned and estimated counts.
    pub explain: Option<Statement>,
}

pub fn statements(plan: &Plan<'_>) -> Statements {
    match plan {
        Plan::Read(read) => Statements {
            main: read::read_statement(read).render(),
            explain: matches!(read.count, Some(Count::Planned | Count::Estimated)).then(|| {
                let mut e = Sql::new();
                e.push("EXPLAIN (FORMAT JSON) ")
                    .append(read::count_query(read));
                e.render()
            }),
        },
        Plan::Call(call) => Statements {
            main: call::call_statement(call).render(),
            explain: None,
        },
        Plan::Write(write) => Statements {
            main: mutate::write_statement(write).render(),
            explain: None,
        },
        Plan::Options { .. } => Statements {
            main: Statement::default(),
            explain: None,
        },
    }
}
