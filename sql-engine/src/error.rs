//! One error type for the whole road, mapped in one place to PostgREST's code, HTTP status,
//! message, details, hint and extra headers.

use serde::Serialize;

/// Why a token could not be decoded (PGRST301): PostgREST's `JwtDecodeError`, each with its
/// message and, where jose-jwt gives one, its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtDecodeError {
    #[error("Empty JWT is sent in Authorization header")]
    Empty,
    #[error("Expected 3 parts in JWT; got {0}")]
    Parts(usize),
    /// No key of the set fits the token's `alg` and `kid`.
    #[error("No suitable key or wrong key type")]
    NoSuitableKey,
    /// Every key that fits failed the signature.
    #[error("No suitable key or wrong key type")]
    NoKeyVerified,
    /// `alg: none`.
    #[error("Wrong or unsupported encoding algorithm")]
    Unsecured,
    /// Not base64url, a header that is not a JWS header, an unknown `alg`.
    #[error("JWT cryptographic operation failed")]
    BadCrypto,
}

impl JwtDecodeError {
    /// The `details` PostgREST sends (jose-jwt's own message), if any.
    pub fn details(self) -> Option<&'static str> {
        match self {
            JwtDecodeError::NoSuitableKey => Some("No suitable key was found to decode the JWT"),
            JwtDecodeError::NoKeyVerified => Some("None of the keys was able to decode the JWT"),
            JwtDecodeError::Unsecured => Some("JWT is unsecured but expected 'alg' was not 'none'"),
            JwtDecodeError::Empty | JwtDecodeError::Parts(_) | JwtDecodeError::BadCrypto => None,
        }
    }
}

