//! The one path every event of a room takes, whether this node made it
//! (`Apply`) or another node did (`Ingest`): one database job appends it
//! idempotently and applies its store effects; then the room's cached state
//! is reduced by it and everyone present sees it. Nothing is announced
//! unless it was stored here by this job.

use super::Room;
use crate::error::{ChatError, ChatResult};
use crate::event::{Event, EventKind};
use crate::hub::DeliverToUsers;
use crate::store::Appended;
use actix::prelude::*;

/// What only the store can still refuse, or find already done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing beyond appending the event.
    None,
    /// A relayed event: where it and another event hold the same client id
    /// (a retry that reached two nodes before either heard of the other),
    /// the smaller id wins on every node.
    Relayed,
    /// A join: already a member (through another node sharing the
    /// database) means nothing to announce; a private room needs an
    /// invitation.
    Join {
        /// Whether an invitation is needed.
        needs_invite: bool,
    },
}

/// What the store job reports back.
enum Outcome {
    /// Appended now, with its effects.
    Stored,
    /// A retry: another event already holds the client id; that one.
    Duplicate(Box<Event>),
    /// The store already held the event or its change; nothing new.
    AlreadyDone,
    /// A relayed event the store already held: stored by another node
    /// sharing the database (or a second copy); announced here if this
    /// room has not announced it.
    StoredElsewhere,
    /// Refused on what only the store knows (an invitation).
    Refused(ChatError),
}

/// The outcome of a change.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    /// The event announcing it (for a retry, the one stored first).
    pub event: Option<Event>,
    /// False when nothing new happened (a retried message, a second join,
    /// an event relayed again).
    pub fresh: bool,
}

impl Applied {
    fn nothing() -> Self {
        Self {
            event: None,
            fresh: false,
        }
    }
}

impl Room {
    /// Stores `event` and, if it is new here, reduces the cache by it and
    /// fans it out. `readers` are the mentioned users to note unread.
    pub(super) fn commit(
        &mut self,
        event: Event,
        check: Check,
        readers: Vec<String>,
    ) -> ResponseActFuture<Self, ChatResult<Applied>> {
        let store = self.shared.store.clone();
        let stored = event.clone();
        let job = move |db: &mut crate::store::Conn<'_>| {
            if let Check::Join { needs_invite } = check {
                if db.is_member(&stored.room, &stored.author)? {
                    return Ok(Outcome::AlreadyDone);
                }
                if needs_invite && !db.is_invited(&stored.room, &stored.author)? {
                    return Ok(Outcome::Refused(ChatError::new(
                        crate::error::ErrorCode::InviteOnly,
                        format!(
                            "{:?} is private: ask a moderator for an invitation",
                            stored.room
                        ),
                    )));
                }
            }
            match db.append_event(&stored)? {
                Appended::ClientIdTaken(earlier)
                    if check == Check::Relayed && stored.id < earlier.id =>
                {
                    db.replace_event(earlier.id, &stored)?;
                    db.insert_mentions(stored.id, &stored.room, &readers)?;
                    Ok(Outcome::AlreadyDone)
                }
                Appended::ClientIdTaken(earlier) => Ok(Outcome::Duplicate(earlier)),
                Appended::AlreadyStored if check == Check::Relayed => Ok(Outcome::StoredElsewhere),
                Appended::AlreadyStored => Ok(Outcome::AlreadyDone),
                Appended::Stored => {
                    db.apply_effects(&stored)?;
                    db.insert_mentions(stored.id, &stored.room, &readers)?;
                    Ok(Outcome::Stored)
                }
            }
        };
        // Group commit: stored in a transaction shared with other rooms'
        // commits, answered once it has committed.
        let run = async move { store.commit("commit", job).await };
        Box::pin(run.into_actor(self).then(move |outcome, room, _| {
            let mut delivery = None;
            let result = match outcome {
                Err(e) | Ok(Outcome::Refused(e)) => Err(e),
                Ok(Outcome::Duplicate(earlier)) => Ok(Applied {
                    event: Some(*earlier),
                    fresh: false,
                }),
                Ok(Outcome::AlreadyDone) => {
                    // A join found done in the store: the cache catches up.
                    if event.kind == EventKind::Join {
                        room.reduce(&event);
                    }
                    Ok(Applied::nothing())
                }
                Ok(Outcome::StoredElsewhere)
                    if event.id > room.opened && !room.announced.contains(&event.id) =>
                {
                    delivery = room.announce(&event);
                    Ok(Applied {
                        event: Some(event),
                        fresh: true,
                    })
                }
                Ok(Outcome::StoredElsewhere) => Ok(Applied::nothing()),
                Ok(Outcome::Stored) => {
                    delivery = room.announce(&event);
                    room.shared.committed(&event);
                    Ok(Applied {
                        event: Some(event),
                        fresh: true,
                    })
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
        }))
    }

    /// A stored event reaches everyone who may see it, then the cache
    /// follows it. Returns the direct conversation's delivery to hand the
    /// hub, if any.
    fn announce(&mut self, event: &Event) -> Option<DeliverToUsers> {
        self.announced.insert(event.id);
        // A reply streamed from another node ends with its stored event.
        self.replying.remove(&event.id);
        // Fan out before dropping a kicked user's sessions, so they see why.
        let delivery = self.fan_out(event);
        self.notify_mentions(event);
        if event.kind == EventKind::Invite {
            if let Some(target) = &event.target {
                self.notify_invite(target, event);
            }
        }
        self.reduce(event);
        delivery
    }
}

/// An event made on another node, relayed to this one: stored once (a
/// second copy changes nothing), then it takes the same path as a local
/// change. No permission is checked again: the origin node checked it.
#[derive(Message)]
#[rtype(result = "ChatResult<bool>")]
pub(crate) struct Ingest {
    /// The relayed event.
    pub event: Event,
}

impl Handler<Ingest> for Room {
    type Result = AtomicResponse<Self, ChatResult<bool>>;

    fn handle(&mut self, msg: Ingest, _: &mut Context<Self>) -> Self::Result {
        let readers = self.mention_readers(&msg.event);
        AtomicResponse::new(Box::pin(
            self.commit(msg.event, Check::Relayed, readers)
                .map(|applied, _, _| applied.map(|a| a.fresh)),
        ))
    }
}
