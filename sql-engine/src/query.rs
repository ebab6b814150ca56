//! Renders a plan as PostgREST's SQL shape: a `pgrst_source` CTE and one outer row carrying the
//! page count and the JSON body built by PostgreSQL.

use crate::media::Format;
use crate::plan::{CallArgs, CallPlan, EmbedPlan, Plan, ReadPlan, WritePlan};
use crate::prefer::{Count, Resolution, Return};
use crate::relations::Relationship;
use crate::request::{
    AggregateFunction, Conjunction, Direction, Field, Filter, JsonKey, LogicTree, Mutation, Nulls,
    Operation, Operator, OrderTerm, Quantifier, SelectItem,
};
use crate::sql::{array_literal, Sql, Statement};

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
            main: read_statement(read).render(),
            explain: matches!(read.count, Some(Count::Planned | Count::Estimated)).then(|| {
                let mut e = Sql::new();
                e.push("EXPLAIN (FORMAT JSON) ").append(count_query(read));
                e.render()
            }),
        },
        Plan::Call(call) => Statements {
            main: call_statement(call).render(),
            explain: None,
        },
        Plan::Write(write) => Statements {
            main: write_statement(write).render(),
            explain: None,
        },
        Plan::Options { .. } => Statements {
            main: Statement::default(),
            explain: None,
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
    let mut ctes = Sql::new();
    ctes.push("pgrst_source AS (")
        .append(source_query(plan))
        .push(")");
    outer_statement(plan, ctes, NO_INSERTED)
}

/// The outer statement over the CTE `pgrst_source` (the page, or a write's returned rows),
/// after the CTEs `ctes`.
fn outer_statement(plan: &ReadPlan<'_>, ctes: Sql, inserted: &str) -> Sql {
    let mut q = Sql::new();
    q.push("WITH ").append(ctes);
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
    q.push(RESPONSE_SETTINGS);
    q.push("NULL::text AS location, ")
        .push(inserted)
        .push(" AS inserted ");
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

/// The `response.headers` and `response.status` columns every main statement returns.
const RESPONSE_SETTINGS: &str =
    "nullif(current_setting('response.headers', true), '') AS response_headers, \
     nullif(current_setting('response.status', true), '') AS response_status, ";

/// `inserted` of a statement that is not an upsert.
const NO_INSERTED: &str = "NULL::text";
/// `inserted` of an upsert: how many rows it inserted rather than updated.
const INSERTED: &str = "nullif(current_setting('pgrst.inserted', true), '')";
/// Counts the rows an upsert tries to insert (`+ 1`) and those it updates instead (`- 1`).
const INSERTED_UP: &str = "pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) + 1)::text, true) IS NOT NULL";
const INSERTED_DOWN: &str = "pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) - 1)::text, true) IS NOT NULL";

/// A write, as PostgREST shapes it: the body is one parameter that PostgreSQL turns into rows
/// (`pgrst_payload`), the mutation runs in the CTE `pgrst_mutation`, and its `RETURNING` rows
/// are read like a relation for the response.
fn write_statement(w: &WritePlan<'_>) -> Sql {
    let mut ctes = Sql::new();
    let reads_body = match w.mutation {
        Mutation::Insert | Mutation::Put => true,
        Mutation::Update => !w.columns.is_empty(),
        Mutation::Delete => false,
    };
    if reads_body {
        ctes.push(
            "pgrst_payload AS (SELECT CASE pg_catalog.json_typeof(pgrst_p.v) \
             WHEN 'array' THEN pgrst_p.v WHEN 'object' THEN pg_catalog.json_build_array(pgrst_p.v) \
             ELSE '[]'::json END AS json_data FROM (SELECT ",
        )
        .body()
        .push("::json AS v) pgrst_p), ");
    }
    ctes.push("pgrst_mutation AS (")
        .append(mutation(w))
        .push(")");
    let inserted = if w
        .conflict
        .as_ref()
        .is_some_and(|(_, r)| *r == Resolution::MergeDuplicates)
    {
        INSERTED
    } else {
        NO_INSERTED
    };
    if w.ret == Return::Representation {
        ctes.push(", pgrst_source AS (")
            .append(source_query(&w.returned))
            .push(")");
        return outer_statement(&w.returned, ctes, inserted);
    }
    // No body: one row with the counts (and the new row's key for `Location`).
    let mut q = Sql::new();
    q.push("WITH ").append(ctes);
    q.push(" SELECT pg_catalog.count(*) AS total_result_set, pg_catalog.count(*) AS page_total, ");
    q.push("NULL::text AS body, NULL::text AS csv_header, ");
    q.push(RESPONSE_SETTINGS);
    let key = &w.target.relation.primary_key;
    if w.ret == Return::HeadersOnly && w.mutation == Mutation::Insert && !key.is_empty() {
        q.push("(SELECT pg_catalog.json_build_array(");
        for (i, k) in key.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("pgrst_loc.").ident(k).push("::text");
        }
        q.push(")::text FROM pgrst_mutation pgrst_loc LIMIT 1)");
    } else {
        q.push("NULL::text");
    }
    q.push(" AS location, ")
        .push(inserted)
        .push(" AS inserted FROM pgrst_mutation");
    q
}

