#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The audit log of a real server in JSON mode: one record per action, and
//! never a password or a token.

use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};

#[tokio::test]
async fn every_action_is_audited_without_secrets() {
    let mut server = ServerProcess::start(ServerOptions::new().arg("--log-format").arg("json"))
        .await
        .unwrap();
    let password = "s3cret-horse-battery";
    let mut alice = WsClient::connect(&server.ws_url()).await.unwrap();
    let token = alice.register_and_login("alice", password).await.unwrap();
    alice.join("general").await.unwrap();
    alice
        .send_message("general", "a private thought", None)
        .await
        .unwrap();
    alice
        .request(json!({"type":"send","room":"general","text":"/who"}))
        .await
        .unwrap();
    let mut mallory = WsClient::connect(&server.ws_url()).await.unwrap();
    let denied = mallory
        .request(json!({"type":"login","username":"alice","password":"wrong-password"}))
        .await
        .unwrap();
    assert_eq!(denied["code"], "invalid_credentials");
    alice.request(json!({"type":"logout"})).await.unwrap();
    alice
        .request(json!({"type":"leave","room":"general"}))
        .await
        .unwrap();
    let status = server.stop().await.unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    // A connection still open was told why it closed.
    let closed = mallory.expect_closed().await.unwrap();
    assert!(
        closed.frames.iter().any(|f| f["code"] == "shutting_down"),
        "{:?}",
        closed.frames
    );

    let log = server.log_text();
    let records: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!records.is_empty(), "JSON log lines expected:\n{log}");
    let actions: Vec<&str> = records
        .iter()
        .filter(|r| r["stream"] == "audit")
        .filter_map(|r| r["action"].as_str())
        .collect();
    for expected in [
        "register",
        "login_ok",
        "join",
        "message",
        "command",
        "login_failed",
        "logout",
        "error",
    ] {
        assert!(
            actions.contains(&expected),
            "no {expected} record in {actions:?}"
        );
    }
    let message = records.iter().find(|r| r["action"] == "message").unwrap();
    assert_eq!(
        (message["room"].as_str(), message["size"].as_u64()),
        (Some("general"), Some(17))
    );
    assert!(message["id"].as_str().is_some());
    for secret in [
        password,
        token.as_str(),
        "wrong-password",
        "a private thought",
    ] {
        assert!(!log.contains(secret), "{secret:?} leaked into the log");
    }
}
