//! What the filter spends on a request before it signs the hand-off: parse, plan and render
//! SQL, for typical and heavy URLs (`cargo bench -p sql-engine`).

use criterion::{criterion_group, criterion_main, Criterion};
use sql_engine::schema_cache::{Column, ForeignKey, SchemaCache, Table};
use sql_engine::settings::ApiSettings;

fn cache() -> SchemaCache {
    let col = |n: &str, t: &str| Column {
        name: n.into(),
        data_type: t.into(),
        nullable: true,
        ..Default::default()
    };
    let table = |name: &str, columns: Vec<Column>| Table {
        schema: "api".into(),
        name: name.into(),
        columns,
        primary_key: vec!["id".into()],
        ..Default::default()
    };
    let mut cache = SchemaCache::new(
        "v1".into(),
        vec![
            table(
                "parents",
                vec![
                    col("id", "integer"),
                    col("name", "text"),
                    col("created", "date"),
                ],
            ),
            table(
                "children",
                vec![
                    col("id", "integer"),
                    col("parent_id", "integer"),
                    col("label", "text"),
                    col("value", "integer"),
                    col("data", "jsonb"),
                ],
            ),
        ],
    );
    cache.foreign_keys = vec![ForeignKey {
        name: "children_parent_id_fkey".into(),
        schema: "api".into(),
        table: "children".into(),
        columns: vec!["parent_id".into()],
        ref_schema: "api".into(),
        ref_table: "parents".into(),
        ref_columns: vec!["id".into()],
    }];
    cache.reindex();
    cache
}

fn settings() -> ApiSettings {
    ApiSettings::from_json(
        br#"{"db-schemas":["api"],"db-anon-role":"web_anon","db-max-rows":1000,"jwt-aud":null}"#,
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
}

fn bench(c: &mut Criterion) {
    let cache = cache();
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
            eprintln!("{name}: {}", e.to_response().body);
            std::process::exit(1);
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
    let mut cache = cache();
    let names = [
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
    ];
    for name in names {
        cache.tables.push(sql_engine::schema_cache::Table {
            schema: "api".into(),
            name: name.into(),
            ..Default::default()
        });
    }
    cache.reindex();
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
