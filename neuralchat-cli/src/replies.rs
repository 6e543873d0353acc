//! A bot reply shown as it streams: the line's start at `reply_start`, each
//! `delta` as it arrives, then what is left and the line's end at the final
//! event. Shared by `send` (waiting for an answer) and `chat`. With
//! `--json` nothing streams: the final event is printed whole.

use crate::output::Output;
use crate::render::clean;
use anyhow::Result;
use neuralchat_core::Event;

/// The reply whose line is being written, if any (one at a time: a second
/// reply that starts meanwhile is shown whole when it ends).
#[derive(Debug, Default)]
pub struct ReplyStream {
    streaming: Option<Streaming>,
}

/// A reply being written out.
#[derive(Debug)]
struct Streaming {
    /// The reply event's id.
    id: String,
    /// The line's start (`[HH:MM:SS] Olga: `).
    prefix: String,
    /// The text shown so far.
    text: String,
}

impl ReplyStream {
    /// Whether a reply's line is being written.
    pub fn is_streaming(&self) -> bool {
        self.streaming.is_some()
    }

    /// A reply starts (`reply_start`): its line begins, with what it said so far.
    pub fn start(&mut self, out: &Output, event: &Event, show_room: bool) -> Result<()> {
        if out.is_json() || self.streaming.is_some() {
            // Its final event shows it whole.
            return Ok(());
        }
        let prefix = out.render().reply_prefix(event, show_room);
        let text = clean(&event.text);
        out.partial(&format!("{prefix}{text}"))?;
        self.streaming = Some(Streaming {
            id: event.id.to_string(),
            prefix,
            text,
        });
        Ok(())
    }

    /// The next piece of the reply with this id.
    pub fn delta(&mut self, out: &Output, id: &str, text: &str) -> Result<()> {
        match &mut self.streaming {
            Some(streaming) if streaming.id == id => {
                let piece = clean(text);
                streaming.text.push_str(&piece);
                out.partial(&piece)
            }
            _ => Ok(()),
        }
    }

    /// Shows an event: one that ends the streaming reply completes its
    /// line (with whatever the stored text adds); any other is printed on
    /// a line of its own, the streaming line kept readable.
    pub fn event(&mut self, out: &Output, event: &Event, show_room: bool) -> Result<()> {
        let id = event.id.to_string();
        let Some(streaming) = self.streaming.take_if(|s| s.id == id) else {
            return self.around(out, || out.event(event, show_room));
        };
        let full = clean(&event.text);
        let suffix = out.render().reply_suffix(event);
        match full.strip_prefix(&streaming.text) {
            Some(rest) => out.line(&format!("{rest}{suffix}")),
            None => {
                // The stored text is not what streamed: show it whole.
                out.line("")?;
                out.event(event, show_room)
            }
        }
    }

    /// Runs `print` on a line of its own: a streaming reply's partial line
    /// is ended first and shown again after.
    pub fn around(&self, out: &Output, print: impl FnOnce() -> Result<()>) -> Result<()> {
        match &self.streaming {
            None => print(),
            Some(streaming) => {
                out.line("")?;
                print()?;
                out.partial(&format!("{}{}", streaming.prefix, streaming.text))
            }
        }
    }

    /// Ends a streaming reply's partial line (before errors and at exit).
    pub fn break_line(&mut self, out: &Output) -> Result<()> {
        match self.streaming.take() {
            Some(_) => out.line(""),
            None => Ok(()),
        }
    }
}
