//! Decoding the server's frames into core's types ([`ServerFrame`],
//! [`Event`]). Nothing the server sends can make the client panic: a frame
//! this client cannot read is a protocol error for the request it answers,
//! or is skipped when it answers nothing.

use crate::error::CliError;
use neuralchat_core::protocol::ServerFrame;
use neuralchat_core::Event;
use serde_json::Value;

/// A live frame: something that happened, not an answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// An event in a room this session joined (or a direct conversation).
    Event(Event),
    /// A bot's reply begins; the event's `text` is what it said so far.
    ReplyStart(Event),
    /// The next piece of a bot's reply.
    Delta {
        /// The room.
        room: String,
        /// The reply's event id.
        id: String,
        /// Text to append.
        text: String,
    },
    /// The user was mentioned in this event.
    Mention(Event),
    /// An `error` frame that answers no request (`bot_busy`,
    /// `token_budget_spent` after a question to a bot).
    Notice {
        /// The error.
        error: CliError,
        /// The question a bot refused, when the server names it.
        reply_to: Option<String>,
    },
}

/// What one incoming frame is.
#[derive(Debug)]
pub enum Decoded {
    /// The answer to the request with this `ref`: a frame, or the server's
    /// refusal (or a frame this client cannot read).
    Answer(String, Result<ServerFrame, CliError>),
    /// A live frame.
    Live(Live),
    /// An `error` without a `ref` refusing the frame sent last: the server
    /// refuses some frames before it reads their `ref` (`rate_limited`, ...).
    Refusal(CliError),
    /// An `error` without a `ref` saying the server closes the connection.
    Fatal(CliError),
    /// Nothing this client uses (a frame type it does not know).
    Ignored,
}

/// Decodes one text frame. Only text that is not JSON at all is an error.
pub fn decode(text: &str) -> Result<Decoded, CliError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        CliError::protocol(format!("the server sent a frame that is not JSON: {e}"))
    })?;
    let reference = match value.get("ref") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if value.get("type").and_then(Value::as_str) == Some("error") {
        return Ok(decode_error(&value, reference));
    }
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Ok(match serde_json::from_value::<ServerFrame>(value) {
        Ok(ServerFrame::Event { event }) => Decoded::Live(Live::Event(event)),
        Ok(ServerFrame::ReplyStart { event }) => Decoded::Live(Live::ReplyStart(event)),
        Ok(ServerFrame::Delta { room, id, text }) => Decoded::Live(Live::Delta { room, id, text }),
        Ok(ServerFrame::Mention { event }) => Decoded::Live(Live::Mention(event)),
        Ok(frame) => match reference {
            Some(reference) => Decoded::Answer(reference, Ok(frame)),
            None => Decoded::Ignored,
        },
        Err(e) => match reference {
            Some(reference) => Decoded::Answer(
                reference,
                Err(CliError::protocol(format!(
                    "the server sent a {kind:?} frame this client cannot read: {e}"
                ))),
            ),
            None => Decoded::Ignored,
        },
    })
}

