//! The filter's decision for one request, natively (`cargo bench -p pgmesh-filter`):
//! authenticate, parse, plan, render and sign, or refuse. Inside Envoy the same work runs as
//! wasm, plus the host calls that read and rewrite the request; `cargo xtask bench load`
//! measures that whole cost.

// A benchmark is test code that clippy's allow-*-in-tests do not reach; one that cannot set up
// must stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use criterion::{criterion_group, criterion_main, Criterion};
use pgmesh_filter::core::{decide, Body, Decision, FilterState, Incoming};
use sql_engine::fixtures;
use sql_engine::settings::ApiSettings;

const SECRET: &str = "reallyreallyreallyreallyverysafe";

fn state() -> FilterState {
    let mut s = FilterState::configure(
        &fixtures::plugin_config(&ApiSettings::for_tests(&["api"])),
        Some(SECRET.into()),
        Some("0123456789abcdef0123456789abcdef".into()),
    )
    .unwrap();
    s.schema = Some(Rc::new(fixtures::with_tables(
        fixtures::parents_children(),
        &["visits", "directors", "films", "actors", "roles", "reviews"],
    )));
    s
}

/// An HS256 token for `{"role":"web_anon"}` signed with [`SECRET`].
fn token() -> String {
    use jwt_compact::alg::{Hs256, Hs256Key};
    use jwt_compact::{AlgorithmExt, Claims, Header};
    let key = Hs256Key::new(SECRET.as_bytes());
    let claims = Claims::new(serde_json::json!({"role": "web_anon"}));
    Hs256.token(&Header::empty(), &claims, &key).unwrap()
}

fn bench(c: &mut Criterion) {
    let state = state();
    let bearer = format!("Bearer {}", token());
    let base = |auth: Option<&str>| {
        let mut h: Vec<(String, String)> = vec![
            (":authority".into(), "127.0.0.1:3000".into()),
            (":method".into(), "GET".into()),
            ("user-agent".into(), "wrk".into()),
            ("x-forwarded-proto".into(), "http".into()),
            (
                "x-request-id".into(),
                "73d100e8-d274-4c84-9b96-7e19ef8a55f0".into(),
            ),
        ];
        if let Some(a) = auth {
            h.push(("authorization".into(), a.into()));
        }
        h
    };
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(String, String)>,
        fn(&Decision) -> bool,
    );
    let cases: [Case; 4] = [
        (
            "GET one row, anonymous",
            "/parents?id=eq.4242",
            base(None),
            |d| matches!(d, Decision::Forward { .. }),
        ),
        (
            "GET one row, HS256 JWT (cached)",
            "/parents?id=eq.4242",
            base(Some(&bearer)),
            |d| matches!(d, Decision::Forward { .. }),
        ),
        (
            "bad JWT",
            "/parents?id=eq.4242",
            base(Some("Bearer not.a.jwt")),
            |d| matches!(d, Decision::Respond { status: 401, .. }),
        ),
        ("unknown table", "/no_such_table?id=eq.1", base(None), |d| {
            matches!(d, Decision::Respond { status: 404, .. })
        }),
    ];
    for (name, path, headers, expected) in cases {
        let request = |n: u64| Incoming {
            method: "GET",
            path,
            headers: &headers,
            now_ms: 1_790_000_000_000,
            nonce: format!("bench-{n}"),
            body: Body::Absent,
        };
        assert!(
            expected(&decide(&state, &request(0))),
            "{name}: not the expected decision"
        );
        let mut n = 0;
        c.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                std::hint::black_box(matches!(
                    decide(&state, &request(n)),
                    Decision::Forward { .. }
                ))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
