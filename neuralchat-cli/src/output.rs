//! Printing: with `--json` one JSON object per line, as the server sent it;
//! otherwise short human lines (`HH:MM:SS alice: hi`).

use anyhow::Result;
use chrono::{Local, TimeZone};
use serde_json::Value;
use std::fmt::Display;
use std::io::Write;

/// How an event line looks in human mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `HH:MM:SS alice: hi` (history, tail).
    Plain,
    /// `[HH:MM:SS] alice: hi` (interactive chat).
    Chat,
}

/// Where results go: stdout, as JSON lines or as human text.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    /// JSON lines when `json`, human text otherwise.
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Whether output is JSON lines.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints an event: the object itself in JSON mode, a line otherwise.
    /// `show_room` adds the room to message lines in human mode.
    pub fn event(&self, event: &Value, style: Style, show_room: bool) -> Result<()> {
        if self.json {
            self.value(event)
        } else {
            self.line(&format_event(event, &Local, style, show_room))
        }
    }

    /// Prints a JSON value on one line.
    pub fn value(&self, value: &Value) -> Result<()> {
        self.line(&value.to_string())
    }

    /// Prints text without ending the line (a streamed reply), and flushes it.
    pub fn partial(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        write!(out, "{text}")?;
        out.flush()?;
        Ok(())
    }

    /// Prints a line and flushes it, so pipes see it at once.
    pub fn line(&self, line: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    }
}

/// An answer frame as printed in JSON mode: without the `ref`, which only
/// means something to this client.
pub fn without_ref(mut frame: Value) -> Value {
    if let Some(object) = frame.as_object_mut() {
        object.remove("ref");
    }
    frame
}

/// One event as a human line, with times in `tz`. `show_room` names the
/// room on message and action lines (the others always name it).
pub fn format_event<Tz>(event: &Value, tz: &Tz, style: Style, show_room: bool) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let field = |name: &str| clean(event.get(name).and_then(Value::as_str).unwrap_or(""));
    let time = match style {
        Style::Plain => clock(event, tz),
        Style::Chat => format!("[{}]", clock(event, tz)),
    };
    let (author, room, text, target) = (
        field("author"),
        field("room"),
        field("text"),
        field("target"),
    );
    let stopped = if event.get("stopped").and_then(Value::as_bool) == Some(true) {
        " [stopped]"
    } else {
        ""
    };
    let place = if show_room {
        format!("{} ", room_label(&room))
    } else {
        String::new()
    };
    match event
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("message")
    {
        "message" => format!("{time} {place}{author}: {text}{stopped}"),
        "action" => format!("{time} {place}* {author} {text}"),
        "join" => format!("{time} * {author} joined {room}"),
        "leave" => format!("{time} * {author} left {room}"),
        "topic" if text.is_empty() => format!("{time} * {author} cleared the topic of {room}"),
        "topic" => format!("{time} * {author} set the topic of {room}: {text}"),
        "kick" => format!("{time} * {author} kicked {target} from {room}"),
        "ban" => format!("{time} * {author} banned {target} from {room}"),
        "unban" => format!("{time} * {author} unbanned {target} in {room}"),
        "role" => format!("{time} * {author} made {target} a {text} in {room}"),
        "invite" => format!("{time} * {author} invited {target} to {room}"),
        "privacy" => {
            let what = if text == "on" { "private" } else { "public" };
            format!("{time} * {author} made {room} {what}")
        }
        "history_cleared" => format!("{time} * {author} cleared the history of {room}"),
        "context_cleared" => {
            format!("{time} * {author} started a fresh conversation with the bots in {room}")
        }
        other => format!("{time} * {author} {} {room}", clean(other)),
    }
}

/// The start of a streamed bot reply's line: everything but its text.
pub fn reply_prefix<Tz>(event: &Value, tz: &Tz, style: Style, show_room: bool) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let mut start = event.clone();
    if let Some(object) = start.as_object_mut() {
        object.insert("text".into(), Value::String(String::new()));
        object.insert("kind".into(), Value::String("message".into()));
        object.remove("stopped");
    }
    format_event(&start, tz, style, show_room)
}

/// A mention of the user in another room, from a `mention` frame's event.
pub fn format_mention<Tz>(event: &Value, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let field = |name: &str| clean(event.get(name).and_then(Value::as_str).unwrap_or(""));
    format!(
        "[{}] * {} mentioned you in {}: {}",
        clock(event, tz),
        field("author"),
        room_label(&field("room")),
        field("text")
    )
}

/// How a room is named in a line: `#general`, or `@alice+bob` as it is.
pub fn room_label(room: &str) -> String {
    if room.starts_with('@') {
        room.to_string()
    } else {
        format!("#{room}")
    }
}

