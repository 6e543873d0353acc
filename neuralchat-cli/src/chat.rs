//! `chat [ROOM]`: interactive chat. Lines from stdin are sent to the room
//! (a line starting with `/` is a server command, `//` sends a literal `/`;
//! `/quit` is the client's own) and the room's events are printed as
//! `[HH:MM:SS] author: text`, bot replies streaming in as they are written.
//! Works with a pipe as well: at end of input it exits once the last line is
//! answered.

use crate::client::{event_of, str_field, Client};
use crate::commands::room::{fresh_live, join_room, list, new_client_id};
use crate::commands::{open, Auth, Ctx};
use crate::error::{CliError, ErrorKind};
use crate::output::{clean, format_mention, reply_prefix, without_ref, Style};
use anyhow::{Context, Result};
use chrono::Local;
use neuralchat_core::protocol::ClientFrame;
use serde_json::Value;
use std::io::{BufRead, IsTerminal};
use tokio::sync::mpsc;

/// Added to the server's `/help` answer.
const CLIENT_HELP: &str = "  /quit  leave the chat (end of input does the same)";

/// What a line of input asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Input {
    /// Send this text (a message, or a command for the server).
    Send(String),
    /// Nothing (a blank line).
    Empty,
    /// `/quit` or `/exit`.
    Quit,
}

/// What woke the chat loop.
enum Step {
    /// A line of input, an input error, or the end of input.
    Line(Option<std::io::Result<String>>),
    /// A live frame, or the connection failing.
    Live(Result<Option<Value>>),
    /// Ctrl-C.
    Interrupted,
}

/// A bot reply being written out as it streams.
struct Streaming {
    /// The reply event's id.
    id: String,
    /// The line's start (`[HH:MM:SS] Olga: `).
    prefix: String,
    /// The text shown so far.
    text: String,
}

/// The chat's screen: the current room and a streaming reply, if any.
struct Screen<'a> {
    ctx: &'a Ctx,
    room: String,
    streaming: Option<Streaming>,
}

/// `chat [ROOM]`.
pub async fn chat(ctx: &Ctx, room: &str) -> Result<()> {
    let mut client = open(ctx, Auth::Required).await?;
    let result = run(ctx, &mut client, room).await;
    client.close().await;
    result
}

async fn run(ctx: &Ctx, client: &mut Client, room: &str) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let mut screen = Screen {
        ctx,
        room: String::new(),
        streaming: None,
    };
    let joined = join_room(client, room).await?;
    screen.enter(client, &joined, interactive)?;
    if interactive {
        eprintln!(
            "* chatting in {}: type a message, /help for commands, /quit to leave",
            screen.room
        );
    }
    let mut lines = stdin_lines();
    let mut failed = 0u64;
    loop {
        let step = tokio::select! {
            line = lines.recv() => Step::Line(line),
            live = client.next_live(None) => Step::Live(live),
            () = interrupted() => Step::Interrupted,
        };
        let line = match step {
            Step::Live(live) => {
                if let Some(frame) = live? {
                    screen.live(&frame)?;
                }
                continue;
            }
            Step::Interrupted | Step::Line(None) => break,
            Step::Line(Some(Err(e))) if e.kind() == std::io::ErrorKind::InvalidData => {
                eprintln!("error: bad_input: skipped a line that is not UTF-8");
                continue;
            }
            Step::Line(Some(Err(e))) => return Err(e).context("reading stdin"),
            Step::Line(Some(Ok(line))) => line,
        };
        let text = match parse_input(&line) {
            Input::Empty => continue,
            Input::Quit => break,
            Input::Send(text) => text,
        };
        let frame = ClientFrame::Send {
            room: screen.room.clone(),
            text: text.clone(),
            client_id: Some(new_client_id()),
        };
        match client.request(&frame).await {
            Ok(answer) => {
                // What arrived while waiting comes first, in order.
                for frame in client.take_live() {
                    screen.live(&frame)?;
                }
                screen.answer(client, &answer, interactive)?;
                if str_field(&answer, "command") == "help" && !ctx.out.is_json() {
                    screen.line(CLIENT_HELP)?;
                }
            }
            Err(e) => {
                screen.break_line()?;
                recoverable(e)?;
                failed += 1;
            }
        }
    }
    for frame in client.take_live() {
        screen.live(&frame)?;
    }
    screen.break_line()?;
    if failed > 0 {
        return Err(
            CliError::local("send_failed", format!("{failed} line(s) were refused")).into(),
        );
    }
    Ok(())
}

