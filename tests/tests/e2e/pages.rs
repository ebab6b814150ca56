//! Pages, counts, formats and preferences, as PostgREST answers them.

use pgmesh_e2e::{get_with, psql};

fn hdr<'a>(r: &'a pgmesh_e2e::Response, name: &str) -> &'a str {
    r.header(name).unwrap_or("")
}

#[test]
fn range_header_limit_offset_and_exact_counts() {
    let r = get_with("/films?select=id&order=id", &[("Range", "0-1")]);
    assert_eq!(
        (r.status, hdr(&r, "content-range")),
        (200, "0-1/*"),
        "{r:?}"
    );
    assert_eq!(r.body, "[{\"id\":1}, \n {\"id\":2}]");

    let r = get_with(
        "/films?select=id&order=id",
        &[("Range", "0-1"), ("Prefer", "count=exact")],
    );
    assert_eq!(
        (r.status, hdr(&r, "content-range")),
        (206, "0-1/7"),
        "{r:?}"
    );
    assert_eq!(hdr(&r, "preference-applied"), "count=exact");

    let r = get_with(
        "/films?select=id&order=id&offset=2&limit=2",
        &[("Prefer", "count=exact")],
    );
    assert_eq!((r.status, hdr(&r, "content-range")), (206, "2-3/7"));
    assert_eq!(r.body, "[{\"id\":3}, \n {\"id\":4}]");

    let r = get_with(
        "/films?select=id&year=gte.2017",
        &[("Prefer", "count=exact")],
    );
    assert_eq!((r.status, hdr(&r, "content-range")), (200, "0-2/3"));

    let r = get_with("/films?select=id&limit=2", &[("Range", "1-5")]);
    assert_eq!(
        hdr(&r, "content-range"),
        "1-1/*",
        "the header range and limit intersect"
    );

    let r = get_with("/films?limit=0", &[]);
    assert_eq!(
        (r.status, r.body.as_str(), hdr(&r, "content-range")),
        (200, "[]", "*/*")
    );
}

#[test]
fn unsatisfiable_ranges_are_416() {
    let r = get_with("/films?offset=10", &[("Prefer", "count=exact")]);
    assert_eq!(r.status, 416, "{r:?}");
    assert_eq!(hdr(&r, "content-range"), "*/7");
    assert_eq!(
        r.json()["details"],
        "An offset of 10 was requested, but there are only 7 rows."
    );
    let r = get_with("/films", &[("Range", "5-1")]);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (416, "PGRST103".into())
    );
    let r = get_with("/films?limit=-1", &[]);
    assert_eq!(
        r.json()["details"],
        "Limit should be greater than or equal to zero."
    );
}

#[test]
fn planned_and_estimated_counts() {
    let plan = psql("explain (format json) select 1 from api.films where id > 2");
    let planned: serde_json::Value = serde_json::from_str(plan.trim()).unwrap();
    let rows = planned[0]["Plan"]["Plan Rows"].as_i64().unwrap();
    let r = get_with(
        "/films?select=id&id=gt.2&limit=1",
        &[("Prefer", "count=planned")],
    );
    assert_eq!(hdr(&r, "content-range"), format!("0-0/{rows}"), "{r:?}");
    assert_eq!(hdr(&r, "preference-applied"), "count=planned");
    // The demo's db-max-rows is 1000: below it, an estimated count is exact.
    let r = get_with(
        "/films?select=id&id=gt.2&limit=1",
        &[("Prefer", "count=estimated")],
    );
    assert_eq!(
        (r.status, hdr(&r, "content-range")),
        (206, "0-0/5"),
        "{r:?}"
    );
}

#[test]
fn head_has_the_count_but_no_body() {
    let r = pgmesh_e2e::http::request(
        &pgmesh_e2e::stack().api,
        "HEAD",
        "/films",
        &[("Prefer", "count=exact")],
    )
    .unwrap();
    assert_eq!(
        (r.status, hdr(&r, "content-range"), r.body.as_str()),
        (200, "0-6/7", "")
    );
}

