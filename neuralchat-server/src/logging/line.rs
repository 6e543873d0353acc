//! One log record as one line. Values often come from clients (user
//! names, room names, error text), so every value is cut to
//! [`MAX_VALUE_CHARS`] and written so that it cannot end the line or
//! pass for another field: the terminal format quotes and escapes it, the
//! JSON format is JSON. Absent values (`None`) are left out.

use slog::{Key, OwnedKVList, Record, Serializer, KV};
use std::fmt::{self, Write as _};

/// The longest value written, in characters; the rest is replaced by a
/// note of how many bytes were cut.
pub const MAX_VALUE_CHARS: usize = 200;

/// A logged value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text (already cut).
    Text(String),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

/// The record's own fields, then its logger's, in order.
pub struct Fields(Vec<(Key, Value)>);

impl Fields {
    /// Gathers the fields of `record` and of the logger it came through.
    pub fn collect(record: &Record, values: &OwnedKVList) -> Self {
        let mut fields = Fields(Vec::new());
        // A serializer of our own never fails.
        let _ = record.kv().serialize(record, &mut fields);
        let _ = values.serialize(record, &mut fields);
        fields
    }
}

/// Cuts `text` to [`MAX_VALUE_CHARS`].
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE_CHARS) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…(+{} bytes)", &text[..at], text.len() - at),
    }
}

impl Serializer for Fields {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments) -> slog::Result {
        let text = match val.as_str() {
            Some(text) => cut(text),
            None => cut(&val.to_string()),
        };
        self.0.push((key, Value::Text(text)));
        Ok(())
    }
    fn emit_str(&mut self, key: Key, val: &str) -> slog::Result {
        self.0.push((key, Value::Text(cut(val))));
        Ok(())
    }
    fn emit_none(&mut self, _key: Key) -> slog::Result {
        Ok(())
    }
    fn emit_bool(&mut self, key: Key, val: bool) -> slog::Result {
        self.0.push((key, Value::Bool(val)));
        Ok(())
    }
    fn emit_i64(&mut self, key: Key, val: i64) -> slog::Result {
        self.0.push((key, Value::Int(val.into())));
        Ok(())
    }
    fn emit_u64(&mut self, key: Key, val: u64) -> slog::Result {
        self.0.push((key, Value::Int(val.into())));
        Ok(())
    }
    fn emit_i32(&mut self, key: Key, val: i32) -> slog::Result {
        self.emit_i64(key, val.into())
    }
    fn emit_u32(&mut self, key: Key, val: u32) -> slog::Result {
        self.emit_u64(key, val.into())
    }
    fn emit_usize(&mut self, key: Key, val: usize) -> slog::Result {
        self.0.push((key, Value::Int(val as i128)));
        Ok(())
    }
    fn emit_isize(&mut self, key: Key, val: isize) -> slog::Result {
        self.0.push((key, Value::Int(val as i128)));
        Ok(())
    }
    fn emit_f64(&mut self, key: Key, val: f64) -> slog::Result {
        self.0.push((key, Value::Float(val)));
        Ok(())
    }
}

/// The time of a line: RFC 3339, UTC, milliseconds (written directly, not
/// through a format string parsed for every line).
fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Characters that are written escaped: they could break a line, hide
/// text or reorder it on a terminal.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
            | '\u{061c}' | '\u{feff}' | '\u{180e}')
}

