//! The CLI's failures: each has a stable code (the server's error code, or one
//! of the client's own), a message, and an exit status.

use std::fmt;

/// What kind of failure, which picks the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The server answered with an `error` frame.
    Server,
    /// No server could be reached, or the connection was lost.
    Connect,
    /// No answer came in time.
    Timeout,
    /// A failure on this side (no password, not logged in, bad local state).
    Local,
    /// Ctrl-C stopped the command before it finished.
    Interrupted,
}

/// A failure printed as `error: <code>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// A stable code: the server's error code, or the client's own.
    pub code: String,
    /// A human explanation.
    pub message: String,
}

impl CliError {
    /// An `error` frame from the server.
    pub fn server(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Server, code, message)
    }

    /// No server could be reached.
    pub fn connect(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connect, "connect_failed", message)
    }

    /// The connection ended while the command still needed it.
    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connect, "connection_closed", message)
    }

    /// No answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, "timeout", message)
    }

    /// The server sent something this client does not understand.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Local, "protocol", message)
    }

    /// A local failure with its own code.
    pub fn local(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Local, code, message)
    }

    /// Ctrl-C stopped the command.
    pub fn interrupted() -> Self {
        Self::new(
            ErrorKind::Interrupted,
            "interrupted",
            "stopped by Ctrl-C before the command finished",
        )
    }

    /// The command needs a stored token and there is none.
    pub fn not_logged_in() -> Self {
        Self::local(
            "not_logged_in",
            "not logged in: run `neuralchat-cli login NAME`",
        )
    }

    fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    /// The process exit status for this failure: 1 for server and local
    /// errors, 3 when no server could be reached or the connection was lost,
    /// 4 on a timeout, 130 on Ctrl-C (clap uses 2 for usage errors).
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Server | ErrorKind::Local => 1,
            ErrorKind::Connect => 3,
            ErrorKind::Timeout => 4,
            ErrorKind::Interrupted => 130,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CliError {}

/// The server error code carried by an error, if it is a server error.
pub fn server_code(error: &anyhow::Error) -> Option<&str> {
    match error.downcast_ref::<CliError>() {
        Some(e) if e.kind == ErrorKind::Server => Some(e.code.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_code_and_message() {
        let e = CliError::server("invalid_credentials", "wrong user name or password");
        assert_eq!(
            e.to_string(),
            "invalid_credentials: wrong user name or password"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(CliError::connect("x").exit_code(), 3);
        assert_eq!(CliError::timeout("x").exit_code(), 4);
        assert_eq!(CliError::interrupted().exit_code(), 130);
    }

    #[test]
    fn finds_the_server_code_in_an_anyhow_error() {
        let e = anyhow::Error::new(CliError::server("rate_limited", "slow down"));
        assert_eq!(server_code(&e), Some("rate_limited"));
        let e = anyhow::Error::new(CliError::timeout("slow"));
        assert_eq!(server_code(&e), None);
    }
}
