//! The API request's AST: what a PostgREST URL means, before the schema is consulted.
//!
//! `Display` prints every node back in canonical PostgREST syntax, so that
//! `parse(print(ast)) == ast` can be checked.

use std::fmt;

use crate::api_request::payload::{BodyFormat, Summary};
use crate::api_request::preferences::Preferences;
use crate::media::MediaRange;

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
/// page, accepted media types); the arguments come from the query string (GET, HEAD) or the body (POST).
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
    /// The `Accept` header's media ranges; the plan negotiates the format from them.
    pub accept: Vec<MediaRange>,
    pub preferences: Preferences,
    /// `Accept-Profile` (reads): the schema asked for, if any.
    pub profile: Option<String>,
    /// Parameters for embedded resources, by embed path (`actors.roles.order` → `[actors, roles]`).
    pub embed_params: Vec<(Vec<String>, EmbedParam)>,
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
    /// The URL name, which is also the output key and the SQL function.
    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Sum => "sum",
            AggregateFunction::Avg => "avg",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Count => "count",
        }
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
        match self {
            Operator::Eq => "eq",
            Operator::Neq => "neq",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Like => "like",
            Operator::Ilike => "ilike",
            Operator::Match => "match",
            Operator::Imatch => "imatch",
            Operator::IsDistinct => "isdistinct",
            Operator::Cs => "cs",
            Operator::Cd => "cd",
            Operator::Ov => "ov",
            Operator::Sl => "sl",
            Operator::Sr => "sr",
            Operator::Nxr => "nxr",
            Operator::Nxl => "nxl",
            Operator::Adj => "adj",
        }
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
    pub fn url_name(self) -> &'static str {
        match self {
            FtsOperator::Fts => "fts",
            FtsOperator::Plain => "plfts",
            FtsOperator::Phrase => "phfts",
            FtsOperator::Websearch => "wfts",
        }
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
    pub fn url_name(self) -> &'static str {
        match self {
            IsValue::Null => "null",
            IsValue::NotNull => "not_null",
            IsValue::True => "true",
            IsValue::False => "false",
            IsValue::Unknown => "unknown",
        }
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
