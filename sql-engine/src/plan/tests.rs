//! The planner, asserted on the plans it builds (the SQL they print is golden-tested apart).

use crate::api_request::payload::{self, BodyFormat};
use crate::api_request::{AggregateFunction, Operator, RequestHead};
use crate::schema_cache::{Argument, Column, Function, SchemaCache, Table};
use crate::settings::ApiSettings;

use super::*;

fn cache() -> SchemaCache {
    let col = |n: &str, t: &str| Column {
        name: n.into(),
        data_type: t.into(),
        nullable: true,
        ..Default::default()
    };
    let table = |name: &str, columns: Vec<Column>| Table {
        schema: "api".into(),
        name: name.into(),
        columns,
        primary_key: vec!["id".into()],
        insertable: true,
        updatable: true,
        deletable: true,
        ..Default::default()
    };
    let mut cache = SchemaCache::new(
        "v1".into(),
        vec![
            table(
                "films",
                vec![
                    col("id", "integer"),
                    col("title", "text"),
                    col("data", "jsonb"),
                    col("meta", "json"),
                    col("tsv", "tsvector"),
                    col("director_id", "integer"),
                ],
            ),
            table(
                "directors",
                vec![
                    col("id", "integer"),
                    col("name", "text"),
                    col("born", "date"),
                ],
            ),
        ],
    );
    cache.foreign_keys = vec![crate::fixtures::foreign_key(
        "films_director_fk",
        "films",
        "director_id",
        "directors",
    )];
    let function = |name: &str, volatility: &str, args: Vec<Argument>| Function {
        schema: "api".into(),
        name: name.into(),
        args,
        return_type: "integer".into(),
        volatility: volatility.into(),
        ..Default::default()
    };
    let row = Argument {
        name: "f".into(),
        data_type: "api.films".into(),
        has_default: false,
    };
    cache.functions = vec![
        Function {
            return_type: "text".into(),
            first_arg_relation: Some(("api".into(), "films".into())),
            ..function("full_title", "s", vec![row])
        },
        function("pure", "i", Vec::new()),
        function("read_it", "s", Vec::new()),
        function("bump", "v", Vec::new()),
        Function {
            variadic: true,
            ..function(
                "sum_all",
                "i",
                vec![
                    Argument {
                        name: "base".into(),
                        data_type: "integer".into(),
                        has_default: true,
                    },
                    Argument {
                        name: "v".into(),
                        data_type: "integer[]".into(),
                        has_default: false,
                    },
                ],
            )
        },
    ];
    cache.reindex();
    cache
}

fn settings() -> ApiSettings {
    ApiSettings::from_json(
        br#"{"db-schemas":["api"],"db-anon-role":"web_anon","db-max-rows":null,"jwt-aud":null,"db-aggregates-enabled":true}"#,
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
}

/// The plan of a request (a JSON body is summarised as the filter does).
fn plan_of<'a>(
    cache: &'a SchemaCache,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
) -> Result<Plan<'a>, crate::ApiError> {
    let head = RequestHead {
        method,
        path,
        query,
        headers: &[],
    };
    let parsed = crate::api_request::parse(&head)?;
    let parsed = match parsed.needs_body() {
        Some(_) => match payload::summarize(BodyFormat::Json, body.as_bytes(), true) {
            Ok(Some(summary)) => parsed.with_body(summary),
            _ => parsed,
        },
        None => parsed,
    };
    plan(parsed.request, cache, &settings())
}

fn read<'a>(cache: &'a SchemaCache, query: &str) -> ReadPlan<'a> {
    match plan_of(cache, "GET", "/films", query, "") {
        Ok(Plan::Read(read)) => read,
        other => unreachable!("not a read: {other:?}"),
    }
}

fn source_name(f: &PlannedField<'_>) -> String {
    match &f.source {
        FieldSource::Column(c) => format!("column {}", c.name),
        FieldSource::Computed(function) => format!("computed {}", function.name),
        FieldSource::Unresolved(name) => format!("unresolved {name}"),
    }
}

/// Each select item as `source output rename to_json`.
fn fields(plan: &ReadPlan<'_>) -> Vec<String> {
    plan.select
        .iter()
        .map(|item| match item {
            PlannedSelect::Field {
                field,
                cast,
                output,
                rename,
            } => format!(
                "{} as {output} rename={rename} to_json={} cast={:?}",
                source_name(field),
                field.to_json,
                cast.as_ref().map(TypeName::as_str)
            ),
            PlannedSelect::Aggregate { output, .. } => format!("aggregate as {output}"),
            PlannedSelect::Star => String::from("*"),
            PlannedSelect::Embed(i) => format!("embed {i}"),
        })
        .collect()
}

