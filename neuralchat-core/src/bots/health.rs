//! Whether each bot's model server answers: probed when the engine starts
//! (a missing server is a warning with the URL and what to do, not a
//! silent "ready"), then updated by every call. `/healthz` shows it.

use super::backend::{BackendError, LlmClient};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What a bot's model server looked like last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotStatus {
    /// The bot's name.
    pub name: String,
    /// Where its model server is.
    pub url: String,
    /// Whether the server answered last time; `None` before the first try.
    pub ok: Option<bool>,
    /// Why not, when it did not (short, no internal detail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The status of every bot, by name.
#[derive(Debug, Default)]
pub struct BotHealth(Mutex<BTreeMap<String, BotStatus>>);

impl BotHealth {
    /// Starts tracking a bot (status unknown).
    pub fn track(&self, name: &str, url: &str) {
        let status = BotStatus {
            name: name.to_owned(),
            url: url.to_owned(),
            ok: None,
            problem: None,
        };
        self.lock().insert(name.to_owned(), status);
    }

    /// Records how the bot's last call (or probe) went.
    pub fn record(&self, name: &str, outcome: Result<(), &BackendError>) {
        if let Some(status) = self.lock().get_mut(name) {
            status.ok = Some(outcome.is_ok());
            status.problem = outcome.err().map(BackendError::reason);
        }
    }

    /// Every bot's status, by name.
    pub fn snapshot(&self) -> Vec<BotStatus> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BotStatus>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What to do about a model server that does not answer, for logs and
/// for the room: the URL, and the fix.
pub fn unreachable_hint(client: &LlmClient) -> String {
    if client.kind() == super::backend::BackendKind::Local {
        return format!(
            "the model file {} did not load: check the bot's model_path in [[bots]] \
             (a GGUF file llama.cpp can read)",
            client.endpoint()
        );
    }
    format!(
        "no model server answers at {}: start one there (e.g. llama-server -m MODEL.gguf \
         --port PORT) or set the bot's url in [[bots]]",
        client.base_url()
    )
}
