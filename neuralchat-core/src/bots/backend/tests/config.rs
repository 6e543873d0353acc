//! Client settings and the shared types' serialized forms.

use std::time::Duration;

use super::super::{ollama, openai, BackendError, BackendKind, ChatTurn, LlmClient, Role};

#[test]
fn openai_endpoints() {
    for base in [
        "http://127.0.0.1:8081",
        "http://127.0.0.1:8081/",
        "http://127.0.0.1:8081/v1",
        "http://127.0.0.1:8081/v1/",
        " http://127.0.0.1:8081/v1/chat/completions ",
    ] {
        assert_eq!(
            openai::endpoint(base),
            "http://127.0.0.1:8081/v1/chat/completions",
            "{base:?}"
        );
    }
    assert_eq!(
        openai::endpoint("https://host/proxy/openai/v1"),
        "https://host/proxy/openai/v1/chat/completions"
    );
}

#[test]
fn ollama_endpoints() {
    for base in [
        "http://localhost:11434",
        "http://localhost:11434/",
        "http://localhost:11434/api",
        "http://localhost:11434/api/chat/",
    ] {
        assert_eq!(
            ollama::endpoint(base),
            "http://localhost:11434/api/chat",
            "{base:?}"
        );
    }
}

#[test]
fn client_settings() {
    let timeout = Duration::from_secs(7);
    let client = LlmClient::new(BackendKind::OpenAi, "http://127.0.0.1:8081/v1", timeout).unwrap();
    assert_eq!(client.kind(), BackendKind::OpenAi);
    assert_eq!(
        client.endpoint(),
        "http://127.0.0.1:8081/v1/chat/completions"
    );
    assert_eq!(client.timeout(), timeout);
    let client = LlmClient::new(BackendKind::Ollama, "http://[::1]:11434", timeout).unwrap();
    assert_eq!(client.endpoint(), "http://[::1]:11434/api/chat");
}

#[test]
fn bad_settings_are_config_errors() {
    let timeout = Duration::from_secs(1);
    for url in [
        "",
        "not a url",
        "ftp://host/x",
        "127.0.0.1:8081",
        "file:///tmp/x",
    ] {
        let result = LlmClient::new(BackendKind::OpenAi, url, timeout);
        assert!(
            matches!(result, Err(BackendError::Config(_))),
            "{url:?}: {result:?}"
        );
    }
    let result = LlmClient::new(BackendKind::Ollama, "http://x", Duration::ZERO);
    assert!(matches!(result, Err(BackendError::Config(_))));
}

#[test]
fn serialized_forms() {
    assert_eq!(
        serde_json::to_string(&BackendKind::OpenAi).unwrap(),
        "\"openai\""
    );
    assert_eq!(
        serde_json::to_string(&BackendKind::Ollama).unwrap(),
        "\"ollama\""
    );
    let kind: BackendKind = serde_json::from_str("\"ollama\"").unwrap();
    assert_eq!(kind, BackendKind::Ollama);
    assert!(serde_json::from_str::<BackendKind>("\"OpenAI\"").is_err());
    assert_eq!(BackendKind::OpenAi.to_string(), "openai");
    assert_eq!(
        serde_json::to_value(ChatTurn::assistant("hi")).unwrap(),
        serde_json::json!({"role": "assistant", "content": "hi"})
    );
    for (role, name) in [
        (Role::System, "system"),
        (Role::User, "user"),
        (Role::Assistant, "assistant"),
    ] {
        assert_eq!(serde_json::to_value(role).unwrap(), serde_json::json!(name));
    }
}
