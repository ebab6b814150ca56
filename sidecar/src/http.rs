//! The sidecar's HTTP side: `/_pgmesh/query` (signed hand-offs), `/_pgmesh/schema` (the schema
//! cache document, signed requests only), `/_pgmesh/live`, `/_pgmesh/ready` and
//! `/_pgmesh/metrics`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, IF_NONE_MATCH};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sql_engine::api_request::payload::{self, BodyFormat};
use sql_engine::handoff::{self, BodySpec, Handoff, Kind};
use sql_engine::ApiError;
use tokio::net::TcpListener;

use crate::app::App;
use crate::db;

/// The largest request head the sidecar reads: the hand-off travels in headers.
const MAX_HEAD_BYTES: usize = 4 * 1024 * 1024;

/// The filter's hand-off document and its signature (checked at compile time to be valid
/// header names).
const HANDOFF: HeaderName = HeaderName::from_static(handoff::HANDOFF_HEADER);
const SIGNATURE: HeaderName = HeaderName::from_static(handoff::SIGNATURE_HEADER);

const LIVE_PATH: &str = "/_pgmesh/live";
const READY_PATH: &str = "/_pgmesh/ready";
const METRICS_PATH: &str = "/_pgmesh/metrics";

pub type Reply = Response<BoxBody<Bytes, std::io::Error>>;

fn full(body: impl Into<Bytes>) -> BoxBody<Bytes, std::io::Error> {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

fn reply(status: u16, headers: Vec<(HeaderName, String)>, body: impl Into<Bytes>) -> Reply {
    let mut r = with_status(status, full(body));
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

fn with_status(status: u16, body: BoxBody<Bytes, std::io::Error>) -> Reply {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

/// Appends the headers sql-engine chose (lowercase names; one that is not a valid header name
/// is left out rather than trusted).
fn append_engine_headers(r: &mut Reply, headers: Vec<(&'static str, String)>) {
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            r.headers_mut().append(k, v);
        }
    }
}

fn error_reply(e: &ApiError) -> Reply {
    let r = e.to_response();
    let mut reply = with_status(r.status, full(r.body));
    append_engine_headers(&mut reply, r.headers);
    // Headers the database named (`RAISE SQLSTATE 'PGRST'`) replace PostgREST's own.
    for (name, value) in r.extra_headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            reply.headers_mut().insert(name, value);
        }
    }
    reply
}

/// A request header as UTF-8 (hand-offs carry raw UTF-8, which `to_str` would refuse).
fn header<'a>(req: &'a Request<Incoming>, name: &HeaderName) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

fn admit(app: &App, req: &Request<Incoming>) -> Result<Handoff, ApiError> {
    app.guard.admit(
        req.method().as_str(),
        req.uri().path(),
        header(req, &HANDOFF),
        header(req, &SIGNATURE),
    )
}

/// Answers one request.
pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_string();
    Ok(match path.as_str() {
        handoff::QUERY_PATH => query(&app, req).await,
        handoff::SCHEMA_PATH => schema(&app, &req),
        LIVE_PATH => reply(200, vec![], Bytes::new()),
        METRICS_PATH => reply(
            200,
            vec![(CONTENT_TYPE, String::from("text/plain; version=0.0.4"))],
            format!(
                "# TYPE pgmesh_schema_requests_total counter\npgmesh_schema_requests_total {}\n# TYPE pgmesh_pg_round_trips_total counter\npgmesh_pg_round_trips_total {}\n",
                app.schema_requests.load(Ordering::Relaxed),
                app.db.round_trips()
            ),
        ),
        READY_PATH => {
            let ready = app.schema().is_some();
            reply(if ready { 200 } else { 503 }, vec![], Bytes::new())
        }
        _ => error_reply(&ApiError::InvalidPath),
    })
}

