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

    /// The smallest id of millisecond `ms` (ids made at `ms` or later sort
    /// at or above it): a time bound for "events since".
    pub fn floor_of_millis(ms: i64) -> Self {
        let ms = (ms.max(0) as u128) & ((1u128 << 48) - 1);
        // 48-bit time, version 7, RFC 4122 variant, zero random bits.
        EventId(Uuid::from_u128(
            (ms << 80) | (0x7u128 << 76) | (0b10u128 << 62),
        ))
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

/// Makes events on this node: its id and its id generator.
#[derive(Debug, Clone)]
pub struct EventSource {
    /// This node's id, stamped as `origin`.
    pub node: String,
    /// Strictly increasing ids.
    pub ids: std::sync::Arc<EventIdGen>,
}

impl EventSource {
    /// A new event created on this node, now.
    pub fn make(
        &self,
        room: &str,
        kind: EventKind,
        author: &str,
        text: String,
        client_id: Option<String>,
    ) -> Event {
        let id = self.ids.next();
        Event {
            ts: id.millis(),
            id,
            room: room.to_owned(),
            kind,
            author: author.to_owned(),
            origin: self.node.clone(),
            text,
            client_id,
            target: None,
            mentions: Vec::new(),
            reply_to: None,
            stopped: false,
            failed: false,
        }
    }
}

/// What an event records. Clients must ignore kinds they do not know; a
/// node stores and relays kinds it does not know ([`EventKind::Other`]) and
/// changes no room state for them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A chat message written by a user (or a bot).
    Message,
    /// An action (`/me waves`): `text` is the action.
    Action,
    /// A user joined the room.
    Join,
    /// A user left the room.
    Leave,
    /// The topic was set: `text` is the new topic (empty: cleared).
    Topic,
    /// `target` was removed from the room by `author`.
    Kick,
    /// `target` was banned from the room by `author`.
    Ban,
    /// `target`'s ban was lifted by `author`.
    Unban,
    /// `target`'s role changed: `text` is the new role.
    Role,
    /// `target` was invited by `author`.
    Invite,
    /// The room became private (`text` = "on") or public ("off").
    Privacy,
    /// The room's stored history up to this event was deleted by `author`.
    HistoryCleared,
    /// `/clear`: the room's bots read only what follows this event.
    ContextCleared,
    /// In the accounts log: `author` registered; `text` is the bcrypt hash.
    AccountCreated,
    /// In the accounts log: a token for `author`; `text` is
    /// `"SHA256-HEX EXPIRES_MS"` (never the token itself).
    TokenIssued,
    /// In the accounts log: `author`'s token with hash `text` was revoked.
    TokenRevoked,
    /// A kind this node does not know (from a newer node): kept as is.
    Other(String),
}

/// Every kind this node knows, for parsing and tests.
pub const EVENT_KINDS: [EventKind; 16] = [
    EventKind::Message,
    EventKind::Action,
    EventKind::Join,
    EventKind::Leave,
    EventKind::Topic,
    EventKind::Kick,
    EventKind::Ban,
    EventKind::Unban,
    EventKind::Role,
    EventKind::Invite,
    EventKind::Privacy,
    EventKind::HistoryCleared,
    EventKind::ContextCleared,
    EventKind::AccountCreated,
    EventKind::TokenIssued,
    EventKind::TokenRevoked,
];

/// The pseudo-room holding account events (registrations, tokens issued
/// and revoked), replicated between nodes like any room but never readable
/// by clients: no room name a client can use starts with `!`.
pub const ACCOUNTS_LOG: &str = "!accounts";

/// The longest kind name accepted from another node.
const MAX_KIND_CHARS: usize = 64;

impl EventKind {
    /// The kind as stored and sent (`"message"`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Message => "message",
            Self::Action => "action",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Topic => "topic",
            Self::Kick => "kick",
            Self::Ban => "ban",
            Self::Unban => "unban",
            Self::Role => "role",
            Self::Invite => "invite",
            Self::Privacy => "privacy",
            Self::HistoryCleared => "history_cleared",
            Self::ContextCleared => "context_cleared",
            Self::AccountCreated => "account_created",
            Self::TokenIssued => "token_issued",
            Self::TokenRevoked => "token_revoked",
            Self::Other(kind) => kind,
        }
    }

    /// Parses a kind: a known one, or [`EventKind::Other`] for a well-formed
    /// unknown name (1 to 64 of `a-z`, `0-9`, `_`); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(known) = EVENT_KINDS.iter().find(|k| k.as_str() == s) {
            return Some(known.clone());
        }
        let well_formed = !s.is_empty()
            && s.len() <= MAX_KIND_CHARS
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        well_formed.then(|| Self::Other(s.to_owned()))
    }

    /// The kinds of what a person says (bots read these).
    pub const SPEECH: [EventKind; 2] = [Self::Message, Self::Action];

    /// Whether the event is something a person said (one of [`Self::SPEECH`]).
    pub fn is_speech(&self) -> bool {
        Self::SPEECH.contains(self)
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Self::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("bad event kind {name:?}")))
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
    /// The user an action was done to (kick, ban, role, invite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Users mentioned with `@name` in the text, as registered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// The event this one answers (a bot's reply names the question).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<EventId>,
    /// A bot's reply cut short by `/stop`: `text` holds what was said
    /// until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
    /// A bot's reply whose model server failed (before or during the
    /// reply): `text` ends with the failure note, which was streamed as a
    /// `delta` like the rest. Bots never read failed replies as context.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

#[cfg(test)]
impl Event {
    /// An event of room `r` made on node `n` at its id's time, for tests.
    pub(crate) fn sample(id: EventId, kind: EventKind, author: &str, text: &str) -> Self {
        Self {
            id,
            room: "r".into(),
            kind,
            author: author.into(),
            origin: "n".into(),
            ts: id.millis(),
            text: text.into(),
            client_id: None,
            target: None,
            mentions: Vec::new(),
            reply_to: None,
            stopped: false,
            failed: false,
        }
    }
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
    fn floor_of_millis_bounds_the_ids_of_that_moment() {
        let id = EventIdGen::new().next();
        let floor = EventId::floor_of_millis(id.millis());
        assert!(floor <= id);
        assert_eq!(floor.millis(), id.millis());
        assert!(EventId::floor_of_millis(id.millis() + 1) > id);
        assert_eq!(floor.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn kind_parses_what_it_prints() {
        for kind in EVENT_KINDS {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind.clone()));
        }
        // Unknown kinds from newer nodes are kept; malformed names are not.
        assert_eq!(
            EventKind::parse("poll_vote"),
            Some(EventKind::Other("poll_vote".into()))
        );
        for bad in ["", "Nope", "a b", "x\n", &"k".repeat(65)] {
            assert_eq!(EventKind::parse(bad), None, "{bad:?}");
        }
        let json = serde_json::to_string(&EventKind::Other("poll_vote".into())).unwrap();
        assert_eq!(json, "\"poll_vote\"");
        assert_eq!(
            serde_json::from_str::<EventKind>(&json).unwrap(),
            EventKind::Other("poll_vote".into())
        );
    }
}
