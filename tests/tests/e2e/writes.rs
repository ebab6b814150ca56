//! Writes: POST, upserts, PUT, PATCH and DELETE, with PostgREST's statuses and headers; what
//! they leave in the table is read back with psql.

use pgmesh_e2e::{http, psql, stack, stack_for_config, wasm, Response};

pub fn send(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    http::request_with_body(&stack().api, method, path, headers, body.as_bytes()).unwrap()
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn rows(sql: &str) -> String {
    psql(sql).trim_end().to_string()
}

#[test]
fn post_one_object_returns_201_without_a_body() {
    let r = send(
        "POST",
        "/tasks",
        &[JSON],
        r#"{"id": 1001, "title": "write tests"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body, "");
    assert_eq!(r.header("content-range"), Some("*/*"));
    assert_eq!(
        rows("select title, done, priority from api.tasks where id = 1001"),
        "write tests|f|3"
    );
}

#[test]
fn bulk_insert_with_representation_select_order_and_embed() {
    let r = send(
        "POST",
        "/tasks?select=id,title,project:projects(name)&order=id.desc",
        &[JSON, ("Prefer", "return=representation, count=exact")],
        r#"[{"id": 1011, "title": "a", "project_id": 1}, {"id": 1012, "title": "b", "project_id": 2}]"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.body,
        // PostgreSQL's bytes, as PostgREST sends them (json_agg's separator, jsonb's spacing).
        "[{\"id\":1012,\"title\":\"b\",\"project\":{\"name\": \"Gemini\"}}, \n {\"id\":1011,\"title\":\"a\",\"project\":{\"name\": \"Apollo\"}}]"
    );
    assert_eq!(r.header("content-range"), Some("*/2"));
    assert_eq!(
        r.header("preference-applied"),
        Some("return=representation, count=exact")
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[test]
fn objects_with_different_keys_are_refused_and_nothing_is_written() {
    let r = send(
        "POST",
        "/tasks",
        &[JSON],
        r#"[{"id": 1021, "title": "a"}, {"id": 1022}]"#,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.body,
        r#"{"code":"PGRST102","details":null,"hint":null,"message":"All object keys must match"}"#
    );
    assert_eq!(
        rows("select count(*) from api.tasks where id in (1021, 1022)"),
        "0"
    );
    for (body, message) in [
        ("", "Empty or invalid json"),
        ("{\"id\":", "Empty or invalid json"),
        ("[1, 2]", "Empty or invalid json"),
    ] {
        let r = send("POST", "/tasks", &[JSON], body);
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert_eq!(r.json()["code"], "PGRST102");
        assert_eq!(r.json()["message"], message);
    }
    let r = send("POST", "/tasks", &[("Content-Type", "image/png")], "x");
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.json()["message"],
        "Content-Type not acceptable: image/png"
    );
}

#[test]
fn unknown_columns_get_pgrst204() {
    let r = send("POST", "/tasks?columns=id,nope", &[JSON], r#"{"id": 1}"#);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.body,
        r#"{"code":"PGRST204","details":null,"hint":null,"message":"Could not find the 'nope' column of 'tasks' in the schema cache"}"#
    );
    let r = send("POST", "/tasks", &[JSON], r#"{"id": 1, "nope": 2}"#);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST204");
}

#[test]
fn columns_restrict_the_keys_and_missing_default_uses_defaults() {
    let r = send(
        "POST",
        "/tasks?columns=id,title,priority",
        &[JSON, ("Prefer", "return=representation")],
        r#"[{"id": 1031, "title": "x", "ignored": true}, {"id": 1032, "title": "y", "priority": 9}]"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        rows("select id, coalesce(priority::text, 'null') from api.tasks where id in (1031, 1032) order by id"),
        "1031|null\n1032|9"
    );
    let r = send(
        "POST",
        "/tasks?columns=id,title,priority",
        &[JSON, ("Prefer", "missing=default, return=minimal")],
        r#"[{"id": 1033, "title": "z"}]"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.header("preference-applied"),
        Some("missing=default, return=minimal")
    );
    assert_eq!(rows("select priority from api.tasks where id = 1033"), "3");
}

#[test]
fn csv_and_form_bodies_insert_rows() {
    let r = send(
        "POST",
        "/tasks",
        &[
            ("Content-Type", "text/csv"),
            ("Prefer", "return=representation"),
        ],
        "id,title,note\n1041,\"csv, quoted\",NULL\n1042,simple,\n",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        rows("select id, title, coalesce(note, '<null>') from api.tasks where id in (1041, 1042) order by id"),
        "1041|csv, quoted|<null>\n1042|simple|"
    );
    let r = send(
        "POST",
        "/tasks",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "id=1043&title=from+a+form%21",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        rows("select title from api.tasks where id = 1043"),
        "from a form!"
    );
    let r = send(
        "POST",
        "/tasks",
        &[("Content-Type", "text/csv")],
        "id,title\n1044\n",
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.json()["message"],
        "All lines must have same number of fields"
    );
}

#[test]
fn headers_only_gives_the_location_of_the_new_row() {
    let r = send(
        "POST",
        "/composite_key",
        &[JSON, ("Prefer", "return=headers-only")],
        r#"{"a": 1, "b": "x y", "v": "v"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("/composite_key?a=eq.1&b=eq.x%20y")
    );
    assert_eq!(r.body, "");
}

#[test]
fn upserts_merge_or_ignore_and_say_whether_they_inserted() {
    send("POST", "/kv", &[JSON], r#"{"k": "u1", "v": "old"}"#);
    let merge = (
        "Prefer",
        "resolution=merge-duplicates, return=representation",
    );
    let r = send(
        "POST",
        "/kv",
        &[JSON, merge],
        r#"[{"k": "u1", "v": "new"}]"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, r#"[{"k":"u1","v":"new"}]"#);
    assert_eq!(
        r.header("preference-applied"),
        Some("resolution=merge-duplicates, return=representation")
    );
    let r = send(
        "POST",
        "/kv",
        &[JSON, merge],
        r#"[{"k": "u1", "v": "newer"}, {"k": "u2", "v": "fresh"}]"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = send(
        "POST",
        "/kv",
        &[
            JSON,
            (
                "Prefer",
                "resolution=ignore-duplicates, return=representation",
            ),
        ],
        r#"[{"k": "u1", "v": "ignored"}, {"k": "u3", "v": "third"}]"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body, r#"[{"k":"u3","v":"third"}]"#);
    assert_eq!(
        rows("select k, v from api.kv where k like 'u%' order by k"),
        "u1|newer\nu2|fresh\nu3|third"
    );
    // on_conflict names a unique column other than the key.
    send(
        "POST",
        "/contacts",
        &[JSON],
        r#"{"id": 1, "email": "a@x.io", "name": "A"}"#,
    );
    let r = send(
        "POST",
        "/contacts?on_conflict=email",
        &[JSON, ("Prefer", "resolution=merge-duplicates")],
        r#"{"id": 1, "email": "a@x.io", "name": "Renamed"}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        rows("select name from api.contacts where id = 1"),
        "Renamed"
    );
}

#[test]
fn put_upserts_one_row_by_its_primary_key() {
    let r = send(
        "PUT",
        "/kv?k=eq.p1",
        &[JSON, ("Prefer", "return=representation")],
        r#"{"k": "p1", "v": "one"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body, r#"[{"k":"p1","v":"one"}]"#);
    let r = send(
        "PUT",
        "/kv?k=eq.p1",
        &[JSON, ("Prefer", "return=representation")],
        r#"{"k": "p1", "v": "two"}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(
        "PUT",
        "/kv?k=eq.p1",
        &[JSON],
        r#"{"k": "p1", "v": "three"}"#,
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(rows("select v from api.kv where k = 'p1'"), "three");
    for (path, body, status, code) in [
        ("/kv?v=eq.p1", r#"{"k": "p1"}"#, 405, "PGRST105"),
        ("/kv?k=gt.p1", r#"{"k": "p1"}"#, 405, "PGRST105"),
        ("/kv?k=eq.p1&or=(v.eq.1)", r#"{"k": "p1"}"#, 405, "PGRST105"),
        ("/kv?k=eq.p1&limit=1", r#"{"k": "p1"}"#, 400, "PGRST114"),
        (
            "/kv?k=eq.p1",
            r#"{"k": "other", "v": "x"}"#,
            400,
            "PGRST115",
        ),
    ] {
        let r = send("PUT", path, &[JSON], body);
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert_eq!(r.json()["code"], code, "{path}: {r:?}");
    }
    assert_eq!(rows("select count(*) from api.kv where k = 'other'"), "0");
}

#[test]
fn patch_and_delete_with_filters_and_logic_trees() {
    psql("insert into api.tasks(id, title, priority) values (1051, 'p', 1), (1052, 'q', 2), (1053, 'r', 3)");
    let r = send(
        "PATCH",
        "/tasks?id=in.(1051,1052,1053)&or=(priority.eq.1,priority.eq.3)",
        &[JSON, ("Prefer", "return=representation")],
        r#"{"done": true}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-range"), Some("0-1/*"));
    assert_eq!(
        rows("select id from api.tasks where id between 1051 and 1053 and done order by id"),
        "1051\n1053"
    );
    let r = send("PATCH", "/tasks?id=eq.1052", &[JSON], "{}");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(rows("select done from api.tasks where id = 1052"), "f");
    let r = send("PATCH", "/tasks?id=eq.1052", &[JSON], r#"{"note": "n"}"#);
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("content-range"), Some("0-0/*"));
    let r = send(
        "DELETE",
        "/tasks?id=gte.1051&id=lte.1053&done=is.true",
        &[
            ("Prefer", "return=representation"),
            ("Accept", "application/json"),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
    assert_eq!(r.header("content-range"), Some("*/*"));
    let r = send("DELETE", "/tasks?id=eq.1052", &[], "");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        rows("select count(*) from api.tasks where id between 1051 and 1053"),
        "0"
    );
}

#[test]
fn singular_and_max_affected_roll_back() {
    psql("insert into api.tasks(id, title) values (1061, 's'), (1062, 's')");
    let r = send(
        "PATCH",
        "/tasks?title=eq.s",
        &[JSON, ("Accept", "application/vnd.pgrst.object+json")],
        r#"{"note": "touched"}"#,
    );
    assert_eq!(r.status, 406, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST116");
    assert_eq!(
        rows("select count(*) from api.tasks where note = 'touched'"),
        "0"
    );
    let r = send(
        "DELETE",
        "/tasks?title=eq.s",
        &[("Prefer", "handling=strict, max-affected=1")],
        "",
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.body,
        r#"{"code":"PGRST124","details":"The query affects 2 rows","hint":null,"message":"Query result exceeds max-affected preference constraint"}"#
    );
    assert_eq!(
        rows("select count(*) from api.tasks where title = 's'"),
        "2"
    );
    let r = send(
        "DELETE",
        "/tasks?title=eq.s",
        &[("Prefer", "handling=lenient, max-affected=1")],
        "",
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        rows("select count(*) from api.tasks where title = 's'"),
        "0"
    );
    let r = send(
        "PATCH",
        "/tasks?id=eq.1001",
        &[
            JSON,
            ("Accept", "application/vnd.pgrst.object+json"),
            ("Prefer", "return=representation"),
        ],
        r#"{"priority": 5}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["priority"], 5);
}

#[test]
fn constraint_errors_map_to_postgrest_statuses() {
    for (body, status, code) in [
        (r#"{"id": 1, "n": 1}"#, 201, None),
        (r#"{"id": 1, "n": 1}"#, 409, Some("23505")),
        (r#"{"id": 2}"#, 201, None),
        (r#"{"id": 3, "n": 500}"#, 400, Some("23514")),
        (r#"{"id": 4, "ref": 99}"#, 409, Some("23503")),
    ] {
        let r = send("POST", "/limited", &[JSON], body);
        assert_eq!(r.status, status, "{body}: {r:?}");
        if let Some(code) = code {
            assert_eq!(r.json()["code"], code, "{body}: {r:?}");
        }
    }
    let r = send("POST", "/tasks", &[JSON], r#"{"id": 1071}"#);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "23502");
    let r = send(
        "POST",
        "/tasks",
        &[JSON],
        r#"{"id": 1072, "title": "teapot"}"#,
    );
    assert_eq!(r.status, 418, "{r:?}");
    assert_eq!(r.json()["message"], "I am a teapot");
    let r = send(
        "POST",
        "/tasks",
        &[JSON],
        r#"{"id": 1073, "title": "plain"}"#,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "P0001");
    let r = send(
        "POST",
        "/tasks",
        &[JSON],
        r#"{"id": 1074, "title": "custom"}"#,
    );
    assert_eq!(r.status, 402, "{r:?}");
    assert_eq!(r.header("x-custom"), Some("yes"));
    assert_eq!(
        r.body,
        r#"{"code":"123","details":"D","hint":"H","message":"Custom"}"#
    );
}

#[test]
fn views_are_written_through() {
    let r = send(
        "POST",
        "/open_tasks",
        &[JSON, ("Prefer", "return=representation")],
        r#"{"id": 1081, "title": "via view"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()[0]["title"], "via view");
    let r = send(
        "PATCH",
        "/open_tasks?id=eq.1081",
        &[JSON],
        r#"{"priority": 7}"#,
    );
    assert_eq!(r.status, 204, "{r:?}");
    let r = send(
        "POST",
        "/task_titles",
        &[JSON],
        r#"{"id": 1082, "shout": "LOUD"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        rows("select id, title, priority from api.tasks where id in (1081, 1082) order by id"),
        "1081|via view|7\n1082|loud|3"
    );
    let r = send("DELETE", "/open_tasks?id=eq.1081", &[], "");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(rows("select count(*) from api.tasks where id = 1081"), "0");
}

#[test]
fn options_lists_the_methods_a_relation_accepts() {
    let allow = |path: &str| {
        let r = http::request(&stack().api, "OPTIONS", path, &[]).unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        r.header("allow")
            .expect("OPTIONS answers Allow")
            .to_string()
    };
    assert_eq!(allow("/tasks"), "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE");
    // A view over one table is written through, and its key is the table's.
    assert_eq!(
        allow("/recent_films"),
        "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    );
    assert_eq!(allow("/film_years"), "OPTIONS,GET,HEAD");
    // Its computed column is read-only, yet the view as a whole stays auto-updatable.
    assert_eq!(
        allow("/task_titles"),
        "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    );
    let r = http::request(&stack().api, "OPTIONS", "/nope", &[]).unwrap();
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn tx_preference_is_honoured_only_when_db_tx_end_allows_it() {
    let s = stack_for_config(
        "db-tx-end = \"commit-allow-override\"\n",
        wasm(),
        "FAIL_RELOAD",
        1,
    );
    let post = |body: &str, prefer: &str| {
        http::request_with_body(
            &s.api,
            "POST",
            "/kv",
            &[JSON, ("Prefer", prefer)],
            body.as_bytes(),
        )
        .unwrap()
    };
    let r = post(
        r#"{"k": "tx1", "v": "x"}"#,
        "tx=rollback, return=representation",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body, r#"[{"k":"tx1","v":"x"}]"#);
    assert_eq!(
        r.header("preference-applied"),
        Some("return=representation, tx=rollback")
    );
    assert_eq!(rows("select count(*) from api.kv where k = 'tx1'"), "0");
    let r = post(r#"{"k": "tx2", "v": "x"}"#, "tx=commit");
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("preference-applied"), Some("tx=commit"));
    assert_eq!(rows("select count(*) from api.kv where k = 'tx2'"), "1");
    // Deferred constraints are checked before the rollback, so their errors surface.
    let r = http::request_with_body(
        &s.api,
        "POST",
        "/limited",
        &[JSON, ("Prefer", "tx=rollback")],
        br#"{"id": 50, "ref": 99}"#,
    )
    .unwrap();
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(r.json()["code"], "23503");

    let s = stack_for_config("db-tx-end = \"rollback\"\n", wasm(), "FAIL_RELOAD", 1);
    let r = http::request_with_body(
        &s.api,
        "POST",
        "/kv",
        &[JSON, ("Prefer", "tx=commit")],
        br#"{"k": "tx3", "v": "x"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("preference-applied"), None);
    assert_eq!(rows("select count(*) from api.kv where k = 'tx3'"), "0");
}

#[test]
fn bodies_over_the_limit_get_413() {
    let s = stack_for_config("pgmesh-max-body-bytes = 1000\n", wasm(), "FAIL_RELOAD", 1);
    let big = format!(r#"{{"k": "big", "v": "{}"}}"#, "x".repeat(2000));
    let r = http::request_with_body(&s.api, "POST", "/kv", &[JSON], big.as_bytes()).unwrap();
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.json()["code"], "PGMESH413");
    assert_eq!(rows("select count(*) from api.kv where k = 'big'"), "0");
}

#[test]
fn a_50_mb_body_inserts_and_the_filter_does_not_hold_it() {
    let count = 500_000u64;
    let body = xtask::bench::bulk_body(count);
    assert!(body.len() > 50_000_000);
    let s = stack_for_config("", wasm(), "FAIL_RELOAD", 1);
    let envoy = s.pids()[1];
    let expected = format!("{count} {}", (1..=count).map(|i| i % 1000).sum::<u64>());
    for path in ["/bulk", "/bulk?columns=id,name,value,note"] {
        psql("delete from api.bulk");
        let before = xtask::bench::rss_kib(envoy).0;
        let r = http::request_with_body(&s.api, "POST", path, &[JSON], &body).unwrap();
        let growth_mib = xtask::bench::rss_kib(envoy).0.saturating_sub(before) / 1024;
        assert_eq!(r.status, 201, "{path}: {r:?}");
        assert_eq!(
            rows("select count(*) || ' ' || sum(value) from api.bulk"),
            expected,
            "{path}"
        );
        eprintln!("{path}: Envoy grew by {growth_mib} MiB for a 50 MB body");
        // Had the filter (inside Envoy) buffered the body, Envoy would have grown by 50 MiB.
        assert!(growth_mib < 16, "{path}: Envoy grew by {growth_mib} MiB");
    }
    psql("delete from api.bulk");
}

#[test]
fn an_empty_body_is_refused_even_with_columns() {
    psql("insert into api.tasks(id, title) values (3101, 'kept') on conflict do nothing");
    let r = send("PATCH", "/tasks?columns=title&id=eq.3101", &[JSON], "");
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST102");
    let r = send("POST", "/tasks?columns=title", &[JSON], "  ");
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(rows("select title from api.tasks where id = 3101"), "kept");
}

#[test]
fn large_single_objects_and_bodies_split_across_chunks() {
    // The filter reads the keys as the body arrives; a value of 2 MB does not matter.
    let big = "b".repeat(2_000_000);
    let r = send(
        "POST",
        "/tasks",
        &[JSON],
        &format!(r#"{{"id": 3201, "title": "big", "note": "{big}"}}"#),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        rows("select length(note) from api.tasks where id = 3201"),
        "2000000"
    );
    // A chunked body whose first object is split between chunks that arrive apart.
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(&stack().api).unwrap();
    c.write_all(b"POST /tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .unwrap();
    for (i, piece) in [
        r#"[{"id": 3202, "ti"#,
        r#"tle": "split"}, {"id": 3203, "#,
        r#""title": "two"}]"#,
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
        c.write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())
            .unwrap();
        c.flush().unwrap();
    }
    c.write_all(b"0\r\n\r\n").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(
        rows("select id, title from api.tasks where id in (3202, 3203) order by id"),
        "3202|split\n3203|two"
    );
}

#[test]
fn location_keys_are_utf8_percent_encoded() {
    let r = send(
        "POST",
        "/kv",
        &[JSON, ("Prefer", "return=headers-only")],
        r#"{"k": "café ü", "v": "x"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("location"), Some("/kv?k=eq.caf%C3%A9%20%C3%BC"));
}

#[test]
fn a_malformed_response_header_rolls_the_write_back() {
    let r = send("POST", "/rpc/insert_with_bad_header", &[JSON], "{}");
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST111");
    assert_eq!(
        rows("select count(*) from api.kv where k = 'bad-header'"),
        "0"
    );
}

#[test]
fn patch_with_columns_and_missing_default_resets_absent_keys() {
    psql("insert into api.tasks(id, title, priority) values (3301, 'p', 9) on conflict do nothing");
    let r = send(
        "PATCH",
        "/tasks?id=eq.3301&columns=title,priority",
        &[JSON, ("Prefer", "missing=default, return=representation")],
        r#"{"title": "patched"}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("preference-applied"),
        Some("missing=default, return=representation")
    );
    assert_eq!(
        rows("select title, priority from api.tasks where id = 3301"),
        "patched|3"
    );
    let r = send(
        "PATCH",
        "/tasks?id=eq.3301&columns=title,priority",
        &[JSON],
        r#"{"title": "again"}"#,
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        rows("select title, coalesce(priority::text, 'null') from api.tasks where id = 3301"),
        "again|null"
    );
}

#[test]
fn cors_preflight_and_responses_follow_postgrest_policy() {
    let api = stack().api.clone();
    let r = http::request(
        &api,
        "OPTIONS",
        "/tasks",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type, prefer"),
        ],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, PATCH, PUT, DELETE, OPTIONS")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("Authorization, content-type, prefer")
    );
    assert_eq!(r.header("access-control-max-age"), Some("86400"));
    // Answered from the sidecar (a read) and from the filter (an error): both carry CORS.
    for path in ["/films?select=id&id=eq.1", "/no_such_table"] {
        let r = http::request(&api, "GET", path, &[("Origin", "https://app.example")]).unwrap();
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "{path}: {r:?}"
        );
        assert!(
            r.header("access-control-expose-headers")
                .is_some_and(|h| h.contains("Content-Range")),
            "{path}: {r:?}"
        );
    }
    let r = http::request(&api, "GET", "/films?select=id&id=eq.1", &[]).unwrap();
    assert_eq!(r.header("access-control-allow-origin"), None);
    // With an allow-list, other origins get no CORS headers.
    let s = stack_for_config(
        "server-cors-allowed-origins = \"https://app.example\"\n",
        wasm(),
        "FAIL_RELOAD",
        1,
    );
    let origin = |o: &str| {
        http::request(&s.api, "GET", "/films?select=id&id=eq.1", &[("Origin", o)]).unwrap()
    };
    let ok = origin("https://app.example");
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example"),
        "{ok:?}"
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        origin("https://evil.example").header("access-control-allow-origin"),
        None
    );
}

#[test]
fn options_follows_the_cors_allow_list() {
    // REDESIGN §7.1.3: OPTIONS used to answer `*` whatever the allow-list, and `*` with
    // credentials to a listed origin, which browsers reject.
    let s = stack_for_config(
        "server-cors-allowed-origins = \"https://good.example\"\n",
        wasm(),
        "FAIL_RELOAD",
        1,
    );
    let options = |origin: &str, preflight: bool| {
        let mut headers = vec![("Origin", origin)];
        if preflight {
            headers.push(("Access-Control-Request-Method", "POST"));
        }
        let r = http::request(&s.api, "OPTIONS", "/tasks", &headers).unwrap();
        assert_eq!(r.status, 200, "{origin} {preflight}: {r:?}");
        r
    };
    for preflight in [true, false] {
        let evil = options("https://evil.example", preflight);
        assert_eq!(evil.header("access-control-allow-origin"), None, "{evil:?}");
        assert_eq!(
            evil.header("access-control-allow-credentials"),
            None,
            "{evil:?}"
        );
        let good = options("https://good.example", preflight);
        assert_eq!(
            good.header("access-control-allow-origin"),
            Some("https://good.example"),
            "{good:?}"
        );
        assert_eq!(
            good.header("access-control-allow-credentials"),
            Some("true"),
            "{good:?}"
        );
    }
    let pre = options("https://good.example", true);
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, POST, PATCH, PUT, DELETE, OPTIONS")
    );
    // Not a preflight: the methods of the relation, as without CORS.
    let plain = options("https://good.example", false);
    assert_eq!(
        plain.header("allow"),
        Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
    );
}
