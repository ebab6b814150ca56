//! Keys and foreign keys of views, inferred from the base tables their columns come from (as
//! PostgREST does from `pg_rewrite`): a view that exposes a table's primary key has it as its
//! own, and takes part in that table's foreign keys, also through chains of views.

use std::collections::HashMap;

use crate::schema_cache::{ForeignKey, SchemaCache};

/// One view column that is a plain reference to a column of another relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewColumn {
    pub view_schema: String,
    pub view: String,
    pub column: String,
    pub source_schema: String,
    pub source: String,
    pub source_column: String,
}

type Rel = (String, String);

/// View column → base table column, following views over views (up to a depth).
fn resolve(columns: &[ViewColumn]) -> HashMap<Rel, Vec<(String, Rel, String)>> {
    let direct: HashMap<(Rel, String), (Rel, String)> = columns
        .iter()
        .map(|c| {
            (
                ((c.view_schema.clone(), c.view.clone()), c.column.clone()),
                (
                    (c.source_schema.clone(), c.source.clone()),
                    c.source_column.clone(),
                ),
            )
        })
        .collect();
    let mut out: HashMap<Rel, Vec<(String, Rel, String)>> = HashMap::new();
    for ((view, column), first) in &direct {
        let mut at = first.clone();
        for _ in 0..16 {
            match direct.get(&at) {
                Some(next) => at = next.clone(),
                None => break,
            }
        }
        out.entry(view.clone())
            .or_default()
            .push((column.clone(), at.0, at.1));
    }
    for cols in out.values_mut() {
        cols.sort();
    }
    out
}

/// The view columns that expose all of `wanted` columns of `base`, in `wanted`'s order.
fn exposing(cols: &[(String, Rel, String)], base: &Rel, wanted: &[String]) -> Option<Vec<String>> {
    wanted
        .iter()
        .map(|w| {
            cols.iter()
                .find(|(_, b, c)| b == base && c == w)
                .map(|(v, _, _)| v.clone())
        })
        .collect()
}

impl SchemaCache {
    /// Gives views the primary keys and foreign keys their columns carry from base tables.
    pub fn infer_view_keys(&mut self, columns: &[ViewColumn]) {
        let resolved = resolve(columns);
        let tables: HashMap<Rel, (Vec<String>, Vec<Vec<String>>)> = self
            .tables
            .iter()
            .map(|t| {
                (
                    (t.schema.clone(), t.name.clone()),
                    (t.primary_key.clone(), t.unique_keys.clone()),
                )
            })
            .collect();
        // Keys.
        for t in &mut self.tables {
            let Some(cols) = resolved.get(&(t.schema.clone(), t.name.clone())) else {
                continue;
            };
            let bases: Vec<&Rel> = cols.iter().map(|(_, b, _)| b).collect();
            for base in bases {
                let Some((pk, uniques)) = tables.get(base) else {
                    continue;
                };
                if t.primary_key.is_empty() && !pk.is_empty() {
                    if let Some(v) = exposing(cols, base, pk) {
                        t.primary_key = v;
                    }
                }
                for u in uniques {
                    if let Some(v) = exposing(cols, base, u) {
                        if !t.unique_keys.contains(&v) {
                            t.unique_keys.push(v);
                        }
                    }
                }
            }
        }
        // Foreign keys: each side may be a table or a view over it.
        let sides = |rel: &Rel, fk_cols: &[String]| -> Vec<(Rel, Vec<String>)> {
            let mut out = vec![(rel.clone(), fk_cols.to_vec())];
            for (view, cols) in &resolved {
                if let Some(v) = exposing(cols, rel, fk_cols) {
                    out.push((view.clone(), v));
                }
            }
            out
        };
        let mut added = Vec::new();
        for fk in &self.foreign_keys {
            let from = (fk.schema.clone(), fk.table.clone());
            let to = (fk.ref_schema.clone(), fk.ref_table.clone());
            for (f, fcols) in sides(&from, &fk.columns) {
                for (t, tcols) in sides(&to, &fk.ref_columns) {
                    if f == from && t == to {
                        continue;
                    }
                    added.push(ForeignKey {
                        name: fk.name.clone(),
                        schema: f.0.clone(),
                        table: f.1.clone(),
                        columns: fcols.clone(),
                        ref_schema: t.0.clone(),
                        ref_table: t.1.clone(),
                        ref_columns: tcols.clone(),
                    });
                }
            }
        }
        self.foreign_keys.extend(added);
        self.reindex();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_cache::relationships::relationships;
    use crate::schema_cache::{Column, Table};

    fn col(n: &str) -> Column {
        Column {
            name: n.into(),
            data_type: "integer".into(),
            nullable: true,
            ..Default::default()
        }
    }

    fn view_col(view: &str, column: &str, source: &str, source_column: &str) -> ViewColumn {
        ViewColumn {
            view_schema: "api".into(),
            view: view.into(),
            column: column.into(),
            source_schema: "api".into(),
            source: source.into(),
            source_column: source_column.into(),
        }
    }

    #[test]
    fn views_inherit_keys_and_relationships_through_chains() {
        let mut cache = SchemaCache::new(
            "v".into(),
            vec![
                Table {
                    primary_key: vec!["id".into()],
                    ..Table::new("api", "films", vec![col("id"), col("director_id")])
                },
                Table {
                    primary_key: vec!["id".into()],
                    ..Table::new("api", "directors", vec![col("id")])
                },
                Table::new("api", "film_view", vec![col("film_id"), col("dir")]),
                Table::new("api", "film_view2", vec![col("fid"), col("d")]),
            ],
        );
        cache.foreign_keys = vec![crate::fixtures::foreign_key(
            "films_director_id_fkey",
            "films",
            "director_id",
            "directors",
        )];
        cache.infer_view_keys(&[
            view_col("film_view", "film_id", "films", "id"),
            view_col("film_view", "dir", "films", "director_id"),
            view_col("film_view2", "fid", "film_view", "film_id"),
            view_col("film_view2", "d", "film_view", "dir"),
        ]);
        let view = cache.table("api", "film_view2").unwrap();
        assert_eq!(view.primary_key, vec!["fid".to_string()]);
        let rels: Vec<String> = relationships(&cache, view)
            .iter()
            .map(|r| format!("{} {} {:?}", r.cardinality.name(), r.target.name, r.columns))
            .collect();
        assert_eq!(rels, vec![r#"many-to-one directors [("d", "id")]"#]);
        let directors = cache.table("api", "directors").unwrap();
        let mut back: Vec<String> = relationships(&cache, directors)
            .iter()
            .map(|r| r.target.name.clone())
            .collect();
        back.sort();
        assert_eq!(back, vec!["film_view", "film_view2", "films"]);
    }
}
