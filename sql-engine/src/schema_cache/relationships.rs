//! Relationships between relations, derived from foreign keys as PostgREST does: many-to-one,
//! one-to-many, one-to-one (the foreign key columns are unique) and many-to-many through a
//! junction whose primary key holds both foreign keys.

use crate::schema_cache::{ForeignKey, Function, SchemaCache, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    ManyToOne,
    OneToMany,
    OneToOne,
    ManyToMany,
}

impl Cardinality {
    pub fn name(self) -> &'static str {
        match self {
            Cardinality::ManyToOne => "many-to-one",
            Cardinality::OneToMany => "one-to-many",
            Cardinality::OneToOne => "one-to-one",
            Cardinality::ManyToMany => "many-to-many",
        }
    }

    /// Whether the embed is a single object (or null) rather than an array.
    pub fn to_one(self) -> bool {
        matches!(self, Cardinality::ManyToOne | Cardinality::OneToOne)
    }
}

/// The junction of a many-to-many relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Junction<'a> {
    pub table: &'a Table,
    /// Source column = junction column.
    pub source: Vec<(&'a str, &'a str)>,
    /// Junction column = target column.
    pub target: Vec<(&'a str, &'a str)>,
    pub source_constraint: &'a str,
    pub target_constraint: &'a str,
}

/// A way to embed `target` in rows of a source relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relationship<'a> {
    pub cardinality: Cardinality,
    pub target: &'a Table,
    /// The foreign key (for many-to-many, the junction's key to the target).
    pub constraint: &'a str,
    /// Source column = target column (empty for many-to-many).
    pub columns: Vec<(&'a str, &'a str)>,
    pub junction: Option<Junction<'a>>,
    /// A computed relationship: a function taking the source row and returning target rows.
    pub function: Option<&'a Function>,
}

fn pairs<'a>(a: &'a [String], b: &'a [String]) -> Vec<(&'a str, &'a str)> {
    a.iter()
        .map(String::as_str)
        .zip(b.iter().map(String::as_str))
        .collect()
}

fn references(fk: &ForeignKey, t: &Table) -> bool {
    fk.ref_schema == t.schema && fk.ref_table == t.name
}

fn belongs(fk: &ForeignKey, t: &Table) -> bool {
    fk.schema == t.schema && fk.table == t.name
}

/// Every relationship from `source` to some relation of the cache.
pub fn relationships<'a>(cache: &'a SchemaCache, source: &Table) -> Vec<Relationship<'a>> {
    let mut out = Vec::new();
    let from_source = cache.foreign_keys_from(source);
    let to_source = cache.foreign_keys_to(source);
    for fk in from_source.iter().copied() {
        // source(fk columns) -> target: to-one.
        if belongs(fk, source) {
            if let Some(target) = cache.table(&fk.ref_schema, &fk.ref_table) {
                let unique = source.is_unique(&fk.columns);
                out.push(Relationship {
                    cardinality: if unique {
                        Cardinality::OneToOne
                    } else {
                        Cardinality::ManyToOne
                    },
                    target,
                    constraint: &fk.name,
                    columns: pairs(&fk.columns, &fk.ref_columns),
                    junction: None,
                    function: None,
                });
            }
        }
    }
    for fk in to_source.iter().copied() {
        // target(fk columns) -> source: to-many (to-one when the columns are unique).
        if references(fk, source) {
            if let Some(target) = cache.table(&fk.schema, &fk.table) {
                let unique = target.is_unique(&fk.columns);
                out.push(Relationship {
                    cardinality: if unique {
                        Cardinality::OneToOne
                    } else {
                        Cardinality::OneToMany
                    },
                    target,
                    constraint: &fk.name,
                    columns: pairs(&fk.ref_columns, &fk.columns),
                    junction: None,
                    function: None,
                });
            }
        }
    }
    // Many-to-many: a junction with a key to the source and another to the target, both within
    // the junction's primary key.
    for to_source in to_source {
        let Some(junction) = cache.table(&to_source.schema, &to_source.table) else {
            continue;
        };
        let in_pk = |cols: &[String]| {
            !junction.primary_key.is_empty()
                && cols.iter().all(|c| junction.primary_key.contains(c))
        };
        if !in_pk(&to_source.columns) {
            continue;
        }
        for to_target in cache
            .foreign_keys_from(junction)
            .into_iter()
            .filter(|fk| fk.name != to_source.name && in_pk(&fk.columns))
        {
            let Some(target) = cache.table(&to_target.ref_schema, &to_target.ref_table) else {
                continue;
            };
            out.push(Relationship {
                cardinality: Cardinality::ManyToMany,
                target,
                constraint: &to_target.name,
                columns: Vec::new(),
                junction: Some(Junction {
                    table: junction,
                    source: pairs(&to_source.ref_columns, &to_source.columns),
                    target: pairs(&to_target.columns, &to_target.ref_columns),
                    source_constraint: &to_source.name,
                    target_constraint: &to_target.name,
                }),
                function: None,
            });
        }
    }
    // Computed relationships: functions taking the source row and returning rows of a relation;
    // to-one unless they return a set of more than one row.
    for f in cache.functions_of(source) {
        let Some((schema, name)) = &f.returns_relation else {
            continue;
        };
        let Some(target) = cache.table(schema, name) else {
            continue;
        };
        out.push(Relationship {
            cardinality: if f.returns_set && f.rows != 1 {
                Cardinality::OneToMany
            } else {
                Cardinality::ManyToOne
            },
            target,
            constraint: &f.name,
            columns: Vec::new(),
            junction: None,
            function: Some(f),
        });
    }
    out
}