/// `text` as a terminal value: bare when it is plain, otherwise quoted
/// with `"`, `\` and unsafe characters escaped.
fn terminal_value(out: &mut String, text: &str) {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_whitespace() && !must_escape(c) && !matches!(c, '"' | '\\' | '='));
    if plain {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if must_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `2026-11-25T17:30:00.123Z INFO message key=value key="a value"`.
pub fn terminal(record: &Record, fields: &Fields) -> Vec<u8> {
    let mut out = String::with_capacity(160);
    out.push_str(&timestamp());
    out.push(' ');
    out.push_str(record.level().as_short_str());
    out.push(' ');
    let message = cut(&record.msg().to_string());
    // The message is written bare unless it holds something unsafe.
    if message.chars().any(|c| must_escape(c) || c == '"') {
        terminal_value(&mut out, &message);
    } else {
        out.push_str(&message);
    }
    for (key, value) in &fields.0 {
        out.push(' ');
        out.push_str(key);
        out.push('=');
        match value {
            Value::Text(text) => terminal_value(&mut out, text),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Float(x) => {
                let _ = write!(out, "{x}");
            }
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// One JSON object: `ts`, `level`, `msg`, then the fields.
pub fn json(record: &Record, fields: &Fields) -> Vec<u8> {
    let mut object = serde_json::Map::new();
    object.insert("ts".into(), timestamp().into());
    object.insert("level".into(), record.level().as_short_str().into());
    object.insert("msg".into(), cut(&record.msg().to_string()).into());
    for (key, value) in &fields.0 {
        if object.contains_key(*key) {
            // The record's own value wins over its logger's.
            continue;
        }
        let value = match value {
            Value::Text(text) => serde_json::Value::from(text.as_str()),
            Value::Int(n) => i64::try_from(*n)
                .map(serde_json::Value::from)
                .or_else(|_| u64::try_from(*n).map(serde_json::Value::from))
                .unwrap_or_else(|_| n.to_string().into()),
            Value::Float(x) => serde_json::Value::from(*x),
            Value::Bool(b) => serde_json::Value::from(*b),
        };
        object.insert((*key).to_owned(), value);
    }
    let mut out = serde_json::to_vec(&object).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use slog::{o, Drain, Logger};
    use std::sync::{Arc, Mutex};

    /// Keeps the lines a logger writes, in one format.
    #[derive(Clone)]
    struct Capture {
        json: bool,
        lines: Arc<Mutex<Vec<u8>>>,
    }

    impl Drain for Capture {
        type Ok = ();
        type Err = slog::Never;
        fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), slog::Never> {
            let fields = Fields::collect(record, values);
            let line = if self.json {
                json(record, &fields)
            } else {
                terminal(record, &fields)
            };
            self.lines.lock().unwrap().extend(line);
            Ok(())
        }
    }

    fn logged(json: bool, log: impl Fn(&Logger)) -> String {
        let capture = Capture {
            json,
            lines: Arc::default(),
        };
        let logger = Logger::root(capture.clone().fuse(), o!("transport" => "websocket"));
        log(&logger);
        let bytes = capture.lines.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn lines_start_with_a_utc_time_to_the_millisecond() {
        let stamp = timestamp();
        let parsed = chrono::DateTime::parse_from_rfc3339(&stamp).unwrap();
        assert_eq!(stamp.len(), "2026-11-26T03:20:00.123Z".len(), "{stamp}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
            "{stamp}"
        );
        assert_eq!(parsed.offset().local_minus_utc(), 0);
        let line = logged(false, |log| slog::info!(log, "hello"));
        let first = line.split(' ').next().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(first).is_ok(),
            "{line}"
        );
        assert_eq!(first.len(), stamp.len(), "{line}");
    }

    const FORGED: &str = "evil\n2026-11-25T00:00:00 INFO login ok action=login_ok user=rootadmin";

    #[test]
    fn a_newline_in_a_value_cannot_forge_a_line() {
        for json in [false, true] {
            let text = logged(
                json,
                |log| slog::warn!(log, "login failed"; "action" => "login_failed", "user" => FORGED),
            );
            assert_eq!(text.lines().count(), 1, "{text}");
            assert!(!text.contains("\nINFO"), "{text}");
        }
        let terminal = logged(false, |log| slog::info!(log, "x"; "user" => FORGED));
        assert!(
            terminal.contains(
                r#"user="evil\n2026-11-25T00:00:00 INFO login ok action=login_ok user=rootadmin""#
            ),
            "{terminal}"
        );
    }

    #[test]
    fn quotes_escapes_and_terminal_controls_are_escaped() {
        let text = logged(
            false,
            |log| slog::info!(log, "x"; "a" => "say \"hi\" \\o/", "b" => "\u{1b}[31mred\u{7}", "c" => "abc\u{202e}def", "d" => ""),
        );
        assert!(text.contains(r#"a="say \"hi\" \\o/""#), "{text}");
        assert!(text.contains(r#"b="\u{1b}[31mred\u{7}""#), "{text}");
        assert!(text.contains(r#"c="abc\u{202e}def""#), "{text}");
        assert!(text.contains(r#"d="""#), "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(65_000);
        for json in [false, true] {
            let text = logged(json, |log| slog::info!(log, "register"; "user" => &long));
            assert!(text.len() < 400, "{} bytes", text.len());
            assert!(text.contains("…(+64800 bytes)"), "{text}");
        }
    }

    #[test]
    fn absent_values_are_left_out_and_numbers_stay_numbers() {
        let none: Option<u64> = None;
        let text = logged(
            true,
            |log| slog::info!(log, "bot reply"; "first_token_ms" => none, "tokens" => 7u64, "ok" => true),
        );
        let record: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert!(record.get("first_token_ms").is_none(), "{record}");
        assert_eq!(record["tokens"], 7);
        assert_eq!(record["ok"], true);
        assert_eq!(record["transport"], "websocket");
        assert_eq!(record["msg"], "bot reply");
        assert!(record["ts"].as_str().unwrap().ends_with('Z'));
        let plain = logged(
            false,
            |log| slog::info!(log, "bot reply"; "first_token_ms" => none),
        );
        assert!(!plain.contains("first_token_ms"), "{plain}");
        // RFC 3339 with a year and a zone.
        assert!(plain.starts_with("20") && plain.contains('T') && plain[..24].ends_with('Z'));
    }
}
