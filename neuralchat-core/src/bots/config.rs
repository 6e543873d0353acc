//! A bot's configuration: one `[[bots]]` table in `neuralchat.toml`.

use super::backend::BackendKind;
use serde::{Deserialize, Serialize};

/// One bot persona and the model behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotConfig {
    /// The name users address ("Olga"); also the author of its replies.
    pub name: String,
    /// Other names it answers to (e.g. "Ольга").
    pub aliases: Vec<String>,
    /// `openai` (any OpenAI-compatible server: llama.cpp's llama-server,
    /// vLLM, LM Studio, Ollama's /v1), `ollama` (Ollama's /api/chat), or
    /// `local` (a GGUF model run inside the server: `model_path`; needs the
    /// `local-llm` feature).
    pub backend: BackendKind,
    /// The server's base URL.
    pub url: String,
    /// The model name sent to the server.
    pub model: String,
    /// The system prompt.
    pub system_prompt: String,
    /// How many recent messages of the room (since the last `/clear`) the
    /// bot sees.
    pub context_messages: u32,
    /// The most characters of context sent (oldest messages dropped first).
    pub context_chars: usize,
    /// The longest reply, in tokens.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Seconds without a byte from the server before the call fails.
    pub timeout_secs: u64,
    /// Questions waiting per room, at most.
    pub queue_limit: usize,
    /// Questions one user may have per room at once, at most, counting the
    /// one being answered.
    pub per_user_queue: usize,
    /// Tokens (prompt + reply) one user may spend per day (UTC); none: no limit.
    pub daily_token_budget: Option<u64>,
    /// Bearer key for hosted OpenAI-compatible servers, if needed.
    pub api_key: Option<String>,
    /// `backend = "local"`: the GGUF model file run inside the server.
    pub model_path: Option<String>,
    /// `backend = "local"`: CPU threads per generation; none: half the
    /// cores, shared among `max_concurrent` generations (at least 1).
    pub threads: Option<usize>,
    /// `backend = "local"`: replies generated at once; the rest wait.
    pub max_concurrent: usize,
}

/// Defaults for keys a `[[bots]]` table leaves out; `name` has none and
/// must be given.
impl Default for BotConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            aliases: Vec::new(),
            backend: BackendKind::OpenAi,
            url: "http://127.0.0.1:8081".into(),
            model: "llama".into(),
            system_prompt: "You are a friendly assistant in a group chat. Answer briefly.".into(),
            context_messages: 20,
            context_chars: 6000,
            max_tokens: 256,
            temperature: 0.7,
            timeout_secs: 60,
            queue_limit: 8,
            per_user_queue: 2,
            daily_token_budget: None,
            api_key: None,
            model_path: None,
            threads: None,
            max_concurrent: 1,
        }
    }
}

impl BotConfig {
    /// The default configuration's bot: Olga (alias Ольга) on a llama.cpp
    /// server at 127.0.0.1:8081.
    pub fn olga() -> Self {
        Self {
            name: "Olga".into(),
            aliases: vec!["Ольга".into()],
            system_prompt: "You are Olga, a friendly assistant in a group chat. Answer briefly."
                .into(),
            ..Self::default()
        }
    }

    /// Where the model is: the server's URL, or for `backend = "local"`
    /// the model file.
    pub fn location(&self) -> &str {
        match (self.backend, &self.model_path) {
            (BackendKind::Local, Some(path)) => path,
            _ => &self.url,
        }
    }

    /// Checks values that types cannot, naming the offending key.
    pub fn validate(&self, index: usize) -> Result<(), String> {
        let key = |k: &str| format!("bots[{index}].{k}");
        if crate::names::validate_username(&self.name).is_err() {
            return Err(format!(
                "{} {:?} is not a valid user name",
                key("name"),
                self.name
            ));
        }
        if self.backend == BackendKind::Local {
            self.validate_local(index)?;
        } else if self.model_path.is_some() {
            return Err(format!(
                "{} is only used with backend = \"local\"",
                key("model_path")
            ));
        }
        if self.backend != BackendKind::Local
            && !(self.url.starts_with("http://") || self.url.starts_with("https://"))
        {
            return Err(format!("{} must be an http(s) URL", key("url")));
        }
        for (k, zero) in [
            ("context_messages", self.context_messages == 0),
            ("max_tokens", self.max_tokens == 0),
            (
                "timeout_secs",
                self.timeout_secs == 0 || self.timeout_secs > 86_400,
            ),
            ("queue_limit", self.queue_limit == 0),
            ("per_user_queue", self.per_user_queue == 0),
            ("context_chars", self.context_chars == 0),
        ] {
            if zero {
                return Err(format!(
                    "{} must be above 0 (timeout_secs at most 86400)",
                    key(k)
                ));
            }
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(format!("{} must be in 0..=2", key("temperature")));
        }
        Ok(())
    }

    /// The keys of `backend = "local"`.
    fn validate_local(&self, index: usize) -> Result<(), String> {
        let key = |k: &str| format!("bots[{index}].{k}");
        if !cfg!(feature = "local-llm") {
            return Err(format!(
                "{}: \"local\" needs a server built with the local-llm feature \
                 (cargo build -p neuralchat-server --features local-llm)",
                key("backend")
            ));
        }
        if self
            .model_path
            .as_deref()
            .is_none_or(|p| p.trim().is_empty())
        {
            return Err(format!(
                "{} must name a GGUF model file with backend = \"local\"",
                key("model_path")
            ));
        }
        if self.threads == Some(0) {
            return Err(format!("{} must be above 0", key("threads")));
        }
        if self.max_concurrent == 0 {
            return Err(format!("{} must be above 0", key("max_concurrent")));
        }
        Ok(())
    }
}
