//! Running slash commands. A message that starts with `/` is a command
//! (`//` sends a literal `/`); the same rules apply whatever the transport.

use super::Engine;
use crate::commands::{help_text, parse, Command};
use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::event::{Event, EventKind};
use crate::room::Change;
use serde_json::{json, Value};
use slog::info;

/// What running a command asks of the caller's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Enter this room (after `/join`).
    Enter(String),
    /// Stop showing this room (after `/leave`).
    Leave(String),
    /// Drop what is shown of this room (after `/clear`).
    Clear(String),
}

/// A command's output, for the caller only.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutput {
    /// The command's name.
    pub command: &'static str,
    /// The room it ran in.
    pub room: Option<String>,
    /// Human-readable output.
    pub text: String,
    /// The same as data.
    pub data: Option<Value>,
    /// What the caller's session should do.
    pub effect: Option<Effect>,
}

/// The result of submitting text to a room.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// A message (or `/me`, `/msg`) was stored and fanned out.
    Message(Event),
    /// A command ran; its output is for the caller.
    Command(CommandOutput),
}

fn output(command: &'static str, room: &str, text: impl Into<String>) -> CommandOutput {
    CommandOutput {
        command,
        room: Some(room.to_owned()),
        text: text.into(),
        data: None,
        effect: None,
    }
}

/// One line per event, as `/history` and `/mentions` show them.
fn event_line(e: &Event) -> String {
    let time = chrono::DateTime::from_timestamp_millis(e.ts)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default();
    let target = e.target.as_deref().unwrap_or("");
    let what = match &e.kind {
        EventKind::Message => format!("{}: {}", e.author, e.text),
        EventKind::Action => format!("* {} {}", e.author, e.text),
        EventKind::Join => format!("* {} joined", e.author),
        EventKind::Leave => format!("* {} left", e.author),
        EventKind::Topic => format!("* {} set the topic: {}", e.author, e.text),
        EventKind::Kick => format!("* {} kicked {target}", e.author),
        EventKind::Ban => format!("* {} banned {target}", e.author),
        EventKind::Unban => format!("* {} unbanned {target}", e.author),
        EventKind::Role => format!("* {} made {target} {}", e.author, e.text),
        EventKind::Invite => format!("* {} invited {target}", e.author),
        EventKind::Privacy => format!("* {} turned private {}", e.author, e.text),
        EventKind::HistoryCleared => format!("* {} cleared the history", e.author),
        EventKind::ContextCleared => {
            format!("* {} started a fresh conversation with the bots", e.author)
        }
        EventKind::AccountCreated
        | EventKind::TokenIssued
        | EventKind::TokenRevoked
        | EventKind::Other(_) => format!("* {} ({})", e.author, e.kind.as_str()),
    };
    format!("[{time}] #{} {what}", e.room)
}

/// The message `text` posts, or `None` when it is a command: text that
/// starts with `/` is one, except `//`, which posts a literal `/`.
pub(crate) fn message_text(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    let trimmed = text.trim_start();
    if let Some(literal) = trimmed.strip_prefix("//") {
        return Some(format!("/{literal}").into());
    }
    (!trimmed.starts_with('/')).then_some(text.into())
}

impl Engine {
    /// Submits text to a room as `user`: a command when it starts with `/`,
    /// otherwise a message.
    pub async fn submit(
        &self,
        user: &str,
        room: &str,
        text: &str,
        client_id: Option<String>,
    ) -> ChatResult<Submitted> {
        if let Some(message) = message_text(text) {
            return self
                .post(user, room, &message, client_id)
                .await
                .map(Submitted::Message);
        }
        let command = parse(text.trim_start());
        let name = command.as_ref().map_or("?", Command::name);
        let result = match command {
            Ok(command) => self.run_command(user, room, command, client_id).await,
            Err(e) => Err(e),
        };
        let code = result
            .as_ref()
            .err()
            .map(|e| e.code.as_str())
            .unwrap_or("ok");
        info!(self.audit(), "command"; "action" => "command", "user" => user, "room" => room,
            "command" => name, "result" => code);
        result
    }

