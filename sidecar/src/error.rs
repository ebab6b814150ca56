//! The sidecar's own failures: starting up and its infrastructure (the schema listener).
//! What a client sees is an `ApiError`, never one of these.

use std::io;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Args(String),
    #[error("{path}: {source}")]
    ConfigFile { path: String, source: io::Error },
    #[error(transparent)]
    Config(#[from] pgmesh_config::ConfigError),
    #[error("PGMESH_HANDOFF_KEY must be set (at least 32 characters)")]
    HandoffKey,
    #[error("the async runtime: {0}")]
    Runtime(io::Error),
    #[error("db-uri: {0}")]
    DbUri(tokio_postgres::Error),
    #[error("the connection pool: {0}")]
    Pool(#[from] deadpool::managed::BuildError),
    #[error("{addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// The `LISTEN` connection failed or its `LISTEN` was refused.
    #[error("{0}")]
    Listen(tokio_postgres::Error),
    #[error("the listening connection closed")]
    ListenClosed,
}
