//! The proxy-wasm adapter: it only turns host calls into calls of [`crate::core`] (one
//! decision per request, in the HTTP context) and [`crate::schema_sync`] (configuration and
//! schema-cache fetches, in the root context), and applies what they return. The `.wasm`
//! modules under `filter/variants/` start it with [`start`].
//!
//! proxy-wasm 0.2.5 panics inside its host-call wrappers on host statuses it does not expect
//! (and on header values that are not UTF-8 when read as `String`). So every host call here is
//! made only in a phase where the host answers it (request headers before they leave; call
//! answers that have headers), and header values are read as bytes.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, Status};
use sql_engine::api_request::payload::BodyReader;

use crate::core::{
    decide, refuse, resume, Body, BodyRead, Decision, FilterState, Incoming, Pending,
};
use crate::schema_sync::{self, Answer, Entry, Event, SchemaSync, SharedData, SharedError};

/// What a build of the filter may change in the adapter. The shipped module runs with
/// [`Hooks::SHIPPED`]; test and benchmark builds are separate crates that pass their own.
#[derive(Debug, Clone, Copy)]
pub struct Hooks {
    /// Named in the start-up log line, so that a log tells which build runs.
    pub name: &'static str,
    /// `false`: requests pass untouched, their headers not even read (the cost of a wasm
    /// filter that does nothing).
    pub handle_requests: bool,
    /// Sees every request's headers before the decision.
    pub inspect_headers: fn(&[(String, String)]),
    /// `Some(status)`: a planned request is answered with this status and an empty body
    /// instead of being forwarded (the filter's own cost, without the sidecar's).
    pub answer_planned: Option<u16>,
}

impl Hooks {
    pub const SHIPPED: Hooks = Hooks {
        name: "shipped",
        handle_requests: true,
        inspect_headers: |_| {},
        answer_planned: None,
    };
}

/// The hooks of this VM, set once by [`start`]; `NewRootContext` is a plain `fn`, so they
/// cannot travel in a closure.
static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// The module's entry point: call it from `proxy_wasm::main!`.
pub fn start(hooks: Hooks) {
    proxy_wasm::set_log_level(LogLevel::Info);
    // `panic = "abort"` ends the VM on a panic; the hook leaves the reason in Envoy's log.
    std::panic::set_hook(Box::new(|info| {
        let _ = hostcalls::log(
            LogLevel::Critical,
            &format!("pgmesh filter panicked: {info}"),
        );
    }));
    let _ = HOOKS.set(hooks);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        let hooks = HOOKS.get().copied().unwrap_or(Hooks::SHIPPED);
        Box::new(Root::new(context_id, hooks))
    });
}

const TICK: Duration = Duration::from_millis(200);

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

/// The host's shared data (one store per Envoy, seen by every VM).
struct HostShared;

impl SharedData for HostShared {
    fn get(&self, key: &str) -> Result<Entry, SharedError> {
        hostcalls::get_shared_data(key)
            .map(|(value, cas)| Entry { value, cas })
            .map_err(|_| SharedError::Unavailable)
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|status| match status {
            Status::CasMismatch => SharedError::CasMismatch,
            _ => SharedError::Unavailable,
        })
    }
}

struct Root {
    state: Shared,
    nonces: Rc<Nonces>,
    sync: SchemaSync,
    hooks: Hooks,
}

impl Root {
    fn new(context_id: u32, hooks: Hooks) -> Self {
        let nonces = Nonces::new(context_id);
        Root {
            state: Rc::new(RefCell::new(None)),
            sync: SchemaSync::new(nonces.seed.clone()),
            nonces: Rc::new(nonces),
            hooks,
        }
    }

    fn adopt_shared(&mut self) {
        if let Some(event) = self.sync.adopt(&HostShared) {
            self.apply(event);
        }
    }

