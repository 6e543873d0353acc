//! A bot's reply streaming into the room: announced at once, then each
//! piece fanned out as it arrives, then stored as one message. A session
//! that enters mid-reply gets what was said so far.

use super::Room;
use crate::error::ChatResult;
use crate::event::{Event, EventId};
use crate::protocol::ServerFrame;
use crate::store::Appended;
use actix::prelude::*;

/// A bot starts replying: `event` has an empty text.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ReplyStart {
    /// The reply as it will be stored (text grows).
    pub event: Event,
}

impl Handler<ReplyStart> for Room {
    type Result = ();

    fn handle(&mut self, msg: ReplyStart, _: &mut Context<Self>) {
        self.broadcast(&ServerFrame::ReplyStart {
            event: msg.event.clone(),
        });
        self.replying.insert(msg.event.id, msg.event);
    }
}

/// The next piece of a reply.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ReplyDelta {
    /// The reply's id.
    pub id: EventId,
    /// Text to append.
    pub text: String,
}

impl Handler<ReplyDelta> for Room {
    type Result = ();

    fn handle(&mut self, msg: ReplyDelta, _: &mut Context<Self>) {
        let Some(reply) = self.replying.get_mut(&msg.id) else {
            return;
        };
        reply.text.push_str(&msg.text);
        let frame = ServerFrame::Delta {
            room: self.name.clone(),
            id: msg.id.to_string(),
            text: msg.text,
        };
        self.broadcast(&frame);
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
                    Ok(Appended::Stored) => room.shared.committed(&event),
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
