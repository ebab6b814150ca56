//! The typed API request: what a PostgREST URL means, before the schema is consulted.
//!
//! `Display` prints every node back in canonical PostgREST syntax, so that
//! `parse(print(ast)) == ast` can be checked.

use std::fmt;

use crate::error::ApiError;
use crate::grammar;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRequest {
    /// GET or HEAD on `/<table>`.
    Read(ReadRequest),
}

/// A read of one table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub table: String,
    pub select: Vec<SelectItem>,
    pub filters: Vec<Filter>,
    pub order: Vec<OrderTerm>,
    pub limit: Option<u64>,
    pub offset: u64,
    /// HEAD: headers only, no body.
    pub headers_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`: every column.
    Star,
    /// `alias:column::cast`.
    Column {
        name: String,
        alias: Option<String>,
        cast: Option<String>,
    },
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
}

impl Operator {
    /// Every operator with its URL name, longest names first where one is a prefix of another.
    pub const ALL: [(Operator, &'static str); 11] = [
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
    ];

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
    /// `is.null`, `is.true`, …
    Is(IsValue),
    /// `in.(a,b,"c,d")`
    In(Vec<String>),
}

/// `column=[not.]operation`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub column: String,
    pub negated: bool,
    pub operation: Operation,
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
    pub column: String,
    pub direction: Option<Direction>,
    pub nulls: Option<Nulls>,
}

/// Reads a request line into the typed request: method, path (no query) and raw query string.
pub fn parse_request(method: &str, path: &str, query: &str) -> Result<ApiRequest, ApiError> {
    let table = parse_path(path)?;
    let headers_only = match method {
        "GET" => false,
        "HEAD" => true,
        "POST" | "PATCH" | "PUT" | "DELETE" | "OPTIONS" => {
            return Err(ApiError::NotImplemented(format!(
                "{method} on a table is not supported by pgmesh yet"
            )))
        }
        other => return Err(ApiError::UnsupportedMethod(other.to_string())),
    };
    let mut read = ReadRequest {
        table,
        select: vec![SelectItem::Star],
        filters: Vec::new(),
        order: Vec::new(),
        limit: None,
        offset: 0,
        headers_only,
    };
    for (key, value) in parse_query_string(query) {
        match key.as_str() {
            "select" => read.select = grammar::select(&value)?,
            "order" => read.order = grammar::order(&value)?,
            "limit" => read.limit = grammar::limit(&value)?,
            "offset" => read.offset = grammar::offset(&value)?,
            "and" | "or" | "not.and" | "not.or" => {
                return Err(ApiError::NotImplemented(format!(
                    "logic trees ({key}=…) are not supported by pgmesh yet"
                )))
            }
            "columns" | "on_conflict" => {}
            _ if key.contains('.') || key.contains("->") => {
                return Err(ApiError::NotImplemented(format!(
                    "filters on embedded resources or JSON paths ({key}) are not supported by pgmesh yet"
                )))
            }
            _ => read.filters.push(grammar::filter(&key, &value)?),
        }
    }
    Ok(ApiRequest::Read(read))
}

/// `/<table>` → table name, percent-decoded.
fn parse_path(path: &str) -> Result<String, ApiError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<&str> = trimmed.split('/').collect();
    match segments.as_slice() {
        [""] => Err(ApiError::NotImplemented(
            "the OpenAPI root (GET /) is not supported by pgmesh yet".into(),
        )),
        ["rpc", _] => Err(ApiError::NotImplemented(
            "functions (/rpc/…) are not supported by pgmesh yet".into(),
        )),
        [table] => Ok(percent_decode(table, false)),
        _ => Err(ApiError::InvalidPath),
    }
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

impl fmt::Display for SelectItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Star => f.write_str("*"),
            SelectItem::Column { name, alias, cast } => {
                if let Some(a) = alias {
                    write!(f, "{}:", url_name(a))?;
                }
                f.write_str(&url_name(name))?;
                if let Some(c) = cast {
                    write!(f, "::{c}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Compare(op, v) => write!(f, "{}.{v}", op.url_name()),
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

impl fmt::Display for OrderTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&url_name(&self.column))?;
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
        assert_eq!(parse_request("GET", "/a/b", ""), Err(ApiError::InvalidPath));
    }

    #[test]
    fn trace_is_an_unsupported_method() {
        assert_eq!(
            parse_request("TRACE", "/films", "").map_err(|e| e.code()),
            Err("PGRST117".to_string())
        );
    }

    #[test]
    fn full_slice_request_parses() {
        let r = parse_request(
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
