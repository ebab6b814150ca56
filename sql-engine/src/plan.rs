//! Plans a typed request against the schema cache and settings: resolves the relation, applies
//! `db-max-rows`, and says how the response is shaped.

use crate::error::ApiError;
use crate::fuzzy;
use crate::media::Format;
use crate::prefer::{Count, Preferences};
use crate::request::{ApiRequest, Filter, LogicTree, OrderTerm, ReadRequest, SelectItem};
use crate::schema::{SchemaCache, Table};
use crate::settings::ApiSettings;

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
        let suggestion = if in_schema.clone().count() < fuzzy::MAX_RELATIONS {
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
    let content_profile = (settings.db_schemas.len() > 1).then(|| schema.clone());
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
    })
}
