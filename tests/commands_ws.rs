#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Commands, roles, mentions and direct messages across two real clients of
//! a real server, and the same commands over REST.

use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};

async fn send(c: &mut WsClient, room: &str, text: &str) -> Value {
    c.request(json!({"type":"send","room":room,"text":text}))
        .await
        .unwrap()
}

#[tokio::test]
async fn two_clients_moderate_mention_and_message_directly() {
    let server = ServerProcess::start(ServerOptions::new().relaxed_limits())
        .await
        .unwrap();
    let mut alice = WsClient::connect(&server.ws_url()).await.unwrap();
    let mut bob = WsClient::connect(&server.ws_url()).await.unwrap();
    alice
        .register_and_login("alice", "password1")
        .await
        .unwrap();
    bob.register_and_login("Боб", "password1").await.unwrap();
    alice.join("lounge").await.unwrap();
    bob.join("lounge").await.unwrap();

    // A mention by a Cyrillic name reaches bob as a notification.
    send(&mut alice, "lounge", "привет, @боб!").await;
    let note = bob.recv_until(|f| f["type"] == "mention").await.unwrap();
    assert_eq!(note["event"]["mentions"], json!(["Боб"]));

    // Bob may not set the topic; alice (owner) makes him moderator, then he may.
    assert_eq!(
        send(&mut bob, "lounge", "/topic mine").await["code"],
        "forbidden"
    );
    send(&mut alice, "lounge", "/op Боб").await;
    assert_eq!(
        send(&mut bob, "lounge", "/topic tea time").await["command"],
        "topic"
    );
    let topic = alice.recv_event(|e| e["kind"] == "topic").await.unwrap();
    assert_eq!(
        (topic["author"].as_str(), topic["text"].as_str()),
        (Some("Боб"), Some("tea time"))
    );

    // A direct message arrives without joining anything.
    let ack = send(&mut bob, "lounge", "/msg alice see you at 5").await;
    assert_eq!(ack["room"], "@alice+боб");
    let dm = alice
        .recv_event(|e| e["room"] == "@alice+боб")
        .await
        .unwrap();
    assert_eq!(dm["text"], "see you at 5");

    // The owner kicks bob: he sees why, and can no longer talk there.
    send(&mut alice, "lounge", "/kick боб").await;
    let kick = bob.recv_event(|e| e["kind"] == "kick").await.unwrap();
    assert_eq!(kick["target"], "Боб");
    assert_eq!(
        send(&mut bob, "lounge", "hello?").await["code"],
        "not_member"
    );
    let unread = send(&mut bob, "lounge", "/mentions").await;
    assert_eq!(unread["data"]["mentions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rest_runs_the_same_commands() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let http = server.http();
    for name in ["carol", "dave"] {
        http.post(
            "/api/v1/register",
            None,
            &json!({"username":name,"password":"password1"}),
        )
        .await
        .unwrap();
    }
    let login = |name: &'static str| {
        let http = server.http();
        async move {
            let (_, body) = http
                .post(
                    "/api/v1/login",
                    None,
                    &json!({"username":name,"password":"password1"}),
                )
                .await
                .unwrap();
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let (carol, dave) = (login("carol").await, login("dave").await);
    http.post_empty("/api/v1/rooms/ops/join", Some(&carol))
        .await
        .unwrap();
    http.post_empty("/api/v1/rooms/ops/join", Some(&dave))
        .await
        .unwrap();

    let (status, body) = http
        .post(
            "/api/v1/rooms/ops/messages",
            Some(&dave),
            &json!({"text":"/kick carol"}),
        )
        .await
        .unwrap();
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, body) = http
        .post(
            "/api/v1/rooms/ops/messages",
            Some(&carol),
            &json!({"text":"/who"}),
        )
        .await
        .unwrap();
    assert_eq!((status, body["command"].as_str()), (200, Some("who")));
    assert_eq!(body["data"]["members"].as_array().unwrap().len(), 2);
    let (status, body) = http
        .post(
            "/api/v1/rooms/ops/messages",
            Some(&carol),
            &json!({"text":"/nope"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unknown_command"))
    );
    let (status, body) = http
        .post(
            "/api/v1/rooms/@dave/messages",
            Some(&carol),
            &json!({"text":"hi dave"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["event"]["room"].as_str()),
        (201, Some("@carol+dave"))
    );
    let (status, body) = http
        .get("/api/v1/rooms/@carol/messages", Some(&dave))
        .await
        .unwrap();
    assert_eq!((status, body["room"].as_str()), (200, Some("@carol+dave")));
    assert_eq!(body["events"][0]["text"], "hi dave");
}
