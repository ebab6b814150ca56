//! Benchmarks that need the whole stack (figures, not tests).
//!
//! `stream`: a 1,000,000-row result through Envoy, with the peak memory of the sidecar and of
//! Envoy while it flows.

mod capture;
mod envoy;
mod load;
mod options;
mod pgbench;
mod procstat;
mod report;
mod workloads;
mod wrk;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub use load::load;
pub use procstat::rss_kib;
use procstat::sample_peaks;

use crate::postgres::Cluster;
use crate::stack::{Stack, StackOptions};
use crate::{install, root, Result};

const ROWS: u64 = 1_000_000;

/// What every benchmark starts from: Envoy, a release build, and a throwaway cluster holding
/// the demo schema.
fn demo_bed() -> Result<(std::path::PathBuf, install::Artifacts, Cluster)> {
    install::wasm_target()?;
    let bindir = install::postgres()?;
    let envoy_bin = install::envoy()?;
    let artifacts = install::build(true, false)?;
    let cluster = Cluster::start(&bindir, false)?;
    cluster.psql(&std::fs::read_to_string(root().join("demo/demo.sql"))?)?;
    Ok((envoy_bin, artifacts, cluster))
}

/// The stack over a benchmark cluster, with the anonymous role only.
fn anonymous_stack(
    cluster: &Cluster,
    artifacts: install::Artifacts,
    envoy_bin: std::path::PathBuf,
) -> Result<Stack> {
    let config = format!(
        "db-uri = \"{}\"\ndb-schemas = \"api\"\ndb-anon-role = \"web_anon\"\n",
        cluster.uri("authenticator")
    );
    Stack::start(StackOptions {
        config_text: Some(config),
        api_port: Some(crate::free_port()?),
        ..StackOptions::new(artifacts.wasm, artifacts.sidecar, envoy_bin)
    })
}

