//! The one way the CLI shows things to people: events, bot replies,
//! mentions, rooms, members and command output, from core's types. Every
//! path (`history`, `tail`, `send`, `chat`, `/history` in the chat) prints
//! through this file, so an event looks the same everywhere:
//! `[HH:MM:SS] alice: hello`, `[HH:MM:SS] * alice joined #general`.

use chrono::{Local, TimeZone, Utc};
use neuralchat_core::protocol::{MemberInfo, RoomInfo};
use neuralchat_core::{Event, EventKind};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Display;

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const YELLOW: &str = "\x1b[33m";
/// Author colours (red, green, yellow, blue, magenta, cyan), picked by name.
const AUTHOR_COLOURS: [&str; 6] = [
    "\x1b[1;31m",
    "\x1b[1;32m",
    "\x1b[1;33m",
    "\x1b[1;34m",
    "\x1b[1;35m",
    "\x1b[1;36m",
];

/// Turns events and answers into lines of text, with or without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renderer {
    color: bool,
    /// Times in UTC instead of local time (for tests).
    utc: bool,
}

impl Renderer {
    /// A renderer that colours its lines when `color` (ANSI escapes).
    pub fn new(color: bool) -> Self {
        Self { color, utc: false }
    }

    /// An event as one line; `show_room` names the room on message and
    /// action lines (the other kinds always name it).
    pub fn event_line(&self, event: &Event, show_room: bool) -> String {
        let time = self.time(event.ts);
        let (author, room, text) = (
            self.author(&event.author),
            room_label(&event.room),
            clean(&event.text),
        );
        let target = clean(event.target.as_deref().unwrap_or(""));
        let place = if show_room {
            format!("{room} ")
        } else {
            String::new()
        };
        let notice = match &event.kind {
            EventKind::Message => {
                let stopped = if event.stopped {
                    self.paint(YELLOW, " [stopped]")
                } else {
                    String::new()
                };
                return format!("{time} {place}{author}: {text}{stopped}");
            }
            EventKind::Action => return format!("{time} {place}* {author} {text}"),
            EventKind::Join => format!("{author} joined {room}"),
            EventKind::Leave => format!("{author} left {room}"),
            EventKind::Topic if text.is_empty() => format!("{author} cleared the topic of {room}"),
            EventKind::Topic => format!("{author} set the topic of {room}: {text}"),
            EventKind::Kick => format!("{author} kicked {target} from {room}"),
            EventKind::Ban => format!("{author} banned {target} from {room}"),
            EventKind::Unban => format!("{author} unbanned {target} in {room}"),
            EventKind::Role => format!("{author} made {target} a {text} in {room}"),
            EventKind::Invite => format!("{author} invited {target} to {room}"),
            EventKind::Privacy if text == "on" => format!("{author} made {room} private"),
            EventKind::Privacy => format!("{author} made {room} public"),
            EventKind::HistoryCleared => format!("{author} cleared the history of {room}"),
            EventKind::ContextCleared => {
                format!("{author} started a fresh conversation with the bots in {room}")
            }
            other => format!("{author} {} {room}", clean(other.as_str())),
        };
        format!("{time} {}", self.paint(DIM, &format!("* {notice}")))
    }

    /// The start of a streaming bot reply's line: everything but its text
    /// (`[HH:MM:SS] Olga: `).
    pub fn reply_prefix(&self, event: &Event, show_room: bool) -> String {
        let place = if show_room {
            format!("{} ", room_label(&event.room))
        } else {
            String::new()
        };
        format!(
            "{} {place}{}: ",
            self.time(event.ts),
            self.author(&event.author)
        )
    }

    /// What ends a reply's line: ` [stopped]` when it was cut short.
    pub fn reply_suffix(&self, event: &Event) -> String {
        if event.stopped {
            self.paint(YELLOW, " [stopped]")
        } else {
            String::new()
        }
    }

    /// A mention of the user (`[HH:MM:SS] * alice mentioned you in #general: hi`).
    pub fn mention_line(&self, event: &Event) -> String {
        format!(
            "{} * {} mentioned you in {}: {}",
            self.time(event.ts),
            self.author(&event.author),
            room_label(&event.room),
            clean(&event.text)
        )
    }

    /// A room (`general  3 members  topic`).
    pub fn room_line(&self, room: &RoomInfo) -> String {
        let noun = if room.members == 1 {
            "member"
        } else {
            "members"
        };
        let mut line = format!("{}  {} {noun}", clean(&room.name), room.members);
        if let Some(topic) = room.topic.as_deref().filter(|t| !t.is_empty()) {
            line.push_str("  ");
            line.push_str(&clean(topic));
        }
        line
    }

    /// A member (`alice  owner  online`).
    pub fn member_line(&self, member: &MemberInfo) -> String {
        format!(
            "{}  {}  {}",
            clean(&member.user),
            clean(&member.role),
            if member.online { "online" } else { "offline" }
        )
    }

