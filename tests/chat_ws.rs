#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Two users chatting over WebSocket against a real server on SQLite.

use neuralchat_testkit::{scenario, ServerOptions, ServerProcess};

#[tokio::test]
async fn two_users_chat_over_websocket() {
    let server = ServerProcess::start(ServerOptions::new().relaxed_limits())
        .await
        .unwrap();
    if let Err(e) = scenario::two_users_chat(&server).await {
        panic!("{e:#}\n--- server log tail ---\n{}", server.log_tail());
    }
}
