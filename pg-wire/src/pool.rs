//! deadpool's manager for [`Conn`]s, with the pool's generation of connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::conn::Conn;
use crate::error::WireError;

/// The pool's generation counter. A schema reload advances it: connections from before are
/// retired on their return to the pool or their next checkout, so no statement prepared
/// against the old schema runs again. Clones share the counter.
#[derive(Debug, Clone, Default)]
pub struct Generation(Arc<AtomicU64>);

impl Generation {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Retires every connection made so far.
    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct Manager {
    config: Arc<tokio_postgres::Config>,
    generation: Generation,
}

impl Manager {
    pub fn new(config: tokio_postgres::Config) -> Manager {
        Manager {
            config: Arc::new(config),
            generation: Generation::default(),
        }
    }

    /// Retires every pooled connection (as each is next returned or taken).
    pub fn retire_all(&self) {
        self.generation.advance();
    }

    /// Whether `conn` may serve another request: idle with nothing left over, not too many
    /// statements prepared, of the current generation. (The server may still have closed it:
    /// [`Conn::closed_by_server`] is asked too on recycling.)
    pub fn fit(&self, conn: &Conn) -> bool {
        conn.session().reusable() && conn.generation() == self.generation.current()
    }
}

impl deadpool::managed::Manager for Manager {
    type Type = Conn;
    type Error = WireError;

    async fn create(&self) -> Result<Conn, WireError> {
        Conn::connect(Arc::clone(&self.config), self.generation.current()).await
    }

    async fn recycle(
        &self,
        conn: &mut Conn,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<WireError> {
        if self.fit(conn) && !conn.closed_by_server() {
            Ok(())
        } else {
            Err(deadpool::managed::RecycleError::message(
                "not idle, too many statements prepared, older than the schema, or closed by the server",
            ))
        }
    }
}

pub type Pool = deadpool::managed::Pool<Manager>;
pub type Object = deadpool::managed::Object<Manager>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Stream;
    use crate::script::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixStream;

    fn manager() -> Manager {
        Manager::new(tokio_postgres::Config::new())
    }

    /// A connection made now, and the scripted backend's end of its socket.
    fn conn(m: &Manager) -> (Conn, UnixStream) {
        let (client, backend) = UnixStream::pair().unwrap();
        (
            Conn::over(Stream::Unix(client), m.generation.current()),
            backend,
        )
    }

    /// Reads one batch (up to its `Sync`) from the client; its message tags.
    async fn read_batch(backend: &mut UnixStream) -> String {
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 4096];
            let n = backend.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed");
            got.extend_from_slice(&buf[..n]);
            let tags: String = frontend(&got).iter().map(|(t, _)| *t).collect();
            if tags.ends_with('S') {
                return tags;
            }
        }
    }

    #[tokio::test]
    async fn a_reload_retires_connections_made_before_it() {
        let m = manager();
        let (old, _b1) = conn(&m);
        assert!(m.fit(&old));
        m.retire_all();
        assert!(!m.fit(&old), "older than the schema");
        let (new, _b2) = conn(&m);
        assert!(m.fit(&new), "made after the reload");
        // Clones of the generation (as the app keeps) share it.
        let shared = m.generation.clone();
        shared.advance();
        assert!(!m.fit(&new));
    }

    #[tokio::test]
    async fn recycling_refuses_a_closed_or_busy_connection() {
        use deadpool::managed::Manager as _;
        let m = manager();
        let (mut idle, backend) = conn(&m);
        assert!(m.recycle(&mut idle, &Default::default()).await.is_ok());
        drop(backend);
        // Let the reactor see the hang-up, as it has long seen it for a pooled connection.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            m.recycle(&mut idle, &Default::default()).await.is_err(),
            "the server closed it"
        );
        let (mut busy, _backend) = conn(&m);
        busy.push("select 1", std::iter::empty()).unwrap();
        assert!(m.recycle(&mut busy, &Default::default()).await.is_err());
    }

    #[tokio::test]
    async fn a_failed_transaction_is_rolled_back_over_the_socket() {
        let m = manager();
        let (mut c, mut backend) = conn(&m);
        let server = tokio::spawn(async move {
            assert_eq!(read_batch(&mut backend).await, "PDBEPDBES");
            let answer = [
                prepared_command("BEGIN"),
                error_response("22P02", "invalid input syntax for type integer"),
                ready(b'E'),
            ]
            .concat();
            // In small pieces, as a slow network would deliver them.
            for piece in answer.chunks(3) {
                backend.write_all(piece).await.unwrap();
            }
            assert_eq!(read_batch(&mut backend).await, "PDBES", "the ROLLBACK");
            backend
                .write_all(&[prepared_command("ROLLBACK"), ready(b'I')].concat())
                .await
                .unwrap();
            backend
        });
        c.push("BEGIN", std::iter::empty()).unwrap();
        c.push("select $1::int", [Some("x")]).unwrap();
        c.send().await.unwrap();
        c.finish().await.unwrap();
        match c.next().await {
            Err(crate::WireError::Db(e)) => assert_eq!(e.code, "22P02"),
            other => panic!("expected the database's error, got {other:?}"),
        }
        assert!(c.restore().await, "idle again");
        assert!(m.fit(&c));
        let _backend = server.await.unwrap();
        assert!(!c.closed_by_server());
    }

    #[tokio::test]
    async fn a_connection_closed_mid_answer_is_an_error_not_a_hang() {
        let m = manager();
        let (mut c, mut backend) = conn(&m);
        c.push("select 1", std::iter::empty()).unwrap();
        c.send().await.unwrap();
        read_batch(&mut backend).await;
        backend.write_all(&parse_complete()).await.unwrap();
        drop(backend);
        assert!(matches!(
            c.next().await,
            Err(crate::WireError::Protocol(crate::ProtocolError::Closed))
        ));
        assert!(!c.restore().await);
        assert!(!m.fit(&c));
    }
}
