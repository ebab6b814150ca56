//! The stack as a whole: Envoy configs validate, a crashed or skipped filter lets nothing
//! reach PostgreSQL, a PostgREST config serves its database, every port is on loopback, and
//! stopping leaves nothing behind.

use std::time::{Duration, Instant};

use pgmesh_e2e::{http, marker, pg_log_count, stack, stack_for_config, wasm, wasm_crash};

#[test]
fn every_envoy_yaml_in_the_repo_passes_envoy_validate() {
    let dir = xtask::root().join("envoy");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let rendered = xtask::stack::render_envoy_yaml(
            &std::fs::read_to_string(&path).unwrap(),
            &[
                ("ADMIN_PORT", "19901".into()),
                ("LISTEN_HOST", "127.0.0.1".into()),
                ("LISTEN_PORT", "19900".into()),
                ("SIDECAR_PORT", "19902".into()),
                ("WASM_PATH", wasm().display().to_string()),
                ("FAILURE_POLICY", "FAIL_RELOAD".into()),
                (
                    "FILTER_CONFIG",
                    serde_json::to_string(&stack().config.api_settings()).unwrap(),
                ),
            ],
        );
        assert!(
            !rendered.contains("{{"),
            "{} has an unknown placeholder",
            path.display()
        );
        let out_dir = xtask::temp_dir("validate").unwrap();
        let file = out_dir.join("envoy.yaml");
        std::fs::write(&file, rendered).unwrap();
        let validate = |key: Option<&str>| {
            let mut cmd = std::process::Command::new(pgmesh_e2e::envoy_bin());
            cmd.args(["--mode", "validate", "--disable-hot-restart", "-c"])
                .arg(&file);
            match key {
                Some(k) => cmd.env("PGMESH_HANDOFF_KEY", k),
                None => cmd.env_remove("PGMESH_HANDOFF_KEY"),
            };
            cmd.output().unwrap()
        };
        let ok = validate(Some("0123456789abcdef0123456789abcdef"));
        // Validation really loads the filter: without its key it refuses to start (fails closed).
        let keyless = validate(None);
        let _ = std::fs::remove_dir_all(&out_dir);
        assert!(
            ok.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(
            !keyless.status.success(),
            "{} loaded without PGMESH_HANDOFF_KEY",
            path.display()
        );
        assert!(String::from_utf8_lossy(&keyless.stderr).contains("PGMESH_HANDOFF_KEY must be set"));
        checked += 1;
    }
    assert!(checked > 0, "no Envoy YAML found");
}

