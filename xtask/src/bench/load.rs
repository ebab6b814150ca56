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

use std::path::Path;

use super::capture::{self, Captured};
use super::options::Options;
use super::procstat::{cpu_us, postgres_cpu_us};
use super::report::{self, FilterRow, Row, Run, DIRECT, HOP};
use super::workloads::{Workload, FILTER_ONLY, GET_ONE_ROW, SCHEMA, WORKLOADS};
use super::{envoy, pgbench, wrk};
use crate::install::{self, FilterModule};
use crate::postgres::Cluster;
use crate::stack::{Stack, StackOptions};
use crate::{free_port, root, temp_dir, Result};

/// Slices each side of the filter-cost comparison is measured in, alternately.
const FILTER_COST_SLICES: u64 = 4;

pub fn load() -> Result<()> {
    let options = Options::from_env();
    install::wasm_target()?;
    let bindir = install::postgres()?;
    let envoy_bin = install::envoy()?;
    wrk::wrk()?;
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
        capture::capture(&capture_stack, &cluster, &sidecar)?
    };
    cluster.psql("alter role authenticator reset log_statement")?;
    let stack = start()?;
    let dir = temp_dir("load")?;
    let direct = envoy::direct(&envoy_bin, &dir)?;
    let hop = envoy::hop(&envoy_bin, &dir, &direct.addr)?;
    let bed = Bed {
        options: &options,
        cluster: &cluster,
        bindir: &bindir,
        dir: &dir,
    };
    let mut rows: Vec<Row> = Vec::new();
    for &conns in &options.connections {
        rows.extend(bed.proxy_ceilings(&direct, &hop, conns)?);
        rows.extend(bed.stack_and_database(&stack, &captured, conns)?);
    }
    drop(hop);
    drop(direct);
    drop(stack);
    let filter_rows = if options.selected("filter cost") {
        filter_cost(&start_with, &dir, &options)?
    } else {
        Vec::new()
    };
    report::report(&rows, &captured, &filter_rows, options.seconds)?;
    let _ = std::fs::remove_dir_all(&dir);
    drop(cluster);
    Ok(())
}

/// What every measurement of a run shares.
struct Bed<'a> {
    options: &'a Options,
    cluster: &'a Cluster,
    bindir: &'a Path,
    /// Scripts and Envoy configurations go here.
    dir: &'a Path,
}

impl Bed<'_> {
    /// The proxy ceiling, then one plain proxy hop in front of it, each with the Envoy CPU it
    /// spent per request.
    fn proxy_ceilings(
        &self,
        direct: &envoy::PlainEnvoy,
        hop: &envoy::PlainEnvoy,
        conns: u32,
    ) -> Result<Vec<Row>> {
        let script = self.dir.join("direct.lua");
        std::fs::write(&script, wrk::lua(&FILTER_ONLY))?;
        let mut rows = Vec::new();
        for (envoy, workload, what) in [
            (direct, DIRECT, Run::ProxyCeiling),
            (hop, HOP, Run::ProxyHop),
        ] {
            let before = cpu_us(&[envoy.pid()]);
            let m = wrk::run(&envoy.addr, &script, conns, self.options.seconds)?;
            let per_request =
                cpu_us(&[envoy.pid()]).saturating_sub(before) as f64 / m.requests.max(1) as f64;
            rows.push(Row {
                workload,
                connections: conns,
                what,
                cpu: [Some(per_request), None, None],
                m,
                round_trips: None,
            });
        }
        Ok(rows)
    }

    /// Each selected workload through the stack, and for those PostgreSQL answers, its
    /// captured statements under pgbench as ceilings A and B.
    fn stack_and_database(
        &self,
        stack: &Stack,
        captured: &[Captured],
        conns: u32,
    ) -> Result<Vec<Row>> {
        let (sidecar_pid, envoy_pid) = match stack.pids().as_slice() {
            [s, e, ..] => (*s, *e),
            _ => return Err("the stack has no sidecar or Envoy process".into()),
        };
        let sidecar = format!("127.0.0.1:{}", stack.sidecar_port);
        let postmaster = self.cluster.pid().unwrap_or(0);
        let cpu = || {
            [
                cpu_us(&[envoy_pid]),
                cpu_us(&[sidecar_pid]),
                postgres_cpu_us(postmaster),
            ]
        };
        let mut rows = Vec::new();
        for w in WORKLOADS.iter().filter(|w| self.options.selected(w.name)) {
            let script = self.dir.join("w.lua");
            std::fs::write(&script, wrk::lua(w))?;
            let before = cpu();
            let trips = capture::round_trips(&sidecar);
            let m = wrk::run(&stack.api, &script, conns, self.options.seconds)?;
            let after = cpu();
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
                what: Run::Pgmesh,
                cpu: [0, 1, 2].map(|i| Some(after[i].saturating_sub(before[i]) as f64 / n)),
                round_trips: Some(capture::round_trips(&sidecar).saturating_sub(trips) as f64 / n),
                m,
            });
            if !w.database {
                continue;
            }
            let c = captured
                .iter()
                .find(|c| c.workload == w.name)
                .ok_or_else(|| format!("{}: nothing was captured", w.name))?;
            rows.extend(self.ceilings(w.name, c, conns)?);
        }
        Ok(rows)
    }

    /// Ceilings A and B of one captured workload.
    fn ceilings(&self, workload: &'static str, c: &Captured, conns: u32) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for (what, pipelined) in [(Run::CeilingA, false), (Run::CeilingB, true)] {
            let script = self.dir.join("pg.sql");
            std::fs::write(&script, pgbench::script(c, pipelined))?;
            let run = pgbench::run(
                self.cluster,
                self.bindir,
                &script,
                conns,
                self.options.seconds,
                self.dir,
            )?;
            let n = run.measured.requests.max(1) as f64;
            let trips = if pipelined {
                c.round_trips.max(1) as f64
            } else {
                c.statements.len() as f64
            };
            rows.push(Row {
                workload,
                connections: conns,
                what,
                cpu: [None, None, Some(run.postgres_cpu_us as f64 / n)],
                m: run.measured,
                round_trips: Some(trips),
            });
        }
        Ok(rows)
    }
}

