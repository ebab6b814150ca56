//! A PostgreSQL connection that pipelines a request's statements with one `Sync`, so that
//! PostgreSQL answers them all in one flush: one network write each way per round trip.
//! (tokio-postgres ends every statement with its own `Sync`; PostgreSQL flushes its output at
//! each, so a five-statement transaction cost it five writes and the sidecar five wake-ups.)
//!
//! - [`Session`] is the protocol state machine, without a socket: statements are queued into a
//!   batch of bytes to send, and the backend's bytes are fed in and read back as [`Event`]s.
//! - [`Conn`] drives a `Session` over a TCP or Unix-domain socket with tokio. Connecting and
//!   authenticating (startup, password, SCRAM) is tokio-postgres's own `connect_raw`, over a
//!   stream lent to it and taken back once the connection is ready.
//! - [`Manager`] is deadpool's manager for `Conn`s; [`Manager::retire_all`] retires every
//!   connection made so far (a schema reload), through the pool's own [`Generation`].

mod conn;
mod error;
mod pool;
mod session;

pub use conn::{Conn, Stream};
pub use error::{DbError, ProtocolError, WireError};
pub use pool::{Generation, Manager, Object, Pool};
pub use session::{Event, Row, Session, TxStatus};

#[cfg(test)]
mod script;
