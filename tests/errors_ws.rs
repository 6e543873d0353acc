#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every client mistake over WebSocket gets its stable error code, and the
//! server keeps serving afterwards.

use neuralchat_testkit::scenario::is_message;
use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};

/// A server on a fresh SQLite file with extra environment variables.
async fn server(env: &[(&str, &str)]) -> ServerProcess {
    let mut opts = ServerOptions::new();
    for (k, v) in env {
        opts = opts.env(*k, *v);
    }
    ServerProcess::start(opts).await.unwrap()
}

/// A new connection logged in as a freshly registered `name`.
async fn logged_in(server: &ServerProcess, name: &str) -> WsClient {
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();
    ws.register_and_login(name, "password-123").await.unwrap();
    ws
}

/// Asserts `frame` is an error with `code` and (when given) the `ref`.
#[track_caller]
fn assert_error(frame: &Value, code: &str, reference: Option<&str>) {
    assert_eq!(
        frame["type"], "error",
        "expected an error {code}, got {frame}"
    );
    assert_eq!(
        frame["code"], code,
        "expected error code {code}, got {frame}"
    );
    assert!(
        frame["message"].is_string(),
        "error without message: {frame}"
    );
    match reference {
        Some(r) => assert_eq!(frame["ref"], r, "the error does not echo the ref: {frame}"),
        None => assert!(frame.get("ref").is_none(), "unexpected ref: {frame}"),
    }
}

/// A new client can still register, log in, join, post and ping.
async fn assert_still_serves(server: &ServerProcess, name: &str) {
    let mut ws = logged_in(server, name).await;
    ws.join("afterwards").await.unwrap();
    let ack = ws
        .send_message("afterwards", "still here", None)
        .await
        .unwrap();
    ws.recv_event(|e| e["id"] == ack["id"]).await.unwrap();
    ws.ping().await.unwrap();
}

#[tokio::test]
async fn credentials_and_tokens() {
    let server = server(&[]).await;
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();

    let answer = ws
        .request(json!({"type": "join", "room": "general"}))
        .await
        .unwrap();
    assert_error(&answer, "unauthenticated", Some("r1"));

    ws.request_ok(
        json!({"type": "register", "username": "alice", "password": "right-password"}),
        "registered",
    )
    .await
    .unwrap();
    let again = ws
        .request(json!({"type": "register", "username": "ALICE", "password": "other-password"}))
        .await
        .unwrap();
    assert_error(&again, "username_taken", Some("r3"));

    let wrong = ws
        .request(json!({"type": "login", "username": "alice", "password": "wrong-password"}))
        .await
        .unwrap();
    assert_error(&wrong, "invalid_credentials", Some("r4"));
    let unknown = ws
        .request(json!({"type": "login", "username": "nobody", "password": "right-password"}))
        .await
        .unwrap();
    assert_error(&unknown, "invalid_credentials", Some("r5"));
    let bad_token = ws
        .request(json!({"type": "auth", "token": "not-a-real-token"}))
        .await
        .unwrap();
    assert_error(&bad_token, "invalid_token", Some("r6"));

    // bcrypt reads 72 bytes: 73 are refused, not truncated; 72 work.
    let long = "é".repeat(36) + "x"; // 73 bytes, 37 characters
    assert_eq!(long.len(), 73);
    let too_long = ws
        .request(json!({"type": "register", "username": "carol", "password": long}))
        .await
        .unwrap();
    assert_error(&too_long, "password_too_long", Some("r7"));
    let exact = "p".repeat(72);
    ws.request_ok(
        json!({"type": "register", "username": "carol", "password": exact}),
        "registered",
    )
    .await
    .unwrap();
    let token = ws.login("carol", &exact).await.unwrap();
    assert!(!token.is_empty());

    ws.ping().await.unwrap();
    assert_still_serves(&server, "dave").await;
}

