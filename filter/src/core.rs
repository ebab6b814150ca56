//! The filter's logic, free of proxy-wasm: one request in, one decision out. The wasm adapter
//! feeds it the request headers and applies the decision; tests call it natively.

use std::rc::Rc;

use pgmesh_auth::role_path::RoleClaimPath;
use serde_json::{Map, Value};
use sql_engine::api_request::payload::{self, BodyFormat};
use sql_engine::api_request::{self, ApiRequest, Parsed, RequestHead};
use sql_engine::handoff::{self, Context, Handoff, Identity, Kind, Query};
use sql_engine::plan::Plan;
use sql_engine::schema_cache::SchemaCache;
use sql_engine::settings::ApiSettings;
use sql_engine::ApiError;

use crate::auth;

/// Everything the filter needs that outlives a request: settings, keys, the schema cache.
pub struct FilterState {
    pub settings: ApiSettings,
    pub role_path: RoleClaimPath,
    /// The `jwt-secret`'s keys; replaced whole (see [`FilterState::set_keys`]).
    pub jwt_keys: Option<Rc<auth::KeySet>>,
    pub handoff_key: handoff::HandoffKey,
    pub schema: Option<Rc<SchemaCache>>,
    /// Verified tokens (`jwt-cache-max-entries`).
    pub tokens: std::cell::RefCell<auth::TokenCache>,
}

impl FilterState {
    /// Builds the state from the plugin configuration (JSON) and the secrets from the VM
    /// environment. Fails closed with a reason.
    pub fn configure(
        config_json: &[u8],
        jwt_secret: Option<String>,
        handoff_key: Option<String>,
    ) -> Result<Self, String> {
        let settings = ApiSettings::from_json(config_json)?;
        let role_path = RoleClaimPath::parse(&settings.jwt_role_claim_key)?;
        let tokens = usize::try_from(settings.jwt_cache_max_entries).unwrap_or(usize::MAX);
        let handoff_key = handoff_key.filter(|k| k.len() >= 32).ok_or(
            "PGMESH_HANDOFF_KEY must be set in the VM environment (at least 32 characters)",
        )?;
        // The same reading as the configuration check's: PostgREST's forms and messages.
        let jwt_keys = jwt_secret
            .filter(|s| !s.is_empty())
            .map(|s| auth::KeySet::from_setting(&s, settings.jwt_secret_is_base64))
            .transpose()
            .map_err(|e| format!("PGMESH_JWT_SECRET: {e}"))?
            .map(Rc::new);
        Ok(FilterState {
            settings,
            role_path,
            jwt_keys,
            handoff_key: handoff::HandoffKey::derive(handoff_key.as_bytes()),
            schema: None,
            tokens: std::cell::RefCell::new(auth::TokenCache::new(tokens)),
        })
    }

    /// Swaps the key set (a JWKS fetched again, say). Tokens verified with the old keys are
    /// forgotten: a key taken out of the set must stop working at once.
    pub fn set_keys(&mut self, keys: Option<Rc<auth::KeySet>>) {
        self.jwt_keys = keys;
        self.tokens.get_mut().clear();
    }
}

/// The request as the filter sees it.
pub struct Incoming<'a> {
    pub method: &'a str,
    /// `:path`, with the query string.
    pub path: &'a str,
    /// All request headers (pseudo-headers included), names in lower case.
    pub headers: &'a [(String, String)],
    pub now_ms: u64,
    /// Unique per request (the adapter mixes a per-VM random seed with a counter).
    pub nonce: String,
    pub body: Body,
}

/// What the filter knows of the request body when the headers arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// The request has none.
    Absent,
    /// A body follows and has not been read.
    Pending,
}

/// What was read of a body the filter waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRead<'a> {
    /// None arrived, or only whitespace.
    Absent,
    /// What a [`payload::BodyReader`] learned from it.
    Read(&'a payload::Summary),
}

