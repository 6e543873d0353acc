//! `[[bots]] backend = "local"` end to end: the server (built with the
//! `local-llm` feature) runs the tiny test model itself (path in
//! `LLAMA_MODEL`, from scripts/llama/setup.sh) and streams its replies into
//! the room, with /stop, /healthz and the audit record as for HTTP backends.
//!
//! `cargo test -p neuralchat-server --features local-llm --test local_bot`
#![cfg(feature = "local-llm")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The tiny model, or a failure saying how to get it.
fn model_path() -> PathBuf {
    neuralchat_testkit::llama::tiny_model()
}

/// A server whose bots run the tiny model in-process: Olga (short
/// replies) and Longa (long ones), sharing the one loaded model.
async fn start(dir: &TempDir) -> ServerProcess {
    let config = format!(
        r#"
[[bots]]
name = "Olga"
backend = "local"
model_path = "{model}"
model = "tiny-llama"
system_prompt = "You are Olga."
max_tokens = 24
threads = 1
timeout_secs = 30

[[bots]]
name = "Longa"
backend = "local"
model_path = "{model}"
model = "tiny-llama"
system_prompt = "You talk a lot."
max_tokens = 100000
threads = 1
timeout_secs = 30
"#,
        model = model_path().display()
    );
    let path = dir.path().join("neuralchat.toml");
    std::fs::write(&path, config).unwrap();
    // This package's own binary, built with the local-llm feature (not
    // whatever target/debug holds). The file's only test: no other thread
    // reads the environment meanwhile.
    std::env::set_var(
        "NEURALCHAT_SERVER_BIN",
        env!("CARGO_BIN_EXE_neuralchat-server"),
    );
    ServerProcess::start(
        ServerOptions::new()
            .relaxed_limits()
            .arg("--config")
            .arg(path.display().to_string()),
    )
    .await
    .unwrap()
}

async fn user(server: &ServerProcess, name: &str) -> WsClient {
    let mut c = WsClient::connect(&server.ws_url()).await.unwrap();
    c.set_deadline(Duration::from_secs(60));
    c.register_and_login(name, "password1").await.unwrap();
    c.join("general").await.unwrap();
    c
}

async fn ask(c: &mut WsClient, text: &str) -> String {
    let ack = c.send_message("general", text, None).await.unwrap();
    ack["id"].as_str().unwrap().to_owned()
}

/// Waits until the server's log holds `needle`.
async fn logged(server: &ServerProcess, needle: &str) {
    let started = Instant::now();
    while !server.log_text().contains(needle) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {needle:?} in the log:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_local_bot_answers_stops_and_is_healthy() {
    let dir = TempDir::new().unwrap();
    let server = start(&dir).await;
    // The probe at start is the model's load.
    logged(&server, "bot ready").await;
    let (status, health) = server.http().get("/healthz", None).await.unwrap();
    assert_eq!(status, 200, "{health}");
    let olga = health["bots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "Olga")
        .cloned()
        .unwrap();
    assert_eq!(olga["ok"], true, "{health}");
    assert_eq!(olga["url"], model_path().display().to_string());

    let mut alice = user(&server, "alice").await;
    let question = ask(&mut alice, "Olga, hi").await;
    let (streamed, reply) = alice.bot_reply(&question).await.unwrap();
    assert_eq!(reply["author"], "Olga");
    assert!(!streamed.is_empty(), "tokens arrived as deltas");
    assert_eq!(reply["text"], streamed.as_str(), "stored = streamed");
    assert!(reply.get("stopped").is_none(), "{reply}");
    assert!(reply.get("failed").is_none(), "{reply}");

    // /stop ends a long reply; the model's slot is freed for the next one.
    let long = ask(&mut alice, "Longa, tell me everything").await;
    alice.recv_until(|f| f["type"] == "delta").await.unwrap();
    let stop = alice
        .request(json!({"type":"send","room":"general","text":"/stop"}))
        .await
        .unwrap();
    let done: Value = alice
        .recv_event(|e| e["reply_to"] == long.as_str())
        .await
        .unwrap();
    if stop["data"]["stopped"] == json!(["Longa"]) {
        assert_eq!(done["stopped"], true, "{done}");
    } else {
        // The tiny model can finish (end of its context) before /stop lands.
        assert!(done.get("failed").is_none(), "{done}");
    }
    let again = ask(&mut alice, "Olga, still there?").await;
    let (streamed, _) = alice.bot_reply(&again).await.unwrap();
    assert!(!streamed.is_empty());

    // Audited like the HTTP backends, with the token counts.
    logged(&server, "action=bot_call").await;
    let log = server.log_text();
    let call = log
        .lines()
        .find(|l| l.contains("action=bot_call") && l.contains("backend=local bot=Olga"))
        .unwrap_or_else(|| panic!("no audit record of Olga's call:\n{log}"));
    let count = |key: &str| -> u64 {
        call.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {call}"))
    };
    assert!(count("prompt_tokens=") > 0, "{call}");
    assert!(count("completion_tokens=") > 0, "{call}");
    assert!(call.contains("outcome=done"), "{call}");
}
