//! The typed API request: what a PostgREST URL means, before the schema is consulted.
//!
//! `Display` prints every node back in canonical PostgREST syntax, so that
//! `parse(print(ast)) == ast` can be checked.

use std::fmt;

use crate::error::ApiError;
use crate::grammar;
use crate::media::{self, Format};
use crate::payload::{BodyFormat, Summary};
use crate::prefer::Preferences;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRequest {
    /// GET or HEAD on `/<table>`.
    Read(ReadRequest),
    /// POST, PATCH, PUT or DELETE on `/<table>`.
    Write(WriteRequest),
    /// OPTIONS on `/<table>`: which methods it accepts.
    Options {
        table: String,
        profile: Option<String>,
    },
    /// GET, HEAD or POST on `/rpc/<function>`.
    Call(CallRequest),
    /// OPTIONS on `/rpc/<function>`.
    CallOptions {
        function: String,
        profile: Option<String>,
    },
}

/// A function call. `read` describes what is read from its result (select, filters, order,
/// page, format); the arguments come from the query string (GET, HEAD) or the body (POST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    pub function: String,
    pub read: ReadRequest,
    /// Query-string arguments, in order (a repeated name repeats).
    pub query_args: Vec<(String, String)>,
    /// POST: the body's format, and what the filter read from it (the argument names).
    pub body: Option<(BodyFormat, Option<Summary>)>,
}

/// What a write does to its relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mutation {
    /// POST (plain insert or upsert with `resolution=`).
    Insert,
    /// PATCH
    Update,
    /// PUT: a single-row upsert by primary key.
    Put,
    Delete,
}

/// A write. `read` describes the rows it returns (select, order, format, preferences) and holds
/// the filters that choose the rows it changes (PATCH, PUT, DELETE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    pub mutation: Mutation,
    pub read: ReadRequest,
    /// `?columns=`: the columns taken from the body (other keys are ignored).
    pub columns: Option<Vec<String>>,
    /// `?on_conflict=`: the unique columns an upsert resolves on.
    pub on_conflict: Option<Vec<String>>,
    /// What the filter read from the body (none for DELETE, or when `columns` is given).
    pub payload: Option<Summary>,
    /// The body's format, from `Content-Type`.
    pub body_format: BodyFormat,
    /// Whether `limit` or `offset` was given (PUT refuses them).
    pub paged: bool,
}

/// A read of one table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub table: String,
    pub select: Vec<SelectItem>,
    pub filters: Vec<Filter>,
    /// `and=(…)`, `or=(…)`, `not.and=(…)`, `not.or=(…)`: ANDed with the filters.
    pub logic: Vec<LogicTree>,
    pub order: Vec<OrderTerm>,
    /// The page: `limit`/`offset` intersected with the `Range` header (GET only).
    pub limit: Option<u64>,
    pub offset: u64,
    /// HEAD: headers only, no body.
    pub headers_only: bool,
    pub format: Format,
    pub preferences: Preferences,
    /// `Accept-Profile` (reads): the schema asked for, if any.
    pub profile: Option<String>,
    /// Parameters for embedded resources, by embed path (`actors.roles.order` → `[actors, roles]`).
    pub embed_params: Vec<(Vec<String>, EmbedParam)>,
}

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

/// A column, optionally followed by a JSON path: `data->phones->0->>number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub json_path: Vec<JsonStep>,
}

/// One `->` (JSON) or `->>` (text) step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonStep {
    /// `->>`: the step yields text.
    pub as_text: bool,
    pub key: JsonKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKey {
    Key(String),
    /// An array index; negative counts from the end.
    Index(i64),
}

impl Field {
    pub fn column(name: impl Into<String>) -> Self {
        Field {
            name: name.into(),
            json_path: Vec::new(),
        }
    }

