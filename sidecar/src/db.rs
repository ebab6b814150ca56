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

/// A request sent ahead of its answer. tokio-postgres sends a request on the first poll of its
/// future, so polling each once, in order, pipelines them; the answers are awaited later (the
/// second poll uses the task's waker). A future that finished on its first poll keeps its
/// result here rather than being polled again.
struct Ahead<'a, T> {
    pending: Option<std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>>,
    ready: Option<T>,
}

impl<'a, T> Ahead<'a, T> {
    fn send(future: impl std::future::Future<Output = T> + Send + 'a) -> Self {
        let mut future: std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> =
            Box::pin(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => Ahead {
                pending: None,
                ready: Some(v),
            },
            std::task::Poll::Pending => Ahead {
                pending: Some(future),
                ready: None,
            },
        }
    }

    /// Whether the answer came with the first poll (nothing was sent).
    fn is_ready(&self) -> bool {
        self.ready.is_some()
    }

    /// The answer; `None` once it was taken.
    async fn answer(&mut self) -> Option<T> {
        match (self.ready.take(), self.pending.take()) {
            (Some(v), _) => Some(v),
            (None, Some(f)) => Some(f.await),
            (None, None) => None,
        }
    }
}

type PgResult<T> = Result<T, tokio_postgres::Error>;

async fn stream_read(
    pool: &Pool,
    config: &Config,
    request: &Request,
    head: &mut Option<oneshot::Sender<Result<Head, ApiError>>>,
    body: &mpsc::Sender<io::Result<Bytes>>,
) -> Result<(), ApiError> {
    let client = pool.get().await.map_err(pool_error)?;
    if client.statement_cache.size() > STATEMENT_CACHE_MAX {
        client.statement_cache.clear();
    }
    let mut open = false;
    let result = transaction(&client, config, request, head, body, &mut open).await;
    match result {
        Ok(Ended::Done) if !open => Ok(()),
        Ok(Ended::ClientGone) => {
            // Keep this connection out of the pool: the cancel could reach its next statement.
            let _ = deadpool_postgres::Object::take(client);
            Ok(())
        }
        other => {
            // The transaction may still be open (an error before its end): roll it back, or
            // drop the connection if even that fails.
            if open && client.batch_execute("ROLLBACK").await.is_err() {
                let _ = deadpool_postgres::Object::take(client);
            }
            match other {
                Ok(_) => Err(ApiError::Internal(String::from(
                    "the transaction did not end",
                ))),
                Err(e) => Err(e),
            }
        }
    }
}

enum Ended {
    Done,
    ClientGone,
}