/// Every failure a client can see. Each variant maps to exactly one PostgREST error (a `PGRSTxxx`
/// code, or the SQLSTATE of a PostgreSQL error) in [`ApiError::parts`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// PGRST100: a query parameter did not parse.
    #[error("{message}")]
    QueryParam { message: String, details: String },
    /// PGRST103: a negative limit or an empty range.
    #[error("Requested range not satisfiable")]
    InvalidRange { details: String },
    /// PGRST106: `Accept-Profile`/`Content-Profile` names a schema that is not exposed.
    #[error("The schema must be one of the following: {0}")]
    InvalidSchema(String),
    /// PGRST107: no media type in `Accept` can be produced.
    #[error("None of these media types are available: {0}")]
    MediaTypeUnavailable(String),
    /// PGRST116: a singular response (`vnd.pgrst.object`) over other than one row.
    #[error("Cannot coerce the result to a single JSON object")]
    NotSingular(u64),
    /// PGRST122: unknown preferences with `handling=strict`.
    #[error("Invalid preferences given with handling=strict")]
    InvalidPreferences(String),
    /// PGRST103: the page starts past the counted rows.
    #[error("Requested range not satisfiable")]
    OffsetBeyondTotal { offset: u64, total: i64 },
    /// PGRST117: a method PostgREST does not serve on this path.
    #[error("Unsupported HTTP method: {0}")]
    UnsupportedMethod(String),
    /// PGRST125: a path that is neither `/<table>` nor `/rpc/<fn>`.
    #[error("Invalid path specified in request URL")]
    InvalidPath,
    /// PGRST127: a PostgREST feature that pgmesh has not built yet.
    #[error("Feature not implemented")]
    NotImplemented(String),
    /// PGRST205: no such table or view in the exposed schema.
    #[error("Could not find the table '{schema}.{table}' in the schema cache")]
    TableNotFound {
        schema: String,
        table: String,
        /// A near name in the same schema, for "Perhaps you meant …".
        suggestion: Option<String>,
    },
    /// PGRST108: `rel.col=…` for a `rel` that is not embedded.
    #[error("'{0}' is not an embedded resource in this request")]
    NotEmbedded(String),
    /// PGRST118: ordering by a column of an embed that is not to-one.
    #[error("A related order on '{target}' is not possible")]
    RelatedOrderNotToOne { origin: String, target: String },
    /// PGRST123: aggregates while `db-aggregates-enabled` is off.
    #[error("Use of aggregate functions is not allowed")]
    AggregatesDisabled,
    /// PGRST200: no relationship between the parent and the embedded name.
    #[error(
        "Could not find a relationship between '{parent}' and '{relation}' in the schema cache"
    )]
    NoRelationship {
        parent: String,
        relation: String,
        schema: String,
        hint: Option<String>,
    },
    /// PGRST201: several relationships fit; the client must pick one with `!hint`.
    #[error("Could not embed because more than one relationship was found for '{parent}' and '{relation}'")]
    AmbiguousRelationship {
        parent: String,
        relation: String,
        candidates: Vec<Candidate>,
    },
    /// PGRST002: the schema cache has not been loaded yet.
    #[error("Could not query the database for the schema cache. Retrying.")]
    SchemaCacheNotLoaded,
    /// PGRST300: a JWT arrived but no secret is configured.
    #[error("Server lacks JWT secret")]
    JwtSecretMissing,
    /// PGRST301: the token could not be decoded or its signature is wrong.
    #[error("{0}")]
    JwtDecode(JwtDecodeError),
    /// PGRST302: no token and no anonymous role.
    #[error("Anonymous access is disabled")]
    AnonymousDisabled,
    /// PGRST303: a claim failed validation (expired, not yet valid, audience…).
    #[error("{0}")]
    JwtClaims(String),
    /// PGRST000: the database could not be reached.
    #[error("Database connection error. Retrying the connection.")]
    DbConnection(String),
    /// PGRST003: no pooled connection became free in time.
    #[error("Timed out acquiring connection from connection pool.")]
    PoolTimeout,
    /// An error raised by PostgreSQL, forwarded with its SQLSTATE.
    #[error("{message}")]
    Postgres {
        sqlstate: String,
        message: String,
        detail: Option<String>,
        hint: Option<String>,
        /// Whether the request carried a valid JWT (42501 is 403 then, 401 otherwise).
        authenticated: bool,
    },
    /// The sidecar refused a hand-off that the filter did not authenticate.
    #[error("The request was not authenticated by the pgmesh filter")]
    HandoffRejected(String),
    /// PGRST111: `response.headers` is not a JSON array of single-key objects with string values.
    #[error("response.headers guc must be a JSON array composed of objects with a single key and a string value")]
    ResponseHeaders,
    /// PGRST112: `response.status` is not a valid status code.
    #[error("response.status guc must be a valid status code")]
    ResponseStatus,
    /// PGRST102: a body that cannot be read (invalid JSON, keys that differ, a bad CSV…).
    #[error("{0}")]
    InvalidBody(String),
    /// PGRST204: `?columns=` or a body names a column the relation does not have.
    #[error("Could not find the '{column}' column of '{table}' in the schema cache")]
    ColumnNotFound { table: String, column: String },
    /// PGRST105: PUT filters must be exactly the primary key columns, with `eq`.
    #[error("Filters must include all and only primary key columns with 'eq' operators")]
    PutFilters,
    /// PGRST114: PUT with `limit`/`offset`.
    #[error("limit/offset querystring parameters are not allowed for PUT")]
    PutLimit,
    /// PGRST115: the PUT body's primary key differs from the URL's.
    #[error("Payload values do not match URL in primary key column(s)")]
    PutMismatch,
    /// PGRST124: more rows affected than `Prefer: max-affected` allows (strict handling).
    #[error("Query result exceeds max-affected preference constraint")]
    MaxAffected(u64),
    /// PGRST101: a method other than GET, HEAD or POST on a function.
    #[error("Cannot use the {0} method on RPC")]
    RpcMethod(String),
    /// PGRST202: no function takes the given arguments.
    #[error("Could not find the function {schema}.{name}{args} in the schema cache")]
    FunctionNotFound {
        schema: String,
        name: String,
        /// `(a, b)`, or ` without parameters`.
        args: String,
        details: String,
        hint: Option<String>,
    },
    /// PGRST203: several overloads take the given arguments.
    #[error("Could not choose the best candidate function between: {0}")]
    AmbiguousFunction(String),
    /// PGRST128: max-affected on a function that does not return a set.
    #[error("Function must return SETOF or TABLE when max-affected preference is used with handling=strict")]
    MaxAffectedNotSet,
    /// A body over the configured limit (413).
    #[error("Payload Too Large")]
    BodyTooLarge(u64),
    /// PGRSTX00: a bug or an unexpected state inside pgmesh.
    #[error("Internal server error")]
    Internal(String),
}

