//! Errors. [`ErrorCode`] is the stable, client-facing vocabulary; [`ChatError`]
//! is what every engine operation returns. Internal failures (database, actor
//! mailbox) are logged with their detail and reach clients only as `internal`.

use serde::{Deserialize, Serialize};

/// A stable error code sent to clients in `error` frames and REST bodies.
/// Codes are part of the protocol: never rename one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON or not a JSON object.
    BadJson,
    /// The frame's `type` is missing or not one the server knows.
    UnknownType,
    /// The frame's fields are missing or of the wrong type.
    BadFrame,
    /// The frame is larger than `limits.max_frame_bytes`.
    FrameTooLarge,
    /// The message text is longer than `limits.max_message_chars`, shows
    /// nothing (empty, or only spaces and invisible characters), or holds a
    /// control character (other than line feed and tab) or a bidi control.
    BadMessage,
    /// Too many frames or messages in too short a time.
    RateLimited,
    /// The action needs a logged-in session.
    Unauthenticated,
    /// The session is already logged in.
    AlreadyAuthenticated,
    /// Wrong user name or password.
    InvalidCredentials,
    /// The token is unknown, revoked or expired.
    InvalidToken,
    /// The user name is not allowed (length or characters).
    InvalidUsername,
    /// The password is too short, holds a NUL, or is only spaces and
    /// invisible characters.
    InvalidPassword,
    /// The password is longer than bcrypt's 72 bytes; it is refused, not truncated.
    PasswordTooLong,
    /// Someone already has that user name.
    UsernameTaken,
    /// The user name looks like a registered user's or a bot's name (the
    /// same Unicode confusable skeleton, e.g. a Cyrillic `а` for a Latin `a`).
    NameConfusable,
    /// The room name is not allowed (length or characters).
    InvalidRoom,
    /// No room has that name.
    UnknownRoom,
    /// The user has not joined that room.
    NotMember,
    /// The `before` cursor is not an event id.
    BadCursor,
    /// The user's role does not allow the action.
    Forbidden,
    /// The user is banned from the room.
    Banned,
    /// The room is private and the user has no invitation.
    InviteOnly,
    /// No user has that name.
    UnknownUser,
    /// No command has that name.
    UnknownCommand,
    /// No such REST path or method.
    NotFound,
    /// The command's arguments are wrong; the message shows its usage.
    BadArguments,
    /// A bot has too many questions waiting (in the room, or from this user).
    BotBusy,
    /// The user spent today's token budget with a bot.
    TokenBudgetSpent,
    /// The client could not keep up with its outgoing queue and was disconnected.
    SlowConsumer,
    /// The server is shutting down.
    ShuttingDown,
    /// An MQTT client wrote to a session this node does not hold (never
    /// opened, ended after silence, or the node restarted): open a new one.
    NoSession,
    /// Something failed inside the server; the detail is in the server's log.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire (`"bad_json"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "bad_json",
            Self::UnknownType => "unknown_type",
            Self::BadFrame => "bad_frame",
            Self::FrameTooLarge => "frame_too_large",
            Self::BadMessage => "bad_message",
            Self::RateLimited => "rate_limited",
            Self::Unauthenticated => "unauthenticated",
            Self::AlreadyAuthenticated => "already_authenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidToken => "invalid_token",
            Self::InvalidUsername => "invalid_username",
            Self::InvalidPassword => "invalid_password",
            Self::PasswordTooLong => "password_too_long",
            Self::UsernameTaken => "username_taken",
            Self::NameConfusable => "name_confusable",
            Self::InvalidRoom => "invalid_room",
            Self::UnknownRoom => "unknown_room",
            Self::NotMember => "not_member",
            Self::BadCursor => "bad_cursor",
            Self::Forbidden => "forbidden",
            Self::Banned => "banned",
            Self::InviteOnly => "invite_only",
            Self::UnknownUser => "unknown_user",
            Self::UnknownCommand => "unknown_command",
            Self::NotFound => "not_found",
            Self::BadArguments => "bad_arguments",
            Self::BotBusy => "bot_busy",
            Self::TokenBudgetSpent => "token_budget_spent",
            Self::SlowConsumer => "slow_consumer",
            Self::ShuttingDown => "shutting_down",
            Self::NoSession => "no_session",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status the REST API answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials | Self::InvalidToken => 401,
            Self::NotMember | Self::Forbidden | Self::Banned | Self::InviteOnly => 403,
            Self::UnknownRoom | Self::UnknownUser | Self::NotFound => 404,
            Self::UsernameTaken | Self::NameConfusable | Self::AlreadyAuthenticated => 409,
            Self::FrameTooLarge => 413,
            Self::RateLimited | Self::BotBusy | Self::TokenBudgetSpent => 429,
            Self::Internal => 500,
            Self::SlowConsumer | Self::ShuttingDown => 503,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure that may be shown to a client: a stable code and a human message
/// that never carries internal detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ChatError {
    /// The stable code.
    pub code: ErrorCode,
    /// A short human explanation, safe to show to the client.
    pub message: String,
    /// For `rate_limited`: how long until a retry can succeed, in
    /// milliseconds, when the server knows.
    pub retry_after_ms: Option<u64>,
}

impl ChatError {
    /// A client-facing error with its code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The same error, saying when a retry can succeed.
    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after_ms = Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// The generic answer for an internal failure (the detail goes to the log).
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal server error")
    }
}

impl From<crate::store::StoreError> for ChatError {
    fn from(_: crate::store::StoreError) -> Self {
        // The store error's detail is logged where it happened (see Store::call).
        Self::internal()
    }
}

impl From<actix::MailboxError> for ChatError {
    fn from(_: actix::MailboxError) -> Self {
        Self::new(ErrorCode::ShuttingDown, "the server is shutting down")
    }
}

/// Shorthand for engine results.
pub type ChatResult<T> = Result<T, ChatError>;