#[tokio::test]
async fn malformed_frames() {
    let server = server(&[]).await;
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();

    ws.send_text("{nope").await.unwrap();
    assert_error(&ws.recv_json().await.unwrap(), "bad_json", None);
    ws.send_text("[1,2,3]").await.unwrap();
    assert_error(&ws.recv_json().await.unwrap(), "bad_json", None);

    ws.send_text(r#"{"type":"dance","ref":"u1"}"#)
        .await
        .unwrap();
    assert_error(&ws.recv_json().await.unwrap(), "unknown_type", Some("u1"));
    ws.send_text(r#"{"ref":"u2"}"#).await.unwrap();
    assert_error(&ws.recv_json().await.unwrap(), "unknown_type", Some("u2"));

    ws.send_text(r#"{"type":"join","ref":"m1"}"#).await.unwrap();
    assert_error(&ws.recv_json().await.unwrap(), "bad_frame", Some("m1"));
    // A numeric ref comes back as a string.
    ws.send_text(r#"{"type":"login","ref":7,"username":"x"}"#)
        .await
        .unwrap();
    assert_error(&ws.recv_json().await.unwrap(), "bad_frame", Some("7"));

    // The connection is still usable.
    ws.ping().await.unwrap();
    ws.register_and_login("erin", "password-123").await.unwrap();
    ws.join("general").await.unwrap();
    assert_still_serves(&server, "frank").await;
}

#[tokio::test]
async fn oversize_frame() {
    let server = server(&[("NEURALCHAT_LIMITS__MAX_FRAME_BYTES", "1024")]).await;
    let mut ws = logged_in(&server, "alice").await;
    assert_eq!(ws.hello()["limits"]["max_frame_bytes"], 1024);
    ws.join("general").await.unwrap();

    // Just under the limit is fine.
    let text = "a".repeat(900);
    ws.send_message("general", &text, None).await.unwrap();

    // 2000 bytes: refused with frame_too_large (no ref: the frame is not read).
    let big = json!({"type": "send", "ref": "big", "room": "general", "text": "b".repeat(1940)})
        .to_string();
    assert!(big.len() >= 1990 && big.len() <= 2010, "{}", big.len());
    ws.take_backlog(); // alice's own event for the first message
    ws.send_text(&big).await.unwrap();
    let answer = ws.recv_json().await.unwrap();
    assert_error(&answer, "frame_too_large", None);

    // The connection stays open and the oversize message was not stored.
    ws.ping().await.unwrap();
    let page = ws
        .request_ok(json!({"type": "history", "room": "general"}), "history")
        .await
        .unwrap();
    let texts: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| is_message(e))
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec![text.as_str()]);
    assert_still_serves(&server, "bob").await;
}

#[tokio::test]
async fn bad_messages_and_rooms() {
    let server = server(&[("NEURALCHAT_LIMITS__MAX_MESSAGE_CHARS", "100")]).await;
    let mut ws = logged_in(&server, "alice").await;
    ws.join("general").await.unwrap();

    let long = ws
        .request(json!({"type": "send", "room": "general", "text": "x".repeat(101)}))
        .await
        .unwrap();
    assert_eq!(long["code"], "bad_message", "{long}");
    assert_eq!(long["ref"], "r4", "{long}");
    let empty = ws
        .request(json!({"type": "send", "room": "general", "text": "   "}))
        .await
        .unwrap();
    assert_eq!(empty["code"], "bad_message", "{empty}");
    // The limit counts characters, not bytes: 100 two-byte characters pass.
    ws.send_message("general", &"é".repeat(100), None)
        .await
        .unwrap();

    let unknown = ws
        .request(json!({"type": "history", "room": "nosuchroom"}))
        .await
        .unwrap();
    assert_eq!(unknown["type"], "error", "{unknown}");
    assert_eq!(unknown["code"], "unknown_room", "{unknown}");
    let invalid = ws
        .request(json!({"type": "join", "room": "has space"}))
        .await
        .unwrap();
    assert_eq!(invalid["code"], "invalid_room", "{invalid}");
    let cursor = ws
        .request(json!({"type": "history", "room": "general", "before": "not-an-id"}))
        .await
        .unwrap();
    assert_eq!(cursor["code"], "bad_cursor", "{cursor}");

    // Posting to a room one has not joined.
    let mut bob = logged_in(&server, "bob").await;
    let refused = bob
        .request(json!({"type": "send", "room": "general", "text": "hi"}))
        .await
        .unwrap();
    assert_eq!(refused["code"], "not_member", "{refused}");

    ws.ping().await.unwrap();
    assert_still_serves(&server, "carol").await;
}

#[tokio::test]
async fn flood_is_rate_limited() {
    let server = server(&[
        ("NEURALCHAT_LIMITS__MESSAGES_PER_SECOND", "2"),
        ("NEURALCHAT_LIMITS__MESSAGE_BURST", "3"),
    ])
    .await;
    let mut ws = logged_in(&server, "alice").await;
    ws.join("general").await.unwrap();

    let mut refs = Vec::new();
    for i in 0..10 {
        let reference = ws.fresh_ref();
        let frame = json!({"type": "send", "ref": reference, "room": "general", "text": format!("flood {i}")});
        ws.send_json(&frame).await.unwrap();
        refs.push(reference);
    }
    let mut accepted = Vec::new();
    let mut limited = 0;
    for reference in &refs {
        let answer = ws.wait_ref(reference).await.unwrap();
        match answer["type"].as_str() {
            Some("ack") => accepted.push(answer["id"].as_str().unwrap().to_string()),
            Some("error") if answer["code"] == "rate_limited" => limited += 1,
            _ => panic!("unexpected answer to {reference}: {answer}"),
        }
    }
    assert_eq!(accepted.len() + limited, 10);
    assert!(
        accepted.len() >= 3,
        "the burst of 3 was not allowed: {accepted:?}"
    );
    assert!(
        limited >= 1,
        "nothing was rate limited ({} accepted)",
        accepted.len()
    );

    // The connection still answers, and the history holds exactly the accepted messages.
    ws.ping().await.unwrap();
    let page = ws
        .request_ok(
            json!({"type": "history", "room": "general", "limit": 50}),
            "history",
        )
        .await
        .unwrap();
    let stored: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| is_message(e))
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, accepted);
    assert_eq!(page["more"], false);
    assert_still_serves(&server, "bob").await;
}
