//! Plans a typed request against the schema cache and settings: resolves the relation, applies
//! `db-max-rows`, and says how the response is shaped.

use crate::error::ApiError;
use crate::fuzzy;
use crate::media::Format;
use crate::payload::BodyFormat;
use crate::prefer::{Count, Preferences, Resolution, Return};
use crate::relations::{self, Relationship};
use crate::request::{
    ApiRequest, CallRequest, Embed, EmbedParam, Filter, IsValue, JoinType, LogicTree, Mutation,
    Operation, Operator, OrderTerm, ReadRequest, SelectItem, WriteRequest,
};
use crate::schema::{Column, Function, SchemaCache, Table};
use crate::settings::ApiSettings;

/// Embedded resources one request may have, at all depths.
pub const MAX_EMBEDS: usize = 64;

/// A read resolved against the schema cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan<'a> {
    pub schema: String,
    pub table: String,
    /// The relation in the schema cache (column types decide JSON and full-text wrapping).
    pub relation: &'a Table,
    pub select: Vec<SelectItem>,
    pub filters: Vec<Filter>,
    pub logic: Vec<LogicTree>,
    pub order: Vec<OrderTerm>,
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
    /// `rel=is.null` / `rel=not.is.null`: rows without / with a related row (embed name, wants
    /// null).
    pub embed_nulls: Vec<(String, bool)>,
    /// Computed columns of the relation: scalar functions taking its row.
    pub computed: Vec<&'a Function>,
    /// The CTE the rows come from instead of the relation: a write's `RETURNING`
    /// (`pgrst_mutation`) or a function's result (`pgrst_rows`).
    pub source: Option<&'static str>,
    /// Each row is one scalar value (`pgrst_scalar`): a function returning a base type.
    pub scalar: bool,
}

/// A function call resolved against the schema cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan<'a> {
    pub function: &'a Function,
    /// What is read from the result (over the CTE `pgrst_rows`).
    pub read: ReadPlan<'a>,
    pub args: CallArgs<'a>,
    /// POST: the body's format.
    pub body_format: Option<BodyFormat>,
    /// GET and HEAD, and POST to a function that is not volatile, run READ ONLY.
    pub read_only: bool,
    /// `Prefer: max-affected=N` with strict handling.
    pub max_affected: Option<u64>,
}

