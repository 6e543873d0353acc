//! Every change to a room made on this node, in one handler: check the
//! actor's permission against the room's cached state and create the
//! change's event (`plan`); then the one path every event takes, made here
//! or relayed (`commit.rs`): append it with its store effects in one
//! database job, reduce the cache, fan out. Messages are stored in batches
//! (`says.rs`); any other change holds the room until it is done.

use super::commit::{Applied, Check};
use super::says::PendingSay;
use super::{is_direct, Room};
use crate::bots::{Ask, Asking, Pending};
use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::event::{Event, EventKind};
use crate::permissions::Role;
use actix::prelude::*;
use tokio::sync::oneshot;

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

/// A checked change, ready to commit.
struct Plan {
    /// The event announcing it.
    event: Event,
    /// What only the store can still refuse or find done.
    check: Check,
    /// Users to notify of a mention (they may read the room).
    readers: Vec<String>,
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

    /// Checks the change against the cached state and creates its event;
    /// `None` when there is nothing to do.
    fn plan(&self, actor: &str, change: &Change) -> ChatResult<Option<Plan>> {
        let me = self.standing(actor);
        let room = &self.name;
        let plain = |event: Event| {
            Ok(Some(Plan {
                event,
                check: Check::None,
                readers: Vec::new(),
            }))
        };
        match change {
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
                if is_direct(room) {
                    return Err(ChatError::new(
                        ErrorCode::InviteOnly,
                        "a direct conversation has two members",
                    ));
                }
                Ok(Some(Plan {
                    event: self.event(EventKind::Join, actor, String::new(), None),
                    check: Check::Join {
                        needs_invite: self.settings.private && !me.admin,
                    },
                    readers: Vec::new(),
                }))
            }
            Change::Leave => {
                if me.role.is_none() {
                    return Err(self.outsider(actor));
                }
                if is_direct(room) {
                    return Err(ChatError::new(
                        ErrorCode::Forbidden,
                        "a direct conversation cannot be left",
                    ));
                }
                plain(self.event(EventKind::Leave, actor, String::new(), None))
            }
            Change::Say {
                action,
                text,
                client_id,
                mentions,
            } => {
                if me.role.is_none() {
                    return Err(self.outsider(actor));
                }
                let kind = if *action {
                    EventKind::Action
                } else {
                    EventKind::Message
                };
                let mut event =
                    self.shared
                        .new_event(room, kind, actor, text.clone(), client_id.clone());
                event.mentions = mentions.clone();
                Ok(Some(Plan {
                    readers: self.mention_readers(&event),
                    event,
                    check: Check::None,
                }))
            }
            Change::Topic(topic) => {
                self.no_moderation_in_direct()?;
                me.require(Role::Moderator, "setting the topic")?;
                let text = topic.clone().unwrap_or_default();
                plain(self.event(EventKind::Topic, actor, text, None))
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
                plain(self.event(kind, actor, String::new(), Some(target)))
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
                plain(self.event(EventKind::Unban, actor, String::new(), Some(target)))
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
                let text = role.as_str().to_owned();
                plain(self.event(EventKind::Role, actor, text, Some(target)))
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
                plain(self.event(EventKind::Invite, actor, String::new(), Some(target)))
            }
            Change::Private(on) => {
                self.no_moderation_in_direct()?;
                me.require(Role::Owner, "changing privacy")?;
                let text = if *on { "on" } else { "off" }.to_owned();
                plain(self.event(EventKind::Privacy, actor, text, None))
            }
            Change::ClearHistory => {
                self.no_moderation_in_direct()?;
                me.require(Role::Owner, "clearing the stored history")?;
                plain(self.event(EventKind::HistoryCleared, actor, String::new(), None))
            }
            Change::ClearContext => {
                if me.role.is_none() {
                    return Err(self.outsider(actor));
                }
                plain(self.event(EventKind::ContextCleared, actor, String::new(), None))
            }
        }
    }
}

/// An [`Apply`] whose outcome goes to `answer`. Sent with `do_send`, it
/// is queued at once whatever the mailbox holds, so a caller that sends
/// several knows they are taken in the order sent.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Queued {
    /// The change.
    pub apply: Apply,
    /// Where its outcome goes.
    pub answer: oneshot::Sender<ChatResult<Applied>>,
    /// The bot a message addresses: asked once the room accepts the
    /// message, before it is stored.
    pub bot: Option<Asking>,
}

impl Handler<Queued> for Room {
    type Result = ();

    fn handle(&mut self, msg: Queued, ctx: &mut Context<Self>) {
        self.take(msg.apply, msg.answer, msg.bot, ctx);
    }
}

impl Handler<Apply> for Room {
    type Result = ResponseFuture<ChatResult<Applied>>;

    fn handle(&mut self, msg: Apply, ctx: &mut Context<Self>) -> Self::Result {
        let (answer, answered) = oneshot::channel();
        self.take(msg, answer, None, ctx);
        Box::pin(outcome(answered))
    }
}

/// The outcome a room sends for a change ([`Queued`]); `internal` if the
/// room stopped before answering.
pub(crate) async fn outcome(
    answered: oneshot::Receiver<ChatResult<Applied>>,
) -> ChatResult<Applied> {
    answered
        .await
        .unwrap_or_else(|_| Err(ChatError::internal()))
}

impl Room {
    /// Checks a change and sets it on its way; its outcome goes to `answer`.
    /// A message addressed to a bot is handed to it at once, with word of
    /// whether it was stored to follow: the bot takes its context from the
    /// room's memory and calls its model while the message is stored, and
    /// speaks only once the message has been announced and acknowledged.
    fn take(
        &mut self,
        msg: Apply,
        answer: oneshot::Sender<ChatResult<Applied>>,
        bot: Option<Asking>,
        ctx: &mut Context<Self>,
    ) {
        self.active = std::time::Instant::now();
        let Plan {
            event,
            check,
            readers,
        } = match self.plan(&msg.actor, &msg.change) {
            Err(e) => {
                let _ = answer.send(Err(e));
                return;
            }
            Ok(None) => {
                let _ = answer.send(Ok(Applied::nothing()));
                return;
            }
            Ok(Some(plan)) => plan,
        };
        if matches!(msg.change, Change::Say { .. }) {
            // Stored with the other messages waiting (`says.rs`).
            let stored = bot.map(|Asking { bot, acked }| {
                let (stored, told) = oneshot::channel();
                bot.do_send(Ask {
                    room: ctx.address(),
                    context: Some(
                        self.memory
                            .context_for(&event, self.says.iter().map(|s| &s.event)),
                    ),
                    event: event.clone(),
                    pending: Some(Pending::new(told, acked)),
                });
                stored
            });
            let say = PendingSay {
                event,
                readers,
                answer,
                stored,
            };
            self.queue_say(say, ctx);
        } else {
            // Nothing else happens in the room until this change is done.
            ctx.wait(self.commit(event, check, readers).map(move |result, _, _| {
                let _ = answer.send(result);
            }));
        }
    }
}
