//! Support for the end-to-end tests: one shared stack per test binary (throwaway PostgreSQL
//! with the demo schema and the test fixtures, the sidecar, Envoy with the built filter),
//! more stacks on demand, and a check of what PostgreSQL actually ran (its statement log).
//!
//! Artifacts come from `cargo xtask test` through `PGMESH_*` environment variables.

// Test support, compiled as a library without cfg(test): clippy.toml's allow-*-in-tests do not
// reach it. A stack that cannot start, or an answer that is not there, fails the test here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

pub use xtask::http::{self, Response};
use xtask::stack::{Stack, StackOptions};

pub const JWT_SECRET: &str = xtask::stack::DEMO_JWT_SECRET;

fn artifact(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => panic!("{var} is not set: run the end-to-end tests with `cargo xtask test`"),
    }
}

pub fn wasm() -> PathBuf {
    artifact("PGMESH_WASM")
}

pub fn wasm_crash() -> PathBuf {
    artifact("PGMESH_WASM_CRASH")
}

pub fn envoy_bin() -> PathBuf {
    artifact("PGMESH_ENVOY")
}

pub fn sidecar_bin() -> PathBuf {
    artifact("PGMESH_SIDECAR")
}

static SHARED: Mutex<Option<Arc<Stack>>> = Mutex::new(None);

extern "C" fn stop_shared_stack() {
    SHARED.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// Starts a stack, trying again a couple of times: a port picked as free can be taken by
/// another process (an outgoing connection's ephemeral port) before the server binds it.
fn start_with_retries(options: impl Fn() -> StackOptions) -> Stack {
    let mut last = String::new();
    for _ in 0..3 {
        match Stack::start(options()) {
            Ok(s) => return s,
            Err(e) => last = e.to_string(),
        }
    }
    panic!("cannot start the stack: {last}")
}

/// The shared demo stack, with PostgreSQL logging every statement.
pub fn stack() -> Arc<Stack> {
    static INIT: OnceLock<()> = OnceLock::new();
    let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = guard.as_ref() {
        return Arc::clone(s);
    }
    let s = Arc::new(start_with_retries(|| StackOptions {
        extra_sql: Some(
            std::fs::read_to_string(xtask::root().join("tests/fixtures/e2e.sql")).unwrap(),
        ),
        api_port: Some(xtask::free_port().unwrap()),
        log_statements: true,
        pg_bindir: Some(artifact("PGMESH_PG_BINDIR")),
        ..StackOptions::new(wasm(), sidecar_bin(), envoy_bin())
    }));
    INIT.get_or_init(|| {
        // SAFETY: registering a plain extern "C" fn; it runs at process exit.
        #[allow(unsafe_code)]
        unsafe {
            libc::atexit(stop_shared_stack);
        }
    });
    *guard = Some(Arc::clone(&s));
    s
}

/// Another stack over the shared stack's database, configured the PostgREST way.
pub fn stack_for_config(
    extra_config: &str,
    wasm: PathBuf,
    failure_policy: &str,
    concurrency: u32,
) -> Stack {
    let shared = stack();
    let cluster = shared.cluster.as_ref().expect("shared stack has a cluster");
    stack_for_uri(
        &cluster.uri("authenticator"),
        extra_config,
        wasm,
        failure_policy,
        concurrency,
    )
}

/// Another stack over the shared stack's database, connecting with `db_uri`.
pub fn stack_for_uri(
    db_uri: &str,
    extra_config: &str,
    wasm: PathBuf,
    failure_policy: &str,
    concurrency: u32,
) -> Stack {
    stack();
    let config = format!(
        "db-uri = \"{db_uri}\"\ndb-schemas = \"api\"\ndb-anon-role = \"web_anon\"\njwt-secret = \"{JWT_SECRET}\"\n{extra_config}"
    );
    start_with_retries(|| StackOptions {
        config_text: Some(config.clone()),
        api_port: Some(xtask::free_port().unwrap()),
        failure_policy: failure_policy.into(),
        concurrency,
        ..StackOptions::new(wasm.clone(), sidecar_bin(), envoy_bin())
    })
}

/// PostgreSQL's bin dir.
pub fn pg_bindir() -> PathBuf {
    artifact("PGMESH_PG_BINDIR")
}

pub fn get(path: &str) -> Response {
    http::get(&stack().api, path).unwrap()
}

pub fn get_with(path: &str, headers: &[(&str, &str)]) -> Response {
    http::request(&stack().api, "GET", path, headers).unwrap()
}

/// Runs SQL on the shared cluster as the superuser.
pub fn psql(sql: &str) -> String {
    stack().cluster.as_ref().unwrap().psql(sql).unwrap()
}

/// A marker unique to this call, to find a request's values in PostgreSQL's statement log.
pub fn marker(what: &str) -> String {
    format!(
        "MARK{}{}",
        what.replace(|c: char| !c.is_ascii_alphanumeric(), ""),
        xtask::random_hex(6).unwrap()
    )
}

/// How often `needle` appears in PostgreSQL's statement log (every statement and its
/// parameters are logged).
pub fn pg_log_count(needle: &str) -> usize {
    // Read as bytes: one line that is not UTF-8 must not hide every other (which would make
    // "never reached PostgreSQL" checks pass for nothing).
    let log = std::fs::read(stack().cluster.as_ref().unwrap().log_path()).unwrap();
    String::from_utf8_lossy(&log).matches(needle).count()
}

pub fn token(claims: serde_json::Value) -> String {
    xtask::hs256_token(JWT_SECRET, &claims)
}

pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