/// The JSON body PostgREST sends for an error: keys in alphabetical order, nulls explicit.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    details: Option<serde_json::Value>,
    hint: Option<&'a str>,
    message: &'a str,
}

/// One relationship a PGRST201 lists: how it relates, its description, the `!hint` that picks
/// it, and the table it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub cardinality: String,
    pub relationship: String,
    pub hint: String,
    pub target: String,
}

/// The rendered parts of an error, ready for any HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// Headers named by the database (`RAISE SQLSTATE 'PGRST'`).
    pub extra_headers: Vec<(String, String)>,
    pub body: String,
}

/// What `RAISE SQLSTATE 'PGRST'` asks for: its MESSAGE is JSON with `code`, `message`,
/// `details` and `hint`; its DETAIL is JSON with `status`, `status_text` and `headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raised {
    code: String,
    message: String,
    details: Option<String>,
    hint: Option<String>,
    status: u16,
    headers: Vec<(String, String)>,
}

fn raised(message: &str, detail: Option<&str>) -> Option<Raised> {
    use serde_json::Value;
    let m: serde_json::Map<String, Value> = serde_json::from_str(message).ok()?;
    let d: serde_json::Map<String, Value> = serde_json::from_str(detail?).ok()?;
    let text = |map: &serde_json::Map<String, Value>, k: &str| -> Option<String> {
        map.get(k).and_then(Value::as_str).map(String::from)
    };
    let status = d
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..=599).contains(s))?;
    let headers = match d.get("headers") {
        None => Vec::new(),
        Some(Value::Object(h)) => h
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
    };
    Some(Raised {
        code: text(&m, "code")?,
        message: text(&m, "message")?,
        details: text(&m, "details"),
        hint: text(&m, "hint"),
        status,
        headers,
    })
}

