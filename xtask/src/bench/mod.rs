//! Benchmarks that need the whole stack (figures, not tests), one module per subcommand of
//! `cargo xtask bench` (`load`, `stream`, `schema`, `body`), and the modules `load` is made of.

mod body;
mod capture;
mod envoy;
mod load;
mod options;
mod pgbench;
mod procstat;
mod report;
mod schema;
mod stream;
mod workloads;
mod wrk;

pub use body::{body, bulk_body};
pub use load::load;
pub use procstat::rss_kib;
pub use schema::schema_scale;
pub use stream::stream;

use crate::postgres::Cluster;
use crate::stack::{Stack, StackOptions};
use crate::{install, root, Result};

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
