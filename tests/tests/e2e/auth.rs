//! JWT in the filter: role switch, anonymous role, and rejections that never reach PostgreSQL.

use pgmesh_e2e::{get, get_with, marker, now_s, pg_log_count, token};
use serde_json::json;

#[test]
fn valid_token_switches_role() {
    let t = token(json!({"role": "web_user", "exp": now_s() + 60}));
    let r = get_with(
        "/reviews?select=author",
        &[("Authorization", &format!("Bearer {t}"))],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, r#"[{"author":"ann"}]"#);
}

#[test]
fn no_token_runs_as_anonymous_role() {
    let r = get_with("/reviews", &[]);
    assert_eq!(r.status, 401, "anonymous may not read reviews: {r:?}");
    assert_eq!(r.json()["code"], "42501");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
}

/// Each rejected token answers 401 with PostgREST's error, and PostgreSQL never sees the
/// request: its marker value is absent from the statement log.
#[test]
fn bad_tokens_are_rejected_by_the_filter_without_touching_the_database() {
    let other_key = xtask::hs256_token(
        "another-secret-another-secret-1234",
        &json!({"role": "web_user"}),
    );
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!(
                "Bearer {}",
                token(json!({"role": "web_user", "exp": now_s() - 120}))
            ),
            "PGRST303",
            "JWT expired",
        ),
        (
            format!("Bearer {other_key}"),
            "PGRST301",
            "No suitable key or wrong key type",
        ),
        (
            String::from("Bearer not-a-jwt"),
            "PGRST301",
            "Expected 3 parts in JWT; got 1",
        ),
        (
            String::from("Bearer a.b.c"),
            "PGRST301",
            "JWT cryptographic operation failed",
        ),
        (
            String::from("Bearer "),
            "PGRST301",
            "Empty JWT is sent in Authorization header",
        ),
        (
            format!(
                "Bearer {}",
                token(json!({"role": "web_user", "nbf": now_s() + 600}))
            ),
            "PGRST303",
            "JWT not yet valid",
        ),
        (
            format!(
                "Bearer {}",
                token(json!({"role": "web_user", "exp": "tomorrow"}))
            ),
            "PGRST303",
            "The JWT 'exp' claim must be a number",
        ),
    ];
    for (auth, code, message) in cases {
        let m = marker("jwt");
        let r = get_with(&format!("/films?title=eq.{m}"), &[("Authorization", &auth)]);
        assert_eq!(r.status, 401, "{auth}: {r:?}");
        assert_eq!(r.json()["code"], code, "{auth}");
        assert_eq!(r.json()["message"], message, "{auth}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(
                format!("Bearer error=\"invalid_token\", error_description=\"{message}\"").as_str()
            )
        );
        assert_eq!(
            pg_log_count(&m),
            0,
            "{auth}: the rejected request reached PostgreSQL"
        );
    }
    // Control: an accepted request's marker does appear in the log.
    let m = marker("ok");
    let r = get_with(&format!("/films?title=eq.{m}"), &[]);
    assert_eq!(r.status, 200);
    assert!(
        pg_log_count(&m) > 0,
        "PostgreSQL statement logging is not working"
    );
}

#[test]
fn authenticated_role_without_privilege_gets_403_unknown_role_401() {
    let t = token(json!({"role": "web_user"}));
    let r = get_with("/secrets", &[("Authorization", &format!("Bearer {t}"))]);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json()["code"], "42501");
    let ghost = token(json!({"role": "ghost"}));
    let r = get_with("/films", &[("Authorization", &format!("Bearer {ghost}"))]);
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json()["code"], "22023");
}

#[test]
fn a_signature_of_the_wrong_length_is_refused_without_crashing_the_filter() {
    let t = token(json!({"role": "web_user"}));
    let (signed, _) = t.rsplit_once('.').unwrap();
    // 33 bytes of signature: jwt-compact would panic building a 32-byte array from it.
    let forged = format!("{signed}.{}", "A".repeat(44));
    for _ in 0..4 {
        let r = get_with(
            "/films?select=id&id=eq.1",
            &[("Authorization", &format!("Bearer {forged}"))],
        );
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(r.json()["code"], "PGRST301");
        let r = get("/films?select=id&id=eq.1");
        assert_eq!((r.status, r.body.as_str()), (200, r#"[{"id":1}]"#), "{r:?}");
    }
}
