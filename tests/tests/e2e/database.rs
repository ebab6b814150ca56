//! The sidecar's own connections to PostgreSQL: password authentication, and connections
//! renewed on a schema reload (as PostgREST flushes its pool).

use std::process::Command;
use std::time::{Duration, Instant};

use pgmesh_e2e::{http, pg_bindir, psql, stack, stack_for_config, stack_for_uri, wasm};

/// Whether `user` can log in over TCP with `password` (psql, no password prompt).
fn psql_login(user: &str, password: &str) -> bool {
    let shared = stack();
    let cluster = shared.cluster.as_ref().unwrap();
    Command::new(pg_bindir().join("psql"))
        .args([
            "-X",
            "-w",
            "-h",
            "127.0.0.1",
            "-d",
            "postgres",
            "-c",
            "select 1",
        ])
        .args(["-U", user, "-p", &cluster.port.to_string()])
        .env("PGPASSWORD", password)
        .output()
        .expect("psql runs")
        .status
        .success()
}

/// A login role of the test's own that may switch to `web_anon`, as an authenticator.
fn authenticator_role(name: &str) {
    psql(&format!(
        "do $$ begin
           if not exists (select from pg_roles where rolname = '{name}') then
             create role {name} login noinherit;
           end if;
         end $$;
         grant web_anon to {name};"
    ));
}

