//! The bot actor: one per configured bot. In each room it answers questions
//! one at a time, in order, from a bounded queue with a per-user limit;
//! `/stop` cancels the reply in progress.

use super::backend::LlmClient;
use super::config::BotConfig;
use super::reply::{self, Job, Pending};
use crate::error::{ChatError, ErrorCode};
use crate::event::{Event, EventId};
use crate::hub::{DeliverToUsers, Hub};
use crate::protocol::ServerFrame;
use crate::room::Room;
use crate::shared::Shared;
use actix::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A question waiting for the bot.
struct Question {
    /// The room's actor.
    room: Addr<Room>,
    /// The message that asked.
    event: Event,
    /// The bot's context from the room's memory (`None`: read it).
    context: Option<Vec<Event>>,
    /// What it still waits for, when it was asked before it was stored.
    pending: Option<Pending>,
}

/// The question being answered.
struct Running {
    /// Who asked it.
    asker: String,
    /// Stops it; taken once used.
    stop: Option<oneshot::Sender<()>>,
}

/// One room's line of questions.
#[derive(Default)]
struct Line {
    /// Waiting, oldest first.
    waiting: VecDeque<Question>,
    /// The question being answered.
    running: Option<Running>,
}

/// A bot persona backed by a model server.
pub(crate) struct Bot {
    /// Its configuration.
    config: Arc<BotConfig>,
    /// The model server client.
    client: LlmClient,
    /// Engine state.
    shared: Arc<Shared>,
    /// For telling a user their question was refused.
    hub: Addr<Hub>,
    /// Questions per room.
    lines: HashMap<String, Line>,
}

impl Bot {
    /// A bot over a client for its backend.
    pub fn new(config: BotConfig, client: LlmClient, shared: Arc<Shared>, hub: Addr<Hub>) -> Self {
        Self {
            config: Arc::new(config),
            client,
            shared,
            hub,
            lines: HashMap::new(),
        }
    }

    /// Starts the next question of a room's line if none is running.
    fn pump(&mut self, room: &str, ctx: &mut Context<Self>) {
        let Some(line) = self.lines.get_mut(room) else {
            return;
        };
        if line.running.is_some() {
            return;
        }
        let Some(question) = line.waiting.pop_front() else {
            self.lines.remove(room);
            return;
        };
        let (stop, stopped) = oneshot::channel();
        line.running = Some(Running {
            asker: question.event.author.clone(),
            stop: Some(stop),
        });
        let job = Job {
            config: self.config.clone(),
            client: self.client.clone(),
            shared: self.shared.clone(),
            hub: self.hub.clone(),
            room: question.room,
            question: question.event,
            context: question.context,
            pending: question.pending,
        };
        let room = room.to_owned();
        ctx.spawn(
            reply::run(job, stopped)
                .into_actor(self)
                .map(move |_, bot, ctx| {
                    if let Some(line) = bot.lines.get_mut(&room) {
                        line.running = None;
                    }
                    bot.pump(&room, ctx);
                }),
        );
    }
}

/// Tells `user` that their question to a bot was refused.
pub(super) fn refuse(hub: &Addr<Hub>, user: &str, error: ChatError, question: EventId) {
    hub.do_send(DeliverToUsers {
        users: vec![user.to_owned()],
        frame: ServerFrame::bot_refusal(error, question).encode(),
        skip: Vec::new(),
    });
}

impl Actor for Bot {
    type Context = Context<Self>;
}

/// A message addressed to the bot.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Ask {
    /// The room's actor.
    pub room: Addr<Room>,
    /// The question.
    pub event: Event,
    /// The room's latest messages before it, then it (`None`: the bot
    /// reads them from the store).
    pub context: Option<Vec<Event>>,
    /// What the question still waits for; `None` when it is stored
    /// already. The bot answers only a new message, and says nothing
    /// before it is stored and acknowledged, but prepares meanwhile.
    pub pending: Option<Pending>,
}

impl Handler<Ask> for Bot {
    type Result = ();

    fn handle(&mut self, msg: Ask, ctx: &mut Context<Self>) {
        let (limit, per_user) = (self.config.queue_limit, self.config.per_user_queue);
        let name = self.config.name.clone();
        let asker = msg.event.author.clone();
        let line = self.lines.entry(msg.event.room.clone()).or_default();
        let running_mine = line.running.as_ref().is_some_and(|r| r.asker == asker);
        let waiting_mine = line
            .waiting
            .iter()
            .filter(|q| q.event.author == asker)
            .count();
        let refusal = if line.waiting.len() >= limit {
            Some(format!(
                "{name} has {limit} questions waiting here; ask again later"
            ))
        } else if waiting_mine + usize::from(running_mine) >= per_user {
            Some(format!(
                "{name} is still on your earlier questions; wait for them"
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            let error = ChatError::new(ErrorCode::BotBusy, message);
            let (hub, question) = (self.hub.clone(), msg.event.id);
            // Refused only once the question is stored: the refusal comes
            // after it, and a message that was not stored is not refused.
            ctx.spawn(
                async move {
                    if reply::stored_as_new(msg.pending).await {
                        refuse(&hub, &asker, error, question);
                    }
                }
                .into_actor(self),
            );
            return;
        }
        let room = msg.event.room.clone();
        // A question that waits behind another is answered after that
        // reply (and perhaps a `/clear`): it reads its context from the
        // store when its turn comes, not from the room's memory of now.
        let waits = line.running.is_some() || !line.waiting.is_empty();
        line.waiting.push_back(Question {
            room: msg.room,
            event: msg.event,
            context: if waits { None } else { msg.context },
            pending: msg.pending,
        });
        self.pump(&room, ctx);
    }
}

/// A message addressed to a bot, on its way to its room: the room hands it
/// to the bot as soon as it accepts it.
pub(crate) struct Asking {
    /// The bot.
    pub bot: Addr<Bot>,
    /// Fires (or is dropped) once the sender has its `ack`.
    pub acked: oneshot::Receiver<()>,
}

/// Cancels the reply in progress in a room; answers whether there was one.
#[derive(Message)]
#[rtype(result = "bool")]
pub(crate) struct StopReplies {
    /// The room.
    pub room: String,
}

impl Handler<StopReplies> for Bot {
    type Result = bool;

    fn handle(&mut self, msg: StopReplies, _: &mut Context<Self>) -> bool {
        let Some(line) = self.lines.get_mut(&msg.room) else {
            return false;
        };
        // The reply task ends soon after and starts the next question.
        match line.running.as_mut().and_then(|r| r.stop.take()) {
            Some(stop) => stop.send(()).is_ok(),
            None => false,
        }
    }
}