    /// A command's output as lines: lists the CLI knows (`/who`, `/rooms`,
    /// `/history`, `/mentions`) are rendered from their data the same way
    /// as the subcommands print them; anything else is the server's text.
    pub fn command_lines(&self, command: &str, text: &str, data: Option<&Value>) -> Vec<String> {
        let rendered = match command {
            "who" => list::<MemberInfo>(data, "members")
                .map(|m| m.iter().map(|m| self.member_line(m)).collect()),
            "rooms" => list::<RoomInfo>(data, "rooms")
                .map(|r| r.iter().map(|r| self.room_line(r)).collect()),
            "history" => list::<Event>(data, "events")
                .map(|e| e.iter().map(|e| self.event_line(e, false)).collect()),
            "mentions" => list::<Event>(data, "mentions").map(|e| match e.as_slice() {
                [] => vec!["no unread mentions".to_owned()],
                events => events.iter().map(|e| self.mention_line(e)).collect(),
            }),
            _ => None,
        };
        rendered.unwrap_or_else(|| {
            let text = clean(text);
            text.lines().map(str::to_owned).collect()
        })
    }

    /// `/help`'s lines with the client's own commands added, aligned with
    /// the server's columns.
    pub fn help_lines(&self, text: &str, extra: &[(&str, &str)]) -> Vec<String> {
        let mut lines: Vec<String> = clean(text).lines().map(str::to_owned).collect();
        let column = help_column(&lines);
        for (usage, help) in extra {
            let pad = column.saturating_sub(usage.chars().count()).max(2);
            lines.push(format!("{usage}{}{help}", " ".repeat(pad)));
        }
        lines
    }

    /// The prompt of the interactive chat (`#general> `).
    pub fn prompt(&self, room: &str) -> String {
        format!("{} ", self.paint(BOLD, &format!("{}>", room_label(room))))
    }

    /// `[HH:MM:SS]` for a time in milliseconds since the Unix epoch.
    fn time(&self, ms: i64) -> String {
        let clock = if self.utc {
            clock(&Utc, ms)
        } else {
            clock(&Local, ms)
        };
        self.paint(DIM, &format!("[{clock}]"))
    }

    /// An author's name, in its colour.
    fn author(&self, name: &str) -> String {
        let name = clean(name);
        if !self.color {
            return name;
        }
        let hash = name
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let colour = AUTHOR_COLOURS[hash as usize % AUTHOR_COLOURS.len()];
        format!("{colour}{name}{RESET}")
    }

    /// `text` in `style`, when colouring.
    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }
}

/// The array `name` of a command's data as core types; `None` when it is
/// missing or not what this client knows.
fn list<T: DeserializeOwned>(data: Option<&Value>, name: &str) -> Option<Vec<T>> {
    serde_json::from_value(data?.get(name)?.clone()).ok()
}

/// Where the explanations start in `/help`'s lines (`/who   list ...`):
/// the widest usage plus two spaces.
fn help_column(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|line| line.starts_with('/'))
        .filter_map(|line| {
            let gap = line.find("  ")?;
            let rest = line.get(gap..)?;
            let spaces = rest.len() - rest.trim_start_matches(' ').len();
            Some(line.get(..gap)?.chars().count() + spaces)
        })
        .max()
        .unwrap_or(0)
}

/// How a room is named in a line: `#general`, or `@alice+bob` as it is.
pub fn room_label(room: &str) -> String {
    let room = clean(room);
    if room.starts_with('@') {
        room
    } else {
        format!("#{room}")
    }
}

/// `HH:MM:SS` in `tz`, or `--:--:--` for a time out of range.
fn clock<Tz>(tz: &Tz, ms: i64) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "--:--:--".to_owned())
}

