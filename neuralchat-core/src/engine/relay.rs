//! The engine's side of replication between nodes, free of any transport:
//! a stream of every event this node stores, and the entry point for events
//! made on other nodes. The mesh (MQTT) lives outside the core and uses
//! only these.

use super::Engine;
use crate::bots::{addressed_to, StopReplies};
use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::event::{Event, EventId, ACCOUNTS_LOG};
use crate::hub::{Creation, OpenRoom, OpenRooms};
use crate::presence::RoomsOnline;
use crate::room::{is_direct, Ingest, OnlineHere, RelayedReply, ReplyProgress};
use crate::store::Appended;
use slog::{debug, info, warn};
use tokio::sync::broadcast;

/// How many committed events a slow subscriber may fall behind before it is
/// told it lagged (and must read the rest from the store).
pub(super) const COMMITTED_BUFFER: usize = 4096;

impl Engine {
    /// Every event this node stores from now on (made here or relayed), in
    /// commit order. A receiver that falls more than a few thousand events
    /// behind gets `RecvError::Lagged` and must read the gap from the store.
    pub fn subscribe_committed(&self) -> broadcast::Receiver<Event> {
        self.shared().committed.subscribe()
    }

    /// The progress of every reply this node's bots stream from now on.
    pub fn subscribe_replies(&self) -> broadcast::Receiver<ReplyProgress> {
        self.shared().replies.subscribe()
    }

    /// Shows a reply streaming on another node to this node's members of its
    /// room (if this node has the room). Pieces out of order are dropped;
    /// the stored reply arrives as an event either way.
    pub async fn ingest_reply(&self, progress: ReplyProgress) -> ChatResult<()> {
        let room = match &progress {
            ReplyProgress::Start { event } => event.room.clone(),
            ReplyProgress::Delta { room, .. } => room.clone(),
        };
        let addr = self
            .hub()
            .send(OpenRoom {
                name: room,
                create: None,
            })
            .await??;
        addr.send(RelayedReply(progress)).await?;
        Ok(())
    }

    /// How many room actors are open on this node now (idle rooms are
    /// retired after `limits.idle_room_secs`).
    pub async fn open_room_count(&self) -> ChatResult<usize> {
        Ok(self.hub().send(OpenRooms).await?.len())
    }

    /// Which users have a session in which room on this node now (rooms
    /// with nobody are left out): what this node tells its peers.
    pub async fn online_here(&self) -> ChatResult<RoomsOnline> {
        let rooms = self.hub().send(OpenRooms).await?;
        let mut online = RoomsOnline::new();
        for (name, addr) in rooms {
            let users = addr.send(OnlineHere).await?;
            if !users.is_empty() {
                online.insert(name, users);
            }
        }
        Ok(online)
    }

    /// Takes another node's report of who is online there, valid for `ttl`
    /// (`who` shows them online until it expires or `forget_node`).
    pub fn report_presence(&self, node: &str, rooms: RoomsOnline, ttl: std::time::Duration) {
        self.shared().remote_presence.report(node, rooms, ttl);
    }

    /// Another node is gone: its users are no longer online through it.
    pub fn forget_node(&self, node: &str) {
        self.shared().remote_presence.forget(node);
    }

    /// Stops the replies this node's bots are making in `room`; returns the
    /// names of the bots that were replying.
    pub async fn stop_replies(&self, room: &str) -> ChatResult<Vec<String>> {
        let mut stopped = Vec::new();
        for bot in self.bots() {
            let room = room.to_owned();
            if bot.addr.send(StopReplies { room }).await? {
                stopped.push(bot.config.name.clone());
            }
        }
        Ok(stopped)
    }

    /// Rooms where a member of this node asked for the bots' replies to
    /// stop (`/stop`), from now on: for the other nodes.
    pub fn subscribe_stops(&self) -> broadcast::Receiver<String> {
        self.shared().stops.subscribe()
    }

    /// Node `origin` is gone: this node's bots answer the questions asked
    /// there since `since_ms` that have no reply yet (the mesh calls this on
    /// the one node chosen to take over). Returns how many were asked.
    pub async fn answer_orphans(&self, origin: &str, since_ms: i64) -> ChatResult<usize> {
        const MOST: u32 = 200;
        let (origin, after) = (origin.to_owned(), EventId::floor_of_millis(since_ms));
        let questions = self
            .shared()
            .store
            .read("orphans", move |db| {
                let mut orphans = Vec::new();
                for question in db.messages_from_origin(&origin, after, MOST)? {
                    if question.reply_to.is_some() {
                        continue;
                    }
                    let later = db.events_after(&question.room, Some(question.id), MOST)?;
                    if !later.iter().any(|e| e.reply_to == Some(question.id)) {
                        orphans.push(question);
                    }
                }
                Ok(orphans)
            })
            .await?;
        let mut asked = 0;
        for question in questions {
            if addressed_to(&question.text, self.bot_names()).is_none() {
                continue;
            }
            let addr = self
                .hub()
                .send(OpenRoom {
                    name: question.room.clone(),
                    create: None,
                })
                .await??;
            info!(self.shared().log, "taking over a question"; "id" => %question.id,
                "room" => &question.room, "from" => &question.origin);
            self.ask_bots(&addr, &question);
            asked += 1;
        }
        Ok(asked)
    }

