//! Every change to a room, in one atomic handler: check the actor's
//! permission against the room's cached state, run the store work and append
//! the event in one database job, then update the cache and fan out.

use super::{is_direct, Room};
use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::event::{Event, EventId, EventKind};
use crate::permissions::Role;
use crate::store::{Appended, Conn, StoreError};
use actix::prelude::*;

/// A change to a room, made by the `actor` of [`Apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Become a member (creating the membership; announced once).
    Join,
    /// Stop being a member.
    Leave,
    /// Say something: a message, or an action (`/me`).
    Say {
        /// An action rather than a message.
        action: bool,
        /// The text, already checked.
        text: String,
        /// The client's id for the message (retries are answered, not repeated).
        client_id: Option<String>,
        /// Registered names of the users mentioned.
        mentions: Vec<String>,
    },
    /// Set (or clear) the topic.
    Topic(Option<String>),
    /// Remove a member.
    Kick(String),
    /// Remove a user and keep them out.
    Ban(String),
    /// Lift a ban.
    Unban(String),
    /// Make a member a moderator.
    Op(String),
    /// Make a moderator a member.
    Deop(String),
    /// Invite a user.
    Invite(String),
    /// Invite-only on or off.
    Private(bool),
    /// Delete the stored history.
    ClearHistory,
    /// Bots start a fresh conversation: they read only what follows.
    ClearContext,
}

/// Applies a change on behalf of `actor`.
#[derive(Message)]
#[rtype(result = "ChatResult<Applied>")]
pub(crate) struct Apply {
    /// Who acts.
    pub actor: String,
    /// What changes.
    pub change: Change,
}

/// The outcome of a change.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    /// The event announcing it, if the change makes one.
    pub event: Option<Event>,
    /// False when nothing new happened (a retried message, a second join).
    pub fresh: bool,
}

/// What the store job reports back.
enum Outcome {
    /// Done.
    Done,
    /// A retry: the event already stored under the client id.
    Duplicate(Event),
    /// The store already held the change (made through another node
    /// sharing the database): the cache catches up, nothing is announced.
    AlreadyDone,
    /// Refused on what only the store knows (an invitation).
    Refused(ChatError),
}

