//! CORS on `OPTIONS` through the whole decision, with and without an allow-list
//! (REDESIGN §7.1.3: `OPTIONS` used to answer `*`, with credentials for a listed origin).

// clippy's allow-*-in-tests reach only `#[test]` functions and `#[cfg(test)]` items, not the
// helpers of an integration-test crate; a helper that cannot set up must fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use pgmesh_filter::core::{decide, Body, Decision, FilterState, Incoming};
use sql_engine::fixtures;
use sql_engine::schema_cache::SchemaCache;
use sql_engine::settings::ApiSettings;

fn state(allowed: &[&str]) -> FilterState {
    let settings = ApiSettings {
        server_cors_allowed_origins: allowed.iter().map(|o| o.to_string()).collect(),
        ..ApiSettings::for_tests(&["api"])
    };
    let mut s = FilterState::configure(
        &fixtures::plugin_config(&settings),
        None,
        Some("0123456789abcdef0123456789abcdef".into()),
    )
    .unwrap();
    let mut films = fixtures::films_table();
    films.insertable = true;
    s.schema = Some(Rc::new(SchemaCache::new("v1".into(), vec![films])));
    s
}

/// The headers of the answer to `OPTIONS /films`.
fn options(state: &FilterState, headers: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let d = decide(
        state,
        &Incoming {
            method: "OPTIONS",
            path: "/films",
            headers: &headers,
            now_ms: 1_700_000_000_000,
            nonce: "n-1".into(),
            body: Body::Absent,
        },
    );
    match d {
        Decision::Respond {
            status: 200,
            headers,
            ..
        } => headers,
        other => panic!("{other:?}"),
    }
}

fn get<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

const ALLOW_ORIGIN: &str = "access-control-allow-origin";
const CREDENTIALS: &str = "access-control-allow-credentials";

/// Browsers reject `*` with credentials; no answer may carry both.
fn assert_no_wildcard_with_credentials(headers: &[(&'static str, String)]) {
    assert!(
        !(get(headers, ALLOW_ORIGIN) == Some("*") && get(headers, CREDENTIALS).is_some()),
        "{headers:?}"
    );
}

#[test]
fn options_from_an_unlisted_origin_gets_no_cors_headers() {
    let s = state(&["https://good.example"]);
    for extra in [&[][..], &[("access-control-request-method", "POST")][..]] {
        let mut headers = vec![("origin", "https://evil.example")];
        headers.extend_from_slice(extra);
        let h = options(&s, &headers);
        assert!(get(&h, "allow").is_some(), "{h:?}");
        assert_eq!(get(&h, ALLOW_ORIGIN), None, "{h:?}");
        assert_eq!(get(&h, CREDENTIALS), None, "{h:?}");
    }
}

#[test]
fn options_from_a_listed_origin_echoes_it() {
    let s = state(&["https://good.example"]);
    for extra in [&[][..], &[("access-control-request-method", "POST")][..]] {
        let mut headers = vec![("origin", "https://good.example")];
        headers.extend_from_slice(extra);
        let h = options(&s, &headers);
        assert_eq!(get(&h, ALLOW_ORIGIN), Some("https://good.example"), "{h:?}");
        assert_eq!(get(&h, CREDENTIALS), Some("true"), "{h:?}");
        assert_no_wildcard_with_credentials(&h);
    }
}

#[test]
fn options_without_an_allow_list_allows_any_origin() {
    let s = state(&[]);
    let h = options(&s, &[("origin", "https://any.example")]);
    assert_eq!(get(&h, ALLOW_ORIGIN), Some("*"), "{h:?}");
    assert_eq!(get(&h, CREDENTIALS), None, "{h:?}");
    assert!(get(&h, "access-control-expose-headers").is_some(), "{h:?}");
    // PostgREST's `*` on a plain OPTIONS, also without Origin, and also with an allow-list.
    for s in [state(&[]), state(&["https://good.example"])] {
        let h = options(&s, &[]);
        assert_eq!(get(&h, ALLOW_ORIGIN), Some("*"), "{h:?}");
        assert_no_wildcard_with_credentials(&h);
    }
}
