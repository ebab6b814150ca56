//! PostgREST-style configuration: a `key = value` file with PostgREST's key names, overridden by
//! `PGRST_*` environment variables. Every PostgREST key is accepted; keys whose behaviour pgmesh
//! has not built yet are reported as warnings; unknown keys and invalid values are errors that
//! name the key. The environment is injected, so tests pass a map.
//!
//! The keys themselves are data: [`KEYS`] (in `keys.rs`) drives parsing, validation, the warning,
//! [`Config::dump_config`] and the generated `docs/configuration.md` ([`reference_markdown`]).

mod docs;
mod keys;

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub use docs::reference_markdown;
pub use keys::{KeySpec, Kind, KEYS};
use pgmesh_auth::keys::{decode_secret_base64, KeySet};
use pgmesh_auth::role_path::RoleClaimPath;
use sql_engine::settings::ApiSettings;
pub use sql_engine::settings::TxEnd;

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

/// `log-level`, PostgREST v16's five levels, least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Crit,
    #[default]
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "crit" => Some(Self::Crit),
            "error" => Some(Self::Error),
            "warn" => Some(Self::Warn),
            "info" => Some(Self::Info),
            "debug" => Some(Self::Debug),
            _ => None,
        }
    }

    /// The word PostgREST's configuration uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Crit => "crit",
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// `jwt-secret` as given (after `@file`): a plain secret, a JWK or a JWKS, in base64 when
    /// `jwt-secret-is-base64`. The filter gets it so, with the flag, and reads it with the
    /// same code (a binary secret can only pass through the environment in base64).
    pub jwt_secret: Option<Secret>,
    pub jwt_secret_is_base64: bool,
    pub jwt_aud: Option<String>,
    pub jwt_role_claim_key: String,
    /// PostgREST's startup warning when `jwt-role-claim-key` uses the deprecated JSPath DSL.
    pub jwt_role_claim_key_warning: Option<String>,
    pub db_aggregates_enabled: bool,
    /// Address for the public listener.
    pub server_host: String,
    pub server_port: u16,
    pub log_level: LogLevel,
    /// `app.settings.*` GUCs set in every transaction, by full name.
    pub app_settings: Vec<(String, String)>,
    /// Keys that are set but whose behaviour pgmesh has not built yet.
    pub unbuilt: Vec<String>,
    /// Every key's effective value, in [`KEYS`] order, for `--dump-config`.
    effective: Vec<(&'static KeySpec, Value)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config line {line}: cannot parse {text:?} (expected key = value)")]
    Syntax { line: usize, text: String },
    #[error("unknown configuration key '{0}'")]
    UnknownKey(String),
    #[error("invalid value for '{key}': {why}")]
    Invalid { key: String, why: String },
    /// A quoted value's `$` that is neither `$$` nor `$(name)` of a known name.
    #[error("config line {line}: {why}")]
    Interpolation { line: usize, why: String },
}

/// A key's value once read by its [`Kind`], defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Unset,
    Bool(bool),
    Int(u64),
    Text(String),
    List(Vec<String>),
    Secret(Secret),
}

impl Value {
    /// As PostgREST's `--dump-config` prints it: booleans and numbers bare, the rest quoted,
    /// lists joined by commas, an unset value as `""`.
    fn dump(&self) -> String {
        match self {
            Value::Unset => quote(""),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Text(s) => quote(s),
            Value::List(items) => quote(&items.join(",")),
            Value::Secret(s) => quote(s.expose()),
        }
    }
}

/// PostgREST's dump escapes only `"`; `\` is escaped too so that a dump reads back unchanged,
/// and `$` is written `$$` as the file syntax wants (PostgREST does so for
/// `jwt-role-claim-key` only, the one value where a `$` is common).
fn quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "$$")
    )
}

fn canonical(key: &str) -> Option<String> {
    if let Some(rest) = key.strip_prefix("app.settings.") {
        return (!rest.is_empty()).then(|| key.to_string());
    }
    keys::spec(key).map(|s| s.name.to_string())
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
/// The flag tells a quoted string, whose `$` forms [`interpolate`] reads.
fn parse_value(raw: &str) -> Option<(String, bool)> {
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => {
                    let tail = chars.as_str().trim();
                    return (tail.is_empty() || tail.starts_with('#')).then_some((out, true));
                }
                c => out.push(c),
            }
        }
        None
    } else {
        let bare = raw.split('#').next().unwrap_or("").trim();
        (!bare.is_empty()).then(|| (bare.to_string(), false))
    }
}

