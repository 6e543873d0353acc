//! `send ROOM TEXT`: posts to an existing room (joining it if needed),
//! prints the message as an event line (the `ack` with `--json`), and when
//! the message asks an AI bot, waits for the bot's reply and prints it as
//! it streams (the final reply event with `--json`).

use super::room::require_room;
use super::{with_client, Auth, Ctx};
use crate::api;
use crate::client::Client;
use crate::error::{server_code, CliError};
use crate::frames::{answer_json, Live};
use crate::interrupt::interrupted;
use crate::replies::ReplyStream;
use anyhow::Result;
use neuralchat_core::bots::addressed_to;
use neuralchat_core::protocol::ServerFrame;
use neuralchat_core::Event;
use tokio::time::Instant;

/// The codes of the `error` frames that refuse a question to a bot (they
/// come after the `ack`, without a `ref`).
const BOT_REFUSALS: [&str; 2] = ["bot_busy", "token_budget_spent"];

/// How `send` behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOptions {
    /// Create the room when it does not exist (`--create`).
    pub create: bool,
    /// Wait for a bot's reply when the message asks one (not `--no-wait`).
    pub wait: bool,
}

/// `send ROOM TEXT [--create] [--no-wait]`.
pub async fn send(ctx: &Ctx, room: &str, text: &str, options: SendOptions) -> Result<()> {
    with_client(ctx, Auth::Required, async |client| {
        if !options.create {
            require_room(client, room, true).await?;
        }
        // Joined on this connection, it receives the message's event and
        // the bot's reply (joining an existing room creates nothing).
        let joined = api::join(client, room, None).await?;
        let bot = if options.wait {
            asked_bot(client, &joined.room, text).await?
        } else {
            None
        };
        client.take_live();
        let answer = api::submit(client, &joined.room, text).await?;
        let id = match answer {
            ServerFrame::Ack { ref id, .. } => id.clone(),
            other => return show_command(ctx, &other),
        };
        if ctx.out.is_json() {
            ctx.out.json(&answer_json(&answer))?;
        }
        let mut wait = Wait {
            ctx,
            room: joined.room,
            question: id,
            reply: None,
            stream: ReplyStream::default(),
        };
        match bot {
            Some(bot) => wait.for_reply(client, &bot).await,
            None => wait.own_event(client),
        }
    })
    .await
}

/// The bot `text` asks, if any (by the server's list of bots and core's
/// rule for addressing one). Commands ask no bot; a server that does not
/// list its bots has none to wait for.
async fn asked_bot(client: &mut Client, room: &str, text: &str) -> Result<Option<String>> {
    let trimmed = text.trim_start();
    let message = match trimmed.strip_prefix("//") {
        Some(rest) => format!("/{rest}"),
        None if trimmed.starts_with('/') => return Ok(None),
        None => text.to_owned(),
    };
    let bots = match api::bots(client, room).await {
        Ok(bots) => bots,
        Err(e) if server_code(&e).is_some() => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(addressed_to(&message, &bots).map(|a| a.bot.name().to_owned()))
}

/// Prints the answer to a command (`/who`, `/join`, ...).
fn show_command(ctx: &Ctx, answer: &ServerFrame) -> Result<()> {
    if ctx.out.is_json() {
        return ctx.out.json(&answer_json(answer));
    }
    match answer {
        ServerFrame::Joined { room, .. } => ctx.out.line(&format!("joined {room}")),
        ServerFrame::Command {
            command,
            text,
            data,
            ..
        } => {
            let lines = ctx.out.render().command_lines(command, text, data.as_ref());
            ctx.out.lines(&lines)
        }
        _ => Ok(()),
    }
}

/// Waiting for what follows a sent message.
struct Wait<'a> {
    ctx: &'a Ctx,
    /// The room the message went to.
    room: String,
    /// The message's event id.
    question: String,
    /// The bot reply's event id, once it started.
    reply: Option<String>,
    stream: ReplyStream,
}