impl ApiError {
    /// The error's code (`PGRSTxxx` or SQLSTATE), status, details and hint, from one table.
    fn parts(&self) -> (String, u16, Option<String>, Option<String>) {
        use ApiError::*;
        let s = |c: &str| c.to_string();
        match self {
            Postgres {
                sqlstate,
                message,
                detail,
                ..
            } if sqlstate == "PGRST" => match raised(message, detail.as_deref()) {
                Some(r) => (r.code, r.status, r.details, r.hint),
                None => (
                    s("PGRST121"),
                    500,
                    Some(format!("Invalid JSON in the MESSAGE or DETAIL of RAISE SQLSTATE 'PGRST': {message}")),
                    None,
                ),
            },
            QueryParam { details, .. } => (s("PGRST100"), 400, Some(details.clone()), None),
            InvalidRange { details } => (s("PGRST103"), 416, Some(details.clone()), None),
            UnsupportedMethod(_) => (s("PGRST117"), 405, None, None),
            OffsetBeyondTotal { offset, total } => (
                s("PGRST103"),
                416,
                Some(format!(
                    "An offset of {offset} was requested, but there are only {total} rows."
                )),
                None,
            ),
            MediaTypeUnavailable(_) => (s("PGRST107"), 406, None, None),
            InvalidSchema(_) => (s("PGRST106"), 406, None, None),
            NotSingular(n) => (
                s("PGRST116"),
                406,
                Some(format!("The result contains {n} rows")),
                None,
            ),
            InvalidPreferences(list) => (
                s("PGRST122"),
                400,
                Some(format!("Invalid preferences: {list}")),
                None,
            ),
            InvalidPath => (s("PGRST125"), 404, None, None),
            NotImplemented(what) => (s("PGRST127"), 400, Some(what.clone()), None),
            TableNotFound {
                schema, suggestion, ..
            } => (
                s("PGRST205"),
                404,
                None,
                suggestion
                    .as_ref()
                    .map(|t| format!("Perhaps you meant the table '{schema}.{t}'")),
            ),
            SchemaCacheNotLoaded => (s("PGRST002"), 503, None, None),
            JwtSecretMissing => (s("PGRST300"), 500, None, None),
            JwtDecode(e) => (s("PGRST301"), 401, e.details().map(String::from), None),
            AnonymousDisabled => (s("PGRST302"), 401, None, None),
            JwtClaims(_) => (s("PGRST303"), 401, None, None),
            DbConnection(details) => (s("PGRST000"), 503, Some(details.clone()), None),
            PoolTimeout => (s("PGRST003"), 504, None, None),
            Postgres {
                sqlstate,
                message,
                detail,
                hint,
                authenticated,
            } => (
                sqlstate.clone(),
                status_for_sqlstate(sqlstate, message, *authenticated),
                detail.clone(),
                hint.clone(),
            ),
            HandoffRejected(why) => (s("PGMESH401"), 401, Some(why.clone()), None),
            ResponseHeaders => (s("PGRST111"), 500, None, None),
            RelatedOrderNotToOne { origin, target } => (
                s("PGRST118"),
                400,
                Some(format!(
                    "'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship"
                )),
                None,
            ),
            AggregatesDisabled => (s("PGRST123"), 400, None, None),
            NotEmbedded(path) => (
                s("PGRST108"),
                400,
                None,
                Some(format!(
                    "Verify that '{path}' is included in the 'select' query parameter."
                )),
            ),
            NoRelationship {
                parent,
                relation,
                schema,
                hint,
            } => (
                s("PGRST200"),
                400,
                Some(match hint {
                    Some(h) => format!("Searched for a foreign key relationship between '{parent}' and '{relation}' using the hint '{h}' in the schema '{schema}', but no matches were found."),
                    None => format!("Searched for a foreign key relationship between '{parent}' and '{relation}' in the schema '{schema}', but no matches were found."),
                }),
                None,
            ),
            AmbiguousRelationship {
                relation,
                candidates,
                ..
            } => (
                s("PGRST201"),
                300,
                None,
                Some(format!(
                    "Try changing '{relation}' to one of the following: {}. Find the desired relationship in the 'details' key.",
                    candidates
                        .iter()
                        .map(|c| format!("'{relation}!{}'", c.hint))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ),
            ResponseStatus => (s("PGRST112"), 500, None, None),
            InvalidBody(_) => (s("PGRST102"), 400, None, None),
            RpcMethod(_) => (s("PGRST101"), 405, None, None),
            FunctionNotFound { details, hint, .. } => {
                (s("PGRST202"), 404, Some(details.clone()), hint.clone())
            }
            AmbiguousFunction(_) => (
                s("PGRST203"),
                300,
                None,
                Some(String::from("Try renaming the parameters or the function itself in the database so function overloading can be resolved")),
            ),
            MaxAffectedNotSet => (s("PGRST128"), 400, None, None),
            ColumnNotFound { .. } => (s("PGRST204"), 400, None, None),
            PutFilters => (s("PGRST105"), 405, None, None),
            PutLimit => (s("PGRST114"), 400, None, None),
            PutMismatch => (s("PGRST115"), 400, None, None),
            MaxAffected(n) => (
                s("PGRST124"),
                400,
                Some(format!("The query affects {n} rows")),
                None,
            ),
            BodyTooLarge(limit) => (
                s("PGMESH413"),
                413,
                Some(format!("The request body is larger than {limit} bytes")),
                None,
            ),
            Internal(details) => (s("PGRSTX00"), 500, Some(details.clone()), None),
        }
    }

    pub fn status(&self) -> u16 {
        self.parts().1
    }

    pub fn code(&self) -> String {
        self.parts().0
    }

    /// Status, headers and JSON body exactly as PostgREST sends them.
    pub fn to_response(&self) -> ErrorResponse {
        let (code, status, details, hint) = self.parts();
        let raised = match self {
            ApiError::Postgres {
                sqlstate,
                message,
                detail,
                ..
            } if sqlstate == "PGRST" => raised(message, detail.as_deref()),
            _ => None,
        };
        let message = match (&raised, self) {
            (Some(r), _) => r.message.clone(),
            (None, ApiError::Postgres { sqlstate, .. }) if sqlstate == "PGRST" => {
                String::from("Could not parse JSON in the RAISE SQLSTATE 'PGRST' error")
            }
            _ => self.to_string(),
        };
        let details = match self {
            // PGRST201 lists the candidate relationships as JSON objects.
            ApiError::AmbiguousRelationship {
                parent, candidates, ..
            } => Some(serde_json::Value::Array(
                candidates
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "cardinality": c.cardinality,
                            "embedding": format!("{parent} with {}", c.target),
                            "relationship": c.relationship,
                        })
                    })
                    .collect(),
            )),
            _ => details.map(serde_json::Value::String),
        };
        let body = serde_json::to_string(&ErrorBody {
            code: &code,
            details,
            hint: hint.as_deref(),
            message: &message,
        })
        // Serialising four strings cannot fail; keep a fixed fallback rather than panic.
        .unwrap_or_else(|_| String::from(r#"{"code":"PGRSTX00","details":null,"hint":null,"message":"Internal server error"}"#));
        let mut headers = vec![
            (
                "content-type",
                String::from("application/json; charset=utf-8"),
            ),
            ("proxy-status", format!("PostgREST; error={code}")),
        ];
        match self {
            ApiError::JwtDecode(_) | ApiError::JwtClaims(_) => headers.push((
                "www-authenticate",
                format!(
                    "Bearer error=\"invalid_token\", error_description={}",
                    quote_header_string(&self.to_string())
                ),
            )),
            ApiError::AnonymousDisabled => headers.push(("www-authenticate", String::from("Bearer"))),
            // PostgREST's rule for a database error: any 401 gets `Bearer` (an anonymous 42501,
            // a 22023 unknown role, a raised PT401), except a `PGRST` raise, whose own headers go.
            ApiError::Postgres { sqlstate, .. } if sqlstate != "PGRST" && status == 401 => {
                headers.push(("www-authenticate", String::from("Bearer")))
            }
            ApiError::Postgres { sqlstate, authenticated, .. }
                if sqlstate == "42501" && *authenticated =>
            {
                headers.push((
                    "www-authenticate",
                    String::from("Bearer error=\"insufficient_scope\", error_description=\"insufficient privileges\""),
                ))
            }
            ApiError::OffsetBeyondTotal { total, .. } => {
                headers.push(("content-range", format!("*/{total}")))
            }
            ApiError::SchemaCacheNotLoaded | ApiError::DbConnection(_) => {
                headers.push(("retry-after", String::from("0")))
            }
            _ => {}
        }
        ErrorResponse {
            status,
            headers,
            extra_headers: raised.map(|r| r.headers).unwrap_or_default(),
            body,
        }
    }
}

