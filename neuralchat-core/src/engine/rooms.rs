//! Room operations: resolving names (including `@user` for a direct
//! conversation), joining, leaving, talking, reading history, listing.

use super::Engine;
use crate::bots::{addressed_to, Ask, Asking, Bot};
use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::event::{Event, EventId};
use crate::hub::{Creation, OpenRoom};
use crate::mentions::mentioned_keys;
use crate::names::{canonical_room, user_key};
use crate::protocol::{MemberInfo, RoomInfo};
use crate::room::{Applied, Apply, Change, Queued, Room, RoomView, View};
use crate::store::HistoryPage;
use crate::text::check_message_text;
use actix::Addr;
use slog::{debug, info, warn};
use std::collections::HashSet;
use tokio::sync::oneshot;

/// A room after a join, for callers without a live session (REST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedRoom {
    /// Canonical name.
    pub room: String,
    /// Topic, if set.
    pub topic: Option<String>,
    /// The latest events, oldest first.
    pub history: Vec<Event>,
    /// Whether older events exist.
    pub more: bool,
}

/// A room name resolved for one user.
struct Resolved {
    /// Canonical name.
    name: String,
    /// How to create it if missing (a direct conversation always can be).
    direct: Option<Creation>,
}

/// A message checked and queued in its room, its outcome to come
/// ([`Engine::queue_say`], [`Engine::finish_say`]).
pub(crate) struct QueuedSay {
    /// Who said it.
    user: String,
    /// The room's canonical name.
    room: String,
    /// The text, kept only when `log.bodies` is on.
    text: Option<String>,
    /// The text's size in bytes, for the audit record.
    size: usize,
    /// Where the room answers.
    outcome: oneshot::Receiver<ChatResult<Applied>>,
    /// Tells the bot the message addresses that its sender has the answer
    /// (fire it after writing the `ack`; dropped, it tells the same).
    pub(crate) acked: Option<oneshot::Sender<()>>,
}

impl Engine {
    /// The registered form of a user name, or `unknown_user`.
    pub(crate) async fn registered_name(&self, name: &str) -> ChatResult<String> {
        let bare = name.trim_start_matches('@');
        if bare.chars().any(char::is_control) {
            // No user name has one (and a NUL is no PostgreSQL text).
            return Err(ChatError::new(
                ErrorCode::UnknownUser,
                "no user has a name with control characters",
            ));
        }
        let key = user_key(bare);
        self.shared()
            .store
            .read("find_user", move |db| db.find_user(&key))
            .await?
            .map(|u| u.username)
            .ok_or_else(|| {
                ChatError::new(ErrorCode::UnknownUser, format!("no user named {name:?}"))
            })
    }

    /// `@bob` (as seen by `user`) is the direct conversation of the two,
    /// named `@a+b` by their sorted keys; anything else is a room name.
    async fn resolve(&self, user: &str, room: &str) -> ChatResult<Resolved> {
        let Some(other) = room.strip_prefix('@') else {
            return Ok(Resolved {
                name: canonical_room(room)?,
                direct: None,
            });
        };
        // `@a+b` (the canonical name) names the same conversation as
        // `@b` does for a; only a and b may use it.
        let other = match other.split_once('+') {
            Some((a, b)) => {
                let mine = user_key(user);
                if a == mine {
                    b
                } else if b == mine {
                    a
                } else {
                    return Err(ChatError::new(
                        ErrorCode::InviteOnly,
                        "not your conversation",
                    ));
                }
            }
            None => other,
        };
        let other = self.registered_name(other).await?;
        let (a, b) = (user_key(user), user_key(&other));
        let name = if a <= b {
            format!("@{a}+{b}")
        } else {
            format!("@{b}+{a}")
        };
        let mut members = vec![user.to_owned()];
        if a != b {
            members.push(other);
        }
        Ok(Resolved {
            name,
            direct: Some(Creation {
                creator: user.to_owned(),
                private: true,
                members,
                quota: None,
            }),
        })
    }

