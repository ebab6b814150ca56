//! Schema introspection: the relations and columns of the exposed schemas, read in one
//! read-only transaction, versioned by a hash of the content.

use deadpool_postgres::Pool;
use sha2::{Digest, Sha256};
use sql_engine::schema_cache::ViewColumn;
use sql_engine::schema_cache::{Argument, Column, ForeignKey, Function, SchemaCache, Table};

use crate::db::pool_error;

const RELATIONS: &str = "
select n.nspname::text, c.relname::text, a.attname::text,
       pg_catalog.format_type(a.atttypid, a.atttypmod), not a.attnotnull,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid), pg_catalog.col_description(c.oid, a.attnum),
       c.relkind::text, pg_catalog.pg_relation_is_updatable(c.oid, true),
       pg_catalog.obj_description(c.oid, 'pg_class')
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where c.relkind in ('r', 'v', 'm', 'f', 'p') and n.nspname::text = any($1::text[])
order by 1, 2, a.attnum";

/// Primary keys and unique constraints: schema, table, kind ('p' or 'u'), columns in key order.
const KEYS: &str = "
select n.nspname::text, c.relname::text, k.contype::text,
       array(select a.attname::text from unnest(k.conkey) with ordinality u(attnum, i)
             join pg_catalog.pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum
             order by u.i)
from pg_catalog.pg_constraint k
join pg_catalog.pg_class c on c.oid = k.conrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where k.contype in ('p', 'u') and n.nspname::text = any($1::text[])
order by 1, 2, k.conname";

/// Foreign keys whose table or referenced table is exposed, with their columns paired in order.
const FOREIGN_KEYS: &str = "
select k.conname::text, n.nspname::text, c.relname::text,
       array(select a.attname::text from unnest(k.conkey) with ordinality u(attnum, i)
             join pg_catalog.pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum
             order by u.i),
       rn.nspname::text, rc.relname::text,
       array(select a.attname::text from unnest(k.confkey) with ordinality u(attnum, i)
             join pg_catalog.pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.attnum
             order by u.i)
from pg_catalog.pg_constraint k
join pg_catalog.pg_class c on c.oid = k.conrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_class rc on rc.oid = k.confrelid
join pg_catalog.pg_namespace rn on rn.oid = rc.relnamespace
where k.contype = 'f' and (n.nspname::text = any($1::text[]) or rn.nspname::text = any($1::text[]))
order by 2, 3, 1";

/// View columns that are plain references to another relation's column, from the view's
/// rewrite rule (the target entries' `resorigtbl`/`resorigcol`), as PostgREST reads them.
/// Only names that are columns of the view count; later matches win for a name (the view's own
/// target list comes after its range table), so the rows keep their order.
const VIEW_COLUMNS: &str = r"
select vn.nspname::text, vc.relname::text,
       regexp_replace(m[1], '\\(.)', '\1', 'g'),
       tn.nspname::text, tc.relname::text, ta.attname::text
from pg_catalog.pg_rewrite r
join pg_catalog.pg_class vc on vc.oid = r.ev_class and vc.relkind in ('v', 'm')
join pg_catalog.pg_namespace vn on vn.oid = vc.relnamespace
cross join lateral regexp_matches(r.ev_action::text,
  ':resname (.*?) :ressortgroupref \d+ :resorigtbl (\d+) :resorigcol (\d+) :resjunk', 'g')
  with ordinality as mm(m, n)
join pg_catalog.pg_class tc on tc.oid = m[2]::oid
join pg_catalog.pg_namespace tn on tn.oid = tc.relnamespace
join pg_catalog.pg_attribute ta on ta.attrelid = tc.oid and ta.attnum = m[3]::int
join pg_catalog.pg_attribute va on va.attrelid = vc.oid and va.attnum > 0
  and va.attname::text = regexp_replace(m[1], '\\(.)', '\1', 'g')
where r.rulename = '_RETURN' and vn.nspname::text = any($1::text[])
order by vn.nspname, vc.relname, n";

