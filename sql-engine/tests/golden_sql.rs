//! Golden SQL for the read slice: what PostgreSQL receives for typical URLs.

use sql_engine::fixtures;
use sql_engine::settings::ApiSettings;

fn settings(max_rows: Option<u64>) -> ApiSettings {
    ApiSettings {
        db_max_rows: max_rows,
        ..ApiSettings::for_tests(&["api"])
    }
}

/// The statements for a request on `/films`: main SQL and parameters, then the EXPLAIN if any.
fn render_request(
    method: &str,
    query: &str,
    headers: &[(&str, &str)],
    max_rows: Option<u64>,
) -> String {
    let cache = fixtures::films();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let head = sql_engine::api_request::RequestHead {
        method,
        path: "/films",
        query,
        headers: &headers,
    };
    match sql_engine::build(&head, &cache, &settings(max_rows)) {
        Ok((_, st)) => {
            let explain = st
                .explain
                .map(|e| format!("\n{}\n{:?}", e.sql, e.params))
                .unwrap_or_default();
            format!("{}\n{:?}{explain}", st.main.sql, st.main.params)
        }
        Err(e) => format!("error: {}", e.to_response().body),
    }
}

fn render(method: &str, query: &str, max_rows: Option<u64>) -> String {
    render_request(method, query, &[], max_rows)
}

fn render_typed(query: &str) -> String {
    render_request("GET", query, &[], None)
}

fn render_head(query: &str, headers: &[(&str, &str)], max_rows: Option<u64>) -> String {
    render_request("GET", query, headers, max_rows)
}

#[test]
fn slice_select_filter_order_limit_offset() {
    insta::assert_snapshot!(render(
        "GET",
        "select=id,title&year=eq.1999&order=id.desc&limit=2&offset=1",
        None
    ));
}

#[test]
fn star_with_no_parameters() {
    insta::assert_snapshot!(render("GET", "", None));
}

#[test]
fn alias_cast_and_operators() {
    insta::assert_snapshot!(render(
        "GET",
        "select=name:title,year::text&title=ilike.*star*&id=in.(1,2,%223%2C4%22)&year=not.is.null&id=isdistinct.5",
        None
    ));
}

#[test]
fn head_skips_the_body_and_max_rows_caps_the_limit() {
    insta::assert_snapshot!(render(
        "HEAD",
        "order=title.asc.nullsfirst&limit=500",
        Some(100)
    ));
}

#[test]
fn unknown_table_is_pgrst205() {
    let cache = fixtures::films();
    let r = sql_engine::build_statement("GET", "/nope", "", &cache, &settings(None));
    assert_eq!(
        r.map_err(|e| (e.status(), e.code())).err(),
        Some((404, "PGRST205".to_string()))
    );
}

#[test]
fn json_paths_wrap_non_json_columns() {
    insta::assert_snapshot!(render_typed(
        "select=id,data->phones->0->>number,t:tags->-1,data->age::int&data->>blood_type=eq.A-&order=data->age.desc"
    ));
}

#[test]
fn full_text_search_wraps_text_columns_only() {
    insta::assert_snapshot!(render_typed("tsv=fts(english).cats&doc=wfts.fat%20-dogs"));
}

#[test]
fn logic_trees_and_quantifiers() {
    insta::assert_snapshot!(render_typed(
        "or=(id.lt.3,not.and(tags.cs.{a},doc.like(any).{a*,*b}))&not.or=(id.is.null,id.in.(5,6))"
    ));
}

#[test]
fn exact_count_of_a_page_uses_a_count_cte() {
    insta::assert_snapshot!(render_head(
        "year=gt.2000&limit=2",
        &[("prefer", "count=exact")],
        None
    ));
}

#[test]
fn exact_count_without_a_page_counts_the_result() {
    insta::assert_snapshot!(render_head(
        "year=gt.2000",
        &[("prefer", "count=exact")],
        None
    ));
}

#[test]
fn estimated_count_is_capped_at_max_rows_and_explained() {
    insta::assert_snapshot!(render_head(
        "year=gt.2000",
        &[("prefer", "count=estimated")],
        Some(100)
    ));
}

#[test]
fn singular_and_csv_bodies() {
    insta::assert_snapshot!(render_head(
        "id=eq.1",
        &[("accept", "application/vnd.pgrst.object+json")],
        None
    ));
    insta::assert_snapshot!(render_head("id=eq.1", &[("accept", "text/csv")], None));
}

#[test]
fn geojson_needs_postgis_in_the_schema_cache() {
    let without = render_head("", &[("accept", "application/geo+json")], None);
    assert!(without.contains("PGRST107"), "{without}");
    let mut cache = fixtures::films();
    cache.postgis = true;
    let headers = vec![("accept".to_string(), "application/geo+json".to_string())];
    let head = sql_engine::api_request::RequestHead {
        method: "GET",
        path: "/films",
        query: "",
        headers: &headers,
    };
    let (_, st) = sql_engine::build(&head, &cache, &settings(None)).unwrap();
    assert!(
        st.main.sql.contains("ST_AsGeoJSON(_postgrest_t)::text"),
        "{}",
        st.main.sql
    );
}

#[test]
fn embeds_render_as_lateral_joins() {
    let cache = fixtures::films_with_relations();
    let st = sql_engine::build_statement(
        "GET",
        "/films",
        "select=id,directors(id),actors!inner(id)&actors.id=gt.1",
        &cache,
        &settings(None),
    )
    .map(|(_, s)| format!("{}\n{:?}", s.sql, s.params))
    .unwrap_or_else(|e| e.to_response().body);
    insta::assert_snapshot!(st);
}
