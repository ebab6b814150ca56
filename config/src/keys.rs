//! The configuration key table: every key pgmesh accepts, in one place. Parsing, validation, the
//! "not built yet" warning, `--dump-config` and `docs/configuration.md` are all driven by [`KEYS`].
//! Names, aliases and defaults follow PostgREST v16 (`src/library/PostgREST/Config.hs`); where
//! pgmesh's default differs, the meaning says so.

/// How a key's text value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PostgREST's boolean forms (see `parse_bool` in lib.rs).
    Bool,
    /// A non-negative whole number.
    Int,
    /// One of the listed words.
    Enum(&'static [&'static str]),
    Text,
    /// Text that must stay out of logs and `Debug` (it is printed by `--dump-config`, as PostgREST
    /// does, because the operator asked for it).
    Secret,
    /// Comma-separated; an empty value means the default, as PostgREST's `optString` does.
    List,
    /// Comma-separated; an empty value means an empty list (PostgREST's `optStringEmptyable`).
    EmptyableList,
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// The canonical name (the file key; `PGRST_` + upper snake case in the environment).
    pub name: &'static str,
    /// Older names PostgREST still accepts for the same key.
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    /// Whether pgmesh implements the key's behaviour; setting an unbuilt key gives a warning.
    pub built: bool,
    /// The default as config text (read like a set value); `None`: unset.
    pub default: Option<&'static str>,
    /// One line for docs/configuration.md.
    pub meaning: &'static str,
}

const TX_END: &[&str] = &[
    "commit",
    "commit-allow-override",
    "rollback",
    "rollback-allow-override",
];
/// PostgREST v16's `log-level` words, least to most verbose.
pub(crate) const LOG_LEVELS: &[&str] = &["crit", "error", "warn", "info", "debug"];

