//! Writes: the body as one parameter PostgreSQL turns into rows, the mutation in the CTE
//! `pgrst_mutation`, its `RETURNING` rows read like a relation.

use crate::api_request::preferences::{Resolution, Return};
use crate::api_request::Mutation;
use crate::plan::WritePlan;

use super::expr::where_clause;
use super::fragment::Sql;
use super::read::{outer_statement, source_query, NO_INSERTED, RESPONSE_SETTINGS};

/// `inserted` of an upsert: how many rows it inserted rather than updated.
pub(super) const INSERTED: &str = "nullif(current_setting('pgrst.inserted', true), '')";

/// Counts the rows an upsert tries to insert (`+ 1`) and those it updates instead (`- 1`).
pub(super) const INSERTED_UP: &str = "pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) + 1)::text, true) IS NOT NULL";

pub(super) const INSERTED_DOWN: &str = "pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) - 1)::text, true) IS NOT NULL";

/// A write, as PostgREST shapes it: the body is one parameter that PostgreSQL turns into rows
/// (`pgrst_payload`), the mutation runs in the CTE `pgrst_mutation`, and its `RETURNING` rows
/// are read like a relation for the response.
pub(super) fn write_statement(w: &WritePlan<'_>) -> Sql {
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

/// The body's rows: each array element (`pgrst_elem.v`) as a record of the written columns
/// (`pgrst_body`), typed as the columns are.
pub(super) fn body_rows(w: &WritePlan<'_>, first_only: bool) -> Sql {
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
pub(super) fn written_value(w: &WritePlan<'_>, c: &crate::schema_cache::Column) -> Sql {
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

pub(super) fn mutation(w: &WritePlan<'_>) -> Sql {
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