/// The event's time as `HH:MM:SS` in `tz`.
fn clock<Tz>(event: &Value, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    event
        .get("ts")
        .and_then(Value::as_i64)
        .and_then(|ms| tz.timestamp_millis_opt(ms).single())
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "--:--:--".to_string())
}

/// Escapes control characters (but newline and tab) so that a message cannot
/// drive the terminal.
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
    use chrono::Utc;
    use serde_json::json;

    fn event(kind: &str, text: &str) -> Value {
        json!({
            "id": "0190e3c0-0000-7000-8000-000000000000",
            "room": "general",
            "kind": kind,
            "author": "alice",
            "origin": "n1",
            "ts": 1_700_000_000_000i64,
            "text": text,
        })
    }

    #[test]
    fn formats_messages() {
        let ev = event("message", "hello");
        assert_eq!(
            format_event(&ev, &Utc, Style::Plain, false),
            "22:13:20 alice: hello"
        );
        assert_eq!(
            format_event(&ev, &Utc, Style::Chat, false),
            "[22:13:20] alice: hello"
        );
        assert_eq!(
            format_event(&ev, &Utc, Style::Chat, true),
            "[22:13:20] #general alice: hello"
        );
    }

    #[test]
    fn formats_joins_and_leaves() {
        assert_eq!(
            format_event(&event("join", ""), &Utc, Style::Plain, false),
            "22:13:20 * alice joined general"
        );
        assert_eq!(
            format_event(&event("leave", ""), &Utc, Style::Chat, false),
            "[22:13:20] * alice left general"
        );
    }

    #[test]
    fn formats_the_other_kinds() {
        let line = |kind: &str, text: &str, target: Option<&str>| {
            let mut ev = event(kind, text);
            if let Some(target) = target {
                ev["target"] = json!(target);
            }
            format_event(&ev, &Utc, Style::Plain, false)
        };
        assert_eq!(line("action", "waves", None), "22:13:20 * alice waves");
        assert_eq!(
            line("topic", "", None),
            "22:13:20 * alice cleared the topic of general"
        );
        assert_eq!(
            line("topic", "crabs", None),
            "22:13:20 * alice set the topic of general: crabs"
        );
        assert_eq!(
            line("kick", "", Some("bob")),
            "22:13:20 * alice kicked bob from general"
        );
        assert_eq!(
            line("ban", "", Some("bob")),
            "22:13:20 * alice banned bob from general"
        );
        assert_eq!(
            line("unban", "", Some("bob")),
            "22:13:20 * alice unbanned bob in general"
        );
        assert_eq!(
            line("role", "moderator", Some("bob")),
            "22:13:20 * alice made bob a moderator in general"
        );
        assert_eq!(
            line("invite", "", Some("bob")),
            "22:13:20 * alice invited bob to general"
        );
        assert_eq!(
            line("privacy", "on", None),
            "22:13:20 * alice made general private"
        );
        assert_eq!(
            line("privacy", "off", None),
            "22:13:20 * alice made general public"
        );
        assert_eq!(
            line("history_cleared", "", None),
            "22:13:20 * alice cleared the history of general"
        );
        assert_eq!(
            line("context_cleared", "", None),
            "22:13:20 * alice started a fresh conversation with the bots in general"
        );
        assert_eq!(line("dance", "", None), "22:13:20 * alice dance general");
    }

    #[test]
    fn formats_bot_replies_and_mentions() {
        let mut reply = event("message", "partial");
        reply["author"] = json!("Olga");
        reply["stopped"] = json!(true);
        assert_eq!(
            format_event(&reply, &Utc, Style::Chat, false),
            "[22:13:20] Olga: partial [stopped]"
        );
        assert_eq!(
            reply_prefix(&reply, &Utc, Style::Chat, false),
            "[22:13:20] Olga: "
        );
        let mut dm = event("message", "hey @bob");
        dm["room"] = json!("@alice+bob");
        assert_eq!(
            format_event(&dm, &Utc, Style::Chat, true),
            "[22:13:20] @alice+bob alice: hey @bob"
        );
        assert_eq!(
            format_mention(&event("message", "hi @bob"), &Utc),
            "[22:13:20] * alice mentioned you in #general: hi @bob"
        );
    }

    #[test]
    fn escapes_terminal_control_characters() {
        let ev = event("message", "a\u{1b}[2Jb\tc");
        assert_eq!(
            format_event(&ev, &Utc, Style::Plain, false),
            "22:13:20 alice: a\\u{1b}[2Jb\tc"
        );
    }

    #[test]
    fn tolerates_missing_fields() {
        assert_eq!(
            format_event(&json!({}), &Utc, Style::Plain, false),
            "--:--:-- : "
        );
    }

    #[test]
    fn drops_the_ref_from_answers() {
        let ack = json!({"type":"ack","ref":"3","id":"x","room":"general"});
        assert_eq!(
            without_ref(ack),
            json!({"type":"ack","id":"x","room":"general"})
        );
    }
}
