//! Golden SQL for writes and calls: what PostgreSQL receives, with the body as one parameter.

use sql_engine::api_request::payload::{self, BodyFormat};
use sql_engine::schema_cache::{Argument, Column, Function, SchemaCache, Table};
use sql_engine::settings::ApiSettings;

fn cache() -> SchemaCache {
    let col = |n: &str, t: &str, default: Option<&str>| Column {
        name: n.into(),
        data_type: t.into(),
        nullable: true,
        default: default.map(String::from),
        ..Default::default()
    };
    let mut cache = SchemaCache::new(
        "v1".into(),
        vec![Table {
            schema: "api".into(),
            name: "tasks".into(),
            columns: vec![
                col(
                    "id",
                    "integer",
                    Some("nextval('api.tasks_id_seq'::regclass)"),
                ),
                col("title", "text", None),
                col("priority", "integer", Some("3")),
            ],
            primary_key: vec!["id".into()],
            insertable: true,
            updatable: true,
            deletable: true,
            ..Default::default()
        }],
    );
    let arg = |n: &str, t: &str, has_default: bool| Argument {
        name: n.into(),
        data_type: t.into(),
        has_default,
    };
    cache.functions = vec![
        Function {
            schema: "api".into(),
            name: "add".into(),
            args: vec![arg("a", "integer", false), arg("b", "integer", true)],
            return_type: "integer".into(),
            volatility: "i".into(),
            ..Default::default()
        },
        Function {
            schema: "api".into(),
            name: "open_tasks".into(),
            args: vec![arg("pid", "integer", false)],
            returns_set: true,
            return_type: "api.tasks".into(),
            returns_relation: Some(("api".into(), "tasks".into())),
            returns_composite: true,
            volatility: "s".into(),
            ..Default::default()
        },
    ];
    cache.reindex();
    cache
}

fn settings() -> ApiSettings {
    ApiSettings::from_json(
        br#"{"db-schemas":["api"],"db-anon-role":"web_anon","db-max-rows":null,"jwt-aud":null}"#,
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
}

fn render(method: &str, path: &str, query: &str, headers: &[(&str, &str)], body: &str) -> String {
    let cache = cache();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let head = sql_engine::api_request::RequestHead {
        method,
        path,
        query,
        headers: &headers,
    };
    let built = sql_engine::api_request::parse(&head).and_then(|parsed| {
        let parsed = match parsed.needs_body() {
            Some(_) => match payload::summarize(BodyFormat::Json, body.as_bytes(), true) {
                Ok(Some(summary)) => parsed.with_body(summary),
                _ => parsed,
            },
            None => parsed,
        };
        sql_engine::build_parsed(parsed.request, &cache, &settings())
    });
    match built {
        Ok((_, st)) => format!(
            "{}\n{:?} body={:?}",
            st.main.sql, st.main.params, st.main.body
        ),
        Err(e) => format!("error: {}", e.to_response().body),
    }
}

#[test]
fn insert_with_representation_and_missing_default() {
    insta::assert_snapshot!(render(
        "POST",
        "/tasks",
        "select=id,title",
        &[("prefer", "return=representation, missing=default")],
        r#"[{"title":"a","priority":1}]"#
    ));
}

#[test]
fn upsert_counts_inserted_rows() {
    insta::assert_snapshot!(render(
        "POST",
        "/tasks",
        "",
        &[("prefer", "resolution=merge-duplicates")],
        r#"{"id":1,"title":"a"}"#
    ));
}

#[test]
fn put_patch_delete() {
    insta::assert_snapshot!(render(
        "PUT",
        "/tasks",
        "id=eq.5",
        &[],
        r#"{"id":5,"title":"x"}"#
    ));
    insta::assert_snapshot!(render(
        "PATCH",
        "/tasks",
        "priority=lt.3&or=(title.eq.a,title.eq.b)",
        &[],
        r#"{"title":"z"}"#
    ));
    insta::assert_snapshot!(render(
        "DELETE",
        "/tasks",
        "id=eq.7",
        &[("prefer", "return=headers-only")],
        ""
    ));
}

#[test]
fn calls_with_query_and_body_arguments() {
    insta::assert_snapshot!(render("GET", "/rpc/add", "a=1", &[], ""));
    insta::assert_snapshot!(render(
        "POST",
        "/rpc/open_tasks",
        "select=title&priority=gt.1&order=id",
        &[],
        r#"{"pid":2}"#
    ));
}
