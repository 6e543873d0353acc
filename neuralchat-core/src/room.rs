//! A room: its members, the sessions present, and the one place where its
//! events are ordered. Every change goes through an atomic handler: persist,
//! then fan out, then answer, so every client sees the same order.

use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::event::{Event, EventKind};
use crate::outbox::Outbox;
use crate::protocol::{MemberInfo, ServerFrame};
use crate::shared::Shared;
use actix::prelude::*;
use futures_util::future::Either;
use std::collections::HashMap;
use std::sync::Arc;

/// Identifies one connected session within an engine.
pub type SessionId = u64;

/// A session present in the room.
struct Presence {
    /// The session's user.
    user: String,
    /// Where its frames go.
    outbox: Outbox,
}

/// One chat room.
pub(crate) struct Room {
    /// Canonical name.
    name: String,
    /// Topic, if set.
    topic: Option<String>,
    /// The user who created the room (its owner).
    creator: String,
    /// Members and their roles, as stored.
    members: HashMap<String, String>,
    /// Sessions in the room now.
    present: HashMap<SessionId, Presence>,
    /// Engine state.
    shared: Arc<Shared>,
}

impl Room {
    /// A room loaded from the store.
    pub fn new(
        name: String,
        topic: Option<String>,
        creator: String,
        members: Vec<(String, String)>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            name,
            topic,
            creator,
            members: members.into_iter().collect(),
            present: HashMap::new(),
            shared,
        }
    }

    /// Sends an event to every session present: serialized once, shared by all.
    fn fan_out(&mut self, event: &Event) {
        let frame = ServerFrame::Event {
            event: event.clone(),
        }
        .encode();
        self.present.retain(|_, presence| {
            presence.outbox.push(frame.clone()) || !presence.outbox.is_closed()
        });
    }

    fn not_member(&self) -> ChatError {
        ChatError::new(
            ErrorCode::NotMember,
            format!("you have not joined {:?}", self.name),
        )
    }

    /// Persists `event`, then fans it out; the atomic handlers call this last.
    fn persist_then_fan_out(
        &mut self,
        event: Event,
    ) -> impl ActorFuture<Self, Output = ChatResult<Event>> {
        let store = self.shared.store.clone();
        let stored = event.clone();
        async move {
            store
                .call("append_event", move |db| db.append_event(&stored))
                .await
        }
        .into_actor(self)
        .map(move |result, room, _| {
            result?;
            room.fan_out(&event);
            Ok(event)
        })
    }
}

impl Actor for Room {
    type Context = Context<Self>;
}

/// Makes a user a member (stored) and announces it with a `join` event.
/// Answers whether the user was new to the room.
#[derive(Message)]
#[rtype(result = "ChatResult<bool>")]
pub(crate) struct AddMember {
    /// The user.
    pub user: String,
}

impl Handler<AddMember> for Room {
    type Result = AtomicResponse<Self, ChatResult<bool>>;

    fn handle(&mut self, msg: AddMember, _: &mut Context<Self>) -> Self::Result {
        if self.members.contains_key(&msg.user) {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(false))));
        }
        let role = if msg.user == self.creator {
            "owner"
        } else {
            "member"
        };
        let store = self.shared.store.clone();
        let (room, user) = (self.name.clone(), msg.user.clone());
        let add = async move {
            store
                .call("add_member", move |db| {
                    db.add_member(&room, &user, role, chrono::Utc::now().timestamp_millis())
                })
                .await
        };
        AtomicResponse::new(Box::pin(add.into_actor(self).then(
            move |added, room, _| {
                let event = match added {
                    Ok(_) => {
                        room.members.insert(msg.user.clone(), role.to_owned());
                        Ok(room.shared.new_event(
                            &room.name,
                            EventKind::Join,
                            &msg.user,
                            String::new(),
                            None,
                        ))
                    }
                    Err(e) => Err(e),
                };
                match event {
                    Ok(event) => Either::Left(
                        room.persist_then_fan_out(event)
                            .map(|r, _, _| r.map(|_| true)),
                    ),
                    Err(e) => Either::Right(fut::ready(Err(e))),
                }
            },
        )))
    }
}

/// Removes a member, announces it with a `leave` event, and drops the
/// user's sessions from the room.
#[derive(Message)]
#[rtype(result = "ChatResult<()>")]
pub(crate) struct RemoveMember {
    /// The user.
    pub user: String,
}

impl Handler<RemoveMember> for Room {
    type Result = AtomicResponse<Self, ChatResult<()>>;

