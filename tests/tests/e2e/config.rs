//! The sidecar's `--dump-config`, as PostgREST's: the effective configuration from a file in
//! PostgREST's format and `PGRST_*` overrides, printed by the real binary.

use std::process::Command;

use pgmesh_e2e::{marker, sidecar_bin};

fn dump(config: &str, env: &[(&str, &str)]) -> std::process::Output {
    let file = std::env::temp_dir().join(format!("{}.conf", marker("dump-config")));
    std::fs::write(&file, config).unwrap();
    let mut c = Command::new(sidecar_bin());
    c.arg("--config").arg(&file).arg("--dump-config");
    // Only what the test gives: no PGRST_* of the caller's, no hand-off key needed.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PGRST_")) {
        c.env_remove(k);
    }
    c.env_remove("PGMESH_HANDOFF_KEY");
    c.envs(env.iter().copied());
    let out = c.output().unwrap();
    let _ = std::fs::remove_file(&file);
    out
}

#[test]
fn dump_config_prints_the_effective_configuration() {
    let out = dump(
        "db-channel-enabled = \"1\"\ndb-prepared-statements = \"0\"\njwt-secret-is-base64 = \"\\\"true\\\"\"\njwt-secret = \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\"\ndb-anon-role = \"web_anon\"\nlog-level = \"info\"\n",
        &[("PGRST_DB_SCHEMAS", "api,other")],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "db-channel-enabled = true",
        "db-prepared-statements = false",
        "jwt-secret-is-base64 = true",
        "db-anon-role = \"web_anon\"",
        "db-schemas = \"api,other\"",
        "log-level = \"info\"",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from:\n{text}"
        );
    }
    let keys: Vec<&str> = text.lines().filter_map(|l| l.split(" = ").next()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "keys are printed in order, as PostgREST does");
}

#[test]
fn dump_config_refuses_an_invalid_value_naming_the_key() {
    let out = dump("db-pool = \"many\"\n", &[]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("db-pool"), "{err}");
    assert!(out.stdout.is_empty(), "nothing is dumped: {out:?}");
}