    /// The canonical name of a room as `user` names it (`@bob` is the direct
    /// conversation with bob).
    pub async fn room_name(&self, user: &str, room: &str) -> ChatResult<String> {
        Ok(self.resolve(user, room).await?.name)
    }

    /// The room's actor; `create_public` creates a missing public room.
    pub(crate) async fn open_room(
        &self,
        user: &str,
        room: &str,
        create_public: bool,
    ) -> ChatResult<(String, Addr<Room>)> {
        let resolved = self.resolve(user, room).await?;
        // Admins may create any number of rooms.
        let quota = (!self.shared().is_admin(user)).then_some(self.config().limits.rooms_per_user);
        let create = resolved.direct.or_else(|| {
            create_public.then(|| Creation {
                creator: user.to_owned(),
                private: false,
                members: Vec::new(),
                quota,
            })
        });
        let opened = self
            .hub()
            .send(OpenRoom {
                name: resolved.name.clone(),
                create,
            })
            .await?;
        match opened {
            Ok(addr) => Ok((resolved.name, addr)),
            Err(e) => {
                if e.code == ErrorCode::Forbidden {
                    warn!(self.audit(), "room quota reached"; "action" => "create_room",
                        "user" => user, "room" => &resolved.name);
                }
                Err(e)
            }
        }
    }

    /// Applies a change, auditing refusals.
    pub(crate) async fn apply(
        &self,
        addr: &Addr<Room>,
        room: &str,
        user: &str,
        change: Change,
    ) -> ChatResult<Applied> {
        let what = change_name(&change);
        // Changes are announced to the room: the same limits as messages.
        // (Joining is not counted: a second join does nothing, and a
        // leave-join loop is held back by the leaves.)
        if let Change::Topic(Some(topic)) = &change {
            self.check_text(topic)?;
        }
        if change != Change::Join {
            self.check_rate(user)?;
        }
        let result = addr
            .send(Apply {
                actor: user.to_owned(),
                change,
            })
            .await?;
        match &result {
            Ok(applied) if applied.fresh => {
                info!(self.audit(), "{}", what; "action" => what, "user" => user, "room" => room,
                    "target" => applied.event.as_ref().and_then(|e| e.target.clone()));
            }
            Ok(_) => {}
            Err(e) => {
                warn!(self.audit(), "refused"; "action" => what, "user" => user, "room" => room, "code" => %e.code)
            }
        }
        result
    }

    /// What `user` may see of a room.
    pub(crate) async fn view(
        &self,
        user: &str,
        room: &str,
    ) -> ChatResult<(String, Addr<Room>, RoomView)> {
        // Reading never creates, not even a direct conversation.
        let name = self.resolve(user, room).await?.name;
        let addr = self
            .hub()
            .send(OpenRoom {
                name: name.clone(),
                create: None,
            })
            .await??;
        let view = addr
            .send(View {
                user: user.to_owned(),
            })
            .await??;
        Ok((name, addr, view))
    }

    /// Makes `user` a member of `room`, creating the room (public) if new.
    pub(crate) async fn join_membership(
        &self,
        user: &str,
        room: &str,
    ) -> ChatResult<(String, Addr<Room>)> {
        let (name, addr) = self.open_room(user, room, true).await?;
        self.apply(&addr, &name, user, Change::Join).await?;
        Ok((name, addr))
    }

    /// Joins a room (creating it if new) and returns its latest history,
    /// or with `since` (an event id) the events after that one.
    pub async fn join(
        &self,
        user: &str,
        room: &str,
        since: Option<&str>,
    ) -> ChatResult<JoinedRoom> {
        let since = parse_cursor("since", since)?;
        let (name, addr) = self.join_membership(user, room).await?;
        let view = addr
            .send(View {
                user: user.to_owned(),
            })
            .await??;
        let history = &self.config().history;
        let (room_name, latest, resume) = (name.clone(), history.join_events, history.page_max);
        let page = self
            .shared()
            .store
            .read("history", move |db| {
                db.join_history(&room_name, since, latest, resume)
            })
            .await?;
        Ok(JoinedRoom {
            room: name,
            topic: view.topic,
            history: page.events,
            more: page.more,
        })
    }

