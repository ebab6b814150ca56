//! Plans a typed request against the schema cache and settings: resolves the relation, applies
//! `db-max-rows`, and says how the response is shaped.

use crate::error::ApiError;
use crate::request::{ApiRequest, Filter, OrderTerm, ReadRequest, SelectItem};
use crate::schema::SchemaCache;
use crate::settings::ApiSettings;

/// A read resolved against the schema cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    pub schema: String,
    pub table: String,
    pub select: Vec<SelectItem>,
    pub filters: Vec<Filter>,
    pub order: Vec<OrderTerm>,
    /// `limit`, capped by `db-max-rows`.
    pub limit: Option<u64>,
    pub offset: u64,
    pub headers_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Read(ReadPlan),
}

pub fn plan(
    request: ApiRequest,
    cache: &SchemaCache,
    settings: &ApiSettings,
) -> Result<Plan, ApiError> {
    match request {
        ApiRequest::Read(read) => plan_read(read, cache, settings).map(Plan::Read),
    }
}

fn plan_read(
    read: ReadRequest,
    cache: &SchemaCache,
    settings: &ApiSettings,
) -> Result<ReadPlan, ApiError> {
    let schema = settings.default_schema().to_string();
    if cache.table(&schema, &read.table).is_none() {
        return Err(ApiError::TableNotFound {
            schema,
            table: read.table,
        });
    }
    let limit = match (read.limit, settings.db_max_rows) {
        (Some(l), Some(max)) => Some(l.min(max)),
        (l, max) => l.or(max),
    };
    Ok(ReadPlan {
        schema,
        table: read.table,
        select: read.select,
        filters: read.filters,
        order: read.order,
        limit,
        offset: read.offset,
        headers_only: read.headers_only,
    })
}
