//! One log record as one line. Values often come from clients (user
//! names, room names, error text), so every value is cut to
//! [`MAX_VALUE_CHARS`] and written so that it cannot end the line or
//! pass for another field: the terminal format quotes and escapes it, the
//! JSON format is JSON. Absent values (`None`) are left out.

use slog::{Key, OwnedKVList, Record, Serializer, KV};
use std::cell::RefCell;
use std::fmt::{self, Write as _};

/// The longest value written, in characters; the rest is replaced by a
/// note of how many bytes were cut.
pub const MAX_VALUE_CHARS: usize = 200;

/// Cuts `text` to [`MAX_VALUE_CHARS`].
fn cut(text: &str) -> String {
    match cut_at(text) {
        None => text.to_owned(),
        Some(at) => format!("{}…(+{} bytes)", &text[..at], text.len() - at),
    }
}

/// Where `text` is cut, if it is longer than [`MAX_VALUE_CHARS`].
fn cut_at(text: &str) -> Option<usize> {
    // Fewer bytes than the limit in characters: nothing to count.
    if text.len() <= MAX_VALUE_CHARS {
        return None;
    }
    text.char_indices().nth(MAX_VALUE_CHARS).map(|(at, _)| at)
}

/// Writes the time of a line: RFC 3339, UTC, milliseconds. The text up to
/// the second is formatted once a second per thread and reused: a chat
/// server logs thousands of lines a second.
fn write_timestamp(out: &mut impl fmt::Write) {
    thread_local! {
        /// The second last formatted on this thread, and its text.
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    let second = now.timestamp();
    // A leap second reads as 1000 ms and more; keep three digits.
    let millis = now.timestamp_subsec_millis().min(999);
    let cached = SECOND.try_with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            cached.1.clear();
            let _ = write!(cached.1, "{}", now.format("%Y-%m-%dT%H:%M:%S"));
            cached.0 = second;
        }
        let _ = out.write_str(&cached.1);
    });
    if cached.is_err() {
        // A record logged while this thread's locals are torn down.
        let _ = write!(out, "{}", now.format("%Y-%m-%dT%H:%M:%S"));
    }
    let _ = write!(out, ".{millis:03}Z");
}

/// The time of a line as its own string.
#[cfg(test)]
fn timestamp() -> String {
    let mut out = String::with_capacity(24);
    write_timestamp(&mut out);
    out
}

/// Characters that are written escaped: they could break a line, hide
/// text or reorder it on a terminal.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
            | '\u{061c}' | '\u{feff}' | '\u{180e}')
}

/// `text` as a terminal value, cut to [`MAX_VALUE_CHARS`]: bare when it
/// is plain, otherwise quoted with `"`, `\` and unsafe characters escaped.
fn terminal_value(out: &mut String, text: &str) {
    let cut = cut_at(text);
    let head = &text[..cut.unwrap_or(text.len())];
    let plain = cut.is_none()
        && !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_whitespace() && !must_escape(c) && !matches!(c, '"' | '\\' | '='));
    if plain {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in head.chars() {
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
    if let Some(at) = cut {
        let _ = write!(out, "…(+{} bytes)", text.len() - at);
    }
    out.push('"');
}

/// The text of `args`: as written in the code when it has no arguments,
/// otherwise formatted into `scratch`.
fn as_text<'a>(args: &fmt::Arguments, scratch: &'a mut String) -> &'a str {
    match args.as_str() {
        Some(text) => text,
        None => {
            scratch.clear();
            let _ = scratch.write_fmt(*args);
            scratch
        }
    }
}

/// Writes a record's fields (its own, then its logger's) straight into a
/// terminal line, without gathering them first.
struct TerminalFields<'a> {
    /// The line being written.
    out: &'a mut String,
    /// Room for a value that first has to be formatted.
    scratch: String,
}

impl TerminalFields<'_> {
    fn key(&mut self, key: Key) {
        self.out.push(' ');
        self.out.push_str(key);
        self.out.push('=');
    }

    fn number(&mut self, key: Key, number: impl fmt::Display) {
        self.key(key);
        let _ = write!(self.out, "{number}");
    }
}

