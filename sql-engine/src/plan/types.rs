//! The plan's vocabulary, after PostgREST's `Plan/Types.hs`: fields, select items, filters and
//! order terms resolved against the schema cache, so that the SQL printer only prints.

use crate::api_request::preferences::{Count, Preferences};
use crate::api_request::{
    AggregateFunction, Conjunction, Direction, FtsOperator, IsValue, JsonStep, Nulls, Operator,
    Quantifier,
};
use crate::media::Format;
use crate::schema_cache::{Column, Function, Relationship, Table};

/// A cast's type name, checked once: letters (any alphabet), digits and `_`, as the URL
/// grammar accepts them. Nothing else can become one, so the printer writes it as SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName(String);

/// A cast's type name that is not letters, digits and `_`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a type name (letters, digits or _)")]
pub struct InvalidTypeName(pub String);

impl TypeName {
    pub fn new(name: &str) -> Result<Self, InvalidTypeName> {
        let valid = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if valid {
            Ok(TypeName(name.to_string()))
        } else {
            Err(InvalidTypeName(name.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A function's volatility (`pg_proc.provolatile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    /// From the catalog's code: `i`, `s` or `v`. PostgreSQL has no other; anything else is
    /// taken as stable, so only `v` ever makes a call read-write.
    pub fn of(function: &Function) -> Self {
        match function.volatility.as_str() {
            "i" => Volatility::Immutable,
            "v" => Volatility::Volatile,
            _ => Volatility::Stable,
        }
    }
}

/// Where a node's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The relation itself: `"schema"."table"`.
    Relation,
    /// A write's `RETURNING` rows: the CTE `pgrst_mutation`.
    Mutation,
    /// A function's result: the CTE `pgrst_rows`.
    CallRows,
}

/// What a field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSource<'a> {
    /// A column of the relation.
    Column(&'a Column),
    /// A computed column: a scalar function taking the relation's row.
    Computed(&'a Function),
    /// A name the schema cache does not know: printed quoted, for PostgreSQL to report (42703),
    /// as PostgREST does.
    Unresolved(String),
}

/// A field resolved against its relation: `PostgREST`'s `CoercibleField`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedField<'a> {
    pub source: FieldSource<'a>,
    pub json_path: Vec<JsonStep>,
    /// The column is turned into JSON (`to_jsonb`) before its path is followed: a path on a
    /// column that is not json/jsonb.
    pub to_json: bool,
}

impl PlannedField<'_> {
    /// The name the field is known by (column, function or as written).
    pub fn name(&self) -> &str {
        match &self.source {
            FieldSource::Column(c) => &c.name,
            FieldSource::Computed(f) => &f.name,
            FieldSource::Unresolved(n) => n,
        }
    }
}

/// One item of a node's select list, its output name decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedSelect<'a> {
    /// `*`: every column of the relation.
    Star,
    /// A field, perhaps cast; `rename` says whether the SQL names it (`AS "output"`): an alias,
    /// a cast, a JSON path or a computed column.
    Field {
        field: PlannedField<'a>,
        cast: Option<TypeName>,
        output: String,
        rename: bool,
    },
    /// `SUM(CAST(field AS t))::t AS "output"`; no field is `COUNT(<row>.*)`.
    Aggregate {
        function: AggregateFunction,
        field: Option<PlannedField<'a>>,
        input_cast: Option<TypeName>,
        result_cast: Option<TypeName>,
        output: String,
    },
    /// The output of the embed at this index of the node's embeds (embeds without output are
    /// not select items).
    Embed(usize),
}

/// A full-text operation: `to_tsvector(lang, field) @@ to_tsquery(lang, query)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullText {
    pub operator: FtsOperator,
    pub language: Option<String>,
    pub query: String,
    /// The field is a `tsvector` column, used as it is rather than through `to_tsvector`.
    pub tsvector: bool,
}

/// What a field is tested with; values are the parameters' text as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedOperation {
    /// `field op $n` (`like`/`ilike` values have `*` turned into `%`).
    Compare(Operator, String),
    /// `field op ANY ($n)` / `ALL ($n)`: the value is an array literal.
    Quantified(Operator, Quantifier, String),
    /// `field IS …`
    Is(IsValue),
    /// `field = ANY ($n)`, the items sent as one array literal.
    In(Vec<String>),
    FullText(FullText),
}

/// One condition of a node's `WHERE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedFilter<'a> {
    /// `[NOT] field operation`
    Op {
        field: PlannedField<'a>,
        negated: bool,
        operation: PlannedOperation,
    },
    /// `and(…)`, `or(…)`, `not.and(…)`, `not.or(…)`.
    Logic {
        negated: bool,
        conjunction: Conjunction,
        children: Vec<PlannedFilter<'a>>,
    },
    /// `rel=is.null` / `rel=not.is.null` on the embed at this index: rows without / with a
    /// related row.
    NullEmbed { embed: usize, wants_null: bool },
}

/// What an order term sorts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderTarget<'a> {
    Field(PlannedField<'a>),
    /// `rel(col)`: a column of the to-one embed at this index (its lateral row).
    Embed {
        embed: usize,
        column: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrder<'a> {
    pub target: OrderTarget<'a>,
    pub direction: Option<Direction>,
    pub nulls: Option<Nulls>,
}

/// A read resolved against the schema cache: every name looked up, every output named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan<'a> {
    pub schema: String,
    pub table: String,
    /// The relation in the schema cache.
    pub relation: &'a Table,
    pub select: Vec<PlannedSelect<'a>>,
    /// The conditions of `WHERE`, in order: filters, logic trees, then `rel=is.null` tests.
    pub filters: Vec<PlannedFilter<'a>>,
    pub order: Vec<PlannedOrder<'a>>,
    /// `limit`, capped by `db-max-rows`.
    pub limit: Option<u64>,
    pub offset: u64,
    /// Whether the client's page is less than everything (a limit or an offset).
    pub paged: bool,
    pub max_rows: Option<u64>,
    /// `Content-Profile` of the response: the schema, when several are exposed.
    pub content_profile: Option<String>,
    pub headers_only: bool,
    pub format: Format,
    pub count: Option<Count>,
    pub preferences: Preferences,
    /// The name columns are qualified with inside an embed (`"directors_1"`); `None` at the root,
    /// where they are qualified with the schema and table.
    pub alias: Option<String>,
    /// Embedded resources, in the order their `select` items appear.
    pub embeds: Vec<EmbedPlan<'a>>,
    /// Where the rows come from: the relation, a write's `RETURNING` or a function's result.
    pub source: Source,
    /// Each row is one scalar value (`pgrst_scalar`): a function returning a base type.
    pub scalar: bool,
}

/// An embedded resource resolved to a relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedPlan<'a> {
    /// The output key (alias or relation name).
    pub name: String,
    /// Alias of the lateral subquery (`"films_directors_1"`).
    pub lateral: String,
    pub relationship: Relationship<'a>,
    /// `!inner`: parents without a match are left out.
    pub inner: bool,
    /// `!inner` or a `rel=is.null` test: the embed decides which parent rows there are, so the
    /// count query joins it too.
    pub filters_parent: bool,
    /// `...rel(cols)`: the columns it brings into the parent row, by output name.
    pub spread: Option<Vec<String>>,
    pub plan: ReadPlan<'a>,
}
