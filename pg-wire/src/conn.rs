//! [`Session`] over a socket, with tokio: connecting (tokio-postgres's handshake over a lent
//! stream), sending batches, reading events, restoring after a failure, cancelling.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, TargetSessionAttrs};

use crate::error::{ProtocolError, WireError};
use crate::session::{Event, Row, Session, TxStatus};

/// The socket to PostgreSQL: TCP or a Unix-domain socket, as `db-uri` names it.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A stream lent to tokio-postgres for the handshake; the lender takes it back afterwards.
struct Lent(Arc<Mutex<Option<Stream>>>);

fn with_lent<T>(
    lent: &Lent,
    f: impl FnOnce(Pin<&mut Stream>) -> Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match lent.0.lock() {
        Ok(mut guard) => match guard.as_mut() {
            Some(stream) => f(Pin::new(stream)),
            None => Poll::Ready(Err(io::Error::other("the stream was taken back"))),
        },
        Err(_) => Poll::Ready(Err(io::Error::other("the stream's lock is poisoned"))),
    }
}

impl AsyncRead for Lent {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        with_lent(&self, |s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Lent {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        with_lent(&self, |s| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with_lent(&self, |s| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with_lent(&self, |s| s.poll_shutdown(cx))
    }
}

/// One place a connection can go: an address, or a Unix-domain socket.
#[derive(Debug, Clone)]
enum Target {
    Tcp(std::net::SocketAddr),
    Unix(std::path::PathBuf),
}

/// Where `db-uri` says to connect, in order: each host (with its `hostaddr`, else each address
/// its name resolves to) on its port, as libpq tries them.
async fn targets(config: &tokio_postgres::Config) -> Result<Vec<Target>, WireError> {
    let (hosts, addrs, ports) = (
        config.get_hosts(),
        config.get_hostaddrs(),
        config.get_ports(),
    );
    let count = hosts.len().max(addrs.len());
    if count == 0 {
        return Err(ProtocolError::NoHost.into());
    }
    let mut out = Vec::new();
    for i in 0..count {
        let port = match ports {
            [] => 5432,
            [one] => *one,
            many => many.get(i).copied().unwrap_or(5432),
        };
        match (addrs.get(i), hosts.get(i)) {
            (Some(ip), _) => out.push(Target::Tcp(std::net::SocketAddr::new(*ip, port))),
            (None, Some(Host::Tcp(name))) => {
                if let Ok(resolved) = tokio::net::lookup_host((name.as_str(), port)).await {
                    out.extend(resolved.map(Target::Tcp));
                }
            }
            (None, Some(Host::Unix(dir))) => {
                out.push(Target::Unix(dir.join(format!(".s.PGSQL.{port}"))));
            }
            (None, None) => {}
        }
    }
    Ok(out)
}

/// Opens a socket to `target` with `db-uri`'s socket options (connect timeout, TCP keepalives,
/// TCP user timeout), as tokio-postgres does.
async fn open(config: &tokio_postgres::Config, target: &Target) -> Result<Stream, WireError> {
    let timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(10));
    let attempt = async {
        match target {
            Target::Tcp(addr) => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let socket = socket2::SockRef::from(&s);
                if let Some(t) = config.get_tcp_user_timeout() {
                    socket.set_tcp_user_timeout(Some(*t))?;
                }
                if config.get_keepalives() {
                    let mut keepalive =
                        socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
                    if let Some(interval) = config.get_keepalives_interval() {
                        keepalive = keepalive.with_interval(interval);
                    }
                    if let Some(retries) = config.get_keepalives_retries() {
                        keepalive = keepalive.with_retries(retries);
                    }
                    socket.set_tcp_keepalive(&keepalive)?;
                }
                Ok(Stream::Tcp(s))
            }
            Target::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result.map_err(WireError::Io),
        Err(_) => Err(WireError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "connect timed out",
        ))),
    }
}

/// What a cancel request needs: the backend's key, and the same server it runs on.
struct Canceller {
    token: tokio_postgres::CancelToken,
    config: Arc<tokio_postgres::Config>,
    target: Target,
}

/// A [`Session`] on its socket.
pub struct Conn {
    stream: Stream,
    session: Session,
    /// The pool generation this connection was made in (see [`crate::Generation`]).
    generation: u64,
    cancel: Option<Canceller>,
}