    /// Leaves a room; returns its canonical name.
    pub async fn leave(&self, user: &str, room: &str) -> ChatResult<String> {
        let (name, addr) = self.open_room(user, room, false).await?;
        self.apply(&addr, &name, user, Change::Leave).await?;
        Ok(name)
    }

    /// Checks a message's or topic's text: its length, then its
    /// characters ([`check_message_text`]).
    fn check_text(&self, text: &str) -> ChatResult<()> {
        let max = self.config().limits.max_message_chars;
        let chars = text.chars().count();
        if chars == 0 || chars > max {
            return Err(ChatError::new(
                ErrorCode::BadMessage,
                format!("a message has 1 to {max} characters, not {chars}"),
            ));
        }
        check_message_text(text)
    }

    fn check_rate(&self, user: &str) -> ChatResult<()> {
        if self.shared().take_message_token(user) {
            return Ok(());
        }
        warn!(self.audit(), "rate limited"; "action" => "rate_limited", "user" => user);
        Err(ChatError::new(
            ErrorCode::RateLimited,
            "too many messages; slow down",
        ))
    }

    /// The registered names of the users `text` mentions (unknown names are
    /// plain text).
    async fn resolve_mentions(&self, text: &str) -> ChatResult<Vec<String>> {
        let keys = mentioned_keys(text);
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.shared()
            .store
            .read("resolve_mentions", move |db| {
                let mut names = Vec::new();
                for key in keys {
                    if let Some(user) = db.find_user(&key)? {
                        names.push(user.username);
                    }
                }
                Ok(names)
            })
            .await
    }

    /// Says something in a room (a message, or an action for `/me`).
    pub(crate) async fn say(
        &self,
        user: &str,
        room: &str,
        text: &str,
        client_id: Option<String>,
        action: bool,
    ) -> ChatResult<Event> {
        let queued = self
            .queue_say(user, room, None, text, client_id, action)
            .await?;
        self.finish_say(queued).await
    }

    /// The first half of [`Engine::say`]: checks the message and queues it
    /// in its room. Messages queued one after the other are taken by the
    /// room in that order, whether or not the first has been stored yet.
    /// `open` is the room's actor when the caller holds it already (a
    /// session in the room; `room` is then its canonical name).
    pub(crate) async fn queue_say(
        &self,
        user: &str,
        room: &str,
        open: Option<Addr<Room>>,
        text: &str,
        client_id: Option<String>,
        action: bool,
    ) -> ChatResult<QueuedSay> {
        self.check_text(text)?;
        if client_id
            .as_ref()
            .is_some_and(|c| c.is_empty() || c.len() > 128 || c.chars().any(char::is_control))
        {
            return Err(ChatError::new(
                ErrorCode::BadFrame,
                "client_id has 1 to 128 bytes and no control characters",
            ));
        }
        self.check_rate(user)?;
        let mentions = self.resolve_mentions(text).await?;
        // A held room actor that stopped meanwhile (say, this user was
        // kicked and the room went idle) is looked up again.
        let (name, addr) = match open.filter(Addr::connected) {
            Some(addr) => (room.to_owned(), addr),
            None => self.open_room(user, room, false).await?,
        };
        let change = Change::Say {
            action,
            text: text.to_owned(),
            client_id,
            mentions,
        };
        let (answer, outcome) = oneshot::channel();
        // The bot it addresses is told as soon as the room accepts it, and
        // starts while the message is being stored (`room::says`).
        let (bot, acked) = match (action, self.addressed_bot(text)) {
            (false, Some(bot)) => {
                let (acked, heard) = oneshot::channel();
                (Some(Asking { bot, acked: heard }), Some(acked))
            }
            _ => (None, None),
        };
        addr.do_send(Queued {
            apply: Apply {
                actor: user.to_owned(),
                change,
            },
            answer,
            bot,
        });
        Ok(QueuedSay {
            user: user.to_owned(),
            room: name,
            text: self.config().log_bodies.then(|| text.to_owned()),
            size: text.len(),
            outcome,
            acked,
        })
    }