    /// The output key PostgREST gives a selected field: the last JSON key, or the column name
    /// when the path is empty or ends with an index.
    pub fn output_name(&self) -> &str {
        match self.json_path.last().map(|s| &s.key) {
            Some(JsonKey::Key(k)) => k,
            _ => &self.name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`: every column.
    Star,
    /// `alias:field::cast`.
    Column {
        field: Field,
        alias: Option<String>,
        cast: Option<String>,
    },
    /// `alias:relation!hint!inner(items)`: a related resource.
    Embed(Embed),
    /// `alias:col::cast.sum()::cast`, or `count()` alone (no field).
    Aggregate {
        function: AggregateFunction,
        field: Option<Field>,
        input_cast: Option<String>,
        result_cast: Option<String>,
        alias: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

impl AggregateFunction {
    pub const ALL: [(AggregateFunction, &'static str); 5] = [
        (AggregateFunction::Sum, "sum"),
        (AggregateFunction::Avg, "avg"),
        (AggregateFunction::Min, "min"),
        (AggregateFunction::Max, "max"),
        (AggregateFunction::Count, "count"),
    ];

    /// The URL name, which is also the output key and the SQL function.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map(|(_, n)| *n)
            .unwrap_or("count")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    Inner,
    Left,
}

/// An embedded resource in `select=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embed {
    pub alias: Option<String>,
    pub relation: String,
    /// `!constraint`, `!column` or `!junction`.
    pub hint: Option<String>,
    pub join: Option<JoinType>,
    /// Empty for `rel()`: the join without output.
    pub select: Vec<SelectItem>,
    /// `...rel(cols)`: the embed's columns are spread into the parent.
    pub spread: bool,
}

impl Embed {
    /// The key the embed has in the output (and in `rel.col=…` parameters).
    pub fn name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.relation)
    }
}

/// Query parameters aimed at an embedded resource: `rel.col=…`, `rel.order=…`, `rel.limit=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedParam {
    Filter(Filter),
    Logic(LogicTree),
    Order(Vec<OrderTerm>),
    Limit(i64),
    Offset(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
    IsDistinct,
    Cs,
    Cd,
    Ov,
    Sl,
    Sr,
    Nxr,
    Nxl,
    Adj,
}

impl Operator {
    /// Every binary operator with its URL name.
    pub const ALL: [(Operator, &'static str); 19] = [
        (Operator::Eq, "eq"),
        (Operator::Neq, "neq"),
        (Operator::Gte, "gte"),
        (Operator::Gt, "gt"),
        (Operator::Lte, "lte"),
        (Operator::Lt, "lt"),
        (Operator::Like, "like"),
        (Operator::Ilike, "ilike"),
        (Operator::Match, "match"),
        (Operator::Imatch, "imatch"),
        (Operator::IsDistinct, "isdistinct"),
        (Operator::Cs, "cs"),
        (Operator::Cd, "cd"),
        (Operator::Ov, "ov"),
        (Operator::Sl, "sl"),
        (Operator::Sr, "sr"),
        (Operator::Nxr, "nxr"),
        (Operator::Nxl, "nxl"),
        (Operator::Adj, "adj"),
    ];

    /// Operators that take an `(any)`/`(all)` quantifier.
    pub fn quantifiable(self) -> bool {
        matches!(
            self,
            Operator::Eq
                | Operator::Gt
                | Operator::Gte
                | Operator::Lt
                | Operator::Lte
                | Operator::Like
                | Operator::Ilike
                | Operator::Match
                | Operator::Imatch
        )
    }

    pub fn url_name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(op, _)| *op == self)
            .map(|(_, n)| *n)
            .unwrap_or("eq")
    }

    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Neq => "<>",
            Operator::Gt => ">",
            Operator::Gte => ">=",
            Operator::Lt => "<",
            Operator::Lte => "<=",
            Operator::Like => "LIKE",
            Operator::Ilike => "ILIKE",
            Operator::Match => "~",
            Operator::Imatch => "~*",
            Operator::IsDistinct => "IS DISTINCT FROM",
            Operator::Cs => "@>",
            Operator::Cd => "<@",
            Operator::Ov => "&&",
            Operator::Sl => "<<",
            Operator::Sr => ">>",
            Operator::Nxr => "&<",
            Operator::Nxl => "&>",
            Operator::Adj => "-|-",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

/// Full-text search operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsOperator {
    Fts,
    Plain,
    Phrase,
    Websearch,
}