#[test]
fn fields_resolve_to_columns_computed_columns_or_unresolved_names() {
    let cache = cache();
    let plan = read(
        &cache,
        "select=id,full_title,nope,data->a,title->>b,meta->0,full_title->x,nope->y,t:tsv::text",
    );
    assert_eq!(
        fields(&plan),
        [
            "column id as id rename=false to_json=false cast=None",
            // A computed column is renamed to its own name (the SQL is a function call).
            "computed full_title as full_title rename=true to_json=false cast=None",
            // Unknown: printed as a column for PostgreSQL to report (42703), as PostgREST does.
            "unresolved nope as nope rename=false to_json=false cast=None",
            "column data as a rename=true to_json=false cast=None",
            // A path on a column that is not JSON converts it first.
            "column title as b rename=true to_json=true cast=None",
            // A path ending with an index keeps the column's name.
            "column meta as meta rename=true to_json=false cast=None",
            "computed full_title as x rename=true to_json=false cast=None",
            "unresolved nope as y rename=true to_json=false cast=None",
            "column tsv as t rename=true to_json=false cast=Some(\"text\")",
        ]
    );
    assert_eq!(plan.source, Source::Relation);
}

#[test]
fn aggregates_and_embeds_have_their_output_names() {
    let cache = cache();
    let plan = read(
        &cache,
        "select=title,count(),total:id.sum()::text,directors(name),d2:directors(),...directors(name,born)",
    );
    assert_eq!(
        fields(&plan),
        [
            "column title as title rename=false to_json=false cast=None",
            "aggregate as count",
            "aggregate as total",
            "embed 0",
            // `d2:directors()` is joined but has no output: no select item.
            "embed 2",
        ]
    );
    assert!(matches!(
        &plan.select[2],
        PlannedSelect::Aggregate {
            function: AggregateFunction::Sum,
            result_cast: Some(t),
            ..
        } if t.as_str() == "text"
    ));
    let names: Vec<&str> = plan.embeds.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["directors", "d2", "directors"]);
    assert_eq!(plan.embeds[0].spread, None);
    assert_eq!(
        plan.embeds[2].spread,
        Some(vec![String::from("name"), String::from("born")])
    );
    let spread_star = read(&cache, "select=id,...directors(*)");
    assert_eq!(
        spread_star.embeds[0].spread,
        Some(vec!["id".into(), "name".into(), "born".into()])
    );
}

#[test]
fn filters_decide_wildcards_tsvector_and_embed_null_tests() {
    let cache = cache();
    let plan = read(
        &cache,
        "select=id,directors(id)&directors=is.null&title=like.*a*&tsv=fts.cat&title=fts(english).cat&nope=wfts.x&id=is.null&or=(id.eq.1,title.ilike(any).{*x,y})",
    );
    let summary: Vec<String> = plan
        .filters
        .iter()
        .map(|f| match f {
            PlannedFilter::Op {
                field, operation, ..
            } => match operation {
                PlannedOperation::FullText(ft) => {
                    format!("{} fts tsvector={}", source_name(field), ft.tsvector)
                }
                other => format!("{} {other:?}", source_name(field)),
            },
            PlannedFilter::Logic { children, .. } => format!("logic of {}", children.len()),
            PlannedFilter::NullEmbed { embed, wants_null } => {
                format!("embed {embed} null={wants_null}")
            }
        })
        .collect();
    assert_eq!(
        summary,
        [
            "column title Compare(Like, \"%a%\")",
            "column tsv fts tsvector=true",
            "column title fts tsvector=false",
            "unresolved nope fts tsvector=false",
            // A column's `is.null` stays a column test.
            "column id Is(Null)",
            "logic of 2",
            // `rel=is.null` comes last, as the embed's test.
            "embed 0 null=true",
        ]
    );
    assert!(plan.embeds[0].filters_parent);
    let PlannedFilter::Logic { children, .. } = &plan.filters[5] else {
        unreachable!("not a tree: {:?}", plan.filters[5]);
    };
    assert!(matches!(
        &children[1],
        PlannedFilter::Op {
            operation: PlannedOperation::Quantified(Operator::Ilike, _, v),
            ..
        } if v == "{%x,y}"
    ));
    let not_null = read(&cache, "select=id,directors(id)&directors=not.is.null");
    assert_eq!(
        not_null.filters,
        [PlannedFilter::NullEmbed {
            embed: 0,
            wants_null: false
        }]
    );
    let plain = read(&cache, "select=id,directors(id)");
    assert!(!plain.embeds[0].filters_parent);
    let inner = read(&cache, "select=id,directors!inner(id)");
    assert!(inner.embeds[0].filters_parent);
}

#[test]
fn orders_by_fields_and_to_one_embeds() {
    let cache = cache();
    let plan = read(
        &cache,
        "select=id,directors(name)&order=directors(name).desc,data->x",
    );
    assert_eq!(
        plan.order[0].target,
        OrderTarget::Embed {
            embed: 0,
            column: "name".into()
        }
    );
    let OrderTarget::Field(f) = &plan.order[1].target else {
        unreachable!("not a field: {:?}", plan.order[1]);
    };
    assert_eq!(source_name(f), "column data");
    assert!(!f.to_json);
    let missing = plan_of(&cache, "GET", "/films", "order=directors(name)", "");
    assert_eq!(
        missing.map(|_| ()).map_err(|e| e.to_response().status),
        Err(400)
    );
}

