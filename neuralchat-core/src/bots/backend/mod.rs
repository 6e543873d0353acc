//! Streaming clients for LLM servers over HTTP (reqwest).
//!
//! Two wire protocols: [`BackendKind::OpenAi`] for any OpenAI-compatible
//! server (llama.cpp's llama-server, vLLM, LM Studio, Ollama's `/v1`),
//! which streams server-sent events; and [`BackendKind::Ollama`] for
//! Ollama's native `/api/chat`, which streams JSON lines. Either way,
//! [`LlmClient::stream`] gives a [`TokenStream`] of [`Delta`]s.

use std::fmt;
use std::pin::Pin;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

mod client;
mod error;
mod lines;
#[cfg(feature = "local-llm")]
mod local;
mod ollama;
mod openai;
mod sse;
mod stream;

#[cfg(test)]
mod tests;

pub use client::LlmClient;
pub use error::{BackendError, MAX_ERROR_BODY_CHARS};
#[cfg(feature = "local-llm")]
pub use local::{LocalModel, LocalSettings};

/// Which wire protocol a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// OpenAI-compatible `POST /v1/chat/completions`, streamed as SSE.
    OpenAi,
    /// Ollama's native `POST /api/chat`, streamed as JSON lines.
    Ollama,
    /// A GGUF model run inside this process by llama.cpp (the `local-llm`
    /// feature; without it, a configuration error).
    Local,
}

impl BackendKind {
    /// The name used in configuration: "openai", "ollama" or "local".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Ollama => "ollama",
            Self::Local => "local",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who said a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt.
    System,
    /// A person (or, in a room, anyone who is not the bot).
    User,
    /// The bot itself.
    Assistant,
}

/// One turn of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatTurn {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl ChatTurn {
    /// A turn by `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }

    /// The system prompt.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user's turn.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// The bot's own turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// What to ask the model.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    /// The model name, as the server knows it.
    pub model: String,
    /// The conversation, oldest first, usually starting with the system
    /// prompt.
    pub messages: Vec<ChatTurn>,
    /// The most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
}

/// Token counts reported by the server for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Tokens in the prompt (0 if the server did not count them, e.g. a
    /// prompt served from Ollama's cache).
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

/// One item of a reply stream: new text, or the end of the reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Text generated since the previous delta: never empty, except on
    /// the last delta, where it always is.
    pub text: String,
    /// Token counts; only on the last delta, and only if the server
    /// reported them.
    pub usage: Option<Usage>,
    /// Whether this is the last delta: the reply is complete.
    pub done: bool,
}

impl Delta {
    /// A delta carrying new text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            usage: None,
            done: false,
        }
    }

    /// The last delta of a complete reply.
    pub fn finished(usage: Option<Usage>) -> Self {
        Self {
            text: String::new(),
            usage,
            done: true,
        }
    }
}

/// A reply as it streams: text deltas, then one delta with `done` set,
/// then the end; or, on failure, one error and the end. Dropping it aborts
/// the HTTP request.
pub type TokenStream = Pin<Box<dyn Stream<Item = Result<Delta, BackendError>> + Send>>;
