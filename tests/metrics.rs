#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `GET /metrics` counts what happened, in the Prometheus text format.

use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};

/// The value of the sample `name` (no labels) in a Prometheus text page.
fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_sessions_messages_and_deliveries() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let mut alice = WsClient::connect(&server.ws_url()).await.unwrap();
    alice
        .register_and_login("alice", "password-123")
        .await
        .unwrap();
    alice.join("general").await.unwrap();
    let mut bob = WsClient::connect(&server.ws_url()).await.unwrap();
    bob.register_and_login("bob", "password-123").await.unwrap();
    bob.join("general").await.unwrap();
    for i in 0..3 {
        alice
            .send_message("general", &format!("m{i}"), None)
            .await
            .unwrap();
    }
    bob.recv_event(|e| e["text"] == "m2").await.unwrap();

    let response = server
        .http()
        .send("GET", "/metrics", None, None)
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let page = response.text();
    assert!(
        page.contains("# TYPE neuralchat_connections gauge"),
        "{page}"
    );
    assert_eq!(sample(&page, "neuralchat_connections"), 2.0);
    assert_eq!(sample(&page, "neuralchat_messages_in_total"), 3.0);
    // Each message reached both members; joins were delivered too.
    assert!(
        sample(&page, "neuralchat_deliveries_total") >= 6.0,
        "{page}"
    );
    assert_eq!(sample(&page, "neuralchat_rooms_open"), 1.0);
    assert!(
        sample(&page, "neuralchat_store_calls_total") >= 5.0,
        "{page}"
    );
    assert_eq!(sample(&page, "neuralchat_store_failures_total"), 0.0);
    assert_eq!(sample(&page, "neuralchat_slow_consumers_total"), 0.0);
}