impl FtsOperator {
    pub const ALL: [(FtsOperator, &'static str); 4] = [
        (FtsOperator::Fts, "fts"),
        (FtsOperator::Plain, "plfts"),
        (FtsOperator::Phrase, "phfts"),
        (FtsOperator::Websearch, "wfts"),
    ];

    pub fn url_name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(op, _)| *op == self)
            .map(|(_, n)| *n)
            .unwrap_or("fts")
    }

    /// The PostgreSQL function building the query.
    pub fn sql_function(self) -> &'static str {
        match self {
            FtsOperator::Fts => "to_tsquery",
            FtsOperator::Plain => "plainto_tsquery",
            FtsOperator::Phrase => "phraseto_tsquery",
            FtsOperator::Websearch => "websearch_to_tsquery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

impl IsValue {
    pub const ALL: [(IsValue, &'static str); 5] = [
        (IsValue::NotNull, "not_null"),
        (IsValue::Null, "null"),
        (IsValue::True, "true"),
        (IsValue::False, "false"),
        (IsValue::Unknown, "unknown"),
    ];

    pub fn url_name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(v, _)| *v == self)
            .map(|(_, n)| *n)
            .unwrap_or("null")
    }

    /// The SQL keyword(s) after `IS`; never a parameter, always from this fixed list.
    pub fn sql(self) -> &'static str {
        match self {
            IsValue::Null => "NULL",
            IsValue::NotNull => "NOT NULL",
            IsValue::True => "TRUE",
            IsValue::False => "FALSE",
            IsValue::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `op.value`
    Compare(Operator, String),
    /// `op(any).{a,b}` / `op(all).{a,b}`: the value is a PostgreSQL array literal.
    Quantified(Operator, Quantifier, String),
    /// `is.null`, `is.true`, …
    Is(IsValue),
    /// `in.(a,b,"c,d")`
    In(Vec<String>),
    /// `fts(lang).query`
    Fts(FtsOperator, Option<String>, String),
}

/// `field=[not.]operation`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conjunction {
    And,
    Or,
}

/// A logic tree: `or=(a.eq.1,and(b.gt.2,c.is.null))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    Filter(Filter),
    Node {
        negated: bool,
        conjunction: Conjunction,
        children: Vec<LogicTree>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// `rel(col)`: order by a column of a to-one embed.
    pub embed: Option<String>,
    pub field: Field,
    pub direction: Option<Direction>,
    pub nulls: Option<Nulls>,
}

/// Reads a request line into the typed request: method, path (no query) and raw query string.
pub fn parse_request(head: &RequestHead<'_>) -> Result<ApiRequest, ApiError> {
    parse_request_with_body(head, None)
}

