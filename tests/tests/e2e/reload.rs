//! The schema cache follows the database: `NOTIFY pgrst, 'reload schema'` makes new tables
//! visible with no failed request, and a restarted sidecar is picked up by itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgmesh_e2e::{get, http, marker, psql, stack, stack_for_config, wasm};

#[test]
fn notify_reloads_the_schema_without_failing_requests_under_load() {
    let api = stack().api.clone();
    let table = marker("fresh").to_ascii_lowercase();
    assert_eq!(
        get(&format!("/{table}")).status,
        404,
        "the table does not exist yet"
    );

    // A small concurrent load for the whole reload.
    let running = Arc::new(AtomicBool::new(true));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (api, running, sent, failed) =
                (api.clone(), running.clone(), sent.clone(), failed.clone());
            std::thread::spawn(move || {
                while running.load(Ordering::Relaxed) {
                    let ok = http::get(&api, "/reload_target?select=id")
                        .is_ok_and(|r| r.status == 200 && r.body == "[{\"id\":1}]");
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    psql(&format!(
        "alter table api.reload_target add column extra int default 7; \
         create table api.{table} (id int); insert into api.{table} values (42); \
         grant select on api.{table} to web_anon; notify pgrst, 'reload schema';"
    ));
    let changed_at = Instant::now();
    let seen = loop {
        let r = get(&format!("/{table}"));
        if r.status == 200 {
            assert_eq!(r.body, "[{\"id\":42}]");
            break changed_at.elapsed();
        }
        assert_eq!(r.status, 404, "{r:?}");
        assert!(
            changed_at.elapsed() < Duration::from_secs(15),
            "the new table never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Every worker may take a moment more; then the column is there too.
    std::thread::sleep(Duration::from_millis(1500));
    running.store(false, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(get(&format!("/{table}")).status, 200);
    assert_eq!(get("/reload_target?select=extra").body, "[{\"extra\":7}]");
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("new table served {seen:?} after NOTIFY; {sent} requests during the reload, {failed} failed");
    assert!(
        sent > 50,
        "the load was too small to show anything ({sent})"
    );
    assert_eq!(failed, 0, "requests failed during the reload");
}

#[test]
fn a_restarted_sidecar_is_picked_up_by_itself() {
    let mut s = stack_for_config("", wasm(), "FAIL_RELOAD", 1);
    assert_eq!(
        http::get(&s.api, "/films?select=id&id=eq.1")
            .unwrap()
            .status,
        200
    );
    s.stop_sidecar();
    let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8"),
        "Envoy's error is JSON"
    );
    s.restart_sidecar().unwrap();
    let restarted = Instant::now();
    loop {
        let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
        if r.status == 200 {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(15),
            "never recovered: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "served again {:?} after the sidecar restarted",
        restarted.elapsed()
    );
}

/// Schema-cache requests the sidecar has answered, from its metrics.
fn schema_requests(sidecar_port: u16) -> u64 {
    let r = http::get(&format!("127.0.0.1:{sidecar_port}"), "/_pgmesh/metrics").unwrap();
    r.body
        .lines()
        .find_map(|l| l.strip_prefix("pgmesh_schema_requests_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[test]
fn one_vm_per_envoy_polls_the_sidecar_and_all_share_its_copy() {
    // Two workers make four VMs (workers + 2); without a shared copy each would poll every second.
    let s = stack_for_config("", wasm(), "FAIL_RELOAD", 2);
    let before = schema_requests(s.sidecar_port);
    std::thread::sleep(Duration::from_secs(4));
    let polls = schema_requests(s.sidecar_port) - before;
    eprintln!("{polls} schema polls in 4 s from an Envoy with 2 workers");
    assert!(
        (2..=6).contains(&polls),
        "{polls} polls: expected about one a second from one VM"
    );
    // Every worker serves with the shared copy.
    for _ in 0..20 {
        assert_eq!(
            http::get(&s.api, "/films?select=id&id=eq.1")
                .unwrap()
                .status,
            200
        );
    }
}

#[test]
fn envoy_up_before_the_sidecar_recovers_by_itself() {
    let shared = stack();
    let cluster = shared.cluster.as_ref().unwrap();
    let mut s = xtask::stack::Stack::start(xtask::stack::StackOptions {
        config_text: Some(format!(
            "db-uri = \"{}\"\ndb-schemas = \"api\"\ndb-anon-role = \"web_anon\"\n",
            cluster.uri("authenticator")
        )),
        api_port: Some(xtask::free_port().unwrap()),
        concurrency: 1,
        wait_ready: false,
        ..xtask::stack::StackOptions::new(
            wasm(),
            pgmesh_e2e::sidecar_bin(),
            pgmesh_e2e::envoy_bin(),
        )
    })
    .unwrap();
    // No sidecar while Envoy comes up: the filter has no schema cache yet.
    s.stop_sidecar();
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = loop {
        if let Ok(r) = http::get(&s.api, "/films?select=id&id=eq.1") {
            break r;
        }
        assert!(Instant::now() < deadline, "Envoy did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, "PGRST002".into()),
        "{r:?}"
    );
    s.restart_sidecar().unwrap();
    let restarted = Instant::now();
    loop {
        let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
        if r.status == 200 {
            assert_eq!(r.body, "[{\"id\":1}]");
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(15),
            "never recovered: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("served {:?} after the sidecar came up", restarted.elapsed());
}

#[test]
fn a_failed_reload_keeps_the_cache_in_use() {
    let s = stack_for_config("", wasm(), "FAIL_RELOAD", 1);
    assert_eq!(
        http::get(&s.api, "/films?select=id&id=eq.1")
            .unwrap()
            .status,
        200
    );
    let table = marker("unseen").to_ascii_lowercase();
    // Introspection reads pg_db_role_setting: without it, every reload fails.
    psql(&format!(
        "revoke select on pg_catalog.pg_db_role_setting from public; \
         create table api.{table} (id int); grant select on api.{table} to web_anon; \
         notify pgrst, 'reload schema';"
    ));
    std::thread::sleep(Duration::from_millis(1500));
    let still = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
    let unseen = http::get(&s.api, &format!("/{table}")).unwrap();
    psql("grant select on pg_catalog.pg_db_role_setting to public; notify pgrst, 'reload schema';");
    assert_eq!(still.status, 200, "the old cache still serves: {still:?}");
    assert_eq!(
        unseen.status, 404,
        "the failed reload installed nothing: {unseen:?}"
    );
    assert!(s.log_tail("sidecar.log").contains("keeping the old one"));
    // Once introspection works again, the next reload brings the new table.
    let deadline = Instant::now() + Duration::from_secs(15);
    while http::get(&s.api, &format!("/{table}")).unwrap().status != 200 {
        assert!(Instant::now() < deadline, "the table never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
}
