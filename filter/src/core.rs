//! The filter's logic, free of proxy-wasm: one request in, one decision out. The wasm adapter
//! feeds it the request headers and applies the decision; tests call it natively.

use std::rc::Rc;

use jwt_compact::alg::Hs256Key;
use serde_json::{Map, Value};
use sql_engine::handoff::{self, Assembly, BodySpec, Handoff, ResponseShape, WriteShape};
use sql_engine::media::Format;
use sql_engine::payload::{self, BodyFormat};
use sql_engine::plan::{CallPlan, Plan, ReadPlan, WritePlan};
use sql_engine::prefer::{Applicable, Resolution, Return};
use sql_engine::request::{Mutation, RequestHead};
use sql_engine::schema::SchemaCache;
use sql_engine::settings::{ApiSettings, RoleClaimPath};
use sql_engine::ApiError;

use crate::auth;

/// Everything the filter needs that outlives a request: settings, keys, the schema cache.
pub struct FilterState {
    pub settings: ApiSettings,
    pub role_path: RoleClaimPath,
    pub jwt_key: Option<Hs256Key>,
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
        Ok(FilterState {
            settings,
            role_path,
            jwt_key: jwt_secret
                .filter(|s| !s.is_empty())
                .map(|s| auth::hs256_key(&s)),
            handoff_key: handoff::HandoffKey::derive(handoff_key.as_bytes()),
            schema: None,
            tokens: std::cell::RefCell::new(auth::TokenCache::new(tokens)),
        })
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
    pub body: Body<'a>,
}

/// What the filter has seen of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// The request has none, or only whitespace.
    Absent,
    /// A body follows and has not been read.
    Pending,
    /// What a [`payload::BodyReader`] learned from it.
    Read(&'a payload::Summary),
}

