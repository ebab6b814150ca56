//! Config goldens in the spirit of PostgREST's `test/io/configs`: config text (and environment)
//! in, `--dump-config` text out. The cases marked "PostgREST's" are its input files; their dumps
//! differ from PostgREST's expected ones only where pgmesh differs on purpose: `server-host`
//! (and so `admin-server-host`) defaults to loopback and shows the bound address rather than
//! `!4`, and `pgmesh-max-body-bytes` is pgmesh's own key. (PostgREST's defaults case also sets
//! `db-config = false` and an unknown key, which pgmesh refuses; here it is the empty file.)
//! Review a changed snapshot with `cargo insta review`, or accept with `INSTA_UPDATE=always`.

use pgmesh_config::{load, Config, ConfigError};

fn no_files(path: &str) -> Result<String, String> {
    match path {
        "/run/secrets/db-uri" => Ok(String::from("postgres://authenticator@db/app\n")),
        _ => Err(String::from("no such file")),
    }
}

fn load_case(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(Some(text), &env, &no_files)
}

/// The dump, after checking that it reads back to itself.
fn dump(text: &str, env: &[(&str, &str)]) -> String {
    match load_case(text, env) {
        Ok(c) => {
            let out = c.dump_config();
            let again = load_case(&out, &[]).map(|c| c.dump_config());
            assert_eq!(
                again.as_ref(),
                Ok(&out),
                "the dump must read back unchanged"
            );
            out
        }
        Err(e) => format!("error: {e}\n"),
    }
}

#[test]
fn defaults() {
    insta::assert_snapshot!(dump("", &[]));
}

#[test]
fn boolean_numeric() {
    // PostgREST's boolean-numeric.config: any whole number, above zero is true.
    insta::assert_snapshot!(dump(
        "db-channel-enabled = \"1\"\ndb-prepared-statements = \"0\"\njwt-secret-is-base64 = \"2\"\n",
        &[]
    ));
}

#[test]
fn boolean_string() {
    // PostgREST's boolean-string.config: true/false in any case and quoting.
    insta::assert_snapshot!(dump(
        r#"db-channel-enabled = "true"
db-prepared-statements = "FALSE"
jwt-secret-is-base64 = "\"true\""
"#,
        &[]
    ));
}

#[test]
fn aliases() {
    // PostgREST's aliases.config.
    insta::assert_snapshot!(dump(
        r#"db-schema = "provided_through_alias"
db-pool-timeout = 5
max-rows = 1000
pre-request = "check_alias"
role-claim-key = "$$.aliased"
root-spec = "open_alias"
secret-is-base64 = true
"#,
        &[]
    ));
}

/// PostgREST's no-defaults.config: every key set away from its default.
const NO_DEFAULTS: &str = r#"client-error-verbosity = "minimal"
db-aggregates-enabled = true
db-anon-role = "root"
db-channel = "postgrest"
db-channel-enabled = false
db-extra-search-path = "public, test"
db-hoisted-tx-settings = "work_mem"
db-max-rows = 1000
db-plan-enabled = true
db-pool = 1
db-pool-acquisition-timeout = 30
db-pool-max-lifetime = 3600
db-pool-max-idletime = 60
db-pool-automatic-recovery = false
db-pre-request = "please_run_fast"
db-prepared-statements = false
db-root-spec = "openapi_v3"
db-schemas = "multi,   tenant,setup"
db-config = false
db-pre-config = "postgrest.pre_config"
db-tx-end = "rollback-allow-override"
db-uri = "tmp_db"
jwt-aud = "https://postgrest.org"
jwt-role-claim-key = "$$.user[0].real_role"
jwt-secret = "c2VjdXJpdHl0aHJvdWdob2JzY3VyaXR5aW5iYXNlNjQ="
jwt-secret-is-base64 = true
jwt-cache-max-entries = 86400
log-level = "info"
log-query = true
openapi-mode = "ignore-privileges"
openapi-security-active = true
openapi-server-proxy-uri = "https://postgrest.org"
server-cors-allowed-origins = "http://example.com"
server-host = "0.0.0.0"
server-port = 80
server-reuseport = true
server-trace-header = "X-Request-Id"
server-timing-enabled = true
server-unix-socket = "/tmp/pgrst_io_test.sock"
server-unix-socket-mode = "777"
url-use-legacy-target-names = false
admin-server-port = 3001
admin-server-host = "127.0.0.1"
admin-server-unix-socket = "/tmp/admin_io_test.sock"
admin-server-unix-socket-mode = "666"
app.settings.test = "test"
app.settings.test2 = "test"
"#;

