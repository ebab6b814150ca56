//! `cargo xtask bench body`: large JSON bodies inserted through Envoy.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::procstat::{rss_kib, sample_peaks};
use super::{anonymous_stack, demo_bed, write_report};
use crate::Result;

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
