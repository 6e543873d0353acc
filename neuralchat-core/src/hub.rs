//! The hub: the directory of open rooms and of logged-in sessions by user.
//! A room actor starts the first time a stored room is used and lives as
//! long as the engine; users are reachable on every connection they have
//! (direct messages, mentions, invitations).

use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::names::user_key;
use crate::outbox::Outbox;
use crate::room::{Room, RoomState, SessionId};
use crate::shared::Shared;
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::HashMap;
use std::sync::Arc;

/// The directory of open rooms and online users.
pub(crate) struct Hub {
    /// Engine state.
    shared: Arc<Shared>,
    /// Open rooms by canonical name.
    rooms: HashMap<String, Addr<Room>>,
    /// Logged-in sessions by user key.
    online: HashMap<String, HashMap<SessionId, Outbox>>,
}

impl Hub {
    /// An empty hub.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            rooms: HashMap::new(),
            online: HashMap::new(),
        }
    }
}

impl Actor for Hub {
    type Context = Context<Self>;
}

/// How to create a room that does not exist yet.
#[derive(Debug, Clone)]
pub(crate) struct Creation {
    /// The creator (its owner).
    pub creator: String,
    /// Invite-only from the start.
    pub private: bool,
    /// Members added at creation (a direct conversation's two users).
    pub members: Vec<String>,
}

/// Finds a room's actor, loading the room from the store if needed; with
/// `create`, a missing room is created.
#[derive(Message)]
#[rtype(result = "ChatResult<Addr<Room>>")]
pub(crate) struct OpenRoom {
    /// Canonical room name.
    pub name: String,
    /// Creates the room this way when it does not exist.
    pub create: Option<Creation>,
}

impl Handler<OpenRoom> for Hub {
    type Result = AtomicResponse<Self, ChatResult<Addr<Room>>>;

    fn handle(&mut self, msg: OpenRoom, _: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.rooms.get(&msg.name) {
            let addr = addr.clone();
            return AtomicResponse::new(Box::pin(fut::ready(Ok(addr))));
        }
        let store = self.shared.store.clone();
        let name = msg.name.clone();
        let load = async move {
            let room = name.clone();
            let state = store
                .call("open_room", move |db| {
                    if let Some(create) = msg.create {
                        let now = chrono::Utc::now().timestamp_millis();
                        if db.ensure_room(&room, &create.creator, create.private, now)? {
                            for member in &create.members {
                                db.add_member(&room, member, "member", now)?;
                            }
                        }
                    }
                    let Some(settings) = db.room_settings(&room)? else {
                        return Ok(None);
                    };
                    Ok(Some(RoomState {
                        members: db.members(&room)?,
                        bans: db.bans(&room)?,
                        name: room,
                        settings,
                    }))
                })
                .await?;
            state.ok_or_else(|| {
                ChatError::new(ErrorCode::UnknownRoom, format!("no room named {name:?}"))
            })
        };
        AtomicResponse::new(Box::pin(load.into_actor(self).map(
            move |state, hub, ctx| {
                let state = state?;
                let room = Room::new(state, ctx.address(), hub.shared.clone()).start();
                hub.rooms.insert(msg.name, room.clone());
                Ok(room)
            },
        )))
    }
}

/// A session is logged in as `user`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Online {
    /// The user.
    pub user: String,
    /// The session.
    pub session: SessionId,
    /// Its queue.
    pub outbox: Outbox,
}

impl Handler<Online> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Online, _: &mut Context<Self>) {
        self.online
            .entry(user_key(&msg.user))
            .or_default()
            .insert(msg.session, msg.outbox);
    }
}

/// A session logged out or ended.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Offline {
    /// The user.
    pub user: String,
    /// The session.
    pub session: SessionId,
}

impl Handler<Offline> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Offline, _: &mut Context<Self>) {
        let key = user_key(&msg.user);
        if let Some(sessions) = self.online.get_mut(&key) {
            sessions.remove(&msg.session);
            if sessions.is_empty() {
                self.online.remove(&key);
            }
        }
    }
}

/// Sends one frame to every session of some users, except `skip`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct DeliverToUsers {
    /// The users, by registered name.
    pub users: Vec<String>,
    /// The frame, serialized once.
    pub frame: ByteString,
    /// Sessions that already have it.
    pub skip: Vec<SessionId>,
}

impl Handler<DeliverToUsers> for Hub {
    type Result = ();

    fn handle(&mut self, msg: DeliverToUsers, _: &mut Context<Self>) {
        for user in &msg.users {
            if let Some(sessions) = self.online.get(&user_key(user)) {
                for (id, outbox) in sessions {
                    if !msg.skip.contains(id) {
                        outbox.push(msg.frame.clone());
                    }
                }
            }
        }
    }
}

/// The open rooms' actors, by name.
#[derive(Message)]
#[rtype(result = "Vec<(String, Addr<Room>)>")]
pub(crate) struct OpenRooms;

impl Handler<OpenRooms> for Hub {
    type Result = MessageResult<OpenRooms>;

    fn handle(&mut self, _: OpenRooms, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.rooms
                .iter()
                .map(|(name, addr)| (name.clone(), addr.clone()))
                .collect(),
        )
    }
}
