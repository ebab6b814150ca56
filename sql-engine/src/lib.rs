//! pgmesh's pure core, shared by the filter (wasm) and the sidecar (native): PostgREST's URL
//! grammar, the typed request, the schema-cache model, the plan, the SQL printer, the hand-off
//! format, the response semantics and PostgREST's errors. No I/O; builds for native,
//! `wasm32-wasip1` and `wasm32-unknown-unknown`.
//!
//! The road, one stage per module, none reaching back:
//! [`api_request::parse`] → [`plan::plan`] (against [`schema_cache`]) → [`sql::statements`] →
//! [`handoff`] → (sidecar) → [`response`].

pub mod api_request;
pub mod error;
#[cfg(any(test, feature = "test-util"))]
pub mod fixtures;
pub mod handoff;
pub mod media;
pub mod plan;
pub mod response;
pub mod schema_cache;
pub mod settings;
pub mod sql;
pub mod urlencoded;

pub use error::{ApiError, JwtDecodeError};

/// From request head to statements: parse, plan against the cache, render. A write whose
/// planning needs its body's keys is planned without them (tests, benchmarks); the filter uses
/// [`api_request::parse`] and [`build_parsed`].
pub fn build<'a>(
    head: &api_request::RequestHead<'_>,
    cache: &'a schema_cache::SchemaCache,
    settings: &settings::ApiSettings,
) -> Result<(plan::Plan<'a>, sql::Statements), ApiError> {
    build_parsed(api_request::parse(head)?.request, cache, settings)
}

/// Plans a parsed request and renders its statements.
pub fn build_parsed<'a>(
    request: api_request::ApiRequest,
    cache: &'a schema_cache::SchemaCache,
    settings: &settings::ApiSettings,
) -> Result<(plan::Plan<'a>, sql::Statements), ApiError> {
    let plan = plan::plan(request, cache, settings)?;
    let statements = sql::statements(&plan);
    Ok((plan, statements))
}

/// [`build`] for a GET without headers: the main statement only (tests, benchmarks).
pub fn build_statement<'a>(
    method: &str,
    path: &str,
    query: &str,
    cache: &'a schema_cache::SchemaCache,
    settings: &settings::ApiSettings,
) -> Result<(plan::Plan<'a>, sql::Statement), ApiError> {
    let head = api_request::RequestHead {
        method,
        path,
        query,
        headers: &[],
    };
    build(&head, cache, settings).map(|(p, s)| (p, s.main))
}
