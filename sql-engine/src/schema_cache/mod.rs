//! The schema cache model: what the sidecar introspects and the filter plans against.
//! Serialisable, versioned; lookups are by (schema, name).

pub(crate) mod fuzzy;
pub mod relationships;
mod views;

pub use relationships::{Cardinality, Relationship};
pub use views::ViewColumn;

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// One versioned snapshot of the exposed schemas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaCache {
    /// Changes whenever the content changes (a hash of it, chosen by the sidecar).
    pub version: String,
    pub tables: Vec<Table>,
    /// Whether PostGIS is installed (`application/geo+json` needs it).
    #[serde(default)]
    pub postgis: bool,
    /// Foreign keys between relations of the exposed schemas.
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    /// Functions of the exposed schemas.
    #[serde(default)]
    pub functions: Vec<Function>,
    /// `ALTER ROLE … SET` settings of each role (for this database or all), by role.
    #[serde(default)]
    pub role_settings: Vec<(String, Vec<(String, String)>)>,
    /// The database's role names (`pg_roles`): a token's role missing from them is refused
    /// with PostgreSQL's own error before any statement is sent. `None` (a cache made without
    /// them): not checked here.
    #[serde(default)]
    pub roles: Option<BTreeSet<String>>,
    /// Index into `tables` by (schema, name); rebuilt after deserialising.
    #[serde(skip)]
    index: HashMap<(String, String), usize>,
    /// Foreign keys by (schema, table) of the referencing and of the referenced relation, and
    /// functions by the relation their first argument takes: so that planning costs do not
    /// grow with the size of the schema.
    #[serde(skip)]
    fks_from: HashMap<(String, String), Vec<usize>>,
    #[serde(skip)]
    fks_to: HashMap<(String, String), Vec<usize>>,
    #[serde(skip)]
    functions_of: HashMap<(String, String), Vec<usize>>,
}

/// A table, view, materialized view, foreign or partitioned table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary key columns, in key order (empty when there is none).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Columns of each unique constraint.
    #[serde(default)]
    pub unique_keys: Vec<Vec<String>>,
    /// What the relation accepts (tables: everything; views: what PostgreSQL can update).
    #[serde(default)]
    pub insertable: bool,
    #[serde(default)]
    pub updatable: bool,
    #[serde(default)]
    pub deletable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A function: what RPC calls, and, when it takes a row of a relation, a computed column
/// (scalar result) or a computed relationship (a relation's rows as result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    pub schema: String,
    pub name: String,
    pub args: Vec<Argument>,
    pub variadic: bool,
    pub returns_set: bool,
    /// The result type as PostgreSQL prints it.
    pub return_type: String,
    /// The relation whose rows the function returns (composite results of a table or view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returns_relation: Option<(String, String)>,
    /// `i`mmutable, `s`table or `v`olatile.
    pub volatility: String,
    /// The relation whose row the first argument takes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_arg_relation: Option<(String, String)>,
    /// `ROWS n` from the definition (1 makes a set-returning computed relationship to-one).
    pub rows: u64,
    /// Rows with columns (a composite type, or OUT/TABLE parameters), rather than a scalar.
    #[serde(default)]
    pub returns_composite: bool,
    /// The definition's `SET` clauses (`SET statement_timeout TO '4s'`), name and value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<(String, String)>,
}

impl Function {
    /// `void`: called for its effect; the response is 204.
    pub fn returns_void(&self) -> bool {
        self.return_type == "void"
    }

    /// `api.fn(a => integer, b => text)`, as PostgREST lists candidates.
    pub fn signature(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| format!("{} => {}", a.name, a.data_type))
            .collect();
        format!("{}.{}({})", self.schema, self.name, args.join(", "))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argument {
    pub name: String,
    pub data_type: String,
    pub has_default: bool,
}

impl SchemaCache {
    /// A scalar function over rows of `table` named `name`: a computed column.
    pub fn computed_column(&self, table: &Table, name: &str) -> Option<&Function> {
        self.functions_of(table).into_iter().find(|f| {
            f.name == name
                && f.returns_relation.is_none()
                && !f.returns_set
                && f.args.iter().filter(|a| !a.has_default).count() <= 1
                && f.first_arg_relation.as_ref()
                    == Some(&(table.schema.clone(), table.name.clone()))
        })
    }
}

/// `table(columns) REFERENCES ref_table(ref_columns)`, named by its constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    /// The default expression, as PostgreSQL prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A relation with no name, no columns and no keys: what a function's result that is not a
/// relation's rows is read as.
pub const NO_RELATION: Table = Table {
    schema: String::new(),
    name: String::new(),
    columns: Vec::new(),
    primary_key: Vec::new(),
    unique_keys: Vec::new(),
    insertable: false,
    updatable: false,
    deletable: false,
    description: None,
};

impl Table {
    /// A relation with columns and nothing else (tests, fixtures).
    pub fn new(schema: &str, name: &str, columns: Vec<Column>) -> Self {
        Table {
            schema: schema.to_string(),
            name: name.to_string(),
            columns,
            ..NO_RELATION
        }
    }