    /// The second half of [`Engine::say`]: waits until the room has stored
    /// and announced the message, and audits it.
    pub(crate) async fn finish_say(&self, queued: QueuedSay) -> ChatResult<Event> {
        let QueuedSay {
            user,
            room,
            text,
            size,
            outcome,
            acked: _,
        } = queued;
        let applied = crate::room::outcome(outcome).await?;
        let event = applied.event.ok_or_else(ChatError::internal)?;
        if applied.fresh {
            crate::metrics::Metrics::bump(&self.shared().metrics.messages_in);
        }
        if let Some(text) = text {
            info!(self.audit(), "message"; "action" => "message", "user" => &user, "room" => &room,
                "id" => %event.id, "size" => size, "fresh" => applied.fresh, "text" => text);
        } else {
            info!(self.audit(), "message"; "action" => "message", "user" => &user, "room" => &room,
                "id" => %event.id, "size" => size, "fresh" => applied.fresh);
        }
        Ok(event)
    }

    /// The bot a message's text addresses, if any.
    pub(crate) fn addressed_bot(&self, text: &str) -> Option<Addr<Bot>> {
        let addressed = addressed_to(text, self.bot_names())?;
        // `bot_names` is in the same order as `bots`.
        let index = self
            .bot_names()
            .iter()
            .position(|n| std::ptr::eq(n, addressed.bot))?;
        self.bots().get(index).map(|bot| bot.addr.clone())
    }

    /// Hands a stored message to the bot it addresses, if any.
    pub(crate) fn ask_bots(&self, room: &Addr<Room>, event: &Event) {
        if let Some(bot) = self.addressed_bot(&event.text) {
            bot.do_send(Ask {
                room: room.clone(),
                event: event.clone(),
                context: None,
                pending: None,
            });
        }
    }

    /// Posts a plain message (never a command): checked, rate-limited,
    /// stored, fanned out, returned. `@bob` as the room is the direct
    /// conversation with bob.
    pub async fn post(
        &self,
        user: &str,
        room: &str,
        text: &str,
        client_id: Option<String>,
    ) -> ChatResult<Event> {
        self.say(user, room, text, client_id, false).await
    }

