//! Wire protocol v1: JSON frames with a `type` field, the same over every
//! transport. Client frames may carry a `ref` (string or number) that the
//! server echoes in the answer. See docs/PROTOCOL.md for every frame.

use crate::error::{ChatError, ErrorCode};
use crate::event::{Event, EventId};
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol name and version announced in `hello`.
pub const PROTOCOL: &str = "neuralchat/1";

/// A frame sent by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Create an account.
    Register {
        /// The wanted user name.
        username: String,
        /// The password (at most 72 bytes).
        password: String,
    },
    /// Log in with a password; the session becomes authenticated and gets a token.
    Login {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// Authenticate the session with a token from an earlier log-in.
    Auth {
        /// The token.
        token: String,
    },
    /// Revoke the session's token and end the authentication.
    Logout {},
    /// Join a room, creating it (public) when it does not exist.
    Join {
        /// The room's name.
        room: String,
        /// The id of the last event the client saw (a resume after a
        /// reconnect, to this node or another): `joined` then holds what
        /// follows it, oldest first.
        #[serde(default)]
        since: Option<String>,
    },
    /// Leave a room.
    Leave {
        /// The room's name.
        room: String,
    },
    /// Post a message to a room the user has joined.
    Send {
        /// The room's name.
        room: String,
        /// The message text.
        text: String,
        /// The client's own id for this message; a retry with the same id is
        /// acknowledged with the first event and not stored twice.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// Fetch a page of a room's history, oldest first, ending before `before`.
    History {
        /// The room's name.
        room: String,
        /// Only events older than this id (default: the newest).
        #[serde(default)]
        before: Option<String>,
        /// At most this many events (default 50, at most 200).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// List the rooms, a page at a time, by name.
    Rooms {
        /// Rooms whose names sort after this one (the last of the previous page).
        #[serde(default)]
        after: Option<String>,
        /// At most this many rooms (default 100, at most 500).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// List a room's members.
    Who {
        /// The room's name.
        room: String,
    },
    /// List the user's unread mentions (and mark them read).
    Mentions {},
    /// Liveness check; answered with `pong`.
    Ping {},
}

impl ClientFrame {
    /// The frame's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Register { .. } => "register",
            Self::Login { .. } => "login",
            Self::Auth { .. } => "auth",
            Self::Logout {} => "logout",
            Self::Join { .. } => "join",
            Self::Leave { .. } => "leave",
            Self::Send { .. } => "send",
            Self::History { .. } => "history",
            Self::Rooms { .. } => "rooms",
            Self::Who { .. } => "who",
            Self::Mentions {} => "mentions",
            Self::Ping {} => "ping",
        }
    }
}

/// The `type` names of every client frame, for telling `unknown_type` from `bad_frame`.
pub const CLIENT_TYPES: &[&str] = &[
    "register", "login", "auth", "logout", "join", "leave", "send", "history", "rooms", "who",
    "mentions", "ping",
];

/// A decoded client frame with its optional reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The client's `ref`, echoed in the answer.
    pub reference: Option<String>,
    /// The frame itself.
    pub frame: ClientFrame,
}

/// A decoding failure: the error to answer with and the `ref`, if one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The client-facing error.
    pub error: ChatError,
    /// The frame's `ref`, when the frame was JSON enough to have one.
    pub reference: Option<String>,
}

/// Decodes a client frame, refusing frames over `max_bytes`.
pub fn decode(text: &str, max_bytes: usize) -> Result<Request, DecodeError> {
    if text.len() > max_bytes {
        return Err(DecodeError {
            error: ChatError::new(
                ErrorCode::FrameTooLarge,
                format!("frame is {} bytes, the limit is {max_bytes}", text.len()),
            ),
            reference: None,
        });
    }
    let fail = |code, message: String, reference: Option<String>| DecodeError {
        error: ChatError::new(code, message),
        reference,
    };
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| fail(ErrorCode::BadJson, format!("not valid JSON: {e}"), None))?;
    let Some(object) = value.as_object_mut() else {
        return Err(fail(
            ErrorCode::BadJson,
            "a frame must be a JSON object".into(),
            None,
        ));
    };
    let reference = match object.remove("ref") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        _ => {
            return Err(fail(
                ErrorCode::UnknownType,
                "the frame has no \"type\" string".into(),
                reference,
            ))
        }
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        return Err(fail(
            ErrorCode::UnknownType,
            format!("unknown frame type {kind:?}"),
            reference,
        ));
    }
    match serde_json::from_value::<ClientFrame>(value) {
        Ok(frame) => Ok(Request { reference, frame }),
        Err(e) => Err(fail(
            ErrorCode::BadFrame,
            format!("bad {kind} frame: {e}"),
            reference,
        )),
    }
}

