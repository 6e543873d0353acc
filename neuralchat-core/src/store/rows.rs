//! Row types as diesel reads and writes them.

use super::schema::{events, room_members, rooms, tokens, users};
use super::StoreError;
use crate::event::{Event, EventKind};
use diesel::prelude::*;

/// A row of `events`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    /// The event id (UUIDv7 text).
    pub id: String,
    /// The room.
    pub room: String,
    /// The kind's text form.
    pub kind: String,
    /// The author.
    pub author: String,
    /// The origin node.
    pub origin: String,
    /// Milliseconds since the epoch.
    pub ts: i64,
    /// The text.
    pub body: String,
    /// The client's message id.
    pub client_id: Option<String>,
    /// JSON of the optional fields ([`StoredMeta`]); NULL when all are empty.
    pub meta: Option<String>,
}

/// The optional event fields, stored together as JSON in `events.meta`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct StoredMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mentions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<crate::event::EventId>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    stopped: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    failed: bool,
}

impl From<&Event> for EventRow {
    fn from(e: &Event) -> Self {
        Self {
            id: e.id.to_string(),
            room: e.room.clone(),
            kind: e.kind.as_str().to_owned(),
            author: e.author.clone(),
            origin: e.origin.clone(),
            ts: e.ts,
            body: e.text.clone(),
            client_id: e.client_id.clone(),
            meta: if e.target.is_none()
                && e.mentions.is_empty()
                && e.reply_to.is_none()
                && !e.stopped
                && !e.failed
            {
                None
            } else {
                serde_json::to_string(&StoredMeta {
                    target: e.target.clone(),
                    mentions: e.mentions.clone(),
                    reply_to: e.reply_to,
                    stopped: e.stopped,
                    failed: e.failed,
                })
                .ok()
            },
        }
    }
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, Self::Error> {
        let meta: StoredMeta = match &row.meta {
            Some(json) => serde_json::from_str(json)
                .map_err(|_| StoreError::Corrupt(format!("event meta of {:?}", row.id)))?,
            None => StoredMeta::default(),
        };
        Ok(Event {
            id: row
                .id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("event id {:?}", row.id)))?,
            kind: EventKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("event kind {:?}", row.kind)))?,
            room: row.room,
            author: row.author,
            origin: row.origin,
            ts: row.ts,
            text: row.body,
            client_id: row.client_id,
            target: meta.target,
            mentions: meta.mentions,
            reply_to: meta.reply_to,
            stopped: meta.stopped,
            failed: meta.failed,
        })
    }
}

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    /// Lower-case user name, the unique key.
    pub name_key: String,
    /// The user name as registered.
    pub username: String,
    /// bcrypt hash.
    pub password_hash: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// A row of `tokens`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The user name.
    pub username: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// A row of `rooms`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rooms)]
pub struct RoomRow {
    /// Canonical name.
    pub name: String,
    /// Topic.
    pub topic: Option<String>,
    /// Who created it.
    pub creator: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Invite-only.
    pub private: bool,
    /// Bots read the room's messages from after this event id (`/clear`).
    pub context_from: Option<String>,
}

/// A row of `room_members`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = room_members)]
pub struct MemberRow {
    /// The room.
    pub room: String,
    /// The user name.
    pub username: String,
    /// `owner` or `member`.
    pub role: String,
    /// Milliseconds since the epoch.
    pub joined_at: i64,
}
