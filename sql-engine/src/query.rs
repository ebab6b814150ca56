//! Renders a plan as PostgREST's SQL shape: a `pgrst_source` CTE and one outer row carrying the
//! page count and the JSON body built by PostgreSQL.

use crate::media::Format;
use crate::plan::{Plan, ReadPlan};
use crate::prefer::Count;
use crate::request::{
    Conjunction, Direction, Field, Filter, JsonKey, LogicTree, Nulls, Operation, Operator,
    OrderTerm, Quantifier, SelectItem,
};
use crate::sql::{Sql, Statement};

/// What the sidecar runs for a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statements {
    /// One result row per row of the page (at least one): `total_result_set`, `page_total`,
    /// `body`, `csv_header`, `response_headers`, `response_status`.
    pub main: Statement,
    /// `EXPLAIN (FORMAT JSON)` of the count query, for planned and estimated counts.
    pub explain: Option<Statement>,
}

pub fn statements(plan: &Plan<'_>) -> Statements {
    match plan {
        Plan::Read(read) => Statements {
            main: read_statement(read).render(),
            explain: matches!(read.count, Some(Count::Planned | Count::Estimated)).then(|| {
                let mut e = Sql::new();
                e.push("EXPLAIN (FORMAT JSON) ").append(count_query(read));
                e.render()
            }),
        },
    }
}

/// The main statement alone.
pub fn statement(plan: &Plan<'_>) -> Statement {
    statements(plan).main
}

/// The main read statement. It returns one row per row of the page (at least one row, so an
/// empty page still reports its counts): every row carries the page's row count (a window
/// count, so it is known from the first row on, before any body byte is sent), the total, the
/// row's own text in the negotiated format, and the `response.*` settings. The sidecar joins the
/// rows exactly as `json_agg` would, streaming when the page is large.
fn read_statement(plan: &ReadPlan<'_>) -> Sql {
    let mut q = Sql::new();
    q.push("WITH pgrst_source AS (")
        .append(source_query(plan))
        .push(")");
    // A separate count runs only when the page may hold fewer rows than the whole result.
    let exact_needed = matches!(plan.count, Some(Count::Exact | Count::Estimated));
    let separate_count = exact_needed && (plan.paged || plan.max_rows.is_some());
    if separate_count {
        q.push(", pgrst_source_count AS (")
            .append(count_query(plan));
        if let (Some(Count::Estimated), Some(max)) = (plan.count, plan.max_rows) {
            q.push(" LIMIT ").param(max.saturating_add(1).to_string());
        }
        q.push(")");
    }
    q.push(" SELECT ");
    if separate_count {
        q.push("(SELECT pg_catalog.count(*) FROM pgrst_source_count)");
    } else if exact_needed {
        q.push("coalesce(pgrst_rows.page_total, 0)");
    } else {
        q.push("null::bigint");
    }
    q.push(" AS total_result_set, coalesce(pgrst_rows.page_total, 0) AS page_total, ");
    q.push("pgrst_rows.body AS body, pgrst_rows.csv_header AS csv_header, ");
    q.push("nullif(current_setting('response.headers', true), '') AS response_headers, ");
    q.push("nullif(current_setting('response.status', true), '') AS response_status ");
    q.push("FROM (SELECT 1) pgrst_one LEFT JOIN LATERAL (SELECT pg_catalog.count(*) OVER () AS page_total, ");
    q.push(row_body(plan));
    q.push(" AS body, ");
    q.push(if matches!(plan.format, Format::Csv) && !plan.headers_only {
        "CASE WHEN pg_catalog.row_number() OVER () = 1 THEN (SELECT pg_catalog.string_agg(k, ',') \
         FROM pg_catalog.json_object_keys(row_to_json(_postgrest_t)) AS k) END"
    } else {
        "NULL::text"
    });
    q.push(" AS csv_header FROM (SELECT * FROM pgrst_source) _postgrest_t) pgrst_rows ON true");
    if plan.headers_only {
        // HEAD needs the counts, which the first row carries, and no body.
        q.push(" LIMIT 1");
    }
    q
}

