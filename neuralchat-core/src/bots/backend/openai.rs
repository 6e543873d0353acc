//! The OpenAI-compatible protocol: `POST /v1/chat/completions` with
//! `"stream": true`, answered with server-sent events, one JSON chunk per
//! event, ended by `data: [DONE]`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::error::{server_message, BackendError};
use super::sse::SseParser;
use super::stream::Decoder;
use super::{ChatTurn, CompletionRequest, Delta, Usage};

/// The endpoint for a base URL: `http://host:port`, `.../v1` and a full
/// `.../v1/chat/completions` all work; trailing slashes are ignored.
pub(crate) fn endpoint(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/chat/completions") {
        base.to_owned()
    } else if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

/// The request body.
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    model: &'a str,
    messages: &'a [ChatTurn],
    max_tokens: u32,
    temperature: f32,
    stream: bool,
    stream_options: StreamOptions,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> Body<'a> {
    /// The streaming request for `req`, asking for token counts.
    pub(crate) fn new(req: &'a CompletionRequest) -> Self {
        Self {
            model: &req.model,
            messages: &req.messages,
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
        }
    }
}

/// One streamed chunk (only the fields used; others such as llama.cpp's
/// `timings` are ignored).
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<ChoiceDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChoiceDelta {
    #[serde(default)]
    content: Option<String>,
}

/// Decodes the SSE stream into deltas.
#[derive(Debug, Default)]
pub(crate) struct OpenAiDecoder {
    sse: SseParser,
    /// Event data parsed but not yet decoded.
    events: Vec<String>,
    /// The latest usage seen (OpenAI sends it in a chunk of its own after
    /// the last choice; llama.cpp in the last chunk).
    usage: Option<Usage>,
    /// A choice has finished: an end without `[DONE]` is still complete.
    finished: bool,
    /// The final delta was pushed.
    done: bool,
}

impl OpenAiDecoder {
    fn drain(&mut self, out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
        for data in std::mem::take(&mut self.events) {
            if self.done {
                break;
            }
            self.event(data.trim(), out)?;
        }
        Ok(())
    }

    fn event(&mut self, data: &str, out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            out.push_back(Delta::finished(self.usage.take()));
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            BackendError::Malformed(format!("an event is not a completion chunk: {e}"))
        })?;
        if let Some(error) = chunk.error {
            return Err(BackendError::Server(server_message(&error)));
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(text) = choice.delta.and_then(|d| d.content) {
                if !text.is_empty() {
                    out.push_back(Delta::text(text));
                }
            }
            self.finished |= choice.finish_reason.is_some();
        }
        Ok(())
    }
}

impl Decoder for OpenAiDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
        if self.done {
            return Ok(());
        }
        self.sse.feed(chunk, &mut self.events)?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
        if !self.done {
            self.sse.finish(&mut self.events)?;
            self.drain(out)?;
        }
        if !self.done {
            if !self.finished {
                return Err(BackendError::Malformed(
                    "the stream ended before [DONE]".to_owned(),
                ));
            }
            self.done = true;
            out.push_back(Delta::finished(self.usage.take()));
        }
        Ok(())
    }
}