    /// Whether `columns` (in any order) are the primary key or a unique key.
    pub fn is_unique(&self, columns: &[String]) -> bool {
        let same =
            |key: &[String]| key.len() == columns.len() && key.iter().all(|k| columns.contains(k));
        (!self.primary_key.is_empty() && same(&self.primary_key))
            || self.unique_keys.iter().any(|k| same(k))
    }

    /// The type of a column as `format_type` prints it, if the column exists.
    pub fn column_type(&self, name: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.data_type.as_str())
    }
}

impl SchemaCache {
    pub fn new(version: String, tables: Vec<Table>) -> Self {
        let mut cache = SchemaCache {
            version,
            tables,
            postgis: false,
            foreign_keys: Vec::new(),
            functions: Vec::new(),
            role_settings: Vec::new(),
            roles: None,
            index: HashMap::new(),
            fks_from: HashMap::new(),
            fks_to: HashMap::new(),
            functions_of: HashMap::new(),
        };
        cache.reindex();
        cache
    }

    /// Whether `role` is missing from the database's roles, as far as the cache knows them.
    /// `none` is PostgreSQL's word for the session's own role (`SET ROLE none`), no role name.
    pub fn lacks_role(&self, role: &str) -> bool {
        role != "none" && self.roles.as_ref().is_some_and(|r| !r.contains(role))
    }

    /// Parses the sidecar's JSON document and builds the lookup index.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let mut cache: SchemaCache = serde_json::from_slice(bytes)?;
        cache.reindex();
        Ok(cache)
    }

    /// Rebuilds the lookup indexes; call after changing tables, foreign keys or functions.
    pub fn reindex(&mut self) {
        self.index = self
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.schema.clone(), t.name.clone()), i))
            .collect();
        self.fks_from.clear();
        self.fks_to.clear();
        for (i, fk) in self.foreign_keys.iter().enumerate() {
            self.fks_from
                .entry((fk.schema.clone(), fk.table.clone()))
                .or_default()
                .push(i);
            self.fks_to
                .entry((fk.ref_schema.clone(), fk.ref_table.clone()))
                .or_default()
                .push(i);
        }
        self.functions_of.clear();
        for (i, f) in self.functions.iter().enumerate() {
            if let Some(rel) = &f.first_arg_relation {
                self.functions_of.entry(rel.clone()).or_default().push(i);
            }
        }
    }

    fn by_index<'a, T>(
        items: &'a [T],
        index: &HashMap<(String, String), Vec<usize>>,
        table: &Table,
    ) -> Vec<&'a T> {
        index
            .get(&(table.schema.clone(), table.name.clone()))
            .map(|ids| ids.iter().filter_map(|&i| items.get(i)).collect())
            .unwrap_or_default()
    }

    /// Foreign keys of `table` (it references others).
    pub fn foreign_keys_from(&self, table: &Table) -> Vec<&ForeignKey> {
        Self::by_index(&self.foreign_keys, &self.fks_from, table)
    }

    /// Foreign keys that reference `table`.
    pub fn foreign_keys_to(&self, table: &Table) -> Vec<&ForeignKey> {
        Self::by_index(&self.foreign_keys, &self.fks_to, table)
    }

    /// Functions whose first argument is a row of `table`.
    pub fn functions_of(&self, table: &Table) -> Vec<&Function> {
        Self::by_index(&self.functions, &self.functions_of, table)
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.index
            .get(&(schema.to_string(), name.to_string()))
            .and_then(|&i| self.tables.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_rebuilds_the_index() {
        let cache = SchemaCache::new(
            "v1".into(),
            vec![Table {
                schema: "api".into(),
                name: "films".into(),
                columns: vec![Column {
                    name: "id".into(),
                    data_type: "integer".into(),
                    nullable: false,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        );
        let json = serde_json::to_vec(&cache).unwrap();
        let back = SchemaCache::from_json(&json).unwrap();
        assert_eq!(back.table("api", "films").map(|t| t.columns.len()), Some(1));
        assert!(back.table("api", "nope").is_none());
    }
}
