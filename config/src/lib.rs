//! PostgREST-style configuration: a `key = value` file with PostgREST's key names, overridden by
//! `PGRST_*` environment variables. Every PostgREST key is accepted; keys whose behaviour pgmesh
//! has not built yet are reported as warnings; unknown keys and invalid values are errors that
//! name the key. The environment is injected, so tests pass a map.

use std::collections::BTreeMap;
use std::fmt;

pub use sql_engine::settings::TxEnd;
use sql_engine::settings::{ApiSettings, RoleClaimPath};

/// A value that must never reach logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The configuration pgmesh runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub db_uri: Secret,
    pub db_schemas: Vec<String>,
    pub db_anon_role: Option<String>,
    pub db_max_rows: Option<u64>,
    pub db_pool: usize,
    pub db_pool_acquisition_timeout_s: u64,
    pub db_tx_end: TxEnd,
    pub db_extra_search_path: Vec<String>,
    pub db_pre_request: Option<String>,
    /// `pgmesh-max-body-bytes`: larger request bodies get 413.
    pub max_body_bytes: u64,
    /// `jwt-cache-max-entries` (PostgREST's default 1000).
    pub jwt_cache_max_entries: u64,
    /// `server-cors-allowed-origins` (empty: any origin).
    pub server_cors_allowed_origins: Vec<String>,
    /// `db-hoisted-tx-settings`: function settings applied to the whole transaction.
    pub db_hoisted_tx_settings: Vec<String>,
    /// `NOTIFY` channel for reloads, when enabled.
    pub db_channel: Option<String>,
    /// The HS256 key, already decoded when `jwt-secret-is-base64` is set.
    pub jwt_secret: Option<Secret>,
    pub jwt_aud: Option<String>,
    pub jwt_role_claim_key: String,
    pub db_aggregates_enabled: bool,
    /// Address for the public listener.
    pub server_host: String,
    pub server_port: u16,
    pub log_level: String,
    /// `app.settings.*` GUCs set in every transaction, by full name.
    pub app_settings: Vec<(String, String)>,
    /// Keys that are set but whose behaviour pgmesh has not built yet.
    pub unbuilt: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config line {line}: cannot parse {text:?} (expected key = value)")]
    Syntax { line: usize, text: String },
    #[error("unknown configuration key '{0}'")]
    UnknownKey(String),
    #[error("invalid value for '{key}': {why}")]
    Invalid { key: String, why: String },
}

/// Every key PostgREST v16 knows, with its aliases mapped to the canonical name.
const KEYS: &[&str] = &[
    "admin-server-host",
    "admin-server-port",
    "admin-server-unix-socket",
    "admin-server-unix-socket-mode",
    "client-error-verbosity",
    "db-aggregates-enabled",
    "db-anon-role",
    "db-channel",
    "db-channel-enabled",
    "db-config",
    "db-pre-config",
    "db-extra-search-path",
    "db-hoisted-tx-settings",
    "db-max-rows",
    "db-plan-enabled",
    "db-pool",
    "db-pool-acquisition-timeout",
    "db-pool-max-idletime",
    "db-pool-max-lifetime",
    "db-pool-automatic-recovery",
    "db-pre-request",
    "db-prepared-statements",
    "db-root-spec",
    "db-schemas",
    "db-tx-end",
    "db-uri",
    "jwt-aud",
    "jwt-role-claim-key",
    "jwt-secret",
    "jwt-secret-is-base64",
    "jwt-cache-max-entries",
    "log-level",
    "log-query",
    "openapi-mode",
    "openapi-security-active",
    "openapi-server-proxy-uri",
    "server-cors-allowed-origins",
    "server-host",
    "server-port",
    "server-reuseport",
    "server-trace-header",
    "server-timing-enabled",
    "server-unix-socket",
    "server-unix-socket-mode",
    "url-use-legacy-target-names",
    "internal-schema-cache-query-sleep",
    "internal-schema-cache-load-sleep",
    "internal-schema-cache-relationship-load-sleep",
    // pgmesh's own keys
    "pgmesh-max-body-bytes",
];

const ALIASES: &[(&str, &str)] = &[
    ("db-schema", "db-schemas"),
    ("max-rows", "db-max-rows"),
    ("pre-request", "db-pre-request"),
    ("db-pool-timeout", "db-pool-max-idletime"),
    ("root-spec", "db-root-spec"),
    ("role-claim-key", "jwt-role-claim-key"),
    ("secret-is-base64", "jwt-secret-is-base64"),
];