/// One request's transaction, in as few round trips as the statements allow: `BEGIN`, the
/// settings, the pre-request function and the main statement go out together (pipelined), and
/// for a read-only transaction its `COMMIT` too; a write's `COMMIT` follows its checks. A main
/// statement not yet prepared on this connection is prepared after the settings (its names are
/// resolved as the request's role), which costs one more round trip the first time.
/// `open` says whether the transaction may still be open when this returns.
async fn transaction(
    client: &deadpool_postgres::Object,
    config: &Config,
    request: &Request,
    head: &mut Option<oneshot::Sender<Result<Head, ApiError>>>,
    body: &mpsc::Sender<io::Result<Bytes>>,
    open: &mut bool,
) -> Result<Ended, ApiError> {
    let h = &request.handoff;
    let auth = h.authenticated;
    let pg = |e: tokio_postgres::Error| pg_error(&e, auth);
    let settings = settings_statement_of(config, request);
    let settings_prepared = client.prepare_cached(&settings.sql).await.map_err(pg)?;
    let settings_params: Vec<TextParam> = settings
        .params
        .iter()
        .map(|p| TextParam(p.as_deref()))
        .collect();
    let settings_refs: Vec<&(dyn ToSql + Sync)> = settings_params
        .iter()
        .map(|p| p as &(dyn ToSql + Sync))
        .collect();
    let begin_sql = if h.read_only {
        "START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY"
    } else {
        "START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE"
    };
    let pre_sql = config
        .db_pre_request
        .as_ref()
        .map(|f| format!("select {}()", qualified_function(f)));

    *open = true;
    let mut begin = Ahead::send(client.batch_execute(begin_sql));
    let mut set = Ahead::send(client.query(&settings_prepared, &settings_refs));
    let mut pre = pre_sql
        .as_deref()
        .map(|sql| Ahead::send(client.batch_execute(sql)));
    // Prepared already on this connection: ready at once, nothing sent. Otherwise its Parse
    // goes out now, after the settings.
    let mut prepare = Ahead::send(client.prepare_cached(&h.sql));
    let mut trips = 1;
    // Errors in order: the first failure is the one to report.
    let preamble = async |begin: &mut Ahead<'_, PgResult<()>>,
                          set: &mut Ahead<'_, PgResult<Vec<tokio_postgres::Row>>>,
                          pre: &mut Option<Ahead<'_, PgResult<()>>>|
           -> Result<(), ApiError> {
        if let Some(r) = begin.answer().await {
            r.map_err(pg)?;
        }
        if let Some(r) = set.answer().await {
            r.map_err(pg)?;
        }
        if let Some(Some(r)) = match pre.as_mut() {
            Some(p) => Some(p.answer().await),
            None => None,
        } {
            r.map_err(pg)?;
        }
        Ok(())
    };
    if !prepare.is_ready() {
        preamble(&mut begin, &mut set, &mut pre).await?;
        trips += 1;
    }
    let main = prepare
        .answer()
        .await
        .ok_or_else(|| ApiError::Internal(String::from("the statement was not prepared")))?
        .map_err(pg)?;
    // The planner's estimate (planned and estimated counts) is needed before the head.
    let planned = if h.explain_sql.is_empty() {
        None
    } else {
        preamble(&mut begin, &mut set, &mut pre).await?;
        trips += 1;
        planned_rows(client, h).await?
    };
    let mut query =
        Ahead::send(client.query_raw(&main, h.params.iter().map(|p| TextParam(p.as_deref()))));
    // A read-only transaction ends the same way whatever its result: its end goes out now.
    let end_sql = if h.rollback { "ROLLBACK" } else { "COMMIT" };
    let mut end = h
        .read_only
        .then(|| Ahead::send(client.batch_execute(end_sql)));
    if end.is_some() {
        *open = false;
    }
    preamble(&mut begin, &mut set, &mut pre).await?;
    let rows = query
        .answer()
        .await
        .ok_or_else(|| ApiError::Internal(String::from("the query was not sent")))?;
    let rows = rows.map_err(pg)?;
    round_trips(trips);
    futures_util::pin_mut!(rows);
    let first = rows
        .next()
        .await
        .ok_or_else(|| ApiError::Internal(String::from("the read returned no row")))?
        .map_err(pg)?;
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
    let (opening, separator, closing) = h.shape.assembly.framing(csv_header.unwrap_or(""));

    let mut buf = BytesMut::with_capacity(8 * 1024);
    buf.extend_from_slice(opening.as_bytes());
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
                // The client went away: stop the query; the caller keeps this connection out
                // of the pool.
                let _ = client
                    .cancel_token()
                    .cancel_query(tokio_postgres::NoTls)
                    .await;
                return Ok(Ended::ClientGone);
            }
        }
    }
    buf.extend_from_slice(closing.as_bytes());
    // A single value over no rows (a function's result, filtered away) is JSON's null.
    if h.shape.assembly == Assembly::Object && page_total == 0 && !h.shape.void {
        buf.extend_from_slice(b"null");
    }
    let ended = match end.as_mut() {
        Some(end) => end.answer().await.unwrap_or(Ok(())),
        None => {
            round_trips(1);
            if h.rollback {
                // Deferred constraints are checked first, so that their errors still surface.
                match client.batch_execute("SET CONSTRAINTS ALL IMMEDIATE").await {
                    Ok(()) => client.batch_execute("ROLLBACK").await,
                    Err(e) => Err(e),
                }
            } else {
                client.batch_execute("COMMIT").await
            }
        }
    };
    ended.map_err(pg)?;
    *open = false;
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
async fn planned_rows(
    client: &deadpool_postgres::Object,
    h: &Handoff,
) -> Result<Option<i64>, ApiError> {
    let params: Vec<TextParam> = h
        .explain_params
        .iter()
        .map(|p| TextParam(p.as_deref()))
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let row = client
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
