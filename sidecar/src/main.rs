//! pgmesh sidecar: the database side of the road. It accepts only hand-offs signed by the
//! filter, runs each in one transaction under the request's role and GUCs, and sends back the
//! JSON that PostgreSQL built.
//!
//! Usage: `pgmesh-sidecar --listen 127.0.0.1:PORT [--config FILE]`, with `PGMESH_HANDOFF_KEY`
//! in the environment and `PGRST_*` variables overriding the file, as in PostgREST.
//! `pgmesh-sidecar [--config FILE] --dump-config` prints the effective configuration, as
//! PostgREST's `--dump-config` does, and exits.

mod app;
mod db;
mod error;
mod guard;
mod http;
mod introspect;
mod listener;
mod logging;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use hyper::service::service_fn;
use tokio::net::TcpListener;

use crate::app::App;
use crate::error::Error;

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

fn run() -> Result<(), Error> {
    let args = parse_args().map_err(Error::Args)?;
    let text = match &args.config {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|source| Error::ConfigFile {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PGRST_"))
        .collect();
    let read_file = |p: &str| std::fs::read_to_string(p).map_err(|e| e.to_string());
    let config = pgmesh_config::load(text.as_deref(), &env, &read_file)?;
    logging::init(config.log_level);
    if let Some(w) = config.unbuilt_warning() {
        tracing::warn!(target: logging::LIFECYCLE, "{w}");
    }
    if let Some(w) = &config.jwt_role_claim_key_warning {
        tracing::warn!(target: logging::LIFECYCLE, "{w}");
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
        .ok_or(Error::HandoffKey)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(serve(listen, config, key.into_bytes()))
}

/// Wiring: the app state, its schema loader and listener, and the HTTP server until SIGTERM or
/// Ctrl-C.
async fn serve(
    listen: SocketAddr,
    config: pgmesh_config::Config,
    key: Vec<u8>,
) -> Result<(), Error> {
    let app = Arc::new(App::new(config, key)?);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
    tokio::spawn(Arc::clone(&app).load_schema());
    if let Some(channel) = app.config.db_channel.clone() {
        tokio::spawn(listener::listen(Arc::clone(&app), channel));
    }
    tracing::info!(target: logging::LIFECYCLE, "listening on {listen}");
    let service = service_fn(move |req| http::handle(Arc::clone(&app), req));
    http::serve(listener, service, shutdown()).await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
    }
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
