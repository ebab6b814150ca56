//! `cargo xtask bench load`: the stack under wrk, side by side with its ceilings, in one run.
//!
//! - the stack: Envoy with the filter, the sidecar and PostgreSQL, loaded by wrk on loopback;
//! - ceiling A: pgbench running PostgREST's transaction for the same request as four separate
//!   prepared statements (`BEGIN`; `select set_config(…)`; the main statement; `COMMIT`);
//! - ceiling B: pgbench running exactly the statements the sidecar sent (captured from
//!   PostgreSQL's log), grouped into round trips as the sidecar sends them;
//! - the proxy ceiling: the same Envoy binary answering with `direct_response`.
//!
//! Every figure comes from the same run on the same machine; the table is printed and written
//! to `target/bench/load.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::postgres::Cluster;
use crate::stack::{Stack, StackOptions};
use crate::{free_port, http, install, proc, root, temp_dir, Result};

/// The benchmark database: 100,000 parents with 10 children each.
const SCHEMA: &str = "
create table api.parents (id int primary key, name text not null, created date not null default current_date);
insert into api.parents (id, name) select i, 'parent ' || i from generate_series(1, 100000) i;
create table api.children (id int primary key, parent_id int not null references api.parents(id),
  label text not null, value int not null);
insert into api.children select i, (i % 100000) + 1, 'child ' || i, i % 1000 from generate_series(1, 1000000) i;
create index on api.children (parent_id);
create table api.visits (id bigserial primary key, parent_id int not null, note text);
create function api.parent_name(pid int) returns text language sql stable as
  $$ select name from api.parents where id = pid $$;
grant select on api.parents, api.children to web_anon;
grant select, insert on api.visits to web_anon;
grant usage on sequence api.visits_id_seq to web_anon;
grant execute on function api.parent_name(int) to web_anon;
-- pgbench prepares every statement of its script before the first runs, so before the role
-- switch: its authenticator inherits what web_anon may do.
create role bench_authenticator login inherit;
grant web_anon to bench_authenticator;
analyze api.parents, api.children;
";

/// The id the capture uses, replaced by a random id in the pgbench scripts.
const MARK: &str = "77777";

/// One kind of request.
struct Workload {
    name: &'static str,
    method: &'static str,
    /// Path and query; `{id}` is a random id in 1..=100000.
    path: &'static str,
    /// JSON body (POST); `{id}` as above.
    body: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    /// The status every answer must have.
    status: u16,
    /// Whether PostgreSQL answers it (and so has ceilings A and B).
    database: bool,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "GET one row",
        method: "GET",
        path: "/parents?id=eq.{id}",
        body: None,
        headers: &[],
        status: 200,
        database: true,
    },
    Workload {
        name: "GET 100 rows",
        method: "GET",
        path: "/children?select=id,label,value&id=gt.{id}&order=id&limit=100",
        body: None,
        headers: &[],
        status: 200,
        database: true,
    },
    Workload {
        name: "GET with embed",
        method: "GET",
        path: "/parents?select=id,name,children(id,label)&id=eq.{id}",
        body: None,
        headers: &[],
        status: 200,
        database: true,
    },
    Workload {
        name: "POST one row",
        method: "POST",
        path: "/visits",
        body: Some(r#"{"parent_id": {id}, "note": "bench"}"#),
        headers: &[("Content-Type", "application/json")],
        status: 201,
        database: true,
    },
    Workload {
        name: "RPC",
        method: "GET",
        path: "/rpc/parent_name?pid={id}",
        body: None,
        headers: &[],
        status: 200,
        database: true,
    },
    Workload {
        name: "bad JWT",
        method: "GET",
        path: "/parents?id=eq.{id}",
        body: None,
        headers: &[("Authorization", "Bearer not.a.jwt")],
        status: 401,
        database: false,
    },
    Workload {
        name: "filter only (404)",
        method: "GET",
        path: "/no_such_table?id=eq.{id}",
        body: None,
        headers: &[],
        status: 404,
        database: false,
    },
];

const CONNECTIONS: [u32; 2] = [10, 50];

/// The plain proxy hop's row.
const HOP: &str = "Envoy → Envoy direct_response (no filter)";