/// Envoy's CPU per request with the filter doing all its work (authenticate, parse, plan,
/// sign) and then answering itself, against the same Envoy with a wasm filter that does
/// nothing (its request answered by `direct_response`): the difference is the filter's own
/// cost.
fn filter_cost(
    start_with: &dyn Fn(&Path) -> Result<Stack>,
    dir: &Path,
    options: &Options,
) -> Result<Vec<FilterRow>> {
    let mut built = install::build_modules(&[
        (FilterModule::BenchLocal, "pgmesh_filter_bench_local.wasm"),
        (FilterModule::Passthrough, "pgmesh_filter_passthrough.wasm"),
    ])?
    .into_iter();
    let (Some(local), Some(passthrough)) = (built.next(), built.next()) else {
        return Err("the benchmark filter modules were not built".into());
    };
    let token = crate::hs256_token(
        crate::stack::DEMO_JWT_SECRET,
        &serde_json::json!({"role": "web_anon"}),
    );
    let bearer = format!("Bearer {token}");
    let jwt = [("Authorization", bearer.as_str())];
    let cases: [(&str, &[(&str, &str)]); 2] = [
        ("GET one row, anonymous", &[]),
        (
            "GET one row, HS256 JWT (from the cache of verified tokens)",
            &jwt,
        ),
    ];
    // Both stacks run side by side and are measured in alternating slices, so that the
    // machine's drift (other tenants, clock speed) falls on both alike.
    let with = start_with(&local)?;
    let without = start_with(&passthrough)?;
    let slice = (options.seconds / FILTER_COST_SLICES).max(1);
    let mut out = Vec::new();
    for &conns in &options.connections {
        for (name, headers) in cases {
            let w = Workload {
                name: "filter cost",
                headers,
                database: false,
                ..GET_ONE_ROW
            };
            let script = dir.join("filter.lua");
            std::fs::write(&script, wrk::lua(&w))?;
            let (mut cpu, mut requests) = ([0u64; 2], [0u64; 2]);
            for _ in 0..FILTER_COST_SLICES {
                for (i, stack) in [&with, &without].into_iter().enumerate() {
                    let envoy = stack.pids().get(1).copied().unwrap_or(0);
                    let before = cpu_us(&[envoy]);
                    let m = wrk::run(&stack.api, &script, conns, slice)?;
                    cpu[i] += cpu_us(&[envoy]).saturating_sub(before);
                    requests[i] += m.requests;
                }
            }
            let per = |i: usize| cpu[i] as f64 / requests[i].max(1) as f64;
            out.push(FilterRow {
                request: name.to_string(),
                connections: conns,
                with_filter: per(0),
                pass_through: per(1),
            });
        }
    }
    Ok(out)
}
