//! The thin proxy-wasm adapter: configuration and schema-cache fetches in the root context,
//! one decision per request in the HTTP context.
//!
//! proxy-wasm 0.2.5 panics inside its host-call wrappers on host statuses it does not expect
//! (and on header values that are not UTF-8 when read as `String`). So every host call here is
//! made only in a phase where the host answers it (request headers before they leave; call
//! answers that have headers), and header values are read as bytes.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};
use sql_engine::api_request::payload::BodyReader;
use sql_engine::handoff::{self, Handoff};
use sql_engine::schema_cache::SchemaCache;

use crate::core::{decide, Body, Decision, FilterState, Incoming};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    std::panic::set_hook(Box::new(|info| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("pgmesh filter panicked: {info}"));
    }));
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> { Box::new(Root::new(context_id)) });
}}

const TICK: Duration = Duration::from_millis(200);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

fn log(level: LogLevel, msg: &str) {
    let _ = hostcalls::log(level, msg);
}

fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Unique hand-off nonces: a random per-VM seed plus a counter.
struct Nonces {
    seed: String,
    counter: Cell<u64>,
}

impl Nonces {
    fn new(root_context_id: u32) -> Self {
        let mut bytes = [0u8; 16];
        let seed = match getrandom::getrandom(&mut bytes) {
            Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            // Without randomness, the VM's start time in nanoseconds and its root context
            // still tell VMs apart.
            Err(_) => {
                let nanos = hostcalls::get_current_time()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                format!("t{nanos}c{root_context_id}")
            }
        };
        Nonces {
            seed,
            counter: Cell::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self.counter.get().wrapping_add(1);
        self.counter.set(n);
        format!("{}-{n}", self.seed)
    }
}

type Shared = Rc<RefCell<Option<FilterState>>>;

/// Shared data (one copy per Envoy, seen by every VM): the schema document, its version, and
/// the lease of the VM that fetches it.
const SCHEMA_KEY: &str = "pgmesh.schema";
const VERSION_KEY: &str = "pgmesh.schema.version";
const LEADER_KEY: &str = "pgmesh.schema.leader";

struct Root {
    state: Shared,
    nonces: Rc<Nonces>,
    fetch_in_flight: Option<u32>,
    last_fetch_ms: u64,
    /// The version of the schema document this VM has adopted.
    adopted: Option<String>,
}

impl Root {
    fn new(context_id: u32) -> Self {
        Root {
            state: Rc::new(RefCell::new(None)),
            nonces: Rc::new(Nonces::new(context_id)),
            fetch_in_flight: None,
            last_fetch_ms: 0,
            adopted: None,
        }
    }

    /// Takes the document another VM (or this one) published, when its version is new here.
    fn adopt_shared(&mut self) {
        let Ok((Some(version), _)) = hostcalls::get_shared_data(VERSION_KEY) else {
            return;
        };
        if self.adopted.as_deref().map(str::as_bytes) == Some(version.as_slice()) {
            return;
        }
        let Ok((Some(document), _)) = hostcalls::get_shared_data(SCHEMA_KEY) else {
            return;
        };
        // Remember the version key's value, even if a concurrent publish left the document one
        // version ahead: the next change of the key brings both in line, and nothing is parsed
        // again on every tick in between.
        self.adopted = Some(String::from_utf8_lossy(&version).into_owned());
        match SchemaCache::from_json(&document) {
            Ok(cache) => {
                if let Ok(mut state) = self.state.try_borrow_mut() {
                    if let Some(state) = state.as_mut() {
                        log(
                            LogLevel::Info,
                            &format!(
                                "pgmesh: schema cache {} in use ({} relations)",
                                cache.version,
                                cache.tables.len()
                            ),
                        );
                        state.schema = Some(Rc::new(cache));
                    }
                }
            }
            Err(e) => log(
                LogLevel::Error,
                &format!(
                    "pgmesh: shared schema cache document is invalid, keeping the old one: {e}"
                ),
            ),
        }
    }

    /// One VM per Envoy fetches: it holds a lease in shared data, renewed on each fetch and
    /// taken over by another VM when it lapses (a VM that crashed or went away).
    fn take_lead(&self, now: u64, lease_ms: u64) -> bool {
        let me = self.nonces.seed.as_str();
        let Ok((value, cas)) = hostcalls::get_shared_data(LEADER_KEY) else {
            return false;
        };
        let text = value.map(|v| String::from_utf8_lossy(&v).into_owned());
        let (holder, expiry) = text
            .as_deref()
            .and_then(|t| t.split_once('|'))
            .map(|(h, e)| (h.to_string(), e.parse::<u64>().unwrap_or(0)))
            .unwrap_or_default();
        if !holder.is_empty() && holder != me && expiry > now {
            return false;
        }
        let lease = format!("{me}|{}", now + lease_ms);
        hostcalls::set_shared_data(LEADER_KEY, Some(lease.as_bytes()), cas).is_ok()
    }

