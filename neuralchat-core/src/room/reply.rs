//! A bot's reply streaming into the room: announced at once, then each
//! piece fanned out as it arrives, then stored as one message. A session
//! that enters mid-reply gets what was said so far.

use super::Room;
use crate::error::ChatResult;
use crate::event::{Event, EventId};
use crate::protocol::ServerFrame;
use crate::store::Appended;
use actix::prelude::*;
use serde::{Deserialize, Serialize};

/// A reply being streamed into the room.
pub(crate) struct Streaming {
    /// The reply as said so far.
    pub event: Event,
    /// The sequence number of the next piece.
    pub next_seq: u32,
}

/// How a reply made on one node streams to the others: its start, then its
/// pieces in order. Lossy by design — a node that misses a piece stops
/// showing that reply's pieces and shows the stored reply when it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ReplyProgress {
    /// The reply begins (`event.text` is empty).
    Start {
        /// The reply.
        event: Event,
    },
    /// Its next piece.
    Delta {
        /// The room.
        room: String,
        /// The reply's id.
        id: EventId,
        /// 0 for the first piece, then 1, 2, ...
        seq: u32,
        /// Text to append.
        text: String,
    },
}

impl Room {
    fn start_reply(&mut self, event: Event) {
        if self.replying.contains_key(&event.id) || self.announced.contains(&event.id) {
            return;
        }
        self.broadcast(&ServerFrame::ReplyStart {
            event: event.clone(),
        });
        self.replying
            .insert(event.id, Streaming { event, next_seq: 0 });
    }

    /// Appends piece `seq` of reply `id`. A copy of a piece shown already is
    /// dropped; after a missing piece the rest are dropped too (the stored
    /// reply will say it all).
    fn reply_delta(&mut self, id: EventId, seq: u32, text: String) -> bool {
        let Some(reply) = self.replying.get_mut(&id) else {
            return false;
        };
        if seq < reply.next_seq {
            // A second copy (it came through another broker too).
            return false;
        }
        if seq > reply.next_seq {
            // A piece went missing: show no more pieces of this reply.
            reply.next_seq = u32::MAX;
            return false;
        }
        reply.next_seq += 1;
        reply.event.text.push_str(&text);
        let frame = ServerFrame::Delta {
            room: self.name.clone(),
            id: id.to_string(),
            text,
        };
        self.broadcast(&frame);
        true
    }
}

/// A bot of this node starts replying: `event` has an empty text.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ReplyStart {
    /// The reply as it will be stored (text grows).
    pub event: Event,
}

impl Handler<ReplyStart> for Room {
    type Result = ();

    fn handle(&mut self, msg: ReplyStart, _: &mut Context<Self>) {
        self.shared.reply_progress(ReplyProgress::Start {
            event: msg.event.clone(),
        });
        self.start_reply(msg.event);
    }
}

/// The next piece of a reply of this node's bot.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ReplyDelta {
    /// The reply's id.
    pub id: EventId,
    /// 0 for the first piece, then 1, 2, ...
    pub seq: u32,
    /// Text to append.
    pub text: String,
}

impl Handler<ReplyDelta> for Room {
    type Result = ();

    fn handle(&mut self, msg: ReplyDelta, _: &mut Context<Self>) {
        self.shared.reply_progress(ReplyProgress::Delta {
            room: self.name.clone(),
            id: msg.id,
            seq: msg.seq,
            text: msg.text.clone(),
        });
        self.reply_delta(msg.id, msg.seq, msg.text);
    }
}

/// A reply streaming on another node.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RelayedReply(pub ReplyProgress);

impl Handler<RelayedReply> for Room {
    type Result = ();

    fn handle(&mut self, msg: RelayedReply, _: &mut Context<Self>) {
        match msg.0 {
            ReplyProgress::Start { event } => self.start_reply(event),
            ReplyProgress::Delta { id, seq, text, .. } => {
                self.reply_delta(id, seq, text);
            }
        }
    }
}

/// The reply is complete (or cut short): store it, then send it whole.
#[derive(Message)]
#[rtype(result = "ChatResult<()>")]
pub(crate) struct ReplyFinish {
    /// The final reply.
    pub event: Event,
}

impl Handler<ReplyFinish> for Room {
    type Result = AtomicResponse<Self, ChatResult<()>>;

    fn handle(&mut self, msg: ReplyFinish, _: &mut Context<Self>) -> Self::Result {
        let store = self.shared.store.clone();
        let stored = msg.event.clone();
        let save = async move {
            store
                .call("append_reply", move |db| db.append_event(&stored))
                .await
        };
        AtomicResponse::new(Box::pin(save.into_actor(self).map(
            move |saved, room, _| {
                room.replying.remove(&msg.event.id);
                // Clients are told the reply ended even if it could not be
                // stored (the store logged why): marked stopped, it is not
                // left hanging on their screens.
                let mut event = msg.event;
                match &saved {
                    Ok(Appended::Stored) => {
                        room.shared.committed(&event);
                        room.memory.note(&event);
                    }
                    Ok(_) => {}
                    Err(_) => event.stopped = true,
                }
                if let Some(delivery) = room.fan_out(&event) {
                    room.hub.do_send(delivery);
                }
                saved.map(|_| ())
            },
        )))
    }
}
