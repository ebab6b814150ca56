//! Views, materialized views, partitioned and foreign tables read like tables; `Accept-Profile`
//! picks among several exposed schemas.

use pgmesh_e2e::{get, http, stack_for_config, wasm};

#[test]
fn every_kind_of_relation_reads_like_a_table() {
    let cases = [
        (
            "/recent_films?select=id&order=id&limit=2",
            "[{\"id\":1}, \n {\"id\":2}]",
        ),
        ("/film_years?select=year&id=eq.6", "[{\"year\":1988}]"),
        (
            "/events?select=what&order=at",
            "[{\"what\":\"spring\"}, \n {\"what\":\"winter\"}]",
        ),
        (
            "/numbers?select=name&n=gt.1&order=n.desc",
            "[{\"name\":\"three\"}, \n {\"name\":\"two\"}]",
        ),
    ];
    for (url, body) in cases {
        let r = get(url);
        assert_eq!(r.status, 200, "{url}: {r:?}");
        assert_eq!(r.body, body, "{url}");
    }
}

#[test]
fn accept_profile_selects_an_exposed_schema() {
    let s = stack_for_config("db-schemas = \"api, api2\"\n", wasm(), "FAIL_RELOAD", 1);
    let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "[{\"id\":1}]"), "{r:?}");
    assert_eq!(r.header("content-profile"), Some("api"));
    let r = http::request(
        &s.api,
        "GET",
        "/films?select=title",
        &[("Accept-Profile", "api2")],
    )
    .unwrap();
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "[{\"title\":\"Second Schema\"}]"),
        "{r:?}"
    );
    assert_eq!(r.header("content-profile"), Some("api2"));
    let r = http::request(&s.api, "GET", "/films", &[("Accept-Profile", "private")]).unwrap();
    assert_eq!(r.status, 406, "{r:?}");
    assert_eq!(
        r.json(),
        serde_json::json!({"code": "PGRST106", "details": null, "hint": null,
            "message": "The schema must be one of the following: api, api2"})
    );
    // With one exposed schema, no Content-Profile header.
    assert_eq!(get("/films?id=eq.1").header("content-profile"), None);
}
