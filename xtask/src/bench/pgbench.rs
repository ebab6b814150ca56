//! pgbench: the database ceilings, running captured statements straight against PostgreSQL.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::capture::Captured;
use super::procstat::{postgres_cpu_us, postgres_pids};
use super::report::Measured;
use crate::postgres::Cluster;
use crate::Result;

/// pgbench's script for a captured request: each statement on its own line (four round trips,
/// as PostgREST sends them), or the sidecar's grouping: a pipeline for the statements it sends
/// together.
pub(super) fn script(c: &Captured, pipelined: bool) -> String {
    let mut s = String::from("\\set id random(1, 100000)\n");
    // The sidecar pipelines when it makes fewer round trips than it sends statements.
    let groups = if pipelined && (c.round_trips as usize) < c.statements.len() {
        c.round_trips.max(1)
    } else {
        0
    };
    match groups {
        0 => {
            for st in &c.statements {
                s.push_str(st);
                s.push_str(";\n");
            }
        }
        _ => {
            // The sidecar pipelines everything before the COMMIT of a write (the COMMIT is its
            // own round trip), and everything of a read.
            let (first, last) = match (groups, c.statements.split_last()) {
                (2, Some((end, rest))) => (rest.to_vec(), Some(end.clone())),
                _ => (c.statements.clone(), None),
            };
            s.push_str("\\startpipeline\n");
            for st in &first {
                s.push_str(st);
                s.push_str(";\n");
            }
            s.push_str("\\endpipeline\n");
            if let Some(end) = last {
                s.push_str(&end);
                s.push_str(";\n");
            }
        }
    }
    s
}

pub(super) struct Run {
    pub measured: Measured,
    /// PostgreSQL's CPU time over the run, its exited backends included.
    pub postgres_cpu_us: u64,
}

/// Runs `script` with `clients` connections for `secs` seconds, as the benchmark's
/// authenticator, with its transaction log in a fresh directory under `dir`.
pub(super) fn run(
    cluster: &Cluster,
    bindir: &Path,
    script: &Path,
    clients: u32,
    secs: u64,
    dir: &Path,
) -> Result<Run> {
    let log_dir = dir.join(format!("pgbench-{}", crate::random_hex(4)?));
    std::fs::create_dir_all(&log_dir)?;
    let postmaster = cluster.pid().unwrap_or(0);
    let processes_before = postgres_pids(postmaster).len();
    let cpu_before = postgres_cpu_us(postmaster);
    let out = Command::new(bindir.join("pgbench"))
        .args([
            "-n",
            "-M",
            "prepared",
            "-j",
            "2",
            "-h",
            "127.0.0.1",
            "-U",
            "bench_authenticator",
        ])
        .args(["-p", &cluster.port.to_string()])
        .args(["-c", &clients.to_string(), "-T", &secs.to_string(), "-l"])
        .arg(format!("--log-prefix={}", log_dir.join("tx").display()))
        .arg("-f")
        .arg(script)
        .arg("postgres")
        .stdin(Stdio::null())
        .output()?;
    // pgbench's backends exit with it; their CPU moves to the postmaster's reaped-children
    // time only once it has reaped them. Read after that, or their time would be lost.
    let deadline = Instant::now() + Duration::from_secs(5);
    while postgres_pids(postmaster).len() > processes_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu = postgres_cpu_us(postmaster).saturating_sub(cpu_before);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first_error = stderr.lines().find(|l| l.contains("ERROR")).unwrap_or("");
        return Err(format!(
            "pgbench failed: {first_error}\nscript:\n{}",
            std::fs::read_to_string(script).unwrap_or_default()
        )
        .into());
    }
    let mut log = TransactionLog::default();
    for entry in std::fs::read_dir(&log_dir)?.flatten() {
        log.add(&std::fs::read_to_string(entry.path())?);
    }
    let _ = std::fs::remove_dir_all(&log_dir);
    Ok(Run {
        measured: log.measured(tps(&text)),
        postgres_cpu_us: cpu,
    })
}

/// The transactions of pgbench's per-transaction logs (`-l`).
#[derive(Debug, Default)]
struct TransactionLog {
    latencies_ms: Vec<f64>,
    failed: u64,
}

impl TransactionLog {
    /// Adds one log file's lines.
    fn add(&mut self, text: &str) {
        for line in text.lines() {
            // client_id transaction_no time script_no time_epoch time_us [schedule_lag]
            let mut f = line.split_whitespace();
            match f.nth(2) {
                Some("failed") | Some("skipped") => self.failed += 1,
                Some(us) => self
                    .latencies_ms
                    .push(us.parse::<f64>().unwrap_or(0.0) / 1000.0),
                None => {}
            }
        }
    }

    /// The run's figures, with pgbench's own count of transactions per second.
    fn measured(mut self, tps: f64) -> Measured {
        let latencies = &mut self.latencies_ms;
        latencies.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Measured {
            rps: tps,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            requests: latencies.len() as u64,
            unexpected: self.failed,
        }
    }
}

/// The `tps = …` figure of pgbench's summary.
fn tps(summary: &str) -> f64 {
    summary
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(statements: &[&str], round_trips: u64) -> Captured {
        Captured {
            workload: "test",
            statements: statements.iter().map(|s| s.to_string()).collect(),
            round_trips,
        }
    }

    const READ: [&str; 4] = [
        "BEGIN",
        "select set_config('a', 'b', true)",
        "select :id",
        "COMMIT",
    ];

    #[test]
    fn ceiling_a_sends_every_statement_on_its_own() {
        assert_eq!(
            script(&captured(&READ, 1), false),
            "\\set id random(1, 100000)\nBEGIN;\nselect set_config('a', 'b', true);\nselect :id;\nCOMMIT;\n"
        );
    }

    #[test]
    fn ceiling_b_pipelines_a_read_whole_and_a_write_up_to_its_commit() {
        assert_eq!(
            script(&captured(&READ, 1), true),
            "\\set id random(1, 100000)\n\\startpipeline\nBEGIN;\nselect set_config('a', 'b', true);\nselect :id;\nCOMMIT;\n\\endpipeline\n"
        );
        assert_eq!(
            script(&captured(&READ, 2), true),
            "\\set id random(1, 100000)\n\\startpipeline\nBEGIN;\nselect set_config('a', 'b', true);\nselect :id;\n\\endpipeline\nCOMMIT;\n"
        );
        // As many round trips as statements: nothing to pipeline.
        assert_eq!(
            script(&captured(&READ, 4), true),
            script(&captured(&READ, 4), false)
        );
    }

    #[test]
    fn the_transaction_log_gives_percentiles_and_counts_failures() {
        let mut log = TransactionLog::default();
        log.add("0 1 1000 0 1700000000 1\n0 2 3000 0 1700000000 2\n");
        log.add("1 1 failed 0 1700000000 3\n1 2 2000 0 1700000000 4\n1 3 skipped 0 1 5\n");
        let m = log.measured(tps(
            "latency average = 2.0 ms\ntps = 1234.5 (without initial connection time)\n",
        ));
        assert_eq!((m.rps, m.requests, m.unexpected), (1234.5, 3, 2));
        assert_eq!((m.p50_ms, m.p99_ms), (2.0, 3.0));
    }
}
