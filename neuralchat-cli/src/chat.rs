//! `chat [ROOM]`: interactive chat in an existing room (`--create` creates
//! it). Lines from stdin are sent to the room (a line starting with `/` is
//! a server command, `//` sends a literal `/`; `/quit` is the client's own)
//! and the room's events are printed as every command prints them, bot
//! replies streaming in as they are written. With a terminal on both ends
//! it shows a prompt (`#general> `) and colour; with a pipe it is plain,
//! and at end of input it exits once the last line is answered.

use crate::api::{self, Joined};
use crate::client::Client;
use crate::commands::{require_room, with_client, Auth, Ctx};
use crate::error::{CliError, ErrorKind};
use crate::frames::{answer_json, Live};
use crate::interrupt::interrupted;
use crate::replies::ReplyStream;
use anyhow::{Context, Result};
use neuralchat_core::protocol::ServerFrame;
use neuralchat_core::Event;
use std::io::{BufRead, IsTerminal};
use tokio::sync::mpsc;

/// The client's own commands, added to the server's `/help`.
const CLIENT_COMMANDS: [(&str, &str); 1] =
    [("/quit", "leave the chat (end of input does the same)")];

/// Clears the current terminal line (the prompt).
const CLEAR_LINE: &str = "\r\x1b[2K";
/// Moves up to the line just typed and clears it (its event shows it).
const CLEAR_TYPED_LINE: &str = "\x1b[1A\x1b[2K";

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
    /// A live frame, or the connection failing (boxed: an event is large).
    Live(Box<Result<Option<Live>>>),
    /// Ctrl-C.
    Interrupted,
}

/// The chat's screen: the current room, a streaming reply, the prompt.
struct Screen<'a> {
    ctx: &'a Ctx,
    room: String,
    stream: ReplyStream,
    /// Whether to show a prompt (a terminal on stdin and stdout, no --json).
    prompting: bool,
    /// Whether the prompt is on the screen now.
    prompt_shown: bool,
}

/// `chat [ROOM] [--create]`.
pub async fn chat(ctx: &Ctx, room: &str, create: bool) -> Result<()> {
    with_client(ctx, Auth::Required, async |client| {
        run(ctx, client, room, create).await
    })
    .await
}