/// Keys whose behaviour pgmesh builds today; any other key that is set is named in a warning.
const BUILT: &[&str] = &[
    "db-aggregates-enabled",
    "db-channel",
    "db-channel-enabled",
    "db-uri",
    "db-schemas",
    "db-anon-role",
    "db-max-rows",
    "db-pool",
    "db-pool-acquisition-timeout",
    "db-tx-end",
    "db-extra-search-path",
    "db-pre-request",
    "jwt-secret",
    "jwt-secret-is-base64",
    "jwt-aud",
    "jwt-role-claim-key",
    "server-host",
    "server-port",
    "log-level",
    "jwt-cache-max-entries",
    "server-cors-allowed-origins",
    "pgmesh-max-body-bytes",
    "db-hoisted-tx-settings",
];

fn canonical(key: &str) -> Option<String> {
    if let Some(rest) = key.strip_prefix("app.settings.") {
        return (!rest.is_empty()).then(|| key.to_string());
    }
    if KEYS.contains(&key) {
        return Some(key.to_string());
    }
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map(|(_, k)| k.to_string())
}

/// `PGRST_DB_URI` → `db-uri`; `PGRST_APP_SETTINGS_X_Y` → `app.settings.x_y`.
fn key_from_env(name: &str) -> Option<String> {
    let rest = name.strip_prefix("PGRST_")?;
    if let Some(setting) = rest.strip_prefix("APP_SETTINGS_") {
        return Some(format!("app.settings.{}", setting.to_ascii_lowercase()));
    }
    Some(rest.to_ascii_lowercase().replace('_', "-"))
}

/// Parses one value: `"quoted string"` (with `\"` and `\\`), or a bare word/number/boolean.
fn parse_value(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => {
                    let tail = chars.as_str().trim();
                    return (tail.is_empty() || tail.starts_with('#')).then_some(out);
                }
                c => out.push(c),
            }
        }
        None
    } else {
        let bare = raw.split('#').next().unwrap_or("").trim();
        (!bare.is_empty()).then(|| bare.to_string())
    }
}

/// Reads a config file's text into key → value (canonical keys).
pub fn parse_file(text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let syntax = || ConfigError::Syntax {
            line: i + 1,
            text: trimmed.to_string(),
        };
        let (key, value) = trimmed.split_once('=').ok_or_else(syntax)?;
        let key = key.trim();
        let value = parse_value(value).ok_or_else(syntax)?;
        let canon = canonical(key).ok_or_else(|| ConfigError::UnknownKey(key.to_string()))?;
        map.insert(canon, value);
    }
    Ok(map)
}

/// Loads the configuration: file text (if any), then `PGRST_*` overrides from `env_vars`.
/// `read_file` resolves `@file` values of `db-uri` and `jwt-secret`.
pub fn load(
    file_text: Option<&str>,
    env_vars: &[(String, String)],
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Config, ConfigError> {
    let mut map = match file_text {
        Some(t) => parse_file(t)?,
        None => BTreeMap::new(),
    };
    for (name, value) in env_vars {
        let Some(key) = key_from_env(name) else {
            continue;
        };
        let canon = canonical(&key)
            .ok_or_else(|| ConfigError::UnknownKey(format!("{key} (from {name})")))?;
        map.insert(canon, value.clone());
    }
    from_map(map, read_file)
}

fn invalid(key: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        why: why.into(),
    }
}

fn boolean(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" => Ok(true),
        "false" | "off" | "no" => Ok(false),
        _ => Err(invalid(
            key,
            format!("{v:?} is not a boolean (true or false)"),
        )),
    }
}