async fn query(app: &App, req: Request<Incoming>) -> Reply {
    let mut h = match admit(app, &req) {
        Ok(Handoff {
            kind: Kind::Query(query),
            ..
        }) => query,
        // `verify` accepts a kind only at its own path.
        Ok(_) => {
            return error_reply(&ApiError::HandoffRejected(String::from(
                "not a query hand-off",
            )))
        }
        Err(e) => return error_reply(&e),
    };
    if let (Some(spec), Some(slot)) = (&h.body, h.main.body) {
        let text = match read_body(app, req, spec).await {
            Ok(text) => text,
            Err(e) => return error_reply(&e),
        };
        if let Some(slot) = h.main.params.get_mut(slot) {
            *slot = Some(text);
        }
    }
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let (body_tx, mut body_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let role_settings = app.role_settings(&h.identity.role);
    let logged = (h.context.method.clone(), h.context.path.clone());
    // Its own task: the transaction runs to its end (or its cancel) even if this request's
    // connection goes away, and a panic in it ends only this request.
    tokio::spawn(Arc::clone(&app.db).run(
        db::Request {
            query: h,
            role_settings,
        },
        db::Answer::new(head_tx, body_tx),
    ));
    let head = match head_rx.await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => {
            log_answer(&logged, e.status());
            return error_reply(&e);
        }
        Err(_) => {
            log_answer(&logged, 500);
            return error_reply(&ApiError::Internal(String::from(
                "the query task ended without an answer",
            )));
        }
    };
    log_answer(&logged, head.status);
    let body = match head.body {
        // 204 and 304 have no body (hyper's HTTP/1.1 drops one silently; HTTP/2 refuses it).
        Some(_) if matches!(head.status, 204 | 304) => full(Bytes::new()),
        Some(bytes) => full(bytes),
        None => {
            let chunks = futures_util::stream::poll_fn(move |cx| body_rx.poll_recv(cx))
                .map(|chunk| chunk.map(hyper::body::Frame::data));
            BodyExt::boxed(StreamBody::new(chunks))
        }
    };
    let mut r = with_status(head.status, body);
    append_engine_headers(&mut r, head.headers);
    // `response.headers` replace PostgREST's own headers of the same name.
    for (name, value) in head.extra_headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            return error_reply(&ApiError::ResponseHeaders);
        };
        r.headers_mut().insert(name, value);
    }
    r
}

/// A request's answer, at the level PostgREST's `log-level` gives it: a 5xx is an error, a
/// 4xx a warning, the rest information.
fn log_answer((method, path): &(String, String), status: u16) {
    match status {
        500.. => tracing::error!("{method} {path} {status}"),
        400..=499 => tracing::warn!("{method} {path} {status}"),
        _ => tracing::info!("{method} {path} {status}"),
    }
}

/// Reads the whole body (up to `pgmesh-max-body-bytes`) and makes it the text PostgreSQL
/// reads: JSON checked for matching keys, CSV and forms turned into JSON.
async fn read_body(app: &App, req: Request<Incoming>, spec: &BodySpec) -> Result<String, ApiError> {
    let limit = app.config.max_body_bytes;
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

fn schema(app: &App, req: &Request<Incoming>) -> Reply {
    if let Err(e) = admit(app, req) {
        return error_reply(&e);
    }
    app.schema_requests.fetch_add(1, Ordering::Relaxed);
    let Some(cache) = app.schema() else {
        return error_reply(&ApiError::SchemaCacheNotLoaded);
    };
    if header(req, &IF_NONE_MATCH) == Some(cache.version.as_str()) {
        return reply(304, vec![], Bytes::new());
    }
    match serde_json::to_vec(cache.as_ref()) {
        Ok(body) => reply(
            200,
            vec![(CONTENT_TYPE, String::from("application/json"))],
            body,
        ),
        Err(e) => error_reply(&ApiError::Internal(e.to_string())),
    }
}

/// Accepts connections until `shutdown` resolves, each served by `service` on a task of its
/// own: a panic while answering ends that connection's task (tokio catches it), not the server.
pub async fn serve<S>(listener: TcpListener, service: S, shutdown: impl Future<Output = ()>)
where
    S: Service<Request<Incoming>, Response = Reply, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::service::service_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn a_panic_while_answering_ends_that_request_only() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = service_fn(|req: Request<Incoming>| async move {
            if req.uri().path() == "/panic" {
                panic!("a bug while answering");
            }
            Ok::<_, Infallible>(reply(200, vec![], "fine"))
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, service, async {
            let _ = stopped.await;
        }));
        assert!(get(addr, "/ok").await.starts_with("HTTP/1.1 200"));
        assert_eq!(
            get(addr, "/panic").await,
            "",
            "no answer for the panicked one"
        );
        let after = get(addr, "/ok").await;
        assert!(
            after.starts_with("HTTP/1.1 200"),
            "still serving: {after:?}"
        );
        assert!(after.ends_with("fine"));
        let _ = stop.send(());
        server.await.unwrap();
    }

    #[test]
    fn engine_headers_with_invalid_names_are_left_out() {
        let mut r = reply(200, vec![], "");
        append_engine_headers(
            &mut r,
            vec![
                ("content-range", String::from("0-1/*")),
                ("Not Valid", String::from("x")),
            ],
        );
        assert_eq!(r.headers().len(), 1);
        assert_eq!(r.headers()["content-range"], "0-1/*");
    }
}