impl Relationship<'_> {
    /// The name an embed uses for this relationship: a computed relationship's function, or
    /// the target relation.
    pub fn embed_name(&self) -> &str {
        match self.function {
            Some(f) => &f.name,
            None => &self.target.name,
        }
    }

    /// Whether a `!hint` selects this relationship: its constraint, a column of it (single
    /// column keys), or the junction's name.
    pub fn matches_hint(&self, hint: &str, source: &Table) -> bool {
        if self.constraint == hint {
            return true;
        }
        match &self.junction {
            Some(j) => j.table.name == hint || j.source_constraint == hint,
            // A self-reference appears both ways on the same columns; only the far side's
            // column tells them apart (`family_tree!parent`: the rows whose `parent` is this).
            None if self.is_self_reference(source) => {
                self.columns.len() == 1 && self.columns.iter().any(|(_, t)| *t == hint)
            }
            None => {
                self.columns.len() == 1
                    && self.columns.iter().any(|(s, t)| *s == hint || *t == hint)
            }
        }
    }

    /// A foreign key from a relation to itself.
    pub fn is_self_reference(&self, source: &Table) -> bool {
        self.function.is_none()
            && self.junction.is_none()
            && self.target.schema == source.schema
            && self.target.name == source.name
    }

    /// Whether an embed named `name` means this relationship: by the target's name (for a
    /// self-reference only the one-to-many side; the parent row is embedded by its column),
    /// by a computed relationship's function, or, for to-one, by the foreign key column.
    pub fn named_by(&self, name: &str, source: &Table) -> bool {
        let by_column = self.cardinality.to_one()
            && self.function.is_none()
            && self.columns.len() == 1
            && self.columns.iter().any(|(s, _)| *s == name);
        if by_column {
            return true;
        }
        if self.is_self_reference(source) && self.cardinality.to_one() {
            return false;
        }
        self.embed_name() == name
    }

    /// How PostgREST describes the relationship in PGRST201's details.
    pub fn describe(&self, source: &Table) -> String {
        let list = |cols: &mut dyn Iterator<Item = &str>| cols.collect::<Vec<_>>().join(", ");
        match &self.junction {
            Some(j) => format!(
                "{}({}) and {}({})",
                j.table.name,
                list(
                    &mut j
                        .source
                        .iter()
                        .map(|(_, c)| *c)
                        .chain(j.target.iter().map(|(c, _)| *c))
                ),
                self.target.name,
                list(&mut j.target.iter().map(|(_, c)| *c))
            ),
            None => format!(
                "{} using {}({}) and {}({})",
                self.constraint,
                source.name,
                list(&mut self.columns.iter().map(|(s, _)| *s)),
                self.target.name,
                list(&mut self.columns.iter().map(|(_, t)| *t))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn summary(source: &str) -> Vec<String> {
        let c = fixtures::films_with_relations();
        let t = c.table("api", source).expect("a table of the fixture");
        let mut out: Vec<String> = relationships(&c, t)
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.cardinality.name(),
                    r.target.name,
                    r.constraint
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn cardinalities_from_foreign_keys() {
        assert_eq!(
            summary("films"),
            vec![
                "many-to-many actors roles_actor_id_fkey",
                "many-to-one directors films_director_id_fkey",
                "one-to-many roles roles_film_id_fkey",
            ]
        );
        assert_eq!(
            summary("directors"),
            vec!["one-to-many films films_director_id_fkey"]
        );
        assert_eq!(
            summary("actors"),
            vec![
                "many-to-many films roles_film_id_fkey",
                "one-to-many roles roles_actor_id_fkey"
            ]
        );
    }
}
