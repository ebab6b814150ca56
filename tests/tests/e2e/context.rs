//! Bytes that are not ASCII, and what PostgreSQL may say about the response.

use pgmesh_e2e::{get, get_with, http, stack, stack_for_config, token, wasm};

#[test]
fn non_ascii_values_claims_and_headers_reach_postgresql() {
    let r = get("/actors?select=name&name=eq.Timoth%C3%A9e%20Chalamet");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, r#"[{"name":"Timothée Chalamet"}]"#);
    let t = token(serde_json::json!({"role": "web_user", "name": "José"}));
    let r = get_with(
        "/whoami?select=claims,x_test",
        &[
            ("Authorization", &format!("Bearer {t}")),
            ("X-Test", "ünïcödé"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()[0]["claims"]["name"], "José");
    assert_eq!(r.json()[0]["x_test"], "ünïcödé");
}

#[test]
fn a_header_value_that_is_not_utf8_does_not_crash_the_filter() {
    let api = stack().api.clone();
    for _ in 0..3 {
        let r = http::request_bytes(
            &api,
            "GET",
            "/films?select=id&id=eq.1",
            &[("x-odd", b"\xff\xfe ok")],
        )
        .unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body, r#"[{"id":1}]"#);
    }
}

#[test]
fn pre_request_and_response_gucs_steer_the_response() {
    let s = stack_for_config(
        "db-pre-request = \"api.pre_request\"\n",
        wasm(),
        "FAIL_RELOAD",
        1,
    );
    let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-pre-request"), Some("ran"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = http::request(
        &s.api,
        "GET",
        "/films?select=id&id=eq.1",
        &[("X-Want-Status", "418")],
    )
    .unwrap();
    assert_eq!(r.status, 418, "{r:?}");
    assert_eq!(r.body, r#"[{"id":1}]"#);
    let r = http::request(&s.api, "GET", "/films", &[("X-Want-Status", "abc")]).unwrap();
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (500, "PGRST112".into()),
        "{r:?}"
    );
    let r = http::request(&s.api, "GET", "/films", &[("X-Want-Bad-Headers", "1")]).unwrap();
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (500, "PGRST111".into()),
        "{r:?}"
    );
}

#[test]
fn cookies_and_the_role_settings_reach_the_transaction() {
    let t = token(serde_json::json!({"role": "web_user"}));
    let r = get_with(
        "/request_context",
        &[
            ("Authorization", &format!("Bearer {t}")),
            ("Cookie", "session=abc; theme=dark"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json()[0]["cookies"],
        serde_json::json!({"session": "abc", "theme": "dark"})
    );
    // `alter role web_user set statement_timeout = '5s'` applies to web_user only.
    assert_eq!(r.json()[0]["statement_timeout"], "5s");
    let r = get("/request_context");
    assert_eq!(r.json()[0]["cookies"], serde_json::json!({}));
    assert_eq!(r.json()[0]["statement_timeout"], "0");
}
