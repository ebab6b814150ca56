use std::io;

/// An error PostgreSQL reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

/// The backend said something this client cannot follow. After any of these but
/// [`ProtocolError::EndedEarly`] the connection is not reused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("PostgreSQL closed the connection")]
    Closed,
    /// `ReadyForQuery` came while a statement's result was still expected.
    #[error("the answer ended early")]
    EndedEarly,
    /// A well-formed message that has no place in an extended-protocol answer (`CopyInResponse`,
    /// an authentication request, …).
    #[error("an unexpected message")]
    Unexpected { message: &'static str },
    /// Bytes that are not a backend message (an unknown tag, a bad length or body).
    #[error("a malformed message: {0}")]
    Malformed(String),
    #[error("a value is not UTF-8")]
    NotUtf8,
    #[error("a statement could not be encoded")]
    Encode,
    #[error("db-uri names no host")]
    NoHost,
    #[error("no host answered")]
    NoHostAnswered,
    #[error("the server's session does not match target_session_attrs")]
    SessionAttrs,
    #[error("the stream was not given back")]
    NotGivenBack,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{}", .0.message)]
    Db(DbError),
    #[error("database connection: {0}")]
    Io(#[from] io::Error),
    #[error("database connection: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("database connection: {0}")]
    Connect(#[from] tokio_postgres::Error),
}
