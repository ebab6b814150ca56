//! Plans a typed request against the schema cache and settings: resolves the relation, applies
//! `db-max-rows`, and says how the response is shaped.

use crate::error::ApiError;
use crate::fuzzy;
use crate::media::Format;
use crate::prefer::{Count, Preferences};
use crate::relations::{self, Relationship};
use crate::request::{
    ApiRequest, Embed, EmbedParam, Filter, IsValue, JoinType, LogicTree, Operation, OrderTerm,
    ReadRequest, SelectItem,
};
use crate::schema::{Function, SchemaCache, Table};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan<'a> {
    Read(ReadPlan<'a>),
}

pub fn plan<'a>(
    request: ApiRequest,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<Plan<'a>, ApiError> {
    match request {
        ApiRequest::Read(read) => plan_read(read, cache, settings).map(Plan::Read),
    }
}

fn plan_read<'a>(
    read: ReadRequest,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<ReadPlan<'a>, ApiError> {
    let schema = match &read.profile {
        None => settings.default_schema().to_string(),
        Some(p) if settings.db_schemas.contains(p) => p.clone(),
        Some(_) => return Err(ApiError::InvalidSchema(settings.db_schemas.join(", "))),
    };
    let Some(relation) = cache.table(&schema, &read.table) else {
        let in_schema = cache.tables.iter().filter(|t| t.schema == schema);
        // PostgreSQL names are at most 63 bytes: a longer one has no near match worth the work.
        let suggestion =
            if read.table.len() <= 63 && in_schema.clone().count() < fuzzy::MAX_RELATIONS {
                fuzzy::closest(&read.table, in_schema.map(|t| t.name.as_str())).map(String::from)
            } else {
                None
            };
        return Err(ApiError::TableNotFound {
            schema,
            table: read.table,
            suggestion,
        });
    };
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
