//! The read slice: bytes, headers and ranges as PostgREST returns them.

use pgmesh_e2e::{get, psql};

/// The JSON PostgreSQL itself builds for a query, as PostgREST would send it.
fn pg_json(query: &str) -> String {
    let out = psql(&format!(
        "select coalesce(json_agg(_t), '[]') from ({query}) _t"
    ));
    out.trim_end_matches('\n').to_string()
}

#[test]
fn slice_returns_postgresql_json_bytes_and_content_range() {
    let r = get("/films?select=id,title&year=gte.2000&order=id.desc&limit=2&offset=1");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("content-range"), Some("1-2/*"));
    let expected = pg_json(
        "select id, title from api.films where year >= 2000 order by id desc limit 2 offset 1",
    );
    assert_eq!(r.body, expected);
    assert_eq!(
        r.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
}

#[test]
fn every_operator_of_the_slice_filters_in_postgresql() {
    let cases = [
        (
            "/films?select=id&id=eq.3",
            "select id from api.films where id = 3",
        ),
        (
            "/films?select=id&id=neq.3&order=id",
            "select id from api.films where id <> 3 order by id",
        ),
        (
            "/films?select=id&rating=gt.8&order=id",
            "select id from api.films where rating > 8 order by id",
        ),
        (
            "/films?select=id&rating=lte.7.8&order=id",
            "select id from api.films where rating <= 7.8 order by id",
        ),
        (
            "/films?select=id&title=like.*Wom*",
            "select id from api.films where title like '%Wom%'",
        ),
        (
            "/films?select=id&title=ilike.*the*&order=id",
            "select id from api.films where title ilike '%the%' order by id",
        ),
        (
            "/films?select=id&title=match.^L&order=id",
            "select id from api.films where title ~ '^L' order by id",
        ),
        (
            "/films?select=id&id=in.(1,3,5)&order=id.desc",
            "select id from api.films where id in (1,3,5) order by id desc",
        ),
        (
            "/films?select=id&year=is.null",
            "select id from api.films where year is null",
        ),
        (
            "/films?select=id&year=not.is.null&order=year.asc&limit=2",
            "select id from api.films where year is not null order by year limit 2",
        ),
        (
            "/films?select=id&director_id=isdistinct.1&order=id",
            "select id from api.films where director_id is distinct from 1 order by id",
        ),
        (
            "/films?select=id&year=not.eq.2016&order=id",
            "select id from api.films where not year = 2016 order by id",
        ),
        (
            "/films?select=name:title,year::text&id=eq.2",
            "select title as name, year::text as year from api.films where id = 2",
        ),
        (
            "/films?select=id&order=year.desc.nullslast,id&limit=3",
            "select id from api.films order by year desc nulls last, id limit 3",
        ),
        (
            "/films?select=id&order=year.asc.nullsfirst&limit=1",
            "select id from api.films order by year asc nulls first limit 1",
        ),
        (
            "/Order%20Items?select=%22Item%20Id%22&%22Unit%20Price%22=lt.200",
            "select \"Item Id\" from api.\"Order Items\" where \"Unit Price\" < 200",
        ),
        (
            "/films?select=id&title=eq.Lady+Bird",
            "select id from api.films where title = 'Lady Bird'",
        ),
    ];
    for (url, sql) in cases {
        let r = get(url);
        assert_eq!(r.status, 200, "{url}: {r:?}");
        assert_eq!(r.body, pg_json(sql), "{url}");
    }
}

#[test]
fn empty_page_has_star_range() {
    let r = get("/films?id=eq.999");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "[]");
    assert_eq!(r.header("content-range"), Some("*/*"));
}

#[test]
fn head_sends_headers_without_body() {
    let r =
        pgmesh_e2e::http::request(&pgmesh_e2e::stack().api, "HEAD", "/films?limit=2", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-range"), Some("0-1/*"));
    assert_eq!(r.body, "");
}

#[test]
fn max_rows_caps_the_page() {
    // The demo config sets db-max-rows = 1000; a config stack below checks a small cap.
    let r = get("/films?select=id&limit=2000&order=id");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-range"), Some("0-6/*"));
}

#[test]
fn request_context_reaches_the_transaction() {
    let r = get(
        "/whoami?select=role,claims,method,path,x_test,saw_authorization,search_path,read_only",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let row = &r.json()[0];
    assert_eq!(row["role"], "web_anon");
    assert_eq!(row["claims"], serde_json::json!({"role": "web_anon"}));
    assert_eq!(row["method"], "GET");
    assert_eq!(row["path"], "/whoami");
    assert_eq!(row["search_path"], "\"api\", \"public\"");
    assert_eq!(row["read_only"], "on");

    let token = pgmesh_e2e::token(serde_json::json!({"role": "web_user", "sub": "ann"}));
    let auth = format!("Bearer {token}");
    let r = pgmesh_e2e::get_with("/whoami", &[("Authorization", &auth), ("X-Test", "hello")]);
    let row = &r.json()[0];
    assert_eq!(row["role"], "web_user", "{r:?}");
    assert_eq!(row["claims"]["sub"], "ann");
    assert_eq!(row["x_test"], "hello");
    assert_eq!(row["saw_authorization"], true);
}