/// Limits a client should know about, announced in `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// The longest message accepted, in characters.
    pub max_message_chars: usize,
    /// The largest history page.
    pub history_page_max: u32,
    /// Frames per second a connection may send, on average.
    pub frames_per_second: f64,
    /// Frames a connection may send in one burst.
    pub frame_burst: f64,
    /// Messages per second a user may post, on average.
    pub messages_per_second: f64,
    /// Messages a user may post in one burst.
    pub message_burst: f64,
    /// Seconds a new connection has to log in before it is closed (0: no limit).
    pub login_deadline_secs: u64,
}

/// One room in a `rooms` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room's name.
    pub name: String,
    /// The room's topic, if one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// How many users are members.
    pub members: u64,
}

/// One member in a `members` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The user's name.
    pub user: String,
    /// The member's role in the room (`owner` or `member`).
    pub role: String,
    /// Whether the user has a session in the room now, on this node.
    pub online: bool,
}

/// A frame sent by the server. Answers echo the request's `ref`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection.
    Hello {
        /// Always [`PROTOCOL`].
        protocol: String,
        /// The id of the node the client is connected to.
        node: String,
        /// Limits the client must respect.
        limits: Limits,
    },
    /// The account was created.
    Registered {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The user name as stored.
        user: String,
    },
    /// Log-in succeeded; the session is authenticated.
    LoggedIn {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The user name as stored.
        user: String,
        /// The bearer token for later sessions and the REST API.
        token: String,
        /// When the token expires, milliseconds since the Unix epoch.
        expires_at: i64,
    },
    /// Token authentication succeeded.
    Authenticated {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The user name.
        user: String,
    },
    /// The token was revoked; the session is anonymous again.
    LoggedOut {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// The session joined a room; `history` holds the latest events.
    Joined {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The room's name.
        room: String,
        /// The room's topic, if one is set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        /// The latest events, oldest first.
        history: Vec<Event>,
        /// Whether older events exist.
        more: bool,
    },
    /// The user left a room.
    Left {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The room's name.
        room: String,
    },
    /// A live event in a room the session has joined.
    Event {
        /// The event.
        event: Event,
    },
    /// The message was stored and fanned out.
    Ack {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The stored event's id.
        id: String,
        /// The room.
        room: String,
        /// The client's id for the message, if it sent one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// A page of history, oldest first.
    History {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The room.
        room: String,
        /// The events, oldest first.
        events: Vec<Event>,
        /// Whether older events exist.
        more: bool,
    },
    /// The list of rooms.
    Rooms {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The rooms, by name.
        rooms: Vec<RoomInfo>,
        /// Whether more rooms follow (ask again with `after`).
        more: bool,
    },
    /// A room's members.
    Members {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The room.
        room: String,
        /// The members, by name.
        members: Vec<MemberInfo>,
    },
    /// A command's output, for the caller only.
    Command {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The command's name (`help`, `who`, `clear`, ...).
        command: String,
        /// The room the command ran in, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Human-readable output.
        text: String,
        /// The same output as data, for clients that render it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
    /// A bot's reply begins (or, for a client joining mid-reply, what it has
    /// said so far): `event.text` is the text until now; `delta` frames with
    /// the same `id` follow, then the final `event` frame.
    ReplyStart {
        /// The reply as it stands.
        event: Event,
    },
    /// The next piece of a bot's reply.
    Delta {
        /// The room.
        room: String,
        /// The reply's event id.
        id: String,
        /// Text to append.
        text: String,
    },
    /// The user was mentioned in an event they may read.
    Mention {
        /// The event that mentions the user.
        event: Event,
    },
    /// The user's unread mentions, oldest first (now marked read).
    Mentions {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The events that mention the user.
        mentions: Vec<Event>,
    },
    /// Answer to `ping`.
    Pong {
        /// The request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// A request failed, or the server is closing the connection.
    Error {
        /// The stable error code.
        code: ErrorCode,
        /// A human explanation.
        message: String,
        /// The failed request's `ref`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// For `rate_limited`: milliseconds until a retry can succeed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// For `bot_busy` and `token_budget_spent`: the id of the question
        /// the bot refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
    },
}

impl ServerFrame {
    /// The `error` frame for a failure.
    pub fn error(error: ChatError, reference: Option<String>) -> Self {
        Self::Error {
            code: error.code,
            message: error.message,
            reference,
            retry_after_ms: error.retry_after_ms,
            reply_to: None,
        }
    }

    /// The `ack` answering the `send` with `reference` that stored `event`
    /// (or found it stored: a retried `client_id`).
    pub fn ack(reference: Option<String>, event: Event) -> Self {
        Self::Ack {
            reference,
            id: event.id.to_string(),
            room: event.room,
            client_id: event.client_id,
        }
    }

    /// The `error` frame refusing the question `question` to a bot.
    pub fn bot_refusal(error: ChatError, question: EventId) -> Self {
        Self::Error {
            code: error.code,
            message: error.message,
            reference: None,
            retry_after_ms: None,
            reply_to: Some(question.to_string()),
        }
    }

    /// Serializes the frame once; the bytes are shared by every recipient.
    pub fn encode(&self) -> ByteString {
        match serde_json::to_string(self) {
            Ok(text) => ByteString::from(text),
            // Serializing these plain structs cannot fail; answer with a valid frame anyway.
            Err(_) => ByteString::from_static(
                r#"{"type":"error","code":"internal","message":"internal server error"}"#,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_send_frame_with_numeric_ref() {
        let req = decode(
            r#"{"type":"send","ref":7,"room":"general","text":"hi","client_id":"c1"}"#,
            1024,
        )
        .unwrap();
        assert_eq!(req.reference.as_deref(), Some("7"));
        assert_eq!(
            req.frame,
            ClientFrame::Send {
                room: "general".into(),
                text: "hi".into(),
                client_id: Some("c1".into())
            }
        );
    }

    #[test]
    fn type_names_match_the_wire() {
        for name in CLIENT_TYPES {
            let frame = serde_json::from_value::<ClientFrame>(serde_json::json!({
                "type": name, "username": "u", "password": "p", "token": "t", "room": "r", "text": "x"
            }))
            .unwrap();
            assert_eq!(frame.type_name(), *name);
        }
    }

    #[test]
    fn frames_without_fields_decode() {
        assert_eq!(
            decode(r#"{"type":"ping"}"#, 64).unwrap().frame,
            ClientFrame::Ping {}
        );
        assert_eq!(
            decode(r#"{"type":"rooms"}"#, 64).unwrap().frame,
            ClientFrame::Rooms {
                after: None,
                limit: None
            }
        );
    }

    #[test]
    fn classifies_bad_input_with_stable_codes() {
        let code = |text: &str| decode(text, 64).unwrap_err().error.code;
        assert_eq!(code("{nope"), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadJson);
        assert_eq!(code(r#"{"ref":"x"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"join"}"#), ErrorCode::BadFrame);
        assert_eq!(code(r#"{"type":"join","room":5}"#), ErrorCode::BadFrame);
        assert_eq!(code(&"x".repeat(65)), ErrorCode::FrameTooLarge);
    }

    #[test]
    fn keeps_the_ref_of_a_bad_frame() {
        let err = decode(r#"{"type":"join","ref":"r1"}"#, 64).unwrap_err();
        assert_eq!(err.reference.as_deref(), Some("r1"));
    }

    #[test]
    fn encodes_error_frames_with_ref() {
        let frame = ServerFrame::error(
            ChatError::new(ErrorCode::UnknownRoom, "no such room"),
            Some("3".into()),
        );
        let value: Value = serde_json::from_str(&frame.encode()).unwrap();
        assert_eq!(value["type"], "error");
        assert_eq!(value["code"], "unknown_room");
        assert_eq!(value["ref"], "3");
    }
}
