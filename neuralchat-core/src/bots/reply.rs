//! One answer: read the room's context, stream the model's reply into the
//! room piece by piece, store it, and account for it.

use super::backend::{BackendError, CompletionRequest, LlmClient};
use super::config::BotConfig;
use super::context;
use crate::error::{ChatError, ErrorCode};
use crate::event::{Event, EventKind};
use crate::hub::Hub;
use crate::room::{ReplyDelta, ReplyFinish, ReplyStart, Room};
use crate::shared::Shared;
use actix::Addr;
use futures_util::StreamExt;
use slog::{debug, info, warn};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// Everything one answer needs.
pub(crate) struct Job {
    /// The bot.
    pub config: Arc<BotConfig>,
    /// Its model server.
    pub client: LlmClient,
    /// Engine state.
    pub shared: Arc<Shared>,
    /// For refusals.
    pub hub: Addr<Hub>,
    /// The room's actor.
    pub room: Addr<Room>,
    /// The question.
    pub question: Event,
    /// The room's latest messages before it, then it (`None`: read them).
    pub context: Option<Vec<Event>>,
    /// What the question still waits for (`None`: it is stored).
    pub pending: Option<Pending>,
}

/// What a question handed to its bot before it was stored waits for.
pub(crate) struct Pending {
    /// Whether it was stored as a new message: sent once its room has
    /// stored and announced it (a room that stopped first: not stored).
    stored: oneshot::Receiver<bool>,
    /// Fires (or is dropped) once its sender has its `ack`.
    acked: oneshot::Receiver<()>,
    /// What `stored` said, when it was read before it was awaited.
    known: Option<bool>,
}

impl Pending {
    /// Waits for the two signals.
    pub fn new(stored: oneshot::Receiver<bool>, acked: oneshot::Receiver<()>) -> Self {
        Self {
            stored,
            acked,
            known: None,
        }
    }

    /// Whether it is known already that the question was not stored as a
    /// new message (a retry, a failed write): then nothing is prepared.
    fn known_not_new(&mut self) -> bool {
        if self.known.is_none() {
            self.known = match self.stored.try_recv() {
                Ok(fresh) => Some(fresh),
                Err(oneshot::error::TryRecvError::Closed) => Some(false),
                Err(oneshot::error::TryRecvError::Empty) => None,
            };
        }
        self.known == Some(false)
    }
}

/// Whether a question is to be answered: it was stored as a new message.
/// Returns once it is announced and its sender acknowledged, so that
/// whatever the bot says comes after both.
pub(crate) async fn stored_as_new(pending: Option<Pending>) -> bool {
    let Some(Pending {
        stored,
        acked,
        known,
    }) = pending
    else {
        return true;
    };
    let fresh = match known {
        Some(fresh) => fresh,
        None => stored.await.unwrap_or(false),
    };
    if fresh {
        // A sender that left drops it: nothing to wait for then.
        let _ = acked.await;
    }
    fresh
}

/// What the room is told when the model server failed: the bot's name,
/// why, and for a server that cannot be reached, where it should be and
/// what to do. The text starts with [`FAILURE_PREFIX`] after the name, so
/// the bot's context leaves such notes out.
fn failure_note(bot: &str, error: &BackendError, client: &LlmClient) -> String {
    match error {
        BackendError::Connect(_) => format!(
            "{bot}{FAILURE_PREFIX}{} ({})",
            error.reason(),
            super::health::unreachable_hint(client)
        ),
        _ => format!("{bot}{FAILURE_PREFIX}{}", error.reason()),
    }
}

/// How a failure note continues after the bot's name.
pub(crate) const FAILURE_PREFIX: &str = " is unavailable: ";