/// Functions of the exposed schemas: input arguments (name, type, has a default), result, the
/// relation a composite result or the first argument belongs to, volatility, `SET` clauses.
const FUNCTIONS: &str = "
select n.nspname::text, p.proname::text,
       coalesce(p.proargnames, '{}'::text[]),
       coalesce(p.proargmodes::text[], '{}'::text[]),
       array(select pg_catalog.format_type(t, null) from unnest(p.proargtypes::oid[]) with ordinality u(t, o) order by o),
       p.pronargdefaults::int, p.provariadic <> 0, p.proretset,
       pg_catalog.format_type(p.prorettype, null),
       rn.nspname::text, rc.relname::text,
       p.provolatile::text,
       an.nspname::text, ac.relname::text,
       p.prorows::float8,
       rt.typtype = 'c' or coalesce(p.proargmodes::text[] && array['o', 'b', 't'], false),
       coalesce(p.proconfig, '{}'::text[])
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_type rt on rt.oid = p.prorettype
left join pg_catalog.pg_class rc on rc.oid = rt.typrelid and rc.relkind in ('r', 'v', 'm', 'f', 'p')
left join pg_catalog.pg_namespace rn on rn.oid = rc.relnamespace
left join pg_catalog.pg_type at on at.oid = (p.proargtypes::oid[])[0]
left join pg_catalog.pg_class ac on ac.oid = at.typrelid and ac.relkind in ('r', 'v', 'm', 'f', 'p')
left join pg_catalog.pg_namespace an on an.oid = ac.relnamespace
where p.prokind = 'f' and n.nspname::text = any($1::text[])
order by 1, 2";

/// Settings roles carry (`ALTER ROLE … [IN DATABASE …] SET`), database-specific ones last so
/// that they win.
const ROLE_SETTINGS: &str = "
select r.rolname::text, s.setconfig::text[]
from pg_catalog.pg_db_role_setting s
join pg_catalog.pg_roles r on r.oid = s.setrole
where s.setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
order by r.rolname, s.setdatabase";

/// Every role's name: the filter refuses a token whose role is not one of them, as PostgreSQL
/// would at `SET ROLE`, without sending a statement.
const ROLES: &str = "select rolname::text from pg_catalog.pg_roles";