/// An `error` frame, read field by field so that a code this client does
/// not know yet is kept as it is.
fn decode_error(frame: &Value, reference: Option<String>) -> Decoded {
    let field = |name: &str| frame.get(name).and_then(Value::as_str).unwrap_or("");
    let (code, message) = (field("code"), field("message"));
    match reference {
        Some(reference) => Decoded::Answer(reference, Err(CliError::server(code, message))),
        None => match code {
            // Refused before the server could read the frame's `ref`.
            "rate_limited" | "frame_too_large" | "bad_json" => {
                Decoded::Refusal(CliError::server(code, message))
            }
            // The server is closing the connection: a lost connection (exit 3).
            "slow_consumer" | "shutting_down" => {
                let mut error = CliError::closed(message);
                error.code = code.to_owned();
                Decoded::Fatal(error)
            }
            // A notice about something earlier (`bot_busy`, ...).
            _ => Decoded::Live(Live::Notice {
                error: CliError::server(code, message),
                reply_to: frame
                    .get("reply_to")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
        },
    }
}

/// A short name for an answer frame, for messages ("expected joined, got ack").
pub fn frame_name(frame: &ServerFrame) -> String {
    serde_json::to_value(frame)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "frame".to_owned())
}

/// An answer frame as printed with `--json`: without the `ref`, which only
/// means something to this client.
pub fn answer_json(frame: &ServerFrame) -> Value {
    let mut value = serde_json::to_value(frame).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("ref");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const EVENT: &str = r#"{"id":"0190e3c0-0000-7000-8000-000000000000","room":"general","kind":"message","author":"alice","origin":"n1","ts":1700000000000,"text":"hi"}"#;

    #[test]
    fn live_frames_become_core_types() {
        let text = format!(r#"{{"type":"event","event":{EVENT}}}"#);
        match decode(&text).unwrap() {
            Decoded::Live(Live::Event(event)) => assert_eq!(event.text, "hi"),
            other => panic!("{other:?}"),
        }
        let text = format!(r#"{{"type":"reply_start","event":{EVENT}}}"#);
        assert!(matches!(
            decode(&text).unwrap(),
            Decoded::Live(Live::ReplyStart(_))
        ));
        let delta = r#"{"type":"delta","room":"general","id":"x","text":" Why"}"#;
        match decode(delta).unwrap() {
            Decoded::Live(Live::Delta { text, .. }) => assert_eq!(text, " Why"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_keep_their_ref() {
        let ack = r#"{"type":"ack","ref":"3","id":"e1","room":"general"}"#;
        match decode(ack).unwrap() {
            Decoded::Answer(reference, Ok(ServerFrame::Ack { id, .. })) => {
                assert_eq!((reference.as_str(), id.as_str()), ("3", "e1"));
            }
            other => panic!("{other:?}"),
        }
        let refused = r#"{"type":"error","ref":4,"code":"unknown_room","message":"no room"}"#;
        match decode(refused).unwrap() {
            Decoded::Answer(reference, Err(e)) => {
                assert_eq!(reference, "4");
                assert_eq!(
                    (e.kind, e.code.as_str()),
                    (ErrorKind::Server, "unknown_room")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bot_refusal_names_its_question() {
        let frame = r#"{"type":"error","code":"bot_busy","message":"m","reply_to":"q-1"}"#;
        match decode(frame).unwrap() {
            Decoded::Live(Live::Notice { error, reply_to }) => {
                assert_eq!(
                    (error.code.as_str(), reply_to.as_deref()),
                    ("bot_busy", Some("q-1"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_without_ref_are_sorted() {
        let decoded = |code: &str| {
            decode(&format!(
                r#"{{"type":"error","code":"{code}","message":"m"}}"#
            ))
            .unwrap()
        };
        assert!(matches!(decoded("rate_limited"), Decoded::Refusal(_)));
        match decoded("shutting_down") {
            Decoded::Fatal(e) => assert_eq!((e.exit_code(), e.code.as_str()), (3, "shutting_down")),
            other => panic!("{other:?}"),
        }
        match decoded("bot_busy") {
            Decoded::Live(Live::Notice { error, .. }) => assert_eq!(error.code, "bot_busy"),
            other => panic!("{other:?}"),
        }
        // A code from a newer server is kept as it is.
        match decoded("brand_new") {
            Decoded::Live(Live::Notice { error, .. }) => assert_eq!(error.code, "brand_new"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unreadable_frames_never_panic() {
        assert!(decode("nope").is_err());
        assert!(matches!(
            decode(r#"{"type":"future_thing"}"#).unwrap(),
            Decoded::Ignored
        ));
        assert!(matches!(
            decode(r#"{"type":"event","event":{"id":"not a uuid"}}"#).unwrap(),
            Decoded::Ignored
        ));
        match decode(r#"{"type":"joined","ref":"1","room":5}"#).unwrap() {
            Decoded::Answer(_, Err(e)) => assert_eq!(e.code, "protocol"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(decode("[1]").unwrap(), Decoded::Ignored));
    }

    #[test]
    fn json_answers_drop_the_ref() {
        let frame = ServerFrame::Ack {
            reference: Some("3".into()),
            id: "x".into(),
            room: "general".into(),
            client_id: None,
        };
        assert_eq!(
            answer_json(&frame),
            serde_json::json!({"type":"ack","id":"x","room":"general"})
        );
        assert_eq!(frame_name(&frame), "ack");
    }
}