fn quote_header_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl ApiError {
    /// PostgreSQL's answer to switching to a role that does not exist (`SET ROLE`), which
    /// PostgREST sends as 401.
    pub fn role_does_not_exist(role: &str, authenticated: bool) -> ApiError {
        ApiError::Postgres {
            sqlstate: String::from("22023"),
            message: format!("role \"{role}\" does not exist"),
            detail: None,
            hint: None,
            authenticated,
        }
    }
}

/// PostgREST's SQLSTATE → HTTP status table (`Error.hs`, `pgErrorStatus`).
pub fn status_for_sqlstate(code: &str, message: &str, authenticated: bool) -> u16 {
    let class = code.get(..2).unwrap_or("");
    match code {
        "21000" if message.ends_with("requires a WHERE clause") => 400,
        "22023" if message.starts_with("role") && message.ends_with("does not exist") => 401,
        "42883" if message.starts_with("function xmlagg(") => 406,
        "23503" | "23505" => 409,
        "25006" => 405,
        "42501" => {
            if authenticated {
                403
            } else {
                401
            }
        }
        "42883" => 404,
        "42P01" => 404,
        "42P17" => 500,
        "53400" => 500,
        "57P01" => 503,
        "P0001" => 400,
        "21000" => 500,
        _ if code.starts_with("PT") => code
            .get(2..)
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..=599).contains(s))
            .unwrap_or(500),
        _ => match class {
            "08" => 503,
            "09" => 500,
            "0L" | "0P" => 403,
            "25" => 500,
            "28" => 403,
            "2D" | "38" | "39" | "3B" | "40" => 500,
            "53" => 503,
            "54" | "55" => 500,
            "57" | "58" | "F0" | "HV" | "XX" | "P0" => 500,
            _ => 400,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_table_matches_postgrest() {
        assert_eq!(status_for_sqlstate("42703", "", false), 400);
        assert_eq!(status_for_sqlstate("42501", "", false), 401);
        assert_eq!(status_for_sqlstate("42501", "", true), 403);
        assert_eq!(status_for_sqlstate("23505", "", true), 409);
        assert_eq!(status_for_sqlstate("08006", "", true), 503);
        assert_eq!(status_for_sqlstate("PT418", "", true), 418);
        assert_eq!(status_for_sqlstate("P0001", "", true), 400);
        assert_eq!(status_for_sqlstate("XX000", "", true), 500);
        assert_eq!(status_for_sqlstate("42P01", "", true), 404);
        assert_eq!(
            status_for_sqlstate("22023", "role \"x\" does not exist", true),
            401
        );
        assert_eq!(status_for_sqlstate("22023", "other", true), 400);
    }

    #[test]
    fn table_not_found_renders_postgrest_json() {
        let r = ApiError::TableNotFound {
            schema: "api".into(),
            table: "nope".into(),
            suggestion: None,
        }
        .to_response();
        assert_eq!(r.status, 404);
        insta::assert_snapshot!(r.body, @r#"{"code":"PGRST205","details":null,"hint":null,"message":"Could not find the table 'api.nope' in the schema cache"}"#);
    }

    #[test]
    fn an_unknown_role_is_postgresql_s_22023_as_postgrest_answers_it() {
        let r = ApiError::role_does_not_exist("not existing", true).to_response();
        assert_eq!(r.status, 401);
        insta::assert_snapshot!(r.body, @r#"{"code":"22023","details":null,"hint":null,"message":"role \"not existing\" does not exist"}"#);
        assert!(r
            .headers
            .contains(&("www-authenticate", String::from("Bearer"))));
        // Any other 401 from the database gets the same header; a 400 does not.
        let raised = |sqlstate: &str| ApiError::Postgres {
            sqlstate: sqlstate.into(),
            message: "m".into(),
            detail: None,
            hint: None,
            authenticated: true,
        };
        let pt401 = raised("PT401").to_response();
        assert_eq!(pt401.status, 401);
        assert!(pt401
            .headers
            .iter()
            .any(|(n, v)| *n == "www-authenticate" && v == "Bearer"));
        let other = raised("22023").to_response();
        assert_eq!(other.status, 400);
        assert!(!other.headers.iter().any(|(n, _)| *n == "www-authenticate"));
    }

    #[test]
    fn jwt_errors_carry_www_authenticate() {
        let r = ApiError::JwtClaims("JWT expired".into()).to_response();
        assert_eq!(r.status, 401);
        assert!(r.headers.contains(&(
            "www-authenticate",
            "Bearer error=\"invalid_token\", error_description=\"JWT expired\"".to_string()
        )));
        insta::assert_snapshot!(r.body, @r#"{"code":"PGRST303","details":null,"hint":null,"message":"JWT expired"}"#);
    }

    #[test]
    fn jwt_decode_errors_carry_jose_jwt_s_details() {
        let r = ApiError::JwtDecode(JwtDecodeError::NoKeyVerified).to_response();
        assert_eq!(r.status, 401);
        insta::assert_snapshot!(r.body, @r#"{"code":"PGRST301","details":"None of the keys was able to decode the JWT","hint":null,"message":"No suitable key or wrong key type"}"#);
        assert!(r.headers.contains(&(
            "www-authenticate",
            "Bearer error=\"invalid_token\", error_description=\"No suitable key or wrong key type\""
                .to_string()
        )));
        let r = ApiError::JwtDecode(JwtDecodeError::Parts(2)).to_response();
        insta::assert_snapshot!(r.body, @r#"{"code":"PGRST301","details":null,"hint":null,"message":"Expected 3 parts in JWT; got 2"}"#);
    }
}
