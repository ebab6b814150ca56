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
use pgmesh_config::Config;
use postgres_types::{to_sql_checked, Format, IsNull, ToSql, Type};
use sql_engine::handoff::{Assembly, Handoff};
use sql_engine::response::{Counted, WriteResult};
use sql_engine::sql::{quote_ident, settings_statement};
use sql_engine::ApiError;
use tokio::sync::{mpsc, oneshot};

use pgmesh_pg::{self as wire, WireError};

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

fn pg_config(config: &Config) -> Result<tokio_postgres::Config, String> {
    let mut pg = tokio_postgres::Config::from_str(config.db_uri.expose())
        .map_err(|e| format!("db-uri: {e}"))?;
    pg.application_name("pgmesh");
    Ok(pg)
}

fn timeouts(config: &Config) -> Timeouts {
    Timeouts {
        wait: Some(Duration::from_secs(config.db_pool_acquisition_timeout_s)),
        create: Some(Duration::from_secs(10)),
        recycle: Some(Duration::from_secs(5)),
    }
}

/// The connections requests run on (`db-pool` of them), each pipelining its statements.
pub fn pool(config: &Config) -> Result<wire::Pool, String> {
    wire::Pool::builder(wire::Manager::new(pg_config(config)?))
        .max_size(config.db_pool)
        .timeouts(timeouts(config))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| e.to_string())
}

/// A connection for introspecting the schema, apart from the requests' pool.
pub fn schema_pool(config: &Config) -> Result<Pool, String> {
    let manager = Manager::from_config(
        pg_config(config)?,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(1)
        .timeouts(timeouts(config))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| e.to_string())
}

fn wire_error(e: WireError, authenticated: bool) -> ApiError {
    match e {
        WireError::Db(db) => ApiError::Postgres {
            sqlstate: db.code,
            message: db.message,
            detail: db.detail,
            hint: db.hint,
            authenticated,
        },
        other => ApiError::DbConnection(other.to_string()),
    }
}

pub fn pool_error<E: std::fmt::Display>(e: deadpool::managed::PoolError<E>) -> ApiError {
    match e {
        deadpool::managed::PoolError::Timeout(_) => ApiError::PoolTimeout,
        deadpool::managed::PoolError::Backend(e) => ApiError::DbConnection(e.to_string()),
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

/// How long a failed request's connection may take to get back to idle before it is dropped.
const RESTORE_WITHIN: Duration = Duration::from_secs(2);

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

/// A verified hand-off and what the sidecar adds to it.
pub struct Request {
    pub handoff: Handoff,
    /// `ALTER ROLE … SET` settings of the role the request runs as.
    pub role_settings: Vec<(String, String)>,
}

/// Runs a read and delivers its response: the head (with the body when it is small) through
/// `head`, then, for a large body, chunks through `body`. An error after streaming began is sent
/// as an error chunk, which aborts the response; if the client goes away, the query is cancelled
/// and the transaction rolled back.
pub async fn run(
    pool: wire::Pool,
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
    pool: &wire::Pool,
    config: &Config,
    request: &Request,
    head: &mut Option<oneshot::Sender<Result<Head, ApiError>>>,
    body: &mpsc::Sender<io::Result<Bytes>>,
) -> Result<(), ApiError> {
    let mut conn = pool.get().await.map_err(pool_error)?;
    match transaction(&mut conn, config, request, head, body).await {
        Ok(Ended::Done) => Ok(()),
        Ok(Ended::ClientGone) => {
            // Keep this connection out of the pool: the cancel could reach its next statement.
            let _ = wire::Object::take(conn);
            Ok(())
        }
        Err(e) => {
            // The batch may still be answering and the transaction open: read the rest and
            // roll back, or drop the connection if even that fails or takes too long (the rest
            // of a large result, a server gone silent); PostgreSQL rolls back a transaction
            // whose connection closes. The error is answered once this is settled.
            let restored = tokio::time::timeout(RESTORE_WITHIN, conn.restore()).await;
            if !matches!(restored, Ok(true)) {
                let _ = wire::Object::take(conn);
            }
            Err(e)
        }
    }
}

enum Ended {
    Done,
    ClientGone,
}

/// Where the outer statement's columns are (by name, from its description).
struct Columns {
    total_result_set: usize,
    page_total: usize,
    body: usize,
    csv_header: usize,
    response_headers: usize,
    response_status: usize,
    location: usize,
    inserted: usize,
}

impl Columns {
    fn of(names: &[String]) -> Result<Columns, ApiError> {
        let at = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| ApiError::Internal(format!("the statement has no column {name}")))
        };
        Ok(Columns {
            total_result_set: at("total_result_set")?,
            page_total: at("page_total")?,
            body: at("body")?,
            csv_header: at("csv_header")?,
            response_headers: at("response_headers")?,
            response_status: at("response_status")?,
            location: at("location")?,
            inserted: at("inserted")?,
        })
    }
}

