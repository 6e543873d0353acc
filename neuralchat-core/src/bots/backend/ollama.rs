//! Ollama's native protocol: `POST /api/chat` with `"stream": true`,
//! answered with JSON lines (NDJSON): `{"message":{"content":"..."},
//! "done":false}` for each piece, then `{"done":true, "prompt_eval_count":N,
//! "eval_count":M, ...}`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::error::{server_message, BackendError};
use super::lines::Lines;
use super::stream::Decoder;
use super::{ChatTurn, CompletionRequest, Delta, Usage};

/// The endpoint for a base URL: `http://host:11434`, `.../api` and a full
/// `.../api/chat` all work; trailing slashes are ignored.
pub(crate) fn endpoint(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/api/chat") {
        base.to_owned()
    } else if base.ends_with("/api") {
        format!("{base}/chat")
    } else {
        format!("{base}/api/chat")
    }
}

/// The request body.
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    model: &'a str,
    messages: &'a [ChatTurn],
    stream: bool,
    options: Options,
}

#[derive(Debug, Serialize)]
struct Options {
    num_predict: u32,
    temperature: f32,
}

impl<'a> Body<'a> {
    /// The streaming request for `req`.
    pub(crate) fn new(req: &'a CompletionRequest) -> Self {
        Self {
            model: &req.model,
            messages: &req.messages,
            stream: true,
            options: Options {
                num_predict: req.max_tokens,
                temperature: req.temperature,
            },
        }
    }
}

/// One streamed line (only the fields used).
#[derive(Debug, Deserialize)]
struct Line {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    prompt_eval_count: Option<u32>,
    #[serde(default)]
    eval_count: Option<u32>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

/// Decodes the NDJSON stream into deltas.
#[derive(Debug, Default)]
pub(crate) struct OllamaDecoder {
    lines: Lines,
    state: LineState,
}

#[derive(Debug, Default)]
struct LineState {
    /// The final delta was pushed.
    done: bool,
}

impl LineState {
    fn line(&mut self, line: &str, out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
        let line = line.trim();
        if self.done || line.is_empty() {
            return Ok(());
        }
        let parsed: Line = serde_json::from_str(line)
            .map_err(|e| BackendError::Malformed(format!("a line is not a chat chunk: {e}")))?;
        if let Some(error) = parsed.error {
            return Err(BackendError::Server(server_message(&error)));
        }
        let text = parsed
            .message
            .and_then(|m| m.content)
            .filter(|t| !t.is_empty());
        if parsed.done {
            if let Some(text) = text {
                out.push_back(Delta::text(text));
            }
            let usage =
                (parsed.prompt_eval_count.is_some() || parsed.eval_count.is_some()).then(|| {
                    Usage {
                        prompt_tokens: parsed.prompt_eval_count.unwrap_or(0),
                        completion_tokens: parsed.eval_count.unwrap_or(0),
                    }
                });
            out.push_back(Delta::finished(usage));
            self.done = true;
        } else if let Some(text) = text {
            out.push_back(Delta::text(text));
        }
        Ok(())
    }
}

impl Decoder for OllamaDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
        let state = &mut self.state;
        if state.done {
            return Ok(());
        }
        self.lines.push(chunk, &mut |line| state.line(line, out))
    }

    fn finish(&mut self, out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
        let state = &mut self.state;
        if !state.done {
            self.lines.finish(&mut |line| state.line(line, out))?;
        }
        if self.state.done {
            Ok(())
        } else {
            Err(BackendError::Malformed(
                "the stream ended before \"done\": true".to_owned(),
            ))
        }
    }
}
