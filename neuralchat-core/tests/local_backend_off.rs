//! Without the `local-llm` feature, `backend = "local"` is a configuration
//! error that names the key and the feature (not a failure at the first
//! question).
#![cfg(not(feature = "local-llm"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use neuralchat_core::bots::{BackendKind, BotConfig, LlmClient};

#[test]
fn a_local_bot_needs_the_local_llm_feature() {
    let config: BotConfig = serde_json::from_value(serde_json::json!({
        "name": "Olga",
        "backend": "local",
        "model_path": "/models/tiny.gguf",
    }))
    .unwrap();
    assert_eq!(config.backend, BackendKind::Local);
    let error = config.validate(0).unwrap_err();
    assert!(error.starts_with("bots[0].backend:"), "{error}");
    assert!(error.contains("local-llm"), "{error}");
    let error = LlmClient::for_bot(&config).unwrap_err();
    assert!(error.to_string().contains("local-llm"), "{error}");
}