fn number(text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|t| {
        t.parse::<i64>()
            .map_err(|_| ApiError::Internal(format!("not a number: {t}")))
    })
    .transpose()
}

/// One request's transaction in one round trip: `BEGIN`, the settings, the pre-request
/// function, the planner's estimate (when a count asks for it), the main statement and, for a
/// read-only transaction, its `COMMIT` go out together with a single `Sync`. A write's `COMMIT`
/// follows its checks, in a second round trip. A main statement new to this connection is
/// parsed in the same batch, after the settings (so its names resolve as the request's role).
async fn transaction(
    conn: &mut wire::Conn,
    config: &Config,
    request: &Request,
    head: &mut Option<oneshot::Sender<Result<Head, ApiError>>>,
    body: &mpsc::Sender<io::Result<Bytes>>,
) -> Result<Ended, ApiError> {
    let h = &request.handoff;
    let auth = h.authenticated;
    let pg = |e: WireError| wire_error(e, auth);
    let settings = settings_statement_of(config, request);
    let begin_sql = format!(
        "START TRANSACTION ISOLATION LEVEL {}, {}",
        isolation_level(h),
        if h.read_only {
            "READ ONLY"
        } else {
            "READ WRITE"
        }
    );
    let pre_sql = config
        .db_pre_request
        .as_ref()
        .map(|f| format!("select {}()", qualified_function(f)));
    let explain = !h.explain_sql.is_empty();
    let end_sql = if h.rollback { "ROLLBACK" } else { "COMMIT" };
    let none = std::iter::empty::<Option<&str>>;

    conn.push(&begin_sql, none()).map_err(pg)?;
    conn.push(&settings.sql, settings.params.iter().map(|p| p.as_deref()))
        .map_err(pg)?;
    if let Some(sql) = &pre_sql {
        conn.push(sql, none()).map_err(pg)?;
    }
    if explain {
        conn.push(
            &h.explain_sql,
            h.explain_params.iter().map(|p| p.as_deref()),
        )
        .map_err(pg)?;
    }
    conn.push(&h.sql, h.params.iter().map(|p| p.as_deref()))
        .map_err(pg)?;
    // A read-only transaction ends the same way whatever its result: its end goes out now.
    if h.read_only {
        conn.push(end_sql, none()).map_err(pg)?;
    }
    conn.send().await.map_err(pg)?;
    round_trips(1);

    conn.finish().await.map_err(pg)?;
    conn.finish().await.map_err(pg)?;
    if pre_sql.is_some() {
        conn.finish().await.map_err(pg)?;
    }
    // The planner's estimate (planned and estimated counts) is needed before the head.
    let planned = if explain {
        let plan = match conn.next().await.map_err(pg)? {
            wire::Event::Row(row) => {
                let plan = row.text(0).map_err(pg)?.map(String::from);
                // The end of the EXPLAIN; the main statement's rows follow.
                conn.finish().await.map_err(pg)?;
                plan
            }
            wire::Event::Done => None,
        };
        planned_rows(plan.as_deref())?
    } else {
        None
    };
    let first = match conn.next().await.map_err(pg)? {
        wire::Event::Row(row) => row,
        wire::Event::Done => {
            return Err(ApiError::Internal(String::from("the read returned no row")))
        }
    };
    let cols = Columns::of(
        &conn
            .columns(&h.sql)
            .ok_or_else(|| ApiError::Internal(String::from("the statement was not described")))?,
    )?;
    let page_total = number(first.text(cols.page_total).map_err(pg)?)?
        .unwrap_or(0)
        .max(0)
        .unsigned_abs();
    let counted = Counted {
        page_total,
        exact: number(first.text(cols.total_result_set).map_err(pg)?)?,
        planned,
    };
    let (status_override, extra_headers) = sql_engine::response::guc_overrides(
        first.text(cols.response_headers).map_err(pg)?,
        first.text(cols.response_status).map_err(pg)?,
    )?;
    let (status, headers) = match &h.shape.write {
        None => sql_engine::response::read_response(&h.shape, counted)?,
        Some(write) => sql_engine::response::write_response(
            &h.shape,
            write,
            counted,
            WriteResult {
                inserted: first
                    .text(cols.inserted)
                    .map_err(pg)?
                    .and_then(|i| i.parse().ok()),
                location: first.text(cols.location).map_err(pg)?,
            },
        )?,
    };
    let csv_header = first.text(cols.csv_header).map_err(pg)?;
    let (opening, separator, closing) = h.shape.assembly.framing(csv_header.unwrap_or(""));

    let mut buf = BytesMut::with_capacity(8 * 1024);
    buf.extend_from_slice(opening.as_bytes());
    if let Some(text) = first.text(cols.body).map_err(pg)? {
        buf.extend_from_slice(text.as_bytes());
    }
    let mut head_value = Some(Head {
        status: status_override.unwrap_or(status),
        headers,
        extra_headers,
        body: None,
    });
    while let wire::Event::Row(row) = conn.next().await.map_err(pg)? {
        if let Some(text) = row.text(cols.body).map_err(pg)? {
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
                // The client went away: stop the query; the caller keeps this connection out
                // of the pool.
                conn.cancel().await;
                return Ok(Ended::ClientGone);
            }
        }
    }
    buf.extend_from_slice(closing.as_bytes());
    // A single value over no rows (a function's result, filtered away) is JSON's null.
    if h.shape.assembly == Assembly::Object && page_total == 0 && !h.shape.void {
        buf.extend_from_slice(b"null");
    }
    if h.read_only {
        conn.finish().await.map_err(pg)?;
        conn.ready().await.map_err(pg)?;
    } else {
        conn.ready().await.map_err(pg)?;
        if h.rollback {
            // Deferred constraints are checked first, so that their errors still surface.
            conn.push("SET CONSTRAINTS ALL IMMEDIATE", none())
                .map_err(pg)?;
        }
        conn.push(end_sql, none()).map_err(pg)?;
        conn.send().await.map_err(pg)?;
        round_trips(1);
        if h.rollback {
            conn.finish().await.map_err(pg)?;
        }
        conn.finish().await.map_err(pg)?;
        conn.ready().await.map_err(pg)?;
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
    Ok(Ended::Done)
}

