//! A room: its settings, members and roles, the sessions present, and the
//! one place where its events are ordered. Every change goes through the
//! [`Apply`] handler (`apply.rs`): check, store, fan out, answer — so every
//! client sees the same order.

mod apply;
mod commit;
mod memory;
mod reduce;
mod reply;
mod says;

pub(crate) use apply::{outcome, Apply, Change, Queued};
pub(crate) use commit::{Applied, Ingest};
pub use reply::ReplyProgress;
use reply::Streaming;
pub(crate) use reply::{RelayedReply, ReplyDelta, ReplyFinish, ReplyStart};

use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::event::{Event, EventId};
use crate::hub::{DeliverToUsers, Hub};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Pushed};
use crate::permissions::{Role, Standing};
use crate::protocol::{MemberInfo, ServerFrame};
use crate::recent::Recent;
use crate::shared::Shared;
use crate::store::RoomSettings;
use actix::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How many announced event ids a room remembers.
const ANNOUNCED_MEMORY: usize = 4096;

/// Identifies one connected session within an engine.
pub type SessionId = u64;

/// A session present in the room.
struct Presence {
    /// The session's user.
    user: String,
    /// Where its frames go.
    outbox: Outbox,
}

/// Everything a room actor is started with, loaded from the store.
pub(crate) struct RoomState {
    /// Canonical name.
    pub name: String,
    /// Settings.
    pub settings: RoomSettings,
    /// Members and roles.
    pub members: Vec<(String, String)>,
    /// Banned users.
    pub bans: Vec<String>,
    /// How many messages the room remembers for its bots (the most any
    /// bot reads).
    pub context_capacity: usize,
    /// The latest messages since the bots' context start, oldest first
    /// (at most `context_capacity`).
    pub recent: Vec<Event>,
}

/// One chat room.
pub(crate) struct Room {
    /// Canonical name (`@a+b` for a direct conversation).
    name: String,
    /// Topic, privacy, bot context start.
    settings: RoomSettings,
    /// Members and their roles, as stored.
    members: HashMap<String, Role>,
    /// Banned users.
    bans: HashSet<String>,
    /// Sessions in the room now.
    present: HashMap<SessionId, Presence>,
    /// Bot replies being streamed, as said so far.
    replying: HashMap<EventId, Streaming>,
    /// The latest messages, for the bots' context.
    memory: memory::Memory,
    /// Checked messages waiting to be stored together (`says.rs`).
    says: Vec<says::PendingSay>,
    /// A `FlushSays` is on its way to store them.
    flush_scheduled: bool,
    /// The last change or entry: sessions in the room send to it without
    /// the hub seeing, so the room itself knows when it was last used.
    active: std::time::Instant,
    /// Events this room announced lately, so a relayed copy of one is not
    /// announced twice.
    announced: Recent<EventId>,
    /// The smallest id of the moment this actor started: relayed events
    /// already stored (by a node sharing the database) are announced only
    /// when newer, never old ones re-sent by a catch-up.
    opened: EventId,
    /// The hub, for reaching users who are not present (direct messages,
    /// mentions).
    hub: Addr<Hub>,
    /// Engine state.
    shared: Arc<Shared>,
}

/// Whether a room name is a direct conversation.
pub(crate) fn is_direct(name: &str) -> bool {
    name.starts_with('@')
}

impl Room {
    /// A room loaded from the store.
    pub fn new(state: RoomState, hub: Addr<Hub>, shared: Arc<Shared>) -> Self {
        let memory = memory::Memory::new(
            state.context_capacity,
            state.settings.context_from,
            state.recent,
        );
        Self {
            memory,
            name: state.name,
            settings: state.settings,
            members: state
                .members
                .into_iter()
                .map(|(user, role)| (user, Role::parse(&role)))
                .collect(),
            bans: state.bans.into_iter().collect(),
            present: HashMap::new(),
            replying: HashMap::new(),
            says: Vec::new(),
            flush_scheduled: false,
            active: std::time::Instant::now(),
            announced: Recent::new(ANNOUNCED_MEMORY),
            opened: EventId::floor_of_millis(chrono::Utc::now().timestamp_millis()),
            hub,
            shared,
        }
    }

    fn standing(&self, user: &str) -> Standing {
        Standing {
            role: self.members.get(user).copied(),
            admin: self.shared.is_admin(user),
            banned: self.bans.contains(user),
        }
    }