/// Every key PostgREST v16 knows, plus a few older internal ones and pgmesh's own.
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        name: "admin-server-host",
        aliases: &[],
        kind: Kind::Text,
        built: false,
        default: None,
        meaning: "Host of PostgREST's admin server; unset: `server-host`'s value.",
    },
    KeySpec {
        name: "admin-server-port",
        aliases: &[],
        kind: Kind::Int,
        built: false,
        default: None,
        meaning: "Port of the admin server (`/live`, `/ready`); must differ from `server-port`.",
    },
    KeySpec {
        name: "admin-server-unix-socket",
        aliases: &[],
        kind: Kind::Text,
        built: false,
        default: None,
        meaning: "Unix-domain socket for the admin server, instead of its port.",
    },
    KeySpec {
        name: "admin-server-unix-socket-mode",
        aliases: &[],
        kind: Kind::Text,
        built: false,
        default: Some("660"),
        meaning: "File mode (octal, 600 to 777) of the admin server's socket.",
    },
    KeySpec {
        name: "client-error-verbosity",
        aliases: &[],
        kind: Kind::Enum(&["verbose", "minimal"]),
        built: false,
        default: Some("verbose"),
        meaning: "`minimal` leaves `details` and `hint` out of error bodies.",
    },
    KeySpec {
        name: "db-aggregates-enabled",
        aliases: &[],
        kind: Kind::Bool,
        built: true,
        default: Some("false"),
        meaning: "Allows aggregate functions (`count()`, `sum()`, ...) in `select`.",
    },
    KeySpec {
        name: "db-anon-role",
        aliases: &[],
        kind: Kind::Text,
        built: true,
        default: None,
        meaning: "Role for requests without a JWT; unset: such requests are refused.",
    },
    KeySpec {
        name: "db-channel",
        aliases: &[],
        kind: Kind::Text,
        built: true,
        default: Some("pgrst"),
        meaning: "`NOTIFY` channel that reloads the schema cache.",
    },
    KeySpec {
        name: "db-channel-enabled",
        aliases: &[],
        kind: Kind::Bool,
        built: true,
        default: Some("true"),
        meaning: "Listens on `db-channel`.",
    },
    KeySpec {
        name: "db-config",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("true"),
        meaning: "Reads more configuration from the database (in-database configuration).",
    },
    KeySpec {
        name: "db-extra-search-path",
        aliases: &[],
        kind: Kind::EmptyableList,
        built: true,
        default: Some("public"),
        meaning: "Schemas added to every request's `search_path`, without endpoints of their own.",
    },
    KeySpec {
        name: "db-hoisted-tx-settings",
        aliases: &[],
        // PostgREST reads "" as its default list; pgmesh has always read it as "hoist nothing"
        // (an e2e test relies on it), which is the only way to turn hoisting off.
        kind: Kind::EmptyableList,
        built: true,
        default: Some(
            "statement_timeout,plan_filter.statement_cost_limit,default_transaction_isolation",
        ),
        meaning: "Function settings applied to the whole transaction when a function is called.",
    },
    KeySpec {
        name: "db-max-rows",
        aliases: &["max-rows"],
        kind: Kind::Int,
        built: true,
        default: None,
        meaning: "Most rows a read returns; unset: no limit.",
    },
    KeySpec {
        name: "db-plan-enabled",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("false"),
        meaning: "Allows `Accept: application/vnd.pgrst.plan` (`EXPLAIN` output).",
    },
    KeySpec {
        name: "db-pool",
        aliases: &[],
        kind: Kind::Int,
        built: true,
        default: Some("10"),
        meaning: "Most connections in the sidecar's pool (at least 1).",
    },
    KeySpec {
        name: "db-pool-acquisition-timeout",
        aliases: &[],
        kind: Kind::Int,
        built: true,
        default: Some("10"),
        meaning: "Seconds a request waits for a free pool connection.",
    },
    KeySpec {
        name: "db-pool-automatic-recovery",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("true"),
        meaning: "Retries the database connection after it is lost.",
    },
    KeySpec {
        name: "db-pool-max-idletime",
        aliases: &["db-pool-timeout"],
        kind: Kind::Int,
        built: false,
        default: Some("30"),
        meaning: "Seconds after which an unused pool connection is closed.",
    },
    KeySpec {
        name: "db-pool-max-lifetime",
        aliases: &[],
        kind: Kind::Int,
        built: false,
        default: Some("1800"),
        meaning: "Seconds after which a pool connection is replaced.",
    },
    KeySpec {
        name: "db-pre-config",
        aliases: &[],
        kind: Kind::Text,
        built: false,
        default: None,
        meaning: "Function that returns the in-database configuration.",
    },
    KeySpec {
        name: "db-pre-request",
        aliases: &["pre-request"],
        kind: Kind::Text,
        built: true,
        default: None,
        meaning: "Function called in every request's transaction before the main query.",
    },
    KeySpec {
        name: "db-prepared-statements",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("true"),
        meaning: "Prepares statements (off behind transaction-mode poolers).",
    },
    KeySpec {
        name: "db-root-spec",
        aliases: &["root-spec"],
        kind: Kind::Text,
        built: false,
        default: None,
        meaning: "Function whose result replaces the OpenAPI document at `/`.",
    },
    KeySpec {
        name: "db-schemas",
        aliases: &["db-schema"],
        kind: Kind::List,
        built: true,
        default: Some("public"),
        meaning: "Exposed schemas; the first is the default, others are chosen by profile headers.",
    },
    KeySpec {
        name: "db-tx-end",
        aliases: &[],
        kind: Kind::Enum(TX_END),
        built: true,
        default: Some("commit"),
        meaning: "How transactions end, and whether `Prefer: tx=` may override it.",
    },
    KeySpec {
        name: "db-uri",
        aliases: &[],
        kind: Kind::Secret,
        built: true,
        default: Some("postgresql://"),
        meaning: "libpq connection string or URI; `@file` reads it from a file.",
    },
    KeySpec {
        name: "internal-schema-cache-load-sleep",
        aliases: &[],
        kind: Kind::Int,
        built: false,
        default: None,
        meaning: "PostgREST test hook (older releases): delay while loading the schema cache.",
    },
    KeySpec {
        name: "internal-schema-cache-query-sleep",
        aliases: &[],
        kind: Kind::Int,
        built: false,
        default: None,
        meaning: "PostgREST test hook: delay in the schema cache query.",
    },
    KeySpec {
        name: "internal-schema-cache-query-sleep-before-queries",
        aliases: &[],
        kind: Kind::Int,
        built: false,
        default: None,
        meaning: "PostgREST test hook: delay before the schema cache queries.",
    },
    KeySpec {
        name: "internal-schema-cache-relationship-load-sleep",
        aliases: &[],
        kind: Kind::Int,
        built: false,
        default: None,
        meaning: "PostgREST test hook (older releases): delay while loading relationships.",
    },
    KeySpec {
        name: "jwt-aud",
        aliases: &[],
        kind: Kind::Text,
        built: true,
        default: None,
        meaning: "Required `aud` claim of JWTs; unset: not checked.",
    },
    KeySpec {
        name: "jwt-cache-max-entries",
        aliases: &[],
        kind: Kind::Int,
        built: true,
        default: Some("1000"),
        meaning: "Most verified JWTs cached; 0 disables the cache.",
    },
    KeySpec {
        name: "jwt-role-claim-key",
        aliases: &["role-claim-key"],
        kind: Kind::Text,
        built: true,
        default: Some("$.role"),
        meaning: "RFC 9535 JSONPath of the role in the JWT claims (PostgREST v14's JSPath too, with a warning); in the config file `$` is written `$$`.",
    },
    KeySpec {
        name: "jwt-secret",
        aliases: &[],
        kind: Kind::Secret,
        built: true,
        default: None,
        meaning: "As in PostgREST: a JWKS `{\"keys\":[…]}`, one JWK, or a plain secret of at least 32 characters (an HS256 key); `@file` reads it from a file. Verified algorithms: HS256/384/512, RS256/384/512, ES256/384/512, EdDSA (Ed25519), and PS256/384/512 beyond PostgREST.",
    },
    KeySpec {
        name: "jwt-secret-is-base64",
        aliases: &["secret-is-base64"],
        kind: Kind::Bool,
        built: true,
        default: Some("false"),
        meaning: "`jwt-secret` is base64 (standard or URL-safe alphabet); the decoded bytes may be binary.",
    },
    KeySpec {
        name: "log-level",
        aliases: &[],
        kind: Kind::Enum(LOG_LEVELS),
        built: true,
        default: Some("error"),
        meaning: "How much the sidecar logs: `crit`, `error`, `warn`, `info` or `debug`.",
    },
    KeySpec {
        name: "log-query",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("false"),
        meaning: "Logs each request's SQL at `log-level`.",
    },
    KeySpec {
        name: "openapi-mode",
        aliases: &[],
        kind: Kind::Enum(&["follow-privileges", "ignore-privileges", "disabled"]),
        built: false,
        default: Some("follow-privileges"),
        meaning: "Whether the OpenAPI document at `/` follows the role's privileges, or is off.",
    },
    KeySpec {
        name: "openapi-security-active",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("false"),
        meaning: "Includes security options in the OpenAPI document.",
    },
    KeySpec {
        name: "openapi-server-proxy-uri",
        aliases: &[],
        kind: Kind::Text,
        built: false,
        default: None,
        meaning: "Base URL the OpenAPI document announces.",
    },
    KeySpec {
        name: "pgmesh-max-body-bytes",
        aliases: &[],
        kind: Kind::Int,
        built: true,
        default: Some("104857600"),
        meaning: "pgmesh's own: larger request bodies are answered 413.",
    },
    KeySpec {
        name: "server-cors-allowed-origins",
        aliases: &[],
        kind: Kind::List,
        built: true,
        default: None,
        meaning: "Origins allowed by CORS; unset: any origin.",
    },
    KeySpec {
        name: "server-host",
        aliases: &[],
        kind: Kind::Text,
        built: true,
        default: Some("127.0.0.1"),
        meaning: "Address of the public listener; `*`, `*4`, `!4` mean 0.0.0.0 and `*6`, `!6` mean `::`. pgmesh's default is loopback (PostgREST's is `!4`).",
    },
    KeySpec {
        name: "server-port",
        aliases: &[],
        kind: Kind::Int,
        built: true,
        default: Some("3000"),
        meaning: "Port of the public listener.",
    },
    KeySpec {
        name: "server-reuseport",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("false"),
        meaning: "Sets `SO_REUSEPORT` on the listener.",
    },
    KeySpec {
        name: "server-timing-enabled",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("false"),
        meaning: "Adds a `Server-Timing` header to responses.",
    },
    KeySpec {
        name: "server-trace-header",
        aliases: &[],
        kind: Kind::Text,
        built: false,
        default: None,
        meaning: "Request header copied to the response, to trace requests.",
    },
    KeySpec {
        name: "server-unix-socket",
        aliases: &[],
        kind: Kind::Text,
        built: false,
        default: None,
        meaning: "Unix-domain socket for the public listener, instead of its port.",
    },
    KeySpec {
        name: "server-unix-socket-mode",
        aliases: &[],
        kind: Kind::Text,
        built: false,
        default: Some("660"),
        meaning: "File mode (octal, 600 to 777) of the public listener's socket.",
    },
    KeySpec {
        name: "url-use-legacy-target-names",
        aliases: &[],
        kind: Kind::Bool,
        built: false,
        default: Some("true"),
        meaning: "Allows a relationship's target name in filters even when it has an alias.",
    },
];

/// The spec of a canonical key or alias.
pub fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter()
        .find(|s| s.name == key || s.aliases.contains(&key))
}