/// The connection counts to measure (`PGMESH_BENCH_CONNECTIONS`, comma-separated, overrides).
fn connections() -> Vec<u32> {
    std::env::var("PGMESH_BENCH_CONNECTIONS")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .filter(|v: &Vec<u32>| !v.is_empty())
        .unwrap_or_else(|| CONNECTIONS.to_vec())
}

/// Whether a measurement is selected: `PGMESH_BENCH_ONLY` (comma-separated parts of names,
/// such as `one row,filter cost`) narrows a run to some of them; unset, all run.
fn selected(name: &str) -> bool {
    match std::env::var("PGMESH_BENCH_ONLY") {
        Ok(only) if !only.trim().is_empty() => only
            .split(',')
            .map(str::trim)
            .any(|part| !part.is_empty() && name.contains(part)),
        _ => true,
    }
}

/// Seconds each measurement runs (`PGMESH_BENCH_SECONDS` overrides).
fn seconds() -> u64 {
    std::env::var("PGMESH_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

/// wrk, from Debian when missing.
fn wrk() -> Result<PathBuf> {
    let path = PathBuf::from("/usr/bin/wrk");
    if !path.exists() {
        install::apt_install("wrk")?;
    }
    Ok(path)
}

/// A measured load: throughput and latency.
#[derive(Debug, Clone, Default)]
struct Measured {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    /// Answers with another status than expected (wrk: non-2xx/3xx).
    unexpected: u64,
}

/// The Lua script that makes wrk send `w` with a random id per request.
fn lua(w: &Workload) -> String {
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

fn run_wrk(addr: &str, script: &Path, connections: u32, secs: u64) -> Result<Measured> {
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
    Ok(m)
}

/// The numeric fields of `/proc/<pid>/stat` after the command name (which is in parentheses):
/// index 1 is the parent pid, 11 and 12 the user and system time, 13 and 14 those of reaped
/// children, in clock ticks. Empty when the process is gone.
fn stat_fields(pid: u32) -> Vec<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.to_string()))
        .map(|rest| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

fn field(fields: &[u64], i: usize) -> u64 {
    fields.get(i).copied().unwrap_or(0)
}

fn ticks_to_us(ticks: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000 / per_second
}

/// CPU time (user + system) of processes, in microseconds.
fn cpu_us(pids: &[u32]) -> u64 {
    ticks_to_us(
        pids.iter()
            .map(|pid| {
                let f = stat_fields(*pid);
                field(&f, 11) + field(&f, 12)
            })
            .sum(),
    )
}

/// CPU time of a PostgreSQL cluster: the postmaster, its live children, and the children that
/// already exited (a backend's time is added to the postmaster's `cutime`/`cstime` when it is
/// reaped), in microseconds.
fn postgres_cpu_us(postmaster: u32) -> u64 {
    let f = stat_fields(postmaster);
    cpu_us(&postgres_pids(postmaster)) + ticks_to_us(field(&f, 13) + field(&f, 14))
}

/// The postmaster and all its children (backends, background workers).
fn postgres_pids(postmaster: u32) -> Vec<u32> {
    let mut pids = vec![postmaster];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if field(&stat_fields(pid), 1) == u64::from(postmaster) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// The sidecar's count of PostgreSQL round trips.
fn round_trips(sidecar: &str) -> u64 {
    http::get(sidecar, "/_pgmesh/metrics")
        .ok()
        .and_then(|r| {
            r.body
                .lines()
                .find(|l| l.starts_with("pgmesh_pg_round_trips_total "))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// One captured request: the statements the sidecar sent, in order, as SQL with literals,
/// and how many round trips they took.
#[derive(Debug, Clone)]
struct Captured {
    statements: Vec<String>,
    round_trips: u64,
}

/// Turns `$n` into the literal the log gave for it, and the marked id into pgbench's `:id`.
fn inline_parameters(sql: &str, params: &[(usize, String)]) -> String {
    let mut out = sql.to_string();
    let mut sorted = params.to_vec();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.0));
    for (n, literal) in sorted {
        let value = if literal == format!("'{MARK}'") {
            // An untyped parameter, as the sidecar sends it.
            String::from(":id")
        } else if literal.contains(MARK) {
            // '…77777…' → ('…' || :id || '…')
            let replaced = literal.replace(MARK, "' || :id || '");
            format!("({replaced})")
        } else {
            literal
        };
        out = out.replace(&format!("${n}"), &value);
    }
    out
}

/// `$1 = 'a', $2 = NULL` → the literals by number (values may hold `, $`; split on the
/// parameter markers that start each item).
fn parse_parameters(detail: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = detail.trim();
    while let Some(after) = rest.strip_prefix('$') {
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse::<usize>() else {
            break;
        };
        let value_start = &after[digits.len()..];
        let value_start = value_start.strip_prefix(" = ").unwrap_or(value_start);
        // A literal is 'quoted' ('' escapes a quote) or NULL.
        let (literal, tail) = if let Some(q) = value_start.strip_prefix('\'') {
            let bytes = q.as_bytes();
            let mut i = 0;
            loop {
                match bytes.get(i) {
                    Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                    Some(b'\'') => break,
                    Some(_) => i += 1,
                    None => break,
                }
            }
            let end = (i + 1).min(q.len());
            (format!("'{}", &q[..end]), &q[end..])
        } else {
            let end = value_start.find(", $").unwrap_or(value_start.len());
            (value_start[..end].to_string(), &value_start[end..])
        };
        out.push((n, literal));
        rest = tail.trim_start_matches(',').trim_start();
    }
    out
}

/// The statements in a PostgreSQL log written with `log_statement=all`, from byte `from`.
fn logged_statements(log: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut lines = log.lines().peekable();
    while let Some(line) = lines.next() {
        let text = match line.split_once("LOG:  ") {
            Some((_, t)) => t,
            None => continue,
        };
        if let Some(sql) = text.strip_prefix("statement: ") {
            statements.push(sql.to_string());
        } else if let Some((_, sql)) = text
            .strip_prefix("execute ")
            .and_then(|t| t.split_once(": "))
        {
            let params = match lines
                .peek()
                .and_then(|l| l.split_once("DETAIL:  parameters: "))
            {
                Some((_, detail)) => {
                    let p = parse_parameters(detail);
                    lines.next();
                    p
                }
                None => Vec::new(),
            };
            statements.push(inline_parameters(sql, &params));
        }
    }
    statements
}

/// Sends one request of each database workload with the marked id, through a stack whose
/// database role logs every statement, and reads back what the sidecar sent.
fn capture(stack: &Stack, cluster: &Cluster, sidecar: &str) -> Result<Vec<Captured>> {
    let mut captured = Vec::new();
    for w in WORKLOADS.iter().filter(|w| w.database) {
        let path = w.path.replace("{id}", MARK);
        let body = w.body.map(|b| b.replace("{id}", MARK)).unwrap_or_default();
        let send = || -> Result<()> {
            let r =
                http::request_with_body(&stack.api, w.method, &path, w.headers, body.as_bytes())?;
            if r.status != w.status {
                return Err(format!("{}: {} {}", w.name, r.status, r.body).into());
            }
            Ok(())
        };
        // The first request prepares its statement on the connection; the second shows the
        // steady state.
        send()?;
        std::thread::sleep(Duration::from_millis(100));
        let before = std::fs::metadata(cluster.log_path())?.len() as usize;
        let trips = round_trips(sidecar);
        send()?;
        std::thread::sleep(Duration::from_millis(200));
        let log = std::fs::read(cluster.log_path())?;
        let text = String::from_utf8_lossy(log.get(before..).unwrap_or_default()).into_owned();
        let statements: Vec<String> = logged_statements(&text)
            .into_iter()
            .filter(|s| !s.starts_with("LISTEN"))
            .collect();
        if statements.is_empty() {
            return Err(format!("{}: no statement was captured from:\n{text}", w.name).into());
        }
        captured.push(Captured {
            statements,
            round_trips: round_trips(sidecar).saturating_sub(trips),
        });
    }
    Ok(captured)
}

/// pgbench's script for a captured request: each statement on its own line (four round trips,
/// as PostgREST sends them), or the sidecar's grouping: a pipeline for the statements it sends
/// together.
fn pgbench_script(c: &Captured, pipelined: bool) -> String {
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

struct PgbenchRun {
    measured: Measured,
    postgres_cpu_us: u64,
}

fn run_pgbench(
    cluster: &Cluster,
    bindir: &Path,
    script: &Path,
    clients: u32,
    secs: u64,
    dir: &Path,
) -> Result<PgbenchRun> {
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
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while postgres_pids(postmaster).len() > processes_before && std::time::Instant::now() < deadline
    {
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
    let mut latencies: Vec<f64> = Vec::new();
    let mut failed = 0u64;
    for entry in std::fs::read_dir(&log_dir)?.flatten() {
        for line in std::fs::read_to_string(entry.path())?.lines() {
            // client_id transaction_no time script_no time_epoch time_us [schedule_lag]
            let mut f = line.split_whitespace();
            match f.nth(2) {
                Some("failed") | Some("skipped") => failed += 1,
                Some(us) => latencies.push(us.parse::<f64>().unwrap_or(0.0) / 1000.0),
                None => {}
            }
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let _ = std::fs::remove_dir_all(&log_dir);
    Ok(PgbenchRun {
        measured: Measured {
            rps: tps,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            requests: latencies.len() as u64,
            unexpected: failed,
        },
        postgres_cpu_us: cpu,
    })
}

/// An Envoy of the same binary that answers every request itself: the proxy ceiling.
fn direct_envoy(envoy_bin: &Path, dir: &Path) -> Result<(std::process::Child, String)> {
    let route = r#"direct_response:
                  status: 404
                  body: {inline_string: '{"code":"PGRST205","details":null,"hint":null,"message":"Could not find the table"}'}"#;
    plain_envoy(envoy_bin, dir, "direct", route, None)
}

/// An Envoy of the same binary, with no filter, forwarding every request to `upstream` (over
/// HTTP/1.1, as to the sidecar): what one proxy hop costs when the upstream answers at once.
fn hop_envoy(
    envoy_bin: &Path,
    dir: &Path,
    upstream: &str,
) -> Result<(std::process::Child, String)> {
    let (host, port) = upstream
        .rsplit_once(':')
        .ok_or("the upstream address has no port")?;
    let route = "route: {cluster: upstream, timeout: 0s}";
    let cluster = format!(
        r#"  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: {{socket_address: {{address: {host}, port_value: {port}}}}}
"#
    );
    plain_envoy(envoy_bin, dir, "hop", route, Some(&cluster))
}

fn plain_envoy(
    envoy_bin: &Path,
    dir: &Path,
    name: &str,
    route: &str,
    clusters: Option<&str>,
) -> Result<(std::process::Child, String)> {
    let port = free_port()?;
    let admin = free_port()?;
    let yaml = format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: {name}
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                {route}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
{clusters}"#,
        clusters = clusters.unwrap_or("")
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml)?;
    let mut cmd = Command::new(envoy_bin);
    cmd.arg("-c")
        .arg(&path)
        .args([
            "--disable-hot-restart",
            "--concurrency",
            "2",
            "--log-level",
            "warn",
        ])
        .args(["--base-id", &(u32::from(port) % 10_000 + 1).to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = proc::spawn(cmd, None, libc::SIGTERM)?;
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if http::get(&addr, "/").is_ok() {
            return Ok((child, addr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the {name} Envoy did not start").into())
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    workload: &'static str,
    connections: u32,
    what: &'static str,
    m: Measured,
    /// CPU µs per request: Envoy, sidecar, PostgreSQL.
    cpu: [Option<f64>; 3],
    round_trips: Option<f64>,
}

pub fn load() -> Result<()> {
    install::wasm_target()?;
    let bindir = install::postgres()?;
    let envoy_bin = install::envoy()?;
    wrk()?;
    let artifacts = install::build(true, false)?;
    let cluster = Cluster::start(&bindir, false)?;
    cluster.psql(&std::fs::read_to_string(root().join("demo/demo.sql"))?)?;
    eprintln!("xtask: loading the benchmark database (100,000 parents, 1,000,000 children)");
    cluster.psql(SCHEMA)?;
    let config = format!(
        "db-uri = \"{}\"\ndb-schemas = \"api\"\ndb-anon-role = \"web_anon\"\njwt-secret = \"{}\"\ndb-pool = 10\n",
        cluster.uri("authenticator"),
        crate::stack::DEMO_JWT_SECRET,
    );
    let start_with = |wasm: &Path| {
        Stack::start(StackOptions {
            config_text: Some(config.clone()),
            api_port: Some(free_port()?),
            ..StackOptions::new(
                wasm.to_path_buf(),
                artifacts.sidecar.clone(),
                envoy_bin.clone(),
            )
        })
    };
    let start = || start_with(&artifacts.wasm);
    // What the sidecar sends is captured on a stack of its own, whose connections log every
    // statement (a role setting, read when a connection opens); the measured stack's do not.
    cluster.psql("alter role authenticator set log_statement = 'all'")?;
    let captured = {
        let capture_stack = start()?;
        let sidecar = format!("127.0.0.1:{}", capture_stack.sidecar_port);
        capture(&capture_stack, &cluster, &sidecar)?
    };
    cluster.psql("alter role authenticator reset log_statement")?;
    let stack = start()?;
    let (sidecar_pid, envoy_pid) = match stack.pids().as_slice() {
        [s, e, ..] => (*s, *e),
        _ => return Err("the stack has no sidecar or Envoy process".into()),
    };
    let sidecar = format!("127.0.0.1:{}", stack.sidecar_port);
    let postmaster = cluster.pid().unwrap_or(0);
    let dir = temp_dir("load")?;
    let secs = seconds();

    let (mut direct, direct_addr) = direct_envoy(&envoy_bin, &dir)?;
    let (mut hop, hop_addr) = hop_envoy(&envoy_bin, &dir, &direct_addr)?;

    let mut rows: Vec<Row> = Vec::new();
    for conns in connections() {
        // The proxy ceiling.
        let script = dir.join("direct.lua");
        std::fs::write(&script, lua(&WORKLOADS[6]))?;
        // Then one plain proxy hop in front of that answer.
        for (envoy, addr, workload, what) in [
            (
                direct.id(),
                &direct_addr,
                "Envoy direct_response",
                "proxy ceiling",
            ),
            (hop.id(), &hop_addr, HOP, "proxy hop"),
        ] {
            let before = cpu_us(&[envoy]);
            let m = run_wrk(addr, &script, conns, secs)?;
            let per_request = (cpu_us(&[envoy]) - before) as f64 / m.requests.max(1) as f64;
            rows.push(Row {
                workload,
                connections: conns,
                what,
                cpu: [Some(per_request), None, None],
                m,
                round_trips: None,
            });
        }
        let mut db_index = 0;
        for w in WORKLOADS {
            if !selected(w.name) {
                db_index += usize::from(w.database);
                continue;
            }
            let script = dir.join("w.lua");
            std::fs::write(&script, lua(w))?;
            let before = [
                cpu_us(&[envoy_pid]),
                cpu_us(&[sidecar_pid]),
                postgres_cpu_us(postmaster),
            ];
            let trips = round_trips(&sidecar);
            let m = run_wrk(&stack.api, &script, conns, secs)?;
            let after = [
                cpu_us(&[envoy_pid]),
                cpu_us(&[sidecar_pid]),
                postgres_cpu_us(postmaster),
            ];
            let n = m.requests.max(1) as f64;
            if m.unexpected > 0 && w.status < 300 {
                eprintln!(
                    "warning: {}: {} answers were not {}",
                    w.name, m.unexpected, w.status
                );
            }
            rows.push(Row {
                workload: w.name,
                connections: conns,
                what: "pgmesh",
                cpu: [0, 1, 2].map(|i| Some(after[i].saturating_sub(before[i]) as f64 / n)),
                round_trips: Some(round_trips(&sidecar).saturating_sub(trips) as f64 / n),
                m,
            });
            if !w.database {
                continue;
            }
            let c = &captured[db_index];
            db_index += 1;
            for (what, pipelined) in [("ceiling A", false), ("ceiling B", true)] {
                let script = dir.join("pg.sql");
                std::fs::write(&script, pgbench_script(c, pipelined))?;
                let run = run_pgbench(&cluster, &bindir, &script, conns, secs, &dir)?;
                let n = run.measured.requests.max(1) as f64;
                let trips = if pipelined {
                    c.round_trips.max(1) as f64
                } else {
                    c.statements.len() as f64
                };
                rows.push(Row {
                    workload: w.name,
                    connections: conns,
                    what,
                    cpu: [None, None, Some(run.postgres_cpu_us as f64 / n)],
                    m: run.measured,
                    round_trips: Some(trips),
                });
            }
        }
    }
    proc::stop(&mut hop, libc::SIGTERM);
    proc::stop(&mut direct, libc::SIGTERM);
    drop(stack);
    let filter_rows = if selected("filter cost") {
        filter_cost(&start_with, &dir, secs)?
    } else {
        Vec::new()
    };
    report(&rows, &captured, &filter_rows)?;
    let _ = std::fs::remove_dir_all(&dir);
    drop(cluster);
    Ok(())
}

/// Envoy's CPU per request with the filter doing all its work (authenticate, parse, plan,
/// sign) and then answering itself, against the same Envoy with a wasm filter that does
/// nothing (its request answered by `direct_response`): the difference is the filter's own
/// cost.
fn filter_cost(
    start_with: &dyn Fn(&Path) -> Result<Stack>,
    dir: &Path,
    secs: u64,
) -> Result<Vec<FilterRow>> {
    let local = install::build_wasm(
        &["--features", "bench-local"],
        "pgmesh_filter_bench_local.wasm",
    )?;
    let passthrough = install::build_wasm(
        &["--features", "passthrough"],
        "pgmesh_filter_passthrough.wasm",
    )?;
    let token: &'static str = Box::leak(
        crate::hs256_token(
            crate::stack::DEMO_JWT_SECRET,
            &serde_json::json!({"role": "web_anon"}),
        )
        .into_boxed_str(),
    );
    let bearer: &'static str = Box::leak(format!("Bearer {token}").into_boxed_str());
    let header: &'static [(&'static str, &'static str)] =
        Box::leak(vec![("Authorization", bearer)].into_boxed_slice());
    let cases = [
        ("GET one row, anonymous", &[][..]),
        (
            "GET one row, HS256 JWT (from the cache of verified tokens)",
            header,
        ),
    ];
    // Both stacks run side by side and are measured in alternating slices, so that the
    // machine's drift (other tenants, clock speed) falls on both alike.
    let with = start_with(&local)?;
    let without = start_with(&passthrough)?;
    let slice = (secs / FILTER_COST_SLICES).max(1);
    let mut out = Vec::new();
    for &conns in &connections() {
        for (name, headers) in &cases {
            let w = Workload {
                name: "filter cost",
                method: "GET",
                path: "/parents?id=eq.{id}",
                body: None,
                headers,
                status: 200,
                database: false,
            };
            let script = dir.join("filter.lua");
            std::fs::write(&script, lua(&w))?;
            let (mut cpu, mut requests) = ([0u64; 2], [0u64; 2]);
            for _ in 0..FILTER_COST_SLICES {
                for (i, stack) in [&with, &without].into_iter().enumerate() {
                    let envoy = stack.pids().get(1).copied().unwrap_or(0);
                    let before = cpu_us(&[envoy]);
                    let m = run_wrk(&stack.api, &script, conns, slice)?;
                    cpu[i] += cpu_us(&[envoy]).saturating_sub(before);
                    requests[i] += m.requests;
                }
            }
            let per = |i: usize| cpu[i] as f64 / requests[i].max(1) as f64;
            out.push((name.to_string(), conns, per(0), per(1), per(0) - per(1)));
        }
    }
    Ok(out)
}

type FilterRow = (String, u32, f64, f64, f64);

/// Slices each side of the filter-cost comparison is measured in, alternately.
const FILTER_COST_SLICES: u64 = 4;

fn report(rows: &[Row], captured: &[Captured], filter_rows: &[FilterRow]) -> Result<()> {
    let find = |w: &str, c: u32, what: &str| {
        rows.iter()
            .find(|r| r.workload == w && r.connections == c && r.what == what)
            .map(|r| r.m.rps)
    };
    let fmt = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| String::from("-"), |v| format!("{v:.digits$}"))
    };
    println!(
        "\n| request | conns | run | req/s | p50 ms | p99 ms | Envoy µs/req | sidecar µs/req | PostgreSQL µs/req | PG round trips/req | × ceiling A | × ceiling B | × direct_response |"
    );
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut json = Vec::new();
    for r in rows {
        let ratio = |ceiling: Option<f64>| ceiling.filter(|c| *c > 0.0).map(|c| r.m.rps / c);
        let (a, b, d) = if r.what == "pgmesh" {
            (
                ratio(find(r.workload, r.connections, "ceiling A")),
                ratio(find(r.workload, r.connections, "ceiling B")),
                ratio(find(
                    "Envoy direct_response",
                    r.connections,
                    "proxy ceiling",
                )),
            )
        } else if r.workload == HOP {
            // A hop with nothing behind it, against the database's own ceiling for one row.
            (
                ratio(find("GET one row", r.connections, "ceiling A")),
                None,
                ratio(find(
                    "Envoy direct_response",
                    r.connections,
                    "proxy ceiling",
                )),
            )
        } else {
            (None, None, None)
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.connections,
            r.what,
            r.m.rps,
            r.m.p50_ms,
            r.m.p99_ms,
            fmt(r.cpu[0], 1),
            fmt(r.cpu[1], 1),
            fmt(r.cpu[2], 1),
            fmt(r.round_trips, 2),
            fmt(a, 2),
            fmt(b, 2),
            fmt(d, 2),
        );
        json.push(serde_json::json!({
            "request": r.workload,
            "connections": r.connections,
            "run": r.what,
            "requests_per_second": r.m.rps,
            "p50_ms": r.m.p50_ms,
            "p99_ms": r.m.p99_ms,
            "requests": r.m.requests,
            "unexpected_answers": r.m.unexpected,
            "cpu_us_per_request": {"envoy": r.cpu[0], "sidecar": r.cpu[1], "postgresql": r.cpu[2]},
            "pg_round_trips_per_request": r.round_trips,
            "ratio_to_ceiling_a": a,
            "ratio_to_ceiling_b": b,
            "ratio_to_direct_response": d,
        }));
    }
    let statements: Vec<serde_json::Value> = WORKLOADS
        .iter()
        .filter(|w| w.database)
        .zip(captured)
        .map(|(w, c)| serde_json::json!({"request": w.name, "statements": c.statements, "round_trips": c.round_trips}))
        .collect();
    println!(
        "\nThe filter's own cost: Envoy CPU per request with the filter doing all its work and answering itself, against a pass-through wasm filter\n"
    );
    println!("| request | conns | with the filter µs/req | pass-through µs/req | filter's own cost µs/req |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut filter_json = Vec::new();
    for (name, conns, with, without, cost) in filter_rows {
        println!("| {name} | {conns} | {with:.1} | {without:.1} | {cost:.1} |");
        filter_json.push(serde_json::json!({
            "request": name, "connections": conns,
            "envoy_cpu_us_with_filter": with, "envoy_cpu_us_pass_through": without,
            "filter_cost_us": cost,
        }));
    }
    crate::bench::write_report(
        "load",
        &serde_json::json!({
            "seconds_per_run": seconds(),
            "rows": json,
            "captured": statements,
            "filter_cost": filter_json,
        }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_parameters_become_literals_and_the_mark_a_variable() {
        let p = parse_parameters("$1 = 'a, $2 = ''b''', $2 = NULL, $3 = '77777'");
        assert_eq!(
            p,
            vec![
                (1, "'a, $2 = ''b'''".to_string()),
                (2, "NULL".to_string()),
                (3, "'77777'".to_string())
            ]
        );
        assert_eq!(
            inline_parameters(
                "select $1, $2, $3, $10",
                &[
                    (1, "'x'".into()),
                    (3, "'{\"id\": 77777}'".into()),
                    (10, "'t'".into())
                ]
            ),
            "select 'x', $2, ('{\"id\": ' || :id || '}'), 't'"
        );
        let log = "2026 LOG:  statement: START TRANSACTION\n2026 LOG:  execute s1: select $1\n2026 DETAIL:  parameters: $1 = '77777'\n2026 LOG:  statement: COMMIT\n";
        assert_eq!(
            logged_statements(log),
            vec!["START TRANSACTION", "select :id", "COMMIT"]
        );
    }
}
