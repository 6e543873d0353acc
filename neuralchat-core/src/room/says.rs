//! A room's messages, stored in batches. Every change to a room is
//! checked in the order it arrives (`apply.rs`), but a message does not
//! wait alone for its own transaction: it joins the room's queue of
//! messages to store, and the queue goes to the store in one job (in one
//! savepoint; should that fail, each message in a savepoint of its own, so
//! one bad message fails alone) once the room has read every message
//! waiting in its mailbox. Any other change first stores the
//! queue (`commit.rs`), so events are stored and announced in the order
//! they were made; each message is answered after it is stored and fanned
//! out, as before.

use super::commit::{store_event, Applied, Check, Outcome};
use super::Room;
use crate::error::{ChatError, ChatResult};
use crate::event::Event;
use crate::metrics::Metrics;
use actix::prelude::*;
use slog::error;
use tokio::sync::oneshot;

/// A checked message waiting to be stored.
pub(super) struct PendingSay {
    /// Its event.
    pub event: Event,
    /// The mentioned users who may read the room.
    pub readers: Vec<String>,
    /// Where its sender waits for the outcome.
    pub answer: oneshot::Sender<ChatResult<Applied>>,
    /// Where the bot it addresses waits to hear whether it was stored as
    /// a new message (and so is to be answered).
    pub stored: Option<oneshot::Sender<bool>>,
}

/// Stores the room's waiting messages (sent by the room to itself once
/// its mailbox is read, so that everything waiting there joins the batch).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct FlushSays;

impl Handler<FlushSays> for Room {
    type Result = ();

    fn handle(&mut self, _: FlushSays, ctx: &mut Context<Self>) {
        self.flush_scheduled = false;
        ctx.wait(self.flush_says());
    }
}

impl Room {
    /// Queues a checked message for the next batch.
    pub(super) fn queue_say(&mut self, say: PendingSay, ctx: &mut Context<Self>) {
        self.says.push(say);
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            // Handled after the messages already in the mailbox.
            ctx.notify(FlushSays);
        }
    }

    /// Stores every waiting message in one job, then announces each and
    /// answers its sender, in order.
    pub(super) fn flush_says(&mut self) -> ResponseActFuture<Self, ()> {
        let says = std::mem::take(&mut self.says);
        if says.is_empty() {
            return Box::pin(fut::ready(()));
        }
        let metrics = &self.shared.metrics;
        Metrics::bump(&metrics.room_batches);
        Metrics::add(&metrics.room_batched_messages, says.len() as u64);
        let store = self.shared.store.clone();
        let batch: Vec<(Event, Vec<String>)> = says
            .iter()
            .map(|s| (s.event.clone(), s.readers.clone()))
            .collect();
        let job = move |db: &mut crate::store::Conn<'_>| {
            let store_all = |db: &mut crate::store::Conn<'_>| {
                batch
                    .iter()
                    .map(|(event, readers)| store_event(db, event, Check::None, readers))
                    .collect::<Result<Vec<_>, _>>()
            };
            if batch.len() == 1 {
                // Alone, its failure is the job's: nothing of it is kept.
                return Ok(store_all(db)?.into_iter().map(Ok).collect());
            }
            // All together first, in one savepoint; if that fails, nothing
            // of it is kept and each message is tried in a savepoint of its
            // own, so one message's failure takes back only its writes.
            if let Ok(outcomes) = db.savepoint(store_all) {
                return Ok(outcomes.into_iter().map(Ok).collect());
            }
            Ok(batch
                .iter()
                .map(|(event, readers)| {
                    db.savepoint(|db| store_event(db, event, Check::None, readers))
                })
                .collect::<Vec<_>>())
        };
        let run = async move { store.commit("commit_messages", job).await };
        Box::pin(run.into_actor(self).then(move |stored, room, _| {
            let outcomes: Vec<ChatResult<Outcome>> = match stored {
                Ok(each) => each
                    .into_iter()
                    .map(|outcome| {
                        outcome.map_err(|e| {
                            error!(room.shared.log, "storing a message failed"; "error" => %e);
                            ChatError::internal()
                        })
                    })
                    .collect(),
                Err(e) => says.iter().map(|_| Err(e.clone())).collect(),
            };
            let mut deliveries = Vec::new();
            let mut answers = Vec::with_capacity(says.len());
            for (say, outcome) in says.into_iter().zip(outcomes) {
                let (result, delivery) = room.settle(say.event, outcome);
                deliveries.extend(delivery);
                if let Some(stored) = say.stored {
                    // The bot's reply reaches this room only after this
                    // batch is done (the room waits on it), so it always
                    // follows the question.
                    let _ = stored.send(result.as_ref().is_ok_and(|a| a.fresh));
                }
                answers.push((say.answer, result));
            }
            room.deliver_then(deliveries, answers).map(|answers, _, _| {
                for (answer, result) in answers {
                    let _ = answer.send(result);
                }
            })
        }))
    }
}
