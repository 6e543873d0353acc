//! Replies as real servers send them, and the deltas they decode to.

use crate::bots::backend::{ChatTurn, CompletionRequest, Delta, Usage};

/// llama.cpp's llama-server streaming `/v1/chat/completions`: a role-only
/// first chunk with `"content": null`, one chunk per token, a last chunk
/// with `finish_reason`, `usage` and `timings`, then `[DONE]`.
pub(super) const LLAMA_CPP_SSE: &str = concat!(
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],",
    "\"created\":1748000000,\"id\":\"chatcmpl-x1\",\"model\":\"tiny\",\"system_fingerprint\":\"b5000-abc\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"Hello\"}}],",
    "\"created\":1748000000,\"id\":\"chatcmpl-x1\",\"model\":\"tiny\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\",\"}}],",
    "\"created\":1748000000,\"id\":\"chatcmpl-x1\",\"model\":\"tiny\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\" Ольга\"}}],",
    "\"created\":1748000000,\"id\":\"chatcmpl-x1\",\"model\":\"tiny\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"!\\n\"}}],",
    "\"created\":1748000000,\"id\":\"chatcmpl-x1\",\"model\":\"tiny\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],",
    "\"created\":1748000000,\"id\":\"chatcmpl-x1\",\"model\":\"tiny\",\"object\":\"chat.completion.chunk\",",
    "\"usage\":{\"completion_tokens\":4,\"prompt_tokens\":12,\"total_tokens\":16},",
    "\"timings\":{\"prompt_n\":12,\"prompt_ms\":3.1,\"predicted_n\":4,\"predicted_ms\":2.2}}\n\n",
    "data: [DONE]\n\n",
);

/// What [`LLAMA_CPP_SSE`] decodes to.
pub(super) fn llama_cpp_deltas() -> Vec<Delta> {
    vec![
        Delta::text("Hello"),
        Delta::text(","),
        Delta::text(" Ольга"),
        Delta::text("!\n"),
        Delta::finished(Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 4,
        })),
    ]
}

/// OpenAI's own style with `include_usage`: CRLF line ends, a keep-alive
/// comment, `"usage": null` in every chunk, and the usage in a last chunk
/// of its own with no choices.
pub(super) const OPENAI_SSE: &str = concat!(
    ": keep-alive\r\n\r\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\r\n\r\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Привет\"},\"finish_reason\":null}],\"usage\":null}\r\n\r\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":null}\r\n\r\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\r\n\r\n",
    "data: [DONE]\r\n\r\n",
);

/// What [`OPENAI_SSE`] decodes to.
pub(super) fn openai_deltas() -> Vec<Delta> {
    vec![
        Delta::text("Привет"),
        Delta::finished(Some(Usage {
            prompt_tokens: 9,
            completion_tokens: 1,
        })),
    ]
}

/// Ollama's `/api/chat` stream as its API documentation shows it: one JSON
/// object per line, the last with `"done": true` and the counts.
pub(super) const OLLAMA_NDJSON: &str = concat!(
    "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\"The\",\"images\":null},\"done\":false}\n",
    "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.395406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\" sky\"},\"done\":false}\n",
    "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.405406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\" is голубое\"},\"done\":false}\n",
    "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19:22:45.499127Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},",
    "\"done\":true,\"done_reason\":\"stop\",\"total_duration\":4883583458,\"load_duration\":1334875,",
    "\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,\"eval_count\":282,\"eval_duration\":4535599000}\n",
);

/// What [`OLLAMA_NDJSON`] decodes to.
pub(super) fn ollama_deltas() -> Vec<Delta> {
    vec![
        Delta::text("The"),
        Delta::text(" sky"),
        Delta::text(" is голубое"),
        Delta::finished(Some(Usage {
            prompt_tokens: 26,
            completion_tokens: 282,
        })),
    ]
}

/// A request with every role.
pub(super) fn request() -> CompletionRequest {
    CompletionRequest {
        model: "tiny".to_owned(),
        messages: vec![
            ChatTurn::system("You are Olga."),
            ChatTurn::user("alice: Olga, tell me a joke"),
            ChatTurn::assistant("Why did..."),
            ChatTurn::user("bob: Ольга, ещё!"),
        ],
        max_tokens: 64,
        temperature: 0.5,
    }
}

/// The messages of [`request`] as JSON.
pub(super) fn request_messages_json() -> serde_json::Value {
    serde_json::json!([
        {"role": "system", "content": "You are Olga."},
        {"role": "user", "content": "alice: Olga, tell me a joke"},
        {"role": "assistant", "content": "Why did..."},
        {"role": "user", "content": "bob: Ольга, ещё!"},
    ])
}
