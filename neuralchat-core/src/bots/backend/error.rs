//! What can go wrong talking to an LLM server.

use std::error::Error as StdError;

/// The longest HTTP error body kept in [`BackendError::Status`], in chars.
pub const MAX_ERROR_BODY_CHARS: usize = 200;

/// A failed call to an LLM backend. The `Display` form is detailed (for
/// logs); [`BackendError::reason`] is short and safe to show in a room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The client could not be built from its settings (e.g. a bad URL).
    #[error("invalid backend settings: {0}")]
    Config(String),
    /// The server could not be reached or the request could not be sent.
    #[error("cannot connect to the backend: {0}")]
    Connect(String),
    /// The server answered with an HTTP error status.
    #[error("the backend answered HTTP {code}: {body}")]
    Status {
        /// The HTTP status code.
        code: u16,
        /// The start of the response body (at most
        /// [`MAX_ERROR_BODY_CHARS`] chars).
        body: String,
    },
    /// The reply was not the expected stream format.
    #[error("malformed reply from the backend: {0}")]
    Malformed(String),
    /// The server reported an error inside the stream.
    #[error("the backend reported an error: {0}")]
    Server(String),
    /// The connection broke while the reply was streaming.
    #[error("the connection to the backend was lost: {0}")]
    Interrupted(String),
    /// The server sent nothing for longer than the client's timeout.
    #[error("the backend sent nothing within the timeout")]
    Timeout,
}

impl BackendError {
    /// A short reason for users: "cannot connect", "HTTP 500", "malformed
    /// reply", "timed out", ... (as in "Olga is unavailable: timed out").
    pub fn reason(&self) -> String {
        match self {
            Self::Config(_) => "misconfigured".to_owned(),
            Self::Connect(_) => "cannot connect".to_owned(),
            Self::Status { code, .. } => format!("HTTP {code}"),
            Self::Malformed(_) => "malformed reply".to_owned(),
            Self::Server(_) => "backend error".to_owned(),
            Self::Interrupted(_) => "connection lost".to_owned(),
            Self::Timeout => "timed out".to_owned(),
        }
    }

    /// A [`BackendError::Status`] with the body cut to
    /// [`MAX_ERROR_BODY_CHARS`] chars.
    pub fn status(code: u16, body: &str) -> Self {
        Self::Status {
            code,
            body: truncate(body.trim(), MAX_ERROR_BODY_CHARS),
        }
    }
}

/// `text` cut to `max` chars, with "…" appended when something was cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// An error and its chain of sources, joined with ": " (reqwest's own
/// message leaves out the cause, e.g. "connection refused").
pub(crate) fn describe(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The message of an `error` value: `{"message": ...}`, a string, or the
/// JSON itself; cut short.
pub(crate) fn server_message(error: &serde_json::Value) -> String {
    let text = match error {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Object(map) => match map.get("message") {
            Some(serde_json::Value::String(text)) => text.clone(),
            _ => error.to_string(),
        },
        other => other.to_string(),
    };
    truncate(&text, MAX_ERROR_BODY_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short() {
        let cases = [
            (BackendError::Config("x".into()), "misconfigured"),
            (BackendError::Connect("refused".into()), "cannot connect"),
            (BackendError::status(500, "oops"), "HTTP 500"),
            (BackendError::Malformed("x".into()), "malformed reply"),
            (BackendError::Server("x".into()), "backend error"),
            (BackendError::Interrupted("x".into()), "connection lost"),
            (BackendError::Timeout, "timed out"),
        ];
        for (error, reason) in cases {
            assert_eq!(error.reason(), reason, "{error}");
        }
    }

    #[test]
    fn status_bodies_are_truncated_on_char_boundaries() {
        let long = "ж".repeat(500);
        let BackendError::Status { code, body } = BackendError::status(503, &long) else {
            panic!("not a status error");
        };
        assert_eq!(code, 503);
        assert_eq!(body.chars().count(), MAX_ERROR_BODY_CHARS + 1);
        assert!(body.ends_with('…'));
        assert_eq!(
            BackendError::status(404, "  not found\n"),
            BackendError::Status {
                code: 404,
                body: "not found".into()
            }
        );
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc…");
    }

    #[test]
    fn describe_walks_the_source_chain() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(describe(&Outer(inner)), "outer: refused");
    }
}
