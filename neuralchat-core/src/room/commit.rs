//! The one path every event of a room takes, whether this node made it
//! (`Apply`) or another node did (`Ingest`): one database job appends it
//! idempotently and applies its store effects; then the room's cached state
//! is reduced by it and everyone present sees it. Nothing is announced
//! unless it was stored here by this job.

use super::Room;
use crate::error::{ChatError, ChatResult};
use crate::event::{Event, EventKind};
use crate::hub::DeliverToUsers;
use crate::store::{Appended, StoreError};
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
pub(super) enum Outcome {
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
    pub(super) fn nothing() -> Self {
        Self {
            event: None,
            fresh: false,
        }
    }
}

/// Appends `event` with its store effects, in the caller's transaction,
/// and says what happened; the database job of every commit.
pub(super) fn store_event(
    db: &mut crate::store::Conn<'_>,
    event: &Event,
    check: Check,
    readers: &[String],
) -> Result<Outcome, StoreError> {
    if let Check::Join { needs_invite } = check {
        if db.is_member(&event.room, &event.author)? {
            return Ok(Outcome::AlreadyDone);
        }
        if needs_invite && !db.is_invited(&event.room, &event.author)? {
            return Ok(Outcome::Refused(ChatError::new(
                crate::error::ErrorCode::InviteOnly,
                format!(
                    "{:?} is private: ask a moderator for an invitation",
                    event.room
                ),
            )));
        }
    }
    match db.append_event(event)? {
        Appended::ClientIdTaken(earlier) if check == Check::Relayed && event.id < earlier.id => {
            db.replace_event(earlier.id, event)?;
            db.insert_mentions(event.id, &event.room, readers)?;
            Ok(Outcome::AlreadyDone)
        }
        Appended::ClientIdTaken(earlier) => Ok(Outcome::Duplicate(earlier)),
        Appended::AlreadyStored if check == Check::Relayed => Ok(Outcome::StoredElsewhere),
        Appended::AlreadyStored => Ok(Outcome::AlreadyDone),
        Appended::Stored => {
            db.apply_effects(event)?;
            db.insert_mentions(event.id, &event.room, readers)?;
            Ok(Outcome::Stored)
        }
    }
}

impl Room {
    /// Stores `event` and, if it is new here, reduces the cache by it and
    /// fans it out. `readers` are the mentioned users to note unread.
    /// Messages waiting to be stored (`says.rs`) are stored first, so the
    /// room's events are committed and announced in the order they were
    /// made.
    pub(super) fn commit(
        &mut self,
        event: Event,
        check: Check,
        readers: Vec<String>,
    ) -> ResponseActFuture<Self, ChatResult<Applied>> {
        let store = self.shared.store.clone();
        let stored = event.clone();
        let job = move |db: &mut crate::store::Conn<'_>| store_event(db, &stored, check, &readers);
        // Group commit: stored in a transaction shared with other rooms'
        // commits, answered once it has committed.
        let run = async move { store.commit("commit", job).await };
        Box::pin(self.flush_says().then(move |(), room, _| {
            run.into_actor(room).then(move |outcome, room, _| {
                let (result, delivery) = room.settle(event, outcome);
                room.deliver_then(delivery.into_iter().collect(), result)
            })
        }))
    }

    /// What a stored (or refused) event means for the room: it is
    /// announced if new here. Returns the answer for whoever made the
    /// change and the direct conversation's delivery to hand the hub.
    pub(super) fn settle(
        &mut self,
        event: Event,
        outcome: ChatResult<Outcome>,
    ) -> (ChatResult<Applied>, Option<DeliverToUsers>) {
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
                    self.reduce(&event);
                }
                Ok(Applied::nothing())
            }
            Ok(Outcome::StoredElsewhere)
                if event.id > self.opened && !self.announced.contains(&event.id) =>
            {
                delivery = self.announce(&event);
                Ok(Applied {
                    event: Some(event),
                    fresh: true,
                })
            }
            Ok(Outcome::StoredElsewhere) => Ok(Applied::nothing()),
            Ok(Outcome::Stored) => {
                delivery = self.announce(&event);
                self.shared.committed(&event);
                Ok(Applied {
                    event: Some(event),
                    fresh: true,
                })
            }
        };
        (result, delivery)
    }

    /// Hands direct conversations' copies to the hub, then answers: an ack
    /// never overtakes its event on the members' other sessions.
    pub(super) fn deliver_then<T: 'static>(
        &self,
        deliveries: Vec<DeliverToUsers>,
        answer: T,
    ) -> ResponseActFuture<Self, T> {
        let hub = self.hub.clone();
        Box::pin(
            async move {
                for delivery in deliveries {
                    let _ = hub.send(delivery).await;
                }
                answer
            }
            .into_actor(self),
        )
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
        self.active = std::time::Instant::now();
        let readers = self.mention_readers(&msg.event);
        AtomicResponse::new(Box::pin(
            self.commit(msg.event, Check::Relayed, readers)
                .map(|applied, _, _| applied.map(|a| a.fresh)),
        ))
    }
}
