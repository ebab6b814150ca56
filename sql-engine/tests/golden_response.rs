//! Golden response semantics: for a request, the transaction and response shape the filter
//! hands to the sidecar ([`handoff::Query::for_plan`]), then the status and headers the sidecar
//! answers for given counts ([`response::read_response`], [`response::write_response`]).
//! Every rule of a response lives in sql-engine; these pin them in one place.

// clippy's allow-*-in-tests reach only `#[test]` functions and `#[cfg(test)]` items, not the
// helpers of an integration-test crate; a helper that cannot set up must fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sql_engine::api_request::payload::{self, BodyFormat};
use sql_engine::api_request::RequestHead;
use sql_engine::handoff::{Context, Identity, Query};
use sql_engine::response::{self, Counted, WriteResult};
use sql_engine::schema_cache::SchemaCache;
use sql_engine::settings::ApiSettings;
use sql_engine::{fixtures, settings::TxEnd};

struct Case<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a str,
}

const GET: Case<'static> = Case {
    method: "GET",
    path: "/tasks",
    query: "",
    headers: &[],
    body: "",
};

fn query_for(case: &Case<'_>, cache: &SchemaCache, settings: &ApiSettings) -> Query {
    let headers: Vec<(String, String)> = case
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let head = RequestHead {
        method: case.method,
        path: case.path,
        query: case.query,
        headers: &headers,
    };
    let mut parsed = sql_engine::api_request::parse(&head).unwrap();
    if parsed.needs_body().is_some() {
        let summary = payload::summarize(BodyFormat::Json, case.body.as_bytes(), true)
            .unwrap()
            .expect("a JSON body has a summary");
        parsed = parsed.with_body(summary);
    }
    let (plan, statements) = sql_engine::build_parsed(parsed.request, cache, settings).unwrap();
    Query::for_plan(
        &plan,
        statements,
        settings,
        &parsed.query,
        Identity::default(),
        Context::default(),
    )
    .expect("not OPTIONS")
}

/// What the statement returned: rows in the page, the exact total, rows an upsert inserted,
/// the first row's key for `Location`.
type Returned<'a> = (u64, Option<i64>, Option<i64>, Option<&'a str>);

/// The hand-off's transaction, body and shape, then the answer for each of `pages`.
fn golden(case: &Case<'_>, settings: &ApiSettings, pages: &[Returned<'_>]) -> String {
    let q = query_for(case, &fixtures::tasks(), settings);
    let mut out = format!(
        "{} {}?{}\ntx: {}\nbody: {}\nshape: {}\n",
        case.method,
        case.path,
        case.query,
        serde_json::to_string(&q.tx).unwrap(),
        serde_json::to_string(&q.body).unwrap(),
        serde_json::to_string_pretty(&q.shape).unwrap(),
    );
    for &(page_total, exact, inserted, location) in pages {
        let counted = Counted {
            page_total,
            exact,
            planned: None,
        };
        let answer = match &q.shape.write {
            None => response::read_response(&q.shape, counted),
            Some(write) => response::write_response(
                &q.shape,
                write,
                counted,
                WriteResult { inserted, location },
            ),
        };
        let answer = match answer {
            Ok((status, headers)) => format!("{status} {headers:?}"),
            Err(e) => format!("{} {}", e.status(), e.to_response().body),
        };
        out.push_str(&format!(
            "rows={page_total} total={exact:?} inserted={inserted:?} null_when_empty={} → {answer}\n",
            q.shape.null_when_empty(page_total)
        ));
    }
    out
}

fn settings() -> ApiSettings {
    ApiSettings::for_tests(&["api"])
}

#[test]
fn reads() {
    insta::assert_snapshot!(
        "read_counted_page",
        golden(
            &Case {
                query: "select=id,title&order=id&limit=2&offset=1",
                headers: &[("prefer", "count=exact"), ("range", "0-9")],
                ..GET
            },
            &settings(),
            &[(2, Some(5), None, None), (0, Some(0), None, None)],
        )
    );
    insta::assert_snapshot!(
        "read_singular_csv_and_head",
        [
            golden(
                &Case {
                    headers: &[("accept", "application/vnd.pgrst.object+json")],
                    ..GET
                },
                &settings(),
                &[(1, None, None, None), (2, None, None, None)],
            ),
            golden(
                &Case {
                    headers: &[("accept", "text/csv")],
                    ..GET
                },
                &settings(),
                &[(3, None, None, None)],
            ),
            golden(
                &Case {
                    method: "HEAD",
                    query: "id=gt.1",
                    headers: &[("prefer", "timezone=UTC, tx=rollback")],
                    ..GET
                },
                &ApiSettings {
                    db_tx_end: TxEnd::CommitAllowOverride,
                    ..settings()
                },
                &[(3, None, None, None)],
            ),
        ]
        .join("\n")
    );
}

#[test]
fn writes() {
    insta::assert_snapshot!(
        "write_insert_headers_only_location",
        golden(
            &Case {
                method: "POST",
                headers: &[("prefer", "return=headers-only")],
                body: r#"{"title":"a"}"#,
                ..GET
            },
            &settings(),
            &[
                (1, None, None, Some(r#"["7"]"#)),
                (2, None, None, Some(r#"["7"]"#))
            ],
        )
    );
    insta::assert_snapshot!(
        "write_upsert_and_patch",
        [
            golden(
                &Case {
                    method: "POST",
                    headers: &[(
                        "prefer",
                        "resolution=merge-duplicates, return=representation, missing=default",
                    )],
                    body: r#"[{"id":1,"title":"a"}]"#,
                    ..GET
                },
                &settings(),
                &[(1, None, Some(0), None), (1, None, Some(1), None)],
            ),
            golden(
                &Case {
                    method: "PATCH",
                    query: "id=eq.1",
                    headers: &[("prefer", "max-affected=1, handling=strict, count=exact")],
                    body: r#"{"title":"b"}"#,
                    ..GET
                },
                &settings(),
                &[(1, None, None, None), (2, None, None, None)],
            ),
            golden(
                &Case {
                    method: "PUT",
                    query: "id=eq.1",
                    headers: &[("prefer", "return=representation")],
                    body: r#"{"id":1,"title":"b","priority":2}"#,
                    ..GET
                },
                &settings(),
                &[(1, None, Some(1), None), (1, None, Some(0), None)],
            ),
        ]
        .join("\n")
    );
}

#[test]
fn calls() {
    insta::assert_snapshot!(
        "call_scalar_and_set",
        [
            golden(
                &Case {
                    path: "/rpc/add",
                    query: "a=1",
                    ..GET
                },
                &settings(),
                &[(1, None, None, None), (0, None, None, None)],
            ),
            golden(
                &Case {
                    method: "POST",
                    path: "/rpc/open_tasks",
                    headers: &[("prefer", "count=exact")],
                    body: r#"{"pid":1}"#,
                    ..GET
                },
                &settings(),
                &[(3, Some(3), None, None)],
            ),
        ]
        .join("\n")
    );
}