    async fn run_command(
        &self,
        user: &str,
        room: &str,
        command: Command,
        client_id: Option<String>,
    ) -> ChatResult<Submitted> {
        let out = |o: CommandOutput| Ok(Submitted::Command(o));
        match command {
            Command::Help(topic) => {
                let text = help_text(topic.as_deref()).ok_or_else(|| {
                    ChatError::new(ErrorCode::UnknownCommand, "no such command (try /help)")
                })?;
                out(output("help", room, text))
            }
            Command::Me(action) => self
                .say(user, room, &action, client_id, true)
                .await
                .map(Submitted::Message),
            Command::Msg { user: to, text } => self
                .post(user, &format!("@{to}"), &text, client_id)
                .await
                .map(Submitted::Message),
            Command::Join(target) => {
                let (name, _) = self.join_membership(user, &target).await?;
                let mut o = output("join", &name, format!("joined {name}"));
                o.effect = Some(Effect::Enter(name));
                out(o)
            }
            Command::Leave => {
                let name = self.leave(user, room).await?;
                let mut o = output("leave", &name, format!("left {name}"));
                o.effect = Some(Effect::Leave(name));
                out(o)
            }
            Command::Rooms(after) => {
                let page = self.rooms_page(user, after.as_deref(), None).await?;
                let mut lines: Vec<String> = page
                    .rooms
                    .iter()
                    .map(|r| match &r.topic {
                        Some(t) => format!("{} ({}) — {t}", r.name, members_text(r.members)),
                        None => format!("{} ({})", r.name, members_text(r.members)),
                    })
                    .collect();
                if let Some(last) = page.rooms.last().filter(|_| page.more) {
                    lines.push(format!("more: /rooms {}", last.name));
                }
                let mut o = output("rooms", room, lines.join("\n"));
                o.data = Some(json!({ "rooms": page.rooms, "more": page.more }));
                out(o)
            }
            Command::Who => {
                let (name, members) = self.members(user, room).await?;
                let lines: Vec<String> = members
                    .iter()
                    .map(|m| {
                        format!(
                            "{} ({}{})",
                            m.user,
                            m.role,
                            if m.online { ", online" } else { "" }
                        )
                    })
                    .collect();
                let mut o = output("who", &name, lines.join("\n"));
                o.data = Some(json!({ "members": members }));
                out(o)
            }
            Command::Topic(None) => {
                let (name, _, view) = self.view(user, room).await?;
                let text = match &view.topic {
                    Some(t) => format!("topic of {name}: {t}"),
                    None => format!("{name} has no topic"),
                };
                let mut o = output("topic", &name, text);
                o.data = Some(json!({ "topic": view.topic }));
                out(o)
            }
            Command::History(n) => {
                let limit = n.unwrap_or(20).min(self.config().history.page_max);
                let page = self.history(user, room, None, Some(limit)).await?;
                let lines: Vec<String> = page.events.iter().map(event_line).collect();
                let mut o = output("history", room, lines.join("\n"));
                o.data = Some(json!({ "events": page.events, "more": page.more }));
                out(o)
            }
            Command::Mentions => {
                let events = self.take_mentions(user).await?;
                let text = if events.is_empty() {
                    "no unread mentions".to_owned()
                } else {
                    events.iter().map(event_line).collect::<Vec<_>>().join("\n")
                };
                let mut o = output("mentions", room, text);
                o.data = Some(json!({ "mentions": events }));
                out(o)
            }
            Command::Clear => {
                let (name, addr) = self.open_room(user, room, false).await?;
                self.apply(&addr, &name, user, Change::ClearContext).await?;
                let mut o = output(
                    "clear",
                    &name,
                    "view cleared; the room's bots start a fresh conversation",
                );
                o.effect = Some(Effect::Clear(name));
                out(o)
            }
            Command::ClearHistory => {
                let (name, addr) = self.open_room(user, room, false).await?;
                self.apply(&addr, &name, user, Change::ClearHistory).await?;
                out(output(
                    "clear",
                    &name,
                    format!("the stored history of {name} was deleted"),
                ))
            }
            Command::Bots => {
                let bots: Vec<Value> = self
                    .bots()
                    .iter()
                    .map(|b| {
                        json!({"name": b.config.name, "aliases": b.config.aliases,
                        "backend": b.config.backend.as_str(), "model": b.config.model})
                    })
                    .collect();
                let lines: Vec<String> = self
                    .bots()
                    .iter()
                    .map(|b| {
                        let aliases = if b.config.aliases.is_empty() {
                            String::new()
                        } else {
                            format!(" (also {})", b.config.aliases.join(", "))
                        };
                        format!(
                            "{}{aliases}: model {} via {}",
                            b.config.name,
                            b.config.model,
                            b.config.backend.as_str()
                        )
                    })
                    .collect();
                let text = if lines.is_empty() {
                    "no bots here".to_owned()
                } else {
                    lines.join("\n")
                };
                let mut o = output("bots", room, text);
                o.data = Some(json!({ "bots": bots }));
                out(o)
            }
            Command::Stop => {
                let (name, _, view) = self.view(user, room).await?;
                if !view.members.iter().any(|m| m.user == user) {
                    return Err(ChatError::new(ErrorCode::NotMember, "join the room first"));
                }
                let stopped = self.stop_replies(&name).await?;
                // A reply may be running on another node of the mesh.
                let relayed = self.shared().stops.send(name.clone()).is_ok();
                let text = match (stopped.is_empty(), relayed) {
                    (false, _) => format!("stopped {}", stopped.join(", ")),
                    (true, false) => "no bot is replying here".to_owned(),
                    (true, true) => {
                        "no bot is replying here on this node; the other nodes were asked to stop"
                            .to_owned()
                    }
                };
                let mut o = output("stop", &name, text);
                o.data = Some(json!({ "stopped": stopped }));
                out(o)
            }
            Command::Topic(Some(text)) => {
                self.change(user, room, Change::Topic(Some(text)), "topic", "topic set")
                    .await
            }
            Command::Private(on) => {
                let text = if on {
                    "the room is now invite-only"
                } else {
                    "the room is now public"
                };
                self.change(user, room, Change::Private(on), "private", text)
                    .await
            }
            Command::Kick(who) => {
                self.change_user(user, room, &who, Change::Kick, "kick", "was kicked")
                    .await
            }
            Command::Ban(who) => {
                self.change_user(user, room, &who, Change::Ban, "ban", "was banned")
                    .await
            }
            Command::Unban(who) => {
                self.change_user(user, room, &who, Change::Unban, "unban", "was unbanned")
                    .await
            }
            Command::Op(who) => {
                self.change_user(user, room, &who, Change::Op, "op", "is now a moderator")
                    .await
            }
            Command::Deop(who) => {
                self.change_user(user, room, &who, Change::Deop, "deop", "is now a member")
                    .await
            }
            Command::Invite(who) => {
                self.change_user(user, room, &who, Change::Invite, "invite", "was invited")
                    .await
            }
        }
    }

    async fn change(
        &self,
        user: &str,
        room: &str,
        change: Change,
        command: &'static str,
        text: &str,
    ) -> ChatResult<Submitted> {
        let (name, addr) = self.open_room(user, room, false).await?;
        self.apply(&addr, &name, user, change).await?;
        Ok(Submitted::Command(output(command, &name, text)))
    }

    async fn change_user(
        &self,
        user: &str,
        room: &str,
        target: &str,
        make: fn(String) -> Change,
        command: &'static str,
        done: &str,
    ) -> ChatResult<Submitted> {
        let target = self.registered_name(target).await?;
        let text = format!("{target} {done}");
        self.change(user, room, make(target), command, &text).await
    }
}

/// "1 member", "2 members".
fn members_text(count: u64) -> String {
    if count == 1 {
        "1 member".to_owned()
    } else {
        format!("{count} members")
    }
}
