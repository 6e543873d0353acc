//! What nodes say to each other, and how it is sealed. A payload on the
//! wire is `MAC` (64 hex digits: HMAC-SHA256 of the JSON with the mesh key),
//! a newline, then the JSON of a [`Wire`] message. Anything that does not
//! open with the key is refused before it is parsed.

use hmac::{Hmac, Mac};
use neuralchat_core::presence::RoomsOnline;
use neuralchat_core::{Event, EventId, ReplyProgress};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// One message between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Wire {
    /// An event stored by its origin node.
    Event {
        /// The event.
        event: Event,
    },
    /// A reply a bot of node `from` is streaming.
    Reply {
        /// The node where the bot runs.
        from: String,
        /// Its start or next piece.
        progress: ReplyProgress,
    },
    /// A member on node `from` asked (`/stop`) for the bots' replies in
    /// `room` to stop, wherever they run.
    Stop {
        /// Where it was asked.
        from: String,
        /// The room.
        room: String,
    },
    /// Who has a session in which room on node `node` now (sent every few
    /// seconds; it expires unless sent again).
    Online {
        /// The node.
        node: String,
        /// Room -> users online there.
        rooms: RoomsOnline,
    },
    /// A node is up (`online`) or gone (its last will).
    Presence {
        /// The node.
        node: String,
        /// Up or gone.
        online: bool,
    },
    /// "Send me the events you hold with ids after `after`" (all of them
    /// when `None`), asked of one node.
    SyncRequest {
        /// Identifies this request (answers name it).
        request: String,
        /// Who asks.
        from: String,
        /// Who is asked.
        responder: String,
        /// Events after this id.
        after: Option<EventId>,
    },
    /// One page of an answer, oldest first.
    SyncPage {
        /// The request answered.
        request: String,
        /// Who answers.
        from: String,
        /// The events.
        events: Vec<Event>,
        /// Whether more follow (ask again after the last one).
        more: bool,
    },
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// No `MAC\n` prefix.
    #[error("payload is not sealed")]
    NotSealed,
    /// The MAC does not match: forged, or another mesh's key.
    #[error("bad MAC")]
    BadMac,
    /// Sealed with the key but not a message this node understands.
    #[error("unreadable message: {0}")]
    Unreadable(String),
}

/// Seals and opens payloads with the mesh key.
#[derive(Clone)]
pub struct Sealer {
    /// HMAC-SHA256 keyed with the mesh key, cloned for each payload.
    keyed: HmacSha256,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer for `key` (`None` for a key HMAC refuses; it takes any
    /// length, so this does not happen).
    pub fn new(key: &[u8]) -> Option<Self> {
        HmacSha256::new_from_slice(key)
            .ok()
            .map(|keyed| Self { keyed })
    }

    fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }

    /// The payload for `message`.
    pub fn seal(&self, message: &Wire) -> Vec<u8> {
        // Serialising our own types cannot fail (string keys only).
        let json = serde_json::to_vec(message).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&json);
        let tag = hex::encode(mac.finalize().into_bytes());
        let mut payload = Vec::with_capacity(tag.len() + 1 + json.len());
        payload.extend_from_slice(tag.as_bytes());
        payload.push(b'\n');
        payload.extend_from_slice(&json);
        payload
    }

    /// The message in `payload`, if it was sealed with the key.
    pub fn open(&self, payload: &[u8]) -> Result<Wire, OpenError> {
        let newline = payload
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(OpenError::NotSealed)?;
        let (tag, json) = (&payload[..newline], &payload[newline + 1..]);
        let tag = hex::decode(tag).map_err(|_| OpenError::NotSealed)?;
        let mut mac = self.mac();
        mac.update(json);
        // Constant-time comparison.
        mac.verify_slice(&tag).map_err(|_| OpenError::BadMac)?;
        serde_json::from_slice(json).map_err(|e| OpenError::Unreadable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_messages_open_and_forgeries_do_not() {
        let sealer = Sealer::new(b"0123456789abcdef").unwrap();
        let message = Wire::Presence {
            node: "a".into(),
            online: true,
        };
        let payload = sealer.seal(&message);
        assert_eq!(sealer.open(&payload), Ok(message));

        let other = Sealer::new(b"another key, same length").unwrap();
        assert_eq!(other.open(&payload), Err(OpenError::BadMac));
        let mut tampered = payload.clone();
        if let Some(last) = tampered.last_mut() {
            *last = b' ';
        }
        assert_eq!(sealer.open(&tampered), Err(OpenError::BadMac));
        assert_eq!(
            sealer.open(br#"{"type":"presence","node":"x","online":true}"#),
            Err(OpenError::NotSealed)
        );
        assert_eq!(sealer.open(b"zz\n{}"), Err(OpenError::NotSealed));
    }
}