fn number<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| invalid(key, format!("{v:?} is not a valid number")))
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn one_of(key: &str, v: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{v:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

fn from_map(
    map: BTreeMap<String, String>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Config, ConfigError> {
    let get = |k: &str| map.get(k).map(String::as_str);
    let indirect = |k: &str, v: &str| -> Result<String, ConfigError> {
        match v.strip_prefix('@') {
            Some(path) => read_file(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| invalid(k, format!("cannot read {path}: {e}"))),
            None => Ok(v.to_string()),
        }
    };

    // Values of keys whose behaviour is not built are still validated where their type is known.
    for (key, value) in &map {
        match key.as_str() {
            "db-aggregates-enabled"
            | "db-channel-enabled"
            | "db-config"
            | "db-plan-enabled"
            | "db-pool-automatic-recovery"
            | "db-prepared-statements"
            | "log-query"
            | "openapi-security-active"
            | "server-reuseport"
            | "server-timing-enabled"
            | "url-use-legacy-target-names" => {
                boolean(key, value)?;
            }
            "admin-server-port"
            | "db-pool-max-idletime"
            | "db-pool-max-lifetime"
            | "jwt-cache-max-entries" => {
                number::<u64>(key, value)?;
            }
            "openapi-mode" => one_of(
                key,
                value,
                &["follow-privileges", "ignore-privileges", "disabled"],
            )?,
            "client-error-verbosity" => one_of(key, value, &["verbose", "minimal"])?,
            _ => {}
        }
    }

    let db_uri = indirect("db-uri", get("db-uri").unwrap_or("postgresql://"))?;
    let db_schemas = list(get("db-schemas").unwrap_or("public"));
    if db_schemas.is_empty() {
        return Err(invalid("db-schemas", "at least one schema is required"));
    }
    if let Some(bad) = db_schemas
        .iter()
        .find(|s| *s == "pg_catalog" || *s == "information_schema")
    {
        return Err(invalid("db-schemas", format!("{bad} cannot be exposed")));
    }
    let db_max_rows = get("db-max-rows")
        .map(|v| number::<u64>("db-max-rows", v))
        .transpose()?;
    let db_pool = get("db-pool")
        .map(|v| number::<usize>("db-pool", v))
        .transpose()?
        .unwrap_or(10);
    if db_pool == 0 {
        return Err(invalid("db-pool", "must be at least 1"));
    }
    let db_pool_acquisition_timeout_s = get("db-pool-acquisition-timeout")
        .map(|v| number::<u64>("db-pool-acquisition-timeout", v))
        .transpose()?
        .unwrap_or(10);
    let db_tx_end = match get("db-tx-end").unwrap_or("commit") {
        "commit" => TxEnd::Commit,
        "commit-allow-override" => TxEnd::CommitAllowOverride,
        "rollback" => TxEnd::Rollback,
        "rollback-allow-override" => TxEnd::RollbackAllowOverride,
        other => {
            return Err(invalid(
                "db-tx-end",
                format!("{other:?} is not one of commit, commit-allow-override, rollback, rollback-allow-override"),
            ))
        }
    };
    let jwt_secret_is_base64 = get("jwt-secret-is-base64")
        .map(|v| boolean("jwt-secret-is-base64", v))
        .transpose()?
        .unwrap_or(false);
    let jwt_secret = match get("jwt-secret") {
        None => None,
        Some(v) => {
            let raw = indirect("jwt-secret", v)?;
            if raw.trim_start().starts_with('{') {
                return Err(invalid(
                    "jwt-secret",
                    "JWK/JWKS secrets (asymmetric keys) are not supported by pgmesh yet; use an HS256 secret",
                ));
            }
            let key = if jwt_secret_is_base64 {
                let bytes = base64_decode(raw.trim()).ok_or_else(|| {
                    invalid(
                        "jwt-secret",
                        "not valid base64 (jwt-secret-is-base64 is true)",
                    )
                })?;
                String::from_utf8(bytes).map_err(|_| {
                    invalid(
                        "jwt-secret",
                        "the decoded secret must be UTF-8 text for pgmesh",
                    )
                })?
            } else {
                raw
            };
            if key.len() < 32 {
                return Err(invalid("jwt-secret", "must be at least 32 characters long"));
            }
            Some(Secret(key))
        }
    };
    let jwt_role_claim_key = get("jwt-role-claim-key").unwrap_or("$.role").to_string();
    RoleClaimPath::parse(&jwt_role_claim_key).map_err(|e| invalid("jwt-role-claim-key", e))?;
    let server_port = get("server-port")
        .map(|v| number::<u16>("server-port", v))
        .transpose()?
        .unwrap_or(3000);
    let server_host = match get("server-host") {
        None => String::from("127.0.0.1"),
        Some("*" | "*4" | "!4") => String::from("0.0.0.0"),
        Some("*6" | "!6") => String::from("::"),
        Some(h) => {
            h.parse::<std::net::IpAddr>().map_err(|_| {
                invalid(
                    "server-host",
                    format!("{h:?} is not an IP address (or *, *4, !4, *6, !6)"),
                )
            })?;
            h.to_string()
        }
    };
    let log_level = get("log-level").unwrap_or("error").to_string();
    one_of(
        "log-level",
        &log_level,
        &["crit", "error", "warn", "info", "debug"],
    )?;
    let app_settings = map
        .iter()
        .filter(|(k, _)| k.starts_with("app.settings."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unbuilt = map
        .keys()
        .filter(|k| !BUILT.contains(&k.as_str()) && !k.starts_with("app.settings."))
        .cloned()
        .collect();
    Ok(Config {
        db_uri: Secret(db_uri),
        db_schemas,
        db_anon_role: get("db-anon-role").map(String::from),
        db_max_rows,
        db_pool,
        db_pool_acquisition_timeout_s,
        db_tx_end,
        db_extra_search_path: list(get("db-extra-search-path").unwrap_or("public")),
        db_pre_request: get("db-pre-request").map(String::from),
        server_cors_allowed_origins: list(get("server-cors-allowed-origins").unwrap_or("")),
        db_hoisted_tx_settings: match get("db-hoisted-tx-settings") {
            Some(v) => list(v),
            None => sql_engine::settings::DEFAULT_HOISTED_TX_SETTINGS
                .map(String::from)
                .to_vec(),
        },
        jwt_cache_max_entries: get("jwt-cache-max-entries")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
        max_body_bytes: match get("pgmesh-max-body-bytes") {
            None => sql_engine::settings::DEFAULT_MAX_BODY_BYTES,
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                key: String::from("pgmesh-max-body-bytes"),
                why: String::from("expected a number of bytes"),
            })?,
        },
        db_channel: {
            let enabled = get("db-channel-enabled")
                .map(|v| boolean("db-channel-enabled", v))
                .transpose()?
                .unwrap_or(true);
            enabled.then(|| get("db-channel").unwrap_or("pgrst").to_string())
        },
        jwt_secret,
        jwt_aud: get("jwt-aud").map(String::from),
        jwt_role_claim_key,
        db_aggregates_enabled: get("db-aggregates-enabled")
            .map(|v| boolean("db-aggregates-enabled", v))
            .transpose()?
            .unwrap_or(false),
        server_host,
        server_port,
        log_level,
        app_settings,
        unbuilt,
    })
}

impl Config {
    /// The filter's part, as the Envoy plugin configuration (secrets excluded).
    pub fn api_settings(&self) -> ApiSettings {
        ApiSettings {
            db_schemas: self.db_schemas.clone(),
            db_anon_role: self.db_anon_role.clone(),
            db_max_rows: self.db_max_rows,
            jwt_aud: self.jwt_aud.clone(),
            jwt_role_claim_key: self.jwt_role_claim_key.clone(),
            db_aggregates_enabled: self.db_aggregates_enabled,
            sidecar_cluster: String::from("pgmesh_sidecar"),
            schema_poll_ms: 1000,
            db_tx_end: self.db_tx_end,
            max_body_bytes: self.max_body_bytes,
            jwt_cache_max_entries: self.jwt_cache_max_entries,
            server_cors_allowed_origins: self.server_cors_allowed_origins.clone(),
            db_hoisted_tx_settings: self.db_hoisted_tx_settings.clone(),
        }
    }

    /// The startup warning for keys that are accepted but not built yet.
    pub fn unbuilt_warning(&self) -> Option<String> {
        (!self.unbuilt.is_empty()).then(|| {
            format!(
                "warning: these configuration keys are accepted but not built by pgmesh yet and have no effect: {}",
                self.unbuilt.join(", ")
            )
        })
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files(_: &str) -> Result<String, String> {
        Err("no files in tests".into())
    }

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(Some(text), &env, &no_files)
    }

    #[test]
    fn parses_a_postgrest_config() {
        let c = load_text(
            r#"
            # comment
            db-uri = "postgres://authenticator:pw@localhost:5432/app"
            db-schemas = "api, api2"
            db-anon-role = "web_anon"
            jwt-secret = "reallyreallyreallyreallyverysafe"
            db-max-rows = 1000
            db-pool = 5
            db-tx-end = "rollback-allow-override"
            server-port = 3001
            app.settings.name = "x"
            "#,
            &[],
        );
        let Ok(c) = c else { unreachable!("{c:?}") };
        assert_eq!(c.db_schemas, vec!["api", "api2"]);
        assert_eq!(c.db_max_rows, Some(1000));
        assert_eq!(c.db_pool, 5);
        assert_eq!(c.db_tx_end, TxEnd::RollbackAllowOverride);
        assert_eq!(c.server_port, 3001);
        assert_eq!(c.server_host, "127.0.0.1");
        assert_eq!(
            c.app_settings,
            vec![("app.settings.name".to_string(), "x".to_string())]
        );
        assert!(c.unbuilt.is_empty());
        assert!(
            !format!("{c:?}").contains("reallyreally"),
            "secrets stay out of Debug"
        );
    }

    #[test]
    fn hoisted_tx_settings_default_to_postgrest_s_list_and_reach_the_filter() {
        let base = "db-uri = \"postgres://a@localhost/app\"\ndb-schemas = \"api\"\n";
        let Ok(c) = load_text(base, &[]) else {
            unreachable!()
        };
        assert_eq!(
            c.api_settings().db_hoisted_tx_settings,
            vec![
                "statement_timeout",
                "plan_filter.statement_cost_limit",
                "default_transaction_isolation"
            ]
        );
        let Ok(c) = load_text(
            &format!("{base}db-hoisted-tx-settings = \"statement_timeout, work_mem\"\n"),
            &[],
        ) else {
            unreachable!()
        };
        assert_eq!(
            c.api_settings().db_hoisted_tx_settings,
            vec!["statement_timeout", "work_mem"]
        );
        assert!(c.unbuilt.is_empty(), "{:?}", c.unbuilt);
    }

    #[test]
    fn parse_config_rejects_unknown_key() {
        assert_eq!(
            load_text("db-urii = \"x\"", &[]).err(),
            Some(ConfigError::UnknownKey("db-urii".into()))
        );
    }

    #[test]
    fn invalid_values_name_the_key() {
        let e = |t: &str| {
            load_text(t, &[])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(e("db-pool = \"many\"").contains("'db-pool'"));
        assert!(e("db-tx-end = \"sometimes\"").contains("'db-tx-end'"));
        assert!(e("jwt-secret = \"short\"").contains("'jwt-secret'"));
        assert!(e("server-host = \"not a host\"").contains("'server-host'"));
        assert!(e("db-plan-enabled = maybe").contains("'db-plan-enabled'"));
        assert!(e("openapi-mode = \"sometimes\"").contains("'openapi-mode'"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = load_text(
            "db-pool = 5\ndb-anon-role = \"a\"",
            &[
                ("PGRST_DB_POOL", "7"),
                ("PGRST_APP_SETTINGS_JWT_EXP", "3600"),
                ("HOME", "/root"),
            ],
        );
        let Ok(c) = c else { unreachable!("{c:?}") };
        assert_eq!(c.db_pool, 7);
        assert_eq!(c.db_anon_role.as_deref(), Some("a"));
        assert_eq!(
            c.app_settings,
            vec![("app.settings.jwt_exp".to_string(), "3600".to_string())]
        );
        assert!(load_text("", &[("PGRST_NOT_A_KEY", "1")]).is_err());
    }

    #[test]
    fn unbuilt_keys_are_warned_about_aliases_accepted() {
        let c = load_text(
            "db-plan-enabled = true\nmax-rows = 10\nopenapi-mode = \"disabled\"",
            &[],
        );
        let Ok(c) = c else { unreachable!("{c:?}") };
        assert_eq!(c.db_max_rows, Some(10));
        assert_eq!(c.unbuilt, vec!["db-plan-enabled", "openapi-mode"]);
        assert!(c
            .unbuilt_warning()
            .is_some_and(|w| w.contains("db-plan-enabled")));
    }

    #[test]
    fn server_host_specials() {
        let host = |h: &str| {
            load_text(&format!("server-host = \"{h}\""), &[])
                .map(|c| c.server_host)
                .unwrap_or_default()
        };
        assert_eq!(host("!4"), "0.0.0.0");
        assert_eq!(host("127.0.0.1"), "127.0.0.1");
        assert_eq!(host("*6"), "::");
    }

    #[test]
    fn base64_secret() {
        // "reallyreallyreallyreallyverysafe" in base64
        let c = load_text("jwt-secret = \"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU=\"\njwt-secret-is-base64 = true", &[]);
        assert_eq!(
            c.ok()
                .and_then(|c| c.jwt_secret)
                .map(|s| s.expose().to_string())
                .as_deref(),
            Some("reallyreallyreallyreallyverysafe")
        );
    }
}