/// What to do with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer the client directly; nothing goes upstream.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Read the body with a [`payload::BodyReader`] for this format, then decide again.
    NeedBody(BodyFormat),
    /// Rewrite the request and let Envoy route it to the sidecar.
    Forward {
        remove: Vec<String>,
        set: Vec<(&'static str, String)>,
        /// Headers to add to the sidecar's response (CORS).
        response: Vec<(&'static str, String)>,
    },
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
    let mut decision = match plan_handoff(state, req) {
        Ok(d) => d,
        Err(e) => e.into(),
    };
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

fn plan_handoff(state: &FilterState, req: &Incoming<'_>) -> Result<Decision, ApiError> {
    let identity = auth::authenticate_cached(
        header(req.headers, "authorization"),
        state.jwt_key.as_ref(),
        &state.settings,
        &state.role_path,
        req.now_ms as f64 / 1000.0,
        Some(&state.tokens),
    )?;
    let cache = state
        .schema
        .as_deref()
        .ok_or(ApiError::SchemaCacheNotLoaded)?;
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
    let payload = if sql_engine::request::needs_body_keys(req.method, path, query) {
        match BodyFormat::from_content_type(header(req.headers, "content-type")) {
            // Anything else is refused by the parser, with PostgREST's message.
            Some(format) if format.has_keys() => match req.body {
                Body::Pending => return Ok(Decision::NeedBody(format)),
                // A function without arguments may be called with no body at all.
                Body::Absent if path.starts_with("/rpc/") => Some(payload::Summary::empty()),
                Body::Absent => Some(payload::BodyReader::new(format).finish()?),
                Body::Read(summary) => Some(summary.clone()),
            },
            _ => None,
        }
    } else {
        None
    };
    let (plan, statements) =
        sql_engine::build_with_body(&head, payload.as_ref(), cache, &state.settings)?;
    let handoff = match &plan {
        Plan::Read(read) => read_handoff(state, read, query),
        Plan::Write(write) => write_handoff(state, write),
        Plan::Call(call) => call_handoff(state, call),
        Plan::Options { allow } => {
            let mut headers = vec![("allow", allow.clone())];
            // PostgREST's `*` on OPTIONS, within `server-cors-allowed-origins` (see there).
            headers.extend(crate::cors::info_headers(
                req.headers,
                &state.settings.server_cors_allowed_origins,
            ));
            return Ok(Decision::Respond {
                status: 200,
                headers,
                body: String::new(),
            });
        }
    };
    let handoff = Handoff {
        role: identity.role,
        claims: identity.claims,
        authenticated: identity.authenticated,
        method: req.method.to_string(),
        path: path.to_string(),
        headers: request_headers_json(req.headers),
        cookies: request_cookies_json(req.headers),
        ts_ms: req.now_ms,
        nonce: req.nonce.clone(),
        ..handoff
    }
    .with_statement(statements.main)
    .with_explain(statements.explain);
    let (document, signature) = handoff::sign(
        &state.handoff_key,
        req.method,
        handoff::QUERY_PATH,
        &handoff,
    )
    .ok_or_else(|| ApiError::Internal(String::from("could not sign the hand-off")))?;

    Ok(Decision::Forward {
        remove: removable_headers(req.headers),
        set: vec![
            (":path", handoff::QUERY_PATH.to_string()),
            (handoff::HANDOFF_HEADER, document),
            (handoff::SIGNATURE_HEADER, signature),
        ],
        response: Vec::new(),
    })
}

fn assembly(format: Format, headers_only: bool) -> Assembly {
    match format {
        _ if headers_only => Assembly::Nothing,
        Format::Json { strip_nulls: false } => Assembly::Array,
        Format::Json { strip_nulls: true } => Assembly::CompactArray,
        Format::Object { .. } => Assembly::Object,
        Format::Csv => Assembly::Csv,
        Format::GeoJson => Assembly::FeatureCollection,
    }
}

/// The hand-off of a read, without the request's identity and statements.
fn read_handoff(state: &FilterState, read: &ReadPlan<'_>, query: &str) -> Handoff {
    let tx_end = state.settings.db_tx_end;
    Handoff {
        schema: read.schema.clone(),
        read_only: true,
        rollback: tx_end.rolls_back(read.preferences.write().tx_rollback),
        timezone: read.preferences.timezone.clone(),
        shape: ResponseShape {
            content_type: read.format.content_type().to_string(),
            assembly: assembly(read.format, read.headers_only),
            singular: matches!(read.format, Format::Object { .. }),
            offset: read.offset,
            count: read.count,
            max_rows: read.max_rows,
            preference_applied: read.preferences.applied(Applicable {
                tx: tx_end.overridable(),
                ..Applicable::default()
            }),
            content_profile: read.content_profile.clone(),
            content_location: Some(sql_engine::response::content_location(
                &read.table,
                &sql_engine::request::parse_query_string(query),
            )),
            write: None,
            void: false,
            max_affected: None,
        },
        ..Handoff::default()
    }
}

/// The hand-off of a call, without the request's identity and statements.
fn call_handoff(state: &FilterState, c: &CallPlan<'_>) -> Handoff {
    let read = &c.read;
    let tx_end = state.settings.db_tx_end;
    let prefs = &read.preferences;
    let set_like = c.function.returns_set;
    Handoff {
        schema: read.schema.clone(),
        read_only: c.read_only,
        timezone: prefs.timezone.clone(),
        tx_settings: c
            .function
            .settings
            .iter()
            .filter(|(name, _)| state.settings.db_hoisted_tx_settings.contains(name))
            .cloned()
            .collect(),
        rollback: tx_end.rolls_back(prefs.write().tx_rollback),
        body: c.body_format.map(|format| BodySpec {
            param: 0,
            format,
            keys: None,
        }),
        shape: ResponseShape {
            content_type: read.format.content_type().to_string(),
            assembly: match read.format {
                Format::Json { .. } if !set_like && !read.headers_only => Assembly::Object,
                Format::Json { strip_nulls: false } if read.scalar && !read.headers_only => {
                    Assembly::Values
                }
                format => assembly(format, read.headers_only),
            },
            singular: matches!(read.format, Format::Object { .. }),
            offset: read.offset,
            count: read.count,
            max_rows: read.max_rows,
            preference_applied: prefs.applied(Applicable {
                tx: tx_end.overridable(),
                max_affected: true,
                ..Applicable::default()
            }),
            content_profile: read.content_profile.clone(),
            content_location: None,
            write: None,
            void: c.function.returns_void(),
            max_affected: c.max_affected,
        },
        ..Handoff::default()
    }
}

/// The hand-off of a write, without the request's identity and statements.
fn write_handoff(state: &FilterState, w: &WritePlan<'_>) -> Handoff {
    let returned = &w.returned;
    let prefs = &returned.preferences;
    let tx_end = state.settings.db_tx_end;
    let representation = w.ret == Return::Representation;
    let applicable = Applicable {
        resolution: w.mutation == Mutation::Insert && w.conflict.is_some(),
        ret: true,
        missing: matches!(w.mutation, Mutation::Insert | Mutation::Update),
        max_affected: matches!(w.mutation, Mutation::Update | Mutation::Delete),
        tx: tx_end.overridable(),
    };
    let key = &w.target.relation.primary_key;
    Handoff {
        schema: w.target.schema.clone(),
        read_only: false,
        timezone: prefs.timezone.clone(),
        rollback: tx_end.rolls_back(prefs.write().tx_rollback),
        body: Some(BodySpec {
            param: 0,
            format: w.body_format,
            keys: w.uniform_keys.clone(),
        }),
        shape: ResponseShape {
            content_type: returned.format.content_type().to_string(),
            assembly: assembly(returned.format, !representation),
            singular: matches!(returned.format, Format::Object { .. }),
            offset: 0,
            count: returned.count,
            max_rows: None,
            preference_applied: prefs.applied(applicable),
            content_profile: w.target.content_profile.clone(),
            content_location: None,
            write: Some(WriteShape {
                mutation: w.mutation,
                representation,
                merge: w
                    .conflict
                    .as_ref()
                    .is_some_and(|(_, r)| *r == Resolution::MergeDuplicates),
                location: (w.ret == Return::HeadersOnly && !key.is_empty())
                    .then(|| (w.target.table.clone(), key.clone())),
            }),
            max_affected: w.max_affected,
            void: false,
        },
        ..Handoff::default()
    }
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
    use sql_engine::schema::{Column, Table};

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn state() -> FilterState {
        let mut s = FilterState::configure(
            br#"{"db-schemas":["api"],"db-anon-role":"web_anon","db-max-rows":null,"jwt-aud":null}"#,
            Some("reallyreallyreallyreallyverysafe".into()),
            Some(KEY.into()),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        s.schema = Some(Rc::new(SchemaCache::new(
            "v1".into(),
            vec![Table {
                schema: "api".into(),
                name: "films".into(),
                columns: vec![Column {
                    name: "id".into(),
                    data_type: "integer".into(),
                    nullable: false,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        )));
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
            unreachable!("{d:?}")
        };
        assert_eq!(remove, vec!["x-pgmesh-handoff", "x-pgmesh-signature"]);
        let doc = set
            .iter()
            .find(|(k, _)| *k == handoff::HANDOFF_HEADER)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
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
        let Ok(h) = h else { unreachable!("{h:?}") };
        assert_eq!(h.role, "web_anon");
        assert_eq!(h.params, vec![Some("1".to_string())]);
        assert_eq!(h.headers, r#"{"accept":"*/*"}"#);
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
}
