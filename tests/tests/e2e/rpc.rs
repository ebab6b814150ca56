//! Functions as endpoints: arguments from the query string or the body, overloads, result
//! shapes, and reads over table-valued results.

use pgmesh_e2e::{get, http, psql, stack, stack_for_config, wasm};

use crate::writes::send;

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn scalar_results_from_post_and_get() {
    let r = send("POST", "/rpc/add_them", &[JSON], r#"{"a": 1, "b": 2}"#);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "3");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let r = get("/rpc/add_them?a=40&b=2");
    assert_eq!((r.status, r.body.as_str()), (200, "42"), "{r:?}");
    let r = http::request(&stack().api, "HEAD", "/rpc/add_them?a=1&b=2", &[]).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    let r = send(
        "POST",
        "/rpc/add_them",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "a=5&b=6",
    );
    assert_eq!((r.status, r.body.as_str()), (200, "11"), "{r:?}");
    // Defaults: an omitted argument takes its default.
    assert_eq!(get("/rpc/greet").body, r#""Hello guest!""#);
    assert_eq!(get("/rpc/greet?name=Ann").body, r#""Hello Ann!""#);
    let r = send("POST", "/rpc/greet", &[], "");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#""Hello guest!""#),
        "{r:?}"
    );
}

#[test]
fn table_valued_results_take_select_filters_order_page_count_and_embeds() {
    psql("insert into api.tasks(id, title, project_id) values (2001, 'r1', 2), (2002, 'r2', 2), (2003, 'r3', 2) on conflict do nothing");
    let r = http::request(
        &stack().api,
        "GET",
        "/rpc/tasks_of?pid=2&select=id,title,projects(name)&id=gte.2001&order=id.desc&limit=2",
        &[("Prefer", "count=exact")],
    )
    .unwrap();
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.header("content-range"), Some("0-1/3"));
    assert_eq!(
        r.body,
        "[{\"id\":2003,\"title\":\"r3\",\"projects\":{\"name\": \"Gemini\"}}, \n {\"id\":2002,\"title\":\"r2\",\"projects\":{\"name\": \"Gemini\"}}]"
    );
    let r = get("/rpc/project_stats?project_id=eq.2");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()[0]["project_id"], 2);
    let r = get("/rpc/numbers_upto?n=3");
    assert_eq!((r.status, r.body.as_str()), (200, "[1, 2, 3]"), "{r:?}");
}

#[test]
fn composite_void_and_volatility() {
    let r = send(
        "POST",
        "/rpc/new_project",
        &[JSON],
        r#"{"id": 30, "name": "Mercury"}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, r#"{"id":30,"name":"Mercury"}"#);
    assert_eq!(
        psql("select name from api.projects where id = 30").trim(),
        "Mercury"
    );
    let r = send("POST", "/rpc/touch", &[], "");
    assert_eq!((r.status, r.body.as_str()), (204, ""), "{r:?}");
    // GET runs READ ONLY: a function that writes fails with 25006, as in PostgREST.
    let r = get("/rpc/write_via_get");
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.json()["code"], "25006");
    assert_eq!(
        psql("select count(*) from api.kv where k = 'via-get'").trim(),
        "0"
    );
    let allow = |path: &str| {
        let r = http::request(&stack().api, "OPTIONS", path, &[]).unwrap();
        r.header("allow")
            .expect("OPTIONS answers Allow")
            .to_string()
    };
    assert_eq!(allow("/rpc/add_them"), "OPTIONS,GET,HEAD,POST");
    assert_eq!(allow("/rpc/new_project"), "OPTIONS,POST");
    let r = send("PATCH", "/rpc/add_them", &[JSON], "{}");
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST101");
}

