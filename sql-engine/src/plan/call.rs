//! Calls: `/rpc/<function>`, the overload its arguments choose, and what is read from its result.

use crate::api_request::payload::BodyFormat;
use crate::api_request::CallRequest;
use crate::error::ApiError;
use crate::schema_cache::{fuzzy, Function, SchemaCache, Table};
use crate::settings::ApiSettings;

use super::negotiate::negotiate;
use super::read::{exposed_schema, plan_read_on};
use super::types::ReadPlan;
use super::types::{Source, Volatility};

/// A function call resolved against the schema cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan<'a> {
    pub function: &'a Function,
    /// What is read from the result (over the CTE `pgrst_rows`).
    pub read: ReadPlan<'a>,
    pub args: CallArgs<'a>,
    /// POST: the body's format.
    pub body_format: Option<BodyFormat>,
    pub volatility: Volatility,
    /// GET and HEAD, and POST to a function that is not volatile, run READ ONLY.
    pub read_only: bool,
    /// `Prefer: max-affected=N` with strict handling.
    pub max_affected: Option<u64>,
}

/// Where a call's arguments come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallArgs<'a> {
    /// Named arguments with their query-string values (several for VARIADIC and arrays).
    Query(Vec<(CallArg<'a>, Vec<String>)>),
    /// Named arguments taken from the JSON body's keys.
    Body(Vec<CallArg<'a>>),
    /// The whole body is the single unnamed argument.
    Whole(&'a crate::schema_cache::Argument),
}

/// A named argument a call passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallArg<'a> {
    pub argument: &'a crate::schema_cache::Argument,
    /// The function's VARIADIC parameter (its last): passed as `VARIADIC name := array`.
    pub variadic: bool,
}

/// The relation of a function result that is not a relation's rows: no known columns.
static NO_RELATION: Table = crate::schema_cache::NO_RELATION;

/// PGRST202, with the nearest function of the schema as a hint.
pub(super) fn not_found(
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

pub(super) fn plan_call<'a>(
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
    let output = negotiate(&read.accept)?;
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
    let passed = |a: &'a crate::schema_cache::Argument| CallArg {
        argument: a,
        variadic: f.variadic && f.args.last().is_some_and(|last| std::ptr::eq(last, a)),
    };
    let args = if whole {
        match f.args.first() {
            Some(a) => CallArgs::Whole(a),
            None => CallArgs::Body(Vec::new()),
        }
    } else if format.is_some() {
        CallArgs::Body(
            f.args
                .iter()
                .filter(|a| given.contains(&a.name))
                .map(passed)
                .collect(),
        )
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
                    (passed(a), values)
                })
                .collect(),
        )
    };
    let relation = f
        .returns_relation
        .as_ref()
        .and_then(|(s, t)| cache.table(s, t))
        .unwrap_or(&NO_RELATION);
    let strict = read.preferences.strict();
    let max_affected = read.preferences.max_affected.filter(|_| strict);
    if max_affected.is_some() && !f.returns_set {
        return Err(ApiError::MaxAffectedNotSet);
    }
    let volatility = Volatility::of(f);
    let mut plan = plan_read_on(read, output, schema, relation, cache, settings)?;
    plan.alias = Some(f.name.clone());
    plan.source = Source::CallRows;
    plan.scalar = !f.returns_composite;
    Ok(CallPlan {
        function: f,
        read: plan,
        args,
        body_format: format,
        volatility,
        read_only: format.is_none() || volatility != Volatility::Volatile,
        max_affected,
    })
}
