//! What the filter spends on a request before it signs the hand-off: parse, plan and render
//! SQL, for typical and heavy URLs (`cargo bench -p sql-engine`).

// A benchmark is test code that clippy's allow-*-in-tests do not reach; one that cannot set up
// must stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion};
use sql_engine::fixtures;
use sql_engine::settings::ApiSettings;

fn settings() -> ApiSettings {
    ApiSettings {
        db_max_rows: Some(1000),
        ..ApiSettings::for_tests(&["api"])
    }
}

fn bench(c: &mut Criterion) {
    let cache = fixtures::parents_children();
    let settings = settings();
    let cases = [
        ("one row by key", "/parents", "id=eq.4242"),
        (
            "100 rows, ordered",
            "/children",
            "select=id,label,value&id=gt.5000&order=id&limit=100",
        ),
        (
            "one-to-many embed",
            "/parents",
            "select=id,name,children(id,label)&id=eq.4242",
        ),
        (
            "heavy: logic trees, JSON paths, embed filters",
            "/parents",
            "select=id,name,kids:children(id,label,data->>k,value)&or=(id.lt.10,and(name.ilike.*x*,id.not.in.(1,2,3)))&kids.value=gte.5&kids.order=value.desc&kids.limit=5&order=name.desc.nullslast&limit=20&offset=40",
        ),
    ];
    for (name, path, query) in cases {
        // Only requests that plan are measured.
        if let Err(e) = sql_engine::build_statement("GET", path, query, &cache, &settings) {
            panic!("{name}: {}", e.to_response().body);
        }
        c.bench_function(name, |b| {
            b.iter(|| {
                let r = sql_engine::build_statement("GET", path, query, &cache, &settings);
                std::hint::black_box(r.map(|(_, st)| st.sql.len()).unwrap_or(0))
            })
        });
    }
}

/// A request for an unknown table: PGRST205 with PostgREST's "Perhaps you meant …" hint,
/// the filter's whole answer to it.
fn unknown_table(c: &mut Criterion) {
    let cache = fixtures::with_tables(
        fixtures::parents_children(),
        &[
            "directors",
            "films",
            "actors",
            "roles",
            "reviews",
            "visits",
            "competitions",
            "nominations",
            "festivals",
            "studios",
        ],
    );
    let settings = settings();
    c.bench_function("unknown table, with a hint", |b| {
        b.iter(|| {
            let r =
                sql_engine::build_statement("GET", "/no_such_table", "id=eq.1", &cache, &settings);
            std::hint::black_box(r.err().map(|e| e.to_response().body.len()).unwrap_or(0))
        })
    });
}

criterion_group!(benches, bench, unknown_table);
criterion_main!(benches);
