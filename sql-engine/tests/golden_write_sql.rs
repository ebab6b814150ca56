//! Golden SQL for writes and calls: what PostgreSQL receives, with the body as one parameter.

// clippy's allow-*-in-tests reach only `#[test]` functions and `#[cfg(test)]` items, not the
// helpers of an integration-test crate; a helper that cannot set up must fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sql_engine::api_request::payload::{self, BodyFormat};
use sql_engine::fixtures;
use sql_engine::settings::ApiSettings;

fn render(method: &str, path: &str, query: &str, headers: &[(&str, &str)], body: &str) -> String {
    let cache = fixtures::tasks();
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
            Some(_) => parsed.with_body(
                payload::summarize(BodyFormat::Json, body.as_bytes(), true)
                    .unwrap()
                    .expect("a JSON body has a summary"),
            ),
            None => parsed,
        };
        sql_engine::build_parsed(parsed.request, &cache, &ApiSettings::for_tests(&["api"]))
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