#[test]
fn an_authenticator_with_a_password_connects_with_scram() {
    authenticator_role("scram_authenticator");
    psql(
        "set password_encryption = 'scram-sha-256';
         alter role scram_authenticator password 'scram-Pa55';",
    );
    assert!(
        psql("select rolpassword from pg_authid where rolname = 'scram_authenticator'")
            .starts_with("SCRAM-SHA-256$"),
        "the password is stored as a SCRAM verifier"
    );
    // This role, and only it, must present its password over SCRAM.
    let hba_file = psql("show hba_file").trim().to_string();
    let hba = std::fs::read_to_string(&hba_file).unwrap();
    let rule = "host all scram_authenticator 127.0.0.1/32 scram-sha-256";
    if !hba.contains(rule) {
        std::fs::write(&hba_file, format!("{rule}\n{hba}")).unwrap();
        psql("select pg_reload_conf()");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while psql_login("scram_authenticator", "wrong") {
        assert!(
            Instant::now() < deadline,
            "the SCRAM rule never took effect"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(psql_login("scram_authenticator", "scram-Pa55"));

    let shared = stack();
    let cluster = shared.cluster.as_ref().unwrap();
    let uri = format!(
        "postgres://scram_authenticator:scram-Pa55@127.0.0.1:{}/postgres",
        cluster.port
    );
    let s = stack_for_uri(&uri, "db-pool = 2\n", wasm(), "FAIL_RELOAD", 1);
    let r = http::get(&s.api, "/films?select=id,title&id=eq.1").unwrap();
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "[{\"id\":1,\"title\":\"Arrival\"}]")
    );
    // The request ran on a pipelined connection of the sidecar, logged in as that role.
    let sessions = psql(
        "select count(*) from pg_stat_activity \
         where usename = 'scram_authenticator' and application_name = 'pgmesh'",
    );
    assert!(
        sessions.trim().parse::<u32>().unwrap() >= 1,
        "sessions: {sessions}"
    );
}

#[test]
fn a_table_recreated_with_another_key_type_is_served_after_a_reload() {
    // PostgREST #2620: a statement prepared before the change keeps `$1` as uuid, and
    // `id=eq.1` would fail with 22P02 until the connections are renewed.
    psql(
        "drop table if exists api.recreated;
         create table api.recreated (id uuid primary key, name text);
         insert into api.recreated values ('dea27321-f988-4a57-93e4-8eeb38f3cf1e', 'old');
         grant select on api.recreated to web_anon;
         notify pgrst, 'reload schema';",
    );
    // One pooled connection: every request runs on it.
    let s = stack_for_config("db-pool = 1\n", wasm(), "FAIL_RELOAD", 1);
    let by_uuid = "/recreated?select=name&id=eq.dea27321-f988-4a57-93e4-8eeb38f3cf1e";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http::get(&s.api, by_uuid).unwrap();
        if r.status == 200 {
            assert_eq!(r.body, "[{\"name\":\"old\"}]");
            break;
        }
        assert!(Instant::now() < deadline, "never served: {r:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Twice more, so the statement is prepared and reused on the connection.
    for _ in 0..2 {
        assert_eq!(http::get(&s.api, by_uuid).unwrap().status, 200);
    }

    psql(
        "drop table api.recreated;
         create table api.recreated (id bigint primary key, name text);
         insert into api.recreated values (1, 'new');
         grant select on api.recreated to web_anon;
         notify pgrst, 'reload schema';",
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http::get(&s.api, "/recreated?select=name&id=eq.1").unwrap();
        if r.status == 200 && r.body == "[{\"name\":\"new\"}]" {
            break;
        }
        // Until the filter adopts the new cache it may still plan for the uuid column (and
        // PostgreSQL refuses `1` as a uuid); never afterwards.
        assert!(
            Instant::now() < deadline,
            "the recreated table is not served: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Served the same way from then on.
    for _ in 0..5 {
        let r = http::get(&s.api, "/recreated?select=name&id=eq.1").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "[{\"name\":\"new\"}]"));
    }
}

#[test]
fn connections_the_server_closed_are_replaced_before_a_request_uses_them() {
    authenticator_role("closing_authenticator");
    let shared = stack();
    let cluster = shared.cluster.as_ref().unwrap();
    let s = stack_for_uri(
        &cluster.uri("closing_authenticator"),
        "db-pool = 2\n",
        wasm(),
        "FAIL_RELOAD",
        1,
    );
    let read = || http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
    for _ in 0..4 {
        assert_eq!(read().status, 200);
    }
    // What a restarted or failed-over server does to idle connections.
    let sessions = "select count(*) from pg_stat_activity where usename = 'closing_authenticator'";
    let closed = psql(
        "select count(*) from pg_stat_activity, pg_terminate_backend(pid) \
         where usename = 'closing_authenticator'",
    );
    assert!(
        closed.trim().parse::<u32>().unwrap() >= 1,
        "closed {closed}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while psql(sessions).trim() != "0" {
        assert!(Instant::now() < deadline, "the sessions did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..4 {
        let r = read();
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "[{\"id\":1}]"),
            "a pooled connection the server closed was used"
        );
    }
}

#[test]
fn db_uri_hosts_are_tried_in_order_and_the_session_kind_is_checked() {
    authenticator_role("hosts_authenticator");
    let shared = stack();
    let cluster = shared.cluster.as_ref().unwrap();
    // Nothing listens on the first port: the second host is used, after its session was found
    // to be read-write as asked.
    let unused = xtask::free_port().unwrap();
    let uri = format!(
        "host=127.0.0.1,127.0.0.1 port={unused},{} user=hosts_authenticator dbname=postgres \
         target_session_attrs=read-write keepalives_idle=30 connect_timeout=5",
        cluster.port
    );
    let s = stack_for_uri(&uri, "db-pool = 2\n", wasm(), "FAIL_RELOAD", 1);
    let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "[{\"id\":1}]"));
    // Both pooled connections went the same way.
    let r = http::get(&s.api, "/films?select=id&id=eq.2").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "[{\"id\":2}]"));
    let sessions = psql(
        "select count(*) from pg_stat_activity where usename = 'hosts_authenticator' \
         and application_name = 'pgmesh'",
    );
    assert!(sessions.trim().parse::<u32>().unwrap() >= 1, "{sessions}");

    // A standby-like session (read-only by default) is what `read-only` asks for.
    authenticator_role("readonly_authenticator");
    psql("alter role readonly_authenticator set default_transaction_read_only = on");
    let uri = format!(
        "host=127.0.0.1 port={} user=readonly_authenticator dbname=postgres \
         target_session_attrs=read-only",
        cluster.port
    );
    let s = stack_for_uri(&uri, "db-pool = 1\n", wasm(), "FAIL_RELOAD", 1);
    let r = http::get(&s.api, "/films?select=id&id=eq.3").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "[{\"id\":3}]"));
}

#[test]
fn a_unix_socket_db_uri_serves_reads() {
    authenticator_role("unix_authenticator");
    let shared = stack();
    let cluster = shared.cluster.as_ref().unwrap();
    let uri = format!(
        "host={} port={} user=unix_authenticator dbname=postgres",
        cluster.dir.display(),
        cluster.port
    );
    let s = stack_for_uri(&uri, "db-pool = 1\n", wasm(), "FAIL_RELOAD", 1);
    let r = http::get(&s.api, "/films?select=id&id=eq.1").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "[{\"id\":1}]"));
    // Over the socket, not TCP: PostgreSQL shows no client address for it.
    let local = psql(
        "select count(*) from pg_stat_activity where usename = 'unix_authenticator' \
         and application_name = 'pgmesh' and client_addr is null",
    );
    assert!(local.trim().parse::<u32>().unwrap() >= 1, "{local}");
}