/// One row's text in the negotiated format (the bytes `json_agg` or PostgREST's CSV would
/// hold for it).
fn row_body(plan: &ReadPlan<'_>) -> &'static str {
    if plan.headers_only {
        return "NULL::text";
    }
    match plan.format {
        Format::Json { strip_nulls: false } | Format::Object { strip_nulls: false } => {
            "row_to_json(_postgrest_t)::text"
        }
        Format::Json { strip_nulls: true } | Format::Object { strip_nulls: true } => {
            "json_strip_nulls(row_to_json(_postgrest_t))::text"
        }
        Format::Csv => "substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2)",
        Format::GeoJson => "ST_AsGeoJSON(_postgrest_t)::text",
    }
}

/// `SELECT 1 FROM <table> WHERE <filters>`: what counts rows, without the page.
fn count_query(plan: &ReadPlan<'_>) -> Sql {
    let mut q = Sql::new();
    q.push("SELECT 1 FROM ")
        .append(qualified(plan))
        .append(where_clause(plan));
    q
}

/// ` WHERE <filters AND logic trees>`, or nothing.
fn where_clause(plan: &ReadPlan<'_>) -> Sql {
    let mut q = Sql::new();
    let conditions = plan
        .filters
        .iter()
        .map(|f| filter(plan, f))
        .chain(plan.logic.iter().map(|t| logic_tree(plan, t)));
    for (i, condition) in conditions.enumerate() {
        q.push(if i == 0 { " WHERE " } else { " AND " });
        q.append(condition);
    }
    q
}

/// `"schema"."table"`, the prefix of every column reference.
fn qualified(plan: &ReadPlan<'_>) -> Sql {
    let mut s = Sql::new();
    s.ident(&plan.schema).push(".").ident(&plan.table);
    s
}

fn column(plan: &ReadPlan<'_>, name: &str) -> Sql {
    let mut s = qualified(plan);
    s.push(".").ident(name);
    s
}

/// Whether a column holds JSON (unknown columns are left to PostgreSQL to report).
fn is_json(plan: &ReadPlan<'_>, name: &str) -> bool {
    plan.relation
        .column_type(name)
        .is_none_or(|t| t == "json" || t == "jsonb")
}

/// A column, with its JSON path: keys are text parameters, indexes `$n::int`; a column that is
/// not JSON is turned into JSON first, as PostgREST does.
fn field(plan: &ReadPlan<'_>, f: &Field) -> Sql {
    let mut s = Sql::new();
    if f.json_path.is_empty() {
        return column(plan, &f.name);
    }
    if is_json(plan, &f.name) {
        s.append(column(plan, &f.name));
    } else {
        s.push("to_jsonb(").append(column(plan, &f.name)).push(")");
    }
    for step in &f.json_path {
        s.push(if step.as_text { "->>" } else { "->" });
        match &step.key {
            JsonKey::Key(k) => {
                s.param(k.clone());
            }
            JsonKey::Index(i) => {
                s.param(i.to_string()).push("::int");
            }
        }
    }
    s
}

fn source_query(plan: &ReadPlan<'_>) -> Sql {
    let mut q = Sql::new();
    q.push("SELECT ");
    for (i, item) in plan.select.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.append(select_item(plan, item));
    }
    q.push(" FROM ")
        .append(qualified(plan))
        .append(where_clause(plan));
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

fn select_item(plan: &ReadPlan<'_>, item: &SelectItem) -> Sql {
    match item {
        SelectItem::Star => {
            let mut s = qualified(plan);
            s.push(".*");
            s
        }
        SelectItem::Column {
            field: f,
            alias,
            cast,
        } => {
            let mut s = Sql::new();
            match cast {
                // The type name is restricted to letters, digits and `_` by the grammar.
                Some(ty) => {
                    s.push("CAST(")
                        .append(field(plan, f))
                        .push(" AS ")
                        .push(ty)
                        .push(")");
                }
                None => {
                    s.append(field(plan, f));
                }
            }
            let renamed = cast.is_some() || !f.json_path.is_empty();
            match alias {
                Some(a) => {
                    s.push(" AS ").ident(a);
                }
                None if renamed => {
                    s.push(" AS ").ident(f.output_name());
                }
                None => {}
            }
            s
        }
    }
}

fn filter(plan: &ReadPlan<'_>, f: &Filter) -> Sql {
    let mut s = Sql::new();
    if f.negated {
        s.push("NOT ");
    }
    let target = field(plan, &f.field);
    let like_value = |op: Operator, v: &str| match op {
        Operator::Like | Operator::Ilike => v.replace('*', "%"),
        _ => v.to_string(),
    };
    match &f.operation {
        Operation::Compare(op, value) => {
            s.append(target)
                .push(" ")
                .push(op.sql())
                .push(" ")
                .param(like_value(*op, value));
        }
        Operation::Quantified(op, q, value) => {
            s.append(target).push(" ").push(op.sql());
            s.push(match q {
                Quantifier::Any => " ANY (",
                Quantifier::All => " ALL (",
            });
            s.param(like_value(*op, value)).push(")");
        }
        Operation::Is(v) => {
            s.append(target).push(" IS ").push(v.sql());
        }
        Operation::In(items) => {
            s.append(target)
                .push(" = ANY (")
                .param(array_literal(items))
                .push(")");
        }
        Operation::Fts(op, lang, query) => {
            let is_tsvector = f.field.json_path.is_empty()
                && plan.relation.column_type(&f.field.name) == Some("tsvector");
            if is_tsvector {
                s.append(target);
            } else {
                s.push("to_tsvector(");
                if let Some(l) = lang {
                    s.param(l.clone()).push(", ");
                }
                s.append(target).push(")");
            }
            s.push(" @@ ").push(op.sql_function()).push("(");
            if let Some(l) = lang {
                s.param(l.clone()).push(", ");
            }
            s.param(query.clone()).push(")");
        }
    }
    s
}

fn logic_tree(plan: &ReadPlan<'_>, tree: &LogicTree) -> Sql {
    match tree {
        LogicTree::Filter(f) => filter(plan, f),
        LogicTree::Node {
            negated,
            conjunction,
            children,
        } => {
            let mut s = Sql::new();
            if *negated {
                s.push("NOT ");
            }
            s.push("(");
            let joiner = match conjunction {
                Conjunction::And => " AND ",
                Conjunction::Or => " OR ",
            };
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    s.push(joiner);
                }
                s.append(logic_tree(plan, child));
            }
            s.push(")");
            s
        }
    }
}

/// A PostgreSQL array literal `{"a","b"}`; every element quoted, `"` and `\` escaped.
fn array_literal(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| format!("\"{}\"", i.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

fn order_term(plan: &ReadPlan<'_>, term: &OrderTerm) -> Sql {
    let mut s = field(plan, &term.field);
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
