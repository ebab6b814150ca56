//! Reads: a relation's rows, the page, `db-max-rows`, embeds, the format.

use crate::api_request::{ReadRequest, SelectItem};
use crate::error::ApiError;
use crate::media::Format;
use crate::schema_cache::{fuzzy, SchemaCache, Table};
use crate::settings::ApiSettings;

use super::embed::plan_embeds;
use super::negotiate::negotiate;
use super::resolve::{self, Items};
use super::types::{ReadPlan, Source};

/// The exposed schema a request addresses (`Accept-Profile`/`Content-Profile`).
pub(super) fn exposed_schema(
    settings: &ApiSettings,
    profile: Option<&str>,
) -> Result<String, ApiError> {
    match profile {
        None => Ok(settings.default_schema().to_string()),
        Some(p) if settings.db_schemas.iter().any(|s| s == p) => Ok(p.to_string()),
        Some(_) => Err(ApiError::InvalidSchema(settings.db_schemas.join(", "))),
    }
}

/// The exposed schema a request addresses and its relation, or PostgREST's error.
pub(super) fn relation<'a>(
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

pub(super) fn plan_read<'a>(
    read: ReadRequest,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<ReadPlan<'a>, ApiError> {
    let format = negotiate(&read.accept)?;
    let (schema, relation) = relation(cache, settings, read.profile.as_deref(), &read.table)?;
    plan_read_on(read, format, schema, relation, cache, settings)
}

/// Plans a read of `relation`'s rows.
pub(super) fn plan_read_on<'a>(
    read: ReadRequest,
    format: Format,
    schema: String,
    relation: &'a Table,
    cache: &'a SchemaCache,
    settings: &ApiSettings,
) -> Result<ReadPlan<'a>, ApiError> {
    if format == Format::GeoJson && !cache.postgis {
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
    let items = Items {
        select: read.select,
        filters: read.filters,
        logic: read.logic,
        order: read.order,
    };
    let node = resolve::node(cache, relation, &read.table, items, embeds)?;
    Ok(ReadPlan {
        schema,
        table: read.table,
        relation,
        select: node.select,
        filters: node.filters,
        order: node.order,
        limit,
        offset: read.offset,
        paged: read.limit.is_some() || read.offset > 0,
        content_profile,
        max_rows: settings.db_max_rows,
        headers_only: read.headers_only,
        format,
        count: read.preferences.count,
        preferences: read.preferences,
        alias: None,
        embeds: node.embeds,
        source: Source::Relation,
        scalar: false,
    })
}

fn has_aggregates(select: &[SelectItem]) -> bool {
    select.iter().any(|i| match i {
        SelectItem::Aggregate { .. } => true,
        SelectItem::Embed(e) => has_aggregates(&e.select),
        _ => false,
    })
}