    /// Acts on what the schema sync reports: installs an adopted cache, logs the rest.
    fn apply(&self, event: Event) {
        match event {
            Event::Adopted(cache) => {
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
                        state.schema = Some(Rc::from(cache));
                    }
                }
            }
            Event::SharedInvalid(e) => log(
                LogLevel::Error,
                &format!(
                    "pgmesh: shared schema cache document is invalid, keeping the old one: {e}"
                ),
            ),
            Event::FetchedInvalid(e) => log(
                LogLevel::Error,
                &format!("pgmesh: schema cache document is invalid, keeping the old one: {e}"),
            ),
            Event::PublishFailed => log(LogLevel::Error, "pgmesh: cannot publish the schema cache"),
            Event::FetchFailed(why) => log(
                LogLevel::Warn,
                &format!("pgmesh: schema cache fetch failed ({why}); keeping the old cache"),
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
        if !self.sync.is_answer(token_id) {
            return;
        }
        // A failed call arrives with no headers; reading them would be a host error.
        let status = if num_headers == 0 {
            None
        } else {
            hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
                .ok()
                .flatten()
        };
        let body;
        let failed;
        let answer = match status.as_deref() {
            None => Answer::Failed("no response"),
            Some("200") => {
                body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                Answer::Document(&body)
            }
            Some("304") => Answer::NotModified,
            Some(other) => {
                failed = format!("answered {other}");
                Answer::Failed(&failed)
            }
        };
        for event in self.sync.answered(&mut HostShared, answer) {
            self.apply(event);
        }
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _: usize) -> bool {
        log(
            LogLevel::Info,
            &format!(
                "pgmesh filter {} ({}) starting",
                env!("CARGO_PKG_VERSION"),
                self.hooks.name
            ),
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
                self.sync.forget_adopted();
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
        let Some(fetch) = self.sync.due(&mut HostShared, now, poll_ms) else {
            return;
        };
        let Some(headers) =
            schema_sync::fetch_headers(&handoff_key, now, self.nonces.next(), &fetch)
        else {
            return;
        };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let timeout = Duration::from_millis(schema_sync::FETCH_TIMEOUT_MS);
        match hostcalls::dispatch_http_call(&cluster, headers, None, vec![], timeout) {
            Ok(token) => self.sync.sent(now, Some(token)),
            Err(e) => {
                self.sync.sent(now, None);
                log(
                    LogLevel::Warn,
                    &format!("pgmesh: cannot reach cluster {cluster}: {e:?}"),
                );
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            state: Rc::clone(&self.state),
            nonces: Rc::clone(&self.nonces),
            hooks: self.hooks,
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
    hooks: Hooks,
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
    fn decide_and_apply(&mut self, headers: Vec<(String, String)>, body: Body) -> Action {
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
        self.apply(decision)
    }

    /// Plans a held request once its body's keys are known: authentication and parsing are
    /// not repeated.
    fn resume_and_apply(&mut self, pending: Box<Pending>, body: BodyRead<'_>) -> Action {
        let decision = {
            let Ok(state) = self.state.try_borrow() else {
                return self.internal_error("filter state busy");
            };
            let Some(state) = state.as_ref() else {
                return self.internal_error("filter not configured");
            };
            resume(state, *pending, body, now_ms())
        };
        self.apply(decision)
    }

    fn apply(&mut self, decision: Decision) -> Action {
        if let (Decision::Forward { .. }, Some(status)) = (&decision, self.hooks.answer_planned) {
            // The work is done; the result is kept from being optimised away.
            std::hint::black_box(&decision);
            return self.respond(status, &[], "");
        }
        match decision {
            Decision::Respond {
                status,
                headers,
                body,
            } => self.respond(status, &headers, &body),
            Decision::NeedBody(pending) => {
                // Envoy holds the headers (allow_on_headers_stop_iteration) and buffers the
                // body until the filter has read enough of it.
                self.held = Some(Held {
                    reader: BodyReader::new(pending.format),
                    pending,
                    seen: 0,
                });
                Action::Pause
            }
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
        if !self.hooks.handle_requests {
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
        (self.hooks.inspect_headers)(&headers);
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
                    return self.resume_and_apply(held.pending, BodyRead::Read(&summary))
                }
                Ok(None) => {}
                Err(e) => return self.apply(refuse(&held.pending, e)),
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

/// A request whose headers wait while the start of its body is read: authenticated and
/// parsed, waiting for the keys.
struct Held {
    pending: Box<Pending>,
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
            return self.resume_and_apply(held.pending, BodyRead::Absent);
        }
        match held.reader.finish() {
            Ok(summary) => self.resume_and_apply(held.pending, BodyRead::Read(&summary)),
            Err(e) => self.apply(refuse(&held.pending, e)),
        }
    }
}