/// What to do with the request.
#[derive(Debug)]
pub enum Decision {
    /// Answer the client directly; nothing goes upstream.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Read the body with a [`payload::BodyReader`] for [`Pending::format`], then [`resume`].
    NeedBody(Box<Pending>),
    /// Rewrite the request and let Envoy route it to the sidecar.
    Forward {
        remove: Vec<String>,
        set: Vec<(&'static str, String)>,
        /// Headers to add to the sidecar's response (CORS).
        response: Vec<(&'static str, String)>,
    },
}

/// A request authenticated and parsed, waiting for its body's keys: [`resume`] plans it
/// without authenticating or parsing again.
#[derive(Debug)]
pub struct Pending {
    pub format: BodyFormat,
    parsed: Parsed,
    identity: Identity,
    forwarding: Forwarding,
    cors: Vec<(&'static str, String)>,
    nonce: String,
}

/// What a planned request carries on from its headers: computed only once planning succeeded
/// (or when the request must wait for its body), so a refused request does not pay for it.
#[derive(Debug)]
struct Forwarding {
    context: Context,
    remove: Vec<String>,
    /// CORS headers of an OPTIONS answer (see [`crate::cors::info_headers`]).
    options_cors: Vec<(&'static str, String)>,
}

impl Forwarding {
    fn of(state: &FilterState, req: &Incoming<'_>, path: &str, options: bool) -> Forwarding {
        Forwarding {
            context: Context {
                method: req.method.to_string(),
                path: path.to_string(),
                headers: request_headers_json(req.headers),
                cookies: request_cookies_json(req.headers),
            },
            remove: removable_headers(req.headers),
            options_cors: if options {
                crate::cors::info_headers(req.headers, &state.settings.server_cors_allowed_origins)
            } else {
                Vec::new()
            },
        }
    }
}

impl From<ApiError> for Decision {
    fn from(e: ApiError) -> Self {
        let r = e.to_response();
        Decision::Respond {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Authenticate, parse, plan, sign. Every failure is answered here. CORS preflights are
/// answered first, before authentication, as PostgREST's middleware does.
pub fn decide(state: &FilterState, req: &Incoming<'_>) -> Decision {
    let allowed = &state.settings.server_cors_allowed_origins;
    if let Some(headers) = crate::cors::preflight(req.method, req.headers, allowed) {
        return Decision::Respond {
            status: 200,
            headers,
            body: String::new(),
        };
    }
    let cors = crate::cors::response_headers(req.headers, allowed);
    let decision = match start(state, req, cors.clone()) {
        Ok(d) => d,
        Err(e) => e.into(),
    };
    with_cors(decision, cors)
}

/// Plans and signs a request whose body's keys have been read.
pub fn resume(state: &FilterState, pending: Pending, body: BodyRead<'_>, now_ms: u64) -> Decision {
    let cors = pending.cors.clone();
    let decision = match finish_with_body(state, pending, body, now_ms) {
        Ok(d) => d,
        Err(e) => e.into(),
    };
    with_cors(decision, cors)
}

/// The answer to a held request whose body could not be read: the error, with the request's
/// CORS headers as every other answer has them.
pub fn refuse(pending: &Pending, e: ApiError) -> Decision {
    with_cors(e.into(), pending.cors.clone())
}

fn with_cors(mut decision: Decision, cors: Vec<(&'static str, String)>) -> Decision {
    match &mut decision {
        Decision::Respond { headers, .. } => {
            for (name, value) in cors {
                if !headers.iter().any(|(n, _)| *n == name) {
                    headers.push((name, value));
                }
            }
        }
        Decision::Forward { response, .. } => *response = cors,
        Decision::NeedBody(_) => {}
    }
    decision
}

fn start(
    state: &FilterState,
    req: &Incoming<'_>,
    cors: Vec<(&'static str, String)>,
) -> Result<Decision, ApiError> {
    let identity = auth::authenticate_cached(
        header(req.headers, "authorization"),
        state.jwt_keys.as_deref(),
        &state.settings,
        &state.role_path,
        req.now_ms as f64 / 1000.0,
        Some(&state.tokens),
    )?;
    if state.schema.is_none() {
        return Err(ApiError::SchemaCacheNotLoaded);
    }
    let (path, query) = req.path.split_once('?').unwrap_or((req.path, ""));
    let head = RequestHead {
        method: req.method,
        path,
        query,
        headers: req.headers,
    };
    if let Some(length) = header(req.headers, "content-length").and_then(|l| l.parse::<u64>().ok())
    {
        if length > state.settings.max_body_bytes {
            return Err(ApiError::BodyTooLarge(state.settings.max_body_bytes));
        }
    }
    let parsed = api_request::parse(&head)?;
    let Some(format) = parsed.needs_body() else {
        let nonce = req.nonce.clone();
        let options = matches!(
            parsed.request,
            ApiRequest::Options { .. } | ApiRequest::CallOptions { .. }
        );
        return finish(state, parsed, identity, nonce, req.now_ms, || {
            Forwarding::of(state, req, path, options)
        });
    };
    let pending = Pending {
        format,
        parsed,
        identity,
        // A request waiting for its body is a write or a call, never OPTIONS.
        forwarding: Forwarding::of(state, req, path, false),
        cors,
        nonce: req.nonce.clone(),
    };
    match req.body {
        Body::Pending => Ok(Decision::NeedBody(Box::new(pending))),
        Body::Absent => finish_with_body(state, pending, BodyRead::Absent, req.now_ms),
    }
}

fn finish_with_body(
    state: &FilterState,
    mut pending: Pending,
    body: BodyRead<'_>,
    now_ms: u64,
) -> Result<Decision, ApiError> {
    if let Some(format) = pending.parsed.needs_body() {
        let summary = match body {
            BodyRead::Read(summary) => summary.clone(),
            // A function without arguments may be called with no body at all.
            BodyRead::Absent if matches!(pending.parsed.request, ApiRequest::Call(_)) => {
                payload::Summary::empty()
            }
            BodyRead::Absent => payload::BodyReader::new(format).finish()?,
        };
        pending.parsed = pending.parsed.with_body(summary);
    }
    let Pending {
        parsed,
        identity,
        forwarding,
        nonce,
        ..
    } = pending;
    finish(state, parsed, identity, nonce, now_ms, || forwarding)
}

fn finish(
    state: &FilterState,
    parsed: Parsed,
    identity: Identity,
    nonce: String,
    now_ms: u64,
    forwarding: impl FnOnce() -> Forwarding,
) -> Result<Decision, ApiError> {
    let cache = state
        .schema
        .as_deref()
        .ok_or(ApiError::SchemaCacheNotLoaded)?;
    let (plan, statements) = sql_engine::build_parsed(parsed.request, cache, &state.settings)?;
    let Forwarding {
        context,
        remove,
        options_cors,
    } = forwarding();
    let method = context.method.clone();
    if let Plan::Options { allow } = &plan {
        let mut headers = vec![("allow", allow.clone())];
        // PostgREST's `*` on OPTIONS, within `server-cors-allowed-origins` (see there).
        headers.extend(options_cors);
        return Ok(Decision::Respond {
            status: 200,
            headers,
            body: String::new(),
        });
    }
    // PostgreSQL would refuse the role at `SET ROLE` (PostgREST's 401); answered here, no
    // statement is sent. The role list is the schema cache's: a role created since needs a
    // schema reload.
    if cache.lacks_role(&identity.role) {
        return Err(ApiError::role_does_not_exist(
            &identity.role,
            identity.authenticated,
        ));
    }
    let query = Query::for_plan(
        &plan,
        statements,
        &state.settings,
        &parsed.query,
        identity,
        context,
    )
    .ok_or_else(|| ApiError::Internal(String::from("no hand-off for this plan")))?;
    let handoff = Handoff {
        ts_ms: now_ms,
        nonce,
        kind: Kind::Query(Box::new(query)),
    };
    let (document, signature) =
        handoff::sign(&state.handoff_key, &method, handoff::QUERY_PATH, &handoff)
            .ok_or_else(|| ApiError::Internal(String::from("could not sign the hand-off")))?;
    Ok(Decision::Forward {
        remove,
        set: vec![
            (":path", handoff::QUERY_PATH.to_string()),
            (handoff::HANDOFF_HEADER, document),
            (handoff::SIGNATURE_HEADER, signature),
        ],
        response: Vec::new(),
    })
}

/// Client headers that must not reach the sidecar: anything that looks like a hand-off header,
/// and the credentials (already verified; the claims travel in the hand-off).
fn removable_headers(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(k, _)| k)
        .filter(|k| {
            k.starts_with(handoff::HEADER_PREFIX) || *k == "authorization" || *k == "cookie"
        })
        .cloned()
        .collect();
    names.dedup();
    names
}

/// `request.cookies`: every cookie of every `Cookie` header (the first of a repeated name).
fn request_cookies_json(headers: &[(String, String)]) -> String {
    let mut map = Map::new();
    for (_, v) in headers.iter().filter(|(k, _)| k == "cookie") {
        for pair in v.split(';') {
            if let Some((name, value)) = pair.split_once('=') {
                map.entry(name.trim().to_string())
                    .or_insert_with(|| Value::String(value.trim().to_string()));
            }
        }
    }
    Value::Object(map).to_string()
}

/// `request.headers`: lower-case names, no pseudo-headers, no cookie, no hand-off lookalikes.
fn request_headers_json(headers: &[(String, String)]) -> String {
    let mut map = Map::new();
    for (k, v) in headers {
        if k.starts_with(':') || k == "cookie" || k.starts_with(handoff::HEADER_PREFIX) {
            continue;
        }
        map.entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sql_engine::fixtures;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn state() -> FilterState {
        let mut s = FilterState::configure(
            &fixtures::plugin_config(&ApiSettings::for_tests(&["api"])),
            Some("reallyreallyreallyreallyverysafe".into()),
            Some(KEY.into()),
        )
        .unwrap();
        s.schema = Some(Rc::new(fixtures::films()));
        s
    }

    fn run(state: &FilterState, path: &str, headers: &[(&str, &str)]) -> Decision {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        decide(
            state,
            &Incoming {
                method: "GET",
                path,
                headers: &headers,
                now_ms: 1_700_000_000_000,
                nonce: "n-1".into(),
                body: Body::Absent,
            },
        )
    }

    #[test]
    fn configure_reads_every_secret_form_and_fails_closed_on_a_bad_one() {
        let config = |base64: bool| {
            fixtures::plugin_config(&ApiSettings {
                jwt_secret_is_base64: base64,
                ..ApiSettings::for_tests(&["api"])
            })
        };
        let binary: Vec<u8> = (0u8..=255).collect();
        let encoded = pgmesh_auth::testing::b64(&binary);
        let s = FilterState::configure(&config(true), Some(encoded), Some(KEY.into())).unwrap();
        let key = pgmesh_auth::testing::SigningKey::Oct(binary);
        let t = key.sign(
            pgmesh_auth::keys::JwsAlg::Hs256,
            None,
            &serde_json::json!({}),
        );
        let keys = s.jwt_keys.as_deref().unwrap();
        assert!(pgmesh_auth::verify::verify(&t, keys).is_ok());
        for (base64, secret, why) in [
            (false, "short", "at least 32 characters"),
            (true, "***", "not valid base64"),
        ] {
            let r = FilterState::configure(&config(base64), Some(secret.into()), Some(KEY.into()));
            assert!(r.is_err_and(|e| e.contains(why)), "{secret}");
        }
    }

    #[test]
    fn new_keys_empty_the_token_cache() {
        let mut s = state();
        let t = pgmesh_auth::testing::SigningKey::Oct(b"reallyreallyreallyreallyverysafe".to_vec())
            .sign(
                pgmesh_auth::keys::JwsAlg::Hs256,
                None,
                &serde_json::json!({"role": "web_user"}),
            );
        let bearer = format!("Bearer {t}");
        run(&s, "/films", &[("authorization", &bearer)]);
        assert_eq!(s.tokens.borrow().len(), 1);
        let other = auth::KeySet::from_secret(b"another-secret-that-is-long-enough").unwrap();
        s.set_keys(Some(Rc::new(other)));
        assert!(s.tokens.borrow().is_empty());
        assert!(
            matches!(
                run(&s, "/films", &[("authorization", &bearer)]),
                Decision::Respond { status: 401, .. }
            ),
            "a token of the old key must be refused"
        );
    }

    #[test]
    fn configure_fails_closed_without_handoff_key() {
        let r = FilterState::configure(
            br#"{"db-schemas":["api"],"db-anon-role":null,"db-max-rows":null,"jwt-aud":null}"#,
            None,
            None,
        );
        assert!(r.is_err_and(|e| e.contains("PGMESH_HANDOFF_KEY")));
    }

    #[test]
    fn planned_read_is_forwarded_signed_and_scrubbed() {
        let d = run(
            &state(),
            "/films?id=eq.1",
            &[
                ("x-pgmesh-handoff", "{\"role\":\"postgres\"}"),
                ("x-pgmesh-signature", "00"),
                ("accept", "*/*"),
            ],
        );
        let Decision::Forward { remove, set, .. } = d else {
            panic!("{d:?}")
        };
        assert_eq!(remove, vec!["x-pgmesh-handoff", "x-pgmesh-signature"]);
        let doc = set
            .iter()
            .find(|(k, _)| *k == handoff::HANDOFF_HEADER)
            .map(|(_, v)| v.clone())
            .expect("the hand-off is set");
        let sig = set
            .iter()
            .find(|(k, _)| *k == handoff::SIGNATURE_HEADER)
            .map(|(_, v)| v.as_str());
        let h = handoff::verify(
            &handoff::HandoffKey::derive(KEY.as_bytes()),
            "GET",
            handoff::QUERY_PATH,
            Some(&doc),
            sig,
            1_700_000_000_000,
        );
        let Handoff {
            kind: Kind::Query(h),
            ..
        } = h.unwrap()
        else {
            panic!("a query hand-off")
        };
        assert_eq!(h.identity.role, "web_anon");
        assert_eq!(h.main.params, vec![Some("1".to_string())]);
        assert_eq!(h.context.headers, r#"{"accept":"*/*"}"#);
        assert!(!doc.contains('\n'));
    }

    #[test]
    fn errors_are_answered_by_the_filter() {
        let status = |d: Decision| match d {
            Decision::Respond { status, body, .. } => format!("{status} {body}"),
            other => format!("{other:?}"),
        };
        assert!(status(run(&state(), "/nope", &[])).starts_with("404 {\"code\":\"PGRST205\""));
        assert!(status(run(&state(), "/films?id=noop.1", &[]))
            .starts_with("400 {\"code\":\"PGRST100\""));
        assert!(status(run(
            &state(),
            "/films",
            &[("authorization", "Bearer a.b.c")]
        ))
        .starts_with("401 {\"code\":\"PGRST301\""));
        let mut cold = state();
        cold.schema = None;
        assert!(status(run(&cold, "/films", &[])).starts_with("503 {\"code\":\"PGRST002\""));
    }

    #[test]
    fn a_write_waits_for_its_body_keys_then_resumes_without_parsing_again() {
        let state = state();
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let incoming = Incoming {
            method: "POST",
            path: "/films",
            headers: &headers,
            now_ms: 1_700_000_000_000,
            nonce: "n-2".into(),
            body: Body::Pending,
        };
        let Decision::NeedBody(pending) = decide(&state, &incoming) else {
            panic!("a POST without ?columns= needs its body's keys")
        };
        assert_eq!(pending.format, BodyFormat::Json);
        let summary = payload::summarize(BodyFormat::Json, br#"{"id": 7}"#, true)
            .unwrap()
            .expect("a whole JSON body has a summary");
        // Signed at the time the body arrived, not when the headers did.
        let later = 1_700_000_020_000;
        let d = resume(&state, *pending, BodyRead::Read(&summary), later);
        let Decision::Forward { set, .. } = d else {
            panic!("{d:?}")
        };
        let value = |name: &str| set.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        let doc = value(handoff::HANDOFF_HEADER).expect("the hand-off is set");
        let h = handoff::verify(
            &handoff::HandoffKey::derive(KEY.as_bytes()),
            "POST",
            handoff::QUERY_PATH,
            Some(&doc),
            value(handoff::SIGNATURE_HEADER).as_deref(),
            later,
        );
        let Handoff {
            ts_ms,
            kind: Kind::Query(q),
            ..
        } = h.unwrap()
        else {
            panic!("a query hand-off")
        };
        assert_eq!(ts_ms, later);
        assert_eq!(q.context.method, "POST");
        assert!(
            q.main.sql.starts_with("WITH pgrst_payload"),
            "{}",
            q.main.sql
        );
        assert_eq!(
            q.body.and_then(|b| b.keys),
            Some(vec!["id".to_string()]),
            "the sidecar checks every object against the first one's keys"
        );
    }

    #[test]
    fn a_bad_query_string_is_answered_before_the_body_is_read() {
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let d = decide(
            &state(),
            &Incoming {
                method: "PATCH",
                path: "/films?id=noop.1",
                headers: &headers,
                now_ms: 1_700_000_000_000,
                nonce: "n-3".into(),
                body: Body::Pending,
            },
        );
        assert!(
            matches!(&d, Decision::Respond { status: 400, body, .. } if body.contains("PGRST100")),
            "{d:?}"
        );
    }

    #[test]
    fn a_held_request_refused_for_its_body_keeps_its_cors_headers() {
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("origin".to_string(), "https://app.example".to_string()),
        ];
        let incoming = Incoming {
            method: "POST",
            path: "/films",
            headers: &headers,
            now_ms: 1_700_000_000_000,
            nonce: "n-4".into(),
            body: Body::Pending,
        };
        let Decision::NeedBody(pending) = decide(&state(), &incoming) else {
            panic!("a POST without ?columns= needs its body's keys")
        };
        let bad = payload::BodyReader::new(BodyFormat::Json)
            .finish()
            .expect_err("an empty body is not JSON");
        let Decision::Respond {
            status, headers, ..
        } = refuse(&pending, bad)
        else {
            panic!("a refusal is an answer")
        };
        assert_eq!(status, 400);
        assert!(
            headers
                .iter()
                .any(|(k, v)| *k == "access-control-allow-origin" && v == "*"),
            "{headers:?}"
        );
    }

    /// A request with an HS256 token carrying `claims`.
    fn run_as(state: &FilterState, method: &str, path: &str, claims: Value) -> Decision {
        let token =
            pgmesh_auth::testing::SigningKey::Oct(b"reallyreallyreallyreallyverysafe".to_vec())
                .sign(pgmesh_auth::keys::JwsAlg::Hs256, None, &claims);
        let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
        decide(
            state,
            &Incoming {
                method,
                path,
                headers: &headers,
                now_ms: 1_700_000_000_000,
                nonce: "n-5".into(),
                body: Body::Absent,
            },
        )
    }

    #[test]
    fn a_role_the_database_lacks_is_refused_without_a_statement() {
        let mut state = state();
        let mut cache = fixtures::films();
        cache.roles = Some(["web_anon", "web_user"].map(String::from).into());
        state.schema = Some(Rc::new(cache));
        let d = run_as(
            &state,
            "GET",
            "/films",
            serde_json::json!({"role": "not existing"}),
        );
        let Decision::Respond {
            status,
            headers,
            body,
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(status, 401);
        assert_eq!(
            body,
            r#"{"code":"22023","details":null,"hint":null,"message":"role \"not existing\" does not exist"}"#
        );
        assert!(headers.contains(&("www-authenticate", String::from("Bearer"))));
        // A role that is not a string is named JSON-encoded, as PostgreSQL would see it.
        let d = run_as(&state, "GET", "/films", serde_json::json!({"role": 7}));
        assert!(
            matches!(&d, Decision::Respond { status: 401, body, .. } if body.contains(r#"role \"7\" does not exist"#)),
            "{d:?}"
        );
        // Known roles, and `none` (PostgreSQL's own session role), go on.
        for role in ["web_user", "none"] {
            let d = run_as(&state, "GET", "/films", serde_json::json!({ "role": role }));
            assert!(matches!(d, Decision::Forward { .. }), "{role}: {d:?}");
        }
        // As in PostgREST, the request's own errors come first, and OPTIONS needs no role.
        let d = run_as(&state, "GET", "/nope", serde_json::json!({"role": "ghost"}));
        assert!(matches!(d, Decision::Respond { status: 404, .. }), "{d:?}");
        let d = run_as(
            &state,
            "OPTIONS",
            "/films",
            serde_json::json!({"role": "ghost"}),
        );
        assert!(matches!(d, Decision::Respond { status: 200, .. }), "{d:?}");
        // A cache without the role list (an older sidecar) leaves the check to PostgreSQL.
        state.schema = Some(Rc::new(fixtures::films()));
        let d = run_as(
            &state,
            "GET",
            "/films",
            serde_json::json!({"role": "ghost"}),
        );
        assert!(matches!(d, Decision::Forward { .. }), "{d:?}");
    }
}