impl Screen<'_> {
    /// Switches to the room of a `joined` answer: prints its recent history
    /// when `show_history`, then the live frames that came with the join.
    fn enter(&mut self, client: &mut Client, joined: &Value, show_history: bool) -> Result<()> {
        let name = str_field(joined, "room");
        if !name.is_empty() {
            self.room = name.to_string();
        }
        if show_history {
            for event in list(joined, "history") {
                self.event(event)?;
            }
        }
        let buffered = client.take_live();
        for frame in fresh_live(joined, client.user(), buffered) {
            self.live(&frame)?;
        }
        Ok(())
    }

    /// Shows the answer to a line: nothing for a message (its event shows
    /// it), the output of a command, or the new room after `/join`.
    fn answer(&mut self, client: &mut Client, answer: &Value, interactive: bool) -> Result<()> {
        match str_field(answer, "type") {
            "ack" => Ok(()),
            "joined" => {
                if self.ctx.out.is_json() {
                    self.ctx.out.value(&without_ref(answer.clone()))?;
                } else {
                    self.line(&format!("* joined {}", str_field(answer, "room")))?;
                }
                self.enter(client, answer, interactive)
            }
            _ if self.ctx.out.is_json() => self.ctx.out.value(&without_ref(answer.clone())),
            "command" => {
                let text = clean(str_field(answer, "text"));
                if text.is_empty() {
                    return Ok(());
                }
                self.line(&text)
            }
            _ => Ok(()),
        }
    }

    /// Shows a live frame.
    fn live(&mut self, frame: &Value) -> Result<()> {
        if let Some(event) = event_of(frame) {
            return self.event(event);
        }
        match str_field(frame, "type") {
            "reply_start" => self.reply_start(frame),
            "delta" => self.delta(frame),
            "mention" => match frame.get("event") {
                // In this room the event itself shows it.
                Some(event) if str_field(event, "room") != self.room => {
                    if self.ctx.out.is_json() {
                        self.ctx.out.value(event)
                    } else {
                        self.line(&format_mention(event, &Local))
                    }
                }
                _ => Ok(()),
            },
            "error" => {
                self.break_line()?;
                eprintln!(
                    "error: {}: {}",
                    str_field(frame, "code"),
                    str_field(frame, "message")
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Shows an event; one that ends the streaming reply completes its line.
    fn event(&mut self, event: &Value) -> Result<()> {
        let id = str_field(event, "id");
        if let Some(streaming) = self.streaming.take_if(|s| s.id == id) {
            let full = clean(str_field(event, "text"));
            let stopped = event.get("stopped").and_then(Value::as_bool) == Some(true);
            let suffix = if stopped { " [stopped]" } else { "" };
            return match full.strip_prefix(&streaming.text) {
                Some(rest) => self.ctx.out.line(&format!("{rest}{suffix}")),
                None => {
                    self.ctx.out.line("")?;
                    self.show(event)
                }
            };
        }
        self.line_around_stream(|screen| screen.show(event))
    }

    /// Prints an event line (the event object with --json).
    fn show(&self, event: &Value) -> Result<()> {
        let elsewhere = str_field(event, "room") != self.room;
        self.ctx.out.event(event, Style::Chat, elsewhere)
    }

    /// Starts showing a streaming bot reply (human output, one at a time).
    fn reply_start(&mut self, frame: &Value) -> Result<()> {
        let Some(event) = frame.get("event") else {
            return Ok(());
        };
        if self.ctx.out.is_json() || self.streaming.is_some() {
            // Its final event shows it whole.
            return Ok(());
        }
        let elsewhere = str_field(event, "room") != self.room;
        let prefix = reply_prefix(event, &Local, Style::Chat, elsewhere);
        let text = clean(str_field(event, "text"));
        self.ctx.out.partial(&format!("{prefix}{text}"))?;
        self.streaming = Some(Streaming {
            id: str_field(event, "id").to_string(),
            prefix,
            text,
        });
        Ok(())
    }

    /// Adds a piece to the streaming reply.
    fn delta(&mut self, frame: &Value) -> Result<()> {
        let Some(streaming) = &mut self.streaming else {
            return Ok(());
        };
        if streaming.id != str_field(frame, "id") {
            return Ok(());
        }
        let piece = clean(str_field(frame, "text"));
        streaming.text.push_str(&piece);
        self.ctx.out.partial(&piece)
    }

    /// Prints a line of its own, keeping a streaming reply readable.
    fn line(&mut self, text: &str) -> Result<()> {
        let text = text.to_string();
        self.line_around_stream(move |screen| screen.ctx.out.line(&text))
    }

    /// Runs `print` on a line of its own: a streaming reply's partial line
    /// is ended first and shown again after.
    fn line_around_stream(&mut self, print: impl FnOnce(&Self) -> Result<()>) -> Result<()> {
        match &self.streaming {
            None => print(self),
            Some(streaming) => {
                let resume = format!("{}{}", streaming.prefix, streaming.text);
                self.ctx.out.line("")?;
                print(self)?;
                self.ctx.out.partial(&resume)
            }
        }
    }

    /// Ends a streaming reply's partial line (before errors and at exit).
    fn break_line(&mut self) -> Result<()> {
        match self.streaming.take() {
            Some(_) => self.ctx.out.line(""),
            None => Ok(()),
        }
    }
}

/// Reports an error the chat can go on after (the server refused one line);
/// a lost connection, a timeout or a local failure ends the chat.
fn recoverable(error: anyhow::Error) -> Result<()> {
    let server_refused = error
        .downcast_ref::<CliError>()
        .is_some_and(|e| e.kind == ErrorKind::Server);
    if server_refused {
        eprintln!("error: {error}");
        Ok(())
    } else {
        Err(error)
    }
}

/// Parses one line of input. Everything but `/quit` goes to the server,
/// commands included (it handles `//` too).
fn parse_input(line: &str) -> Input {
    let line = line.trim_end_matches(['\r', '\n']);
    match line.trim() {
        "" => Input::Empty,
        "/quit" | "/exit" => Input::Quit,
        _ => Input::Send(line.to_string()),
    }
}

/// Reads stdin line by line on its own thread (stdin cannot be read without
/// blocking); the channel ends at end of input.
fn stdin_lines() -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let stop = matches!(&line, Err(e) if e.kind() != std::io::ErrorKind::InvalidData);
            if tx.blocking_send(line).is_err() || stop {
                return;
            }
        }
    });
    rx
}

/// Resolves on Ctrl-C; never, if the signal cannot be watched.
pub async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_input_lines() {
        assert_eq!(parse_input("hello\r\n"), Input::Send("hello".into()));
        assert_eq!(parse_input("   "), Input::Empty);
        assert_eq!(parse_input("/quit"), Input::Quit);
        assert_eq!(parse_input(" /exit "), Input::Quit);
        assert_eq!(parse_input("/who"), Input::Send("/who".into()));
        assert_eq!(
            parse_input("//not a command"),
            Input::Send("//not a command".into())
        );
    }
}