/// An error with PostgreSQL's own message, when it has one.
fn describe(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

pub async fn load(pool: &Pool, schemas: &[String]) -> Result<SchemaCache, String> {
    let mut client = pool.get().await.map_err(|e| pool_error(e).to_string())?;
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(describe)?;
    let rows = tx.query(RELATIONS, &[&schemas]).await.map_err(describe)?;
    let keys = tx.query(KEYS, &[&schemas]).await.map_err(describe)?;
    let fk_rows = tx
        .query(FOREIGN_KEYS, &[&schemas])
        .await
        .map_err(describe)?;
    let view_rows = tx
        .query(VIEW_COLUMNS, &[&schemas])
        .await
        .map_err(describe)?;
    let function_rows = tx.query(FUNCTIONS, &[&schemas]).await.map_err(describe)?;
    let role_rows = tx.query(ROLE_SETTINGS, &[]).await.map_err(describe)?;
    let role_names = tx.query(ROLES, &[]).await.map_err(describe)?;
    let postgis: bool = tx
        .query_one(
            "select exists (select 1 from pg_catalog.pg_extension where extname = 'postgis')",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(describe)?;
    tx.commit().await.map_err(describe)?;

    let mut tables: Vec<Table> = Vec::new();
    for row in rows {
        let schema: String = row.try_get(0).map_err(describe)?;
        let name: String = row.try_get(1).map_err(describe)?;
        let is_new = tables
            .last()
            .is_none_or(|t| t.schema != schema || t.name != name);
        if is_new {
            let kind: String = row.try_get(7).map_err(describe)?;
            // pg_relation_is_updatable: bit 8 insert, 4 update, 16 delete.
            let updatable: i32 = row.try_get(8).map_err(describe)?;
            let table_like = kind == "r" || kind == "p";
            tables.push(Table {
                schema,
                name,
                columns: Vec::new(),
                insertable: table_like || updatable & 8 != 0,
                updatable: table_like || updatable & 4 != 0,
                deletable: table_like || updatable & 16 != 0,
                description: row.try_get(9).map_err(describe)?,
                ..Default::default()
            });
        }
        let column: Option<String> = row.try_get(2).map_err(describe)?;
        if let (Some(name), Some(table)) = (column, tables.last_mut()) {
            table.columns.push(Column {
                name,
                data_type: row
                    .try_get::<_, Option<String>>(3)
                    .map_err(describe)?
                    .unwrap_or_default(),
                nullable: row
                    .try_get::<_, Option<bool>>(4)
                    .map_err(describe)?
                    .unwrap_or(true),
                default: row.try_get(5).map_err(describe)?,
                description: row.try_get(6).map_err(describe)?,
            });
        }
    }
    let position: std::collections::HashMap<(String, String), usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| ((t.schema.clone(), t.name.clone()), i))
        .collect();
    for row in keys {
        let schema: String = row.try_get(0).map_err(describe)?;
        let name: String = row.try_get(1).map_err(describe)?;
        let kind: String = row.try_get(2).map_err(describe)?;
        let columns: Vec<String> = row.try_get(3).map_err(describe)?;
        if let Some(t) = position
            .get(&(schema, name))
            .and_then(|&i| tables.get_mut(i))
        {
            if kind == "p" {
                t.primary_key = columns;
            } else {
                t.unique_keys.push(columns);
            }
        }
    }
    let mut foreign_keys = Vec::with_capacity(fk_rows.len());
    for row in fk_rows {
        let text = |i: usize| -> Result<String, String> { row.try_get(i).map_err(describe) };
        let list = |i: usize| -> Result<Vec<String>, String> { row.try_get(i).map_err(describe) };
        foreign_keys.push(ForeignKey {
            name: text(0)?,
            schema: text(1)?,
            table: text(2)?,
            columns: list(3)?,
            ref_schema: text(4)?,
            ref_table: text(5)?,
            ref_columns: list(6)?,
        });
    }
    let mut view_columns = Vec::with_capacity(view_rows.len());
    for row in view_rows {
        let text = |i: usize| -> Result<String, String> { row.try_get(i).map_err(describe) };
        view_columns.push(ViewColumn {
            view_schema: text(0)?,
            view: text(1)?,
            column: text(2)?,
            source_schema: text(3)?,
            source: text(4)?,
            source_column: text(5)?,
        });
    }
    let mut functions = Vec::with_capacity(function_rows.len());
    for row in function_rows {
        let text = |i: usize| -> Result<String, String> { row.try_get(i).map_err(describe) };
        let opt = |i: usize| -> Result<Option<String>, String> { row.try_get(i).map_err(describe) };
        let list = |i: usize| -> Result<Vec<String>, String> { row.try_get(i).map_err(describe) };
        let (names, modes, types) = (list(2)?, list(3)?, list(4)?);
        // Names of the input arguments: all of them, or those whose mode is in, inout or variadic.
        let input_names: Vec<String> = if modes.is_empty() {
            names.clone()
        } else {
            names
                .iter()
                .zip(modes.iter())
                .filter(|(_, m)| matches!(m.as_str(), "i" | "b" | "v"))
                .map(|(n, _)| n.clone())
                .collect()
        };
        let defaults = usize::try_from(row.try_get::<_, i32>(5).map_err(describe)?).unwrap_or(0);
        let first_default = types.len().saturating_sub(defaults);
        let args = types
            .iter()
            .enumerate()
            .map(|(i, t)| Argument {
                name: input_names.get(i).cloned().unwrap_or_default(),
                data_type: t.clone(),
                has_default: i >= first_default,
            })
            .collect();
        let pair = |a: Option<String>, b: Option<String>| a.zip(b);
        functions.push(Function {
            schema: text(0)?,
            name: text(1)?,
            args,
            variadic: row.try_get(6).map_err(describe)?,
            returns_set: row.try_get(7).map_err(describe)?,
            return_type: text(8)?,
            returns_relation: pair(opt(9)?, opt(10)?),
            volatility: text(11)?,
            first_arg_relation: pair(opt(12)?, opt(13)?),
            rows: row.try_get::<_, f64>(14).map_err(describe)?.max(0.0) as u64,
            returns_composite: row.try_get(15).map_err(describe)?,
            // `name=value`, as PostgreSQL stores them.
            settings: list(16)?
                .iter()
                .filter_map(|s| s.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    }
    let mut cache = SchemaCache::new(String::new(), tables);
    cache.functions = functions;
    for row in role_rows {
        let role: String = row.try_get(0).map_err(describe)?;
        let config: Vec<String> = row.try_get(1).map_err(describe)?;
        let settings: Vec<(String, String)> = config
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match cache.role_settings.iter_mut().find(|(r, _)| *r == role) {
            Some((_, existing)) => existing.extend(settings),
            None => cache.role_settings.push((role, settings)),
        }
    }
    cache.roles = Some(
        role_names
            .iter()
            .map(|row| row.try_get(0).map_err(describe))
            .collect::<Result<_, _>>()?,
    );
    cache.postgis = postgis;
    cache.foreign_keys = foreign_keys;
    cache.infer_view_keys(&view_columns);
    // The version is a hash of everything the filter plans with.
    let content = serde_json::to_vec(&cache).map_err(|e| e.to_string())?;
    cache.version = hex::encode(&Sha256::digest(&content)[..8]);
    Ok(cache)
}
