#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every REST route (as docs/PROTOCOL.md lists them) and every client frame
//! type (as the decoder knows them), tried without a token, with a revoked
//! token, and by a user without rights in the room: each refused with its
//! code. Generated from those lists, so a new route or frame cannot be
//! forgotten here.

use neuralchat_core::protocol::CLIENT_TYPES;
use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::json;

/// (method, path) of every REST route in docs/PROTOCOL.md, query dropped.
fn documented_routes() -> Vec<(String, String)> {
    let doc = include_str!("../docs/PROTOCOL.md");
    doc.lines()
        .filter_map(|line| {
            let cell = line.strip_prefix("| `")?.split('`').next()?;
            let (method, path) = cell.split_once(' ')?;
            if !path.starts_with("/api/") {
                return None;
            }
            let path = path.split('?').next()?.replace("{room}", "secret");
            Some((method.to_owned(), path))
        })
        .collect()
}

/// Routes and frames anyone may use.
fn public(name: &str) -> bool {
    ["register", "login", "auth", "ping"]
        .iter()
        .any(|p| name == *p || name.ends_with(&format!("/{p}")))
}

#[tokio::test]
async fn every_route_and_frame_refuses_the_unauthorised() {
    let server = ServerProcess::start(ServerOptions::new().relaxed_limits())
        .await
        .unwrap();
    let mut alice = WsClient::connect(&server.ws_url()).await.unwrap();
    alice
        .register_and_login("alice", "password-123")
        .await
        .unwrap();
    alice.join("secret").await.unwrap();
    alice
        .request_ok(
            json!({"type":"send","room":"secret","text":"/private on"}),
            "command",
        )
        .await
        .unwrap();
    let mut bob = WsClient::connect(&server.ws_url()).await.unwrap();
    let bob_token = bob.register_and_login("bob", "password-123").await.unwrap();
    let mut carol = WsClient::connect(&server.ws_url()).await.unwrap();
    let revoked = carol
        .register_and_login("carol", "password-123")
        .await
        .unwrap();
    carol
        .request_ok(json!({"type":"logout"}), "logged_out")
        .await
        .unwrap();

    let http = server.http();
    let routes = documented_routes();
    assert!(
        routes.len() >= 10,
        "the REST table was not found: {routes:?}"
    );
    let body = json!({"text": "hi"});
    for (method, path) in &routes {
        if public(path) {
            continue;
        }
        let what = format!("{method} {path}");
        let r = http.send(method, path, None, Some(&body)).await.unwrap();
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (401, json!("unauthenticated")),
            "{what}"
        );
        let r = http
            .send(method, path, Some(&revoked), Some(&body))
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (401, json!("invalid_token")),
            "{what}"
        );
        if path.contains("/rooms/secret/") {
            let r = http
                .send(method, path, Some(&bob_token), Some(&body))
                .await
                .unwrap();
            let code = r.json()["code"].as_str().unwrap_or("").to_owned();
            assert_eq!(r.status, 403, "{what}: {}", r.text());
            assert!(
                ["invite_only", "not_member"].contains(&code.as_str()),
                "{what}: {code}"
            );
        }
    }

    let mut anonymous = WsClient::connect(&server.ws_url()).await.unwrap();
    for kind in CLIENT_TYPES {
        let frame = json!({"type": kind, "room": "secret", "text": "hi"});
        if !public(kind) {
            let answer = anonymous.request(frame.clone()).await.unwrap();
            assert_eq!(answer["code"], "unauthenticated", "{kind}: {answer}");
        }
        if ["join", "leave", "send", "history", "who"].contains(kind) {
            let answer = bob.request(frame).await.unwrap();
            let code = answer["code"].as_str().unwrap_or("");
            assert!(
                ["invite_only", "not_member"].contains(&code),
                "{kind}: {answer}"
            );
        }
    }
    let answer = anonymous
        .request(json!({"type":"auth","token": revoked}))
        .await
        .unwrap();
    assert_eq!(answer["code"], "invalid_token");
    // Nothing bob or the anonymous client tried reached the room.
    let history = alice
        .request(json!({"type":"history","room":"secret"}))
        .await
        .unwrap();
    let texts: Vec<_> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message")
        .collect();
    assert!(texts.is_empty(), "{history}");
}