#[test]
fn overloads_are_chosen_by_argument_names() {
    let r = send("POST", "/rpc/overloaded", &[JSON], r#"{"a": 1, "b": 2}"#);
    assert_eq!((r.status, r.body.as_str()), (200, r#""two""#), "{r:?}");
    let r = send("POST", "/rpc/overloaded", &[JSON], r#"{"a": 1}"#);
    assert_eq!(r.status, 300, "{r:?}");
    assert_eq!(
        r.body,
        r#"{"code":"PGRST203","details":null,"hint":"Try renaming the parameters or the function itself in the database so function overloading can be resolved","message":"Could not choose the best candidate function between: api.overloaded(a => integer), api.overloaded(a => text)"}"#
    );
    let r = get("/rpc/add_them?a=1&c=2");
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        r.body,
        r#"{"code":"PGRST202","details":"Searched for the function api.add_them with parameters a, c, but no matches were found in the schema cache.","hint":"Perhaps you meant to call the function api.add_them(a, b)","message":"Could not find the function api.add_them(a, c) in the schema cache"}"#
    );
    let r = send("POST", "/rpc/add_thm", &[JSON], r#"{"a": 1, "b": 2}"#);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        r.json()["hint"],
        "Perhaps you meant to call the function api.add_them(a, b)"
    );
}

#[test]
fn whole_bodies_arrays_and_variadic_arguments() {
    let r = send("POST", "/rpc/echo_json", &[JSON], r#"{"x": 4, "y": [2]}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#"{"x": 4, "y": [2]}"#),
        "{r:?}"
    );
    let r = send(
        "POST",
        "/rpc/echo_text",
        &[("Content-Type", "text/plain")],
        "héllo\nworld",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), serde_json::json!("héllo\nworld"));
    let r = http::request_with_body(
        &stack().api,
        "POST",
        "/rpc/byte_len",
        &[("Content-Type", "application/octet-stream")],
        &[0u8, 1, 2, 255, 10],
    )
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "5"), "{r:?}");
    let r = send(
        "POST",
        "/rpc/xml_root",
        &[("Content-Type", "text/xml")],
        "<doc><a/></doc>",
    );
    assert_eq!((r.status, r.body.as_str()), (200, r#""doc""#), "{r:?}");
    assert_eq!(get("/rpc/sum_all?nums=1&nums=2&nums=3").body, "6");
    let r = send("POST", "/rpc/sum_all", &[JSON], r#"{"nums": [4, 5]}"#);
    assert_eq!((r.status, r.body.as_str()), (200, "9"), "{r:?}");
    assert_eq!(get("/rpc/first_of?arr=%7Ba,b%7D").body, r#""a""#);
    let r = send("POST", "/rpc/first_of", &[JSON], r#"{"arr": ["x", "y"]}"#);
    assert_eq!((r.status, r.body.as_str()), (200, r#""x""#), "{r:?}");
}

#[test]
fn functions_steer_status_and_headers() {
    let r = send("POST", "/rpc/set_status", &[JSON], r#"{"code": 202}"#);
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.header("x-fn"), Some("set"));
    assert_eq!(r.body, r#""ok""#);
    let r = send("POST", "/rpc/set_status", &[JSON], r#"{"code": 9999}"#);
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST112");
}

#[test]
fn the_request_gucs_of_a_call_and_app_settings() {
    let s = pgmesh_e2e::stack_for_config(
        "db-extra-search-path = \"public, extensions\"\napp.settings.greeting = \"hi there\"\n",
        pgmesh_e2e::wasm(),
        "FAIL_RELOAD",
        1,
    );
    let r = http::request_with_body(&s.api, "POST", "/rpc/context", &[JSON], b"{}").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json(),
        serde_json::json!({
            "method": "POST",
            "path": "/rpc/context",
            "search_path": "\"api\", \"public\", \"extensions\"",
            "greeting": "hi there",
            "read_only": "off",
            "role": "web_anon",
        })
    );
    // GET runs the same function READ ONLY.
    let r = http::get(&s.api, "/rpc/context").unwrap();
    assert_eq!(r.json()["read_only"], "on", "{r:?}");
    assert_eq!(r.json()["method"], "GET");
}

#[test]
fn max_affected_on_calls_and_malformed_raise() {
    let strict = ("Prefer", "handling=strict, max-affected=2");
    let r = http::request(&stack().api, "GET", "/rpc/numbers_upto?n=3", &[strict]).unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST124");
    let r = http::request(&stack().api, "GET", "/rpc/numbers_upto?n=2", &[strict]).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "[1, 2]"), "{r:?}");
    assert_eq!(
        r.header("preference-applied"),
        Some("handling=strict, max-affected=2")
    );
    let r = http::request(&stack().api, "GET", "/rpc/add_them?a=1&b=1", &[strict]).unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST128");
    let r = send("POST", "/rpc/bad_raise", &[], "");
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST121");
}

#[test]
fn array_bodies_columns_and_large_arguments() {
    // An array body gives its first object's arguments.
    let r = send(
        "POST",
        "/rpc/add_them",
        &[JSON],
        r#"[{"a": 1, "b": 2}, {"a": 9, "b": 9}]"#,
    );
    assert_eq!((r.status, r.body.as_str()), (200, "3"), "{r:?}");
    // `?columns=` names the arguments without the filter reading the body.
    let r = send(
        "POST",
        "/rpc/add_them?columns=a,b",
        &[JSON],
        r#"{"a": 2, "b": 3}"#,
    );
    assert_eq!((r.status, r.body.as_str()), (200, "5"), "{r:?}");
    let doc = "d".repeat(700_000);
    let r = send(
        "POST",
        "/rpc/greet",
        &[JSON],
        &format!(r#"{{"name": "{doc}"}}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.len(), 700_000 + "\"Hello !\"".len());
}

#[test]
fn a_function_s_hoisted_settings_apply_to_the_whole_transaction() {
    // `SET statement_timeout` on the function bounds the call itself: PostgreSQL arms the
    // timeout when a statement starts, so the setting only counts when set before the call.
    let r = get("/rpc/hoisted_timeout");
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.json()["code"], "57014", "{r:?}");
    // `SET default_transaction_isolation` is the transaction's isolation level.
    let r = get("/rpc/hoisted_isolation");
    assert_eq!((r.status, r.body.as_str()), (200, "\"serializable\""));

    // Only the settings `db-hoisted-tx-settings` lists are hoisted.
    let s = stack_for_config(
        "db-hoisted-tx-settings = \"default_transaction_isolation\"\n",
        wasm(),
        "FAIL_RELOAD",
        1,
    );
    let r = http::get(&s.api, "/rpc/hoisted_timeout").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "\"slept\""), "{r:?}");
    let r = http::get(&s.api, "/rpc/hoisted_isolation").unwrap();
    assert_eq!(r.body, "\"serializable\"");
    let s = stack_for_config("db-hoisted-tx-settings = \"\"\n", wasm(), "FAIL_RELOAD", 1);
    let r = http::get(&s.api, "/rpc/hoisted_isolation").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "\"read committed\""));
}
