//! The extended query protocol without a socket: `Parse` and `Describe` once per statement and
//! connection, then `Bind` (parameters as untyped text) and `Execute` (results as text) for each
//! statement of a batch, and one `Sync` per batch. The caller moves the bytes: it sends what
//! [`Session::batch`] returns and feeds what the backend answers into [`Session::read_buf`]
//! (or [`Session::feed`]); `None` from the readers means "more bytes needed".

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{DataRowBody, ErrorResponseBody, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;

use crate::error::{DbError, ProtocolError, WireError};

/// Statements prepared per connection. Shapes repeat because values are parameters, but
/// clients can vary them (aliases, column lists): past this many, the connection is retired
/// after its request and a fresh one takes its place.
pub const STATEMENTS_MAX: usize = 256;

/// The read buffer's usual size; one grown by a very large row is given back after its request.
pub const READ_BUFFER: usize = 16 * 1024;

/// Room made in the read buffer before each read.
const READ_ROOM: usize = 4096;

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
#[derive(Debug)]
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
                .map(|b| std::str::from_utf8(b).map_err(|_| ProtocolError::NotUtf8.into()))
                .transpose(),
            _ => Ok(None),
        }
    }
}

/// What the statement in front of the answer produced next.
#[derive(Debug)]
pub enum Event {
    Row(Row),
    /// The statement finished.
    Done,
}

/// The transaction status `ReadyForQuery` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// `I`: no transaction open.
    Idle,
    /// `T`: in a transaction.
    InTransaction,
    /// `E`: in a failed transaction, which only a `ROLLBACK` ends.
    Failed,
}

impl TxStatus {
    fn from_byte(b: u8) -> Result<TxStatus, ProtocolError> {
        match b {
            b'I' => Ok(TxStatus::Idle),
            b'T' => Ok(TxStatus::InTransaction),
            b'E' => Ok(TxStatus::Failed),
            other => Err(ProtocolError::Malformed(format!(
                "transaction status {:?}",
                char::from(other)
            ))),
        }
    }
}

/// One connection's protocol state: what it has prepared, what is queued, what was read.
pub struct Session {
    read: BytesMut,
    out: BytesMut,
    statements: HashMap<String, Prepared>,
    parsing: VecDeque<Parsing>,
    next_name: u64,
    /// `ReadyForQuery` of the batch in flight, once read.
    ready: Option<TxStatus>,
    /// Nothing in flight and no transaction open: fit for the next request.
    idle: bool,
    /// The backend sent something this client could not follow: where the stream stands is
    /// unknown, so the connection is never reused.
    broken: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// A session on a connection that has just become ready (idle, nothing prepared).
    pub fn new() -> Session {
        Session {
            read: BytesMut::with_capacity(READ_BUFFER),
            out: BytesMut::with_capacity(4 * 1024),
            statements: HashMap::new(),
            parsing: VecDeque::new(),
            next_name: 0,
            ready: None,
            idle: true,
            broken: false,
        }
    }

    /// Whether the connection can serve another request, as far as the protocol goes.
    pub fn reusable(&self) -> bool {
        self.idle
            && !self.broken
            && self.out.is_empty()
            && self.parsing.is_empty()
            && self.read.is_empty()
            && self.statements.len() <= STATEMENTS_MAX
    }

    /// Nothing in flight and no transaction open.
    pub fn is_idle(&self) -> bool {
        self.idle
    }

    /// The read buffer's capacity (it grows for a large row and shrinks once idle again).
    pub fn read_capacity(&self) -> usize {
        self.read.capacity()
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
        .map_err(|_| ProtocolError::Encode)?;
        frontend::execute("", 0, &mut self.out)?;
        Ok(())
    }

    /// The queued statements and one `Sync`: the bytes to send for this round trip.
    pub fn batch(&mut self) -> BytesMut {
        frontend::sync(&mut self.out);
        self.idle = false;
        self.ready = None;
        self.out.split()
    }

    /// Drops statements queued but never sent.
    pub fn discard_unsent(&mut self) {
        self.out.clear();
        if self.idle {
            self.parsing.clear();
        }
    }

