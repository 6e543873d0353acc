//! The event model: every change is an [`Event`] with a globally unique,
//! time-ordered id (UUIDv7), stored idempotently and fanned out as is.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use uuid::Uuid;

/// A globally unique, time-ordered event id (UUIDv7). Its text form sorts in
/// the same order as its creation time, so stores order by it directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// The id's milliseconds since the Unix epoch (the UUIDv7 timestamp).
    pub fn millis(&self) -> i64 {
        let b = self.0.as_bytes();
        let mut ms = 0i64;
        for byte in &b[..6] {
            ms = (ms << 8) | i64::from(*byte);
        }
        ms
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(EventId)
    }
}

/// Hands out strictly increasing UUIDv7 ids on this node, even when the clock
/// stands still or steps back: the next id is always above the last one.
#[derive(Debug, Default)]
pub struct EventIdGen {
    /// The last id handed out, as a number.
    last: Mutex<u128>,
}

impl EventIdGen {
    /// A new generator.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id: a fresh UUIDv7, bumped above the previous one if needed.
    pub fn next(&self) -> EventId {
        let fresh = Uuid::now_v7().as_u128();
        let mut last = match self.last.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Bumping the low (random) bits keeps version and variant intact as
        // long as they do not overflow, which 62 random bits make negligible.
        let value = if fresh > *last { fresh } else { *last + 1 };
        *last = value;
        EventId(Uuid::from_u128(value))
    }
}

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A chat message written by a user.
    Message,
    /// A user joined the room.
    Join,
    /// A user left the room.
    Leave,
}

impl EventKind {
    /// The kind as stored and sent (`"message"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Join => "join",
            Self::Leave => "leave",
        }
    }

    /// Parses a stored kind.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "message" => Some(Self::Message),
            "join" => Some(Self::Join),
            "leave" => Some(Self::Leave),
            _ => None,
        }
    }
}

/// One change in one room. Events are immutable once created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Globally unique, time-ordered id.
    pub id: EventId,
    /// The room the event belongs to (canonical, lower-case name).
    pub room: String,
    /// What happened.
    pub kind: EventKind,
    /// The user who caused it.
    pub author: String,
    /// The id of the node where the event was created.
    pub origin: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// The text: the message body; empty for join and leave.
    pub text: String,
    /// The client's own id for the message, making retries idempotent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_strictly_increase_and_sort_as_text() {
        let ids = EventIdGen::new();
        let many: Vec<EventId> = (0..10_000).map(|_| ids.next()).collect();
        for pair in many.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_string() < pair[1].to_string());
        }
    }

    #[test]
    fn id_round_trips_and_carries_time() {
        let id = EventIdGen::new().next();
        let parsed: EventId = id.to_string().parse().unwrap_or_else(|_| panic!("parse"));
        assert_eq!(parsed, id);
        let now = chrono::Utc::now().timestamp_millis();
        assert!((now - id.millis()).abs() < 60_000);
        assert_eq!(id.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn kind_parses_what_it_prints() {
        for kind in [EventKind::Message, EventKind::Join, EventKind::Leave] {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