/// A function call, as PostgREST shapes it: the function's rows in the CTE `pgrst_rows`
/// (arguments as typed parameters, or read from the JSON body in `pgrst_args`), then read like
/// a relation. A scalar result is the column `pgrst_scalar`.
fn call_statement(c: &CallPlan<'_>) -> Sql {
    let f = c.function;
    let last = f.args.len().saturating_sub(1);
    let is_variadic = |a: &crate::schema::Argument| {
        f.variadic && f.args.get(last).is_some_and(|l| std::ptr::eq(l, a))
    };
    let mut ctes = Sql::new();
    let mut call = Sql::new();
    call.ident(&f.schema).push(".").ident(&f.name).push("(");
    let mut from_args = false;
    match &c.args {
        CallArgs::Query(args) => {
            for (i, (a, values)) in args.iter().enumerate() {
                if i > 0 {
                    call.push(", ");
                }
                if is_variadic(a) {
                    call.push("VARIADIC ");
                }
                let value = if is_variadic(a) {
                    array_literal(values)
                } else {
                    values.first().cloned().unwrap_or_default()
                };
                // The type comes from the catalog (format_type), never from the client.
                call.ident(&a.name)
                    .push(" := ")
                    .param(value)
                    .push("::")
                    .push(&a.data_type);
            }
        }
        CallArgs::Body(args) if args.is_empty() => {}
        CallArgs::Body(args) => {
            from_args = true;
            // An array body gives its first object, as in PostgREST.
            ctes.push("pgrst_args AS (SELECT pgrst_a.* FROM (SELECT ")
                .body()
                .push(
                    "::json AS v) pgrst_p, LATERAL pg_catalog.json_to_recordset(CASE \
                     pg_catalog.json_typeof(pgrst_p.v) WHEN 'array' THEN pgrst_p.v \
                     ELSE pg_catalog.json_build_array(pgrst_p.v) END) AS pgrst_a(",
                );
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    ctes.push(", ");
                    call.push(", ");
                }
                ctes.ident(&a.name).push(" ").push(&a.data_type);
                if is_variadic(a) {
                    call.push("VARIADIC ");
                }
                call.ident(&a.name).push(" := pgrst_args.").ident(&a.name);
            }
            ctes.push(") LIMIT 1), ");
        }
        CallArgs::Whole(a) => {
            call.body().push("::").push(&a.data_type);
        }
    }
    call.push(")");
    if f.returns_void() {
        ctes.push("pgrst_rows AS (SELECT NULL::text AS pgrst_scalar FROM ");
    } else {
        ctes.push("pgrst_rows AS (SELECT pgrst_call.* FROM ");
    }
    if from_args {
        ctes.push("pgrst_args, LATERAL ");
    }
    ctes.append(call).push(" AS pgrst_call");
    if c.read.scalar && !f.returns_void() {
        ctes.push("(pgrst_scalar)");
    }
    ctes.push("), pgrst_source AS (")
        .append(source_query(&c.read))
        .push(")");
    outer_statement(&c.read, ctes, NO_INSERTED)
}

