#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Connections that only hold resources are closed: a client that stops
//! reading, one that never logs in, one address opening too many, a page
//! from an origin not allowed; binary frames that are not UTF-8 are refused.

use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Waits (20 s) until the server's log holds `needle` `count` times.
async fn logged(server: &ServerProcess, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.log_text().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} x{count} in the log:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let server = ServerProcess::start(
        ServerOptions::new()
            .relaxed_limits()
            .env("NEURALCHAT_LIMITS__OUTBOX_CAPACITY", "16")
            .env("NEURALCHAT_LIMITS__WRITE_DEADLINE_SECS", "1"),
    )
    .await
    .unwrap();
    let mut sleepy = WsClient::connect(&server.ws_url()).await.unwrap();
    sleepy
        .register_and_login("sleepy", "password-123")
        .await
        .unwrap();
    sleepy.join("general").await.unwrap();
    let mut talker = WsClient::connect(&server.ws_url()).await.unwrap();
    talker
        .register_and_login("talker", "password-123")
        .await
        .unwrap();
    talker.join("general").await.unwrap();
    // Sleepy never reads again. Big messages fill its socket buffers, then
    // its server-side queue.
    let text = "x".repeat(3_900);
    let mut sent = 0;
    while !server.log_text().contains("session ended") {
        talker.send_message("general", &text, None).await.unwrap();
        sent += 1;
        assert!(
            sent < 5_000,
            "sleepy was never disconnected:\n{}",
            server.log_tail()
        );
    }
    logged(&server, "user=sleepy", 1).await;
    // The server cut the TCP connection: what sleepy reads now ends.
    let closed = sleepy.expect_closed().await.unwrap();
    assert!(
        closed.frames.len() < sent,
        "{} of {sent} frames",
        closed.frames.len()
    );
    // The talker is unaffected.
    talker
        .send_message("general", "still here", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_connection_that_never_logs_in_is_closed() {
    let server = ServerProcess::start(
        ServerOptions::new().env("NEURALCHAT_LIMITS__LOGIN_DEADLINE_SECS", "1"),
    )
    .await
    .unwrap();
    let mut idle = WsClient::connect(&server.ws_url()).await.unwrap();
    let mut busy = WsClient::connect(&server.ws_url()).await.unwrap();
    busy.register_and_login("busy", "password-123")
        .await
        .unwrap();
    let closed = idle.expect_closed().await.unwrap();
    assert_eq!(closed.code, Some(1008), "{closed:?}");
    assert_eq!(closed.reason, "unauthenticated");
    assert!(
        closed.frames.iter().any(|f| f["code"] == "unauthenticated"),
        "{closed:?}"
    );
    // The logged-in session stays.
    // Not a synchronisation: the logged-in session must outlive its own
    // deadline, so let that pass.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    busy.ping().await.unwrap();
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_connections() {
    let server = ServerProcess::start(
        ServerOptions::new().env("NEURALCHAT_LIMITS__CONNECTIONS_PER_ADDRESS", "2"),
    )
    .await
    .unwrap();
    let first = WsClient::connect(&server.ws_url()).await.unwrap();
    let _second = WsClient::connect(&server.ws_url()).await.unwrap();
    let refused = tokio_tungstenite::connect_async(server.ws_url()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("rate_limited"), "{body}");
        }
        other => panic!("a third connection was not refused: {other:?}"),
    }
    // Closing one frees its place.
    first.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while WsClient::connect(&server.ws_url()).await.is_err() {
        assert!(Instant::now() < deadline, "the place was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn only_allowed_origins_may_open_a_websocket() {
    let server = ServerProcess::start(ServerOptions::new().env(
        "NEURALCHAT_WEBSOCKET__ALLOWED_ORIGINS",
        "[\"https://chat.example.org\"]",
    ))
    .await
    .unwrap();
    let with_origin = |origin: &str| {
        let mut request = server.ws_url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request
    };
    match tokio_tungstenite::connect_async(with_origin("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("a foreign origin was let in: {other:?}"),
    }
    assert!(
        tokio_tungstenite::connect_async(with_origin("https://chat.example.org"))
            .await
            .is_ok()
    );
    // Non-browser clients send no Origin.
    assert!(WsClient::connect(&server.ws_url()).await.is_ok());
}

#[tokio::test]
async fn binary_frames_that_are_not_utf8_are_refused_and_never_stored() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();
    ws.register_and_login("alice", "password-123")
        .await
        .unwrap();
    ws.join("general").await.unwrap();
    let mut frame = br#"{"type":"send","room":"general","text":"caf"#.to_vec();
    frame.extend_from_slice(&[0xff, 0xfe]);
    frame.extend_from_slice(br#""}"#);
    ws.send_binary(&frame).await.unwrap();
    let answer = ws.recv_json().await.unwrap();
    assert_eq!(answer["code"], "bad_json", "{answer}");
    // A valid UTF-8 binary frame is read as text.
    ws.send_binary(br#"{"type":"history","room":"general","ref":"h"}"#)
        .await
        .unwrap();
    let history = ws.wait_ref("h").await.unwrap();
    let texts: Vec<_> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["text"])
        .collect();
    assert!(
        !texts
            .iter()
            .any(|t| t.as_str().unwrap_or("").contains("caf")),
        "{history}"
    );
}
