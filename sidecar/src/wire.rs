//! A PostgreSQL connection that pipelines a request's statements with one `Sync`, so that
//! PostgreSQL answers them all in one flush: one network write each way per round trip.
//! (tokio-postgres ends every statement with its own `Sync`; PostgreSQL flushes its output at
//! each, so a five-statement transaction cost it five writes and the sidecar five wake-ups.)
//!
//! Connecting and authenticating (startup, password, SCRAM) is tokio-postgres's own
//! `connect_raw`, over a stream lent to it and taken back once the connection is ready; what
//! follows is the extended query protocol: `Parse` and `Describe` once per statement and
//! connection, then `Bind` (parameters as untyped text) and `Execute` (results as text).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{DataRowBody, ErrorResponseBody, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, TargetSessionAttrs};

/// Statements prepared per connection. Shapes repeat because values are parameters, but
/// clients can vary them (aliases, column lists): past this many, the connection is retired
/// after its request and a fresh one takes its place.
const STATEMENTS_MAX: usize = 256;

/// The read buffer's usual size; one grown by a very large row is given back after its request.
const READ_BUFFER: usize = 16 * 1024;

/// An error PostgreSQL reported.
#[derive(Debug, Clone)]
pub struct DbError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{}", .0.message)]
    Db(DbError),
    #[error("database connection: {0}")]
    Io(#[from] io::Error),
    #[error("database connection: {0}")]
    Protocol(String),
    #[error("database connection: {0}")]
    Connect(#[from] tokio_postgres::Error),
}

fn protocol(what: &str) -> WireError {
    WireError::Protocol(what.to_string())
}

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
        return Err(protocol("db-uri names no host"));
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

struct Prepared {
    name: String,
    columns: Arc<[String]>,
}

/// A statement whose `Parse` went out in the batch in flight.
struct Parsing {
    sql: String,
    name: String,
    parsed: bool,
}

/// A row in text format.
pub struct Row {
    body: DataRowBody,
    ranges: Vec<Option<Range<usize>>>,
}

impl Row {
    /// Column `i` as text (`None` for NULL or a column that is not there).
    pub fn text(&self, i: usize) -> Result<Option<&str>, WireError> {
        match self.ranges.get(i) {
            Some(Some(range)) => self
                .body
                .buffer()
                .get(range.clone())
                .map(|b| std::str::from_utf8(b).map_err(|_| protocol("a value is not UTF-8")))
                .transpose(),
            _ => Ok(None),
        }
    }
}

/// What the statement in front of the answer produced next.
pub enum Event {
    Row(Row),
    /// The statement finished.
    Done,
}

/// Bumped when the schema cache is reloaded: connections from before are retired on their
/// return to the pool, so no statement prepared against the old schema is run again.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Retires every pooled connection (as each is next returned or taken).
pub fn retire_all() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

pub struct Conn {
    stream: Stream,
    generation: u64,
    read: BytesMut,
    out: BytesMut,
    statements: HashMap<String, Prepared>,
    parsing: VecDeque<Parsing>,
    next_name: u64,
    /// `ReadyForQuery` of the batch in flight, once read.
    ready: Option<u8>,
    /// Nothing in flight and no transaction open: fit for the next request.
    idle: bool,
    cancel: tokio_postgres::CancelToken,
    config: Arc<tokio_postgres::Config>,
    /// Where this connection went (a cancel request must reach the same server).
    target: Target,
}

impl Conn {
    /// Connects to the first of `db-uri`'s targets that answers and, when it asks for one
    /// (`target_session_attrs`), has the right kind of session.
    pub async fn connect(config: Arc<tokio_postgres::Config>) -> Result<Conn, WireError> {
        let mut last = protocol("no host answered");
        for target in targets(&config).await? {
            match Conn::connect_to(Arc::clone(&config), target).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn connect_to(
        config: Arc<tokio_postgres::Config>,
        target: Target,
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
                    return Err(protocol("PostgreSQL closed the connection"));
                }
            };
            let read_only = answer.iter().any(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("on"),
                _ => false,
            });
            if read_only != (wanted == TargetSessionAttrs::ReadOnly) {
                return Err(protocol(
                    "the server's session does not match target_session_attrs",
                ));
            }
        }
        let cancel = client.cancel_token();
        // Dropped without being polled again: nothing more is sent. Each exchange read up to
        // its `ReadyForQuery`, after which PostgreSQL sends nothing unasked.
        drop(client);
        drop(connection);
        let stream = slot
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or_else(|| protocol("the stream was not given back"))?;
        Ok(Conn {
            stream,
            generation: generation(),
            read: BytesMut::with_capacity(READ_BUFFER),
            out: BytesMut::with_capacity(4 * 1024),
            statements: HashMap::new(),
            parsing: VecDeque::new(),
            next_name: 0,
            ready: None,
            idle: true,
            cancel,
            config,
            target,
        })
    }

    /// Whether PostgreSQL closed this idle connection (a restart, a fail-over, a terminated
    /// backend): it has nothing to say to an idle client, so end of stream or any unasked
    /// message (such as its FATAL on shutdown) means the connection is done. One non-blocking
    /// read; nothing is consumed from a live connection.
    fn closed_by_server(&self) -> bool {
        let mut probe = [0u8; 1];
        let read = match &self.stream {
            Stream::Tcp(s) => s.try_read(&mut probe),
            Stream::Unix(s) => s.try_read(&mut probe),
        };
        !matches!(read, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Whether the connection can serve another request.
    pub fn reusable(&self) -> bool {
        self.idle
            && self.out.is_empty()
            && self.parsing.is_empty()
            && self.read.is_empty()
            && self.statements.len() <= STATEMENTS_MAX
            && self.generation == generation()
    }

    /// Queues a statement of the next batch: its `Parse` and `Describe` the first time on
    /// this connection, then `Bind` (untyped text parameters, text results) and `Execute`.
    pub fn push<'p>(
        &mut self,
        sql: &str,
        params: impl IntoIterator<Item = Option<&'p str>>,
    ) -> Result<(), WireError> {
        let start = (self.out.len(), self.parsing.len());
        let pushed = self.encode(sql, params);
        if pushed.is_err() {
            // Nothing half-encoded stays queued.
            self.out.truncate(start.0);
            self.parsing.truncate(start.1);
        }
        pushed
    }

    fn encode<'p>(
        &mut self,
        sql: &str,
        params: impl IntoIterator<Item = Option<&'p str>>,
    ) -> Result<(), WireError> {
        let name = match self.statements.get(sql) {
            Some(p) => p.name.clone(),
            None => match self.parsing.iter().find(|p| p.sql == sql) {
                Some(p) => p.name.clone(),
                None => {
                    self.next_name += 1;
                    let name = format!("pgmesh_{}", self.next_name);
                    frontend::parse(&name, sql, std::iter::empty(), &mut self.out)?;
                    frontend::describe(b'S', &name, &mut self.out)?;
                    self.parsing.push_back(Parsing {
                        sql: sql.to_string(),
                        name: name.clone(),
                        parsed: false,
                    });
                    name
                }
            },
        };
        frontend::bind(
            "",
            &name,
            std::iter::once(0),
            params,
            |p, buf| match p {
                Some(text) => {
                    buf.extend_from_slice(text.as_bytes());
                    Ok(IsNull::No)
                }
                None => Ok(IsNull::Yes),
            },
            std::iter::once(0),
            &mut self.out,
        )
        .map_err(|_| protocol("a statement could not be encoded"))?;
        frontend::execute("", 0, &mut self.out)?;
        Ok(())
    }

    /// Sends the queued statements with one `Sync`.
    pub async fn send(&mut self) -> Result<(), WireError> {
        frontend::sync(&mut self.out);
        self.idle = false;
        self.ready = None;
        let out = self.out.split();
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// The column names of a statement prepared on this connection.
    pub fn columns(&self, sql: &str) -> Option<Arc<[String]>> {
        self.statements.get(sql).map(|p| Arc::clone(&p.columns))
    }

    async fn message(&mut self) -> Result<Message, WireError> {
        loop {
            if let Some(m) = Message::parse(&mut self.read)? {
                return Ok(m);
            }
            if self.read.capacity() - self.read.len() < 4096 {
                self.read.reserve(READ_BUFFER);
            }
            if self.stream.read_buf(&mut self.read).await? == 0 {
                return Err(protocol("PostgreSQL closed the connection"));
            }
        }
    }

    /// Keeps track of statements being prepared; true when `m` was such a message, or one
    /// that needs no answer (notices, parameter changes).
    fn note(&mut self, m: &Message) -> Result<bool, WireError> {
        match m {
            Message::ParseComplete => {
                if let Some(p) = self.parsing.iter_mut().find(|p| !p.parsed) {
                    p.parsed = true;
                }
            }
            Message::RowDescription(body) => {
                let columns: Vec<String> =
                    body.fields().map(|f| Ok(f.name().to_string())).collect()?;
                self.described(columns);
            }
            Message::NoData => self.described(Vec::new()),
            Message::ParameterDescription(_)
            | Message::BindComplete
            | Message::NoticeResponse(_)
            | Message::ParameterStatus(_)
            | Message::NotificationResponse(_) => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The next row or end of the statement in front; its error as `WireError::Db`, after
    /// which PostgreSQL skips the rest of the batch (call [`Conn::ready`]).
    pub async fn next(&mut self) -> Result<Event, WireError> {
        loop {
            let m = self.message().await?;
            if self.note(&m)? {
                continue;
            }
            return match m {
                Message::DataRow(body) => {
                    let ranges = body.ranges().collect()?;
                    Ok(Event::Row(Row { body, ranges }))
                }
                Message::CommandComplete(_) | Message::EmptyQueryResponse => Ok(Event::Done),
                Message::ErrorResponse(body) => {
                    self.parsing.clear();
                    Err(WireError::Db(db_error(&body)?))
                }
                Message::ReadyForQuery(body) => {
                    self.ready = Some(body.status());
                    Err(protocol("the answer ended early"))
                }
                _ => Err(protocol("an unexpected message")),
            };
        }
    }

    fn described(&mut self, columns: Vec<String>) {
        // `Describe` follows its `Parse`: the answer is the first parsed one's.
        if let Some(pos) = self.parsing.iter().position(|p| p.parsed) {
            if let Some(p) = self.parsing.remove(pos) {
                self.statements.insert(
                    p.sql,
                    Prepared {
                        name: p.name,
                        columns: columns.into(),
                    },
                );
            }
        }
    }

    /// Skips the rest of the statement in front (rows and all).
    pub async fn finish(&mut self) -> Result<(), WireError> {
        while let Event::Row(_) = self.next().await? {}
        Ok(())
    }

    /// Reads to the end of the batch; the transaction status (`I` idle, `T` in a
    /// transaction, `E` in a failed one).
    pub async fn ready(&mut self) -> Result<u8, WireError> {
        let status = match self.ready {
            Some(s) => s,
            None => loop {
                let m = self.message().await?;
                match m {
                    Message::ReadyForQuery(body) => break body.status(),
                    Message::ErrorResponse(_) => self.parsing.clear(),
                    // Rows and ends of statements left unread are skipped.
                    other => {
                        self.note(&other)?;
                    }
                }
            },
        };
        self.parsing.clear();
        self.ready = Some(status);
        self.idle = status == b'I';
        if self.idle && self.read.is_empty() && self.read.capacity() > 64 * READ_BUFFER {
            self.read = BytesMut::with_capacity(READ_BUFFER);
        }
        Ok(status)
    }

    /// After a failure: reads what is left of the batch and rolls back an open transaction.
    /// Says whether the connection is idle again.
    pub async fn restore(&mut self) -> bool {
        // Statements queued but never sent are dropped.
        self.out.clear();
        if self.idle {
            self.parsing.clear();
            return true;
        }
        match self.ready().await {
            Ok(b'I') => true,
            Ok(_) => {
                if self.push("ROLLBACK", std::iter::empty()).is_err() || self.send().await.is_err()
                {
                    return false;
                }
                matches!(self.ready().await, Ok(b'I'))
            }
            Err(_) => false,
        }
    }

    /// Asks PostgreSQL to cancel what this connection runs (over a connection of its own).
    pub async fn cancel(&self) {
        if let Ok(stream) = open(&self.config, &self.target).await {
            let _ = self
                .cancel
                .cancel_query_raw(stream, tokio_postgres::NoTls)
                .await;
        }
    }
}

fn db_error(body: &ErrorResponseBody) -> Result<DbError, WireError> {
    let mut e = DbError {
        code: String::new(),
        message: String::new(),
        detail: None,
        hint: None,
    };
    let mut fields = body.fields();
    while let Some(f) = fields.next()? {
        // PostgreSQL sends its messages in the server's encoding; lossy rather than refused.
        let value = || String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'C' => e.code = value(),
            b'M' => e.message = value(),
            b'D' => e.detail = Some(value()),
            b'H' => e.hint = Some(value()),
            _ => {}
        }
    }
    Ok(e)
}

/// deadpool's manager for [`Conn`]s.
pub struct Manager {
    config: Arc<tokio_postgres::Config>,
}

impl Manager {
    pub fn new(config: tokio_postgres::Config) -> Manager {
        Manager {
            config: Arc::new(config),
        }
    }
}

impl deadpool::managed::Manager for Manager {
    type Type = Conn;
    type Error = WireError;

    async fn create(&self) -> Result<Conn, WireError> {
        Conn::connect(Arc::clone(&self.config)).await
    }

    async fn recycle(
        &self,
        conn: &mut Conn,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<WireError> {
        if conn.reusable() && !conn.closed_by_server() {
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
