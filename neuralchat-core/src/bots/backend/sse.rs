//! An incremental parser for server-sent events (the `text/event-stream`
//! format of OpenAI-compatible streaming), following the WHATWG rules:
//! lines end at LF, CRLF or CR; `:` starts a comment; `data` lines of one
//! event are joined with LF; an empty line ends the event. Only the data
//! matters here (`event`, `id` and `retry` are read and ignored).

use super::error::BackendError;
use super::lines::Lines;

/// The parser. Feed it chunks split anywhere; it yields each event's data.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    lines: Lines,
    event: EventBuffer,
}

/// The event being read.
#[derive(Debug, Default)]
struct EventBuffer {
    /// The data lines so far, each followed by LF.
    data: String,
    /// Whether the first line has been seen (a BOM before it is dropped).
    started: bool,
}

impl SseParser {
    /// Feeds a chunk; pushes the data of every event it completes to `out`.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<String>) -> Result<(), BackendError> {
        let event = &mut self.event;
        self.lines.push(chunk, &mut |line| {
            event.line(line, out);
            Ok(())
        })
    }

    /// Ends the input. Unlike a browser, an event not closed by an empty
    /// line is still delivered: a server that closes right after its last
    /// `data:` line meant it.
    pub(crate) fn finish(&mut self, out: &mut Vec<String>) -> Result<(), BackendError> {
        let event = &mut self.event;
        self.lines.finish(&mut |line| {
            event.line(line, out);
            Ok(())
        })?;
        self.event.line("", out);
        Ok(())
    }
}

impl EventBuffer {
    fn line(&mut self, line: &str, out: &mut Vec<String>) {
        let line = if self.started {
            line
        } else {
            self.started = true;
            line.strip_prefix('\u{feff}').unwrap_or(line)
        };
        if line.is_empty() {
            if !self.data.is_empty() {
                let mut data = std::mem::take(&mut self.data);
                data.pop();
                out.push(data);
            }
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some(("", _)) => return,
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            self.data.push_str(value);
            self.data.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out).unwrap();
        }
        parser.finish(&mut out).unwrap();
        out
    }

    /// A stream with every feature: BOM, comments, CRLF, lone CR,
    /// multi-line data, fields without a space, ignored fields, an empty
    /// data field, non-ASCII text and `[DONE]`.
    const STREAM: &str = "\u{feff}: a comment\r\n\
        data: {\"a\":1}\r\n\r\n\
        event: message\nid: 7\nretry: 100\ndata:{\"b\":\"Привет\"}\n\n\
        data: line one\rdata: line two\r\r\
        :keep-alive\n\n\
        data\n\n\
        data:  two spaces\n\n\
        ignored-field: x\nunknown\n\n\
        data: [DONE]\n\n";

    fn expected() -> Vec<String> {
        [
            "{\"a\":1}",
            "{\"b\":\"Привет\"}",
            "line one\nline two",
            "",
            " two spaces",
            "[DONE]",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn parses_every_feature() {
        assert_eq!(parse(&[STREAM.as_bytes()]), expected());
    }

    #[test]
    fn chunks_split_at_every_byte_position() {
        let bytes = STREAM.as_bytes();
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(parse(&[a, b]), expected(), "split at {at}");
        }
    }

    #[test]
    fn chunks_split_at_every_pair_of_positions() {
        let bytes = STREAM.as_bytes();
        for first in 0..=bytes.len() {
            for second in first..=bytes.len() {
                let (a, rest) = bytes.split_at(first);
                let (b, c) = rest.split_at(second - first);
                assert_eq!(parse(&[a, b, c]), expected(), "split at {first}, {second}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let chunks: Vec<&[u8]> = STREAM.as_bytes().chunks(1).collect();
        assert_eq!(parse(&chunks), expected());
    }

    #[test]
    fn an_unterminated_last_event_is_delivered() {
        assert_eq!(parse(&[b"data: a\n\ndata: [DONE]"]), ["a", "[DONE]"]);
        assert_eq!(parse(&[b"data: a\n\ndata: b\n"]), ["a", "b"]);
        assert!(parse(&[b": only a comment"]).is_empty());
        assert!(parse(&[b""]).is_empty());
    }

    #[test]
    fn bad_utf8_is_malformed() {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        assert!(matches!(
            parser.feed(b"data: \xc3\x28\n\n", &mut out),
            Err(BackendError::Malformed(_))
        ));
    }
}
