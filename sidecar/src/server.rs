//! The sidecar's HTTP side: `/_pgmesh/query` (signed hand-offs), `/_pgmesh/schema` (the schema
//! cache document, signed requests only), `/_pgmesh/live` and `/_pgmesh/ready`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use deadpool_postgres::Pool;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use pgmesh_config::Config;
use sql_engine::handoff::{self, BodySpec, Handoff};
use sql_engine::payload::{self, BodyFormat};
use sql_engine::schema::SchemaCache;
use sql_engine::ApiError;
use tokio::net::TcpListener;

use crate::guard::Guard;
use crate::{db, introspect};

/// The largest request head the sidecar reads: the hand-off travels in headers.
const MAX_HEAD_BYTES: usize = 4 * 1024 * 1024;

pub struct App {
    pub config: Arc<Config>,
    pool: pgmesh_pg::Pool,
    /// Introspection's own connection.
    schema_pool: Pool,
    guard: Guard,
    schema: RwLock<Option<Arc<SchemaCache>>>,
    /// One reload at a time: the last to finish is the newest.
    reload_lock: tokio::sync::Mutex<()>,
    /// Signed schema-cache requests answered (200 or 304), for `/_pgmesh/metrics`.
    schema_requests: std::sync::atomic::AtomicU64,
}

type Reply = Response<BoxBody<Bytes, std::io::Error>>;

fn reply(status: u16, headers: Vec<(&'static str, String)>, body: impl Into<Bytes>) -> Reply {
    with_body(
        status,
        headers,
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    )
}

fn with_body(
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: BoxBody<Bytes, std::io::Error>,
) -> Reply {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

fn error_reply(e: &ApiError) -> Reply {
    let r = e.to_response();
    let mut reply = reply(r.status, r.headers, r.body);
    // Headers the database named (`RAISE SQLSTATE 'PGRST'`) replace PostgREST's own.
    for (name, value) in r.extra_headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            reply.headers_mut().insert(name, value);
        }
    }
    reply
}

/// A request header as UTF-8 (hand-offs carry raw UTF-8, which `to_str` would refuse).
fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

impl App {
    /// Introspects again; a failed reload keeps the cache in use.
    /// Introspects again; a failed reload keeps the cache in use. Says whether it loaded.
    pub async fn reload_schema(&self) -> bool {
        let _one_at_a_time = self.reload_lock.lock().await;
        let started = std::time::Instant::now();
        match introspect::load(&self.schema_pool, &self.config.db_schemas).await {
            Ok(cache) => {
                let changed = self
                    .schema
                    .read()
                    .ok()
                    .and_then(|c| c.as_ref().map(|c| c.version != cache.version))
                    .unwrap_or(true);
                // As PostgREST flushes its pool on every reload: statements prepared against
                // the old schema keep their parameter types (a column recreated with another
                // type would refuse its values), and the authenticator's own `ALTER ROLE … SET`
                // settings apply only to new connections. Fresh connections take over.
                self.pool.manager().retire_all();
                if changed {
                    eprintln!(
                        "pgmesh-sidecar: schema cache {} loaded ({} relations, {} foreign keys) in {} ms",
                        cache.version,
                        cache.tables.len(),
                        cache.foreign_keys.len(),
                        started.elapsed().as_millis()
                    );
                }
                if let Ok(mut slot) = self.schema.write() {
                    *slot = Some(Arc::new(cache));
                }
                true
            }
            Err(e) => {
                eprintln!("pgmesh-sidecar: schema cache load failed, keeping the old one: {e}");
                false
            }
        }
    }

    fn admit(&self, req: &Request<Incoming>) -> Result<Handoff, ApiError> {
        self.guard.admit(
            req.method().as_str(),
            req.uri().path(),
            header(req, handoff::HANDOFF_HEADER),
            header(req, handoff::SIGNATURE_HEADER),
        )
    }