type Job = Box<dyn FnOnce(&mut Conn<'_>) -> Result<Outcome, StoreError> + Send>;

/// A checked change, ready to run.
struct Plan {
    /// The event announcing it.
    event: Option<Event>,
    /// The database work (one job: state change and event together).
    job: Job,
    /// For `ClearContext`: where the bots' context now starts.
    context_from: Option<EventId>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Room {
    fn member_role(&self, user: &str) -> ChatResult<Role> {
        self.members.get(user).copied().ok_or_else(|| {
            ChatError::new(
                ErrorCode::NotMember,
                format!("{user} is not a member of {:?}", self.name),
            )
        })
    }

    fn event(&self, kind: EventKind, actor: &str, text: String, target: Option<&str>) -> Event {
        let mut event = self.shared.new_event(&self.name, kind, actor, text, None);
        event.target = target.map(str::to_owned);
        event
    }

    fn no_moderation_in_direct(&self) -> ChatResult<()> {
        if is_direct(&self.name) {
            return Err(ChatError::new(
                ErrorCode::Forbidden,
                "not in a direct conversation",
            ));
        }
        Ok(())
    }

    /// Checks the change and prepares its event and store job; `None` when
    /// there is nothing to do.
    fn plan(&self, actor: &str, change: &Change) -> ChatResult<Option<Plan>> {
        let me = self.standing(actor);
        let room = self.name.clone();
        let append = |event: &Event| {
            let event = event.clone();
            move |db: &mut Conn<'_>| db.append_event(&event).map(|_| ())
        };
        let (event, job) = match change {
            Change::Join => {
                if me.role.is_some() {
                    return Ok(None);
                }
                if self.bans.contains(actor) {
                    return Err(ChatError::new(
                        ErrorCode::Banned,
                        format!("you are banned from {room:?}"),
                    ));
                }
                if is_direct(&room) {
                    return Err(ChatError::new(
                        ErrorCode::InviteOnly,
                        "a direct conversation has two members",
                    ));
                }
                let role = if actor == self.settings.creator {
                    Role::Owner
                } else {
                    Role::Member
                };
                let needs_invite = self.settings.private && !me.admin;
                let event = self.event(EventKind::Join, actor, String::new(), None);
                let (user, store_event) = (actor.to_owned(), append(&event));
                let job: Job = Box::new(move |db| {
                    if db.is_member(&room, &user)? {
                        return Ok(Outcome::AlreadyDone);
                    }
                    // An invitation is used up by joining.
                    let invited = db.take_invite(&room, &user)?;
                    if needs_invite && !invited {
                        return Ok(Outcome::Refused(ChatError::new(
                            ErrorCode::InviteOnly,
                            format!("{room:?} is private: ask a moderator for an invitation"),
                        )));
                    }
                    // Joined already through another node sharing the
                    // database: no second join event.
                    if !db.add_member(&room, &user, role.as_str(), now_ms())? {
                        return Ok(Outcome::AlreadyDone);
                    }
                    store_event(db)?;
                    Ok(Outcome::Done)
                });
                (Some(event), job)
            }
            Change::Leave => {
                self.member_role(actor)?;
                if is_direct(&room) {
                    return Err(ChatError::new(
                        ErrorCode::Forbidden,
                        "a direct conversation cannot be left",
                    ));
                }
                let event = self.event(EventKind::Leave, actor, String::new(), None);
                let (user, store_event) = (actor.to_owned(), append(&event));
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        db.remove_member(&room, &user)?;
                        store_event(db)?;
                        Ok(Outcome::Done)
                    }) as Job,
                )
            }
            Change::Say {
                action,
                text,
                client_id,
                mentions,
            } => {
                if me.role.is_none() {
                    return Err(self.not_member());
                }
                let kind = if *action {
                    EventKind::Action
                } else {
                    EventKind::Message
                };
                let mut event =
                    self.shared
                        .new_event(&room, kind, actor, text.clone(), client_id.clone());
                event.mentions = mentions.clone();
                let readers: Vec<String> = mentions
                    .iter()
                    .filter(|u| self.can_read(u) && u.as_str() != actor)
                    .cloned()
                    .collect();
                let stored = event.clone();
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        // A retry (on this node or another one sharing the
                        // database) is answered with the message already stored.
                        match db.append_event(&stored)? {
                            Appended::ClientIdTaken(earlier) => Ok(Outcome::Duplicate(*earlier)),
                            Appended::Stored | Appended::AlreadyStored => {
                                db.insert_mentions(stored.id, &stored.room, &readers)?;
                                Ok(Outcome::Done)
                            }
                        }
                    }) as Job,
                )
            }
            Change::Topic(topic) => {
                self.no_moderation_in_direct()?;
                me.require(Role::Moderator, "setting the topic")?;
                let text = topic.clone().unwrap_or_default();
                let event = self.event(EventKind::Topic, actor, text, None);
                let (topic, store_event) = (topic.clone(), append(&event));
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        db.set_topic(&room, topic.as_deref())?;
                        store_event(db)?;
                        Ok(Outcome::Done)
                    }) as Job,
                )
            }
            Change::Kick(target) | Change::Ban(target) => {
                self.no_moderation_in_direct()?;
                let ban = matches!(change, Change::Ban(_));
                let verb = if ban { "ban" } else { "kick" };
                me.require(Role::Moderator, verb)?;
                let theirs = if ban {
                    self.members.get(target).copied()
                } else {
                    Some(self.member_role(target)?)
                };
                me.require_above(theirs, verb)?;
                if target == actor {
                    return Err(ChatError::new(
                        ErrorCode::BadArguments,
                        format!("you cannot {verb} yourself"),
                    ));
                }
                let kind = if ban { EventKind::Ban } else { EventKind::Kick };
                let event = self.event(kind, actor, String::new(), Some(target));
                let (user, by, store_event) = (target.clone(), actor.to_owned(), append(&event));
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        if ban {
                            db.ban(&room, &user, &by, now_ms())?;
                        }
                        // Whoever is removed loses any invitation too.
                        db.take_invite(&room, &user)?;
                        db.remove_member(&room, &user)?;
                        store_event(db)?;
                        Ok(Outcome::Done)
                    }) as Job,
                )
            }
            Change::Unban(target) => {
                self.no_moderation_in_direct()?;
                me.require(Role::Moderator, "unban")?;
                if !self.bans.contains(target) {
                    return Err(ChatError::new(
                        ErrorCode::BadArguments,
                        format!("{target} is not banned"),
                    ));
                }
                let event = self.event(EventKind::Unban, actor, String::new(), Some(target));
                let (user, store_event) = (target.clone(), append(&event));
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        db.unban(&room, &user)?;
                        store_event(db)?;
                        Ok(Outcome::Done)
                    }) as Job,
                )
            }
            Change::Op(target) | Change::Deop(target) => {
                self.no_moderation_in_direct()?;
                let op = matches!(change, Change::Op(_));
                me.require(Role::Owner, if op { "op" } else { "deop" })?;
                let theirs = self.member_role(target)?;
                if theirs == Role::Owner {
                    return Err(ChatError::new(
                        ErrorCode::Forbidden,
                        "the owner's role cannot change",
                    ));
                }
                let role = if op { Role::Moderator } else { Role::Member };
                let event = self.event(
                    EventKind::Role,
                    actor,
                    role.as_str().to_owned(),
                    Some(target),
                );
                let (user, store_event) = (target.clone(), append(&event));
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        db.set_role(&room, &user, role.as_str())?;
                        store_event(db)?;
                        Ok(Outcome::Done)
                    }) as Job,
                )
            }
            Change::Invite(target) => {
                self.no_moderation_in_direct()?;
                let needed = if self.settings.private {
                    Role::Moderator
                } else {
                    Role::Member
                };
                me.require(needed, "inviting to a private room")?;
                if self.members.contains_key(target) {
                    return Err(ChatError::new(
                        ErrorCode::BadArguments,
                        format!("{target} is already a member"),
                    ));
                }
                let event = self.event(EventKind::Invite, actor, String::new(), Some(target));
                let (user, by, store_event) = (target.clone(), actor.to_owned(), append(&event));
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        db.invite(&room, &user, &by, now_ms())?;
                        store_event(db)?;
                        Ok(Outcome::Done)
                    }) as Job,
                )
            }
            Change::Private(on) => {
                self.no_moderation_in_direct()?;
                me.require(Role::Owner, "changing privacy")?;
                let text = if *on { "on" } else { "off" }.to_owned();
                let event = self.event(EventKind::Privacy, actor, text, None);
                let (on, store_event) = (*on, append(&event));
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        db.set_private(&room, on)?;
                        store_event(db)?;
                        Ok(Outcome::Done)
                    }) as Job,
                )
            }
            Change::ClearHistory => {
                self.no_moderation_in_direct()?;
                me.require(Role::Owner, "clearing the stored history")?;
                let event = self.event(EventKind::HistoryCleared, actor, String::new(), None);
                let store_event = append(&event);
                (
                    Some(event),
                    Box::new(move |db: &mut Conn<'_>| {
                        db.delete_events(&room)?;
                        store_event(db)?;
                        Ok(Outcome::Done)
                    }) as Job,
                )
            }
            Change::ClearContext => {
                if me.role.is_none() {
                    return Err(self.not_member());
                }
                let from = self.shared.ids.next();
                let job: Job = Box::new(move |db: &mut Conn<'_>| {
                    db.set_context_from(&room, from)?;
                    Ok(Outcome::Done)
                });
                return Ok(Some(Plan {
                    event: None,
                    job,
                    context_from: Some(from),
                }));
            }
        };
        Ok(Some(Plan {
            event,
            job,
            context_from: None,
        }))
    }

    /// Brings the cached state in line with a change that was stored.
    fn commit(&mut self, actor: &str, change: &Change, context_from: Option<EventId>) {
        match change {
            Change::Join => {
                let role = if actor == self.settings.creator {
                    Role::Owner
                } else {
                    Role::Member
                };
                self.members.insert(actor.to_owned(), role);
            }
            Change::Leave => self.drop_member(actor),
            Change::Say { .. } => {}
            Change::Topic(topic) => self.settings.topic = topic.clone(),
            Change::Kick(target) => self.drop_member(target),
            Change::Ban(target) => {
                self.drop_member(target);
                self.bans.insert(target.clone());
            }
            Change::Unban(target) => {
                self.bans.remove(target);
            }
            Change::Op(target) => {
                self.members.insert(target.clone(), Role::Moderator);
            }
            Change::Deop(target) => {
                self.members.insert(target.clone(), Role::Member);
            }
            Change::Invite(_) | Change::ClearHistory => {}
            Change::Private(on) => self.settings.private = *on,
            Change::ClearContext => self.settings.context_from = context_from,
        }
    }

    fn drop_member(&mut self, user: &str) {
        self.members.remove(user);
        self.present.retain(|_, p| p.user != user);
    }
}