/// How an answer ended, for the audit record.
enum Ending {
    /// The model finished.
    Done,
    /// `/stop`.
    Stopped,
    /// The backend failed.
    Failed(BackendError),
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// What the bot reads for `question`: the messages before it, then the
/// question (which may not be stored yet), at most `context_messages` in
/// all; from the room's memory when the room gave it, or else the store.
async fn context_events(
    config: &BotConfig,
    shared: &Shared,
    question: &Event,
    context: Option<Vec<Event>>,
) -> Vec<Event> {
    match context {
        Some(mut events) => {
            let keep = config.context_messages.max(1) as usize;
            events.drain(..events.len().saturating_sub(keep));
            events
        }
        None => {
            // The latest messages stored now, the question (if stored)
            // moved to the end: a reply to an earlier question that was
            // answered while this one waited has a later id than it.
            let (room_name, keep, asked) = (
                question.room.clone(),
                config.context_messages.saturating_sub(1) as usize,
                question.id,
            );
            let mut events = shared
                .store
                .read("bot_context", move |db| {
                    let from = db.room_settings(&room_name)?.and_then(|s| s.context_from);
                    db.messages_after(
                        &room_name,
                        from,
                        u32::try_from(keep + 1).unwrap_or(u32::MAX),
                    )
                })
                .await
                .unwrap_or_default();
            events.retain(|e| e.id != asked);
            events.drain(..events.len().saturating_sub(keep));
            events.push(question.clone());
            events
        }
    }
}

/// Answers one question; returns when the reply is stored (or refused).
pub(crate) async fn run(job: Job, mut stop: oneshot::Receiver<()>) {
    let Job {
        config,
        client,
        shared,
        hub,
        room,
        question,
        context,
        mut pending,
    } = job;
    let bot = config.name.clone();
    if pending.as_mut().is_some_and(Pending::known_not_new) {
        debug!(shared.log, "question not stored as new; not answered"; "bot" => &bot, "question" => %question.id);
        return;
    }
    let asker = question.author.clone();
    let day = today();

    if let Some(budget) = config.daily_token_budget {
        let (b, u, d) = (bot.clone(), asker.clone(), day.clone());
        let spent = shared
            .store
            .read("bot_usage", move |db| db.bot_usage(&b, &u, &d))
            .await
            .unwrap_or(0);
        if spent >= budget as i64 {
            if !stored_as_new(pending.take()).await {
                return;
            }
            let error = ChatError::new(
                ErrorCode::TokenBudgetSpent,
                format!("you have used your {budget} tokens with {bot} for today; try again tomorrow (UTC)"),
            );
            super::actor::refuse(&hub, &asker, error, question.id);
            info!(shared.audit, "bot budget spent"; "action" => "bot_refused", "bot" => &bot, "user" => &asker, "spent" => spent);
            return;
        }
    }

    let events = context_events(&config, &shared, &question, context).await;
    let context = context::build(&config.system_prompt, &bot, &events, config.context_chars);
    let request = CompletionRequest {
        model: config.model.clone(),
        messages: context.turns,
        max_tokens: config.max_tokens,
        temperature: config.temperature,
    };

    let mut reply = shared.new_event(
        &question.room,
        EventKind::Message,
        &bot,
        String::new(),
        None,
    );
    reply.reply_to = Some(question.id);

    // The model is called at once; the reply starts in the room only once
    // the question is stored and announced there.
    let started = Instant::now();
    let mut call = Box::pin(client.stream(&request));
    let mut told = Box::pin(stored_as_new(pending));
    let mut answered = None;
    let fresh = loop {
        tokio::select! {
            biased;
            fresh = &mut told => break fresh,
            result = &mut call, if answered.is_none() => answered = Some(result),
        }
    };
    if !fresh {
        // Dropping the call aborts the request.
        debug!(shared.log, "question not stored as new; not answered"; "bot" => &bot, "question" => %question.id);
        return;
    }
    // `send`, not `do_send`: the room's mailbox is bounded, so a busy room
    // holds the bot back instead of queueing every token without limit.
    let _ = room
        .send(ReplyStart {
            event: reply.clone(),
        })
        .await;

    let mut first_token_ms: Option<u128> = None;
    let mut seq = 0u32;
    let mut usage = None;
    let called = match answered {
        Some(result) => result,
        None => call.await,
    };
    let ending = match called {
        Err(e) => Ending::Failed(e),
        Ok(mut stream) => loop {
            tokio::select! {
                biased;
                _ = &mut stop => break Ending::Stopped,
                next = stream.next() => match next {
                    None => break Ending::Done,
                    Some(Err(e)) => break Ending::Failed(e),
                    Some(Ok(delta)) => {
                        if delta.usage.is_some() {
                            usage = delta.usage;
                        }
                        // A model's control characters are dropped, never stored or shown.
                        let text = crate::text::without_refused(&delta.text);
                        if !text.is_empty() {
                            first_token_ms.get_or_insert_with(|| started.elapsed().as_millis());
                            reply.text.push_str(&text);
                            let _ = room.send(ReplyDelta { id: reply.id, seq, text }).await;
                            seq = seq.saturating_add(1);
                        }
                        if delta.done {
                            break Ending::Done;
                        }
                    }
                },
            }
            // Dropping the stream here aborts the HTTP request.
        },
    };
    match &ending {
        Ending::Failed(e) => shared.bot_health.record(&bot, Err(e)),
        _ => shared.bot_health.record(&bot, Ok(())),
    }
    let outcome = match &ending {
        Ending::Done => "done".to_owned(),
        Ending::Stopped => {
            reply.stopped = true;
            "stopped".to_owned()
        }
        Ending::Failed(e) => {
            reply.failed = true;
            warn!(shared.log, "bot backend failed"; "bot" => &bot, "error" => %e);
            format!("failed: {}", e.reason())
        }
    };
    // One rule for every ending: whatever the stored text adds (a failure
    // note, or "…" for a reply with no words) is streamed as a last delta,
    // so what clients streamed equals what is stored.
    let tail = match &ending {
        Ending::Failed(e) if reply.text.is_empty() => failure_note(&bot, e, &client),
        Ending::Failed(e) => format!("\n[{}]", failure_note(&bot, e, &client)),
        _ if reply.text.is_empty() => "…".to_owned(),
        _ => String::new(),
    };
    if !tail.is_empty() {
        reply.text.push_str(&tail);
        let _ = room
            .send(ReplyDelta {
                id: reply.id,
                seq,
                text: tail,
            })
            .await;
    }
    if let Err(e) = room
        .send(ReplyFinish {
            event: reply.clone(),
        })
        .await
    {
        warn!(shared.log, "bot reply not stored"; "bot" => &bot, "error" => %e);
    }

    let metrics = &shared.metrics;
    crate::metrics::Metrics::bump(&metrics.bot_replies);
    if reply.failed {
        crate::metrics::Metrics::bump(&metrics.bot_failures);
    }
    if let Some(ms) = first_token_ms {
        crate::metrics::Metrics::bump(&metrics.bot_first_tokens);
        crate::metrics::Metrics::add(
            &metrics.bot_first_token_ms_sum,
            u64::try_from(ms).unwrap_or(u64::MAX),
        );
    }
    let (prompt_tokens, completion_tokens) =
        usage.map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
    let spent = i64::from(prompt_tokens) + i64::from(completion_tokens);
    if config.daily_token_budget.is_some() && spent > 0 {
        let (b, u) = (bot.clone(), asker.clone());
        let _ = shared
            .store
            .call("add_bot_usage", move |db| {
                db.add_bot_usage(&b, &u, &day, spent)
            })
            .await;
    }
    let context_ids: Vec<String> = context.event_ids.iter().map(ToString::to_string).collect();
    let base = slog::o!("action" => "bot_call", "bot" => bot, "backend" => client.kind().as_str(),
        "model" => config.model.clone(), "room" => question.room.clone(), "user" => asker,
        "question" => question.id.to_string(), "reply" => reply.id.to_string(),
        "context" => context_ids.join(","), "prompt_tokens" => prompt_tokens,
        "completion_tokens" => completion_tokens,
        "first_token_ms" => first_token_ms.map(|v| v as u64),
        "total_ms" => started.elapsed().as_millis() as u64, "outcome" => outcome);
    let audit = shared.audit.new(base);
    if shared.config.log_bodies {
        info!(audit, "bot call"; "text" => &reply.text);
    } else {
        info!(audit, "bot call");
    }
}
