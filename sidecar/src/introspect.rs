//! Schema introspection: the relations and columns of the exposed schemas, read in one
//! read-only transaction, versioned by a hash of the content.

use deadpool_postgres::Pool;
use sha2::{Digest, Sha256};
use sql_engine::schema::{Column, SchemaCache, Table};

use crate::db::{pool_error, TextParam};

const RELATIONS: &str = "
select n.nspname::text, c.relname::text, a.attname::text,
       pg_catalog.format_type(a.atttypid, a.atttypmod), not a.attnotnull
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where c.relkind in ('r', 'v', 'm', 'f', 'p') and n.nspname::text = any($1::text[])
order by 1, 2, a.attnum";

/// A PostgreSQL text-array literal of the schema names.
fn text_array(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| format!("\"{}\"", i.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

pub async fn load(pool: &Pool, schemas: &[String]) -> Result<SchemaCache, String> {
    let mut client = pool.get().await.map_err(|e| pool_error(e).to_string())?;
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let array = text_array(schemas);
    let rows = tx
        .query(RELATIONS, &[&TextParam(Some(&array))])
        .await
        .map_err(|e| e.to_string())?;
    let postgis: bool = tx
        .query_one(
            "select exists (select 1 from pg_catalog.pg_extension where extname = 'postgis')",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;

    let mut tables: Vec<Table> = Vec::new();
    for row in rows {
        let schema: String = row.try_get(0).map_err(|e| e.to_string())?;
        let name: String = row.try_get(1).map_err(|e| e.to_string())?;
        let is_new = tables
            .last()
            .is_none_or(|t| t.schema != schema || t.name != name);
        if is_new {
            tables.push(Table {
                schema,
                name,
                columns: Vec::new(),
            });
        }
        let column: Option<String> = row.try_get(2).map_err(|e| e.to_string())?;
        if let (Some(name), Some(table)) = (column, tables.last_mut()) {
            table.columns.push(Column {
                name,
                data_type: row
                    .try_get::<_, Option<String>>(3)
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default(),
                nullable: row
                    .try_get::<_, Option<bool>>(4)
                    .map_err(|e| e.to_string())?
                    .unwrap_or(true),
            });
        }
    }
    let content = serde_json::to_vec(&(&tables, postgis)).map_err(|e| e.to_string())?;
    let version = hex::encode(&Sha256::digest(&content)[..8]);
    let mut cache = SchemaCache::new(version, tables);
    cache.postgis = postgis;
    Ok(cache)
}
