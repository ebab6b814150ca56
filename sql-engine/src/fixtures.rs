//! Schema caches and settings that the tests and benchmarks of every crate share (feature
//! `test-util`), so each shape is written once. The golden SQL snapshots are rendered against
//! these: changing one shows up as a snapshot diff, so add a new named fixture rather than
//! bend one that goldens use.

use crate::schema_cache::{Argument, Column, ForeignKey, Function, SchemaCache, Table};
use crate::settings::ApiSettings;

/// A nullable column of type `data_type`.
pub fn column(name: &str, data_type: &str) -> Column {
    Column {
        name: name.into(),
        data_type: data_type.into(),
        nullable: true,
        ..Default::default()
    }
}

/// `api.films` with typed columns: JSON paths and full-text search wrap by column type. No keys,
/// no write privileges.
pub fn films_table() -> Table {
    Table::new(
        "api",
        "films",
        vec![
            column("id", "integer"),
            column("title", "text"),
            column("year", "integer"),
            column("data", "jsonb"),
            column("tags", "text[]"),
            column("doc", "text"),
            column("tsv", "tsvector"),
        ],
    )
}

/// [`films_table`] alone: the read goldens' schema.
pub fn films() -> SchemaCache {
    SchemaCache::new("v1".into(), vec![films_table()])
}

/// A foreign-key graph with every embed kind, all columns `integer`: `films` many-to-one
/// `directors`, one-to-many `roles`, many-to-many `actors` through `roles`.
pub fn films_with_relations() -> SchemaCache {
    let table = |name: &str, columns: &[&str], key: &[&str]| Table {
        primary_key: key.iter().map(|c| c.to_string()).collect(),
        ..Table::new(
            "api",
            name,
            columns.iter().map(|c| column(c, "integer")).collect(),
        )
    };
    let mut cache = SchemaCache::new(
        "v".into(),
        vec![
            table("films", &["id", "director_id"], &["id"]),
            table("directors", &["id"], &["id"]),
            table("actors", &["id"], &["id"]),
            table("roles", &["film_id", "actor_id"], &["film_id", "actor_id"]),
        ],
    );
    cache.foreign_keys = vec![
        foreign_key(
            "films_director_id_fkey",
            "films",
            "director_id",
            "directors",
        ),
        foreign_key("roles_film_id_fkey", "roles", "film_id", "films"),
        foreign_key("roles_actor_id_fkey", "roles", "actor_id", "actors"),
    ];
    cache.reindex();
    cache
}

/// `api.table(column) REFERENCES api.ref_table(id)`.
pub fn foreign_key(name: &str, table: &str, column: &str, ref_table: &str) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        schema: "api".into(),
        table: table.into(),
        columns: vec![column.into()],
        ref_schema: "api".into(),
        ref_table: ref_table.into(),
        ref_columns: vec!["id".into()],
    }
}

/// The write and call goldens' schema: a writable `api.tasks` with column defaults, the
/// immutable scalar `api.add(a, b default)` and the stable set-returning
/// `api.open_tasks(pid) returns setof api.tasks`.
pub fn tasks() -> SchemaCache {
    let with_default = |name: &str, data_type: &str, default: Option<&str>| Column {
        default: default.map(String::from),
        ..column(name, data_type)
    };
    let mut cache = SchemaCache::new(
        "v1".into(),
        vec![Table {
            primary_key: vec!["id".into()],
            insertable: true,
            updatable: true,
            deletable: true,
            ..Table::new(
                "api",
                "tasks",
                vec![
                    with_default(
                        "id",
                        "integer",
                        Some("nextval('api.tasks_id_seq'::regclass)"),
                    ),
                    with_default("title", "text", None),
                    with_default("priority", "integer", Some("3")),
                ],
            )
        }],
    );
    let arg = |name: &str, data_type: &str, has_default: bool| Argument {
        name: name.into(),
        data_type: data_type.into(),
        has_default,
    };
    cache.functions = vec![
        Function {
            schema: "api".into(),
            name: "add".into(),
            args: vec![arg("a", "integer", false), arg("b", "integer", true)],
            return_type: "integer".into(),
            volatility: "i".into(),
            ..Default::default()
        },
        Function {
            schema: "api".into(),
            name: "open_tasks".into(),
            args: vec![arg("pid", "integer", false)],
            returns_set: true,
            return_type: "api.tasks".into(),
            returns_relation: Some(("api".into(), "tasks".into())),
            returns_composite: true,
            volatility: "s".into(),
            ..Default::default()
        },
    ];
    cache.reindex();
    cache
}

/// The benchmarks' schema: `api.parents(id, name, created)` one-to-many
/// `api.children(id, parent_id, label, value, data jsonb)`, both keyed by `id`.
pub fn parents_children() -> SchemaCache {
    let table = |name: &str, columns: Vec<Column>| Table {
        primary_key: vec!["id".into()],
        ..Table::new("api", name, columns)
    };
    let mut cache = SchemaCache::new(
        "v1".into(),
        vec![
            table(
                "parents",
                vec![
                    column("id", "integer"),
                    column("name", "text"),
                    column("created", "date"),
                ],
            ),
            table(
                "children",
                vec![
                    column("id", "integer"),
                    column("parent_id", "integer"),
                    column("label", "text"),
                    column("value", "integer"),
                    column("data", "jsonb"),
                ],
            ),
        ],
    );
    cache.foreign_keys = vec![foreign_key(
        "children_parent_id_fkey",
        "children",
        "parent_id",
        "parents",
    )];
    cache.reindex();
    cache
}

/// `cache` with more `api` relations that have only a name: what PGRST205's "Perhaps you
/// meant" hint searches through.
pub fn with_tables(mut cache: SchemaCache, names: &[&str]) -> SchemaCache {
    cache
        .tables
        .extend(names.iter().map(|name| Table::new("api", name, Vec::new())));
    cache.reindex();
    cache
}

/// `settings` as the plugin configuration JSON the filter is configured with.
// Test support, not the data path: a fixture that cannot be built is a bug in the test.
#[allow(clippy::expect_used)]
pub fn plugin_config(settings: &ApiSettings) -> Vec<u8> {
    serde_json::to_vec(settings).expect("settings are strings, numbers and lists")
}
