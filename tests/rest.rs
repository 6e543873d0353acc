#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The REST API: accounts, rooms, messages, members; a REST post reaches a
//! WebSocket client live; bad tokens get 401.

use neuralchat_testkit::scenario::{check_event_shape, is_message};
use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::json;

#[tokio::test]
async fn rest_api_round_trip() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let http = server.http();

    let (status, body) = http.get("/healthz", None).await.unwrap();
    assert_eq!(status, 200, "{body}");
    // "degraded" when the default bot's model server is not running (here).
    assert!(
        ["ok", "degraded"].contains(&body["status"].as_str().unwrap()),
        "{body}"
    );
    assert_eq!(body["database"]["ok"], true, "{body}");
    assert_eq!(body["node"], server.node_id(), "{body}");

    // Accounts.
    let (status, body) = http
        .post(
            "/api/v1/register",
            None,
            &json!({"username": "carol", "password": "carol-password"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "register: {body}");
    assert_eq!(body["user"], "carol", "{body}");
    let (status, body) = http
        .post(
            "/api/v1/register",
            None,
            &json!({"username": "Carol", "password": "carol-password"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("username_taken")),
        "{body}"
    );
    let (status, body) = http
        .post(
            "/api/v1/login",
            None,
            &json!({"username": "carol", "password": "wrong-password"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials")),
        "{body}"
    );
    let (status, body) = http
        .post(
            "/api/v1/login",
            None,
            &json!({"username": "carol", "password": "carol-password"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "login: {body}");
    assert_eq!(body["user"], "carol", "{body}");
    assert!(
        body["expires_at"].as_i64().unwrap() > 1_600_000_000_000,
        "{body}"
    );
    let token = body["token"].as_str().unwrap().to_string();
    let bearer = Some(token.as_str());

    // Join over REST; a WebSocket user joins too and watches.
    let (status, body) = http
        .post_empty("/api/v1/rooms/general/join", bearer)
        .await
        .unwrap();
    assert_eq!(status, 200, "join: {body}");
    assert_eq!(body["room"], "general", "{body}");
    assert!(
        body["history"].is_array() && body["more"].is_boolean(),
        "{body}"
    );
    let mut dave = WsClient::connect(&server.ws_url()).await.unwrap();
    dave.register_and_login("dave", "dave-password")
        .await
        .unwrap();
    dave.join("general").await.unwrap();

    // Post over REST: 201 with the event; dave sees it live.
    let (status, body) = http
        .post(
            "/api/v1/rooms/general/messages",
            bearer,
            &json!({"text": "hello from REST", "client_id": "rest-1"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "post: {body}");
    let event = body["event"].clone();
    check_event_shape(&event).unwrap();
    assert_eq!(event["author"], "carol", "{event}");
    assert_eq!(event["text"], "hello from REST", "{event}");
    assert_eq!(event["kind"], "message", "{event}");
    assert_eq!(event["client_id"], "rest-1", "{event}");
    let live = dave.recv_event(|e| e["id"] == event["id"]).await.unwrap();
    assert_eq!(live, event);
    // A retry with the same client_id gives the same event.
    let (status, retry) = http
        .post(
            "/api/v1/rooms/general/messages",
            bearer,
            &json!({"text": "hello from REST", "client_id": "rest-1"}),
        )
        .await
        .unwrap();
    assert!(status == 200 || status == 201, "retry: {status} {retry}");
    assert_eq!(retry["event"]["id"], event["id"], "{retry}");

    // Messages.
    let (status, body) = http
        .get("/api/v1/rooms/general/messages?limit=50", bearer)
        .await
        .unwrap();
    assert_eq!(status, 200, "messages: {body}");
    assert_eq!(body["room"], "general", "{body}");
    assert_eq!(body["more"], false, "{body}");
    let messages: Vec<_> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| is_message(e))
        .cloned()
        .collect();
    assert_eq!(messages, vec![event.clone()], "{body}");

    // Members: carol (owner, no live session) and dave (online).
    let (status, body) = http
        .get("/api/v1/rooms/general/members", bearer)
        .await
        .unwrap();
    assert_eq!(status, 200, "members: {body}");
    assert_eq!(body["room"], "general", "{body}");
    assert_eq!(
        body["members"],
        json!([
            {"user": "carol", "role": "owner", "online": false},
            {"user": "dave", "role": "member", "online": true},
        ]),
        "{body}"
    );

    // Rooms.
    let (status, body) = http.get("/api/v1/rooms", bearer).await.unwrap();
    assert_eq!(status, 200, "rooms: {body}");
    let general = body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "general")
        .cloned();
    assert_eq!(
        general.map(|g| g["members"].clone()),
        Some(json!(2)),
        "{body}"
    );

    // Unknown room over REST: 404 unknown_room.
    let (status, body) = http
        .get("/api/v1/rooms/nosuchroom/messages", bearer)
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_room")),
        "{body}"
    );

    // Leave: 204; dave sees carol's leave event.
    let (status, body) = http
        .post_empty("/api/v1/rooms/general/leave", bearer)
        .await
        .unwrap();
    assert_eq!(status, 204, "leave: {body}");
    let left = dave
        .recv_event(|e| e["kind"] == "leave" && e["author"] == "carol")
        .await
        .unwrap();
    assert_eq!(left["room"], "general");

    // Logout: 204, then the token is refused.
    let (status, body) = http.post_empty("/api/v1/logout", bearer).await.unwrap();
    assert_eq!(status, 204, "logout: {body}");
    let (status, body) = http
        .get("/api/v1/rooms/general/messages", bearer)
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
}

#[tokio::test]
async fn bad_or_missing_bearer_is_401() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let http = server.http();
    for path in ["/api/v1/rooms", "/api/v1/rooms/general/messages"] {
        let (status, body) = http.get(path, Some("not-a-token")).await.unwrap();
        assert_eq!(status, 401, "GET {path} with a bad token: {body}");
        assert_eq!(body["code"], "invalid_token", "GET {path}: {body}");
        assert!(body["message"].is_string(), "{body}");
    }
    let (status, body) = http
        .post(
            "/api/v1/rooms/general/messages",
            Some("not-a-token"),
            &json!({"text": "x"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    let (status, body) = http.get("/api/v1/rooms", None).await.unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated")),
        "no token: {body}"
    );
    // The server still works afterwards.
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();
    ws.ping().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_and_bearer_case() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let http = server.http();
    let (status, body) = http.get("/api/v1/nope", None).await.unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    http.post(
        "/api/v1/register",
        None,
        &serde_json::json!({"username":"erin","password":"password1"}),
    )
    .await
    .unwrap();
    let (_, login) = http
        .post(
            "/api/v1/login",
            None,
            &serde_json::json!({"username":"erin","password":"password1"}),
        )
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let raw = format!(
        "GET /api/v1/rooms HTTP/1.1\r\nhost: x\r\nauthorization: bearer {token}\r\nconnection: close\r\n\r\n"
    );
    let response = http.send_raw(raw.as_bytes()).await.unwrap();
    assert_eq!(response.status, 200);
}
