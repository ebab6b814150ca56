//! pgmesh sidecar: the database side of the road. It accepts only hand-offs signed by the
//! filter, runs each in one transaction under the request's role and GUCs, and sends back the
//! JSON that PostgreSQL built.
//!
//! Usage: `pgmesh-sidecar --listen 127.0.0.1:PORT [--config FILE]`, with `PGMESH_HANDOFF_KEY`
//! in the environment and `PGRST_*` variables overriding the file, as in PostgREST.
//! `pgmesh-sidecar [--config FILE] --dump-config` prints the effective configuration, as
//! PostgREST's `--dump-config` does, and exits.

mod db;
mod guard;
mod introspect;
mod listener;
mod server;
mod wire;

use std::net::SocketAddr;
use std::process::ExitCode;

fn usage() -> String {
    String::from(
        "usage: pgmesh-sidecar --listen 127.0.0.1:PORT [--config FILE]\n       pgmesh-sidecar [--config FILE] --dump-config",
    )
}

enum Command {
    Serve(SocketAddr),
    /// `--dump-config`: print the effective configuration and exit.
    DumpConfig,
}

struct Args {
    command: Command,
    config: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut config = None;
    let mut dump_config = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next(),
            "--config" => config = args.next(),
            "--dump-config" => dump_config = true,
            _ => return Err(usage()),
        }
    }
    if dump_config {
        return Ok(Args {
            command: Command::DumpConfig,
            config,
        });
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
    Ok(Args {
        command: Command::Serve(listen),
        config,
    })
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
    let listen = match args.command {
        Command::Serve(listen) => listen,
        Command::DumpConfig => {
            print!("{}", config.dump_config());
            return Ok(());
        }
    };
    let key = std::env::var("PGMESH_HANDOFF_KEY")
        .ok()
        .filter(|k| k.len() >= 32)
        .ok_or("PGMESH_HANDOFF_KEY must be set (at least 32 characters)")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(server::serve(listen, config, key.into_bytes()))
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