#[test]
fn no_defaults() {
    insta::assert_snapshot!(dump(NO_DEFAULTS, &[]));
}

#[test]
fn no_defaults_warns_about_every_unbuilt_key() {
    let unbuilt = load_case(NO_DEFAULTS, &[]).map(|c| c.unbuilt);
    insta::assert_debug_snapshot!(unbuilt);
}

#[test]
fn env_overrides() {
    // After PostgREST's no-defaults-env.yaml: the environment wins over the file, aliases and
    // app.settings included, with PostgREST's boolean forms.
    insta::assert_snapshot!(dump(
        "db-pool = 5\ndb-schemas = \"from_file\"\ndb-channel-enabled = true\nlog-level = \"warn\"\n",
        &[
            ("PGRST_DB_POOL", "1"),
            ("PGRST_DB_SCHEMA", "multi,   tenant,setup"),
            ("PGRST_DB_CHANNEL_ENABLED", "0"),
            ("PGRST_DB_AGGREGATES_ENABLED", "TRUE"),
            ("PGRST_LOG_LEVEL", "debug"),
            ("PGRST_JWT_ROLE_CLAIM_KEY", "$.user[0].real_role"),
            ("PGRST_DB_URI", "@/run/secrets/db-uri"),
            ("PGRST_APP_SETTINGS_TEST", "from env"),
            ("HOME", "/root"),
        ]
    ));
}

#[test]
fn utf_8() {
    // PostgREST's utf-8.config.
    insta::assert_snapshot!(dump("# Commènt utf-8 chàrs\nlog-level = \"crit\"\n", &[]));
}

#[test]
fn invalid_values_stop_the_start() {
    // Where PostgREST falls back to the default (its types.config), pgmesh names the key.
    let cases = [
        "db-channel-enabled = \"maybe\"",
        "db-max-rows = true",
        "log-level = \"loud\"",
        "server-port = 70000",
        "jwt-secret = \"too short\"",
        "db-schemas = \"pg_catalog\"",
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|t| format!("{t}  →  {}", dump(t, &[]).trim_end()))
        .collect();
    insta::assert_snapshot!(out.join("\n"));
}

#[test]
fn jspath_str_op_dumps() {
    // PostgREST's jspath-str-op-dump1..5.config: the deprecated DSL, dumped in its `."key"` form
    // (their expected files hold exactly these lines).
    let out: Vec<String> = ["==", "!=", "^==", "==^", "*=="]
        .iter()
        .map(|op| {
            let text = format!("jwt-role-claim-key = \".roles[?(@ {op} \\\"role1\\\")]\"\n");
            dump(&text, &[])
                .lines()
                .find(|l| l.starts_with("jwt-role-claim-key"))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    insta::assert_snapshot!(out.join("\n"), @r#"
    jwt-role-claim-key = ".\"roles\"[?(@ == \"role1\")]"
    jwt-role-claim-key = ".\"roles\"[?(@ != \"role1\")]"
    jwt-role-claim-key = ".\"roles\"[?(@ ^== \"role1\")]"
    jwt-role-claim-key = ".\"roles\"[?(@ ==^ \"role1\")]"
    jwt-role-claim-key = ".\"roles\"[?(@ *== \"role1\")]"
    "#);
}