pub fn stream() -> Result<()> {
    let (envoy_bin, artifacts, cluster) = demo_bed()?;
    cluster.psql(&format!(
        "create table api.million as select i as id, 'name ' || i as name, i * 2 as value, now() as at \
         from generate_series(1, {ROWS}) i; grant select on api.million to web_anon; analyze api.million;"
    ))?;
    let expected: u64 = cluster
        .psql("select sum(length(row_to_json(t)::text)) + (count(*) - 1) * 4 + 2 from (select * from api.million order by id) t")?
        .trim()
        .parse()?;
    let stack = anonymous_stack(&cluster, artifacts, envoy_bin)?;
    let pids = stack.pids();
    let (sidecar, envoy) = match pids.as_slice() {
        [s, e, ..] => (*s, *e),
        _ => return Err("the stack has no sidecar or Envoy process".into()),
    };
    let comm = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    if !comm(sidecar).starts_with("pgmesh-sidecar") || comm(envoy) != "envoy" {
        return Err(format!("unexpected processes: {} {}", comm(sidecar), comm(envoy)).into());
    }
    let before = (rss_kib(sidecar).0, rss_kib(envoy).0);

    // Sample both processes while the result flows.
    let (running, sampler) = sample_peaks(sidecar, envoy);
    let started = Instant::now();
    let mut conn = TcpStream::connect(&stack.api)?;
    write!(
        conn,
        "GET /million?order=id HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut total, mut head, mut tail) = (0u64, Vec::new(), Vec::new());
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 4096 {
            head.extend_from_slice(&buf[..n.min(4096)]);
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
        total += n as u64;
    }
    let elapsed = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let peak = sampler.join().map_err(|_| "sampler panicked")?;
    let peak_hwm_sidecar = rss_kib(sidecar).1;

    let head_text = String::from_utf8_lossy(&head);
    if !head_text.starts_with("HTTP/1.1 200")
        || !head_text
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
    {
        return Err(format!(
            "unexpected response head: {}",
            head_text.lines().next().unwrap_or("")
        )
        .into());
    }
    if !tail.ends_with(b"]\r\n0\r\n\r\n") {
        return Err("the body did not end as a complete JSON array".into());
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    let report = serde_json::json!({
        "rows": ROWS,
        "json_bytes_expected": expected,
        "bytes_on_the_wire": total,
        "seconds": elapsed.as_secs_f64(),
        "mib_per_second": total as f64 / 1048576.0 / elapsed.as_secs_f64(),
        "sidecar_rss_before_mib": mib(before.0),
        "sidecar_rss_peak_sampled_mib": mib(peak.0),
        "sidecar_rss_peak_hwm_mib": mib(peak_hwm_sidecar),
        "envoy_rss_before_mib": mib(before.1),
        "envoy_rss_peak_sampled_mib": mib(peak.1),
        "envoy_rss_growth_mib": mib(peak.1.saturating_sub(before.1)),
    });
    println!("\n1,000,000-row read through Envoy (one run)");
    println!(
        "  JSON body            {:>10.1} MiB ({} bytes with chunk framing)",
        expected as f64 / 1048576.0,
        total
    );
    println!(
        "  time                 {:>10.2} s ({:.0} MiB/s)",
        elapsed.as_secs_f64(),
        report["mib_per_second"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  sidecar peak RSS     {:>10.1} MiB (VmHWM; {:.1} MiB before)",
        mib(peak_hwm_sidecar),
        mib(before.0)
    );
    println!(
        "  Envoy RSS growth     {:>10.1} MiB ({:.1} -> {:.1} MiB)",
        mib(peak.1.saturating_sub(before.1)),
        mib(before.1),
        mib(peak.1)
    );
    write_report("stream", &report)?;
    drop(stack);
    drop(cluster);
    Ok(())
}

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
        method: String::from("GET"),
        path: handoff::SCHEMA_PATH.to_string(),
        ts_ms: now,
        nonce: crate::random_hex(8)?,
        ..Handoff::default()
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

/// A JSON array of `rows` objects of about 100 bytes each.
pub fn bulk_body(rows: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(rows as usize * 110);
    body.push(b'[');
    for i in 1..=rows {
        if i > 1 {
            body.push(b',');
        }
        body.extend_from_slice(
            format!(
                r#"{{"id":{i},"name":"name {i}","value":{},"note":"{}"}}"#,
                i % 1000,
                "n".repeat(48)
            )
            .as_bytes(),
        );
    }
    body.push(b']');
    body
}

/// `body`: 50 MB JSON bodies inserted through Envoy, once with the columns read from the first
/// object by the filter and once with `?columns=`, with Envoy's (the filter's) and the
/// sidecar's memory while they flow.
pub fn body() -> Result<()> {
    let (envoy_bin, artifacts, cluster) = demo_bed()?;
    cluster.psql(
        "create table api.bulk (id int primary key, name text, value int, note text); \
         grant select, insert on api.bulk to web_anon;",
    )?;
    let stack = anonymous_stack(&cluster, artifacts, envoy_bin)?;
    let (sidecar, envoy) = match stack.pids().as_slice() {
        [s, e, ..] => (*s, *e),
        _ => return Err("the stack has no sidecar or Envoy process".into()),
    };
    let rows = 500_000;
    let body = bulk_body(rows);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut runs = Vec::new();
    for (label, path) in [
        ("keys from the first object", "/bulk"),
        ("?columns=", "/bulk?columns=id,name,value,note"),
    ] {
        cluster.psql("truncate api.bulk")?;
        let before = (rss_kib(sidecar).0, rss_kib(envoy).0);
        let (running, sampler) = sample_peaks(sidecar, envoy);
        let started = Instant::now();
        let r = crate::http::request_with_body(
            &stack.api,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &body,
        )?;
        let elapsed = started.elapsed();
        running.store(false, Ordering::Relaxed);
        let peak = sampler.join().map_err(|_| "sampler panicked")?;
        if r.status != 201 {
            return Err(format!("{label}: {} {}", r.status, r.body).into());
        }
        let check = cluster.psql("select count(*) || ' ' || sum(value) from api.bulk")?;
        let expected = format!("{rows} {}", (1..=rows).map(|i| i % 1000).sum::<u64>());
        if check.trim() != expected {
            return Err(format!("{label}: table holds {check:?}, expected {expected:?}").into());
        }
        println!(
            "\n{:.1} MB JSON body, {rows} rows ({label}): 201 in {:.2} s, rows checked\n  Envoy RSS growth {:.1} MiB ({:.1} -> {:.1}); sidecar RSS peak {:.1} MiB ({:.1} before)",
            body.len() as f64 / 1e6,
            elapsed.as_secs_f64(),
            mib(peak.1.saturating_sub(before.1)),
            mib(before.1),
            mib(peak.1),
            mib(peak.0),
            mib(before.0),
        );
        runs.push(serde_json::json!({
            "path": path,
            "how": label,
            "body_bytes": body.len(),
            "rows": rows,
            "seconds": elapsed.as_secs_f64(),
            "envoy_rss_before_mib": mib(before.1),
            "envoy_rss_peak_mib": mib(peak.1),
            "envoy_rss_growth_mib": mib(peak.1.saturating_sub(before.1)),
            "sidecar_rss_before_mib": mib(before.0),
            "sidecar_rss_peak_mib": mib(peak.0),
        }));
    }
    write_report("body", &serde_json::json!({ "runs": runs }))?;
    drop(stack);
    drop(cluster);
    Ok(())
}

/// Keeps a benchmark's figures as `target/bench/<name>.json`.
pub(crate) fn write_report(name: &str, report: &serde_json::Value) -> Result<()> {
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join(format!("{name}.json")),
        serde_json::to_string_pretty(report)?,
    )?;
    println!("  written to target/bench/{name}.json");
    Ok(())
}
