//! The plan: a typed request resolved against the schema cache and the settings. One module per
//! plan kind. Names are resolved here (the vocabulary is in `types`), so the SQL printer
//! ([`crate::sql`]) reads plans and prints, and consults nothing else.

mod call;
mod embed;
mod mutate;
pub mod negotiate;
mod read;
mod resolve;
mod types;

pub use call::{CallArg, CallArgs, CallPlan};
pub use embed::MAX_EMBEDS;
pub use mutate::WritePlan;
pub use types::{
    EmbedPlan, FieldSource, FullText, InvalidTypeName, OrderTarget, PlannedField, PlannedFilter,
    PlannedOperation, PlannedOrder, PlannedSelect, ReadPlan, Source, TypeName, Volatility,
};

use crate::api_request::ApiRequest;
use crate::error::ApiError;
use crate::schema_cache::SchemaCache;
use crate::settings::ApiSettings;
use read::{exposed_schema, relation};

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
        ApiRequest::Read(read) => read::plan_read(read, cache, settings).map(Plan::Read),
        ApiRequest::Write(write) => mutate::plan_write(write, cache, settings).map(Plan::Write),
        ApiRequest::Call(call) => call::plan_call(call, cache, settings).map(Plan::Call),
        ApiRequest::CallOptions { function, profile } => {
            let schema = exposed_schema(settings, profile.as_deref())?;
            let mut found = cache
                .functions
                .iter()
                .filter(|f| f.schema == schema && f.name == function);
            let first = found
                .next()
                .ok_or_else(|| call::not_found(cache, &schema, &function, &[], false))?;
            let volatile = std::iter::once(first)
                .chain(found)
                .all(|f| Volatility::of(f) == Volatility::Volatile);
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

#[cfg(test)]
mod tests;