/// The body's rows: each array element (`pgrst_elem.v`) as a record of the written columns
/// (`pgrst_body`), typed as the columns are.
fn body_rows(w: &WritePlan<'_>, first_only: bool) -> Sql {
    let mut q = Sql::new();
    if first_only {
        q.push("(SELECT pgrst_e.v FROM pgrst_payload, LATERAL pg_catalog.json_array_elements(pgrst_payload.json_data) AS pgrst_e(v) LIMIT 1) AS pgrst_elem");
    } else {
        q.push("pgrst_payload, LATERAL pg_catalog.json_array_elements(pgrst_payload.json_data) AS pgrst_elem(v)");
    }
    if w.columns.is_empty() {
        return q;
    }
    q.push(", LATERAL pg_catalog.json_to_record(pgrst_elem.v) AS pgrst_body(");
    for (i, c) in w.columns.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        // The type comes from the catalog (format_type), never from the client.
        q.ident(&c.name).push(" ").push(&c.data_type);
    }
    q.push(")");
    q
}

/// A written column's value: the body's, or, with `missing=default`, the column's default when
/// the object lacks the key.
fn written_value(w: &WritePlan<'_>, c: &crate::schema::Column) -> Sql {
    let mut s = Sql::new();
    match (&c.default, w.missing_default) {
        (Some(default), true) => {
            s.push("CASE WHEN pgrst_elem.v::jsonb ? ")
                .param(c.name.clone())
                .push(" THEN pgrst_body.")
                .ident(&c.name);
            // The default expression comes from the catalog (pg_get_expr).
            s.push(" ELSE (").push(default).push(") END");
        }
        _ => {
            s.push("pgrst_body.").ident(&c.name);
        }
    }
    s
}

fn mutation(w: &WritePlan<'_>) -> Sql {
    let t = &w.target;
    let mut table = Sql::new();
    table.ident(&t.schema).push(".").ident(&t.table);
    let mut q = Sql::new();
    match w.mutation {
        Mutation::Insert | Mutation::Put => {
            q.push("INSERT INTO ").append(table.clone());
            if !w.columns.is_empty() {
                q.push("(");
                for (i, c) in w.columns.iter().enumerate() {
                    if i > 0 {
                        q.push(", ");
                    }
                    q.ident(&c.name);
                }
                q.push(")");
            }
            q.push(" SELECT ");
            for (i, c) in w.columns.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.append(written_value(w, c));
            }
            q.push(" FROM ").append(body_rows(w, false));
            let merge = w
                .conflict
                .as_ref()
                .filter(|(_, r)| *r == Resolution::MergeDuplicates);
            let mut conditions = Vec::new();
            for (k, v) in &w.put_key {
                let mut c = Sql::new();
                c.push("pgrst_body.").ident(k).push(" = ").param(v.clone());
                conditions.push(c);
            }
            if merge.is_some() {
                let mut c = Sql::new();
                c.push(INSERTED_UP);
                conditions.push(c);
            }
            for (i, c) in conditions.into_iter().enumerate() {
                q.push(if i == 0 { " WHERE " } else { " AND " });
                q.append(c);
            }
            if let Some((keys, resolution)) = &w.conflict {
                q.push(" ON CONFLICT (");
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        q.push(", ");
                    }
                    q.ident(k);
                }
                q.push(")");
                if *resolution == Resolution::IgnoreDuplicates || w.columns.is_empty() {
                    q.push(" DO NOTHING");
                } else {
                    q.push(" DO UPDATE SET ");
                    for (i, c) in w.columns.iter().enumerate() {
                        if i > 0 {
                            q.push(", ");
                        }
                        q.ident(&c.name).push(" = EXCLUDED.").ident(&c.name);
                    }
                    q.push(" WHERE ").push(INSERTED_DOWN);
                }
            }
        }
        Mutation::Update if w.columns.is_empty() => {
            // Nothing to set: a no-op that still has the relation's row type.
            q.push("SELECT ").append(table.clone()).push(".* FROM ");
            q.append(table).push(" WHERE false");
            return q;
        }
        Mutation::Update => {
            q.push("UPDATE ").append(table).push(" SET ");
            for (i, c) in w.columns.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.ident(&c.name).push(" = ").append(written_value(w, c));
            }
            q.push(" FROM ").append(body_rows(w, true));
            q.append(where_clause(t));
        }
        Mutation::Delete => {
            q.push("DELETE FROM ").append(table);
            q.append(where_clause(t));
        }
    }
    q.push(" RETURNING ");
    let key = &t.relation.primary_key;
    match w.ret {
        Return::Representation => {
            q.ident(&t.schema).push(".").ident(&t.table).push(".*");
        }
        Return::HeadersOnly if w.mutation == Mutation::Insert && !key.is_empty() => {
            for (i, k) in key.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.ident(&t.schema)
                    .push(".")
                    .ident(&t.table)
                    .push(".")
                    .ident(k);
            }
        }
        _ => {
            q.push("1");
        }
    }
    q
}