/// The file syntax of PostgREST's configuration library (configurator) in a quoted string:
/// `$$` is one `$`; `$(name)` is the value of `name` set earlier in the file, else of the
/// environment variable `name`; any other `$` is an error, as in PostgREST.
fn interpolate(
    value: &str,
    earlier: &BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            let end = r
                .find(')')
                .filter(|&e| e > 0)
                .ok_or_else(|| format!("{value:?}: `$(` needs a name and `)`"))?;
            let name = &r[..end];
            let found = earlier
                .get(name)
                .cloned()
                .or_else(|| env(name))
                .ok_or_else(|| format!("{value:?}: no such variable {name:?}"))?;
            out.push_str(&found);
            rest = &r[end + 1..];
        } else {
            return Err(format!(
                "{value:?}: a `$` must be written `$$` in the config file (or start `$(name)`)"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads a config file's text into key → value (canonical keys); `$(name)` reads the process
/// environment.
pub fn parse_file(text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    parse_file_with_env(text, &|name| std::env::var(name).ok())
}

/// [`parse_file`], `$(name)` reading `env`.
pub fn parse_file_with_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    // Names as written in the file, for `$(name)`.
    let mut earlier = BTreeMap::new();
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
        let (value, quoted) = parse_value(value).ok_or_else(syntax)?;
        let value = if quoted {
            interpolate(&value, &earlier, env)
                .map_err(|why| ConfigError::Interpolation { line: i + 1, why })?
        } else {
            value
        };
        let canon = canonical(key).ok_or_else(|| ConfigError::UnknownKey(key.to_string()))?;
        earlier.insert(key.to_string(), value.clone());
        map.insert(canon, value);
    }
    Ok(map)
}

/// Loads the configuration: file text (if any), then `PGRST_*` overrides from `env_vars`.
/// `read_file` resolves `@file` values of `db-uri` and `jwt-secret`; the file's `$(name)`
/// reads the process environment.
pub fn load(
    file_text: Option<&str>,
    env_vars: &[(String, String)],
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Config, ConfigError> {
    load_with_env(
        file_text,
        env_vars,
        &|name| std::env::var(name).ok(),
        read_file,
    )
}

/// [`load`], the file's `$(name)` reading `env`.
pub fn load_with_env(
    file_text: Option<&str>,
    env_vars: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Config, ConfigError> {
    let mut map = match file_text {
        Some(t) => parse_file_with_env(t, env)?,
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

/// PostgREST's `coerceBool`: a word whose letters spell true or false in any case (so `TRUE`
/// and `"\"true\""` are both true), else a whole number, true when above zero (`"2"` is true,
/// `"0"` and `"-1"` false). The words on/off (bare booleans in PostgREST's file syntax) and
/// yes/no are accepted too. Where PostgREST falls back to the default for anything else, pgmesh
/// refuses it, naming the key.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" => return Some(true),
        "false" | "off" | "no" => return Some(false),
        _ => {}
    }
    let letters: String = v
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    match letters.as_str() {
        "true" => return Some(true),
        "false" => return Some(false),
        _ => {}
    }
    let number = v.trim();
    let (negative, digits) = match number.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, number),
    };
    // Digits rather than an integer parse: PostgREST reads any size of Integer.
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| !negative && digits.bytes().any(|b| b != b'0'))
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

/// Reads one key by its kind. An empty value means the default, as PostgREST's `optString`
/// filters `""` out, except for lists where empty is a value of its own.
fn read(spec: &KeySpec, set: Option<&str>) -> Result<Value, ConfigError> {
    let raw = match set {
        Some(v) if !v.is_empty() || spec.kind == Kind::EmptyableList => Some(v),
        _ => spec.default,
    };
    let Some(raw) = raw else {
        return Ok(Value::Unset);
    };
    let key = spec.name;
    Ok(match spec.kind {
        Kind::Bool => Value::Bool(parse_bool(raw).ok_or_else(|| {
            invalid(
                key,
                format!("{raw:?} is not a boolean (true, false or a number)"),
            )
        })?),
        Kind::Int => Value::Int(number(key, raw)?),
        Kind::Enum(allowed) => {
            one_of(key, raw, allowed)?;
            Value::Text(raw.to_string())
        }
        Kind::Text => Value::Text(raw.to_string()),
        Kind::Secret => Value::Secret(Secret(raw.to_string())),
        Kind::List | Kind::EmptyableList => Value::List(list(raw)),
    })
}

/// The keys' values by name; a name missing from [`KEYS`] or read as the wrong kind is a pgmesh
/// bug, reported as an error rather than a panic (every test that loads a config catches it).
struct Values(Vec<(&'static KeySpec, Value)>);

impl Values {
    fn get(&self, key: &str) -> Result<&Value, ConfigError> {
        self.0
            .iter()
            .find(|(s, _)| s.name == key)
            .map(|(_, v)| v)
            .ok_or_else(|| invalid(key, "not in pgmesh's key table (a pgmesh bug)"))
    }

    fn set(&mut self, key: &str, value: Value) {
        if let Some(slot) = self.0.iter_mut().find(|(s, _)| s.name == key) {
            slot.1 = value;
        }
    }

    fn bug(key: &str) -> ConfigError {
        invalid(key, "read as the wrong kind (a pgmesh bug)")
    }

    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match self.get(key)? {
            Value::Bool(b) => Ok(*b),
            _ => Err(Self::bug(key)),
        }
    }

    fn int(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(key)? {
            Value::Int(n) => Ok(Some(*n)),
            Value::Unset => Ok(None),
            _ => Err(Self::bug(key)),
        }
    }

    /// An integer key with a default in the table, so always set.
    fn int_set(&self, key: &str) -> Result<u64, ConfigError> {
        self.int(key)?.ok_or_else(|| Self::bug(key))
    }

    fn text(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.get(key)? {
            Value::Text(s) => Ok(Some(s)),
            Value::Unset => Ok(None),
            _ => Err(Self::bug(key)),
        }
    }

    fn text_set(&self, key: &str) -> Result<&str, ConfigError> {
        self.text(key)?.ok_or_else(|| Self::bug(key))
    }

    fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.get(key)? {
            Value::List(items) => Ok(items.clone()),
            Value::Unset => Ok(Vec::new()),
            _ => Err(Self::bug(key)),
        }
    }

    fn secret(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.get(key)? {
            Value::Secret(s) => Ok(Some(s.expose())),
            Value::Unset => Ok(None),
            _ => Err(Self::bug(key)),
        }
    }
}

fn from_map(
    map: BTreeMap<String, String>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Config, ConfigError> {
    let indirect = |k: &str, v: &str| -> Result<String, ConfigError> {
        match v.strip_prefix('@') {
            Some(path) => read_file(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| invalid(k, format!("cannot read {path}: {e}"))),
            None => Ok(v.to_string()),
        }
    };

    // Every key is read, set or not, so its value is validated by its kind even when pgmesh has
    // not built its behaviour, and so `--dump-config` has a value for each.
    let mut values = Values(Vec::with_capacity(KEYS.len()));
    for spec in KEYS {
        let value = read(spec, map.get(spec.name).map(String::as_str))?;
        values.0.push((spec, value));
    }

    let db_uri = indirect("db-uri", values.secret("db-uri")?.unwrap_or_default())?;
    values.set("db-uri", Value::Secret(Secret(db_uri.clone())));
    let db_schemas = values.list("db-schemas")?;
    if db_schemas.is_empty() {
        return Err(invalid("db-schemas", "at least one schema is required"));
    }
    if let Some(bad) = db_schemas
        .iter()
        .find(|s| *s == "pg_catalog" || *s == "information_schema")
    {
        return Err(invalid("db-schemas", format!("{bad} cannot be exposed")));
    }
    let db_pool = usize::try_from(values.int_set("db-pool")?)
        .map_err(|_| invalid("db-pool", "is too large"))?;
    if db_pool == 0 {
        return Err(invalid("db-pool", "must be at least 1"));
    }
    let db_tx_end = match values.text_set("db-tx-end")? {
        "commit" => TxEnd::Commit,
        "commit-allow-override" => TxEnd::CommitAllowOverride,
        "rollback" => TxEnd::Rollback,
        "rollback-allow-override" => TxEnd::RollbackAllowOverride,
        _ => return Err(Values::bug("db-tx-end")),
    };
    let jwt_secret_is_base64 = values.bool("jwt-secret-is-base64")?;
    let jwt_secret = match values.secret("jwt-secret")? {
        None => None,
        Some(v) => {
            let raw = indirect("jwt-secret", v)?;
            let bytes = if jwt_secret_is_base64 {
                decode_secret_base64(&raw).ok_or_else(|| {
                    invalid(
                        "jwt-secret",
                        "not valid base64 (jwt-secret-is-base64 is true)",
                    )
                })?
            } else {
                raw.as_bytes().to_vec()
            };
            // The filter reads the same value with the same code: what starts here verifies.
            KeySet::from_secret(&bytes).map_err(|e| invalid("jwt-secret", e))?;
            // PostgREST dumps a base64 secret decoded and encoded again, in the standard
            // alphabet (Config.hs showJwtSecret), and any other as read (after `@file`).
            let dumped = if jwt_secret_is_base64 {
                STANDARD.encode(&bytes)
            } else {
                raw.clone()
            };
            values.set("jwt-secret", Value::Secret(Secret(dumped)));
            Some(Secret(raw))
        }
    };
    let jwt_role_claim_key = values.text_set("jwt-role-claim-key")?.to_string();
    let role_path =
        RoleClaimPath::parse(&jwt_role_claim_key).map_err(|e| invalid("jwt-role-claim-key", e))?;
    // The deprecated form is dumped as PostgREST dumps it (`."key"`).
    values.set("jwt-role-claim-key", Value::Text(role_path.dump()));
    let server_port = u16::try_from(values.int_set("server-port")?)
        .map_err(|_| invalid("server-port", "is not a port number (0 to 65535)"))?;
    let server_host = match values.text_set("server-host")? {
        "*" | "*4" | "!4" => String::from("0.0.0.0"),
        "*6" | "!6" => String::from("::"),
        h => {
            h.parse::<std::net::IpAddr>().map_err(|_| {
                invalid(
                    "server-host",
                    format!("{h:?} is not an IP address (or *, *4, !4, *6, !6)"),
                )
            })?;
            h.to_string()
        }
    };
    values.set("server-host", Value::Text(server_host.clone()));
    // PostgREST's admin server binds to server-host unless told otherwise.
    if values.text("admin-server-host")?.is_none() {
        values.set("admin-server-host", Value::Text(server_host.clone()));
    }
    let log_level =
        LogLevel::parse(values.text_set("log-level")?).ok_or_else(|| Values::bug("log-level"))?;
    let app_settings = map
        .iter()
        .filter(|(k, _)| k.starts_with("app.settings."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unbuilt = map
        .keys()
        .filter(|k| keys::spec(k).is_some_and(|s| !s.built))
        .cloned()
        .collect();
    Ok(Config {
        db_uri: Secret(db_uri),
        db_schemas,
        db_anon_role: values.text("db-anon-role")?.map(String::from),
        db_max_rows: values.int("db-max-rows")?,
        db_pool,
        db_pool_acquisition_timeout_s: values.int_set("db-pool-acquisition-timeout")?,
        db_tx_end,
        db_extra_search_path: values.list("db-extra-search-path")?,
        db_pre_request: values.text("db-pre-request")?.map(String::from),
        server_cors_allowed_origins: values.list("server-cors-allowed-origins")?,
        db_hoisted_tx_settings: values.list("db-hoisted-tx-settings")?,
        jwt_cache_max_entries: values.int_set("jwt-cache-max-entries")?,
        max_body_bytes: values.int_set("pgmesh-max-body-bytes")?,
        db_channel: {
            let enabled = values.bool("db-channel-enabled")?;
            enabled
                .then(|| values.text_set("db-channel").map(String::from))
                .transpose()?
        },
        jwt_secret,
        jwt_secret_is_base64,
        jwt_aud: values.text("jwt-aud")?.map(String::from),
        jwt_role_claim_key,
        jwt_role_claim_key_warning: role_path.deprecation_warning(),
        db_aggregates_enabled: values.bool("db-aggregates-enabled")?,
        server_host,
        server_port,
        log_level,
        app_settings,
        unbuilt,
        effective: values.0,
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
            jwt_secret_is_base64: self.jwt_secret_is_base64,
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

    /// `--dump-config`'s output, in PostgREST's format: one sorted `key = value` line per key
    /// (defaults included) and per `app.settings.*` setting. It reads back as a config file to
    /// the same configuration. Secrets are printed, as PostgREST does: the operator asked.
    /// PostgREST leaves its `internal-*` test keys out, and so does pgmesh.
    pub fn dump_config(&self) -> String {
        let mut lines: Vec<String> = self
            .effective
            .iter()
            .filter(|(spec, _)| !spec.name.starts_with("internal-"))
            .map(|(spec, value)| format!("{} = {}", spec.name, value.dump()))
            .chain(
                self.app_settings
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", quote(v))),
            )
            .collect();
        lines.sort();
        lines.into_iter().map(|l| l + "\n").collect()
    }
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

    /// A config file whose `$(name)` reads `vars` instead of the process environment.
    fn load_file_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        load_with_env(Some(text), &[], &lookup, &no_files)
    }

    #[test]
    fn a_dollar_in_the_file_is_written_twice() {
        let c = load_file_env(
            "jwt-role-claim-key = \"$$.app.roles[?search(@, '^a.$$')]\"\n",
            &[],
        )
        .expect("loads");
        assert_eq!(c.jwt_role_claim_key, "$.app.roles[?search(@, '^a.$')]");
        assert!(c
            .dump_config()
            .contains("jwt-role-claim-key = \"$$.app.roles[?search(@, '^a.$$')]\"\n"));
        // The default is `$.role`, dumped `$$.role` as PostgREST does.
        let d = load_file_env("", &[]).expect("loads");
        assert_eq!(d.jwt_role_claim_key, "$.role");
        assert!(d
            .dump_config()
            .contains("jwt-role-claim-key = \"$$.role\"\n"));
        // Every quoted value reads `$$` so, and its dump writes it back so.
        let e = load_file_env("db-anon-role = \"us$$er\"\n", &[]).expect("loads");
        assert_eq!(e.db_anon_role.as_deref(), Some("us$er"));
        assert!(e.dump_config().contains("db-anon-role = \"us$$er\"\n"));
    }

    #[test]
    fn a_lone_dollar_in_the_file_is_an_error() {
        for (text, why) in [
            ("jwt-role-claim-key = \"$.role\"", "must be written `$$`"),
            ("db-anon-role = \"anon$\"", "must be written `$$`"),
            ("db-anon-role = \"$(unclosed\"", "needs a name and `)`"),
            ("db-anon-role = \"$()\"", "needs a name and `)`"),
            (
                "db-anon-role = \"$(NOT_SET)\"",
                "no such variable \"NOT_SET\"",
            ),
        ] {
            match load_file_env(&format!("db-schemas = \"api\"\n{text}\n"), &[]) {
                Err(ConfigError::Interpolation { line: 2, why: w }) => {
                    assert!(w.contains(why), "{text}: {w}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn interpolation_reads_earlier_keys_then_the_environment() {
        let c = load_file_env(
            "db-anon-role = \"anon\"\ndb-schemas = \"$(db-anon-role),$(SCHEMA)\"\n\
             jwt-aud = \"https://$(HOST)/$$x\"\n",
            &[("SCHEMA", "api"), ("HOST", "example.com")],
        )
        .expect("loads");
        assert_eq!(c.db_schemas, ["anon", "api"]);
        assert_eq!(c.jwt_aud.as_deref(), Some("https://example.com/$x"));
        // A later key is not seen yet; the environment is asked instead.
        let later = load_file_env(
            "db-schemas = \"$(db-anon-role)\"\ndb-anon-role = \"anon\"\n",
            &[],
        );
        assert!(
            matches!(later, Err(ConfigError::Interpolation { line: 1, .. })),
            "{later:?}"
        );
    }

    #[test]
    fn environment_values_take_a_single_dollar() {
        let c = load_text("", &[("PGRST_JWT_ROLE_CLAIM_KEY", "$.app.role")]).expect("loads");
        assert_eq!(c.jwt_role_claim_key, "$.app.role");
        // `$$` is the file syntax only: from the environment it is no JSONPath.
        let e = load_text("", &[("PGRST_JWT_ROLE_CLAIM_KEY", "$$.app.role")]);
        assert!(
            matches!(&e, Err(ConfigError::Invalid { key, .. }) if key == "jwt-role-claim-key"),
            "{e:?}"
        );
    }

    #[test]
    fn the_deprecated_role_claim_key_loads_with_postgrest_s_warning() {
        let c = load_text("jwt-role-claim-key = \".roles[0]\"\n", &[]).expect("loads");
        assert_eq!(c.jwt_role_claim_key, ".roles[0]");
        let w = c.jwt_role_claim_key_warning.clone().expect("a warning");
        assert!(
            w.contains("`jwt-role-claim-key=.\"roles\"[0]` is using the deprecated JSPath syntax"),
            "{w}"
        );
        assert!(c
            .dump_config()
            .contains("jwt-role-claim-key = \".\\\"roles\\\"[0]\"\n"));
        let rfc = load_text("jwt-role-claim-key = \"$$.roles[0]\"\n", &[]).expect("loads");
        assert_eq!(rfc.jwt_role_claim_key_warning, None);
        let bad = load_text("jwt-role-claim-key = \"roles\"\n", &[]);
        assert!(
            matches!(&bad, Err(ConfigError::Invalid { key, .. }) if key == "jwt-role-claim-key"),
            "{bad:?}"
        );
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
        let c = c.unwrap();
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
        let c = load_text(base, &[]).unwrap();
        assert_eq!(
            c.api_settings().db_hoisted_tx_settings,
            vec![
                "statement_timeout",
                "plan_filter.statement_cost_limit",
                "default_transaction_isolation"
            ]
        );
        let c = load_text(
            &format!("{base}db-hoisted-tx-settings = \"statement_timeout, work_mem\"\n"),
            &[],
        )
        .unwrap();
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
                .expect_err("an invalid value is refused")
                .to_string()
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
        let c = c.unwrap();
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
        let c = c.unwrap();
        assert_eq!(c.db_max_rows, Some(10));
        assert_eq!(c.unbuilt, vec!["db-plan-enabled", "openapi-mode"]);
        assert!(c
            .unbuilt_warning()
            .expect("unbuilt keys are warned about")
            .contains("db-plan-enabled"));
    }

    #[test]
    fn server_host_specials() {
        let host = |h: &str| {
            load_text(&format!("server-host = \"{h}\""), &[])
                .unwrap()
                .server_host
        };
        assert_eq!(host("!4"), "0.0.0.0");
        assert_eq!(host("127.0.0.1"), "127.0.0.1");
        assert_eq!(host("*6"), "::");
    }

    #[test]
    fn base64_secret() {
        // "reallyreallyreallyreallyverysafe" in base64
        let c = load_text("jwt-secret = \"cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU=\"\njwt-secret-is-base64 = true", &[]).unwrap();
        // The filter gets the value as given, with the flag.
        assert_eq!(
            c.jwt_secret.as_ref().map(Secret::expose),
            Some("cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU=")
        );
        assert!(c.api_settings().jwt_secret_is_base64);
        assert_eq!(
            c.jwt_secret
                .as_ref()
                .map(|s| decode_secret_base64(s.expose())),
            Some(Some(b"reallyreallyreallyreallyverysafe".to_vec()))
        );
    }

    #[test]
    fn booleans_take_postgrest_s_forms() {
        // PostgREST's coerceBool: letters spelling true/false in any case, else a number > 0.
        for (text, want) in [
            ("true", Some(true)),
            ("FALSE", Some(false)),
            ("True", Some(true)),
            ("\"true\"", Some(true)),
            ("'false'", Some(false)),
            ("on", Some(true)),
            ("off", Some(false)),
            ("yes", Some(true)),
            ("no", Some(false)),
            ("1", Some(true)),
            ("0", Some(false)),
            ("2", Some(true)),
            (" 13 ", Some(true)),
            ("-1", Some(false)),
            ("00", Some(false)),
            ("123456789012345678901234567890", Some(true)),
            ("maybe", None),
            ("", None),
            ("-", None),
            ("1.5", None),
        ] {
            assert_eq!(parse_bool(text), want, "{text:?}");
        }
    }

    #[test]
    fn postgrest_s_boolean_configs_load() {
        // PostgREST's test/io/configs/boolean-numeric.config and boolean-string.config.
        let c = load_text(
            "db-channel-enabled = \"1\"\ndb-prepared-statements = \"0\"\njwt-secret-is-base64 = \"2\"\n",
            &[],
        );
        let c = c.unwrap();
        assert_eq!(c.db_channel.as_deref(), Some("pgrst"));
        assert!(c.dump_config().contains("\njwt-secret-is-base64 = true\n"));
        assert!(c
            .dump_config()
            .contains("\ndb-prepared-statements = false\n"));
        let c = load_text(
            "db-channel-enabled = \"true\"\ndb-prepared-statements = \"FALSE\"\njwt-secret-is-base64 = \"\\\"true\\\"\"\n",
            &[],
        );
        let c = c.unwrap();
        assert!(c.dump_config().contains("\njwt-secret-is-base64 = true\n"));
        let c = load_text("db-channel-enabled = \"0\"\n", &[]);
        assert_eq!(c.unwrap().db_channel, None);
        let c = load_text("", &[("PGRST_DB_AGGREGATES_ENABLED", "1")]);
        assert!(c.unwrap().db_aggregates_enabled);
    }

    #[test]
    fn log_level_is_typed_and_maps_to_tracing_levels() {
        let level = |t: &str| load_text(t, &[]).map(|c| c.log_level);
        assert_eq!(level(""), Ok(LogLevel::Error));
        assert_eq!(level("log-level = \"crit\""), Ok(LogLevel::Crit));
        assert_eq!(level("log-level = \"debug\""), Ok(LogLevel::Debug));
        assert!(level("log-level = \"verbose\"")
            .unwrap_err()
            .to_string()
            .contains("'log-level'"));
        // Every level the key table lists reads back as itself.
        for word in keys::LOG_LEVELS {
            assert_eq!(LogLevel::parse(word).map(|l| l.as_str()), Some(*word));
        }
        assert_eq!(keys::LOG_LEVELS.len(), 5);
    }

    #[test]
    fn the_key_table_is_consistent() {
        let mut names: Vec<&str> = KEYS
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a name or alias appears twice");
        let sorted: Vec<&str> = KEYS.iter().map(|s| s.name).collect();
        let mut expected = sorted.clone();
        expected.sort_unstable();
        assert_eq!(sorted, expected, "KEYS is kept in alphabetical order");
        for spec in KEYS {
            assert!(
                read(spec, None).is_ok(),
                "{}'s default does not parse",
                spec.name
            );
            assert!(
                spec.kind != Kind::Bool || spec.default.is_some(),
                "{} is a boolean without a default",
                spec.name
            );
            assert!(!spec.meaning.is_empty() && !spec.meaning.contains('\n'));
        }
        // The defaults that live in sql-engine too.
        let default = |k: &str| keys::spec(k).and_then(|s| s.default);
        assert_eq!(
            default("db-hoisted-tx-settings").map(String::from),
            Some(sql_engine::settings::DEFAULT_HOISTED_TX_SETTINGS.join(","))
        );
        assert_eq!(
            default("pgmesh-max-body-bytes").map(String::from),
            Some(sql_engine::settings::DEFAULT_MAX_BODY_BYTES.to_string())
        );
        // Every enum word is one the typed fields understand.
        let Some(Kind::Enum(words)) = keys::spec("db-tx-end").map(|s| s.kind) else {
            panic!("db-tx-end is an enum key");
        };
        for w in words {
            let c = load_text(&format!("db-tx-end = \"{w}\""), &[]);
            assert!(c.is_ok(), "{w}: {c:?}");
        }
    }

    #[test]
    fn empty_values_mean_the_default() {
        let c = load_text(
            "db-max-rows = \"\"\ndb-pool = \"\"\ndb-anon-role = \"\"\ndb-extra-search-path = \"\"\n",
            &[],
        );
        let c = c.unwrap();
        assert_eq!(c.db_max_rows, None);
        assert_eq!(c.db_pool, 10);
        assert_eq!(c.db_anon_role, None);
        assert!(c.db_extra_search_path.is_empty());
        let c = load_text("db-hoisted-tx-settings = \"\"", &[]);
        assert_eq!(
            c.map(|c| c.db_hoisted_tx_settings),
            Ok(Vec::new()),
            "an empty list turns hoisting off"
        );
    }

    #[test]
    fn base64_secrets_use_postgrest_s_alphabets_and_dump_re_encoded() {
        // Bytes that encode with + and / in the standard alphabet, - and _ in the URL-safe one.
        let secret = "reallyreallyreallyreallyverysafe>>>???";
        let standard = STANDARD.encode(secret);
        assert!(standard.contains('+') || standard.contains('/'));
        let url_safe = standard
            .replace('+', "-")
            .replace('/', "_")
            .replace('=', "");
        for text in [&standard, &url_safe] {
            let c = load_text(
                &format!("jwt-secret = \"{text}\"\njwt-secret-is-base64 = true"),
                &[],
            );
            let c = c.unwrap();
            assert_eq!(
                c.jwt_secret
                    .as_ref()
                    .map(|s| decode_secret_base64(s.expose())),
                Some(Some(secret.as_bytes().to_vec()))
            );
            assert!(c
                .dump_config()
                .contains(&format!("\njwt-secret = \"{standard}\"\n")));
        }
        assert!(
            load_text("jwt-secret = \"***\"\njwt-secret-is-base64 = true", &[])
                .unwrap_err()
                .to_string()
                .contains("'jwt-secret'")
        );
    }

    #[test]
    fn jwt_secret_takes_every_postgrest_form() {
        // A JWK, a JWKS, binary bytes in base64: each starts, and dumps as PostgREST does.
        let jwk = r#"{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","kid":"1"}"#;
        let quoted = |t: &str| t.replace('"', "\\\"");
        for text in [jwk.to_string(), format!(r#"{{"keys":[{jwk}]}}"#)] {
            let c = load_text(&format!("jwt-secret = \"{}\"", quoted(&text)), &[]).unwrap();
            assert_eq!(
                c.jwt_secret.as_ref().map(Secret::expose),
                Some(text.as_str())
            );
            assert!(c
                .dump_config()
                .contains(&format!("\njwt-secret = \"{}\"\n", quoted(&text))));
        }
        let binary: Vec<u8> = (0u8..=255).collect();
        let text = STANDARD.encode(&binary);
        let c = load_text(
            &format!("jwt-secret = \"{text}\"\njwt-secret-is-base64 = true"),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.jwt_secret.as_ref().map(Secret::expose),
            Some(text.as_str())
        );
        // A JWKS in a file, with its trailing newline.
        let c = load(
            Some("jwt-secret = \"@/keys/jwks.json\""),
            &[],
            &|path: &str| {
                assert_eq!(path, "/keys/jwks.json");
                Ok(format!("{{\"keys\":[{jwk}]}}\n"))
            },
        )
        .unwrap();
        assert_eq!(
            c.jwt_secret.as_ref().map(Secret::expose),
            Some(format!("{{\"keys\":[{jwk}]}}").as_str())
        );
        // Too short, in base64 too: PostgREST's message.
        for t in [
            "jwt-secret = \"short\"",
            "jwt-secret = \"c2hvcnQ=\"\njwt-secret-is-base64 = true",
        ] {
            assert!(load_text(t, &[])
                .unwrap_err()
                .to_string()
                .contains("The JWT secret must be at least 32 characters long."));
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_even_with_the_dump_table() {
        let c = load_text(
            "db-uri = \"postgres://u:hunter2hunter2@h/d\"\njwt-secret = \"reallyreallyreallyreallyverysafe\"",
            &[],
        );
        let c = c.unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("reallyreally"));
        assert!(c.dump_config().contains("hunter2"), "the dump prints them");
    }

    #[test]
    fn a_dump_reads_back_to_the_same_dump() {
        let c = load_text(
            "db-schemas = \"api, v2\"\nserver-host = \"!4\"\napp.settings.q = \"say \\\"hi\\\" \\\\o/\"\ndb-plan-enabled = \"1\"",
            &[],
        );
        let c = c.unwrap();
        let dump = c.dump_config();
        let again = load_text(&dump, &[]).map(|c| c.dump_config());
        assert_eq!(again.as_deref(), Ok(dump.as_str()));
    }
}
