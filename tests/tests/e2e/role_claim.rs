//! `jwt-role-claim-key` as PostgREST v16 reads it (RFC 9535 JSONPath, the deprecated JSPath),
//! written with the config file's `$$`; and a token's unknown role, refused by the filter with
//! PostgreSQL's own answer before any statement reaches it.

use std::time::{Duration, Instant};

use pgmesh_e2e::{
    get_with, http, marker, now_s, pg_log_count, psql, stack_for_config, token, wasm,
};
use serde_json::json;

fn bearer(claims: serde_json::Value) -> String {
    format!("Bearer {}", token(claims))
}

/// The role a request ran as, from the `whoami` view (`current_user`).
fn whoami(api: &str, authorization: &str) -> http::Response {
    http::request(
        api,
        "GET",
        "/whoami?select=role,claims",
        &[("Authorization", authorization)],
    )
    .unwrap()
}

#[test]
fn a_jsonpath_filter_and_search_select_the_role() {
    // `$$` is the file's `$`: this is `$.apps[?@.name == 'pgmesh'].roles[?search(@, '^web_')]`.
    let s = stack_for_config(
        "jwt-role-claim-key = \"$$.apps[?@.name == 'pgmesh'].roles[?search(@, '^web_')]\"\n",
        wasm(),
        "FAIL_RELOAD",
        1,
    );
    let claims = json!({
        "exp": now_s() + 60,
        "apps": [
            {"name": "other", "roles": ["web_anon"]},
            {"name": "pgmesh", "roles": ["admin", "web_user", "web_anon"]},
        ],
    });
    let r = whoami(&s.api, &bearer(claims));
    assert_eq!(r.status, 200, "{r:?}");
    // The first value selected is the role, and `request.jwt.claims` carries it.
    assert_eq!(r.json()[0]["role"], "web_user", "{r:?}");
    assert_eq!(r.json()[0]["claims"]["role"], "web_user", "{r:?}");
    // Nothing selected: the anonymous role.
    let none = json!({"apps": [{"name": "pgmesh", "roles": ["admin"]}]});
    let r = whoami(&s.api, &bearer(none));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()[0]["role"], "web_anon", "{r:?}");
}

#[test]
fn the_deprecated_jspath_form_still_selects_the_role() {
    let s = stack_for_config(
        "jwt-role-claim-key = \".app.\\\"pgmesh roles\\\"[?(@ ^== \\\"web_u\\\")]\"\n",
        wasm(),
        "FAIL_RELOAD",
        1,
    );
    let claims = json!({"app": {"pgmesh roles": ["web_anon", "web_user"]}});
    let r = whoami(&s.api, &bearer(claims));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()[0]["role"], "web_user", "{r:?}");
}

#[test]
fn an_unknown_role_is_refused_without_reaching_postgresql() {
    let m = marker("ghostrole");
    let r = get_with(
        &format!("/films?title=eq.{m}"),
        &[("Authorization", &bearer(json!({"role": "not existing"})))],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.json(),
        json!({"code": "22023", "details": null, "hint": null,
               "message": "role \"not existing\" does not exist"})
    );
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // A role that is not a string is named JSON-encoded, as PostgreSQL would name it.
    let r = get_with(
        &format!("/films?title=eq.{m}"),
        &[("Authorization", &bearer(json!({"role": {"id": 7}})))],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json()["message"], "role \"{\"id\":7}\" does not exist");
    assert_eq!(pg_log_count(&m), 0, "the request reached PostgreSQL");
    // Control: the same request with a known role is logged.
    let r = get_with(
        &format!("/films?title=eq.{m}"),
        &[("Authorization", &bearer(json!({"role": "web_user"})))],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(pg_log_count(&m) > 0, "statement logging is not working");
}

#[test]
fn a_new_role_needs_a_schema_reload_and_a_non_string_role_is_json_encoded() {
    // A role named `4242`, reached by a token whose role claim is the number 4242; and a role
    // the authenticator may not switch to, which PostgreSQL itself refuses.
    psql(
        "do $$ begin \
           if not exists (select from pg_roles where rolname = '4242') then \
             create role \"4242\" nologin; end if; \
           if not exists (select from pg_roles where rolname = 'pgmesh_unswitchable') then \
             create role pgmesh_unswitchable nologin; end if; \
         end $$; \
         grant \"4242\" to authenticator; \
         grant usage on schema api to \"4242\", pgmesh_unswitchable; \
         grant select on api.whoami to \"4242\", pgmesh_unswitchable; \
         notify pgrst, 'reload schema';",
    );
    let api = pgmesh_e2e::stack().api.clone();
    let number = bearer(json!({"role": 4242}));
    let since = Instant::now();
    let r = loop {
        let r = whoami(&api, &number);
        if r.status == 200 {
            break r;
        }
        // Until the reload reaches the filter, the role is unknown to it.
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(r.json()["message"], "role \"4242\" does not exist");
        assert!(
            since.elapsed() < Duration::from_secs(15),
            "the new role never became known"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.json()[0]["role"], "4242", "{r:?}");
    // `request.jwt.claims` carries the role as the string it switched to, as PostgREST's does.
    assert_eq!(r.json()[0]["claims"]["role"], "4242", "{r:?}");
    // A role that exists but is not granted to the authenticator: PostgreSQL's own answer.
    // Each Envoy worker adopts the reloaded cache on its own: one that has not yet still
    // answers the filter's 401, so wait (bounded) for the request to reach PostgreSQL.
    let since = Instant::now();
    let r = loop {
        let r = whoami(&api, &bearer(json!({"role": "pgmesh_unswitchable"})));
        if r.status != 401 || since.elapsed() > Duration::from_secs(15) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json()["code"], "42501", "{r:?}");
    assert_eq!(
        r.json()["message"],
        "permission denied to set role \"pgmesh_unswitchable\"",
        "{r:?}"
    );
}