    /// Up to `limit` stored events of every room with ids after `after`
    /// (all when `None`), oldest first, and whether more follow.
    pub async fn events_since(
        &self,
        after: Option<EventId>,
        limit: u32,
    ) -> ChatResult<(Vec<Event>, bool)> {
        let fetch = limit.saturating_add(1);
        let mut events = self
            .shared()
            .store
            .read("events_since", move |db| db.events_since(after, fetch))
            .await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        Ok((events, more))
    }

    /// The newest event id this node holds, in any room.
    pub async fn newest_event_id(&self) -> ChatResult<Option<EventId>> {
        self.shared()
            .store
            .read("newest_event_id", |db| db.newest_event_id())
            .await
    }

    /// Takes in an event made on another node: stores it once (by id) and,
    /// if it is new here, brings the room's state in line with it and
    /// delivers it to the room. Returns whether it was new. The origin node
    /// checked its permission; events are authenticated by the mesh before
    /// they get here. A room this node has not seen is created from the
    /// event.
    pub async fn ingest(&self, event: Event) -> ChatResult<bool> {
        if event.room == ACCOUNTS_LOG {
            return self.ingest_account_event(event).await;
        }
        let members = match relayed_room_members(&event) {
            Some(keys) => {
                let mut members = Vec::with_capacity(keys.len());
                for key in keys {
                    members.push(self.registered_name(&key).await.unwrap_or(key));
                }
                members
            }
            None => {
                warn!(self.shared().log, "relayed event refused"; "id" => %event.id,
                    "origin" => &event.origin, "reason" => "malformed");
                return Err(ChatError::new(
                    ErrorCode::BadFrame,
                    "malformed relayed event",
                ));
            }
        };
        let addr = self
            .hub()
            .send(OpenRoom {
                name: event.room.clone(),
                create: Some(Creation {
                    creator: event.author.clone(),
                    private: is_direct(&event.room),
                    members,
                    // The origin node checked its creator's quota.
                    quota: None,
                }),
            })
            .await??;
        let (id, origin) = (event.id, event.origin.clone());
        let fresh = addr.send(Ingest { event }).await??;
        debug!(self.shared().log, "relayed event"; "id" => %id, "origin" => origin, "fresh" => fresh);
        Ok(fresh)
    }
}

impl Engine {
    /// A relayed registration, token issue or revocation: stored once,
    /// then applied to the users and tokens tables.
    async fn ingest_account_event(&self, event: Event) -> ChatResult<bool> {
        if crate::names::validate_username(&event.author).is_err() || event.origin.is_empty() {
            warn!(self.shared().log, "relayed event refused"; "id" => %event.id,
                "origin" => &event.origin, "reason" => "malformed account event");
            return Err(ChatError::new(
                ErrorCode::BadFrame,
                "malformed relayed event",
            ));
        }
        let stored = event.clone();
        let fresh = self
            .shared()
            .store
            .call("ingest_account", move |db| {
                if db.append_event(&stored)? != Appended::Stored {
                    return Ok(false);
                }
                db.apply_effects(&stored)?;
                Ok(true)
            })
            .await?;
        if fresh {
            self.shared().committed(&event);
        }
        debug!(self.shared().log, "relayed account event"; "id" => %event.id,
            "kind" => event.kind.as_str(), "fresh" => fresh);
        Ok(fresh)
    }
}

/// The members a relayed event's room starts with if this node creates it
/// (a direct conversation `@a+b`: its two users, by key), or `None` when
/// the event's room, author or origin is malformed.
fn relayed_room_members(event: &Event) -> Option<Vec<String>> {
    if event.author.is_empty() || event.origin.is_empty() {
        return None;
    }
    if let Some(pair) = event.room.strip_prefix('@') {
        let (a, b) = pair.split_once('+')?;
        let valid =
            |k: &str| crate::names::validate_username(k).is_ok() && crate::names::user_key(k) == k;
        if !(valid(a) && valid(b) && a <= b) {
            return None;
        }
        let mut keys = vec![a.to_owned()];
        if a != b {
            keys.push(b.to_owned());
        }
        return Some(keys);
    }
    let canonical = crate::names::canonical_room(&event.room).ok()?;
    (canonical == event.room).then(Vec::new)
}