    /// Whether `user` may read the room (public, a member, or an admin).
    fn can_read(&self, user: &str) -> bool {
        if is_direct(&self.name) {
            return self.members.contains_key(user);
        }
        if self.shared.is_admin(user) {
            return true;
        }
        if self.bans.contains(user) {
            return false;
        }
        !self.settings.private || self.members.contains_key(user)
    }

    /// Sends an event to every session present (serialized once, shared by
    /// all). A direct conversation also reaches its members' other sessions:
    /// that delivery is returned, for the caller to hand to the hub.
    fn fan_out(&mut self, event: &Event) -> Option<DeliverToUsers> {
        let frame = self.broadcast(&ServerFrame::Event {
            event: event.clone(),
        });
        is_direct(&self.name).then(|| DeliverToUsers {
            users: self.members.keys().cloned().collect(),
            frame,
            skip: self.present.keys().copied().collect(),
        })
    }

    /// Sends a frame to every session present, serialized once; returns the
    /// bytes. Sessions too slow to take it are dropped (their outbox closes).
    fn broadcast(&mut self, frame: &ServerFrame) -> bytestring::ByteString {
        let frame = frame.encode();
        let metrics = &self.shared.metrics;
        // Counted here and added once: the counters are shared by every
        // room's thread.
        let (mut delivered, mut slow) = (0, 0);
        // A session closed for another reason stays until its transport
        // goes (its next offer says `Gone`) or it leaves: checking every
        // session's close flag on every frame cost more than that.
        self.present
            .retain(|_, presence| match presence.outbox.offer(frame.clone()) {
                Pushed::Queued => {
                    delivered += 1;
                    true
                }
                // Only a full queue is a slow consumer; a client that left
                // is just gone.
                Pushed::Full => {
                    slow += 1;
                    false
                }
                Pushed::Gone => false,
            });
        Metrics::add(&metrics.deliveries, delivered);
        if slow > 0 {
            Metrics::add(&metrics.slow_consumers, slow);
        }
        frame
    }

    /// The users an event mentions who may read the room (not its author).
    fn mention_readers(&self, event: &Event) -> Vec<String> {
        event
            .mentions
            .iter()
            .filter(|u| self.can_read(u) && **u != event.author)
            .cloned()
            .collect()
    }

    /// Tells mentioned users who may read the room, on every connection.
    fn notify_mentions(&self, event: &Event) {
        let readers = self.mention_readers(event);
        if readers.is_empty() {
            return;
        }
        let frame = ServerFrame::Mention {
            event: event.clone(),
        }
        .encode();
        self.hub.do_send(DeliverToUsers {
            users: readers,
            frame,
            skip: Vec::new(),
        });
    }

    /// Lets an invited user know, on every connection.
    fn notify_invite(&self, target: &str, event: &Event) {
        self.hub.do_send(DeliverToUsers {
            users: vec![target.to_owned()],
            frame: ServerFrame::Event {
                event: event.clone(),
            }
            .encode(),
            skip: self
                .present
                .iter()
                .filter(|(_, p)| p.user == target)
                .map(|(id, _)| *id)
                .collect(),
        });
    }

    /// The error for a user who is not a member: `banned` when a ban is
    /// why, otherwise `not_member`.
    fn outsider(&self, user: &str) -> ChatError {
        if self.bans.contains(user) {
            return ChatError::new(
                ErrorCode::Banned,
                format!("you are banned from {:?}", self.name),
            );
        }
        self.not_member()
    }

    fn not_member(&self) -> ChatError {
        ChatError::new(
            ErrorCode::NotMember,
            format!("you have not joined {:?}", self.name),
        )
    }
}

impl Actor for Room {
    type Context = Context<Self>;
}

/// The hub retires the room if nothing is happening in it: no session is
/// present and no bot reply is streaming. Answers whether it stopped.
#[derive(Message)]
#[rtype(result = "bool")]
pub(crate) struct Retire;

impl Handler<Retire> for Room {
    type Result = bool;

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) -> bool {
        let quiet_for = std::time::Duration::from_secs(self.shared.config.limits.idle_room_secs);
        let idle = self.present.is_empty()
            && self.replying.is_empty()
            && self.says.is_empty()
            && self.active.elapsed() >= quiet_for;
        if idle {
            slog::debug!(self.shared.log, "room retired"; "room" => &self.name);
            ctx.stop();
        }
        idle
    }
}

