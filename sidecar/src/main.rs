//! pgmesh sidecar: the database side of the road. It accepts only hand-offs signed by the
//! filter, runs each in one transaction under the request's role and GUCs, and sends back the
//! JSON that PostgreSQL built.
//!
//! Usage: `pgmesh-sidecar --listen 127.0.0.1:PORT [--config FILE]`, with `PGMESH_HANDOFF_KEY`
//! in the environment and `PGRST_*` variables overriding the file, as in PostgREST.

mod db;
mod guard;
mod introspect;
mod listener;
mod server;

use std::net::SocketAddr;
use std::process::ExitCode;

fn usage() -> String {
    String::from("usage: pgmesh-sidecar --listen 127.0.0.1:PORT [--config FILE]")
}

struct Args {
    listen: SocketAddr,
    config: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut config = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next(),
            "--config" => config = args.next(),
            _ => return Err(usage()),
        }
    }
    let listen: SocketAddr = listen
        .ok_or_else(usage)?
        .parse()
        .map_err(|e| format!("--listen: {e}"))?;
    // The sidecar trusts only the filter; it must never be reachable from the network.
    if !listen.ip().is_loopback() {
        return Err(format!(
            "--listen {listen}: the sidecar listens on loopback only"
        ));
    }
    Ok(Args { listen, config })
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let text = match &args.config {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?),
        None => None,
    };
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PGRST_"))
        .collect();
    let read_file = |p: &str| std::fs::read_to_string(p).map_err(|e| e.to_string());
    let config =
        pgmesh_config::load(text.as_deref(), &env, &read_file).map_err(|e| e.to_string())?;
    if let Some(w) = config.unbuilt_warning() {
        eprintln!("{w}");
    }
    let key = std::env::var("PGMESH_HANDOFF_KEY")
        .ok()
        .filter(|k| k.len() >= 32)
        .ok_or("PGMESH_HANDOFF_KEY must be set (at least 32 characters)")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(server::serve(args.listen, config, key.into_bytes()))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pgmesh-sidecar: {e}");
            ExitCode::FAILURE
        }
    }
}
