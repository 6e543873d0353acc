//! The room's cached state as a function of its events: one reducer for
//! events made here and relayed ones alike (the store side is
//! `store/effects.rs`).

use super::{is_direct, Room};
use crate::event::{Event, EventKind};
use crate::permissions::Role;
use crate::store::{created_earlier, join_role};

impl Room {
    /// Brings the cached members, roles, bans, topic, privacy and bot
    /// context start in line with a stored event. Kinds that change no
    /// state (messages, invitations, unknown kinds) do nothing.
    pub(super) fn reduce(&mut self, event: &Event) {
        self.memory.note(event);
        let target = event.target.as_deref().unwrap_or_default();
        match &event.kind {
            EventKind::Join => {
                if !is_direct(&self.name)
                    && created_earlier(&self.settings, &event.author, event.ts)
                {
                    // The room was created elsewhere first (store/effects.rs).
                    let was = std::mem::replace(&mut self.settings.creator, event.author.clone());
                    self.settings.created_at = event.ts;
                    if let Some(role) = self.members.get_mut(&was) {
                        if *role == Role::Owner {
                            *role = Role::Member;
                        }
                    }
                    self.members.insert(event.author.clone(), Role::Owner);
                    return;
                }
                let role = Role::parse(join_role(&self.settings.creator, &event.author));
                self.members.entry(event.author.clone()).or_insert(role);
            }
            EventKind::Leave => self.drop_member(&event.author),
            EventKind::Kick => self.drop_member(target),
            EventKind::Ban => {
                self.drop_member(target);
                self.bans.insert(target.to_owned());
            }
            EventKind::Unban => {
                self.bans.remove(target);
            }
            EventKind::Role => {
                if let Some(role) = self.members.get_mut(target) {
                    *role = Role::parse(&event.text);
                }
            }
            EventKind::Topic => {
                self.settings.topic = (!event.text.is_empty()).then(|| event.text.clone());
            }
            EventKind::Privacy => self.settings.private = event.text == "on",
            EventKind::ContextCleared => self.settings.context_from = Some(event.id),
            EventKind::Message
            | EventKind::Action
            | EventKind::Invite
            | EventKind::HistoryCleared
            | EventKind::AccountCreated
            | EventKind::TokenIssued
            | EventKind::TokenRevoked
            | EventKind::Other(_) => {}
        }
    }

    fn drop_member(&mut self, user: &str) {
        self.members.remove(user);
        self.present.retain(|_, p| p.user != user);
    }
}