impl Handler<Apply> for Room {
    type Result = AtomicResponse<Self, ChatResult<Applied>>;

    fn handle(&mut self, msg: Apply, _: &mut Context<Self>) -> Self::Result {
        let Plan {
            event,
            job,
            context_from,
        } = match self.plan(&msg.actor, &msg.change) {
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
            Ok(None) => {
                return AtomicResponse::new(Box::pin(fut::ready(Ok(Applied {
                    event: None,
                    fresh: false,
                }))))
            }
            Ok(Some(plan)) => plan,
        };
        let store = self.shared.store.clone();
        let run = async move { store.call("apply", job).await };
        AtomicResponse::new(Box::pin(run.into_actor(self).then(
            move |outcome, room, _| {
                let mut delivery = None;
                let result = match outcome {
                    Err(e) | Ok(Outcome::Refused(e)) => Err(e),
                    Ok(Outcome::Duplicate(earlier)) => Ok(Applied {
                        event: Some(earlier),
                        fresh: false,
                    }),
                    Ok(Outcome::AlreadyDone) => {
                        room.commit(&msg.actor, &msg.change, context_from);
                        Ok(Applied {
                            event: None,
                            fresh: false,
                        })
                    }
                    Ok(Outcome::Done) => {
                        // Fan out before dropping a kicked user's sessions, so they see why.
                        if let Some(event) = &event {
                            delivery = room.fan_out(event);
                            room.notify_mentions(event);
                            if let Change::Invite(target) = &msg.change {
                                room.notify_invite(target, event);
                            }
                        }
                        room.commit(&msg.actor, &msg.change, context_from);
                        Ok(Applied { event, fresh: true })
                    }
                };
                // A direct conversation's copies to other sessions are handed
                // over before the answer, so an ack never overtakes its event.
                let hub = room.hub.clone();
                async move {
                    if let Some(delivery) = delivery {
                        let _ = hub.send(delivery).await;
                    }
                    result
                }
                .into_actor(room)
            },
        )))
    }
}
