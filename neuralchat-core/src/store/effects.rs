//! The store side of the room reducer: what an event changes in the room
//! tables besides being appended. The same function runs for events made on
//! this node and for events relayed from other nodes, so two nodes holding
//! the same events hold the same members, roles, bans, invitations, topic,
//! privacy and bot context start.

use super::{Conn, NewUser, RoomSettings, StoreError};
use crate::event::{Event, EventKind, ACCOUNTS_LOG};
use crate::names::user_key;

/// The role a user gets by joining: the room's creator owns it.
pub fn join_role(creator: &str, user: &str) -> &'static str {
    if creator == user {
        "owner"
    } else {
        "member"
    }
}

/// The one rule for a room created on two nodes before either heard of the
/// other: its creator is whoever created it first. A join made at `ts` by
/// `user`, earlier than the room's creation as this node knows it (or at
/// the same millisecond by a smaller name), shows that `user` created the
/// room elsewhere first.
pub fn created_earlier(settings: &RoomSettings, user: &str, ts: i64) -> bool {
    (ts, user) < (settings.created_at, settings.creator.as_str())
}

impl Conn<'_> {
    /// Applies what `event` (already appended) changes in its room's
    /// tables. A room this node has never seen is created first (an event
    /// relayed from another node): its creator is the event's author, and a
    /// direct conversation `@a+b` gets its two members. Unknown kinds change
    /// nothing.
    pub fn apply_effects(&mut self, event: &Event) -> Result<(), StoreError> {
        if event.room == ACCOUNTS_LOG {
            return self.apply_account_effects(event);
        }
        if matches!(event.kind, EventKind::Message | EventKind::Action) {
            // A message changes nothing but history, and its room exists:
            // it is said through the room's actor, which is only opened for
            // a stored room (a relayed one is created first).
            return Ok(());
        }
        let room = event.room.as_str();
        let settings = match self.room_settings(room)? {
            Some(settings) => settings,
            None => {
                let direct = room.starts_with('@');
                self.ensure_room(room, &event.author, direct, event.ts)?;
                if let Some(pair) = room.strip_prefix('@') {
                    for member in pair.split('+') {
                        self.add_member(room, member, "member", event.ts)?;
                    }
                }
                self.room_settings(room)?
                    .ok_or_else(|| StoreError::Conflict(format!("room {room:?} vanished")))?
            }
        };
        let target = event.target.as_deref().unwrap_or_default();
        match &event.kind {
            EventKind::Join => {
                // An invitation is used up by joining.
                self.take_invite(room, &event.author)?;
                if !room.starts_with('@') && created_earlier(&settings, &event.author, event.ts) {
                    self.set_creator(room, &event.author, event.ts)?;
                    let was = settings.creator.as_str();
                    if self
                        .members(room)?
                        .iter()
                        .any(|(u, r)| u == was && r == "owner")
                    {
                        self.set_role(room, was, "member")?;
                    }
                    self.add_member(room, &event.author, "owner", event.ts)?;
                    self.set_role(room, &event.author, "owner")?;
                } else {
                    let role = join_role(&settings.creator, &event.author);
                    self.add_member(room, &event.author, role, event.ts)?;
                }
            }
            EventKind::Leave => {
                self.remove_member(room, &event.author)?;
            }
            EventKind::Kick | EventKind::Ban => {
                if event.kind == EventKind::Ban {
                    self.ban(room, target, &event.author, event.ts)?;
                }
                // Whoever is removed loses any invitation too.
                self.take_invite(room, target)?;
                self.remove_member(room, target)?;
            }
            EventKind::Unban => {
                self.unban(room, target)?;
            }
            EventKind::Role => {
                self.set_role(room, target, &event.text)?;
            }
            EventKind::Invite => {
                self.invite(room, target, &event.author, event.ts)?;
            }
            EventKind::Topic => {
                let topic = (!event.text.is_empty()).then_some(event.text.as_str());
                self.set_topic(room, topic)?;
            }
            EventKind::Privacy => {
                self.set_private(room, event.text == "on")?;
            }
            EventKind::HistoryCleared => {
                self.delete_events_before(room, event.id)?;
            }
            EventKind::ContextCleared => {
                self.set_context_from(room, event.id)?;
            }
            // Account events belong in the accounts log, nowhere else.
            EventKind::Message
            | EventKind::Action
            | EventKind::AccountCreated
            | EventKind::TokenIssued
            | EventKind::TokenRevoked
            | EventKind::Other(_) => {}
        }
        Ok(())
    }

    /// What an accounts-log event changes: users and tokens. The same name
    /// (or two look-alike names) registered on two nodes before either heard
    /// of the other resolves everywhere to the earlier registration (then
    /// the smaller hash).
    fn apply_account_effects(&mut self, event: &Event) -> Result<(), StoreError> {
        let user = event.author.as_str();
        match &event.kind {
            EventKind::AccountCreated => {
                let key = user_key(user);
                match self.insert_user(&key, user, &event.text, event.ts)? {
                    NewUser::Created => {}
                    NewUser::NameTaken => {
                        self.adopt_earlier_user(&key, user, &event.text, event.ts)?;
                    }
                    // A name that looks like one registered here (the same
                    // skeleton, another key): registered on another node
                    // before it heard of this one, or by a node that did not
                    // check. Refusing it here alone would leave the nodes
                    // disagreeing, and failing would stall replication; so
                    // it resolves like one name registered twice: the
                    // earlier registration keeps its name on every node and
                    // the other account (with its tokens) is removed. The
                    // event itself stays in the accounts log either way.
                    NewUser::LookAlike => {
                        self.adopt_earlier_look_alike(&key, user, &event.text, event.ts)?;
                    }
                }
            }
            EventKind::TokenIssued => {
                let parsed = event
                    .text
                    .split_once(' ')
                    .and_then(|(hash, expires)| Some((hash, expires.parse::<i64>().ok()?)));
                let Some((hash, expires_at)) = parsed else {
                    return Err(StoreError::Corrupt(format!("token_issued {:?}", event.id)));
                };
                self.insert_token(hash, user, event.ts, expires_at)?;
            }
            EventKind::TokenRevoked => {
                self.delete_token(&event.text)?;
            }
            _ => {}
        }
        Ok(())
    }
}
