//! Running a hand-off: one pooled connection, one transaction — `BEGIN`, the request settings
//! (role, claims, method, path, headers, search_path, app settings), the pre-request function,
//! the main statement, `COMMIT` (or `ROLLBACK` per `db-tx-end`).

use std::error::Error;
use std::str::FromStr;
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use pgmesh_config::Config;
use postgres_types::{to_sql_checked, Format, IsNull, ToSql, Type};
use sql_engine::handoff::Handoff;
use sql_engine::sql::{quote_ident, settings_statement};
use sql_engine::ApiError;

/// A parameter sent untyped in text format: PostgreSQL infers its type, as with PostgREST.
#[derive(Debug)]
pub struct TextParam<'a>(pub Option<&'a str>);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self.0 {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// A `json` (or text) value as its text: in the binary protocol `json` is sent as plain text.
struct JsonText(String);

impl<'a> postgres_types::FromSql<'a> for JsonText {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(JsonText(std::str::from_utf8(raw)?.to_string()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::TEXT
    }
}

pub fn pool(config: &Config) -> Result<Pool, String> {
    let mut pg = tokio_postgres::Config::from_str(config.db_uri.expose())
        .map_err(|e| format!("db-uri: {e}"))?;
    pg.application_name("pgmesh");
    let manager = Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.db_pool)
        .timeouts(Timeouts {
            wait: Some(Duration::from_secs(config.db_pool_acquisition_timeout_s)),
            create: Some(Duration::from_secs(10)),
            recycle: Some(Duration::from_secs(5)),
        })
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| e.to_string())
}

/// The response, decided inside the transaction (so that a refusal such as a singular
/// response over two rows rolls back).
pub struct Outcome {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// `response.headers` set by the pre-request function or the query; they replace
    /// headers of the same name.
    pub extra_headers: Vec<(String, String)>,
}

fn pg_error(e: &tokio_postgres::Error, authenticated: bool) -> ApiError {
    match e.as_db_error() {
        Some(db) => ApiError::Postgres {
            sqlstate: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(String::from),
            hint: db.hint().map(String::from),
            authenticated,
        },
        None => ApiError::DbConnection(e.to_string()),
    }
}

pub fn pool_error(e: deadpool_postgres::PoolError) -> ApiError {
    match e {
        deadpool_postgres::PoolError::Timeout(_) => ApiError::PoolTimeout,
        deadpool_postgres::PoolError::Backend(e) => ApiError::DbConnection(e.to_string()),
        other => ApiError::DbConnection(other.to_string()),
    }
}

/// `schema.fn` from the config → `"schema"."fn"`.
fn qualified_function(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// Prepared statements kept per connection. Statement shapes repeat because values are
/// parameters, but clients can vary them (aliases, column lists), so the cache is bounded.
const STATEMENT_CACHE_MAX: usize = 256;

pub async fn run(pool: &Pool, config: &Config, h: &Handoff) -> Result<Outcome, ApiError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let auth = h.authenticated;
    if client.statement_cache.size() > STATEMENT_CACHE_MAX {
        client.statement_cache.clear();
    }
    // A Transaction rolls back when dropped, so a request cancelled half-way (client gone)
    // never leaves its transaction open on a pooled connection.
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .read_only(h.read_only)
        .start()
        .await
        .map_err(|e| pg_error(&e, auth))?;
    let result = in_transaction(&tx, config, h).await;
    let ended = if result.is_ok() && config.db_tx_end.commits() {
        tx.commit().await
    } else {
        tx.rollback().await
    };
    if let Err(e) = ended {
        // The connection's state is unknown: take it out of the pool rather than reuse it.
        let _ = deadpool_postgres::Object::take(client);
        return Err(result.err().unwrap_or_else(|| pg_error(&e, auth)));
    }
    result
}

async fn in_transaction(
    tx: &deadpool_postgres::Transaction<'_>,
    config: &Config,
    h: &Handoff,
) -> Result<Outcome, ApiError> {
    let auth = h.authenticated;
    let search_path = std::iter::once(h.schema.as_str())
        .chain(config.db_extra_search_path.iter().map(String::as_str))
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(", ");
    let mut settings: Vec<(&str, &str)> = vec![
        ("search_path", &search_path),
        ("role", &h.role),
        ("request.jwt.claims", &h.claims),
        ("request.method", &h.method),
        ("request.path", &h.path),
        ("request.headers", &h.headers),
    ];
    if let Some(tz) = &h.timezone {
        settings.push(("timezone", tz));
    }
    settings.extend(
        config
            .app_settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let st = settings_statement(settings);
    let params: Vec<TextParam> = st.params.iter().map(|p| TextParam(p.as_deref())).collect();
    let prepared = tx
        .prepare_cached(&st.sql)
        .await
        .map_err(|e| pg_error(&e, auth))?;
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    tx.query(&prepared, &refs)
        .await
        .map_err(|e| pg_error(&e, auth))?;

    if let Some(pre) = &config.db_pre_request {
        tx.batch_execute(&format!("select {}()", qualified_function(pre)))
            .await
            .map_err(|e| pg_error(&e, auth))?;
    }

    let params: Vec<TextParam> = h.params.iter().map(|p| TextParam(p.as_deref())).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let prepared = tx
        .prepare_cached(&h.sql)
        .await
        .map_err(|e| pg_error(&e, auth))?;
    let row = tx
        .query_one(&prepared, &refs)
        .await
        .map_err(|e| pg_error(&e, auth))?;
    let column = |name: &str| -> Result<Option<String>, ApiError> {
        row.try_get(name)
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    let count = |name: &str| -> Result<Option<i64>, ApiError> {
        row.try_get(name)
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    let page_total = count("page_total")?.unwrap_or(0).max(0).unsigned_abs();
    let exact = count("total_result_set")?;
    let body = column("body")?.unwrap_or_default();
    let planned = if h.explain_sql.is_empty() {
        None
    } else {
        planned_rows(tx, h).await?
    };
    let (status, headers) = sql_engine::response::guc_overrides(
        column("response_headers")?.as_deref(),
        column("response_status")?.as_deref(),
    )?;
    let counted = sql_engine::response::Counted {
        page_total,
        exact,
        planned,
    };
    let (default_status, response_headers) =
        sql_engine::response::read_response(&h.shape, counted)?;
    Ok(Outcome {
        status: status.unwrap_or(default_status),
        headers: response_headers,
        body,
        extra_headers: headers,
    })
}

/// The planner's row estimate for the count query: `[0]."Plan"."Plan Rows"` of its EXPLAIN.
async fn planned_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    h: &Handoff,
) -> Result<Option<i64>, ApiError> {
    let params: Vec<TextParam> = h
        .explain_params
        .iter()
        .map(|p| TextParam(p.as_deref()))
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let row = tx
        .query_one(&h.explain_sql, &refs)
        .await
        .map_err(|e| pg_error(&e, h.authenticated))?;
    let JsonText(plan) = row
        .try_get(0)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&plan).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(value
        .get(0)
        .and_then(|v| v.get("Plan"))
        .and_then(|v| v.get("Plan Rows"))
        .and_then(serde_json::Value::as_f64)
        .map(|rows| rows as i64))
}