#[test]
fn crashed_filter_reloads_and_nothing_reaches_postgresql() {
    let s = stack_for_config("", wasm_crash(), "FAIL_RELOAD", 1);
    let m = marker("crash");
    let r = http::request(
        &s.api,
        "GET",
        &format!("/films?title=eq.{m}"),
        &[("x-pgmesh-test-crash", "1")],
    )
    .unwrap();
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json()["code"],
        "PGRSTX00",
        "Envoy's own error is PostgREST-style JSON: {}",
        r.body
    );
    let crashed_at = Instant::now();
    // FAIL_RELOAD with a 0.1 s backoff: the VM is recreated and serves again.
    let mut recovered = None;
    while crashed_at.elapsed() < Duration::from_secs(15) {
        let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
        if r.status == 200 {
            assert_eq!(r.body, r#"[{"id":1}]"#);
            recovered = Some(crashed_at.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let recovered = recovered
        .unwrap_or_else(|| panic!("the filter did not recover\n{}", s.log_tail("envoy.log")));
    eprintln!("filter recovered {recovered:?} after the crash");
    assert_eq!(
        pg_log_count(&m),
        0,
        "the crashing request reached PostgreSQL"
    );
}

#[test]
fn skipped_filter_lets_nothing_reach_postgresql() {
    // FAIL_OPEN is the dangerous policy: after a crash Envoy skips the filter on that worker.
    let s = stack_for_config("", wasm_crash(), "FAIL_OPEN", 1);
    let r = http::request(&s.api, "GET", "/films", &[("x-pgmesh-test-crash", "1")]).unwrap();
    assert_eq!(r.status, 503, "{r:?}");
    let m = marker("skipped");
    let forged = sql_engine::handoff::Handoff {
        ts_ms: pgmesh_e2e::now_s() * 1000,
        nonce: m.clone(),
        kind: sql_engine::handoff::Kind::Query(Box::new(sql_engine::handoff::Query {
            main: sql_engine::sql::Statement {
                sql: format!("select '{m}'"),
                ..Default::default()
            },
            explain: None,
            identity: sql_engine::handoff::Identity {
                role: "postgres".into(),
                ..Default::default()
            },
            context: Default::default(),
            tx: Default::default(),
            body: None,
            shape: Default::default(),
        })),
    };
    let (doc, sig) = sql_engine::handoff::sign(
        &sql_engine::handoff::HandoffKey::derive(b"guessed-key-guessed-key-guessed-key"),
        "GET",
        "/_pgmesh/query",
        &forged,
    )
    .unwrap();
    // Envoy spreads connections over its workers; the crashed worker skips the filter, a healthy
    // one answers 404 PGRST125 for this path. Whoever answers, nothing may run.
    let (mut skipped, mut unfiltered_catch_all) = (0, 0);
    for _ in 0..40 {
        let r = http::request(
            &s.api,
            "GET",
            "/_pgmesh/query",
            &[("x-pgmesh-handoff", &doc), ("x-pgmesh-signature", &sig)],
        )
        .unwrap();
        match (r.status, r.json()["code"].as_str()) {
            (401, Some("PGMESH401")) => skipped += 1,
            (404, Some("PGRST125")) => {}
            other => panic!("unexpected answer {other:?}: {r:?}"),
        }
        let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
        match (r.status, r.json()["code"].as_str()) {
            (404, Some("PGRSTX00")) => unfiltered_catch_all += 1,
            (200, _) => {}
            other => panic!("unexpected answer {other:?}: {r:?}"),
        }
        if skipped > 0 && unfiltered_catch_all > 0 {
            break;
        }
    }
    assert!(
        skipped > 0,
        "no request skipped the filter; the test proved nothing"
    );
    assert!(
        unfiltered_catch_all > 0,
        "unfiltered API requests must hit the catch-all route"
    );
    assert_eq!(
        pg_log_count(&m),
        0,
        "a request that skipped the filter reached PostgreSQL"
    );
}

#[test]
fn before_the_schema_cache_loads_the_filter_answers_503_pgrst002() {
    // A database nobody listens on: the sidecar never loads a schema cache.
    let dead_port = xtask::free_port().unwrap();
    let api_port = xtask::free_port().unwrap();
    let s = xtask::stack::Stack::start(xtask::stack::StackOptions {
        config_text: Some(format!(
            "db-uri = \"postgres://authenticator@127.0.0.1:{dead_port}/postgres\"\ndb-schemas = \"api\"\ndb-anon-role = \"web_anon\"\nserver-port = {api_port}\n"
        )),
        concurrency: 1,
        wait_ready: false,
        ..xtask::stack::StackOptions::new(wasm(), pgmesh_e2e::sidecar_bin(), pgmesh_e2e::envoy_bin())
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = loop {
        if let Ok(r) = http::get(&s.api, "/films") {
            break r;
        }
        assert!(Instant::now() < deadline, "Envoy did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.json()["code"], "PGRST002");
    assert_eq!(r.header("retry-after"), Some("0"));
    // Later requests too: the schema cannot load while the database is down.
    std::thread::sleep(Duration::from_millis(500));
    let r = http::get(&s.api, "/films").unwrap();
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, "PGRST002".into())
    );
}

#[test]
fn postgrest_config_serves_its_database_and_stops_cleanly() {
    let s = stack_for_config(
        "db-max-rows = 2\ndb-plan-enabled = false\n",
        wasm(),
        "FAIL_RELOAD",
        2,
    );
    let r = http::get(&s.api, "/films?select=id,title&order=id").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        "[{\"id\":1,\"title\":\"Arrival\"}, \n {\"id\":2,\"title\":\"Dune\"}]"
    );
    assert_eq!(r.header("content-range"), Some("0-1/*"));
    assert!(
        s.log_tail("sidecar.log").contains("db-plan-enabled"),
        "unbuilt keys are named in a warning"
    );

    let pids = s.pids();
    let dir = s.dir.clone();
    assert_eq!(pids.len(), 2);
    drop(s);
    for pid in pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|st| !st.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "process {pid} outlived its stack");
    }
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

/// Local addresses of listening TCP sockets on `port`, from /proc/net/tcp and tcp6.
fn listeners(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (cols.get(1), cols.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                found.push(addr.to_string());
            }
        }
    }
    found
}

#[test]
fn every_port_of_the_stack_binds_to_loopback() {
    let s = stack();
    let api_port: u16 = s
        .api
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let pg_port = s.cluster.as_ref().unwrap().port;
    for (what, port) in [
        ("api", api_port),
        ("envoy admin", s.admin_port),
        ("sidecar", s.sidecar_port),
        ("postgresql", pg_port),
    ] {
        let addrs = listeners(port);
        assert!(!addrs.is_empty(), "{what} is not listening on {port}");
        // 0100007F is 127.0.0.1 in /proc's little-endian hex.
        assert!(
            addrs.iter().all(|a| a == "0100007F"),
            "{what} listens on {addrs:?}"
        );
    }
}

#[test]
fn sidecar_refuses_a_public_address() {
    let out = std::process::Command::new(pgmesh_e2e::sidecar_bin())
        .args(["--listen", "0.0.0.0:0"])
        .env("PGMESH_HANDOFF_KEY", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"));
}