/// `Serializer` methods for bools and numbers, each writing the value's
/// `Display` form through the serializer's own `number` helper (both
/// formats write them bare).
macro_rules! emit_numbers {
    // The methods both formats write the same way.
    () => {
        emit_numbers!(
            emit_bool: bool,
            emit_i64: i64,
            emit_u64: u64,
            emit_i32: i32,
            emit_u32: u32,
            emit_usize: usize,
            emit_isize: isize,
        );
    };
    ($($method:ident: $ty:ty),+ $(,)?) => {
        $(
            fn $method(&mut self, key: Key, val: $ty) -> slog::Result {
                self.number(key, val);
                Ok(())
            }
        )*
    };
}

impl Serializer for TerminalFields<'_> {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments) -> slog::Result {
        self.key(key);
        terminal_value(self.out, as_text(val, &mut self.scratch));
        Ok(())
    }
    fn emit_str(&mut self, key: Key, val: &str) -> slog::Result {
        self.key(key);
        terminal_value(self.out, val);
        Ok(())
    }
    fn emit_none(&mut self, _key: Key) -> slog::Result {
        Ok(())
    }
    emit_numbers!();
    emit_numbers!(emit_f64: f64);
}

/// `2026-11-25T17:30:00.123Z INFO message key=value key="a value"`.
pub fn terminal(record: &Record, values: &OwnedKVList) -> Vec<u8> {
    let mut out = String::with_capacity(192);
    write_timestamp(&mut out);
    out.push(' ');
    out.push_str(record.level().as_short_str());
    out.push(' ');
    let mut formatted = String::new();
    let message = as_text(record.msg(), &mut formatted);
    // The message is written bare unless it holds something unsafe.
    if cut_at(message).is_some() || message.chars().any(|c| must_escape(c) || c == '"') {
        terminal_value(&mut out, message);
    } else {
        out.push_str(message);
    }
    let mut fields = TerminalFields {
        out: &mut out,
        scratch: String::new(),
    };
    // A serializer of our own never fails.
    let _ = record.kv().serialize(record, &mut fields);
    let _ = values.serialize(record, &mut fields);
    out.push('\n');
    out.into_bytes()
}

/// Writes a record's fields straight into a JSON object; a key already
/// written (`ts`, `level`, `msg`, or the record's own over its logger's)
/// is left out.
struct JsonFields<'a> {
    /// The object being written (its opening brace and first members
    /// already there).
    out: &'a mut Vec<u8>,
    /// The keys written so far.
    written: WrittenKeys,
    /// Room for a value that first has to be formatted.
    scratch: String,
}

impl JsonFields<'_> {
    /// Writes `,"key":` and says true, or false for a key already written.
    fn key(&mut self, key: Key) -> bool {
        if self.written.contains(key) {
            return false;
        }
        self.written.push(key);
        self.out.push(b',');
        json_string(self.out, key);
        self.out.push(b':');
        true
    }

    fn text(&mut self, key: Key, text: &str) {
        if self.key(key) {
            json_text(self.out, text);
        }
    }

    fn number(&mut self, key: Key, number: impl fmt::Display) {
        if self.key(key) {
            let _ = std::io::Write::write_fmt(self.out, format_args!("{number}"));
        }
    }
}

/// The keys of a JSON line written so far: a line has a handful, kept
/// without an allocation; more go to a list.
struct WrittenKeys {
    /// The first keys.
    first: [Key; 16],
    /// How many of `first` are used.
    used: usize,
    /// The keys after the first 16.
    more: Vec<Key>,
}

impl WrittenKeys {
    fn new(keys: [Key; 3]) -> Self {
        let mut written = WrittenKeys {
            first: [""; 16],
            used: 0,
            more: Vec::new(),
        };
        for key in keys {
            written.push(key);
        }
        written
    }

    fn contains(&self, key: Key) -> bool {
        self.first[..self.used].contains(&key) || self.more.contains(&key)
    }

    fn push(&mut self, key: Key) {
        match self.first.get_mut(self.used) {
            Some(slot) => {
                *slot = key;
                self.used += 1;
            }
            None => self.more.push(key),
        }
    }
}

/// Text written into a byte line.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// `text` as a JSON string (escaped by serde_json).
fn json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// `text` cut to [`MAX_VALUE_CHARS`] as a JSON string.
fn json_text(out: &mut Vec<u8>, text: &str) {
    match cut_at(text) {
        None => json_string(out, text),
        Some(_) => json_string(out, &cut(text)),
    }
}