    /// The column names of a statement prepared on this connection.
    pub fn columns(&self, sql: &str) -> Option<Arc<[String]>> {
        self.statements.get(sql).map(|p| Arc::clone(&p.columns))
    }

    /// Where the backend's next bytes go, with room made for them.
    pub fn read_buf(&mut self) -> &mut BytesMut {
        if self.read.capacity() - self.read.len() < READ_ROOM {
            self.read.reserve(READ_BUFFER);
        }
        &mut self.read
    }

    /// Appends bytes the backend sent.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.read.extend_from_slice(bytes);
    }

    fn message(&mut self) -> Result<Option<Message>, WireError> {
        Message::parse(&mut self.read)
            .map_err(|e| self.broke(ProtocolError::Malformed(e.to_string())))
    }

    fn broke(&mut self, e: ProtocolError) -> WireError {
        self.broken = true;
        WireError::Protocol(e)
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
                let columns: Result<Vec<String>, _> =
                    body.fields().map(|f| Ok(f.name().to_string())).collect();
                let columns =
                    columns.map_err(|e| self.broke(ProtocolError::Malformed(e.to_string())))?;
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

    /// The next row or end of the statement in front, `None` until more bytes are fed. Its
    /// error comes as `WireError::Db`, after which PostgreSQL skips the rest of the batch (read
    /// on with [`Session::next_ready`]).
    pub fn next_event(&mut self) -> Result<Option<Event>, WireError> {
        loop {
            let Some(m) = self.message()? else {
                return Ok(None);
            };
            if self.note(&m)? {
                continue;
            }
            return match m {
                Message::DataRow(body) => {
                    let ranges: Result<Vec<_>, _> = body.ranges().collect();
                    let ranges =
                        ranges.map_err(|e| self.broke(ProtocolError::Malformed(e.to_string())))?;
                    Ok(Some(Event::Row(Row { body, ranges })))
                }
                Message::CommandComplete(_) | Message::EmptyQueryResponse => Ok(Some(Event::Done)),
                Message::ErrorResponse(body) => {
                    self.parsing.clear();
                    Err(WireError::Db(self.db_error(&body)?))
                }
                Message::ReadyForQuery(body) => {
                    let status = TxStatus::from_byte(body.status()).map_err(|e| self.broke(e))?;
                    self.ready = Some(status);
                    Err(ProtocolError::EndedEarly.into())
                }
                other => Err(self.broke(ProtocolError::Unexpected {
                    message: name(&other),
                })),
            };
        }
    }

    /// Reads to the end of the batch (rows and ends of statements left unread are skipped);
    /// the transaction status, `None` until more bytes are fed.
    pub fn next_ready(&mut self) -> Result<Option<TxStatus>, WireError> {
        let status = match self.ready {
            Some(s) => s,
            None => loop {
                let Some(m) = self.message()? else {
                    return Ok(None);
                };
                match m {
                    Message::ReadyForQuery(body) => {
                        break TxStatus::from_byte(body.status()).map_err(|e| self.broke(e))?;
                    }
                    Message::ErrorResponse(_) => self.parsing.clear(),
                    other => {
                        self.note(&other)?;
                    }
                }
            },
        };
        self.parsing.clear();
        self.ready = Some(status);
        self.idle = status == TxStatus::Idle;
        if self.idle && self.read.is_empty() && self.read.capacity() > 64 * READ_BUFFER {
            self.read = BytesMut::with_capacity(READ_BUFFER);
        }
        Ok(Some(status))
    }

    fn db_error(&mut self, body: &ErrorResponseBody) -> Result<DbError, WireError> {
        let mut e = DbError {
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        let mut fields = body.fields();
        loop {
            let f = match fields.next() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(err) => return Err(self.broke(ProtocolError::Malformed(err.to_string()))),
            };
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
}

/// A message's name, for [`ProtocolError::Unexpected`].
fn name(m: &Message) -> &'static str {
    match m {
        Message::AuthenticationCleartextPassword
        | Message::AuthenticationGss
        | Message::AuthenticationKerberosV5
        | Message::AuthenticationMd5Password(_)
        | Message::AuthenticationOk
        | Message::AuthenticationScmCredential
        | Message::AuthenticationSspi
        | Message::AuthenticationGssContinue(_)
        | Message::AuthenticationSasl(_)
        | Message::AuthenticationSaslContinue(_)
        | Message::AuthenticationSaslFinal(_) => "Authentication",
        Message::BackendKeyData(_) => "BackendKeyData",
        Message::CloseComplete => "CloseComplete",
        Message::CopyData(_) => "CopyData",
        Message::CopyDone => "CopyDone",
        Message::CopyInResponse(_) => "CopyInResponse",
        Message::CopyOutResponse(_) => "CopyOutResponse",
        Message::PortalSuspended => "PortalSuspended",
        _ => "another message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::*;

    const NONE: std::iter::Empty<Option<&str>> = std::iter::empty();

    /// Reads the next event; panics if more bytes are needed.
    fn event(s: &mut Session) -> Result<Event, WireError> {
        s.next_event().map(|e| e.expect("an event"))
    }

    fn row_text(e: Result<Event, WireError>, i: usize) -> Option<String> {
        match e.unwrap() {
            Event::Row(row) => row.text(i).unwrap().map(String::from),
            Event::Done => panic!("expected a row"),
        }
    }

    fn is_done(e: Result<Event, WireError>) -> bool {
        matches!(e, Ok(Event::Done))
    }

    /// A query new to the session answered with `rows` of one column `body`.
    fn query_answer(rows: &[&str]) -> Vec<u8> {
        let mut out = [
            parse_complete(),
            parameter_description(1),
            row_description(&["body"]),
            bind_complete(),
        ]
        .concat();
        for r in rows {
            out.extend(data_row(&[Some(r)]));
        }
        out.extend(command_complete(&format!("SELECT {}", rows.len())));
        out
    }

    #[test]
    fn a_batch_is_pipelined_with_one_sync_and_parses_each_statement_once() {
        let mut s = Session::new();
        s.push("BEGIN", NONE).unwrap();
        s.push("select $1", [Some("a")]).unwrap();
        s.push("select $1", [None]).unwrap();
        s.push("COMMIT", NONE).unwrap();
        let sent = frontend(&s.batch());
        let tags: String = sent.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, "PDBEPDBEBEPDBES");
        let parsed: Vec<_> = sent.iter().filter_map(|(_, sql)| sql.clone()).collect();
        assert_eq!(parsed, ["BEGIN", "select $1", "COMMIT"]);
        assert!(!s.is_idle());

        s.feed(&prepared_command("BEGIN"));
        s.feed(&query_answer(&["1"])[..]);
        s.feed(
            &[
                bind_complete(),
                data_row(&[None]),
                command_complete("SELECT 1"),
            ]
            .concat(),
        );
        s.feed(&prepared_command("COMMIT"));
        s.feed(&ready(b'I'));
        assert!(is_done(event(&mut s)));
        assert_eq!(row_text(event(&mut s), 0).as_deref(), Some("1"));
        assert!(is_done(event(&mut s)));
        assert_eq!(row_text(event(&mut s), 0), None, "NULL");
        assert!(is_done(event(&mut s)));
        assert!(is_done(event(&mut s)));
        assert_eq!(s.next_ready().unwrap(), Some(TxStatus::Idle));
        assert!(s.reusable());
        assert_eq!(
            s.columns("select $1").as_deref(),
            Some(&[String::from("body")][..])
        );
        assert_eq!(s.columns("BEGIN").map(|c| c.len()), Some(0));

        // Prepared now: the next batch only binds and executes.
        s.push("select $1", [Some("b")]).unwrap();
        let tags: String = frontend(&s.batch()).iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, "BES");
    }

    #[test]
    fn an_error_mid_batch_skips_the_rest_up_to_ready_for_query() {
        let mut s = Session::new();
        s.push("BEGIN", NONE).unwrap();
        s.push("select * from nope", NONE).unwrap();
        s.push("select 1", NONE).unwrap();
        let _ = s.batch();
        // PostgreSQL answers the first statement, refuses the second's Parse and skips to Sync.
        s.feed(&prepared_command("BEGIN"));
        s.feed(&error_response("42P01", "relation \"nope\" does not exist"));
        s.feed(&ready(b'E'));
        assert!(is_done(event(&mut s)));
        match event(&mut s) {
            Err(WireError::Db(e)) => {
                assert_eq!(e.code, "42P01");
                assert_eq!(e.message, "relation \"nope\" does not exist");
                assert_eq!((e.detail, e.hint), (None, None));
            }
            other => panic!("expected the database's error, got {other:?}"),
        }
        assert_eq!(s.next_ready().unwrap(), Some(TxStatus::Failed));
        assert!(!s.is_idle(), "a failed transaction is still open");
        assert!(!s.reusable());
        assert!(s.columns("select * from nope").is_none());
        assert!(s.columns("select 1").is_none(), "never parsed");
        assert!(s.columns("BEGIN").is_some());

        // The rollback goes out; the skipped statements are parsed anew next time.
        s.push("ROLLBACK", NONE).unwrap();
        let _ = s.batch();
        s.feed(&[prepared_command("ROLLBACK"), ready(b'I')].concat());
        assert_eq!(s.next_ready().unwrap(), Some(TxStatus::Idle));
        assert!(s.reusable());
        s.push("select 1", NONE).unwrap();
        let tags: String = frontend(&s.batch()).iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, "PDBES");
    }

    #[test]
    fn ready_for_query_before_a_statement_ends_is_an_early_end() {
        let mut s = Session::new();
        s.push("select 1", NONE).unwrap();
        let _ = s.batch();
        s.feed(&ready(b'I'));
        assert!(matches!(
            event(&mut s),
            Err(WireError::Protocol(ProtocolError::EndedEarly))
        ));
        // The status was read with it: nothing more is needed.
        assert_eq!(s.next_ready().unwrap(), Some(TxStatus::Idle));
    }

    #[test]
    fn a_row_larger_than_the_read_buffer_arrives_over_many_reads() {
        let big = "x".repeat(2 * 1024 * 1024);
        let mut s = Session::new();
        s.push("select big", NONE).unwrap();
        let _ = s.batch();
        let answer = [query_answer(&[&big, "small"]), ready(b'I')].concat();
        let mut chunks = answer.chunks(READ_BUFFER / 2);
        let mut events = Vec::new();
        let mut reads = 0;
        loop {
            match s.next_event().unwrap() {
                Some(Event::Done) => break,
                Some(e) => events.push(e),
                None => {
                    // As a socket read would: into the room the session made.
                    let chunk = chunks.next().expect("the script ran out");
                    s.read_buf().extend_from_slice(chunk);
                    reads += 1;
                }
            }
        }
        assert!(reads > 100, "{reads} reads");
        assert_eq!(events.len(), 2);
        let texts: Vec<_> = events
            .into_iter()
            .map(|e| row_text(Ok(e), 0).unwrap())
            .collect();
        assert_eq!(texts[0].len(), big.len());
        assert_eq!(texts[1], "small");
        assert!(s.read_capacity() > 64 * READ_BUFFER);
        loop {
            match s.next_ready().unwrap() {
                Some(status) => {
                    assert_eq!(status, TxStatus::Idle);
                    break;
                }
                None => s.feed(chunks.next().expect("the script ran out")),
            }
        }
        assert!(
            s.read_capacity() <= 2 * READ_BUFFER,
            "a grown read buffer is given back once idle ({})",
            s.read_capacity()
        );
    }

    #[test]
    fn notices_and_parameter_changes_between_rows_are_passed_over() {
        let mut s = Session::new();
        s.push("select 1", NONE).unwrap();
        let _ = s.batch();
        s.feed(&parse_complete());
        s.feed(&notice("a notice before the description"));
        s.feed(
            &[
                parameter_description(0),
                row_description(&["a", "b"]),
                bind_complete(),
            ]
            .concat(),
        );
        s.feed(&data_row(&[Some("1"), Some("x")]));
        s.feed(&parameter_status("TimeZone", "UTC"));
        s.feed(&notice("raised by a function"));
        s.feed(&data_row(&[Some("2"), None]));
        s.feed(&parameter_status("application_name", "pgmesh"));
        s.feed(&command_complete("SELECT 2"));
        s.feed(&notice("after the end"));
        s.feed(&ready(b'I'));
        assert_eq!(row_text(event(&mut s), 1).as_deref(), Some("x"));
        assert_eq!(row_text(event(&mut s), 0).as_deref(), Some("2"));
        assert!(is_done(event(&mut s)));
        assert_eq!(s.next_ready().unwrap(), Some(TxStatus::Idle));
        assert_eq!(
            s.columns("select 1").map(|c| c.to_vec()),
            Some(vec!["a".into(), "b".into()])
        );
        assert!(s.reusable());
    }

    #[test]
    fn an_unknown_message_is_a_typed_error_and_the_session_is_not_reused() {
        let mut s = Session::new();
        s.push("select 1", NONE).unwrap();
        let _ = s.batch();
        s.feed(&[b'j', 0, 0, 0, 5, 0]);
        match s.next_event() {
            Err(WireError::Protocol(ProtocolError::Malformed(why))) => {
                assert!(why.contains("unknown message tag"), "{why}")
            }
            other => panic!("expected a malformed message, got {other:?}"),
        }
        s.feed(&ready(b'I'));
        assert_eq!(s.next_ready().unwrap(), Some(TxStatus::Idle));
        assert!(
            !s.reusable(),
            "a session that lost its place is never reused"
        );
    }

    #[test]
    fn an_unexpected_message_is_a_typed_error() {
        let mut s = Session::new();
        s.push("select 1", NONE).unwrap();
        let _ = s.batch();
        s.feed(&backend_key_data());
        assert!(matches!(
            s.next_event(),
            Err(WireError::Protocol(ProtocolError::Unexpected {
                message: "BackendKeyData"
            }))
        ));
        assert!(!s.reusable());
    }

    #[test]
    fn bad_lengths_and_statuses_are_typed_errors() {
        let mut s = Session::new();
        s.feed(&[b'D', 0, 0, 0, 2]);
        assert!(matches!(
            s.next_event(),
            Err(WireError::Protocol(ProtocolError::Malformed(_)))
        ));

        let mut s = Session::new();
        s.push("select 1", NONE).unwrap();
        let _ = s.batch();
        s.feed(&ready(b'?'));
        assert!(matches!(
            s.next_ready(),
            Err(WireError::Protocol(ProtocolError::Malformed(_)))
        ));

        // A DataRow whose value runs past its end.
        let mut s = Session::new();
        let mut row = data_row(&[Some("abc")]);
        let at = row.len() - 7;
        row[at..at + 4].copy_from_slice(&99i32.to_be_bytes());
        s.feed(&row);
        assert!(matches!(
            s.next_event(),
            Err(WireError::Protocol(ProtocolError::Malformed(_)))
        ));
        assert!(!s.reusable());
    }

    #[test]
    fn partial_messages_wait_for_more_bytes() {
        let mut s = Session::new();
        s.push("select 1", NONE).unwrap();
        let _ = s.batch();
        let answer = [query_answer(&["one"]), ready(b'I')].concat();
        let mut events = 0;
        for b in &answer {
            s.feed(std::slice::from_ref(b));
            while let Ok(Some(_)) = s.next_event() {
                events += 1;
                if events == 2 {
                    break;
                }
            }
        }
        assert_eq!(events, 2, "the row and the end");
        assert_eq!(s.next_ready().unwrap(), Some(TxStatus::Idle));
    }

    #[test]
    fn too_many_statements_retire_the_session() {
        let mut s = Session::new();
        for i in 0..=STATEMENTS_MAX {
            s.push(&format!("select {i}"), NONE).unwrap();
        }
        let _ = s.batch();
        for _ in 0..=STATEMENTS_MAX {
            s.feed(&prepared_command("SELECT 1"));
        }
        s.feed(&ready(b'I'));
        assert_eq!(s.next_ready().unwrap(), Some(TxStatus::Idle));
        assert!(!s.reusable());
    }

    #[test]
    fn unsent_statements_are_discarded() {
        let mut s = Session::new();
        s.push("select 1", NONE).unwrap();
        assert!(!s.reusable(), "something queued");
        s.discard_unsent();
        assert!(s.reusable());
    }
}
