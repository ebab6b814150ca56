//! `cargo xtask bench stream`: a 1,000,000-row result through Envoy, with the peak memory of
//! the sidecar and of Envoy while it flows.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::procstat::{rss_kib, sample_peaks};
use super::{anonymous_stack, demo_bed, write_report};
use crate::Result;

const ROWS: u64 = 1_000_000;

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