impl Wait<'_> {
    /// Prints the message's own event (it arrives before the `ack`).
    fn own_event(&mut self, client: &mut Client) -> Result<()> {
        for live in client.take_live() {
            if let Live::Event(event) = live {
                if event.id.to_string() == self.question {
                    return self.show(&event);
                }
            }
        }
        Ok(())
    }

    /// Prints the message's event, then the reply of `bot` as it streams,
    /// until its final event, an error refusing it, `--timeout` without a
    /// new piece, or Ctrl-C.
    async fn for_reply(&mut self, client: &mut Client, bot: &str) -> Result<()> {
        let mut deadline = Instant::now() + self.ctx.timeout;
        // One watch for Ctrl-C for the whole wait, looked at first.
        let mut interrupt = std::pin::pin!(interrupted());
        loop {
            let live = tokio::select! {
                biased;
                () = &mut interrupt => return self.stream.break_line(&self.ctx.out),
                live = client.next_live(Some(deadline)) => live,
            };
            let live = match live {
                Ok(Some(live)) => live,
                Ok(None) => {
                    self.stream.break_line(&self.ctx.out)?;
                    return Err(self.timed_out(bot).into());
                }
                Err(e) => {
                    self.stream.break_line(&self.ctx.out)?;
                    return Err(e);
                }
            };
            if self.is_progress(&live) {
                deadline = Instant::now() + self.ctx.timeout;
            }
            if self.take(live)? {
                return Ok(());
            }
        }
    }

    /// Whether a live frame is a step of the awaited reply.
    fn is_progress(&self, live: &Live) -> bool {
        match live {
            Live::ReplyStart(event) => self.answers_question(event),
            Live::Delta { id, .. } => self.reply.as_deref() == Some(id.as_str()),
            _ => false,
        }
    }

    /// Handles one live frame; `true` once the reply is complete.
    fn take(&mut self, live: Live) -> Result<bool> {
        let out = &self.ctx.out;
        match live {
            Live::Event(event) if event.id.to_string() == self.question => {
                self.show(&event)?;
            }
            Live::ReplyStart(event) if self.answers_question(&event) => {
                self.reply = Some(event.id.to_string());
                self.stream.start(out, &event, event.room != self.room)?;
            }
            Live::Delta { id, text, .. } => self.stream.delta(out, &id, &text)?,
            Live::Event(event)
                if self.reply.as_deref() == Some(event.id.to_string().as_str())
                    || self.answers_question(&event) =>
            {
                let show_room = event.room != self.room;
                self.stream.event(out, &event, show_room)?;
                return Ok(true);
            }
            // A refusal of this question (servers that do not name the
            // question are taken at their word).
            Live::Notice { error, reply_to }
                if BOT_REFUSALS.contains(&error.code.as_str())
                    && reply_to.as_ref().is_none_or(|id| *id == self.question) =>
            {
                self.stream.break_line(out)?;
                return Err(error.into());
            }
            _ => {}
        }
        Ok(false)
    }

    /// Whether `event` is a reply to the sent message.
    fn answers_question(&self, event: &Event) -> bool {
        event
            .reply_to
            .is_some_and(|id| id.to_string() == self.question)
    }

    /// Prints the sent message (human output only: `--json` printed the `ack`).
    fn show(&self, event: &Event) -> Result<()> {
        if self.ctx.out.is_json() {
            return Ok(());
        }
        let show_room = event.room != self.room;
        self.stream
            .around(&self.ctx.out, || self.ctx.out.event(event, show_room))
    }

    fn timed_out(&self, bot: &str) -> CliError {
        let what = if self.reply.is_some() {
            "stopped writing"
        } else {
            "did not answer"
        };
        CliError::timeout(format!(
            "{bot} {what} within {}s; the reply will still appear in the room (`neuralchat-cli history {}`)",
            self.ctx.timeout.as_secs_f64(),
            self.room
        ))
    }
}
