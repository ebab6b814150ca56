//! The read shape: a `pgrst_source` CTE and one outer row per page row carrying the counts,
//! the row's text in the negotiated format and the `response.*` settings. Embedded resources
//! are lateral subqueries of the same shape, so they live here too.

use crate::api_request::preferences::Count;
use crate::api_request::AggregateFunction;
use crate::media::Format;
use crate::plan::{EmbedPlan, PlannedField, PlannedSelect, ReadPlan, Source, TypeName};
use crate::schema_cache::relationships::Relationship;

use super::expr::{cast_field, column, field, filter, order_term, qualified, where_clause};
use super::fragment::Sql;

/// The main read statement. It returns one row per row of the page (at least one row, so an
/// empty page still reports its counts): every row carries the page's row count (a window
/// count, so it is known from the first row on, before any body byte is sent), the total, the
/// row's own text in the negotiated format, and the `response.*` settings. The sidecar joins the
/// rows exactly as `json_agg` would, streaming when the page is large.
pub(super) fn read_statement(plan: &ReadPlan<'_>) -> Sql {
    let mut ctes = Sql::new();
    ctes.push("pgrst_source AS (")
        .append(source_query(plan))
        .push(")");
    outer_statement(plan, ctes, NO_INSERTED)
}

/// The outer statement over the CTE `pgrst_source` (the page, or a write's returned rows),
/// after the CTEs `ctes`.
pub(super) fn outer_statement(plan: &ReadPlan<'_>, ctes: Sql, inserted: &str) -> Sql {
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
pub(super) const RESPONSE_SETTINGS: &str =
    "nullif(current_setting('response.headers', true), '') AS response_headers, \
     nullif(current_setting('response.status', true), '') AS response_status, ";

/// `inserted` of a statement that is not an upsert.
pub(super) const NO_INSERTED: &str = "NULL::text";

/// One row's text in the negotiated format (the bytes `json_agg` or PostgREST's CSV would
/// hold for it).
pub(super) fn row_body(plan: &ReadPlan<'_>) -> &'static str {
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
pub(super) fn count_query(plan: &ReadPlan<'_>) -> Sql {
    let mut q = Sql::new();
    q.push("SELECT 1 FROM ").append(from_item(plan));
    for e in plan.embeds.iter().filter(|e| e.filters_parent) {
        q.append(lateral_join(plan, e));
    }
    q.append(where_clause(plan));
    q
}

pub(super) fn source_query(plan: &ReadPlan<'_>) -> Sql {
    node_query(plan, None)
}

/// `"schema"."table"`, with ` AS "alias"` inside embeds; a write's returned rows come from
/// its `RETURNING`.
pub(super) fn from_item(plan: &ReadPlan<'_>) -> Sql {
    let mut s = Sql::new();
    match plan.source {
        Source::Relation => s.ident(&plan.schema).push(".").ident(&plan.table),
        Source::Mutation => s.push("pgrst_mutation"),
        Source::CallRows => s.push("pgrst_rows"),
    };
    if let Some(alias) = &plan.alias {
        s.push(" AS ").ident(alias);
    }
    s
}

/// The query of one node of the embedding tree: its columns and embeds, lateral joins for the
/// embeds, its filters and, for an embedded node, the conditions tying it to the parent row.
pub(super) fn node_query(plan: &ReadPlan<'_>, link: Option<Link<'_>>) -> Sql {
    let mut q = Sql::new();
    q.push("SELECT ");
    for (i, item) in plan.select.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.append(select_item(plan, item));
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

pub(super) fn select_item(plan: &ReadPlan<'_>, item: &PlannedSelect<'_>) -> Sql {
    match item {
        PlannedSelect::Aggregate {
            function,
            field,
            input_cast,
            result_cast,
            output,
        } => aggregate(
            plan,
            *function,
            field.as_ref(),
            input_cast.as_ref(),
            result_cast.as_ref(),
            output,
        ),
        PlannedSelect::Embed(i) => plan.embeds.get(*i).map(embed_output).unwrap_or_default(),
        PlannedSelect::Star => {
            let mut s = qualified(plan);
            s.push(".*");
            s
        }
        PlannedSelect::Field {
            field: f,
            cast,
            output,
            rename,
        } => {
            let mut s = cast_field(plan, f, cast.as_ref());
            if *rename {
                s.push(" AS ").ident(output);
            }
            s
        }
    }
}

/// An aggregate: `SUM(CAST(col AS t))`, `COUNT("s"."t".*)` for a bare `count()`, its result
/// cast, named by its alias or its function.
pub(super) fn aggregate(
    plan: &ReadPlan<'_>,
    function: AggregateFunction,
    target: Option<&PlannedField<'_>>,
    input_cast: Option<&TypeName>,
    result_cast: Option<&TypeName>,
    output: &str,
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
                .push(ty.as_str())
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
        s.push(" AS ").push(ty.as_str()).push(")");
    }
    s.push(" AS ").ident(output);
    s
}

/// With aggregates in the select, the other items are what rows are grouped by.
pub(super) fn group_by(plan: &ReadPlan<'_>) -> Sql {
    let mut s = Sql::new();
    if !plan
        .select
        .iter()
        .any(|i| matches!(i, PlannedSelect::Aggregate { .. }))
    {
        return s;
    }
    let mut keys: Vec<Sql> = Vec::new();
    for item in &plan.select {
        match item {
            PlannedSelect::Star => {
                keys.extend(plan.relation.columns.iter().map(|c| column(plan, &c.name)))
            }
            PlannedSelect::Field { field: f, cast, .. } => {
                keys.push(cast_field(plan, f, cast.as_ref()));
            }
            PlannedSelect::Embed(i) => {
                if let Some(e) = plan.embeds.get(*i) {
                    let mut k = Sql::new();
                    k.ident(&e.lateral);
                    let to_one = e.relationship.cardinality.to_one();
                    match &e.spread {
                        Some(columns) if !to_one => {
                            k.push(".\"pgrst_n\"");
                            for name in columns {
                                k.push(", ").ident(&e.lateral).push(".").ident(name);
                            }
                        }
                        _ if !to_one => {
                            k.push(".").ident(&e.lateral);
                        }
                        _ => {}
                    }
                    keys.push(k);
                }
            }
            PlannedSelect::Aggregate { .. } => {}
        }
    }
    for (i, key) in keys.into_iter().enumerate() {
        s.push(if i == 0 { " GROUP BY " } else { ", " });
        s.append(key);
    }
    s
}

/// How an embedded node is tied to its parent row.
pub(super) struct Link<'p> {
    relationship: &'p Relationship<'p>,
    /// What the parent's columns are qualified with.
    parent: Sql,
    /// The parent's whole row (for computed relationships).
    parent_row: Sql,
}

/// `LEFT JOIN LATERAL (…) AS "lateral" ON …` for one embed (INNER with `!inner`).
pub(super) fn lateral_join(parent: &ReadPlan<'_>, e: &EmbedPlan<'_>) -> Sql {
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
    } else if let Some(columns) = &e.spread {
        // One array per spread column.
        s.push("SELECT ");
        for (i, name) in columns.iter().enumerate() {
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

/// The embed's column(s) in its parent's select: an object (or null) for to-one, an array
/// (`[]` when empty) for to-many; a spread brings the embed's own columns instead (arrays of
/// values for to-many).
pub(super) fn embed_output(e: &EmbedPlan<'_>) -> Sql {
    let mut s = Sql::new();
    if let Some(columns) = &e.spread {
        for (i, name) in columns.iter().enumerate() {
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
