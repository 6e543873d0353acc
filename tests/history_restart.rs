#![allow(clippy::unwrap_used, clippy::expect_used)]
//! History survives a graceful restart: pages over WebSocket and REST return
//! every message in order, on SQLite and on PostgreSQL.

use neuralchat_testkit::scenario::{check_event_shape, is_message};
use neuralchat_testkit::{PgFixture, ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};

const PASSWORD: &str = "alice-password";

/// Posts `count` messages to `general` as alice (registered here); returns their ids.
async fn post_messages(server: &ServerProcess, count: usize) -> Vec<String> {
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();
    ws.register_and_login("alice", PASSWORD).await.unwrap();
    ws.join("general").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..count {
        let ack = ws
            .send_message("general", &format!("message {i}"), Some(&format!("c{i}")))
            .await
            .unwrap();
        ids.push(ack["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Follows history pages of `limit` events backwards until `more` is false;
/// returns every event, oldest first, checking each page's order and size.
async fn all_pages<F, Fut>(limit: usize, mut fetch: F) -> Vec<Value>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = (Vec<Value>, bool)>,
{
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut before = None;
    loop {
        let (events, more) = fetch(before.clone()).await;
        assert!(
            events.len() <= limit,
            "a page of {} events, limit {limit}",
            events.len()
        );
        assert!(!events.is_empty() || !more, "an empty page says more=true");
        let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "a page is not oldest first");
        if let (Some(oldest_seen), Some(newest_here)) = (before.as_deref(), ids.last()) {
            assert!(
                *newest_here < oldest_seen,
                "a page is not older than the one before"
            );
        }
        before = ids.first().map(|s| s.to_string());
        if more {
            assert_eq!(
                events.len(),
                limit,
                "a page short of the limit says more=true"
            );
        }
        pages.push(events);
        if !more {
            break;
        }
        assert!(pages.len() < 100, "history never ends");
    }
    pages.into_iter().rev().flatten().collect()
}

/// Checks that `events` (all of the room's history) are alice's join and the messages `ids`.
fn assert_history(events: &[Value], ids: &[String]) {
    for e in events {
        check_event_shape(e).unwrap();
        assert_eq!(e["room"], "general", "{e}");
    }
    let messages: Vec<&Value> = events.iter().filter(|e| is_message(e)).collect();
    let got: Vec<&str> = messages.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids, "the history's messages differ from those sent");
    for (i, e) in messages.iter().enumerate() {
        assert_eq!(e["text"], format!("message {i}"), "{e}");
        assert_eq!(e["author"], "alice", "{e}");
        assert_eq!(e["client_id"], format!("c{i}"), "{e}");
    }
    let others: Vec<&Value> = events.iter().filter(|e| !is_message(e)).collect();
    assert!(
        others
            .iter()
            .all(|e| e["kind"] == "join" && e["author"] == "alice"),
        "unexpected non-message events: {others:?}"
    );
}

/// Sends `count` messages, stops the server with SIGTERM, starts a new one
/// with `restarted`'s options and checks the history over WebSocket and REST.
async fn restart_keeps_history(first: ServerOptions, restarted: ServerOptions, count: usize) {
    let mut server = ServerProcess::start(first).await.unwrap();
    let ids = post_messages(&server, count).await;
    let status = server.stop().await.unwrap();
    assert!(
        status.success(),
        "SIGTERM should end the server cleanly, it ended with {status}; log tail:\n{}",
        server.log_tail()
    );
    drop(server);

    let server = ServerProcess::start(restarted).await.unwrap();
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();
    let token = ws.login("alice", PASSWORD).await.unwrap();

    // WebSocket pages.
    let ws = std::sync::Arc::new(tokio::sync::Mutex::new(ws));
    let events = all_pages(10, |before| {
        let ws = ws.clone();
        async move {
            let mut frame = json!({"type": "history", "room": "general", "limit": 10});
            if let Some(b) = before {
                frame["before"] = Value::String(b);
            }
            let page = ws.lock().await.request_ok(frame, "history").await.unwrap();
            assert_eq!(page["room"], "general", "{page}");
            (
                page["events"].as_array().unwrap().clone(),
                page["more"].as_bool().unwrap(),
            )
        }
    })
    .await;
    assert_history(&events, &ids);

    // REST pages.
    let http = server.http();
    let token = token.as_str();
    let rest_events = all_pages(10, |before| {
        let http = http.clone();
        async move {
            let path = match before {
                Some(b) => format!("/api/v1/rooms/general/messages?limit=10&before={b}"),
                None => "/api/v1/rooms/general/messages?limit=10".to_string(),
            };
            let (status, body) = http.get(&path, Some(token)).await.unwrap();
            assert_eq!(status, 200, "GET {path}: {body}");
            assert_eq!(body["room"], "general", "{body}");
            (
                body["events"].as_array().unwrap().clone(),
                body["more"].as_bool().unwrap(),
            )
        }
    })
    .await;
    assert_eq!(rest_events, events, "REST and WebSocket history differ");
}

#[tokio::test]
async fn history_survives_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let opts = |node: &str| {
        ServerOptions::new()
            .dir(dir.path())
            .node_id(node)
            .relaxed_limits()
    };
    restart_keeps_history(opts("first"), opts("second"), 30).await;
}

#[tokio::test]
async fn history_survives_restart_on_postgres() {
    let pg = PgFixture::start().unwrap();
    let url = pg.create_database("restart").unwrap();
    let opts = |node: &str| {
        ServerOptions::new()
            .database(url.clone())
            .node_id(node)
            .relaxed_limits()
    };
    restart_keeps_history(opts("pg-first"), opts("pg-second"), 30).await;
}
