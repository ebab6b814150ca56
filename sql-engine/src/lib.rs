//! pgmesh's pure core, shared by the filter (wasm) and the sidecar (native): PostgREST's URL
//! grammar, the typed request, the schema-cache model, the SQL builder, the hand-off format and
//! PostgREST's errors. No I/O; builds for native, `wasm32-wasip1` and `wasm32-unknown-unknown`.
//!
//! The road: [`request::parse_request`] (with [`grammar`]) → [`plan::plan`] → [`query::statement`].

pub mod error;
pub mod fuzzy;
pub mod grammar;
pub mod handoff;
pub mod media;
pub mod payload;
pub mod plan;
pub mod prefer;
pub mod query;
pub mod relations;
pub mod request;
pub mod response;
pub mod schema;
pub mod settings;
pub mod sql;
pub mod views;

pub use error::ApiError;

/// From request head to statements: parse, plan against the cache, render.
pub fn build<'a>(
    head: &request::RequestHead<'_>,
    cache: &'a schema::SchemaCache,
    settings: &settings::ApiSettings,
) -> Result<(plan::Plan<'a>, query::Statements), ApiError> {
    build_with_body(head, None, cache, settings)
}

/// [`build`] for a write whose body the filter summarised.
pub fn build_with_body<'a>(
    head: &request::RequestHead<'_>,
    payload: Option<&payload::Summary>,
    cache: &'a schema::SchemaCache,
    settings: &settings::ApiSettings,
) -> Result<(plan::Plan<'a>, query::Statements), ApiError> {
    let request = request::parse_request_with_body(head, payload)?;
    let plan = plan::plan(request, cache, settings)?;
    let statements = query::statements(&plan);
    Ok((plan, statements))
}

/// [`build`] for a GET without headers: the main statement only (tests, benchmarks).
pub fn build_statement<'a>(
    method: &str,
    path: &str,
    query: &str,
    cache: &'a schema::SchemaCache,
    settings: &settings::ApiSettings,
) -> Result<(plan::Plan<'a>, sql::Statement), ApiError> {
    let head = request::RequestHead {
        method,
        path,
        query,
        headers: &[],
    };
    build(&head, cache, settings).map(|(p, s)| (p, s.main))
}
