//! Several clients insert, upsert, update and roll back at the same time; afterwards the table
//! holds exactly what was acknowledged, and nothing from requests that failed or rolled back.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgmesh_e2e::{http, psql, stack_for_config, wasm};

#[derive(Default)]
struct Outcome {
    inserted: BTreeSet<String>,
    refused: BTreeSet<String>,
    rolled_back: BTreeSet<String>,
    touched: BTreeSet<String>,
    shared_acks: usize,
    requests: usize,
}

#[test]
fn acknowledged_writes_are_there_exactly_once_and_nothing_else() {
    let s = stack_for_config(
        "db-tx-end = \"commit-allow-override\"\ndb-pool = 4\n",
        wasm(),
        "FAIL_RELOAD",
        2,
    );
    let api = s.api.clone();
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let deadline = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (api, outcome) = (api.clone(), Arc::clone(&outcome));
            std::thread::spawn(move || {
                let json = ("Content-Type", "application/json");
                let mut i = 0u32;
                while Instant::now() < deadline {
                    i += 1;
                    let id = format!("w{w}-{i}");
                    let post = |path: &str, prefer: &str, body: String| {
                        http::request_with_body(
                            &api,
                            "POST",
                            path,
                            &[json, ("Prefer", prefer)],
                            body.as_bytes(),
                        )
                        .unwrap()
                    };
                    let mut o = Vec::new();
                    match i % 5 {
                        // A bulk insert of two new rows.
                        0 | 1 => {
                            let r = post(
                                "/ledger",
                                "return=minimal",
                                format!(r#"[{{"id":"{id}a","v":{i}}},{{"id":"{id}b","v":{i}}}]"#),
                            );
                            if r.status == 201 {
                                o.push(("ins", format!("{id}a")));
                                o.push(("ins", format!("{id}b")));
                            } else {
                                o.push(("bad", format!("{id}a {r:?}")));
                            }
                        }
                        // A bulk insert whose second row collides: all of it is refused.
                        2 => {
                            let r = post(
                                "/ledger",
                                "return=minimal",
                                format!(r#"[{{"id":"{id}x","v":1}},{{"id":"shared-0","v":1}}]"#),
                            );
                            match r.status {
                                409 => o.push(("refused", format!("{id}x"))),
                                // Before shared-0 exists the insert succeeds: it is acknowledged.
                                201 => {
                                    o.push(("ins", format!("{id}x")));
                                    o.push(("shared", String::new()));
                                }
                                _ => o.push(("bad", format!("{id}x {r:?}"))),
                            }
                        }
                        // An upsert on a few shared keys, and a patch of an own row.
                        3 => {
                            let key = format!("shared-{}", i % 3);
                            let r = post(
                                "/ledger",
                                "resolution=merge-duplicates",
                                format!(r#"{{"id":"{key}","v":{i}}}"#),
                            );
                            if matches!(r.status, 200 | 201) {
                                o.push(("shared", String::new()));
                            } else {
                                o.push(("bad", format!("{key} {r:?}")));
                            }
                            let own = format!("w{w}-{}a", i - 3);
                            let r = http::request_with_body(
                                &api,
                                "PATCH",
                                &format!("/ledger?id=eq.{own}"),
                                &[json, ("Prefer", "return=representation")],
                                br#"{"touched": true}"#,
                            )
                            .unwrap();
                            if r.status == 200 && r.body.contains(&own) {
                                o.push(("touched", own));
                            }
                        }
                        // Rolled back on request: nothing may stay.
                        _ => {
                            let r = post(
                                "/ledger",
                                "tx=rollback",
                                format!(r#"{{"id":"{id}r","v":{i}}}"#),
                            );
                            if r.status == 201 {
                                o.push(("rolled", format!("{id}r")));
                            } else {
                                o.push(("bad", format!("{id}r {r:?}")));
                            }
                        }
                    }
                    let mut out = outcome.lock().unwrap();
                    out.requests += 1;
                    for (kind, id) in o {
                        match kind {
                            "ins" => {
                                out.inserted.insert(id);
                            }
                            "refused" => {
                                out.refused.insert(id);
                            }
                            "rolled" => {
                                out.rolled_back.insert(id);
                            }
                            "touched" => {
                                out.touched.insert(id);
                            }
                            "shared" => out.shared_acks += 1,
                            _ => panic!("unexpected answer: {id}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let o = outcome.lock().unwrap();
    assert!(o.requests > 50, "only {} requests ran", o.requests);
    assert!(!o.refused.is_empty() && !o.rolled_back.is_empty() && o.shared_acks > 0);

    let own_rows: BTreeSet<String> =
        psql("select id from api.ledger where id like 'w%' order by id")
            .lines()
            .map(String::from)
            .collect();
    // Every acknowledged row is there (a primary key makes "once" hold for each id) …
    assert_eq!(
        own_rows, o.inserted,
        "rows differ from the acknowledged inserts"
    );
    // … and none from refused or rolled-back requests.
    assert!(o.refused.is_disjoint(&own_rows));
    assert!(o.rolled_back.is_disjoint(&own_rows));
    let touched: BTreeSet<String> = psql("select id from api.ledger where touched order by id")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(touched, o.touched);
    let shared = psql("select count(*) from api.ledger where id like 'shared-%'");
    assert!(matches!(shared.trim(), "1" | "2" | "3"), "{shared}");
    eprintln!(
        "concurrency: {} requests, {} rows acknowledged, {} refused, {} rolled back, {} patched, {} upserts",
        o.requests,
        o.inserted.len(),
        o.refused.len(),
        o.rolled_back.len(),
        o.touched.len(),
        o.shared_acks
    );
}