/// [`parse_request`] for a write whose body the filter summarised.
pub fn parse_request_with_body(
    head: &RequestHead<'_>,
    payload: Option<&Summary>,
) -> Result<ApiRequest, ApiError> {
    let method = head.method;
    let (table, rpc) = match parse_path(head.path)? {
        Target::Relation(t) => (t, false),
        Target::Function(f) => (f, true),
    };
    if rpc {
        return parse_call(head, table, payload);
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
    let (read, q) = read_request(head, table, profile_header, false)?;
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
        payload: payload.cloned(),
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
        format: Format::Json { strip_nulls: false },
        preferences: Preferences::default(),
        profile: profile(head, profile_header),
        embed_params: Vec::new(),
    };
    let mut extras = QueryExtras::default();
    let (mut limit, mut offset) = (None, None);
    for (key, value) in parse_query_string(head.query) {
        match key.as_str() {
            "select" => read.select = grammar::select(&value)?,
            "order" => read.order = grammar::order(&value)?,
            "limit" => limit = grammar::integer(&value),
            "offset" => offset = grammar::integer(&value),
            "and" | "or" | "not.and" | "not.or" => {
                read.logic.push(grammar::logic_tree(&key, &value)?)
            }
            "columns" => extras.columns = Some(name_list(&value)),
            "on_conflict" => extras.on_conflict = Some(name_list(&value)),
            _ if call && !is_filter_param(&key, &value) => extras.args.push((key, value)),
            _ if is_embedded_key(&key) => read.embed_params.push(embed_param(&key, &value)?),
            _ => read.filters.push(grammar::filter(&key, &value)?),
        }
    }
    extras.paged = limit.is_some() || offset.is_some();
    let header_range = match head.method {
        "GET" => head.header_values("range").next().and_then(range_header),
        _ => None,
    };
    (read.offset, read.limit) = page(limit, offset, header_range)?;
    read.format = media::negotiate(head.header_values("accept"))?;
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

/// Whether a request needs its body's keys read by the filter before it can be planned: POST,
/// PATCH and PUT on a table without `?columns=`, and POST to a function (the keys name the
/// arguments, which choose among overloads).
pub fn needs_body_keys(method: &str, path: &str, query: &str) -> bool {
    let wants = if path.starts_with("/rpc/") {
        method == "POST"
    } else {
        matches!(method, "POST" | "PATCH" | "PUT")
    };
    wants
        && !parse_query_string(query)
            .iter()
            .any(|(k, _)| k == "columns")
}

/// `Range: a-b` or `a-` (anything else is ignored, as in PostgREST): lower and upper bound.
fn range_header(value: &str) -> Option<(i64, Option<i64>)> {
    let (lower, upper) = value.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(lower) || !(upper.is_empty() || digits(upper)) {
        return None;
    }
    let lower = lower.parse().ok()?;
    let upper = if upper.is_empty() {
        None
    } else {
        Some(upper.parse().ok()?)
    };
    Some((lower, upper))
}

/// The page as PostgREST computes it: the `limit`/`offset` range intersected with the `Range`
/// header; `limit=0` alone is an empty page; an empty intersection is a 416.
fn page(
    limit: Option<i64>,
    offset: Option<i64>,
    header: Option<(i64, Option<i64>)>,
) -> Result<(u64, Option<u64>), ApiError> {
    let offset = offset.unwrap_or(0).max(0);
    if let Some((lower, Some(upper))) = header {
        if lower > upper {
            return Err(ApiError::InvalidRange {
                details: String::from(
                    "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
                ),
            });
        }
    }
    if limit == Some(0) && offset == 0 {
        return Ok((0, Some(0)));
    }
    let query_upper = limit.map(|l| offset.saturating_add(l).saturating_sub(1));
    let (header_lower, header_upper) = header.unwrap_or((0, None));
    let lower = offset.max(header_lower);
    let upper = match (query_upper, header_upper) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match upper {
        Some(u) if u < lower => Err(ApiError::InvalidRange {
            details: String::from("Limit should be greater than or equal to zero."),
        }),
        Some(u) => Ok((
            lower.unsigned_abs(),
            Some(u.saturating_sub(lower).saturating_add(1).unsigned_abs()),
        )),
        None => Ok((lower.unsigned_abs(), None)),
    }
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
        "order" => EmbedParam::Order(grammar::order(value)?),
        "limit" => EmbedParam::Limit(grammar::integer(value).unwrap_or(i64::MAX)),
        "offset" => EmbedParam::Offset(grammar::integer(value).unwrap_or(0)),
        "or" | "and" => EmbedParam::Logic(grammar::logic_tree(&logic, value)?),
        field => EmbedParam::Filter(grammar::filter(field, value)?),
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
    let fts = |name: &str| FtsOperator::ALL.iter().any(|(_, n)| *n == name);
    key.contains('.')
        || (first == "not" && parts.next().is_some())
        || first == "is"
        || first == "in"
        || Operator::ALL.iter().any(|(_, n)| *n == first)
        || fts(first)
        || value.split_once('(').is_some_and(|(op, _)| fts(op))
}

/// A call to `/rpc/<function>`.
fn parse_call(
    head: &RequestHead<'_>,
    function: String,
    payload: Option<&Summary>,
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
    let (read, q) = read_request(head, function.clone(), profile_header, true)?;
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
        Some((format, payload.cloned().or(named)))
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

/// Splits and decodes a query string as PostgREST does (`+` is a space, `%XX` is a byte).
pub fn parse_query_string(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
            None => (percent_decode(pair, true), String::new()),
        })
        .collect()
}

/// Percent-decoding; invalid escapes are kept as they are, invalid UTF-8 is replaced.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Quotes a name for the URL when it holds characters the grammar reserves.
fn url_name(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ' ')
        && !name.starts_with(' ')
        && !name.ends_with(' ');
    if bare {
        name.to_string()
    } else {
        quote_url_value(name)
    }
}