/// A member's session enters the room: it gets the `joined` frame with the
/// latest history, then every live event, with nothing lost in between.
#[derive(Message)]
#[rtype(result = "ChatResult<()>")]
pub(crate) struct Enter {
    /// The session.
    pub session: SessionId,
    /// Its user.
    pub user: String,
    /// Its outgoing queue.
    pub outbox: Outbox,
    /// The `ref` of the join request, echoed in `joined`.
    pub reference: Option<String>,
    /// The last event the client saw: it is sent only what follows.
    pub since: Option<EventId>,
}

impl Handler<Enter> for Room {
    type Result = AtomicResponse<Self, ChatResult<()>>;

    fn handle(&mut self, msg: Enter, _: &mut Context<Self>) -> Self::Result {
        self.active = std::time::Instant::now();
        if !self.members.contains_key(&msg.user) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(self.not_member()))));
        }
        let store = self.shared.store.clone();
        let room = self.name.clone();
        let history = &self.shared.config.history;
        let (latest, resume, since) = (history.join_events, history.page_max, msg.since);
        let load = async move {
            store
                .read("history", move |db| {
                    db.join_history(&room, since, latest, resume)
                })
                .await
        };
        AtomicResponse::new(Box::pin(load.into_actor(self).map(move |page, room, _| {
            let page = page?;
            let joined = ServerFrame::Joined {
                reference: msg.reference,
                room: room.name.clone(),
                topic: room.settings.topic.clone(),
                history: page.events,
                more: page.more,
            };
            msg.outbox.push(joined.encode());
            for reply in room.replying.values().map(|r| &r.event) {
                msg.outbox.push(
                    ServerFrame::ReplyStart {
                        event: reply.clone(),
                    }
                    .encode(),
                );
            }
            room.present.insert(
                msg.session,
                Presence {
                    user: msg.user,
                    outbox: msg.outbox,
                },
            );
            Ok(())
        })))
    }
}

/// A session leaves the room (disconnect or leave).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Exit {
    /// The session.
    pub session: SessionId,
}

impl Handler<Exit> for Room {
    type Result = ();

    fn handle(&mut self, msg: Exit, _: &mut Context<Self>) {
        self.present.remove(&msg.session);
    }
}

/// What a user may know about the room: readable or not, members, topic.
#[derive(Message)]
#[rtype(result = "ChatResult<RoomView>")]
pub(crate) struct View {
    /// Who asks.
    pub user: String,
}

/// The room as one user may see it.
#[derive(Debug, Clone)]
pub(crate) struct RoomView {
    /// Members with roles and presence, by name.
    pub members: Vec<MemberInfo>,
    /// Topic.
    pub topic: Option<String>,
}

impl Handler<View> for Room {
    type Result = MessageResult<View>;

    fn handle(&mut self, msg: View, _: &mut Context<Self>) -> Self::Result {
        if !self.can_read(&msg.user) {
            let error = if self.bans.contains(&msg.user) {
                ChatError::new(
                    ErrorCode::Banned,
                    format!("you are banned from {:?}", self.name),
                )
            } else {
                ChatError::new(ErrorCode::InviteOnly, format!("{:?} is private", self.name))
            };
            return MessageResult(Err(error));
        }
        let mut members: Vec<MemberInfo> = self
            .members
            .iter()
            .map(|(user, role)| MemberInfo {
                user: user.clone(),
                role: role.as_str().to_owned(),
                online: self.present.values().any(|p| &p.user == user)
                    || self.shared.remote_presence.is_online(&self.name, user),
            })
            .collect();
        members.sort_by_key(|m| m.user.to_lowercase());
        MessageResult(Ok(RoomView {
            members,
            topic: self.settings.topic.clone(),
        }))
    }
}

/// The users with a session in the room on this node now.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub(crate) struct OnlineHere;

impl Handler<OnlineHere> for Room {
    type Result = MessageResult<OnlineHere>;

    fn handle(&mut self, _: OnlineHere, _: &mut Context<Self>) -> Self::Result {
        let users: HashSet<String> = self.present.values().map(|p| p.user.clone()).collect();
        MessageResult(users.into_iter().collect())
    }
}