    /// Publishes a fetched document for every VM, document first, then its version.
    fn publish(&mut self, document: &[u8]) {
        match SchemaCache::from_json(document) {
            Ok(cache) => {
                let published = hostcalls::set_shared_data(SCHEMA_KEY, Some(document), None)
                    .and_then(|()| {
                        hostcalls::set_shared_data(
                            VERSION_KEY,
                            Some(cache.version.as_bytes()),
                            None,
                        )
                    });
                if published.is_err() {
                    log(LogLevel::Error, "pgmesh: cannot publish the schema cache");
                }
                self.adopt_shared();
            }
            Err(e) => log(
                LogLevel::Error,
                &format!("pgmesh: schema cache document is invalid, keeping the old one: {e}"),
            ),
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if self.fetch_in_flight != Some(token_id) {
            return;
        }
        self.fetch_in_flight = None;
        // A failed call arrives with no headers; reading them would be a host error.
        if num_headers == 0 {
            log(
                LogLevel::Warn,
                "pgmesh: schema cache fetch failed (no response)",
            );
            return;
        }
        let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .unwrap_or_default();
        match status.as_str() {
            "200" => {
                let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                self.publish(&body);
            }
            "304" => {}
            other => log(
                LogLevel::Warn,
                &format!("pgmesh: schema cache fetch answered {other}; keeping the old cache"),
            ),
        }
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _: usize) -> bool {
        log(
            LogLevel::Info,
            concat!("pgmesh filter ", env!("CARGO_PKG_VERSION"), " starting"),
        );
        true
    }

    fn on_configure(&mut self, _: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let jwt_secret = std::env::var("PGMESH_JWT_SECRET").ok();
        let handoff_key = std::env::var("PGMESH_HANDOFF_KEY").ok();
        match FilterState::configure(&config, jwt_secret, handoff_key) {
            Ok(state) => {
                if let Ok(mut slot) = self.state.try_borrow_mut() {
                    *slot = Some(state);
                }
                // The new state has no schema yet: adopt the shared copy again.
                self.adopted = None;
                // A VM created after the first load (another worker, or a reload after a
                // crash) serves at once with the shared copy.
                self.adopt_shared();
                hostcalls::set_tick_period(TICK).is_ok()
            }
            Err(e) => {
                log(
                    LogLevel::Critical,
                    &format!("pgmesh: configuration rejected: {e}"),
                );
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.adopt_shared();
        if self.fetch_in_flight.is_some() {
            return;
        }
        let now = now_ms();
        let (poll_ms, handoff_key, cluster) = {
            let Ok(state) = self.state.try_borrow() else {
                return;
            };
            let Some(state) = state.as_ref() else { return };
            (
                state.settings.schema_poll_ms,
                state.handoff_key.clone(),
                state.settings.sidecar_cluster.clone(),
            )
        };
        // Until a cache is in use, ask on every tick; then once per poll interval.
        if self.adopted.is_some() && now.saturating_sub(self.last_fetch_ms) < poll_ms {
            return;
        }
        // The lease outlives a fetch that takes until its timeout.
        let lease_ms = poll_ms
            .saturating_mul(3)
            .max(FETCH_TIMEOUT.as_millis() as u64 + 1000);
        if !self.take_lead(now, lease_ms) {
            return;
        }
        let hand = Handoff {
            method: String::from("GET"),
            path: handoff::SCHEMA_PATH.to_string(),
            ts_ms: now,
            nonce: self.nonces.next(),
            read_only: true,
            ..Handoff::default()
        };
        let Some((document, signature)) =
            handoff::sign(&handoff_key, "GET", handoff::SCHEMA_PATH, &hand)
        else {
            return;
        };
        let mut headers = vec![
            (":method", "GET"),
            (":path", handoff::SCHEMA_PATH),
            (":authority", "pgmesh-sidecar"),
            (handoff::HANDOFF_HEADER, document.as_str()),
            (handoff::SIGNATURE_HEADER, signature.as_str()),
        ];
        let adopted = self.adopted.clone();
        if let Some(v) = adopted.as_deref() {
            headers.push(("if-none-match", v));
        }
        self.last_fetch_ms = now;
        match hostcalls::dispatch_http_call(&cluster, headers, None, vec![], FETCH_TIMEOUT) {
            Ok(token) => self.fetch_in_flight = Some(token),
            Err(e) => log(
                LogLevel::Warn,
                &format!("pgmesh: cannot reach cluster {cluster}: {e:?}"),
            ),
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            state: Rc::clone(&self.state),
            nonces: Rc::clone(&self.nonces),
            held: None,
            response_headers: Vec::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Request {
    state: Shared,
    nonces: Rc<Nonces>,
    /// The request headers, held while the start of the body is read.
    held: Option<Held>,
    /// Headers to add to the response from the sidecar (CORS).
    response_headers: Vec<(&'static str, String)>,
}

impl Context for Request {}

impl Request {
    fn respond(&self, status: u16, headers: &[(&'static str, String)], body: &str) -> Action {
        // Marks the reply as already PostgREST-shaped for Envoy's local_reply_config.
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            "x-pgmesh-local-reply",
            Some("1"),
        );
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Err(e) =
            hostcalls::send_http_response(u32::from(status), headers, Some(body.as_bytes()))
        {
            log(
                LogLevel::Error,
                &format!("pgmesh: cannot send local response: {e:?}"),
            );
        }
        Action::Pause
    }

    fn internal_error(&self, why: &str) -> Action {
        self.respond_error(&sql_engine::ApiError::Internal(why.to_string()))
    }
}

impl Request {
    /// Decides with what is known of the body, and applies the decision.
    fn decide_and_apply(&mut self, headers: Vec<(String, String)>, body: Body<'_>) -> Action {
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (method, path) = (find(":method"), find(":path"));
        let decision = {
            let Ok(state) = self.state.try_borrow() else {
                return self.internal_error("filter state busy");
            };
            let Some(state) = state.as_ref() else {
                return self.internal_error("filter not configured");
            };
            decide(
                state,
                &Incoming {
                    method: &method,
                    path: &path,
                    headers: &headers,
                    now_ms: now_ms(),
                    nonce: self.nonces.next(),
                    body,
                },
            )
        };
        match decision {
            Decision::Respond {
                status,
                headers,
                body,
            } => self.respond(status, &headers, &body),
            Decision::NeedBody(format) => {
                // Envoy holds the headers (allow_on_headers_stop_iteration) and buffers the
                // body until the filter has read enough of it.
                self.held = Some(Held {
                    headers,
                    reader: BodyReader::new(format),
                    seen: 0,
                });
                Action::Pause
            }
            #[cfg(feature = "bench-local")]
            Decision::Forward {
                remove,
                set,
                response,
            } => {
                // Benchmark build: the work is done; answer here instead of forwarding.
                std::hint::black_box((remove, set, response));
                self.respond(204, &[], "")
            }
            #[cfg(not(feature = "bench-local"))]
            Decision::Forward {
                remove,
                set,
                response,
            } => {
                self.response_headers = response;
                for name in &remove {
                    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None).is_err() {
                        return self.internal_error("cannot remove a request header");
                    }
                }
                for (name, value) in &set {
                    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                        .is_err()
                    {
                        return self.internal_error("cannot set a request header");
                    }
                }
                Action::Continue
            }
        }
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        if cfg!(feature = "passthrough") {
            // Benchmark build: the cost of a wasm filter that does nothing.
            return Action::Continue;
        }
        // Header values may hold any byte Envoy lets through (obs-text); read them as bytes.
        let Ok(raw) = hostcalls::get_map_bytes(MapType::HttpRequestHeaders) else {
            return self.internal_error("cannot read request headers");
        };
        let headers: Vec<(String, String)> = raw
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        #[cfg(feature = "test-crash")]
        if headers.iter().any(|(k, _)| k == "x-pgmesh-test-crash") {
            // Only in the test build: proves that a crashed filter lets nothing through.
            #[allow(clippy::panic)]
            {
                panic!("crash requested by test header");
            }
        }
        let body = if end_of_stream {
            Body::Absent
        } else {
            Body::Pending
        };
        self.decide_and_apply(headers, body)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        // Only a request whose headers are held is still undecided; other bodies pass.
        let Some(mut held) = self.held.take() else {
            return Action::Continue;
        };
        // Envoy's buffer holds the body so far; only the bytes not read yet are copied in, so
        // the filter's memory does not grow with the body.
        if body_size > held.seen {
            let chunk = match hostcalls::get_buffer(
                BufferType::HttpRequestBody,
                held.seen,
                body_size - held.seen,
            ) {
                Ok(bytes) => bytes.unwrap_or_default(),
                Err(_) => return self.internal_error("cannot read the request body"),
            };
            held.seen = body_size;
            match held.reader.feed(&chunk) {
                Ok(Some(summary)) => {
                    return self.decide_and_apply(held.headers, Body::Read(&summary))
                }
                Ok(None) => {}
                Err(e) => return self.respond_error(&e),
            }
        }
        if end_of_stream {
            return self.body_ended(held);
        }
        self.held = Some(held);
        Action::Pause
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // Only for forwarded requests: the response headers have not left yet in this phase.
        for (name, value) in std::mem::take(&mut self.response_headers) {
            let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(&value));
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        match self.held.take() {
            Some(held) => self.body_ended(held),
            None => Action::Continue,
        }
    }
}

/// A request whose headers wait while the start of its body is read.
struct Held {
    headers: Vec<(String, String)>,
    reader: BodyReader,
    /// Bytes of the body already read.
    seen: usize,
}

impl Request {
    fn respond_error(&self, e: &sql_engine::ApiError) -> Action {
        let r = e.to_response();
        self.respond(r.status, &r.headers, &r.body)
    }

    /// The whole body has arrived without settling the decision.
    fn body_ended(&mut self, held: Held) -> Action {
        if held.reader.is_blank() {
            return self.decide_and_apply(held.headers, Body::Absent);
        }
        match held.reader.finish() {
            Ok(summary) => self.decide_and_apply(held.headers, Body::Read(&summary)),
            Err(e) => self.respond_error(&e),
        }
    }
}