async fn run(ctx: &Ctx, client: &mut Client, room: &str, create: bool) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    if !create {
        require_room(client, room, true).await?;
    }
    let mut screen = Screen {
        ctx,
        room: String::new(),
        stream: ReplyStream::default(),
        prompting: interactive && ctx.out.is_terminal() && !ctx.out.is_json(),
        prompt_shown: false,
    };
    let joined = api::join(client, room, None).await?;
    screen.enter(client, &joined, interactive)?;
    if interactive {
        eprintln!(
            "* chatting in {}: type a message, /help for commands, /quit to leave",
            screen.room
        );
    }
    let mut lines = stdin_lines();
    let mut failed = 0u64;
    // One watch for Ctrl-C for the whole chat, looked at first.
    let mut interrupt = std::pin::pin!(interrupted());
    loop {
        screen.show_prompt()?;
        let step = tokio::select! {
            biased;
            () = &mut interrupt => Step::Interrupted,
            line = lines.recv() => Step::Line(line),
            live = client.next_live(None) => Step::Live(Box::new(live)),
        };
        let line = match step {
            Step::Live(live) => {
                if let Some(frame) = (*live)? {
                    screen.live(frame)?;
                }
                continue;
            }
            Step::Interrupted | Step::Line(None) => break,
            Step::Line(Some(Err(e))) if e.kind() == std::io::ErrorKind::InvalidData => {
                screen.error("error: bad_input: skipped a line that is not UTF-8")?;
                continue;
            }
            Step::Line(Some(Err(e))) => return Err(e).context("reading stdin"),
            Step::Line(Some(Ok(line))) => {
                screen.typed()?;
                line
            }
        };
        let text = match parse_input(&line) {
            Input::Empty => continue,
            Input::Quit => break,
            Input::Send(text) => text,
        };
        match api::submit(client, &screen.room, &text).await {
            Ok(answer) => {
                // What arrived while waiting comes first, in order.
                for frame in client.take_live() {
                    screen.live(frame)?;
                }
                screen.answer(client, answer, interactive)?;
            }
            Err(e) => {
                screen.stream.break_line(&ctx.out)?;
                recoverable(&mut screen, e)?;
                failed += 1;
            }
        }
    }
    for frame in client.take_live() {
        screen.live(frame)?;
    }
    screen.hide_prompt()?;
    screen.stream.break_line(&ctx.out)?;
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
    fn enter(&mut self, client: &mut Client, joined: &Joined, show_history: bool) -> Result<()> {
        self.room = joined.room.clone();
        if show_history {
            for event in &joined.history {
                self.event(event)?;
            }
        }
        let known: Vec<String> = joined.history.iter().map(|e| e.id.to_string()).collect();
        for frame in client.take_live() {
            let old = matches!(&frame, Live::Event(e) if known.contains(&e.id.to_string()));
            if !old {
                self.live(frame)?;
            }
        }
        Ok(())
    }

    /// Shows the answer to a line: nothing for a message (its event shows
    /// it), the output of a command, or the new room after `/join`.
    fn answer(
        &mut self,
        client: &mut Client,
        answer: ServerFrame,
        interactive: bool,
    ) -> Result<()> {
        match answer {
            ServerFrame::Ack { .. } => Ok(()),
            ServerFrame::Joined {
                room,
                topic,
                history,
                more,
                ..
            } => {
                let joined = Joined {
                    room,
                    topic,
                    history,
                    more,
                };
                if self.ctx.out.is_json() {
                    self.print(|out| out.json(&joined.frame()))?;
                } else {
                    self.print(|out| out.line(&format!("* joined {}", joined.room)))?;
                }
                self.enter(client, &joined, interactive)
            }
            other if self.ctx.out.is_json() => self.print(|out| out.json(&answer_json(&other))),
            ServerFrame::Command {
                command,
                text,
                data,
                ..
            } => {
                let render = self.ctx.out.render();
                let lines = if command == "help" {
                    render.help_lines(&text, &CLIENT_COMMANDS)
                } else {
                    render.command_lines(&command, &text, data.as_ref())
                };
                self.print(|out| out.lines(&lines))
            }
            _ => Ok(()),
        }
    }

    /// Shows a live frame.
    fn live(&mut self, frame: Live) -> Result<()> {
        match frame {
            Live::Event(event) => self.event(&event),
            Live::ReplyStart(event) => {
                self.hide_prompt()?;
                let elsewhere = event.room != self.room;
                self.stream.start(&self.ctx.out, &event, elsewhere)
            }
            Live::Delta { id, text, .. } => self.stream.delta(&self.ctx.out, &id, &text),
            // In this room the event itself shows it.
            Live::Mention(event) if event.room != self.room => {
                if self.ctx.out.is_json() {
                    self.print(|out| out.json(&event))
                } else {
                    let line = self.ctx.out.render().mention_line(&event);
                    self.print(|out| out.line(&line))
                }
            }
            Live::Mention(_) => Ok(()),
            Live::Notice { error, .. } => {
                self.stream.break_line(&self.ctx.out)?;
                self.error(&format!("error: {error}"))
            }
        }
    }

    /// Shows an event; one that ends the streaming reply completes its line.
    fn event(&mut self, event: &Event) -> Result<()> {
        self.hide_prompt()?;
        let elsewhere = event.room != self.room;
        self.stream.event(&self.ctx.out, event, elsewhere)
    }

    /// Prints on a line of its own (around a streaming reply).
    fn print(&mut self, print: impl FnOnce(&crate::output::Output) -> Result<()>) -> Result<()> {
        self.hide_prompt()?;
        let out = &self.ctx.out;
        self.stream.around(out, || print(out))
    }

    /// Prints an error on stderr, the prompt out of its way.
    fn error(&mut self, line: &str) -> Result<()> {
        self.hide_prompt()?;
        eprintln!("{line}");
        Ok(())
    }

    /// Shows the prompt when waiting for input (not while a reply streams).
    fn show_prompt(&mut self) -> Result<()> {
        if self.prompting && !self.prompt_shown && !self.stream.is_streaming() {
            let prompt = self.ctx.out.render().prompt(&self.room);
            self.ctx.out.partial(&prompt)?;
            self.prompt_shown = true;
        }
        Ok(())
    }

    /// Takes the prompt off the screen before something is printed.
    fn hide_prompt(&mut self) -> Result<()> {
        if self.prompt_shown {
            self.ctx.out.partial(CLEAR_LINE)?;
            self.prompt_shown = false;
        }
        Ok(())
    }

    /// A line was typed: the terminal moved past the prompt, and the
    /// typed line is cleared (its event shows it as everyone sees it).
    fn typed(&mut self) -> Result<()> {
        if self.prompting && self.prompt_shown {
            self.ctx.out.partial(CLEAR_TYPED_LINE)?;
        }
        self.prompt_shown = false;
        Ok(())
    }
}

/// Reports an error the chat can go on after (the server refused one line);
/// a lost connection, a timeout or a local failure ends the chat.
fn recoverable(screen: &mut Screen<'_>, error: anyhow::Error) -> Result<()> {
    let server_refused = error
        .downcast_ref::<CliError>()
        .is_some_and(|e| e.kind == ErrorKind::Server);
    if server_refused {
        screen.error(&format!("error: {error}"))
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