/// A called function's hoisted `default_transaction_isolation`, as SQL; READ COMMITTED
/// otherwise (PostgreSQL validated the value when the function was defined).
fn isolation_level(h: &Handoff) -> &'static str {
    let hoisted = h
        .tx_settings
        .iter()
        .rev()
        .find(|(name, _)| name == "default_transaction_isolation")
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    match hoisted.as_deref() {
        Some("serializable") => "SERIALIZABLE",
        Some("repeatable read") => "REPEATABLE READ",
        Some("read uncommitted") => "READ UNCOMMITTED",
        _ => "READ COMMITTED",
    }
}

/// The request's settings (`set_config(…)` for each), as PostgREST sets them.
fn settings_statement_of(config: &Config, request: &Request) -> sql_engine::sql::Statement {
    let h = &request.handoff;
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
    // The called function's hoisted settings override the role's; its isolation level is the
    // transaction's own (`isolation_level`).
    settings.extend(
        h.tx_settings
            .iter()
            .filter(|(k, _)| k != "default_transaction_isolation")
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
    settings_statement(settings)
}

/// The planner's row estimate for the count query: `[0]."Plan"."Plan Rows"` of its EXPLAIN.
fn planned_rows(plan: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(plan) = plan else { return Ok(None) };
    let value: serde_json::Value =
        serde_json::from_str(plan).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(value
        .get(0)
        .and_then(|v| v.get("Plan"))
        .and_then(|v| v.get("Plan Rows"))
        .and_then(serde_json::Value::as_f64)
        .map(|rows| rows as i64))
}
