//! What the sidecar introspects, read from the schema document it serves the filter.

use pgmesh_e2e::{http, stack};
use sql_engine::handoff::{self, Handoff};
use sql_engine::schema_cache::SchemaCache;

fn schema_document() -> SchemaCache {
    let s = stack();
    let hand = Handoff {
        ts_ms: pgmesh_e2e::now_s() * 1000,
        nonce: pgmesh_e2e::marker("schema"),
        kind: handoff::Kind::SchemaFetch,
    };
    let (doc, sig) = handoff::sign(
        &handoff::HandoffKey::derive(s.handoff_key.as_bytes()),
        "GET",
        handoff::SCHEMA_PATH,
        &hand,
    )
    .unwrap();
    let r = http::request(
        &format!("127.0.0.1:{}", s.sidecar_port),
        "GET",
        handoff::SCHEMA_PATH,
        &[
            (handoff::HANDOFF_HEADER, &doc),
            (handoff::SIGNATURE_HEADER, &sig),
        ],
    )
    .unwrap();
    assert_eq!(r.status, 200);
    SchemaCache::from_json(r.body.as_bytes()).unwrap()
}

#[test]
fn columns_keys_descriptions_and_what_relations_accept() {
    let cache = schema_document();
    let reviews = cache.table("api", "reviews").unwrap();
    assert_eq!(reviews.primary_key, vec!["id"]);
    assert_eq!(reviews.description.as_deref(), Some("What people thought"));
    let id = reviews.columns.iter().find(|c| c.name == "id").unwrap();
    assert_eq!(
        id.default.as_deref(),
        Some("nextval('api.reviews_id_seq'::regclass)")
    );
    assert!(!id.nullable);
    let body = reviews.columns.iter().find(|c| c.name == "body").unwrap();
    assert_eq!(body.description.as_deref(), Some("The review itself"));
    assert!((reviews.insertable, reviews.updatable, reviews.deletable) == (true, true, true));
    // A simple view is auto-updatable; a grouped one is not.
    let recent = cache.table("api", "recent_films").unwrap();
    assert!(recent.insertable && recent.updatable && recent.deletable);
    let counts = cache.table("api", "review_counts").unwrap();
    assert!(!counts.insertable && !counts.updatable && !counts.deletable);
    // Keys inferred for a view from its base table.
    assert_eq!(
        cache.table("api", "film_catalog").unwrap().primary_key,
        vec!["film_id"]
    );
    // Composite keys and foreign keys.
    assert_eq!(
        cache.table("api", "roles").unwrap().primary_key,
        vec!["film_id", "actor_id"]
    );
    assert!(cache
        .foreign_keys
        .iter()
        .any(|fk| fk.name == "films_director_id_fkey"
            && fk.columns == ["director_id"]
            && fk.ref_table == "directors"));
    assert!(cache.postgis);
    // Functions, with what computed columns and relationships need.
    let cast_of = cache
        .functions
        .iter()
        .find(|f| f.name == "cast_of")
        .unwrap();
    assert!(cast_of.returns_set);
    assert_eq!(
        cast_of.returns_relation,
        Some(("api".into(), "actors".into()))
    );
    assert_eq!(
        cast_of.first_arg_relation,
        Some(("api".into(), "films".into()))
    );
    assert_eq!(cast_of.volatility, "s");
    let film_count = cache
        .functions
        .iter()
        .find(|f| f.name == "film_count")
        .unwrap();
    assert_eq!(film_count.args.len(), 1);
    assert_eq!(
        (
            film_count.args[0].name.as_str(),
            film_count.args[0].data_type.as_str()
        ),
        ("min_year", "integer")
    );
    assert!(film_count.args[0].has_default);
    assert_eq!(film_count.return_type, "bigint");
    // Role settings, for applying them per transaction.
    let web_user = cache
        .role_settings
        .iter()
        .find(|(r, _)| r == "web_user")
        .unwrap();
    assert!(web_user
        .1
        .contains(&("statement_timeout".to_string(), "5s".to_string())));
}