    fn handle(&mut self, msg: RemoveMember, _: &mut Context<Self>) -> Self::Result {
        if !self.members.contains_key(&msg.user) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(self.not_member()))));
        }
        let store = self.shared.store.clone();
        let (room, user) = (self.name.clone(), msg.user.clone());
        let remove = async move {
            store
                .call("remove_member", move |db| db.remove_member(&room, &user))
                .await
        };
        AtomicResponse::new(Box::pin(remove.into_actor(self).then(
            move |removed, room, _| {
                if let Err(e) = removed {
                    return Either::Right(fut::ready(Err(e)));
                }
                room.members.remove(&msg.user);
                let event = room.shared.new_event(
                    &room.name,
                    EventKind::Leave,
                    &msg.user,
                    String::new(),
                    None,
                );
                let user = msg.user;
                Either::Left(room.persist_then_fan_out(event).map(move |r, room, _| {
                    room.present.retain(|_, p| p.user != user);
                    r.map(|_| ())
                }))
            },
        )))
    }
}

/// Posts a message. A repeated client id answers with the first event,
/// which is neither stored nor sent again (`fresh` is false).
#[derive(Message)]
#[rtype(result = "ChatResult<Posted>")]
pub(crate) struct PostMessage {
    /// The author.
    pub user: String,
    /// The text, already checked.
    pub text: String,
    /// The client's id for the message.
    pub client_id: Option<String>,
}

/// The result of a post.
#[derive(Debug, Clone)]
pub(crate) struct Posted {
    /// The stored event.
    pub event: Event,
    /// False when this was a retry of an earlier post.
    pub fresh: bool,
}

impl Handler<PostMessage> for Room {
    type Result = AtomicResponse<Self, ChatResult<Posted>>;

    fn handle(&mut self, msg: PostMessage, _: &mut Context<Self>) -> Self::Result {
        if !self.members.contains_key(&msg.user) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(self.not_member()))));
        }
        let store = self.shared.store.clone();
        let (room, user, client_id) = (self.name.clone(), msg.user.clone(), msg.client_id.clone());
        let earlier = async move {
            match client_id {
                Some(cid) => {
                    store
                        .call("event_by_client_id", move |db| {
                            db.event_by_client_id(&room, &user, &cid)
                        })
                        .await
                }
                None => Ok(None),
            }
        };
        AtomicResponse::new(Box::pin(earlier.into_actor(self).then(
            move |earlier, room, _| match earlier {
                Err(e) => Either::Right(fut::ready(Err(e))),
                Ok(Some(event)) => Either::Right(fut::ready(Ok(Posted {
                    event,
                    fresh: false,
                }))),
                Ok(None) => {
                    let event = room.shared.new_event(
                        &room.name,
                        EventKind::Message,
                        &msg.user,
                        msg.text,
                        msg.client_id,
                    );
                    Either::Left(
                        room.persist_then_fan_out(event)
                            .map(|r, _, _| r.map(|event| Posted { event, fresh: true })),
                    )
                }
            },
        )))
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
}

impl Handler<Enter> for Room {
    type Result = AtomicResponse<Self, ChatResult<()>>;

    fn handle(&mut self, msg: Enter, _: &mut Context<Self>) -> Self::Result {
        if !self.members.contains_key(&msg.user) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(self.not_member()))));
        }
        let store = self.shared.store.clone();
        let room = self.name.clone();
        let limit = self.shared.config.history.join_events;
        let load = async move {
            store
                .call("history", move |db| db.history(&room, None, limit))
                .await
        };
        AtomicResponse::new(Box::pin(load.into_actor(self).map(move |page, room, _| {
            let page = page?;
            let joined = ServerFrame::Joined {
                reference: msg.reference,
                room: room.name.clone(),
                topic: room.topic.clone(),
                history: page.events,
                more: page.more,
            };
            msg.outbox.push(joined.encode());
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

/// The room's members with roles and presence.
#[derive(Message)]
#[rtype(result = "Vec<MemberInfo>")]
pub(crate) struct Who;

impl Handler<Who> for Room {
    type Result = MessageResult<Who>;

    fn handle(&mut self, _: Who, _: &mut Context<Self>) -> Self::Result {
        let mut members: Vec<MemberInfo> = self
            .members
            .iter()
            .map(|(user, role)| MemberInfo {
                user: user.clone(),
                role: role.clone(),
                online: self.present.values().any(|p| &p.user == user),
            })
            .collect();
        members.sort_by_key(|m| m.user.to_lowercase());
        MessageResult(members)
    }
}