    async fn query(&self, req: Request<Incoming>) -> Reply {
        let mut h = match self.admit(&req) {
            Ok(h) => h,
            Err(e) => return error_reply(&e),
        };
        if let Some(spec) = h.body.clone() {
            match self.read_body(req, &spec).await {
                Ok(text) => {
                    if let Some(slot) = h.params.get_mut(spec.param) {
                        *slot = Some(text);
                    }
                }
                Err(e) => return error_reply(&e),
            }
        }
        let (head_tx, head_rx) = tokio::sync::oneshot::channel();
        let (body_tx, mut body_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        // The impersonated role's own settings (`ALTER ROLE … SET`), applied as PostgREST does.
        let role_settings = self
            .schema
            .read()
            .ok()
            .and_then(|c| {
                c.as_ref().and_then(|c| {
                    c.role_settings
                        .iter()
                        .find(|(r, _)| *r == h.role)
                        .map(|(_, s)| s.clone())
                })
            })
            .unwrap_or_default();
        tokio::spawn(db::run(
            self.pool.clone(),
            Arc::clone(&self.config),
            db::Request {
                handoff: h,
                role_settings,
            },
            head_tx,
            body_tx,
        ));
        let head = match head_rx.await {
            Ok(Ok(head)) => head,
            Ok(Err(e)) => return error_reply(&e),
            Err(_) => {
                return error_reply(&ApiError::Internal(String::from(
                    "the query task ended without an answer",
                )))
            }
        };
        let body = match head.body {
            // 204 and 304 have no body (hyper's HTTP/1.1 drops one silently; HTTP/2 refuses it).
            Some(_) if matches!(head.status, 204 | 304) => Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed(),
            Some(bytes) => Full::new(bytes).map_err(|never| match never {}).boxed(),
            None => {
                let chunks = futures_util::stream::poll_fn(move |cx| body_rx.poll_recv(cx))
                    .map(|chunk| chunk.map(hyper::body::Frame::data));
                BodyExt::boxed(StreamBody::new(chunks))
            }
        };
        let mut r = with_body(head.status, head.headers, body);
        // `response.headers` replace PostgREST's own headers of the same name.
        for (name, value) in head.extra_headers {
            let (Ok(name), Ok(value)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                hyper::header::HeaderValue::from_str(&value),
            ) else {
                return error_reply(&ApiError::ResponseHeaders);
            };
            r.headers_mut().insert(name, value);
        }
        r
    }

    /// Reads the whole body (up to `pgmesh-max-body-bytes`) and makes it the text PostgreSQL
    /// reads: JSON checked for matching keys, CSV and forms turned into JSON.
    async fn read_body(&self, req: Request<Incoming>, spec: &BodySpec) -> Result<String, ApiError> {
        let limit = self.config.max_body_bytes;
        let collected = Limited::new(
            req.into_body(),
            usize::try_from(limit).unwrap_or(usize::MAX),
        )
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::BodyTooLarge(limit)
            } else {
                ApiError::InvalidBody(format!("The request body could not be read: {e}"))
            }
        })?;
        let bytes = Vec::from(collected.to_bytes());
        match spec.format {
            BodyFormat::Json if bytes.trim_ascii().is_empty() => {
                Err(ApiError::InvalidBody(String::from("Empty or invalid json")))
            }
            // bytea's text input: `\x` and the bytes in hex.
            BodyFormat::Bytes => Ok(format!("\\x{}", hex::encode(&bytes))),
            BodyFormat::Json => {
                if let Some(keys) = &spec.keys {
                    payload::check_keys(&bytes, keys)?;
                }
                String::from_utf8(bytes)
                    .map_err(|_| ApiError::InvalidBody(String::from("Empty or invalid json")))
            }
            BodyFormat::Csv => payload::csv_to_json(&bytes),
            BodyFormat::Form => Ok(payload::form_to_json(&bytes)),
            BodyFormat::Text | BodyFormat::Xml => String::from_utf8(bytes)
                .map_err(|_| ApiError::InvalidBody(String::from("The body is not UTF-8"))),
        }
    }

    fn schema(&self, req: &Request<Incoming>) -> Reply {
        if let Err(e) = self.admit(req) {
            return error_reply(&e);
        }
        self.schema_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cache = self.schema.read().ok().and_then(|c| c.clone());
        let Some(cache) = cache else {
            return error_reply(&ApiError::SchemaCacheNotLoaded);
        };
        if header(req, "if-none-match") == Some(cache.version.as_str()) {
            return reply(304, vec![], Bytes::new());
        }
        match serde_json::to_vec(cache.as_ref()) {
            Ok(body) => reply(
                200,
                vec![("content-type", String::from("application/json"))],
                body,
            ),
            Err(e) => error_reply(&ApiError::Internal(e.to_string())),
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Reply, Infallible> {
        let path = req.uri().path().to_string();
        Ok(match path.as_str() {
            handoff::QUERY_PATH => self.query(req).await,
            handoff::SCHEMA_PATH => self.schema(&req),
            "/_pgmesh/live" => reply(200, vec![], Bytes::new()),
            "/_pgmesh/metrics" => reply(
                200,
                vec![("content-type", String::from("text/plain; version=0.0.4"))],
                format!(
                    "# TYPE pgmesh_schema_requests_total counter\npgmesh_schema_requests_total {}\n# TYPE pgmesh_pg_round_trips_total counter\npgmesh_pg_round_trips_total {}\n",
                    self.schema_requests.load(std::sync::atomic::Ordering::Relaxed),
                    db::ROUND_TRIPS.load(std::sync::atomic::Ordering::Relaxed)
                ),
            ),
            "/_pgmesh/ready" => {
                let ready = self.schema.read().ok().is_some_and(|c| c.is_some());
                reply(if ready { 200 } else { 503 }, vec![], Bytes::new())
            }
            _ => error_reply(&ApiError::InvalidPath),
        })
    }
}

/// Loads the schema cache, retrying until the database answers.
async fn load_schema(app: Arc<App>) {
    let mut delay = Duration::from_millis(100);
    while !app.reload_schema().await {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

pub async fn serve(listen: SocketAddr, config: Config, key: Vec<u8>) -> Result<(), String> {
    let pool = db::pool(&config)?;
    let schema_pool = db::schema_pool(&config)?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    let app = Arc::new(App {
        config: Arc::new(config),
        pool,
        schema_pool,
        guard: Guard::new(key),
        schema: RwLock::new(None),
        reload_lock: tokio::sync::Mutex::new(()),
        schema_requests: std::sync::atomic::AtomicU64::new(0),
    });
    tokio::spawn(load_schema(Arc::clone(&app)));
    if let Some(channel) = app.config.db_channel.clone() {
        tokio::spawn(crate::listener::listen(Arc::clone(&app), channel));
    }
    eprintln!("pgmesh-sidecar: listening on {listen}");
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
        }
    };
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => return Ok(()),
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |req| Arc::clone(&app).handle(req));
            let _ = http1::Builder::new()
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