    /// A page of a room's history, oldest first, before `before` (an event id).
    pub async fn history(
        &self,
        user: &str,
        room: &str,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> ChatResult<HistoryPage> {
        let history = &self.config().history;
        if limit == Some(0) {
            return Err(ChatError::new(
                ErrorCode::BadFrame,
                "limit must be at least 1",
            ));
        }
        let limit = limit.unwrap_or(history.page_default).min(history.page_max);
        let before = parse_cursor("before", before)?;
        let (name, _, _) = match self.view(user, room).await {
            // A direct conversation nobody has started yet: nothing in it.
            Err(e) if e.code == ErrorCode::UnknownRoom && room.starts_with('@') => {
                return Ok(HistoryPage {
                    events: Vec::new(),
                    more: false,
                })
            }
            other => other?,
        };
        let room = name.clone();
        let page = self
            .shared()
            .store
            .read("history", move |db| db.history(&name, before, limit))
            .await?;
        debug!(self.audit(), "history read"; "action" => "history", "user" => user, "room" => &room,
            "events" => page.events.len());
        Ok(page)
    }

    /// The first page of the rooms `user` may see (see [`Engine::rooms_page`]).
    pub async fn rooms(&self, user: &str) -> ChatResult<Vec<RoomInfo>> {
        Ok(self.rooms_page(user, None, None).await?.rooms)
    }

    /// A page of the rooms `user` may see, by name, after `after`: public
    /// ones (except those `user` is banned from), and private ones and
    /// direct conversations only to their members (and admins).
    pub async fn rooms_page(
        &self,
        user: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> ChatResult<RoomsPage> {
        if limit == Some(0) {
            return Err(ChatError::new(
                ErrorCode::BadFrame,
                "limit must be at least 1",
            ));
        }
        let limit = limit.unwrap_or(ROOMS_PAGE_DEFAULT).min(ROOMS_PAGE_MAX) as usize;
        let member = user.to_owned();
        let admin = self.shared().is_admin(user);
        let after_name = after.map(str::to_owned);
        // Names are filtered and paged first; topics and member counts are
        // read for the page's rooms only.
        let (records, more) = self
            .shared()
            .store
            .read("rooms", move |db| {
                let mine: HashSet<String> = db.member_rooms(&member)?.into_iter().collect();
                let banned: HashSet<String> = db.banned_rooms(&member)?.into_iter().collect();
                // Paging compares names byte by byte, whatever the database's collation.
                let mut names: Vec<String> = db
                    .room_names()?
                    .into_iter()
                    .filter(|(name, _)| after_name.as_ref().is_none_or(|after| name > after))
                    .filter(|(name, private)| {
                        let direct = name.starts_with('@');
                        let public = !direct && !private && !banned.contains(name);
                        mine.contains(name) || public || (admin && !direct)
                    })
                    .map(|(name, _)| name)
                    .collect();
                names.sort_unstable();
                let more = names.len() > limit;
                names.truncate(limit);
                Ok((db.room_records(&names)?, more))
            })
            .await?;
        debug!(self.audit(), "rooms listed"; "action" => "rooms", "user" => user, "after" => after);
        let rooms = records
            .into_iter()
            .map(|r| RoomInfo {
                name: r.name,
                topic: r.topic,
                members: r.members,
            })
            .collect();
        Ok(RoomsPage { rooms, more })
    }

    /// A room's members, with roles and presence.
    pub async fn members(&self, user: &str, room: &str) -> ChatResult<(String, Vec<MemberInfo>)> {
        let (name, _, view) = self.view(user, room).await?;
        debug!(self.audit(), "members listed"; "action" => "who", "user" => user, "room" => &name);
        Ok((name, view.members))
    }

    /// The user's unread mentions (at most 200), now marked read.
    pub async fn take_mentions(&self, user: &str) -> ChatResult<Vec<Event>> {
        let name = user.to_owned();
        let mentions = self
            .shared()
            .store
            .call("mentions", move |db| db.take_unread_mentions(&name, 200))
            .await?;
        debug!(self.audit(), "mentions read"; "action" => "mentions", "user" => user,
            "count" => mentions.len());
        Ok(mentions)
    }
}

/// The rooms listed per page when the client names no limit.
pub const ROOMS_PAGE_DEFAULT: u32 = 100;
/// The most rooms listed per page.
pub const ROOMS_PAGE_MAX: u32 = 500;

/// A page of the room list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomsPage {
    /// The rooms, by name.
    pub rooms: Vec<RoomInfo>,
    /// Whether more rooms follow.
    pub more: bool,
}

fn change_name(change: &Change) -> &'static str {
    match change {
        Change::Join => "join",
        Change::Leave => "leave",
        Change::Say { .. } => "say",
        Change::Topic(_) => "topic",
        Change::Kick(_) => "kick",
        Change::Ban(_) => "ban",
        Change::Unban(_) => "unban",
        Change::Op(_) => "op",
        Change::Deop(_) => "deop",
        Change::Invite(_) => "invite",
        Change::Private(_) => "private",
        Change::ClearHistory => "clear_history",
        Change::ClearContext => "clear",
    }
}

/// Parses a paging cursor (`before`, `since`): an event id, or `bad_cursor`.
pub(crate) fn parse_cursor(name: &str, value: Option<&str>) -> ChatResult<Option<EventId>> {
    value
        .map(|v| {
            v.parse::<EventId>().map_err(|_| {
                ChatError::new(
                    ErrorCode::BadCursor,
                    format!("`{name}` must be an event id"),
                )
            })
        })
        .transpose()
}