/// Where a call's arguments come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallArgs<'a> {
    /// Named arguments with their query-string values (several for VARIADIC and arrays).
    Query(Vec<(&'a crate::schema::Argument, Vec<String>)>),
    /// Named arguments taken from the JSON body's keys.
    Body(Vec<&'a crate::schema::Argument>),
    /// The whole body is the single unnamed argument.
    Whole(&'a crate::schema::Argument),
}

/// The relation of a function result that is not a relation's rows: no known columns.
static NO_RELATION: Table = crate::schema::NO_RELATION;

/// A write resolved against the schema cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePlan<'a> {
    pub mutation: Mutation,
    /// The relation as the statement's target, with the filters that choose the changed rows.
    pub target: ReadPlan<'a>,
    /// The rows the response returns, read from the write's `RETURNING`.
    pub returned: ReadPlan<'a>,
    /// The columns written, from `?columns=` or the body's keys.
    pub columns: Vec<&'a Column>,
    pub body_format: BodyFormat,
    /// The keys every object of the body must have (checked by the sidecar); none when
    /// `?columns=` names the columns.
    pub uniform_keys: Option<Vec<String>>,
    /// An upsert: the unique columns it resolves on, and how.
    pub conflict: Option<(Vec<String>, Resolution)>,
    /// `Prefer: missing=default`: keys missing from an object take the column's default.
    pub missing_default: bool,
    pub ret: Return,
    /// PUT: the primary key columns and the values the URL gives them.
    pub put_key: Vec<(String, String)>,
    /// `Prefer: max-affected=N` with `handling=strict`.
    pub max_affected: Option<u64>,
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
    /// Whether the embed has output (`rel()` joins without output).
    pub outputs: bool,
    /// `...rel(cols)`: its columns go into the parent row.
    pub spread: bool,
    pub plan: ReadPlan<'a>,
}

/// One plan per request, built and consumed in place: the size difference between variants
/// costs nothing worth an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan<'a> {
    Read(ReadPlan<'a>),
    Write(WritePlan<'a>),
    Call(CallPlan<'a>),
    /// OPTIONS: answered without the database, with this `Allow` header.
    Options {
        allow: String,
    },
}

pub fn plan<'a>(
    request: ApiRequest,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<Plan<'a>, ApiError> {
    match request {
        ApiRequest::Read(read) => plan_read(read, cache, settings).map(Plan::Read),
        ApiRequest::Write(write) => plan_write(write, cache, settings).map(Plan::Write),
        ApiRequest::Call(call) => plan_call(call, cache, settings).map(Plan::Call),
        ApiRequest::CallOptions { function, profile } => {
            let schema = exposed_schema(settings, profile.as_deref())?;
            let mut found = cache
                .functions
                .iter()
                .filter(|f| f.schema == schema && f.name == function);
            let first = found
                .next()
                .ok_or_else(|| not_found(cache, &schema, &function, &[], false))?;
            let volatile = std::iter::once(first)
                .chain(found)
                .all(|f| f.volatility == "v");
            Ok(Plan::Options {
                allow: String::from(if volatile {
                    "OPTIONS,POST"
                } else {
                    "OPTIONS,GET,HEAD,POST"
                }),
            })
        }
        ApiRequest::Options { table, profile } => {
            let (_, t) = relation(cache, settings, profile.as_deref(), &table)?;
            let mut allow = vec!["OPTIONS,GET,HEAD"];
            if t.insertable {
                allow.push("POST");
            }
            if t.insertable && t.updatable && !t.primary_key.is_empty() {
                allow.push("PUT");
            }
            if t.updatable {
                allow.push("PATCH");
            }
            if t.deletable {
                allow.push("DELETE");
            }
            Ok(Plan::Options {
                allow: allow.join(","),
            })
        }
    }
}

/// The exposed schema a request addresses (`Accept-Profile`/`Content-Profile`).
fn exposed_schema(settings: &ApiSettings, profile: Option<&str>) -> Result<String, ApiError> {
    match profile {
        None => Ok(settings.default_schema().to_string()),
        Some(p) if settings.db_schemas.iter().any(|s| s == p) => Ok(p.to_string()),
        Some(_) => Err(ApiError::InvalidSchema(settings.db_schemas.join(", "))),
    }
}

/// The exposed schema a request addresses and its relation, or PostgREST's error.
fn relation<'a>(
    cache: &'a SchemaCache,
    settings: &ApiSettings,
    profile: Option<&str>,
    table: &str,
) -> Result<(String, &'a Table), ApiError> {
    let schema = exposed_schema(settings, profile)?;
    let Some(relation) = cache.table(&schema, table) else {
        let in_schema = cache.tables.iter().filter(|t| t.schema == schema);
        // PostgreSQL names are at most 63 bytes: a longer one has no near match worth the work.
        let suggestion = if table.len() <= 63 && in_schema.clone().count() < fuzzy::MAX_RELATIONS {
            fuzzy::closest(table, in_schema.map(|t| t.name.as_str())).map(String::from)
        } else {
            None
        };
        return Err(ApiError::TableNotFound {
            schema,
            table: table.to_string(),
            suggestion,
        });
    };
    Ok((schema, relation))
}

fn plan_write<'a>(
    write: WriteRequest,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<WritePlan<'a>, ApiError> {
    let WriteRequest {
        mutation,
        mut read,
        columns,
        on_conflict,
        payload,
        body_format,
        paged,
    } = write;
    let prefs = read.preferences.write();
    let filters = std::mem::take(&mut read.filters);
    let logic = std::mem::take(&mut read.logic);
    read.limit = None;
    read.offset = 0;
    let target_request = ReadRequest {
        select: vec![SelectItem::Star],
        filters,
        logic,
        order: Vec::new(),
        embed_params: Vec::new(),
        ..read.clone()
    };
    let mut target = plan_read(target_request, cache, settings)?;
    target.limit = None;
    let mut returned = plan_read(read, cache, settings)?;
    returned.alias = Some(returned.table.clone());
    returned.source = Some("pgrst_mutation");
    returned.limit = None;
    returned.max_rows = None;
    returned.paged = false;
    returned.content_profile = None;
    // A write counts the rows it returns: every kind of count is that number.
    returned.count = returned.count.map(|_| Count::Exact);
    let relation = target.relation;

    let names = match (&columns, &payload) {
        (Some(c), _) => c.clone(),
        (None, Some(p)) => p.keys.clone(),
        (None, None) => Vec::new(),
    };
    let columns_written = names
        .iter()
        .map(|n| {
            relation
                .columns
                .iter()
                .find(|c| &c.name == n)
                .ok_or_else(|| ApiError::ColumnNotFound {
                    table: relation.name.clone(),
                    column: n.clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut put_key = Vec::new();
    if mutation == Mutation::Put {
        if paged {
            return Err(ApiError::PutLimit);
        }
        put_key = put_key_values(&target, relation)?;
        if put_key
            .iter()
            .any(|(k, _)| !columns_written.iter().any(|c| &c.name == k))
        {
            return Err(ApiError::PutMismatch);
        }
    }
    let conflict = match mutation {
        Mutation::Insert => prefs.resolution.and_then(|r| {
            let keys = on_conflict.unwrap_or_else(|| relation.primary_key.clone());
            (!keys.is_empty()).then_some((keys, r))
        }),
        Mutation::Put => Some((relation.primary_key.clone(), Resolution::MergeDuplicates)),
        _ => None,
    };
    let strict = returned.preferences.handling == Some(crate::prefer::Handling::Strict);
    Ok(WritePlan {
        mutation,
        target,
        returned,
        columns: columns_written,
        body_format,
        uniform_keys: match (&columns, payload, body_format) {
            (None, Some(p), BodyFormat::Json) => Some(p.keys),
            _ => None,
        },
        conflict,
        missing_default: prefs.missing_default == Some(true),
        ret: prefs.ret.unwrap_or(Return::Minimal),
        put_key,
        max_affected: prefs
            .max_affected
            .filter(|_| strict && matches!(mutation, Mutation::Update | Mutation::Delete)),
    })
}

/// PUT's filters must be exactly the primary key columns, each with `eq` (PGRST105).
fn put_key_values(
    target: &ReadPlan<'_>,
    relation: &Table,
) -> Result<Vec<(String, String)>, ApiError> {
    if !target.logic.is_empty() || relation.primary_key.is_empty() {
        return Err(ApiError::PutFilters);
    }
    let mut values = Vec::new();
    for key in &relation.primary_key {
        let mut matching = target.filters.iter().filter(|f| &f.field.name == key);
        match (matching.next(), matching.next()) {
            (
                Some(Filter {
                    field,
                    negated: false,
                    operation: Operation::Compare(Operator::Eq, value),
                }),
                None,
            ) if field.json_path.is_empty() => values.push((key.clone(), value.clone())),
            _ => return Err(ApiError::PutFilters),
        }
    }
    if target.filters.len() != relation.primary_key.len() {
        return Err(ApiError::PutFilters);
    }
    Ok(values)
}

/// PGRST202, with the nearest function of the schema as a hint.
fn not_found(
    cache: &SchemaCache,
    schema: &str,
    name: &str,
    given: &[String],
    json_body: bool,
) -> ApiError {
    let mut sorted = given.to_vec();
    sorted.sort();
    let listed = sorted.join(", ");
    let (args, with) = if sorted.is_empty() {
        (
            String::from(" without parameters"),
            String::from("without parameters"),
        )
    } else {
        (format!("({listed})"), format!("with parameters {listed}"))
    };
    let json = if json_body {
        " or with a single unnamed json/jsonb parameter"
    } else {
        ""
    };
    let in_schema = cache.functions.iter().filter(|f| f.schema == schema);
    let hint = if name.len() <= 63 && in_schema.clone().count() < fuzzy::MAX_RELATIONS {
        fuzzy::closest(name, in_schema.clone().map(|f| f.name.as_str())).and_then(|near| {
            let f = in_schema.clone().find(|f| f.name == near)?;
            let names: Vec<&str> = f.args.iter().map(|a| a.name.as_str()).collect();
            Some(format!(
                "Perhaps you meant to call the function {schema}.{near}({})",
                names.join(", ")
            ))
        })
    } else {
        None
    };
    ApiError::FunctionNotFound {
        schema: schema.to_string(),
        name: name.to_string(),
        args,
        details: format!(
            "Searched for the function {schema}.{name} {with}{json}, but no matches were found in the schema cache."
        ),
        hint,
    }
}

/// The one overload a call's arguments choose: every given name is a parameter and every
/// parameter without a default is given; failing that, a single unnamed parameter that takes
/// the whole body (json/jsonb for JSON; text, bytea or xml for raw bodies).
fn choose_function<'a>(
    cache: &'a SchemaCache,
    schema: &str,
    name: &str,
    given: &[String],
    body: Option<BodyFormat>,
) -> Result<(&'a Function, bool), ApiError> {
    let candidates: Vec<&Function> = cache
        .functions
        .iter()
        .filter(|f| f.schema == schema && f.name == name)
        .collect();
    let single_unnamed = |f: &&Function, types: &[&str]| {
        f.args.len() == 1
            && f.args
                .iter()
                .all(|a| a.name.is_empty() && types.contains(&a.data_type.as_str()))
    };
    let raw_types: Option<&[&str]> = match body {
        Some(BodyFormat::Text) => Some(&["text"]),
        Some(BodyFormat::Bytes) => Some(&["bytea"]),
        Some(BodyFormat::Xml) => Some(&["xml"]),
        _ => None,
    };
    let (matches, whole): (Vec<&Function>, bool) = match raw_types {
        Some(types) => (
            candidates
                .iter()
                .copied()
                .filter(|f| single_unnamed(f, types))
                .collect(),
            true,
        ),
        None => {
            let named: Vec<&Function> = candidates
                .iter()
                .copied()
                .filter(|f| {
                    f.args.iter().all(|a| !a.name.is_empty())
                        && given.iter().all(|g| f.args.iter().any(|a| &a.name == g))
                        && f.args
                            .iter()
                            .filter(|a| !a.has_default)
                            .all(|a| given.contains(&a.name))
                })
                .collect();
            if !named.is_empty() || body != Some(BodyFormat::Json) {
                (named, false)
            } else {
                (
                    candidates
                        .iter()
                        .copied()
                        .filter(|f| single_unnamed(f, &["json", "jsonb"]))
                        .collect(),
                    true,
                )
            }
        }
    };
    match matches.as_slice() {
        [one] => Ok((one, whole)),
        [] => Err(not_found(
            cache,
            schema,
            name,
            given,
            body == Some(BodyFormat::Json),
        )),
        several => {
            let mut signatures: Vec<String> = several.iter().map(|f| f.signature()).collect();
            signatures.sort();
            Err(ApiError::AmbiguousFunction(signatures.join(", ")))
        }
    }
}

fn plan_call<'a>(
    call: CallRequest,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<CallPlan<'a>, ApiError> {
    let CallRequest {
        function,
        read,
        query_args,
        body,
    } = call;
    let schema = exposed_schema(settings, read.profile.as_deref())?;
    let (format, summary) = match body {
        Some((format, summary)) => (Some(format), summary),
        None => (None, None),
    };
    let given: Vec<String> = match (&format, &summary) {
        (None, _) => {
            let mut names: Vec<String> = query_args.iter().map(|(k, _)| k.clone()).collect();
            names.dedup();
            names
        }
        (Some(_), Some(s)) => s.keys.clone(),
        (Some(_), None) => Vec::new(),
    };
    let (f, whole) = choose_function(cache, &schema, &function, &given, format)?;
    let args = if whole {
        match f.args.first() {
            Some(a) => CallArgs::Whole(a),
            None => CallArgs::Body(Vec::new()),
        }
    } else if format.is_some() {
        CallArgs::Body(f.args.iter().filter(|a| given.contains(&a.name)).collect())
    } else {
        CallArgs::Query(
            f.args
                .iter()
                .filter(|a| given.contains(&a.name))
                .map(|a| {
                    let values = query_args
                        .iter()
                        .filter(|(k, _)| *k == a.name)
                        .map(|(_, v)| v.clone())
                        .collect();
                    (a, values)
                })
                .collect(),
        )
    };
    let relation = f
        .returns_relation
        .as_ref()
        .and_then(|(s, t)| cache.table(s, t))
        .unwrap_or(&NO_RELATION);
    let strict = read.preferences.handling == Some(crate::prefer::Handling::Strict);
    let max_affected = read.preferences.write().max_affected.filter(|_| strict);
    if max_affected.is_some() && !f.returns_set {
        return Err(ApiError::MaxAffectedNotSet);
    }
    let mut plan = plan_read_on(read, schema, relation, cache, settings)?;
    plan.alias = Some(f.name.clone());
    plan.source = Some("pgrst_rows");
    plan.scalar = !f.returns_composite;
    Ok(CallPlan {
        function: f,
        read: plan,
        args,
        body_format: format,
        read_only: format.is_none() || f.volatility != "v",
        max_affected,
    })
}

fn plan_read<'a>(
    read: ReadRequest,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<ReadPlan<'a>, ApiError> {
    let (schema, relation) = relation(cache, settings, read.profile.as_deref(), &read.table)?;
    plan_read_on(read, schema, relation, cache, settings)
}

/// Plans a read of `relation`'s rows.
fn plan_read_on<'a>(
    read: ReadRequest,
    schema: String,
    relation: &'a Table,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<ReadPlan<'a>, ApiError> {
    if read.format == Format::GeoJson && !cache.postgis {
        return Err(ApiError::MediaTypeUnavailable(String::from(
            "application/geo+json",
        )));
    }
    let limit = match (read.limit, settings.db_max_rows) {
        (Some(l), Some(max)) => Some(l.min(max)),
        (l, max) => l.or(max),
    };
    if !settings.db_aggregates_enabled && has_aggregates(&read.select) {
        return Err(ApiError::AggregatesDisabled);
    }
    let content_profile = (settings.db_schemas.len() > 1).then(|| schema.clone());
    let mut params = read.embed_params;
    let mut counter = 0;
    let embeds = plan_embeds(
        cache,
        settings,
        relation,
        &read.select,
        &mut params,
        &[],
        &mut counter,
    )?;
    if let Some((path, _)) = params.first() {
        return Err(ApiError::NotEmbedded(path.join(".")));
    }
    Ok(ReadPlan {
        schema,
        table: read.table,
        relation,
        select: read.select,
        filters: read.filters,
        logic: read.logic,
        order: read.order,
        limit,
        offset: read.offset,
        paged: read.limit.is_some() || read.offset > 0,
        content_profile,
        max_rows: settings.db_max_rows,
        headers_only: read.headers_only,
        format: read.format,
        count: read.preferences.count,
        preferences: read.preferences,
        alias: None,
        embeds,
        embed_nulls: Vec::new(),
        computed: computed_columns(cache, relation),
        source: None,
        scalar: false,
    })
    .and_then(finish_node)
}

fn computed_columns<'a>(cache: &'a SchemaCache, table: &Table) -> Vec<&'a Function> {
    cache
        .functions_of(table)
        .into_iter()
        .filter(|f| cache.computed_column(table, &f.name) == Some(*f))
        .collect()
}

