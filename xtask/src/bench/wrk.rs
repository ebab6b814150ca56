//! wrk: the HTTP load generator, its Lua request script and its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::report::Measured;
use super::workloads::Workload;
use crate::{install, Result};

/// wrk, from Debian when missing.
pub(super) fn wrk() -> Result<PathBuf> {
    let path = PathBuf::from("/usr/bin/wrk");
    if !path.exists() {
        install::apt_install("wrk")?;
    }
    Ok(path)
}

/// The Lua script that makes wrk send `w` with a random id per request.
pub(super) fn lua(w: &Workload) -> String {
    let quote = |s: &str| format!("{s:?}");
    let headers: Vec<String> = w
        .headers
        .iter()
        .map(|(k, v)| format!("[{}] = {}", quote(k), quote(v)))
        .collect();
    let fill = |s: &str| {
        let parts: Vec<String> = s.split("{id}").map(quote).collect();
        parts.join(" .. id .. ")
    };
    let body = w.body.map_or_else(|| String::from("nil"), fill);
    format!(
        "math.randomseed(os.time())\nrequest = function()\n  local id = math.random(1, 100000)\n  return wrk.format({}, {}, {{{}}}, {body})\nend\n",
        quote(w.method),
        fill(w.path),
        headers.join(", "),
    )
}

/// Runs wrk with `script` against `addr`.
pub(super) fn run(addr: &str, script: &Path, connections: u32, secs: u64) -> Result<Measured> {
    let out = Command::new(wrk()?)
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(format!("http://{addr}"))
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(parse_output(&text))
}

/// The figures in wrk's `--latency` report; those missing stay 0.
fn parse_output(text: &str) -> Measured {
    let mut m = Measured::default();
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("50%"), Some(v)) => m.p50_ms = parse_latency_ms(v),
            (Some("99%"), Some(v)) => m.p99_ms = parse_latency_ms(v),
            (Some("Requests/sec:"), Some(v)) => m.rps = v.parse().unwrap_or(0.0),
            (Some("Non-2xx"), _) => {
                m.unexpected = line
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            }
            _ => {}
        }
        if let Some(n) = line
            .split(" requests in ")
            .next()
            .and_then(|n| n.parse().ok())
        {
            m.requests = n;
        }
    }
    m
}

/// wrk's latency (`812.00us`, `1.20ms`, `2.00s`, `1.00m`) in milliseconds.
fn parse_latency_ms(v: &str) -> f64 {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(0.0);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::workloads::POST_ONE_ROW;

    #[test]
    fn a_latency_report_gives_throughput_percentiles_and_unexpected_answers() {
        let report = "Running 1s test @ http://127.0.0.1:8080
  2 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   512.34us  100.00us   2.00ms   90.00%
    Req/Sec     9.50k   500.00    10.00k    80.00%
  Latency Distribution
     50%  490.00us
     75%  550.00us
     90%  600.00us
     99%    1.20ms
  18900 requests in 1.00s, 2.50MB read
  Non-2xx or 3xx responses: 17
Requests/sec:  18873.51
Transfer/sec:      2.50MB
";
        let m = parse_output(report);
        assert_eq!((m.requests, m.unexpected), (18900, 17));
        assert_eq!((m.rps, m.p50_ms, m.p99_ms), (18873.51, 0.49, 1.2));
    }

    #[test]
    fn latencies_of_every_unit_are_milliseconds() {
        let ms: Vec<f64> = ["250.00us", "3.5ms", "1.50s", "2.00m", "7"]
            .into_iter()
            .map(parse_latency_ms)
            .collect();
        assert_eq!(ms, [0.25, 3.5, 1500.0, 120_000.0, 7.0]);
    }

    #[test]
    fn the_lua_script_fills_the_id_into_path_and_body_and_sends_the_headers() {
        let script = lua(&POST_ONE_ROW);
        assert!(script.contains(
            r#"return wrk.format("POST", "/visits", {["Content-Type"] = "application/json"}, "{\"parent_id\": " .. id .. ", \"note\": \"bench\"}")"#
        ), "{script}");
    }
}