#[test]
fn type_names_are_letters_digits_and_underscores() {
    for ok in ["int4", "timestamp_tz", "_text", "numeric", "ß"] {
        assert_eq!(
            TypeName::new(ok).map(|t| t.as_str().to_string()),
            Ok(ok.into())
        );
    }
    for bad in [
        "", "int;drop", "text)", "a b", "\"x\"", "int[]", "a--", "x'y",
    ] {
        assert_eq!(TypeName::new(bad), Err(InvalidTypeName(bad.into())));
    }
}

#[test]
fn volatility_decides_read_only_calls_and_allowed_methods() {
    let cache = cache();
    let code = |c: &str| {
        Volatility::of(&Function {
            volatility: c.into(),
            ..Default::default()
        })
    };
    assert_eq!(code("i"), Volatility::Immutable);
    assert_eq!(code("s"), Volatility::Stable);
    assert_eq!(code("v"), Volatility::Volatile);
    let call =
        |method: &str, name: &str| match plan_of(&cache, method, &format!("/rpc/{name}"), "", "{}")
        {
            Ok(Plan::Call(c)) => (c.volatility, c.read_only, c.read.source),
            other => unreachable!("not a call: {other:?}"),
        };
    assert_eq!(
        call("POST", "pure"),
        (Volatility::Immutable, true, Source::CallRows)
    );
    assert_eq!(
        call("POST", "read_it"),
        (Volatility::Stable, true, Source::CallRows)
    );
    assert_eq!(
        call("POST", "bump"),
        (Volatility::Volatile, false, Source::CallRows)
    );
    // GET runs read only whatever the function.
    assert_eq!(
        call("GET", "bump"),
        (Volatility::Volatile, true, Source::CallRows)
    );
    let allow = |name: &str| match plan_of(&cache, "OPTIONS", &format!("/rpc/{name}"), "", "") {
        Ok(Plan::Options { allow }) => allow,
        other => unreachable!("not options: {other:?}"),
    };
    assert_eq!(allow("bump"), "OPTIONS,POST");
    assert_eq!(allow("read_it"), "OPTIONS,GET,HEAD,POST");
}

#[test]
fn writes_read_their_returned_rows_from_the_mutation() {
    let cache = cache();
    let Ok(Plan::Write(w)) = plan_of(
        &cache,
        "PATCH",
        "/films",
        "id=eq.1&select=id,full_title",
        r#"{"title":"x"}"#,
    ) else {
        unreachable!("not a write");
    };
    assert_eq!(w.target.source, Source::Relation);
    assert_eq!(w.returned.source, Source::Mutation);
    assert_eq!(w.target.select, [PlannedSelect::Star]);
    assert_eq!(w.target.filters.len(), 1);
    assert!(w.returned.filters.is_empty());
    assert_eq!(
        fields(&w.returned)[1],
        "computed full_title as full_title rename=true to_json=false cast=None"
    );
    let put = plan_of(
        &cache,
        "PUT",
        "/films",
        "id=eq.7",
        r#"{"id":7,"title":"x"}"#,
    );
    let Ok(Plan::Write(put)) = put else {
        unreachable!("not a write: {put:?}");
    };
    assert_eq!(put.put_key, [(String::from("id"), String::from("7"))]);
    for refused in [
        "id=gt.7",
        "id=eq.7&title=eq.x",
        "or=(id.eq.7)",
        "id=not.eq.7",
    ] {
        let e = plan_of(&cache, "PUT", "/films", refused, r#"{"id":7}"#);
        assert_eq!(
            e.map(|_| ()).map_err(|e| e.to_response().body),
            Err(r#"{"code":"PGRST105","details":null,"hint":null,"message":"Filters must include all and only primary key columns with 'eq' operators"}"#.to_string()),
            "{refused}"
        );
    }
}

#[test]
fn the_last_parameter_of_a_variadic_function_is_passed_variadic() {
    let cache = cache();
    let args = |method: &str, query: &str, body: &str| match plan_of(
        &cache,
        method,
        "/rpc/sum_all",
        query,
        body,
    ) {
        Ok(Plan::Call(c)) => match c.args {
            CallArgs::Query(args) => args
                .into_iter()
                .map(|(a, values)| (a.argument.name.clone(), a.variadic, values.len()))
                .collect::<Vec<_>>(),
            CallArgs::Body(args) => args
                .into_iter()
                .map(|a| (a.argument.name.clone(), a.variadic, 0))
                .collect(),
            CallArgs::Whole(_) => unreachable!("a whole-body call"),
        },
        other => unreachable!("not a call: {other:?}"),
    };
    assert_eq!(
        args("GET", "base=1&v=2&v=3", ""),
        [("base".into(), false, 1), ("v".into(), true, 2)]
    );
    assert_eq!(
        args("POST", "", r#"{"v":[1,2]}"#),
        [("v".to_string(), true, 0)]
    );
}
