//! Writes: POST, PATCH, PUT and DELETE on a relation.

use crate::api_request::payload::BodyFormat;
use crate::api_request::preferences::{Count, Resolution, Return};
use crate::api_request::{Mutation, Operator, ReadRequest, SelectItem, WriteRequest};
use crate::error::ApiError;
use crate::schema_cache::{Column, SchemaCache, Table};
use crate::settings::ApiSettings;

use super::read::plan_read;
use super::types::ReadPlan;
use super::types::{PlannedFilter, PlannedOperation, Source};

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

pub(super) fn plan_write<'a>(
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
    let prefs = read.preferences.clone();
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
    returned.source = Source::Mutation;
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
    let strict = returned.preferences.strict();
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
    let logic = target
        .filters
        .iter()
        .any(|f| matches!(f, PlannedFilter::Logic { .. }));
    if logic || relation.primary_key.is_empty() {
        return Err(ApiError::PutFilters);
    }
    let mut values = Vec::new();
    for key in &relation.primary_key {
        let mut matching = target
            .filters
            .iter()
            .filter(|f| matches!(f, PlannedFilter::Op { field, .. } if field.name() == key));
        match (matching.next(), matching.next()) {
            (
                Some(PlannedFilter::Op {
                    field,
                    negated: false,
                    operation: PlannedOperation::Compare(Operator::Eq, value),
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
