//! `cargo xtask bench schema`: the schema cache at scale.

use std::time::Instant;

use super::procstat::rss_kib;
use super::{demo_bed, write_report};
use crate::stack::{Stack, StackOptions};
use crate::Result;

const SCALE_TABLES: usize = 10_000;

/// The sidecar's log line for the last schema load: "(N relations, M foreign keys) in T ms".
fn introspection_ms(stack: &Stack) -> Option<u64> {
    let log = std::fs::read_to_string(stack.dir.join("sidecar.log")).ok()?;
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("schema cache") && l.contains(" ms"))?;
    line.rsplit(" in ")
        .next()?
        .trim_end_matches(" ms")
        .parse()
        .ok()
}

/// Fetches the schema document as the filter does (signed), for its size.
fn schema_document_bytes(stack: &Stack) -> Result<usize> {
    use sql_engine::handoff::{self, Handoff};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let hand = Handoff {
        ts_ms: now,
        nonce: crate::random_hex(8)?,
        kind: handoff::Kind::SchemaFetch,
    };
    let (doc, sig) = handoff::sign(
        &handoff::HandoffKey::derive(stack.handoff_key.as_bytes()),
        "GET",
        handoff::SCHEMA_PATH,
        &hand,
    )
    .ok_or("cannot sign")?;
    let r = crate::http::request(
        &format!("127.0.0.1:{}", stack.sidecar_port),
        "GET",
        handoff::SCHEMA_PATH,
        &[
            (handoff::HANDOFF_HEADER, &doc),
            (handoff::SIGNATURE_HEADER, &sig),
        ],
    )?;
    if r.status != 200 {
        return Err(format!("schema fetch answered {}", r.status).into());
    }
    Ok(r.body.len())
}

/// A schema of 10,000 tables chained by foreign keys: introspection time, document size, time
/// until every Envoy worker serves with it, and Envoy's memory compared with a small schema.
pub fn schema_scale() -> Result<()> {
    let (envoy_bin, artifacts, cluster) = demo_bed()?;
    let start = |config: String| {
        Stack::start(StackOptions {
            config_text: Some(config),
            api_port: Some(crate::free_port()?),
            ..StackOptions::new(
                artifacts.wasm.clone(),
                artifacts.sidecar.clone(),
                envoy_bin.clone(),
            )
        })
    };
    let config = |schema: &str| {
        format!(
            "db-uri = \"{}\"\ndb-schemas = \"{schema}\"\ndb-anon-role = \"web_anon\"\n",
            cluster.uri("authenticator")
        )
    };

    // Baseline: the demo schema.
    let small = start(config("api"))?;
    let envoy_small = small.pids().get(1).map(|p| rss_kib(*p).0).unwrap_or(0);
    let small_bytes = schema_document_bytes(&small)?;
    drop(small);

    println!("creating {SCALE_TABLES} tables with foreign keys…");
    let created = Instant::now();
    cluster.psql(
        "create schema scale; grant usage on schema scale to web_anon;
         alter default privileges in schema scale grant select on tables to web_anon;",
    )?;
    // In batches: one transaction cannot lock 10,000 new tables.
    for batch in 0..SCALE_TABLES / 500 {
        let (from, to) = (batch * 500 + 1, batch * 500 + 500);
        cluster.psql(&format!(
            "do $$ begin
               for i in {from}..{to} loop
                 execute format('create table scale.t%s (id int primary key, parent_id int %s, name text, \
                   created_at timestamptz default now())',
                   i, case when i > 1 then format('references scale.t%s(id)', i - 1) else '' end);
                 execute format('insert into scale.t%s (id, parent_id, name) values (1, %s, ''row'')',
                   i, case when i > 1 then '1' else 'null' end);
               end loop;
             end $$;"
        ))?;
    }
    let creation = created.elapsed();

    let started = Instant::now();
    let big = start(config("scale"))?;
    let ready = started.elapsed();
    let envoy_big = big.pids().get(1).map(|p| rss_kib(*p).0).unwrap_or(0);
    let big_bytes = schema_document_bytes(&big)?;
    let introspection = introspection_ms(&big).unwrap_or(0);
    // Sequential requests that plan against the big cache (a table lookup and an embed).
    let mut latencies = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let url = format!("/t{}?select=id,t{}(id)&id=eq.1", 5000 + i, 4999 + i);
        let r = crate::http::get(&big.api, &url)?;
        if r.status != 200 {
            return Err(format!("{url} answered {}: {}", r.status, r.body).into());
        }
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    let p99 = latencies
        .get(latencies.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let report = serde_json::json!({
        "tables": SCALE_TABLES,
        "foreign_keys": SCALE_TABLES - 1,
        "create_tables_seconds": creation.as_secs_f64(),
        "introspection_ms": introspection,
        "schema_document_bytes": big_bytes,
        "demo_schema_document_bytes": small_bytes,
        "start_until_every_worker_serves_seconds": ready.as_secs_f64(),
        "envoy_rss_mib_big_schema": mib(envoy_big),
        "envoy_rss_mib_demo_schema": mib(envoy_small),
        "request_with_embed_p50_ms": p50.as_secs_f64() * 1000.0,
        "request_with_embed_p99_ms": p99.as_secs_f64() * 1000.0,
    });
    println!(
        "\nschema cache at scale ({SCALE_TABLES} tables, {} foreign keys; one run)",
        SCALE_TABLES - 1
    );
    println!("  introspection                 {introspection} ms (one read-only transaction)");
    println!(
        "  schema document               {:.1} MiB (demo: {:.1} KiB)",
        big_bytes as f64 / 1048576.0,
        small_bytes as f64 / 1024.0
    );
    println!(
        "  start until every worker serves {:.2} s (sidecar + Envoy with 2 workers)",
        ready.as_secs_f64()
    );
    println!(
        "  Envoy RSS                     {:.1} MiB (demo schema: {:.1} MiB)",
        mib(envoy_big),
        mib(envoy_small)
    );
    println!(
        "  GET with an embed             p50 {:.2} ms, p99 {:.2} ms (sequential, through Envoy)",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
    write_report("schema", &report)?;
    drop(big);
    drop(cluster);
    Ok(())
}
