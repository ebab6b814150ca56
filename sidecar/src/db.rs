//! Running a hand-off: one pooled connection, one transaction — `BEGIN`, the request settings
//! (role, claims, method, path, headers, search_path, app settings), the pre-request function,
//! the main statement, `COMMIT` (or `ROLLBACK` per `db-tx-end`).

use std::error::Error;
use std::io;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use futures_util::StreamExt;
use pgmesh_config::Config;
use postgres_types::{to_sql_checked, Format, IsNull, ToSql, Type};
use sql_engine::handoff::{Assembly, Handoff};
use sql_engine::response::{Counted, WriteResult};
use sql_engine::sql::{quote_ident, settings_statement};
use sql_engine::ApiError;
use tokio::sync::{mpsc, oneshot};

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

/// PostgreSQL round trips made for requests (each awaited exchange counts one).
pub static ROUND_TRIPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn round_trips(n: u64) {
    ROUND_TRIPS.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// Prepared statements kept per connection. Statement shapes repeat because values are
/// parameters, but clients can vary them (aliases, column lists), so the cache is bounded.
const STATEMENT_CACHE_MAX: usize = 256;

/// A result that fits in this many bytes is sent whole, with `Content-Length`.
const WHOLE_BODY_MAX: usize = 256 * 1024;
/// Once streaming, the body goes out in chunks of about this size.
const CHUNK: usize = 64 * 1024;

/// The response head, decided inside the transaction from the first row (so that a refusal,
/// such as a singular response over two rows, rolls back and sends no body).
pub struct Head {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// `response.headers` set by the pre-request function or the query; they replace headers
    /// of the same name.
    pub extra_headers: Vec<(String, String)>,
    /// The whole body when it is small; `None` when it follows as a stream.
    pub body: Option<Bytes>,
}

/// Runs a read and delivers its response: the head (with the body when it is small) through
/// `head`, then, for a large body, chunks through `body`. An error after streaming began is sent
/// as an error chunk, which aborts the response; if the client goes away, the query is cancelled
/// and the transaction rolled back.
/// A verified hand-off and what the sidecar adds to it.
pub struct Request {
    pub handoff: Handoff,
    /// `ALTER ROLE … SET` settings of the role the request runs as.
    pub role_settings: Vec<(String, String)>,
}

pub async fn run(
    pool: Pool,
    config: Arc<Config>,
    request: Request,
    head: oneshot::Sender<Result<Head, ApiError>>,
    body: mpsc::Sender<io::Result<Bytes>>,
) {
    let mut head = Some(head);
    if let Err(e) = stream_read(&pool, &config, &request, &mut head, &body).await {
        match head.take() {
            Some(tx) => {
                let _ = tx.send(Err(e));
            }
            None => {
                let _ = body.send(Err(io::Error::other(e.to_string()))).await;
            }
        }
    }
}

async fn stream_read(
    pool: &Pool,
    config: &Config,
    request: &Request,
    head: &mut Option<oneshot::Sender<Result<Head, ApiError>>>,
    body: &mpsc::Sender<io::Result<Bytes>>,
) -> Result<(), ApiError> {
    let h = &request.handoff;
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
    round_trips(1);
    prepare_request(&tx, config, request).await?;
    // The planner's estimate is needed for the head, so it runs before the main query.
    let planned = if h.explain_sql.is_empty() {
        None
    } else {
        planned_rows(&tx, h).await?
    };
    let prepared = tx
        .prepare_cached(&h.sql)
        .await
        .map_err(|e| pg_error(&e, auth))?;
    round_trips(1);
    let rows = tx
        .query_raw(&prepared, h.params.iter().map(|p| TextParam(p.as_deref())))
        .await
        .map_err(|e| pg_error(&e, auth))?;
    futures_util::pin_mut!(rows);
    let first = rows
        .next()
        .await
        .ok_or_else(|| ApiError::Internal(String::from("the read returned no row")))?
        .map_err(|e| pg_error(&e, auth))?;
    let internal = |e: tokio_postgres::Error| ApiError::Internal(e.to_string());
    let page_total = first
        .try_get::<_, i64>("page_total")
        .map_err(internal)?
        .max(0)
        .unsigned_abs();
    let counted = Counted {
        page_total,
        exact: first.try_get("total_result_set").map_err(internal)?,
        planned,
    };
    let (status_override, extra_headers) = sql_engine::response::guc_overrides(
        first
            .try_get::<_, Option<&str>>("response_headers")
            .map_err(internal)?,
        first
            .try_get::<_, Option<&str>>("response_status")
            .map_err(internal)?,
    )?;
    let (status, headers) = match &h.shape.write {
        None => sql_engine::response::read_response(&h.shape, counted)?,
        Some(write) => sql_engine::response::write_response(
            &h.shape,
            write,
            counted,
            WriteResult {
                inserted: first
                    .try_get::<_, Option<&str>>("inserted")
                    .map_err(internal)?
                    .and_then(|i| i.parse().ok()),
                location: first.try_get("location").map_err(internal)?,
            },
        )?,
    };
    let csv_header: Option<&str> = first.try_get("csv_header").map_err(internal)?;
    let (open, separator, close) = h.shape.assembly.framing(csv_header.unwrap_or(""));

    let mut buf = BytesMut::with_capacity(8 * 1024);
    buf.extend_from_slice(open.as_bytes());
    if let Some(text) = first.try_get::<_, Option<&str>>("body").map_err(internal)? {
        buf.extend_from_slice(text.as_bytes());
    }
    let mut head_value = Some(Head {
        status: status_override.unwrap_or(status),
        headers,
        extra_headers,
        body: None,
    });
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| pg_error(&e, auth))?;
        if let Some(text) = row.try_get::<_, Option<&str>>("body").map_err(internal)? {
            buf.extend_from_slice(separator.as_bytes());
            buf.extend_from_slice(text.as_bytes());
        }
        // A transaction that writes answers only after its COMMIT: its response is never
        // streamed, so a failed commit can still answer with an error.
        let threshold = match (&head_value, h.read_only) {
            (Some(_), false) => usize::MAX,
            (Some(_), true) => WHOLE_BODY_MAX,
            (None, _) => CHUNK,
        };
        if buf.len() >= threshold {
            // Too big to send whole: send the head now and stream the rest.
            let mut gone = false;
            if let (Some(value), Some(sender)) = (head_value.take(), head.take()) {
                gone = sender.send(Ok(value)).is_err();
            }
            if gone || body.send(Ok(buf.split().freeze())).await.is_err() {
                // The client went away: stop the query, and keep this connection out of the
                // pool (the cancel could otherwise reach its next statement).
                let token = tx.cancel_token();
                drop(tx);
                let _ = token.cancel_query(tokio_postgres::NoTls).await;
                let _ = deadpool_postgres::Object::take(client);
                return Ok(());
            }
        }
    }
    buf.extend_from_slice(close.as_bytes());
    // A single value over no rows (a function's result, filtered away) is JSON's null.
    if h.shape.assembly == Assembly::Object && page_total == 0 && !h.shape.void {
        buf.extend_from_slice(b"null");
    }
    round_trips(1);
    let ended = if h.rollback {
        // Deferred constraints are checked first, so that their errors still surface.
        match tx.batch_execute("SET CONSTRAINTS ALL IMMEDIATE").await {
            Ok(()) => tx.rollback().await,
            Err(e) => return Err(pg_error(&e, auth)),
        }
    } else {
        tx.commit().await
    };
    if let Err(e) = ended {
        // The connection's state is unknown: take it out of the pool rather than reuse it.
        let _ = deadpool_postgres::Object::take(client);
        return Err(pg_error(&e, auth));
    }
    match (head_value, head.take()) {
        (Some(mut value), Some(sender)) => {
            value.body = Some(buf.freeze());
            let _ = sender.send(Ok(value));
        }
        _ => {
            let _ = body.send(Ok(buf.freeze())).await;
        }
    }
    Ok(())
}

