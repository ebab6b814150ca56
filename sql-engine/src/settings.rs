//! The API settings the filter plans with: the filter's part of a PostgREST configuration,
//! handed to it as the Envoy plugin configuration (JSON, PostgREST key names).

use serde::{Deserialize, Serialize};

/// Settings that shape how a request is authenticated and planned. Secrets are not here: they
/// reach the filter through the VM environment, never the plugin configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ApiSettings {
    /// Exposed schemas; the first is the default.
    pub db_schemas: Vec<String>,
    pub db_anon_role: Option<String>,
    pub db_max_rows: Option<u64>,
    pub jwt_aud: Option<String>,
    #[serde(default = "default_role_claim_key")]
    pub jwt_role_claim_key: String,
    /// `jwt-secret-is-base64`: the secret in the VM environment is base64 (binary secrets can
    /// only reach the filter so).
    #[serde(default)]
    pub jwt_secret_is_base64: bool,
    /// `db-aggregates-enabled`: allow `sum()`, `avg()`, … in `select`.
    #[serde(default)]
    pub db_aggregates_enabled: bool,
    /// Envoy cluster of the sidecar, for schema-cache fetches.
    #[serde(default = "default_sidecar_cluster")]
    pub sidecar_cluster: String,
    /// How often the filter asks the sidecar whether the schema cache changed.
    #[serde(default = "default_schema_poll_ms")]
    pub schema_poll_ms: u64,
    #[serde(default)]
    pub db_tx_end: TxEnd,
    /// Request bodies larger than this get 413 (`pgmesh-max-body-bytes`).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// `server-cors-allowed-origins`: origins CORS answers for (empty: any).
    #[serde(default)]
    pub server_cors_allowed_origins: Vec<String>,
    /// `jwt-cache-max-entries`: verified tokens each filter VM keeps (0: none).
    #[serde(default = "default_jwt_cache_max_entries")]
    pub jwt_cache_max_entries: u64,
    /// `db-hoisted-tx-settings`: a called function's `SET` clauses for these settings apply to
    /// the whole transaction (a `statement_timeout` then bounds the call itself).
    #[serde(default = "default_hoisted_tx_settings")]
    pub db_hoisted_tx_settings: Vec<String>,
}

fn default_jwt_cache_max_entries() -> u64 {
    1000
}

/// `db-hoisted-tx-settings`' default: the function settings applied to the whole transaction.
pub const DEFAULT_HOISTED_TX_SETTINGS: [&str; 3] = [
    "statement_timeout",
    "plan_filter.statement_cost_limit",
    "default_transaction_isolation",
];

fn default_hoisted_tx_settings() -> Vec<String> {
    DEFAULT_HOISTED_TX_SETTINGS.map(String::from).to_vec()
}

/// The default limit on request bodies: 100 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 100 * 1024 * 1024;

fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

/// `db-tx-end`: how transactions end, and whether `Prefer: tx=` may change it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxEnd {
    #[default]
    Commit,
    CommitAllowOverride,
    Rollback,
    RollbackAllowOverride,
}

impl TxEnd {
    /// Whether a transaction ends with COMMIT when the client states no preference.
    pub fn commits(self) -> bool {
        matches!(self, TxEnd::Commit | TxEnd::CommitAllowOverride)
    }

    /// Whether `Prefer: tx=` is honoured.
    pub fn overridable(self) -> bool {
        matches!(
            self,
            TxEnd::CommitAllowOverride | TxEnd::RollbackAllowOverride
        )
    }

    /// Whether a request with this `tx=` preference ends with ROLLBACK.
    pub fn rolls_back(self, preference: Option<bool>) -> bool {
        match preference.filter(|_| self.overridable()) {
            Some(rollback) => rollback,
            None => !self.commits(),
        }
    }
}

fn default_role_claim_key() -> String {
    String::from("$.role")
}

fn default_sidecar_cluster() -> String {
    String::from("pgmesh_sidecar")
}

fn default_schema_poll_ms() -> u64 {
    1000
}

impl ApiSettings {
    /// Parses the plugin configuration and checks what can be checked before the first request.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let settings: ApiSettings = serde_json::from_slice(bytes)
            .map_err(|e| format!("invalid pgmesh filter configuration: {e}"))?;
        if settings.db_schemas.is_empty() {
            return Err(String::from("db-schemas: at least one schema is required"));
        }
        Ok(settings)
    }

    /// PostgREST's defaults with `schemas` exposed and `web_anon` as the anonymous role: what
    /// the plugin configuration `{"db-schemas":[..],"db-anon-role":"web_anon",
    /// "db-max-rows":null,"jwt-aud":null}` reads as (tests, benchmarks).
    #[cfg(any(test, feature = "test-util"))]
    pub fn for_tests(schemas: &[&str]) -> Self {
        ApiSettings {
            db_schemas: schemas.iter().map(|s| s.to_string()).collect(),
            db_anon_role: Some("web_anon".into()),
            db_max_rows: None,
            jwt_aud: None,
            jwt_role_claim_key: default_role_claim_key(),
            jwt_secret_is_base64: false,
            db_aggregates_enabled: false,
            sidecar_cluster: default_sidecar_cluster(),
            schema_poll_ms: default_schema_poll_ms(),
            db_tx_end: TxEnd::default(),
            max_body_bytes: default_max_body_bytes(),
            server_cors_allowed_origins: Vec::new(),
            jwt_cache_max_entries: default_jwt_cache_max_entries(),
            db_hoisted_tx_settings: default_hoisted_tx_settings(),
        }
    }

    pub fn default_schema(&self) -> &str {
        self.db_schemas
            .first()
            .map(String::as_str)
            .unwrap_or("public")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_settings_are_the_configuration_defaults() {
        let parsed = ApiSettings::from_json(
            br#"{"db-schemas":["api","v2"],"db-anon-role":"web_anon","db-max-rows":null,"jwt-aud":null}"#,
        );
        assert_eq!(parsed, Ok(ApiSettings::for_tests(&["api", "v2"])));
    }

    #[test]
    fn parse_config_rejects_unknown_key() {
        let e = ApiSettings::from_json(br#"{"db-schemas":["api"],"db-anon-role":null,"db-max-rows":null,"jwt-aud":null,"bogus":1}"#);
        assert!(e.is_err_and(|e| e.contains("bogus")));
    }

    #[test]
    fn parse_config_rejects_empty_schemas() {
        let e = ApiSettings::from_json(
            br#"{"db-schemas":[],"db-anon-role":null,"db-max-rows":null,"jwt-aud":null}"#,
        );
        assert!(e.is_err_and(|e| e.contains("db-schemas")));
    }
}
