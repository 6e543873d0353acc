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
        }
    }
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, Self::Error> {
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
