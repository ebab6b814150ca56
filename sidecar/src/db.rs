//! Running a hand-off: one pooled connection, one transaction — `BEGIN`, the request settings
//! (role, claims, method, path, headers, search_path, app settings), the pre-request function,
//! the main statement, `COMMIT` (or `ROLLBACK` per `db-tx-end`).
//!
//! A transaction's steps: [`send_batch`] (one round trip), [`read_preamble`] (the settings and
//! the planner's estimate), [`decide_head`] (status and headers from the first row),
//! [`stream_rows`] (the body, whole or in chunks) and [`end_transaction`].

use std::io;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use pgmesh_config::Config;
use sql_engine::handoff::Query;
use sql_engine::response::{Counted, WriteResult};
use sql_engine::sql::{quote_ident, settings_statement};
use sql_engine::ApiError;
use tokio::sync::{mpsc, oneshot};

use pgmesh_pg::{self as wire, Row, WireError};

use crate::error::Error;

fn pg_config(config: &Config) -> Result<tokio_postgres::Config, Error> {
    let mut pg = tokio_postgres::Config::from_str(config.db_uri.expose()).map_err(Error::DbUri)?;
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

/// A connection for introspecting the schema, apart from the requests' pool.
pub fn schema_pool(config: &Config) -> Result<Pool, Error> {
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
        .map_err(Error::Pool)
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
    pub query: Box<Query>,
    /// `ALTER ROLE … SET` settings of the role the request runs as.
    pub role_settings: Vec<(String, String)>,
}

/// Where a request's answer goes: its head once (with the body when it is small), then, for a
/// large body, chunks.
pub struct Answer {
    head: Option<oneshot::Sender<Result<Head, ApiError>>>,
    body: mpsc::Sender<io::Result<Bytes>>,
}

impl Answer {
    pub fn new(
        head: oneshot::Sender<Result<Head, ApiError>>,
        body: mpsc::Sender<io::Result<Bytes>>,
    ) -> Answer {
        Answer {
            head: Some(head),
            body,
        }
    }

    /// Whether the head is still to be sent.
    fn head_pending(&self) -> bool {
        self.head.is_some()
    }

    /// Sends the head; false if the client went away.
    fn send_head(&mut self, head: Head) -> bool {
        match self.head.take() {
            Some(tx) => tx.send(Ok(head)).is_ok(),
            None => true,
        }
    }

    /// Sends a chunk of a streamed body; false if the client went away.
    async fn send_chunk(&self, chunk: Bytes) -> bool {
        self.body.send(Ok(chunk)).await.is_ok()
    }

    /// Answers with an error: as the head if none went out yet, else as an error chunk, which
    /// aborts the response.
    async fn fail(mut self, e: ApiError) {
        match self.head.take() {
            Some(tx) => {
                let _ = tx.send(Err(e));
            }
            None => {
                let _ = self.body.send(Err(io::Error::other(e.to_string()))).await;
            }
        }
    }
}

/// The database side of requests: the pool their transactions run on and what they cost.
pub struct Db {
    pool: wire::Pool,
    config: Arc<Config>,
    /// PostgreSQL round trips made for requests (each awaited exchange counts one).
    round_trips: AtomicU64,
}

impl Db {
    /// The connections requests run on (`db-pool` of them), each pipelining its statements.
    pub fn new(config: Arc<Config>) -> Result<Db, Error> {
        let pool = wire::Pool::builder(wire::Manager::new(pg_config(&config)?))
            .max_size(config.db_pool)
            .timeouts(timeouts(&config))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(Error::Pool)?;
        Ok(Db {
            pool,
            config,
            round_trips: AtomicU64::new(0),
        })
    }

    /// Retires every pooled connection (as each is next returned or taken).
    pub fn retire_all(&self) {
        self.pool.manager().retire_all();
    }

    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Runs a query hand-off (a read, a write or a call) in one transaction and delivers its response. An
    /// error after streaming began aborts the response; if the client goes away, the query is
    /// cancelled and the transaction rolled back.
    pub async fn run(self: Arc<Self>, request: Request, mut answer: Answer) {
        if let Err(e) = self.run_on_pooled(&request, &mut answer).await {
            answer.fail(e).await;
        }
    }

    async fn run_on_pooled(&self, request: &Request, answer: &mut Answer) -> Result<(), ApiError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        match self.transaction(&mut conn, request, answer).await {
            Ok(Ended::Done) => Ok(()),
            Ok(Ended::ClientGone) => {
                // Keep this connection out of the pool: the cancel could reach its next statement.
                let _ = wire::Object::take(conn);
                Ok(())
            }
            Err(e) => {
                // The batch may still be answering and the transaction open: read the rest and
                // roll back, or drop the connection if even that fails or takes too long (the
                // rest of a large result, a server gone silent); PostgreSQL rolls back a
                // transaction whose connection closes. The error is answered once this is
                // settled.
                let restored = tokio::time::timeout(RESTORE_WITHIN, conn.restore()).await;
                if !matches!(restored, Ok(true)) {
                    let _ = wire::Object::take(conn);
                }
                Err(e)
            }
        }
    }

    /// Sends what is queued on `conn` as one round trip.
    async fn round_trip(&self, conn: &mut wire::Conn) -> Result<(), WireError> {
        conn.send().await?;
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// One request's transaction in one round trip: `BEGIN`, the settings, the pre-request
    /// function, the planner's estimate (when a count asks for it), the main statement and, for
    /// a read-only transaction, its `COMMIT` go out together with a single `Sync`. A write's
    /// `COMMIT` follows its checks, in a second round trip. A main statement new to this
    /// connection is parsed in the same batch, after the settings (so its names resolve as the
    /// request's role).
    async fn transaction(
        &self,
        conn: &mut wire::Conn,
        request: &Request,
        answer: &mut Answer,
    ) -> Result<Ended, ApiError> {
        let h = &*request.query;
        let pg = |e: WireError| wire_error(e, h.identity.authenticated);
        let batch = Batch::of(&self.config, request);
        send_batch(conn, h, &batch).map_err(pg)?;
        self.round_trip(conn).await.map_err(pg)?;
        let planned = read_preamble(conn, h, &batch).await?;
        let first = conn
            .row()
            .await
            .map_err(pg)?
            .ok_or_else(|| ApiError::Internal(String::from("the read returned no row")))?;
        let decided = decide_head(conn, h, &first, planned)?;
        let Some(body) = stream_rows(conn, h, &first, decided, answer).await? else {
            return Ok(Ended::ClientGone);
        };
        self.end_transaction(conn, h, &batch).await.map_err(pg)?;
        match body {
            Body::Whole(mut head, bytes) => {
                head.body = Some(bytes);
                answer.send_head(head);
            }
            Body::Rest(bytes) => {
                answer.send_chunk(bytes).await;
            }
        }
        Ok(Ended::Done)
    }

    /// Reads to the end of the main batch and ends the transaction: a read-only one's end was
    /// in the batch; a write's `COMMIT` (or `ROLLBACK`) goes out now, after its checks passed.
    async fn end_transaction(
        &self,
        conn: &mut wire::Conn,
        h: &Query,
        batch: &Batch,
    ) -> Result<(), WireError> {
        if h.tx.read_only {
            conn.finish().await?;
            conn.ready().await?;
            return Ok(());
        }
        conn.ready().await?;
        if h.tx.rollback {
            // Deferred constraints are checked first, so that their errors still surface.
            conn.push("SET CONSTRAINTS ALL IMMEDIATE", NO_PARAMS)?;
        }
        conn.push(batch.end, NO_PARAMS)?;
        self.round_trip(conn).await?;
        if h.tx.rollback {
            conn.finish().await?;
        }
        conn.finish().await?;
        conn.ready().await?;
        Ok(())
    }
}

const NO_PARAMS: std::iter::Empty<Option<&str>> = std::iter::empty();

enum Ended {
    Done,
    ClientGone,
}

/// The statements around the hand-off's own.
struct Batch {
    begin: String,
    settings: sql_engine::sql::Statement,
    pre_request: Option<String>,
    end: &'static str,
}

impl Batch {
    fn of(config: &Config, request: &Request) -> Batch {
        let h = &*request.query;
        Batch {
            begin: format!(
                "START TRANSACTION ISOLATION LEVEL {}, {}",
                isolation_level(h),
                if h.tx.read_only {
                    "READ ONLY"
                } else {
                    "READ WRITE"
                }
            ),
            settings: settings_statement_of(config, request),
            pre_request: config
                .db_pre_request
                .as_ref()
                .map(|f| format!("select {}()", qualified_function(f))),
            end: if h.tx.rollback { "ROLLBACK" } else { "COMMIT" },
        }
    }
}

/// Queues the first round trip: `BEGIN`, the settings, the pre-request function, the count's
/// EXPLAIN, the main statement and, for a read-only transaction, its end.
fn send_batch(conn: &mut wire::Conn, h: &Query, batch: &Batch) -> Result<(), WireError> {
    conn.push(&batch.begin, NO_PARAMS)?;
    conn.push(
        &batch.settings.sql,
        batch.settings.params.iter().map(|p| p.as_deref()),
    )?;
    if let Some(sql) = &batch.pre_request {
        conn.push(sql, NO_PARAMS)?;
    }
    if let Some(explain) = &h.explain {
        conn.push(&explain.sql, explain.params.iter().map(|p| p.as_deref()))?;
    }
    conn.push(&h.main.sql, h.main.params.iter().map(|p| p.as_deref()))?;
    // A read-only transaction ends the same way whatever its result: its end goes out now.
    if h.tx.read_only {
        conn.push(batch.end, NO_PARAMS)?;
    }
    Ok(())
}

/// Reads the answers before the main statement's: `BEGIN`, the settings, the pre-request
/// function and the planner's estimate (planned and estimated counts need it for the head).
async fn read_preamble(
    conn: &mut wire::Conn,
    h: &Query,
    batch: &Batch,
) -> Result<Option<i64>, ApiError> {
    let pg = |e: WireError| wire_error(e, h.identity.authenticated);
    conn.finish().await.map_err(pg)?;
    conn.finish().await.map_err(pg)?;
    if batch.pre_request.is_some() {
        conn.finish().await.map_err(pg)?;
    }
    if h.explain.is_none() {
        return Ok(None);
    }
    let plan = match conn.row().await.map_err(pg)? {
        Some(row) => {
            let plan = row.text(0).map_err(pg)?.map(String::from);
            // The end of the EXPLAIN; the main statement's rows follow.
            conn.finish().await.map_err(pg)?;
            plan
        }
        None => None,
    };
    planned_rows(plan.as_deref())
}

/// What the first row decided: the head, and how the rows' bodies are put together.
struct Decided {
    head: Head,
    body_column: usize,
    opening: String,
    separator: &'static str,
    closing: &'static str,
    /// A single value over no rows (a function's result, filtered away) is JSON's null.
    null_when_empty: bool,
}

/// The response head from the main statement's first row: counts, `response.status` and
/// `response.headers`, and PostgREST's status and headers for the request's shape.
fn decide_head(
    conn: &wire::Conn,
    h: &Query,
    first: &Row,
    planned: Option<i64>,
) -> Result<Decided, ApiError> {
    let pg = |e: WireError| wire_error(e, h.identity.authenticated);
    let cols = Columns::of(
        &conn
            .columns(&h.main.sql)
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
    Ok(Decided {
        head: Head {
            status: status_override.unwrap_or(status),
            headers,
            extra_headers,
            body: None,
        },
        body_column: cols.body,
        opening,
        separator,
        closing,
        null_when_empty: h.shape.null_when_empty(page_total),
    })
}

/// What is left to send once the rows are read.
enum Body {
    /// Nothing went out yet: the head with the whole body.
    Whole(Head, Bytes),
    /// The head and the first chunks went out: the last chunk.
    Rest(Bytes),
}

/// Reads the main statement's rows into the body. A read-only transaction's body that outgrows
/// [`WHOLE_BODY_MAX`] is streamed in [`CHUNK`]s; `None` if the client went away meanwhile (the
/// query is cancelled).
async fn stream_rows(
    conn: &mut wire::Conn,
    h: &Query,
    first: &Row,
    decided: Decided,
    answer: &mut Answer,
) -> Result<Option<Body>, ApiError> {
    let pg = |e: WireError| wire_error(e, h.identity.authenticated);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    buf.extend_from_slice(decided.opening.as_bytes());
    if let Some(text) = first.text(decided.body_column).map_err(pg)? {
        buf.extend_from_slice(text.as_bytes());
    }
    let mut head = Some(decided.head);
    while let Some(row) = conn.row().await.map_err(pg)? {
        if let Some(text) = row.text(decided.body_column).map_err(pg)? {
            buf.extend_from_slice(decided.separator.as_bytes());
            buf.extend_from_slice(text.as_bytes());
        }
        // A transaction that writes answers only after its COMMIT: its response is never
        // streamed, so a failed commit can still answer with an error.
        let threshold = match (&head, h.tx.read_only) {
            (Some(_), false) => usize::MAX,
            (Some(_), true) => WHOLE_BODY_MAX,
            (None, _) => CHUNK,
        };
        if buf.len() >= threshold {
            // Too big to send whole: send the head now and stream the rest.
            let mut gone = false;
            if let Some(value) = head.take() {
                gone = answer.head_pending() && !answer.send_head(value);
            }
            if gone || !answer.send_chunk(buf.split().freeze()).await {
                // The client went away: stop the query; the caller keeps this connection out
                // of the pool.
                conn.cancel().await;
                return Ok(None);
            }
        }
    }
    buf.extend_from_slice(decided.closing.as_bytes());
    if decided.null_when_empty {
        buf.extend_from_slice(b"null");
    }
    Ok(Some(match head {
        Some(head) if answer.head_pending() => Body::Whole(head, buf.freeze()),
        _ => Body::Rest(buf.freeze()),
    }))
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

/// A called function's hoisted `default_transaction_isolation`, as SQL; READ COMMITTED
/// otherwise (PostgreSQL validated the value when the function was defined).
fn isolation_level(h: &Query) -> &'static str {
    let hoisted =
        h.tx.hoisted
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
    let h = &*request.query;
    let search_path = std::iter::once(h.tx.schema.as_str())
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
        h.tx.hoisted
            .iter()
            .filter(|(k, _)| k != "default_transaction_isolation")
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let cookies = if h.context.cookies.is_empty() {
        "{}"
    } else {
        &h.context.cookies
    };
    settings.extend([
        ("role", h.identity.role.as_str()),
        ("request.jwt.claims", &h.identity.claims),
        ("request.method", &h.context.method),
        ("request.path", &h.context.path),
        ("request.headers", &h.context.headers),
        ("request.cookies", cookies),
    ]);
    if let Some(tz) = &h.tx.timezone {
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