impl Serializer for JsonFields<'_> {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments) -> slog::Result {
        if self.key(key) {
            json_text(self.out, as_text(val, &mut self.scratch));
        }
        Ok(())
    }
    fn emit_str(&mut self, key: Key, val: &str) -> slog::Result {
        self.text(key, val);
        Ok(())
    }
    fn emit_none(&mut self, _key: Key) -> slog::Result {
        Ok(())
    }
    emit_numbers!();
    fn emit_f64(&mut self, key: Key, val: f64) -> slog::Result {
        if self.key(key) {
            // serde_json's shortest form; NaN and infinity (not JSON) as null.
            let _ = serde_json::to_writer(&mut *self.out, &val);
        }
        Ok(())
    }
}

/// One JSON object: `ts`, `level`, `msg`, then the fields in the order
/// slog hands them over (the record's own, then its logger's).
pub fn json(record: &Record, values: &OwnedKVList) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"ts\":\"");
    write_timestamp(&mut ByteWriter(&mut out));
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(record.level().as_short_str().as_bytes());
    out.extend_from_slice(b"\",\"msg\":");
    let mut formatted = String::new();
    json_text(&mut out, as_text(record.msg(), &mut formatted));
    let mut fields = JsonFields {
        out: &mut out,
        written: WrittenKeys::new(["ts", "level", "msg"]),
        scratch: String::new(),
    };
    // A serializer of our own never fails.
    let _ = record.kv().serialize(record, &mut fields);
    let _ = values.serialize(record, &mut fields);
    out.extend_from_slice(b"}\n");
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
            let line = if self.json {
                json(record, values)
            } else {
                terminal(record, values)
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

    #[test]
    fn the_cached_second_follows_the_clock() {
        let first = chrono::DateTime::parse_from_rfc3339(&timestamp()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = chrono::DateTime::parse_from_rfc3339(&timestamp()).unwrap();
        let apart = (second - first).num_milliseconds();
        assert!((1100..3000).contains(&apart), "{first} then {second}");
    }

    #[test]
    fn formatted_values_and_numbers_are_written_in_place() {
        let id = 42;
        let text = logged(
            false,
            |log| slog::info!(log, "message"; "id" => %format!("m-{id}"), "size" => 5usize, "fresh" => true, "ratio" => 0.5, "debug" => ?"a b"),
        );
        // slog hands a record's own fields over last first.
        assert!(
            text.contains(r#" INFO message debug="\"a b\"" ratio=0.5 fresh=true size=5 id=m-42 transport=websocket"#),
            "{text}"
        );
    }

    #[test]
    fn a_json_key_is_written_once_the_records_own_first() {
        let text = logged(
            true,
            |log| slog::info!(log, "hello"; "transport" => "mqtt", "msg" => "forged", "ts" => 1, "note" => %"a \"quoted\" \u{1b} value"),
        );
        let record: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(record["transport"], "mqtt", "{text}");
        assert_eq!(record["msg"], "hello", "{text}");
        assert!(record["ts"].is_string(), "{text}");
        assert_eq!(record["note"], "a \"quoted\" \u{1b} value");
        assert_eq!(text.matches("\"transport\"").count(), 1, "{text}");
        assert!(text.starts_with("{\"ts\":\"20"), "{text}");
    }

    #[test]
    fn a_json_line_with_many_keys_still_writes_each_once() {
        let text = logged(true, |log| {
            let log = log.new(slog::o!("k19" => "logger", "transport" => "again"));
            slog::info!(log, "many"; "k1" => 1, "k2" => 2, "k3" => 3, "k4" => 4, "k5" => 5,
                "k6" => 6, "k7" => 7, "k8" => 8, "k9" => 9, "k10" => 10, "k11" => 11,
                "k12" => 12, "k13" => 13, "k14" => 14, "k15" => 15, "k16" => 16,
                "k17" => 17, "k18" => 18, "k19" => 19)
        });
        let record: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(record["k19"], 19, "{text}");
        assert_eq!(record["k1"], 1, "{text}");
        assert_eq!(text.matches("\"k19\"").count(), 1, "{text}");
        assert_eq!(text.matches("\"transport\"").count(), 1, "{text}");
        assert_eq!(record["transport"], "again", "{text}");
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
