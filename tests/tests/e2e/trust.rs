//! The trust boundary: the sidecar runs only hand-offs the filter signed, recently, once.
//! Requests are sent straight to the sidecar (as a route that skipped the filter would) and
//! PostgreSQL's statement log shows that none of the refused ones ran.

use pgmesh_e2e::{get_with, marker, pg_log_count, stack};
use sql_engine::handoff::{
    self, Context, Handoff, Identity, Kind, Query, Transaction, HANDOFF_HEADER, QUERY_PATH,
    SIGNATURE_HEADER,
};
use sql_engine::response::ResponseShape;

fn planned(title: &str, ts_ms: u64) -> Handoff {
    let s = stack();
    let settings = s.config.api_settings();
    let cache = sql_engine::fixtures::films();
    let (_, st) = sql_engine::build_statement(
        "GET",
        "/films",
        &format!("title=eq.{title}"),
        &cache,
        &settings,
    )
    .unwrap();
    Handoff {
        ts_ms,
        nonce: marker("nonce"),
        kind: Kind::Query(Box::new(Query {
            main: st,
            explain: None,
            identity: Identity {
                role: "web_anon".into(),
                claims: r#"{"role":"web_anon"}"#.into(),
                authenticated: false,
            },
            context: Context {
                method: "GET".into(),
                path: "/films".into(),
                headers: "{}".into(),
                cookies: "{}".into(),
            },
            tx: Transaction {
                schema: "api".into(),
                read_only: true,
                ..Transaction::default()
            },
            body: None,
            shape: ResponseShape::default(),
        })),
    }
}

fn now_ms() -> u64 {
    pgmesh_e2e::now_s() * 1000
}

fn to_sidecar(headers: &[(&str, &str)]) -> pgmesh_e2e::Response {
    let addr = format!("127.0.0.1:{}", stack().sidecar_port);
    pgmesh_e2e::http::request(&addr, "GET", QUERY_PATH, headers).unwrap()
}

/// A hand-off for the query path, signed with the MAC key derived from `secret`.
fn sign_query(secret: &[u8], h: &Handoff) -> (String, String) {
    handoff::sign(&handoff::HandoffKey::derive(secret), "GET", QUERY_PATH, h).unwrap()
}

fn assert_refused(r: &pgmesh_e2e::Response, why: &str) {
    assert_eq!(r.status, 401, "{why}: {r:?}");
    assert_eq!(r.json()["code"], "PGMESH401", "{why}");
}

#[test]
fn signed_handoff_runs_once_and_replay_is_refused() {
    let m = marker("replay");
    let key = stack().handoff_key.clone();
    let (doc, sig) = sign_query(key.as_bytes(), &planned(&m, now_ms()));
    let first = to_sidecar(&[(HANDOFF_HEADER, &doc), (SIGNATURE_HEADER, &sig)]);
    assert_eq!(first.status, 200, "{first:?}");
    let ran = pg_log_count(&m);
    assert!(ran > 0);
    let again = to_sidecar(&[(HANDOFF_HEADER, &doc), (SIGNATURE_HEADER, &sig)]);
    assert_refused(&again, "replay");
    assert_eq!(pg_log_count(&m), ran, "the replayed hand-off ran");
}

#[test]
fn unsigned_forged_stale_and_tampered_handoffs_are_refused_before_the_database() {
    let key = stack().handoff_key.clone();
    let m = marker("forged");

    let (doc, _) = sign_query(key.as_bytes(), &planned(&m, now_ms()));
    assert_refused(&to_sidecar(&[(HANDOFF_HEADER, &doc)]), "unsigned");
    assert_refused(&to_sidecar(&[]), "no hand-off at all");

    let (doc, sig) = sign_query(
        b"not-the-key-not-the-key-not-the-key",
        &planned(&m, now_ms()),
    );
    assert_refused(
        &to_sidecar(&[(HANDOFF_HEADER, &doc), (SIGNATURE_HEADER, &sig)]),
        "wrong key",
    );

    let (doc, sig) = sign_query(key.as_bytes(), &planned(&m, now_ms() - 120_000));
    assert_refused(
        &to_sidecar(&[(HANDOFF_HEADER, &doc), (SIGNATURE_HEADER, &sig)]),
        "stale",
    );

    let (doc, sig) = sign_query(key.as_bytes(), &planned(&m, now_ms()));
    let escalated = doc.replace("\"role\":\"web_anon\"", "\"role\":\"postgres\"");
    assert_ne!(escalated, doc);
    assert_refused(
        &to_sidecar(&[(HANDOFF_HEADER, &escalated), (SIGNATURE_HEADER, &sig)]),
        "tampered role",
    );

    assert_eq!(pg_log_count(&m), 0, "a refused hand-off reached PostgreSQL");
}

#[test]
fn client_supplied_handoff_headers_are_deleted_by_the_filter() {
    let key = stack().handoff_key.clone();
    let m = marker("smuggled");
    // Even a correctly signed hand-off smuggled in by a client is dropped by the filter.
    let (doc, sig) = sign_query(key.as_bytes(), &planned(&m, now_ms()));
    let r = get_with(
        "/films?select=id&id=eq.1",
        &[(HANDOFF_HEADER, &doc), (SIGNATURE_HEADER, &sig)],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, r#"[{"id":1}]"#);
    assert_eq!(pg_log_count(&m), 0, "the smuggled hand-off ran");
}