/// The request's settings and the pre-request function, inside the transaction.
async fn prepare_request(
    tx: &deadpool_postgres::Transaction<'_>,
    config: &Config,
    request: &Request,
) -> Result<(), ApiError> {
    let h = &request.handoff;
    let auth = h.authenticated;
    let search_path = std::iter::once(h.schema.as_str())
        .chain(config.db_extra_search_path.iter().map(String::as_str))
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(", ");
    let mut settings: Vec<(&str, &str)> = vec![("search_path", &search_path)];
    settings.extend(
        request
            .role_settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let cookies = if h.cookies.is_empty() {
        "{}"
    } else {
        &h.cookies
    };
    settings.extend([
        ("role", h.role.as_str()),
        ("request.jwt.claims", &h.claims),
        ("request.method", &h.method),
        ("request.path", &h.path),
        ("request.headers", &h.headers),
        ("request.cookies", cookies),
    ]);
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
    let prepared = tx
        .prepare_cached(&st.sql)
        .await
        .map_err(|e| pg_error(&e, auth))?;
    let params: Vec<TextParam> = st.params.iter().map(|p| TextParam(p.as_deref())).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    tx.query(&prepared, &refs)
        .await
        .map_err(|e| pg_error(&e, auth))?;
    round_trips(1);
    if let Some(pre) = &config.db_pre_request {
        tx.batch_execute(&format!("select {}()", qualified_function(pre)))
            .await
            .map_err(|e| pg_error(&e, auth))?;
    }
    Ok(())
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