fn has_aggregates(select: &[SelectItem]) -> bool {
    select.iter().any(|i| match i {
        SelectItem::Aggregate { .. } => true,
        SelectItem::Embed(e) => has_aggregates(&e.select),
        _ => false,
    })
}

/// Moves `rel=is.null` filters onto embeds and checks orders by embedded columns.
fn finish_node(mut plan: ReadPlan<'_>) -> Result<ReadPlan<'_>, ApiError> {
    let embed_names: Vec<String> = plan.embeds.iter().map(|e| e.name.clone()).collect();
    let mut kept = Vec::new();
    for f in std::mem::take(&mut plan.filters) {
        let null_test = match f.operation {
            Operation::Is(IsValue::Null) => Some(!f.negated),
            Operation::Is(IsValue::NotNull) => Some(f.negated),
            _ => None,
        };
        match null_test {
            Some(wants_null)
                if f.field.json_path.is_empty() && embed_names.contains(&f.field.name) =>
            {
                plan.embed_nulls.push((f.field.name.clone(), wants_null))
            }
            _ => kept.push(f),
        }
    }
    plan.filters = kept;
    for term in &plan.order {
        let Some(name) = &term.embed else { continue };
        let embed = plan
            .embeds
            .iter()
            .find(|e| &e.name == name)
            .ok_or_else(|| ApiError::NotEmbedded(name.clone()))?;
        if !embed.relationship.cardinality.to_one() {
            return Err(ApiError::RelatedOrderNotToOne {
                origin: plan.table.clone(),
                target: name.clone(),
            });
        }
    }
    Ok(plan)
}

/// Resolves the embeds among `select` (of `parent`) and, recursively, theirs; takes the
/// parameters aimed at them out of `params`.
fn plan_embeds<'a>(
    cache: &'a SchemaCache,
    settings: &ApiSettings,
    parent: &'a Table,
    select: &[SelectItem],
    params: &mut Vec<(Vec<String>, EmbedParam)>,
    path: &[String],
    counter: &mut usize,
) -> Result<Vec<EmbedPlan<'a>>, ApiError> {
    let mut embeds = Vec::new();
    for item in select {
        let SelectItem::Embed(embed) = item else {
            continue;
        };
        // Every embed gets its own numbered aliases (names could collide or be truncated), and
        // their number is bounded: planning cost must not be the client's to choose.
        *counter += 1;
        let number = *counter;
        if number > MAX_EMBEDS {
            return Err(ApiError::QueryParam {
                message: String::from("Too many embedded resources"),
                details: format!("A request may embed at most {MAX_EMBEDS} resources"),
            });
        }
        let relationship = resolve(cache, parent, embed)?;
        let target = relationship.target;
        let mut child_path = path.to_vec();
        child_path.push(embed.name().to_string());
        // Parameters for this embed, by its name or (legacy target names) its relation.
        let mut mine = Vec::new();
        params.retain(|(p, param)| {
            let matches = p.len() == child_path.len()
                && p[..path.len()] == child_path[..path.len()]
                && (p[path.len()] == embed.name() || p[path.len()] == embed.relation);
            if matches {
                mine.push(param.clone());
            }
            !matches
        });
        let mut child = ReadPlan {
            schema: target.schema.clone(),
            table: target.name.clone(),
            relation: target,
            select: embed.select.clone(),
            filters: Vec::new(),
            logic: Vec::new(),
            order: Vec::new(),
            limit: settings.db_max_rows,
            offset: 0,
            paged: false,
            max_rows: settings.db_max_rows,
            content_profile: None,
            headers_only: false,
            format: Format::Json { strip_nulls: false },
            count: None,
            preferences: Preferences::default(),
            alias: Some(format!("pgrst_{number}")),
            embeds: Vec::new(),
            embed_nulls: Vec::new(),
            computed: computed_columns(cache, target),
            source: None,
            scalar: false,
        };
        for param in mine {
            match param {
                EmbedParam::Filter(f) => child.filters.push(f),
                EmbedParam::Logic(t) => child.logic.push(t),
                EmbedParam::Order(o) => child.order = o,
                EmbedParam::Limit(n) => {
                    let n = u64::try_from(n.max(0)).unwrap_or(0);
                    child.limit = Some(settings.db_max_rows.map_or(n, |m| n.min(m)));
                }
                EmbedParam::Offset(n) => child.offset = u64::try_from(n.max(0)).unwrap_or(0),
            }
        }
        child.embeds = plan_embeds(
            cache,
            settings,
            target,
            &embed.select,
            params,
            &child_path,
            counter,
        )?;
        let child = finish_node(child)?;
        embeds.push(EmbedPlan {
            name: embed.name().to_string(),
            lateral: format!("pgrst_{number}_embed"),
            relationship,
            inner: embed.join == Some(JoinType::Inner),
            outputs: !embed.select.is_empty(),
            spread: embed.spread,
            plan: child,
        });
    }
    Ok(embeds)
}

/// The one relationship an embed names, or PostgREST's PGRST200/PGRST201.
fn resolve<'a>(
    cache: &'a SchemaCache,
    parent: &Table,
    embed: &Embed,
) -> Result<Relationship<'a>, ApiError> {
    let mut found: Vec<Relationship<'a>> = relations::relationships(cache, parent)
        .into_iter()
        .filter(|r| r.named_by(&embed.relation, parent))
        .filter(|r| {
            embed
                .hint
                .as_deref()
                .is_none_or(|h| r.matches_hint(h, parent))
        })
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ApiError::NoRelationship {
            parent: parent.name.clone(),
            relation: embed.relation.clone(),
            schema: parent.schema.clone(),
            hint: embed.hint.clone(),
        }),
        _ => Err(ApiError::AmbiguousRelationship {
            parent: parent.name.clone(),
            relation: embed.relation.clone(),
            candidates: found
                .iter()
                .map(|r| {
                    let hint = r
                        .junction
                        .as_ref()
                        .map_or(r.constraint, |j| j.table.name.as_str())
                        .to_string();
                    (r.cardinality.name().to_string(), r.describe(parent), hint)
                })
                .collect(),
        }),
    }
}
