//! The hub: the directory of open rooms and of logged-in sessions by user.
//! A room actor starts the first time a stored room is used and is retired
//! once nobody has opened it for `limits.idle_room_secs` and nothing is
//! happening in it (no session present, no reply streaming), so memory
//! follows the active rooms rather than every room ever opened; users are
//! reachable on every connection they have (direct messages, mentions,
//! invitations).

use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::names::user_key;
use crate::outbox::Outbox;
use crate::room::{Retire, Room, RoomState, SessionId};
use crate::shared::Shared;
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An open room's actor and when it was last handed out.
struct OpenedRoom {
    /// The room's actor.
    addr: Addr<Room>,
    /// The last time [`OpenRoom`] returned it.
    used: Instant,
}

/// The directory of open rooms and online users.
pub(crate) struct Hub {
    /// Engine state.
    shared: Arc<Shared>,
    /// Open rooms by canonical name.
    rooms: HashMap<String, OpenedRoom>,
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

    fn started(&mut self, ctx: &mut Context<Self>) {
        let idle = self.shared.config.limits.idle_room_secs;
        if idle == 0 {
            return;
        }
        let every = Duration::from_secs((idle / 2).clamp(1, 60));
        ctx.run_interval(every, move |hub, ctx| {
            let stale: Vec<String> = hub
                .rooms
                .iter()
                .filter(|(_, room)| room.used.elapsed() >= Duration::from_secs(idle))
                .map(|(name, _)| name.clone())
                .collect();
            for name in stale {
                ctx.notify(RetireIfIdle { name, idle });
            }
        });
    }
}

/// How long the hub waits for a room to say whether it retired.
const RETIRE_ANSWER: Duration = Duration::from_millis(500);

/// Retires an open room that nobody opened for `idle` seconds, if the room
/// says nothing is happening in it.
#[derive(Message)]
#[rtype(result = "()")]
struct RetireIfIdle {
    /// The room.
    name: String,
    /// Seconds without being opened.
    idle: u64,
}

impl Handler<RetireIfIdle> for Hub {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: RetireIfIdle, _: &mut Context<Self>) -> Self::Result {
        // Atomic: no room is handed out while the room decides, so nobody
        // gets the address of a room that is stopping.
        let addr = match self.rooms.get(&msg.name) {
            Some(room) if room.used.elapsed() >= Duration::from_secs(msg.idle) => room.addr.clone(),
            _ => return AtomicResponse::new(Box::pin(fut::ready(()))),
        };
        // A room busy storing does not answer at once, and may itself be
        // waiting for the hub (a direct conversation's delivery): waiting
        // only so long keeps the two from waiting for each other.
        let asked = addr.send(Retire).timeout(RETIRE_ANSWER);
        AtomicResponse::new(Box::pin(asked.into_actor(self).map(
            move |retired, hub, _| match retired {
                // A room already gone is forgotten too.
                Ok(true) | Err(MailboxError::Closed) => {
                    hub.rooms.remove(&msg.name);
                }
                // In use (sessions in it talk to it directly, so the hub
                // did not see it used): asked again after another idle spell.
                Ok(false) | Err(MailboxError::Timeout) => {
                    if let Some(room) = hub.rooms.get_mut(&msg.name) {
                        room.used = Instant::now();
                    }
                }
            },
        )))
    }
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
    /// The most rooms the creator may have created (`None`: no limit). It
    /// is checked in the same database job that creates the room, so
    /// creations at once cannot overshoot it.
    pub quota: Option<u32>,
}

/// Why a room could not be opened.
enum Refused {
    /// No such room, and none to create.
    Unknown,
    /// Creating it would pass the creator's room quota.
    Quota {
        /// Rooms the creator has created.
        created: i64,
        /// The most allowed.
        max: u32,
    },
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
        // (A room that retired on its own, after the hub stopped waiting
        // for its answer, is loaded again.)
        if let Some(room) = self
            .rooms
            .get_mut(&msg.name)
            .filter(|room| room.addr.connected())
        {
            room.used = Instant::now();
            let addr = room.addr.clone();
            return AtomicResponse::new(Box::pin(fut::ready(Ok(addr))));
        }
        let store = self.shared.store.clone();
        let name = msg.name.clone();
        let context_capacity = self.shared.config.bot_context_capacity();
        let load = async move {
            let room = name.clone();
            let state = store
                .call("open_room", move |db| {
                    if let Some(create) = msg.create {
                        if let Some(max) = create.quota {
                            let (created, exists) = db.rooms_created(&create.creator, &room)?;
                            if !exists && created >= i64::from(max) {
                                return Ok(Err(Refused::Quota { created, max }));
                            }
                        }
                        let now = chrono::Utc::now().timestamp_millis();
                        if db.ensure_room(&room, &create.creator, create.private, now)? {
                            for member in &create.members {
                                db.add_member(&room, member, "member", now)?;
                            }
                        }
                    }
                    let Some(settings) = db.room_settings(&room)? else {
                        return Ok(Err(Refused::Unknown));
                    };
                    let recent = match u32::try_from(context_capacity).unwrap_or(u32::MAX) {
                        0 => Vec::new(),
                        n => db.messages_after(&room, settings.context_from, n)?,
                    };
                    Ok(Ok(RoomState {
                        members: db.members(&room)?,
                        bans: db.bans(&room)?,
                        context_capacity,
                        recent,
                        name: room,
                        settings,
                    }))
                })
                .await?;
            state.map_err(|refused| match refused {
                Refused::Unknown => {
                    ChatError::new(ErrorCode::UnknownRoom, format!("no room named {name:?}"))
                }
                Refused::Quota { created, max } => ChatError::new(
                    ErrorCode::Forbidden,
                    format!("you have created {created} rooms, the most allowed ({max})"),
                ),
            })
        };
        AtomicResponse::new(Box::pin(load.into_actor(self).map(
            move |state, hub, ctx| {
                let state = state?;
                let room = Room::new(state, ctx.address(), hub.shared.clone()).start();
                let used = Instant::now();
                let opened = OpenedRoom {
                    addr: room.clone(),
                    used,
                };
                hub.rooms.insert(msg.name, opened);
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
                .map(|(name, room)| (name.clone(), room.addr.clone()))
                .collect(),
        )
    }
}
