//! The API request: an HTTP request head read into what the client asked for, before the schema
//! is consulted. The query string is decoded once and `Content-Type` classified once.

pub mod payload;
pub mod preferences;
pub mod query_params;
pub mod range;
pub mod types;

pub use types::*;

use crate::error::ApiError;
use crate::media;
use crate::urlencoded::{parse_query_string, percent_decode};
use payload::{BodyFormat, Summary};
use preferences::Preferences;
use range::{page, range_header};

/// The parts of an HTTP request that shape an API request.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    pub query: &'a str,
    /// Header names in lower case; repeated headers appear repeatedly.
    pub headers: &'a [(String, String)],
}

impl<'a> RequestHead<'a> {
    /// Every value of a header, in order.
    pub fn header_values(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request head read once: the API request, and the query string decoded (for
/// `Content-Location`). A write whose planning needs its body's keys is completed with
/// [`Parsed::with_body`] when they are known, without parsing again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub request: ApiRequest,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
}

impl Parsed {
    /// The body format whose keys must be read before planning: a write on a table without
    /// `?columns=` (POST, PATCH, PUT), and a POST to a function with a keyed body (the keys
    /// name the arguments, which choose among overloads).
    pub fn needs_body(&self) -> Option<BodyFormat> {
        match &self.request {
            ApiRequest::Write(w) => {
                (w.mutation != Mutation::Delete && w.columns.is_none() && w.payload.is_none())
                    .then_some(w.body_format)
            }
            ApiRequest::Call(CallRequest {
                body: Some((format, None)),
                ..
            }) if format.has_keys() => Some(*format),
            _ => None,
        }
    }

    /// The request, with what the filter read from its body.
    pub fn with_body(mut self, summary: Summary) -> Self {
        match &mut self.request {
            ApiRequest::Write(w) => w.payload = Some(summary),
            ApiRequest::Call(CallRequest {
                body: Some((_, read)),
                ..
            }) => *read = Some(summary),
            _ => {}
        }
        self
    }
}

/// Reads a request head: method, path (no query), raw query string and headers.
pub fn parse(head: &RequestHead<'_>) -> Result<Parsed, ApiError> {
    let query = parse_query_string(head.query);
    let request = api_request(head, &query)?;
    Ok(Parsed { request, query })
}

/// [`parse`], the request alone (tests and tools).
pub fn parse_request(head: &RequestHead<'_>) -> Result<ApiRequest, ApiError> {
    parse(head).map(|p| p.request)
}

fn api_request(head: &RequestHead<'_>, query: &[(String, String)]) -> Result<ApiRequest, ApiError> {
    let method = head.method;
    let (table, rpc) = match parse_path(head.path)? {
        Target::Relation(t) => (t, false),
        Target::Function(f) => (f, true),
    };
    if rpc {
        return parse_call(head, query, table);
    }
    let write = match method {
        "GET" | "HEAD" => None,
        "POST" => Some(Mutation::Insert),
        "PATCH" => Some(Mutation::Update),
        "PUT" => Some(Mutation::Put),
        "DELETE" => Some(Mutation::Delete),
        "OPTIONS" => {
            return Ok(ApiRequest::Options {
                table,
                profile: profile(head, "accept-profile"),
            })
        }
        other => return Err(ApiError::UnsupportedMethod(other.to_string())),
    };
    let profile_header = if write.is_some() {
        "content-profile"
    } else {
        "accept-profile"
    };
    let (read, q) = read_request(head, query, table, profile_header, false)?;
    let Some(mutation) = write else {
        return Ok(ApiRequest::Read(read));
    };
    let content_type = head.header_values("content-type").next();
    let body_format = match mutation {
        Mutation::Delete => BodyFormat::Json,
        _ => BodyFormat::from_content_type(content_type)
            .filter(|f| f.has_keys())
            .ok_or_else(|| {
                ApiError::InvalidBody(format!(
                    "Content-Type not acceptable: {}",
                    content_type.unwrap_or("")
                ))
            })?,
    };
    Ok(ApiRequest::Write(WriteRequest {
        mutation,
        paged: q.paged,
        read,
        columns: q.columns,
        on_conflict: q.on_conflict,
        payload: None,
        body_format,
    }))
}

/// What the query string holds besides the read itself.
#[derive(Default)]
struct QueryExtras {
    /// `limit` or `offset` was given.
    paged: bool,
    columns: Option<Vec<String>>,
    on_conflict: Option<Vec<String>>,
    /// A call's query-string arguments (parameters that are not filters).
    args: Vec<(String, String)>,
}

/// The read a request describes: the query string (select, filters, logic trees, order, page,
/// embed parameters) and the `Accept`, `Prefer`, `Range` and profile headers. For a call,
/// parameters that are not filters are its arguments.
fn read_request(
    head: &RequestHead<'_>,
    query: &[(String, String)],
    table: String,
    profile_header: &'static str,
    call: bool,
) -> Result<(ReadRequest, QueryExtras), ApiError> {
    let mut read = ReadRequest {
        table,
        select: vec![SelectItem::Star],
        filters: Vec::new(),
        logic: Vec::new(),
        order: Vec::new(),
        limit: None,
        offset: 0,
        headers_only: head.method == "HEAD",
        accept: Vec::new(),
        preferences: Preferences::default(),
        profile: profile(head, profile_header),
        embed_params: Vec::new(),
    };
    let mut extras = QueryExtras::default();
    let (mut limit, mut offset) = (None, None);
    for (key, value) in query {
        match key.as_str() {
            "select" => read.select = query_params::select(value)?,
            "order" => read.order = query_params::order(value)?,
            "limit" => limit = query_params::integer(value),
            "offset" => offset = query_params::integer(value),
            "and" | "or" | "not.and" | "not.or" => {
                read.logic.push(query_params::logic_tree(key, value)?)
            }
            "columns" => extras.columns = Some(name_list(value)),
            "on_conflict" => extras.on_conflict = Some(name_list(value)),
            _ if call && !is_filter_param(key, value) => {
                extras.args.push((key.clone(), value.clone()))
            }
            _ if is_embedded_key(key) => read.embed_params.push(embed_param(key, value)?),
            _ => read.filters.push(query_params::filter(key, value)?),
        }
    }
    extras.paged = limit.is_some() || offset.is_some();
    let header_range = match head.method {
        "GET" => head.header_values("range").next().and_then(range_header),
        _ => None,
    };
    (read.offset, read.limit) = page(limit, offset, header_range)?;
    read.accept = media::parse_accept(head.header_values("accept"));
    read.preferences = Preferences::parse(head.header_values("prefer"));
    read.preferences.check_strict()?;
    Ok((read, extras))
}

fn profile(head: &RequestHead<'_>, header: &'static str) -> Option<String> {
    head.header_values(header)
        .next()
        .map(|p| p.trim().to_string())
}

/// `a,b,"c d"` → the names, unquoted.
fn name_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|n| n.trim().trim_matches('"').to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

/// `actors.roles.character=eq.x` → (`[actors, roles]`, filter on `character`), and likewise
/// `rel.order=`, `rel.limit=`, `rel.offset=`, `rel.or=`, `rel.and=`, `rel.not.or=`.
fn embed_param(key: &str, value: &str) -> Result<(Vec<String>, EmbedParam), ApiError> {
    let head = key.split("->").next().unwrap_or(key);
    let cut = head.rfind('.').unwrap_or(0);
    let (mut path, last) = (&key[..cut], &key[cut + 1..]);
    let mut logic = last.to_string();
    if let Some(p) = path.strip_suffix(".not") {
        if last == "or" || last == "and" {
            path = p;
            logic = format!("not.{last}");
        }
    }
    let path: Vec<String> = path.split('.').map(String::from).collect();
    let param = match last {
        "order" => EmbedParam::Order(query_params::order(value)?),
        "limit" => EmbedParam::Limit(query_params::integer(value).unwrap_or(i64::MAX)),
        "offset" => EmbedParam::Offset(query_params::integer(value).unwrap_or(0)),
        "or" | "and" => EmbedParam::Logic(query_params::logic_tree(&logic, value)?),
        field => EmbedParam::Filter(query_params::filter(field, value)?),
    };
    Ok((path, param))
}

/// `actors.name` or `actors.or`: a key with a dot outside quotes and JSON paths.
fn is_embedded_key(key: &str) -> bool {
    let head = key.split("->").next().unwrap_or(key);
    !head.starts_with('"') && head.contains('.')
}

enum Target {
    Relation(String),
    Function(String),
}

/// `/<table>` or `/rpc/<function>`, percent-decoded.
fn parse_path(path: &str) -> Result<Target, ApiError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<&str> = trimmed.split('/').collect();
    match segments.as_slice() {
        [""] => Err(ApiError::NotImplemented(
            "the OpenAPI root (GET /) is not supported by pgmesh yet".into(),
        )),
        ["rpc", f] if !f.is_empty() => Ok(Target::Function(percent_decode(f, false))),
        [table] => Ok(Target::Relation(percent_decode(table, false))),
        _ => Err(ApiError::InvalidPath),
    }
}

/// Whether a query parameter filters a call's result rather than naming an argument:
/// PostgREST's rule is a dotted key, or a value that starts with an operator.
fn is_filter_param(key: &str, value: &str) -> bool {
    let mut parts = value.split('.');
    let first = parts.next().unwrap_or("");
    key.contains('.')
        || (first == "not" && parts.next().is_some())
        || first == "is"
        || first == "in"
        || query_params::is_operator_name(first)
        || query_params::is_fts_name(first)
        || value
            .split_once('(')
            .is_some_and(|(op, _)| query_params::is_fts_name(op))
}

/// A call to `/rpc/<function>`.
fn parse_call(
    head: &RequestHead<'_>,
    query: &[(String, String)],
    function: String,
) -> Result<ApiRequest, ApiError> {
    let post = match head.method {
        "GET" | "HEAD" => false,
        "POST" => true,
        "OPTIONS" => {
            return Ok(ApiRequest::CallOptions {
                function,
                profile: profile(head, "accept-profile"),
            })
        }
        other => return Err(ApiError::RpcMethod(other.to_string())),
    };
    let profile_header = if post {
        "content-profile"
    } else {
        "accept-profile"
    };
    let (read, q) = read_request(head, query, function.clone(), profile_header, true)?;
    // Arguments come from the body on POST; the query string's are ignored then.
    let query_args = if post { Vec::new() } else { q.args };
    let body = if post {
        let content_type = head.header_values("content-type").next();
        let format = BodyFormat::from_content_type(content_type)
            .filter(|f| *f != BodyFormat::Csv)
            .ok_or_else(|| {
                ApiError::InvalidBody(format!(
                    "Content-Type not acceptable: {}",
                    content_type.unwrap_or("")
                ))
            })?;
        // `?columns=` names the arguments, so the body need not be read for them.
        let named = q.columns.map(|mut keys| {
            keys.sort();
            keys.dedup();
            Summary {
                keys,
                ..Summary::empty()
            }
        });
        Some((format, named))
    } else {
        None
    };
    Ok(ApiRequest::Call(CallRequest {
        function,
        read,
        query_args,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: &str, path: &str, query: &str) -> Result<ApiRequest, ApiError> {
        parse_with(method, path, query, &[])
    }

    fn parse_with(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<ApiRequest, ApiError> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_request(&RequestHead {
            method,
            path,
            query,
            headers: &headers,
        })
    }

    fn page_of(query: &str, range: Option<&str>) -> Result<(u64, Option<u64>), String> {
        let headers: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
        match parse_with("GET", "/films", query, &headers) {
            Ok(ApiRequest::Read(r)) => Ok((r.offset, r.limit)),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.to_response().body),
        }
    }

    #[test]
    fn huge_ranges_do_not_overflow() {
        assert_eq!(
            page_of("", Some("0-9223372036854775807")),
            Ok((0, Some(9223372036854775807)))
        );
    }

    #[test]
    fn ranges_combine_as_in_postgrest() {
        assert_eq!(page_of("", None), Ok((0, None)));
        assert_eq!(page_of("limit=10&offset=5", None), Ok((5, Some(10))));
        assert_eq!(page_of("", Some("0-19")), Ok((0, Some(20))));
        assert_eq!(page_of("", Some("5-")), Ok((5, None)));
        assert_eq!(page_of("limit=5", Some("2-19")), Ok((2, Some(3))));
        assert_eq!(page_of("offset=-3", None), Ok((0, None)));
        assert_eq!(page_of("limit=0", Some("3-5")), Ok((0, Some(0))));
        assert_eq!(page_of("limit=abc", None), Ok((0, None)));
        assert_eq!(
            page_of("", Some("items=0-9")),
            Ok((0, None)),
            "other forms are ignored"
        );
        insta::assert_snapshot!(page_of("", Some("5-1")).unwrap_err(), @r#"{"code":"PGRST103","details":"The lower boundary must be lower than or equal to the upper boundary in the Range header.","hint":null,"message":"Requested range not satisfiable"}"#);
        insta::assert_snapshot!(page_of("limit=-1", None).unwrap_err(), @r#"{"code":"PGRST103","details":"Limit should be greater than or equal to zero.","hint":null,"message":"Requested range not satisfiable"}"#);
        assert!(page_of("offset=3", Some("0-1")).is_err());
        let head = parse_with("HEAD", "/films", "", &[("range", "0-1")]);
        assert!(
            matches!(head, Ok(ApiRequest::Read(ReadRequest { limit: None, .. }))),
            "HEAD ignores Range"
        );
    }

    #[test]
    fn query_string_decodes_plus_and_percent() {
        assert_eq!(
            parse_query_string("a=b+c&name=eq.J%C3%BCrgen&x"),
            vec![
                ("a".into(), "b c".into()),
                ("name".into(), "eq.Jürgen".into()),
                ("x".into(), "".into())
            ]
        );
    }

    #[test]
    fn path_with_two_segments_is_invalid() {
        assert_eq!(parse("GET", "/a/b", ""), Err(ApiError::InvalidPath));
    }

    #[test]
    fn trace_is_an_unsupported_method() {
        assert_eq!(
            parse("TRACE", "/films", "").map_err(|e| e.code()),
            Err("PGRST117".to_string())
        );
    }

    #[test]
    fn full_slice_request_parses() {
        let r = parse(
            "GET",
            "/films",
            "select=id,title&year=gte.1990&order=id.desc&limit=2&offset=1",
        );
        let Ok(ApiRequest::Read(r)) = r else {
            panic!("expected a read, got {r:?}")
        };
        assert_eq!(comma_list(&r.select), "id,title");
        assert_eq!(r.filters.len(), 1);
        assert_eq!(r.filters[0].to_string(), "gte.1990");
        assert_eq!(comma_list(&r.order), "id.desc");
        assert_eq!((r.limit, r.offset), (Some(2), 1));
    }
}
