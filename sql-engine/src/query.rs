//! Renders a plan as PostgREST's SQL shape: a `pgrst_source` CTE and one outer row carrying the
//! page count and the JSON body built by PostgreSQL.

use crate::plan::{Plan, ReadPlan};
use crate::request::{Direction, Filter, Nulls, Operation, Operator, OrderTerm, SelectItem};
use crate::sql::{Sql, Statement};

/// The main statement for a plan. Its one result row has the columns `total_result_set`,
/// `page_total`, `body`, `response_headers`, `response_status`.
pub fn statement(plan: &Plan) -> Statement {
    match plan {
        Plan::Read(read) => read_statement(read).render(),
    }
}

fn read_statement(plan: &ReadPlan) -> Sql {
    let mut q = Sql::new();
    q.push("WITH pgrst_source AS (")
        .append(source_query(plan))
        .push(") ");
    q.push(
        "SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ",
    );
    if plan.headers_only {
        q.push("''::text AS body, ");
    } else {
        q.push("coalesce(json_agg(_postgrest_t), '[]')::text AS body, ");
    }
    q.push("nullif(current_setting('response.headers', true), '') AS response_headers, ");
    q.push("nullif(current_setting('response.status', true), '') AS response_status ");
    q.push("FROM (SELECT * FROM pgrst_source) _postgrest_t");
    q
}

/// `"schema"."table"`, the prefix of every column reference.
fn qualified(plan: &ReadPlan) -> Sql {
    let mut s = Sql::new();
    s.ident(&plan.schema).push(".").ident(&plan.table);
    s
}

fn column(plan: &ReadPlan, name: &str) -> Sql {
    let mut s = qualified(plan);
    s.push(".").ident(name);
    s
}

fn source_query(plan: &ReadPlan) -> Sql {
    let mut q = Sql::new();
    q.push("SELECT ");
    for (i, item) in plan.select.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.append(select_item(plan, item));
    }
    q.push(" FROM ").append(qualified(plan));
    for (i, f) in plan.filters.iter().enumerate() {
        q.push(if i == 0 { " WHERE " } else { " AND " });
        q.append(filter(plan, f));
    }
    for (i, term) in plan.order.iter().enumerate() {
        q.push(if i == 0 { " ORDER BY " } else { ", " });
        q.append(order_term(plan, term));
    }
    if let Some(limit) = plan.limit {
        q.push(" LIMIT ").param(limit.to_string());
    }
    if plan.offset > 0 {
        q.push(" OFFSET ").param(plan.offset.to_string());
    }
    q
}

fn select_item(plan: &ReadPlan, item: &SelectItem) -> Sql {
    match item {
        SelectItem::Star => {
            let mut s = qualified(plan);
            s.push(".*");
            s
        }
        SelectItem::Column { name, alias, cast } => {
            let mut s = Sql::new();
            match cast {
                // The type name is restricted to letters, digits and `_` by the grammar.
                Some(ty) => {
                    s.push("CAST(")
                        .append(column(plan, name))
                        .push(" AS ")
                        .push(ty)
                        .push(")");
                    s.push(" AS ").ident(alias.as_deref().unwrap_or(name));
                }
                None => {
                    s.append(column(plan, name));
                    if let Some(a) = alias {
                        s.push(" AS ").ident(a);
                    }
                }
            }
            s
        }
    }
}

fn filter(plan: &ReadPlan, f: &Filter) -> Sql {
    let mut s = Sql::new();
    if f.negated {
        s.push("NOT ");
    }
    s.append(column(plan, &f.column));
    match &f.operation {
        Operation::Compare(op, value) => {
            s.push(" ").push(op.sql()).push(" ");
            match op {
                Operator::Like | Operator::Ilike => s.param(value.replace('*', "%")),
                _ => s.param(value.clone()),
            };
        }
        Operation::Is(v) => {
            s.push(" IS ").push(v.sql());
        }
        Operation::In(items) => {
            s.push(" = ANY (").param(array_literal(items)).push(")");
        }
    }
    s
}

/// A PostgreSQL array literal `{"a","b"}`; every element quoted, `"` and `\` escaped.
fn array_literal(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| format!("\"{}\"", i.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

fn order_term(plan: &ReadPlan, term: &OrderTerm) -> Sql {
    let mut s = column(plan, &term.column);
    match term.direction {
        Some(Direction::Asc) => s.push(" ASC"),
        Some(Direction::Desc) => s.push(" DESC"),
        None => &mut s,
    };
    match term.nulls {
        Some(Nulls::First) => s.push(" NULLS FIRST"),
        Some(Nulls::Last) => s.push(" NULLS LAST"),
        None => &mut s,
    };
    s
}