#[test]
fn singular_object_responses() {
    let accept = ("Accept", "application/vnd.pgrst.object+json");
    let r = get_with("/films?select=id,title&id=eq.1", &[accept]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, r#"{"id":1,"title":"Arrival"}"#);
    assert_eq!(
        hdr(&r, "content-type"),
        "application/vnd.pgrst.object+json; charset=utf-8"
    );
    let r = get_with("/films?id=lt.3", &[accept]);
    assert_eq!(r.status, 406);
    assert_eq!(r.json()["code"], "PGRST116");
    assert_eq!(r.json()["details"], "The result contains 2 rows");
    let r = get_with("/films?id=eq.99", &[accept]);
    assert_eq!(r.json()["details"], "The result contains 0 rows");
    let r = get_with(
        "/films?select=id,year&id=eq.7",
        &[("Accept", "application/vnd.pgrst.object+json;nulls=stripped")],
    );
    assert_eq!(r.body, r#"{"id":7}"#);
}

#[test]
fn stripped_nulls_csv_and_negotiation() {
    let r = get_with(
        "/films?select=id,year&id=gt.5&order=id",
        &[("Accept", "application/vnd.pgrst.array+json;nulls=stripped")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "[{\"id\":6,\"year\":1988},{\"id\":7}]");
    assert_eq!(
        hdr(&r, "content-type"),
        "application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8"
    );

    let r = get_with(
        "/films?select=id,title,year&id=in.(1,7)&order=id",
        &[("Accept", "text/csv")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(hdr(&r, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(r.body, "id,title,year\n1,Arrival,2016\n7,Untitled,");
    let r = get_with("/items?select=id,name&id=eq.4", &[("Accept", "text/csv")]);
    assert_eq!(
        r.body, "id,name\n4,\"delta, \"\"quoted\"\"\"",
        "PostgreSQL's record quoting"
    );

    let r = get_with(
        "/films?id=eq.1",
        &[("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
    );
    assert_eq!(
        (r.status, hdr(&r, "content-type")),
        (200, "application/json; charset=utf-8")
    );
    let r = get_with("/films", &[("Accept", "text/xml")]);
    assert_eq!(r.status, 406);
    assert_eq!(r.json()["code"], "PGRST107");
    assert_eq!(
        r.json()["message"],
        "None of these media types are available: text/xml"
    );
}

#[test]
fn strict_preferences_and_timezone() {
    let r = get_with("/films", &[("Prefer", "handling=strict, count=nope, foo")]);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST122");
    assert_eq!(r.json()["details"], "Invalid preferences: count=nope, foo");
    let r = get_with(
        "/films?id=eq.1&select=id",
        &[("Prefer", "handling=lenient, foo")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(hdr(&r, "preference-applied"), "handling=lenient");

    let r = get_with(
        "/whoami?select=timezone",
        &[("Prefer", "timezone=America/Los_Angeles")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()[0]["timezone"], "America/Los_Angeles");
    assert_eq!(
        hdr(&r, "preference-applied"),
        "timezone=America/Los_Angeles"
    );
    let r = get_with(
        "/whoami?select=timezone",
        &[("Prefer", "timezone=Nowhere/Atlantis")],
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "22023");
}

#[test]
fn geojson_feature_collections_when_postgis_is_present() {
    let r = get_with("/places?order=id", &[("Accept", "application/geo+json")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        hdr(&r, "content-type"),
        "application/geo+json; charset=utf-8"
    );
    let expected = psql(
        "select json_build_object('type', 'FeatureCollection', 'features', \
         coalesce(json_agg(ST_AsGeoJSON(t)::json), '[]')) from (select * from api.places order by id) t",
    );
    assert_eq!(r.body, expected.trim_end_matches('\n'));
    let empty = get_with("/places?id=eq.0", &[("Accept", "application/geo+json")]);
    assert_eq!(
        empty.body,
        r#"{"type" : "FeatureCollection", "features" : []}"#
    );
}