impl Conn {
    /// Connects to the first of `db-uri`'s targets that answers and, when it asks for one
    /// (`target_session_attrs`), has the right kind of session.
    pub async fn connect(
        config: Arc<tokio_postgres::Config>,
        generation: u64,
    ) -> Result<Conn, WireError> {
        let mut last = WireError::Protocol(ProtocolError::NoHostAnswered);
        for target in targets(&config).await? {
            match Conn::connect_to(Arc::clone(&config), target, generation).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn connect_to(
        config: Arc<tokio_postgres::Config>,
        target: Target,
        generation: u64,
    ) -> Result<Conn, WireError> {
        let slot = Arc::new(Mutex::new(Some(open(&config, &target).await?)));
        let (client, mut connection) = config
            .connect_raw(Lent(Arc::clone(&slot)), tokio_postgres::NoTls)
            .await?;
        let wanted = config.get_target_session_attrs();
        if wanted != TargetSessionAttrs::Any {
            // Asked through tokio-postgres, driving its connection until the answer is in.
            let asked = client.simple_query("SHOW transaction_read_only");
            let answer = tokio::select! {
                answer = asked => answer?,
                ended = &mut connection => {
                    ended?;
                    return Err(ProtocolError::Closed.into());
                }
            };
            let read_only = answer.iter().any(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("on"),
                _ => false,
            });
            if read_only != (wanted == TargetSessionAttrs::ReadOnly) {
                return Err(ProtocolError::SessionAttrs.into());
            }
        }
        let token = client.cancel_token();
        // Dropped without being polled again: nothing more is sent. Each exchange read up to
        // its `ReadyForQuery`, after which PostgreSQL sends nothing unasked.
        drop(client);
        drop(connection);
        let stream = slot
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or(ProtocolError::NotGivenBack)?;
        let mut conn = Conn::over(stream, generation);
        conn.cancel = Some(Canceller {
            token,
            config,
            target,
        });
        Ok(conn)
    }

    /// A connection over a stream whose backend is ready for queries, without a way to
    /// cancel (tests drive one with a scripted backend).
    pub fn over(stream: Stream, generation: u64) -> Conn {
        Conn {
            stream,
            session: Session::new(),
            generation,
            cancel: None,
        }
    }

    /// The pool generation this connection was made in.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The protocol state (what is prepared, whether it is idle).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Whether PostgreSQL closed this idle connection (a restart, a fail-over, a terminated
    /// backend): it has nothing to say to an idle client, so end of stream or any unasked
    /// message (such as its FATAL on shutdown) means the connection is done. One non-blocking
    /// read; nothing is consumed from a live connection.
    pub fn closed_by_server(&self) -> bool {
        let mut probe = [0u8; 1];
        let read = match &self.stream {
            Stream::Tcp(s) => s.try_read(&mut probe),
            Stream::Unix(s) => s.try_read(&mut probe),
        };
        !matches!(read, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Queues a statement of the next batch (see [`Session::push`]).
    pub fn push<'p>(
        &mut self,
        sql: &str,
        params: impl IntoIterator<Item = Option<&'p str>>,
    ) -> Result<(), WireError> {
        self.session.push(sql, params)
    }

    /// Sends the queued statements with one `Sync`.
    pub async fn send(&mut self) -> Result<(), WireError> {
        let out = self.session.batch();
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// The column names of a statement prepared on this connection.
    pub fn columns(&self, sql: &str) -> Option<Arc<[String]>> {
        self.session.columns(sql)
    }

    /// Reads more of the backend's answer into the session.
    async fn fill(&mut self) -> Result<(), WireError> {
        if self.stream.read_buf(self.session.read_buf()).await? == 0 {
            return Err(ProtocolError::Closed.into());
        }
        Ok(())
    }

    /// The next row or end of the statement in front; its error as `WireError::Db`, after
    /// which PostgreSQL skips the rest of the batch (call [`Conn::ready`]).
    pub async fn next(&mut self) -> Result<Event, WireError> {
        loop {
            if let Some(event) = self.session.next_event()? {
                return Ok(event);
            }
            self.fill().await?;
        }
    }

    /// The next row of the statement in front, `None` at its end.
    pub async fn row(&mut self) -> Result<Option<Row>, WireError> {
        Ok(match self.next().await? {
            Event::Row(row) => Some(row),
            Event::Done => None,
        })
    }

    /// Skips the rest of the statement in front (rows and all).
    pub async fn finish(&mut self) -> Result<(), WireError> {
        while self.row().await?.is_some() {}
        Ok(())
    }

    /// Reads to the end of the batch; the transaction status.
    pub async fn ready(&mut self) -> Result<TxStatus, WireError> {
        loop {
            if let Some(status) = self.session.next_ready()? {
                return Ok(status);
            }
            self.fill().await?;
        }
    }

    /// After a failure: reads what is left of the batch and rolls back an open transaction.
    /// Says whether the connection is idle again.
    pub async fn restore(&mut self) -> bool {
        self.session.discard_unsent();
        if self.session.is_idle() {
            return true;
        }
        match self.ready().await {
            Ok(TxStatus::Idle) => true,
            Ok(_) => {
                if self.push("ROLLBACK", std::iter::empty()).is_err() || self.send().await.is_err()
                {
                    return false;
                }
                matches!(self.ready().await, Ok(TxStatus::Idle))
            }
            Err(_) => false,
        }
    }

    /// Asks PostgreSQL to cancel what this connection runs (over a connection of its own).
    pub async fn cancel(&self) {
        let Some(c) = &self.cancel else { return };
        if let Ok(stream) = open(&c.config, &c.target).await {
            let _ = c
                .token
                .cancel_query_raw(stream, tokio_postgres::NoTls)
                .await;
        }
    }
}