/// Escapes control characters (but newline and tab) so that nothing the
/// server relays can drive the terminal.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain() -> Renderer {
        Renderer {
            color: false,
            utc: true,
        }
    }

    fn event(kind: &str, text: &str) -> Event {
        serde_json::from_value(json!({
            "id": "0190e3c0-0000-7000-8000-000000000000",
            "room": "general",
            "kind": kind,
            "author": "alice",
            "origin": "n1",
            "ts": 1_700_000_000_000i64,
            "text": text,
        }))
        .unwrap()
    }

    #[test]
    fn formats_messages() {
        let ev = event("message", "hello");
        assert_eq!(plain().event_line(&ev, false), "[22:13:20] alice: hello");
        assert_eq!(
            plain().event_line(&ev, true),
            "[22:13:20] #general alice: hello"
        );
        let mut dm = event("message", "hey");
        dm.room = "@alice+bob".into();
        assert_eq!(
            plain().event_line(&dm, true),
            "[22:13:20] @alice+bob alice: hey"
        );
    }

    #[test]
    fn formats_every_kind() {
        let line = |kind: &str, text: &str, target: Option<&str>| {
            let mut ev = event(kind, text);
            ev.target = target.map(str::to_owned);
            plain().event_line(&ev, false)
        };
        let cases = [
            (line("action", "waves", None), "* alice waves"),
            (line("join", "", None), "* alice joined #general"),
            (line("leave", "", None), "* alice left #general"),
            (
                line("topic", "", None),
                "* alice cleared the topic of #general",
            ),
            (
                line("topic", "crabs", None),
                "* alice set the topic of #general: crabs",
            ),
            (
                line("kick", "", Some("bob")),
                "* alice kicked bob from #general",
            ),
            (
                line("ban", "", Some("bob")),
                "* alice banned bob from #general",
            ),
            (
                line("unban", "", Some("bob")),
                "* alice unbanned bob in #general",
            ),
            (
                line("role", "moderator", Some("bob")),
                "* alice made bob a moderator in #general",
            ),
            (
                line("invite", "", Some("bob")),
                "* alice invited bob to #general",
            ),
            (line("privacy", "on", None), "* alice made #general private"),
            (line("privacy", "off", None), "* alice made #general public"),
            (
                line("history_cleared", "", None),
                "* alice cleared the history of #general",
            ),
            (
                line("context_cleared", "", None),
                "* alice started a fresh conversation with the bots in #general",
            ),
            (line("dance", "", None), "* alice dance #general"),
        ];
        for (got, want) in cases {
            assert_eq!(got, format!("[22:13:20] {want}"));
        }
    }

    #[test]
    fn formats_bot_replies_and_mentions() {
        let mut reply = event("message", "partial");
        reply.author = "Olga".into();
        reply.stopped = true;
        assert_eq!(
            plain().event_line(&reply, false),
            "[22:13:20] Olga: partial [stopped]"
        );
        assert_eq!(plain().reply_prefix(&reply, false), "[22:13:20] Olga: ");
        assert_eq!(plain().reply_suffix(&reply), " [stopped]");
        assert_eq!(
            plain().mention_line(&event("message", "hi @bob")),
            "[22:13:20] * alice mentioned you in #general: hi @bob"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let ev = event("message", "hello");
        let coloured = Renderer {
            color: true,
            utc: true,
        }
        .event_line(&ev, false);
        assert!(coloured.contains('\x1b') && coloured.contains("hello"));
        assert!(!plain().event_line(&ev, false).contains('\x1b'));
    }

    #[test]
    fn escapes_terminal_control_characters() {
        let ev = event("message", "a\u{1b}[2Jb\tc");
        assert_eq!(
            plain().event_line(&ev, false),
            "[22:13:20] alice: a\\u{1b}[2Jb\tc"
        );
    }

    #[test]
    fn formats_rooms_and_members_with_the_right_plural() {
        let room = |name: &str, members: u64, topic: Option<&str>| RoomInfo {
            name: name.into(),
            members,
            topic: topic.map(str::to_owned),
        };
        assert_eq!(
            plain().room_line(&room("general", 3, None)),
            "general  3 members"
        );
        assert_eq!(
            plain().room_line(&room("rust", 1, Some("crabs"))),
            "rust  1 member  crabs"
        );
        let member = MemberInfo {
            user: "alice".into(),
            role: "owner".into(),
            online: true,
        };
        assert_eq!(plain().member_line(&member), "alice  owner  online");
    }

    #[test]
    fn command_output_uses_the_same_lines() {
        let data = json!({"rooms": [{"name": "rust", "members": 1}]});
        assert_eq!(
            plain().command_lines("rooms", "rust (1 members)", Some(&data)),
            ["rust  1 member"]
        );
        let data = json!({"events": [event("message", "hi")], "more": false});
        assert_eq!(
            plain().command_lines("history", "[x] #general alice: hi", Some(&data)),
            ["[22:13:20] alice: hi"]
        );
        let data = json!({"members": [{"user": "bob", "role": "member", "online": false}]});
        assert_eq!(
            plain().command_lines("who", "bob (member)", Some(&data)),
            ["bob  member  offline"]
        );
        assert_eq!(
            plain().command_lines(
                "mentions",
                "no unread mentions",
                Some(&json!({"mentions": []}))
            ),
            ["no unread mentions"]
        );
        // Data this client cannot read: the server's text.
        assert_eq!(
            plain().command_lines("who", "a\nb", Some(&json!({"members": 5}))),
            ["a", "b"]
        );
        assert_eq!(
            plain().command_lines("topic", "", None),
            Vec::<String>::new()
        );
    }

    #[test]
    fn help_extras_line_up_with_the_server_columns() {
        let text = "Commands (start a message with // to send a literal /):\n\
                    /help [command]  lists commands\n\
                    /who             members";
        let lines = plain().help_lines(text, &[("/quit", "leave the chat")]);
        assert_eq!(lines.last().unwrap(), "/quit            leave the chat");
        let column = |l: &str| l.find("members").or_else(|| l.find("leave"));
        assert_eq!(column(&lines[2]), column(&lines[3]));
        assert_eq!(
            plain().help_lines("no columns", &[("/quit", "x")])[1],
            "/quit  x"
        );
    }

    #[test]
    fn prompts_name_the_room() {
        assert_eq!(plain().prompt("general"), "#general> ");
        assert_eq!(plain().prompt("@alice+bob"), "@alice+bob> ");
    }
}