/// One row's text in the negotiated format (the bytes `json_agg` or PostgREST's CSV would
/// hold for it).
fn row_body(plan: &ReadPlan<'_>) -> &'static str {
    if plan.headers_only {
        return "NULL::text";
    }
    if plan.scalar && !matches!(plan.format, Format::Csv) {
        return "coalesce(to_json(_postgrest_t.pgrst_scalar), 'null'::json)::text";
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
/// `!inner` embeds and `rel=is.null` filters take part: they drop parent rows, so they drop
/// counted rows too.
fn count_query(plan: &ReadPlan<'_>) -> Sql {
    let mut q = Sql::new();
    q.push("SELECT 1 FROM ").append(from_item(plan));
    let tested = |e: &&EmbedPlan<'_>| e.inner || plan.embed_nulls.iter().any(|(n, _)| *n == e.name);
    for e in plan.embeds.iter().filter(tested) {
        q.append(lateral_join(plan, e));
    }
    let mut conditions = where_clause(plan);
    for condition in embed_null_conditions(plan) {
        conditions.push(if conditions.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        conditions.append(condition);
    }
    q.append(conditions);
    q
}

/// `rel=is.null` → the embed's lateral row (to-one) or array (to-many) is null.
fn embed_null_conditions(plan: &ReadPlan<'_>) -> Vec<Sql> {
    plan.embed_nulls
        .iter()
        .filter_map(|(name, wants_null)| {
            let e = plan.embeds.iter().find(|e| &e.name == name)?;
            let mut s = Sql::new();
            s.ident(&e.lateral);
            if e.spread && !e.relationship.cardinality.to_one() {
                s.push(if *wants_null {
                    ".\"pgrst_n\" = 0"
                } else {
                    ".\"pgrst_n\" > 0"
                });
                return Some(s);
            }
            if !e.relationship.cardinality.to_one() {
                s.push(".").ident(&e.lateral);
            }
            s.push(if *wants_null {
                " IS NOT DISTINCT FROM NULL"
            } else {
                " IS DISTINCT FROM NULL"
            });
            Some(s)
        })
        .collect()
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
    match &plan.alias {
        Some(alias) => s.ident(alias),
        None => s.ident(&plan.schema).push(".").ident(&plan.table),
    };
    s
}

/// A column, or a computed column: `"schema"."fn"("row")`.
fn column(plan: &ReadPlan<'_>, name: &str) -> Sql {
    if let Some(f) = computed(plan, name) {
        let mut s = Sql::new();
        s.ident(&f.schema).push(".").ident(&f.name).push("(");
        s.ident(plan.alias.as_deref().unwrap_or(&plan.table))
            .push(")");
        return s;
    }
    let mut s = qualified(plan);
    s.push(".").ident(name);
    s
}

/// The computed column `name`, when the relation has no column of that name.
fn computed<'p>(plan: &'p ReadPlan<'_>, name: &str) -> Option<&'p crate::schema::Function> {
    if plan.relation.columns.iter().any(|c| c.name == name) {
        return None;
    }
    plan.computed.iter().find(|f| f.name == name).copied()
}

/// Whether a column holds JSON (unknown columns are left to PostgreSQL to report).
fn is_json(plan: &ReadPlan<'_>, name: &str) -> bool {
    plan.relation
        .column_type(name)
        .is_none_or(|t| t == "json" || t == "jsonb")
}

/// A column, with its JSON path: keys are text parameters, indexes `$n::int`; a column that is
/// not JSON is turned into JSON first, as PostgREST does.
/// A field, cast when the select item asks for it: `CAST(field AS type)`.
fn cast_field(plan: &ReadPlan<'_>, f: &Field, cast: Option<&str>) -> Sql {
    match cast {
        // The type name is restricted to letters, digits and `_` by the grammar.
        Some(ty) => {
            let mut s = Sql::new();
            s.push("CAST(")
                .append(field(plan, f))
                .push(" AS ")
                .push(ty)
                .push(")");
            s
        }
        None => field(plan, f),
    }
}

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
    node_query(plan, None)
}

/// How an embedded node is tied to its parent row.
struct Link<'p> {
    relationship: &'p Relationship<'p>,
    /// What the parent's columns are qualified with.
    parent: Sql,
    /// The parent's whole row (for computed relationships).
    parent_row: Sql,
}

/// `"schema"."table"`, with ` AS "alias"` inside embeds; a write's returned rows come from
/// its `RETURNING`.
fn from_item(plan: &ReadPlan<'_>) -> Sql {
    let mut s = Sql::new();
    if let Some(cte) = plan.source {
        s.push(cte);
    } else {
        s.ident(&plan.schema).push(".").ident(&plan.table);
    }
    if let Some(alias) = &plan.alias {
        s.push(" AS ").ident(alias);
    }
    s
}

/// The query of one node of the embedding tree: its columns and embeds, lateral joins for the
/// embeds, its filters and, for an embedded node, the conditions tying it to the parent row.
fn node_query(plan: &ReadPlan<'_>, link: Option<Link<'_>>) -> Sql {
    let mut q = Sql::new();
    q.push("SELECT ");
    let mut embeds = plan.embeds.iter();
    let mut first = true;
    for item in &plan.select {
        let piece = match item {
            SelectItem::Embed(_) => match embeds.next() {
                Some(e) if e.outputs => embed_output(e),
                _ => continue,
            },
            other => select_item(plan, other),
        };
        if !first {
            q.push(", ");
        }
        first = false;
        q.append(piece);
    }
    q.push(" FROM ");
    match link
        .as_ref()
        .and_then(|l| l.relationship.function.map(|f| (f, l)))
    {
        // A computed relationship: the function's rows for the parent row.
        Some((f, l)) => {
            q.ident(&f.schema)
                .push(".")
                .ident(&f.name)
                .push("(")
                .append(l.parent_row.clone());
            q.push(") AS ")
                .ident(plan.alias.as_deref().unwrap_or(&plan.table));
        }
        None => {
            q.append(from_item(plan));
        }
    }
    let mut conditions: Vec<Sql> = Vec::new();
    if let Some(link) = &link {
        if let Some(j) = &link.relationship.junction {
            q.push(", ")
                .ident(&j.table.schema)
                .push(".")
                .ident(&j.table.name);
            for (junction_col, target_col) in &j.target {
                let mut c = column(plan, target_col);
                c.push(" = ")
                    .ident(&j.table.schema)
                    .push(".")
                    .ident(&j.table.name)
                    .push(".")
                    .ident(junction_col);
                conditions.push(c);
            }
            for (source_col, junction_col) in &j.source {
                let mut c = Sql::new();
                c.ident(&j.table.schema)
                    .push(".")
                    .ident(&j.table.name)
                    .push(".")
                    .ident(junction_col);
                c.push(" = ")
                    .append(link.parent.clone())
                    .push(".")
                    .ident(source_col);
                conditions.push(c);
            }
        }
        for (source_col, target_col) in &link.relationship.columns {
            let mut c = column(plan, target_col);
            c.push(" = ")
                .append(link.parent.clone())
                .push(".")
                .ident(source_col);
            conditions.push(c);
        }
    }
    for e in &plan.embeds {
        q.append(lateral_join(plan, e));
    }
    conditions.extend(plan.filters.iter().map(|f| filter(plan, f)));
    conditions.extend(plan.logic.iter().map(|t| logic_tree(plan, t)));
    conditions.extend(embed_null_conditions(plan));
    for (i, condition) in conditions.into_iter().enumerate() {
        q.push(if i == 0 { " WHERE " } else { " AND " });
        q.append(condition);
    }
    q.append(group_by(plan));
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

/// The names of the columns a node outputs (what a spread brings into its parent).
fn output_columns(plan: &ReadPlan<'_>) -> Vec<String> {
    let mut names = Vec::new();
    let mut embeds = plan.embeds.iter();
    for item in &plan.select {
        match item {
            SelectItem::Star => names.extend(plan.relation.columns.iter().map(|c| c.name.clone())),
            SelectItem::Column { field, alias, .. } => names.push(
                alias
                    .clone()
                    .unwrap_or_else(|| field.output_name().to_string()),
            ),
            SelectItem::Embed(_) => match embeds.next() {
                Some(e) if e.outputs && e.spread => names.extend(output_columns(&e.plan)),
                Some(e) if e.outputs => names.push(e.name.clone()),
                _ => {}
            },
            SelectItem::Aggregate {
                function, alias, ..
            } => names.push(alias.clone().unwrap_or_else(|| function.name().to_string())),
        }
    }
    names
}

/// An aggregate: `SUM(CAST(col AS t))`, `COUNT("s"."t".*)` for a bare `count()`, its result
/// cast, named by its alias or its function.
fn aggregate(
    plan: &ReadPlan<'_>,
    function: AggregateFunction,
    target: Option<&Field>,
    input_cast: Option<&str>,
    result_cast: Option<&str>,
    alias: Option<&str>,
) -> Sql {
    let mut s = Sql::new();
    if result_cast.is_some() {
        s.push("CAST(");
    }
    s.push(&function.name().to_ascii_uppercase()).push("(");
    match (target, input_cast) {
        (Some(f), Some(ty)) => {
            s.push("CAST(")
                .append(field(plan, f))
                .push(" AS ")
                .push(ty)
                .push(")");
        }
        (Some(f), None) => {
            s.append(field(plan, f));
        }
        (None, _) => {
            s.append(qualified(plan)).push(".*");
        }
    }
    s.push(")");
    if let Some(ty) = result_cast {
        s.push(" AS ").push(ty).push(")");
    }
    s.push(" AS ").ident(alias.unwrap_or(function.name()));
    s
}

/// With aggregates in the select, the other items are what rows are grouped by.
fn group_by(plan: &ReadPlan<'_>) -> Sql {
    let mut s = Sql::new();
    if !plan
        .select
        .iter()
        .any(|i| matches!(i, SelectItem::Aggregate { .. }))
    {
        return s;
    }
    let mut keys: Vec<Sql> = Vec::new();
    let mut embeds = plan.embeds.iter();
    for item in &plan.select {
        match item {
            SelectItem::Star => {
                keys.extend(plan.relation.columns.iter().map(|c| column(plan, &c.name)))
            }
            SelectItem::Column { field: f, cast, .. } => {
                keys.push(cast_field(plan, f, cast.as_deref()));
            }
            SelectItem::Embed(_) => {
                if let Some(e) = embeds.next().filter(|e| e.outputs) {
                    let mut k = Sql::new();
                    k.ident(&e.lateral);
                    if e.spread && !e.relationship.cardinality.to_one() {
                        k.push(".\"pgrst_n\"");
                        for name in output_columns(&e.plan) {
                            k.push(", ").ident(&e.lateral).push(".").ident(&name);
                        }
                    } else if !e.relationship.cardinality.to_one() {
                        k.push(".").ident(&e.lateral);
                    }
                    keys.push(k);
                }
            }
            SelectItem::Aggregate { .. } => {}
        }
    }
    for (i, key) in keys.into_iter().enumerate() {
        s.push(if i == 0 { " GROUP BY " } else { ", " });
        s.append(key);
    }
    s
}

/// The embed's column(s) in its parent's select: an object (or null) for to-one, an array
/// (`[]` when empty) for to-many; a spread brings the embed's own columns instead (arrays of
/// values for to-many).
fn embed_output(e: &EmbedPlan<'_>) -> Sql {
    let mut s = Sql::new();
    if e.spread {
        for (i, name) in output_columns(&e.plan).iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            if e.relationship.cardinality.to_one() {
                s.ident(&e.lateral)
                    .push(".")
                    .ident(name)
                    .push(" AS ")
                    .ident(name);
            } else {
                s.push("COALESCE(").ident(&e.lateral).push(".").ident(name);
                s.push(", '[]') AS ").ident(name);
            }
        }
        return s;
    }
    if e.relationship.cardinality.to_one() {
        s.push("row_to_json(")
            .ident(&e.lateral)
            .push(".*)::jsonb AS ")
            .ident(&e.name);
    } else {
        s.push("COALESCE(")
            .ident(&e.lateral)
            .push(".")
            .ident(&e.lateral)
            .push(", '[]') AS ")
            .ident(&e.name);
    }
    s
}

/// `LEFT JOIN LATERAL (…) AS "lateral" ON …` for one embed (INNER with `!inner`).
fn lateral_join(parent: &ReadPlan<'_>, e: &EmbedPlan<'_>) -> Sql {
    let mut parent_row = Sql::new();
    parent_row.ident(parent.alias.as_deref().unwrap_or(&parent.table));
    let link = Link {
        relationship: &e.relationship,
        parent: qualified(parent),
        parent_row,
    };
    let child = node_query(&e.plan, Some(link));
    let mut s = Sql::new();
    s.push(if e.inner {
        " INNER JOIN LATERAL ("
    } else {
        " LEFT JOIN LATERAL ("
    });
    if e.relationship.cardinality.to_one() {
        s.append(child)
            .push(") AS ")
            .ident(&e.lateral)
            .push(" ON TRUE");
    } else if e.spread {
        // One array per spread column.
        s.push("SELECT ");
        for (i, name) in output_columns(&e.plan).iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.push("json_agg(").ident(&e.lateral).push(".").ident(name);
            s.push(")::jsonb AS ").ident(name);
        }
        // `pgrst_n`: how many rows the spread gathered, for `!inner`, `is.null` and GROUP BY.
        s.push(", pg_catalog.count(*) AS \"pgrst_n\"");
        s.push(" FROM (")
            .append(child)
            .push(") AS ")
            .ident(&e.lateral);
        s.push(") AS ").ident(&e.lateral);
        if e.inner {
            s.push(" ON ").ident(&e.lateral).push(".\"pgrst_n\" > 0");
        } else {
            s.push(" ON TRUE");
        }
    } else {
        s.push("SELECT json_agg(")
            .ident(&e.lateral)
            .push(")::jsonb AS ")
            .ident(&e.lateral);
        s.push(" FROM (")
            .append(child)
            .push(") AS ")
            .ident(&e.lateral);
        s.push(") AS ").ident(&e.lateral);
        if e.inner {
            s.push(" ON ")
                .ident(&e.lateral)
                .push(".")
                .ident(&e.lateral)
                .push(" IS NOT NULL");
        } else {
            s.push(" ON TRUE");
        }
    }
    s
}

fn select_item(plan: &ReadPlan<'_>, item: &SelectItem) -> Sql {
    match item {
        SelectItem::Aggregate {
            function,
            field,
            input_cast,
            result_cast,
            alias,
        } => aggregate(
            plan,
            *function,
            field.as_ref(),
            input_cast.as_deref(),
            result_cast.as_deref(),
            alias.as_deref(),
        ),
        // Embeds are rendered from their plans by `node_query`.
        SelectItem::Embed(_) => Sql::new(),
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
            let mut s = cast_field(plan, f, cast.as_deref());
            let renamed =
                cast.is_some() || !f.json_path.is_empty() || computed(plan, &f.name).is_some();
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

fn order_term(plan: &ReadPlan<'_>, term: &OrderTerm) -> Sql {
    let mut s = match term
        .embed
        .as_ref()
        .and_then(|name| plan.embeds.iter().find(|e| &e.name == name))
    {
        // `rel(col)`: the column of the to-one embed's lateral row.
        Some(e) => {
            let mut s = Sql::new();
            s.ident(&e.lateral).push(".").ident(&term.field.name);
            s
        }
        None => field(plan, &term.field),
    };
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
