//! Errors on the read road, with PostgREST's shape and status; those answered by the filter
//! never reach PostgreSQL.

use pgmesh_e2e::{get, marker, pg_log_count};

#[test]
fn unknown_table_is_404_from_the_filter() {
    let m = marker("table");
    let r = get(&format!("/{m}?select=id"));
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        serde_json::json!({"code": "PGRST205", "details": null, "hint": null,
            "message": format!("Could not find the table 'api.{m}' in the schema cache")})
    );
    assert_eq!(r.header("proxy-status"), Some("PostgREST; error=PGRST205"));
    assert_eq!(pg_log_count(&m), 0);
}

#[test]
fn grammar_error_is_400_pgrst100_from_the_filter() {
    let m = marker("grammar");
    let r = get(&format!("/films?id=noop.{m}"));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "PGRST100");
    assert_eq!(
        r.json()["details"],
        "unexpected \"o\" expecting \"not\" or operator (eq, gt, ...)"
    );
    assert_eq!(
        r.json()["message"],
        format!("\"failed to parse filter (noop.{m})\" (line 1, column 1)")
    );
    let r = get(&format!("/films?title=eq.{m}&order=id.ac"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "\"failed to parse order (id.ac)\" (line 1, column 4)"
    );
    assert_eq!(pg_log_count(&m), 0);
}

#[test]
fn postgresql_errors_are_forwarded_with_their_sqlstate() {
    let r = get("/films?select=nope");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        serde_json::json!({"code": "42703", "details": null, "hint": null, "message": "column films.nope does not exist"})
    );
    let r = get("/films?id=eq.notanumber");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "22P02");
}

#[test]
fn paths_and_methods_postgrest_does_not_serve() {
    let r = get("/films/1");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (404, "PGRST125".into())
    );
    let r = get("/_pgmesh/query");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (404, "PGRST125".into()),
        "the sidecar's path is not reachable through the filter"
    );
    let r = pgmesh_e2e::http::request(&pgmesh_e2e::stack().api, "TRACE", "/films", &[]).unwrap();
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (405, "PGRST117".into())
    );
}