fn quote_url_value(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&url_name(&self.name))?;
        for step in &self.json_path {
            f.write_str(if step.as_text { "->>" } else { "->" })?;
            match &step.key {
                JsonKey::Key(k) => f.write_str(&url_name(k))?,
                JsonKey::Index(i) => write!(f, "{i}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for SelectItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Star => f.write_str("*"),
            SelectItem::Column { field, alias, cast } => {
                if let Some(a) = alias {
                    write!(f, "{}:", url_name(a))?;
                }
                write!(f, "{field}")?;
                if let Some(c) = cast {
                    write!(f, "::{c}")?;
                }
                Ok(())
            }
            SelectItem::Aggregate {
                function,
                field,
                input_cast,
                result_cast,
                alias,
            } => {
                if let Some(a) = alias {
                    write!(f, "{}:", url_name(a))?;
                }
                if let Some(field) = field {
                    write!(f, "{field}")?;
                    if let Some(c) = input_cast {
                        write!(f, "::{c}")?;
                    }
                    f.write_str(".")?;
                }
                write!(f, "{}()", function.name())?;
                if let Some(c) = result_cast {
                    write!(f, "::{c}")?;
                }
                Ok(())
            }
            SelectItem::Embed(e) => {
                if e.spread {
                    f.write_str("...")?;
                }
                if let Some(a) = &e.alias {
                    write!(f, "{}:", url_name(a))?;
                }
                f.write_str(&url_name(&e.relation))?;
                if let Some(h) = &e.hint {
                    write!(f, "!{}", url_name(h))?;
                }
                match e.join {
                    Some(JoinType::Inner) => f.write_str("!inner")?,
                    Some(JoinType::Left) => f.write_str("!left")?,
                    None => {}
                }
                write!(f, "({})", comma_list(&e.select))
            }
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Compare(op, v) => write!(f, "{}.{v}", op.url_name()),
            Operation::Quantified(op, q, v) => {
                let q = match q {
                    Quantifier::Any => "any",
                    Quantifier::All => "all",
                };
                write!(f, "{}({q}).{v}", op.url_name())
            }
            Operation::Fts(op, lang, v) => match lang {
                Some(l) => write!(f, "{}({l}).{v}", op.url_name()),
                None => write!(f, "{}.{v}", op.url_name()),
            },
            Operation::Is(v) => write!(f, "is.{}", v.url_name()),
            Operation::In(items) => {
                let items: Vec<String> = items.iter().map(|i| quote_url_value(i)).collect();
                write!(f, "in.({})", items.join(","))
            }
        }
    }
}

impl fmt::Display for Filter {
    /// Prints the filter's value side: `[not.]op.value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_str("not.")?;
        }
        write!(f, "{}", self.operation)
    }
}

impl fmt::Display for LogicTree {
    /// Prints a tree as it appears inside `or=(…)`: `a.eq.1`, `not.and(b.gt.2,c.is.null)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogicTree::Filter(filter) => {
                write!(f, "{}.", filter.field)?;
                if filter.negated {
                    f.write_str("not.")?;
                }
                match &filter.operation {
                    // Inside a tree, values that hold delimiters are quoted.
                    Operation::Compare(op, v) => write!(f, "{}.{}", op.url_name(), tree_value(v)),
                    Operation::Quantified(..)
                    | Operation::Fts(..)
                    | Operation::Is(_)
                    | Operation::In(_) => {
                        write!(f, "{}", filter.operation)
                    }
                }
            }
            LogicTree::Node {
                negated,
                conjunction,
                children,
            } => {
                if *negated {
                    f.write_str("not.")?;
                }
                f.write_str(match conjunction {
                    Conjunction::And => "and",
                    Conjunction::Or => "or",
                })?;
                write!(f, "({})", comma_list(children))
            }
        }
    }
}

fn tree_value(v: &str) -> String {
    if v.contains([',', '(', ')', '"', '\\']) || v.starts_with('{') {
        quote_url_value(v)
    } else {
        v.to_string()
    }
}

impl fmt::Display for OrderTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.embed {
            Some(e) => write!(f, "{}({})", url_name(e), self.field)?,
            None => write!(f, "{}", self.field)?,
        }
        match self.direction {
            Some(Direction::Asc) => f.write_str(".asc")?,
            Some(Direction::Desc) => f.write_str(".desc")?,
            None => {}
        }
        match self.nulls {
            Some(Nulls::First) => f.write_str(".nullsfirst"),
            Some(Nulls::Last) => f.write_str(".nullslast"),
            None => Ok(()),
        }
    }
}

/// Joins a list of nodes with commas, as `select=` and `order=` expect.
pub fn comma_list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
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
        insta::assert_snapshot!(page_of("", Some("5-1")).err().unwrap_or_default(), @r#"{"code":"PGRST103","details":"The lower boundary must be lower than or equal to the upper boundary in the Range header.","hint":null,"message":"Requested range not satisfiable"}"#);
        insta::assert_snapshot!(page_of("limit=-1", None).err().unwrap_or_default(), @r#"{"code":"PGRST103","details":"Limit should be greater than or equal to zero.","hint":null,"message":"Requested range not satisfiable"}"#);
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
            unreachable!("expected a read, got {r:?}")
        };
        assert_eq!(comma_list(&r.select), "id,title");
        assert_eq!(r.filters.len(), 1);
        assert_eq!(r.filters[0].to_string(), "gte.1990");
        assert_eq!(comma_list(&r.order), "id.desc");
        assert_eq!((r.limit, r.offset), (Some(2), 1));
    }
}
