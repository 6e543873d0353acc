//! The engine in-process: sessions exchanging real frames over a real SQLite
//! file, without any transport.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use neuralchat_core::{Disconnect, ErrorCode};
use serde_json::json;
use support::{engine, fast_config, Client, DEADLINE};
use tempfile::TempDir;

#[actix_rt::test]
async fn two_sessions_chat_in_one_order() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = Client::connect(&engine).await;
    let mut bob = Client::connect(&engine).await;
    alice.sign_up("alice").await;
    bob.sign_up("bob").await;
    assert_eq!(
        alice.request(json!({"type":"join","room":"General"})).await["type"],
        "joined"
    );
    let joined = bob.request(json!({"type":"join","room":"general"})).await;
    assert_eq!(joined["room"], "general");
    // Bob's history shows alice's join and his own.
    let kinds: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["join", "join"]);

    for i in 0..10 {
        let ack = alice
            .request(json!({"type":"send","room":"general","text":format!("m{i}")}))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let mut seen_by_bob = Vec::new();
    while seen_by_bob.len() < 10 {
        let frame = bob
            .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "message")
            .await;
        assert_eq!(frame["event"]["author"], "alice");
        assert_eq!(frame["event"]["origin"], engine.node_id());
        seen_by_bob.push(frame["event"]["text"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    assert_eq!(seen_by_bob, expected);

    let who = bob.request(json!({"type":"who","room":"general"})).await;
    assert_eq!(
        who["members"],
        json!([
            {"user":"alice","role":"owner","online":true},
            {"user":"bob","role":"member","online":true}
        ])
    );
}

#[actix_rt::test]
async fn a_retried_client_id_is_stored_and_sent_once() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = Client::connect(&engine).await;
    alice.sign_up("alice").await;
    alice.request(json!({"type":"join","room":"r"})).await;
    let first = alice
        .request(json!({"type":"send","room":"r","text":"once","client_id":"c-1"}))
        .await;
    let again = alice
        .request(json!({"type":"send","room":"r","text":"once","client_id":"c-1"}))
        .await;
    assert_eq!(first["id"], again["id"]);
    let history = alice.request(json!({"type":"history","room":"r"})).await;
    let texts: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["once"]);
}

#[actix_rt::test]
async fn history_pages_backwards_with_before() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.message_burst = 100.0;
    let engine = engine(&dir, config).await;
    let mut alice = Client::connect(&engine).await;
    alice.sign_up("alice").await;
    alice.request(json!({"type":"join","room":"r"})).await;
    for i in 0..25 {
        alice
            .request(json!({"type":"send","room":"r","text":format!("{i}")}))
            .await;
    }
    let mut texts = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut frame = json!({"type":"history","room":"r","limit":10});
        if let Some(b) = &before {
            frame["before"] = json!(b);
        }
        let page = alice.request(frame).await;
        let events = page["events"].as_array().unwrap().clone();
        let mut page_texts: Vec<String> = events
            .iter()
            .map(|e| e["text"].as_str().unwrap().to_owned())
            .collect();
        page_texts.extend(texts);
        texts = page_texts;
        if page["more"] == false {
            break;
        }
        before = Some(events[0]["id"].as_str().unwrap().to_owned());
    }
    // The join event (empty text) comes first, then 0..25 in order.
    assert_eq!(texts.len(), 26);
    assert_eq!(texts[0], "");
    assert_eq!(
        texts[1..],
        (0..25).map(|i| i.to_string()).collect::<Vec<_>>()[..]
    );

    let over = alice
        .request(json!({"type":"history","room":"r","limit":100000}))
        .await;
    assert_eq!(
        over["events"].as_array().unwrap().len(),
        26,
        "limit is clamped, not refused"
    );
    let bad = alice
        .request(json!({"type":"history","room":"r","before":"not-an-id"}))
        .await;
    assert_eq!(bad["code"], "bad_cursor");
}

#[actix_rt::test]
async fn frames_refused_during_shutdown_keep_their_ref() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut c = Client::connect(&engine).await;
    engine.begin_shutdown();
    c.send_raw(r#"{"type":"ping","ref":"p1"}"#).await;
    let frame = c.recv().await;
    assert_eq!(frame["code"], "shutting_down", "{frame}");
    assert_eq!(frame["ref"], "p1", "{frame}");
}

#[actix_rt::test]
async fn a_flood_of_refused_frames_behind_a_waiting_message_closes_the_session() {
    use neuralchat_core::session::MOST_WAITING_ANSWERS;
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = Client::connect(&engine).await;
    alice.sign_up("alice").await;
    alice.request(json!({"type":"join","room":"r"})).await;
    // Another writer holds the database: the message waits to be stored.
    let path = dir.path().join("chat.db");
    let writer = neuralchat_testkit::WriteLock::hold(&path.to_string_lossy()).unwrap();
    alice
        .send_raw(r#"{"type":"send","room":"r","text":"held","ref":"m1"}"#)
        .await;
    // Every refusal waits behind the message's ack; past the limit, the
    // session is closed instead of keeping them all.
    for _ in 0..MOST_WAITING_ANSWERS + 10 {
        alice.send_raw("{not json").await;
    }
    let reason = tokio::time::timeout(DEADLINE, &mut alice.link.closed)
        .await
        .expect("the session was not closed")
        .unwrap();
    assert_eq!(reason.code, ErrorCode::RateLimited, "{}", reason.message);
    // Nothing is lost: once the writer lets go, the message is stored, and
    // its event and ack come before any of the refusals.
    writer.release().unwrap();
    let mut before_ack = Vec::new();
    let ack = loop {
        let frame = alice.recv().await;
        if frame["type"] == "ack" {
            break frame;
        }
        before_ack.push(frame);
    };
    assert_eq!(ack["ref"], "m1", "{ack}");
    assert!(
        before_ack.iter().all(|f| f["type"] == "event"),
        "{before_ack:?}"
    );
    assert!(
        before_ack.iter().any(|f| f["event"]["text"] == "held"),
        "{before_ack:?}"
    );
}

#[actix_rt::test]
async fn bad_frames_get_codes_and_the_session_lives_on() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.max_frame_bytes = 512;
    config.limits.max_message_chars = 10;
    let engine = engine(&dir, config).await;
    let mut c = Client::connect(&engine).await;
    let cases = [
        ("{not json", ErrorCode::BadJson),
        ("42", ErrorCode::BadJson),
        (r#"{"type":"fly"}"#, ErrorCode::UnknownType),
        (r#"{"type":"join"}"#, ErrorCode::BadFrame),
        (
            r#"{"type":"join","room":"general"}"#,
            ErrorCode::Unauthenticated,
        ),
    ];
    for (text, code) in cases {
        c.send_raw(text).await;
        let frame = c.recv().await;
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["code"], code.as_str(), "{text}");
    }
    c.send_raw(&format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(600)))
        .await;
    assert_eq!(c.recv().await["code"], "frame_too_large");

    c.sign_up("carol").await;
    let answer = c
        .request(json!({"type":"login","username":"carol","password":"password1"}))
        .await;
    assert_eq!(answer["code"], "already_authenticated");
    assert_eq!(
        c.request(json!({"type":"send","room":"nowhere","text":"hi"}))
            .await["code"],
        "unknown_room"
    );
    assert_eq!(
        c.request(json!({"type":"join","room":"bad room"})).await["code"],
        "invalid_room"
    );
    c.request(json!({"type":"join","room":"r"})).await;
    assert_eq!(
        c.request(json!({"type":"send","room":"r","text":"x".repeat(11)}))
            .await["code"],
        "bad_message"
    );
    assert_eq!(
        c.request(json!({"type":"send","room":"r","text":"   "}))
            .await["code"],
        "bad_message"
    );
    assert_eq!(c.request(json!({"type":"ping"})).await["type"], "pong");
}

#[actix_rt::test]
async fn accounts_refuse_what_they_must() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut c = Client::connect(&engine).await;
    let long = "p".repeat(73);
    let answer = c
        .request(json!({"type":"register","username":"dave","password":long}))
        .await;
    assert_eq!(answer["code"], "password_too_long");
    assert_eq!(
        c.request(json!({"type":"register","username":"dave","password":"short"}))
            .await["code"],
        "invalid_password"
    );
    assert_eq!(
        c.request(json!({"type":"register","username":"d","password":"password1"}))
            .await["code"],
        "invalid_username"
    );
    c.request(json!({"type":"register","username":"Dave","password":"password1"}))
        .await;
    assert_eq!(
        c.request(json!({"type":"register","username":"dave","password":"password1"}))
            .await["code"],
        "username_taken"
    );
    assert_eq!(
        c.request(json!({"type":"login","username":"dave","password":"wrong-one"}))
            .await["code"],
        "invalid_credentials"
    );
    assert_eq!(
        c.request(json!({"type":"login","username":"nobody","password":"password1"}))
            .await["code"],
        "invalid_credentials"
    );
    // A 73-byte password whose first 72 bytes match must not log in.
    c.request(json!({"type":"register","username":"erin","password":"q".repeat(72)}))
        .await;
    assert_eq!(
        c.request(json!({"type":"login","username":"erin","password":"q".repeat(73)}))
            .await["code"],
        "invalid_credentials"
    );
    assert_eq!(
        c.request(json!({"type":"auth","token":"forged"})).await["code"],
        "invalid_token"
    );

    let grant = engine.login("dave", "password1").await.unwrap();
    assert_eq!(grant.user, "Dave");
    assert_eq!(engine.authenticate(&grant.token).await.unwrap(), "Dave");
    engine.logout(&grant.token).await.unwrap();
    assert_eq!(
        engine.authenticate(&grant.token).await.unwrap_err().code,
        ErrorCode::InvalidToken
    );
}

#[actix_rt::test]
async fn message_floods_are_rate_limited() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.messages_per_second = 0.5;
    config.limits.message_burst = 3.0;
    let engine = engine(&dir, config).await;
    let mut c = Client::connect(&engine).await;
    c.sign_up("fred").await;
    c.request(json!({"type":"join","room":"r"})).await;
    let mut codes = Vec::new();
    for i in 0..8 {
        let answer = c
            .request(json!({"type":"send","room":"r","text":format!("{i}")}))
            .await;
        codes.push(answer["code"].as_str().unwrap_or("ok").to_owned());
    }
    assert_eq!(codes.iter().filter(|c| *c == "ok").count(), 3, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|c| *c == "rate_limited").count(),
        5,
        "{codes:?}"
    );
    let history = c.request(json!({"type":"history","room":"r"})).await;
    assert_eq!(
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "message")
            .count(),
        3
    );
}

#[actix_rt::test]
async fn a_client_that_does_not_read_is_disconnected() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.outbox_capacity = 8;
    config.limits.message_burst = 1000.0;
    let engine = engine(&dir, config).await;
    let mut alice = Client::connect(&engine).await;
    let mut slow = Client::connect(&engine).await;
    alice.sign_up("alice").await;
    slow.sign_up("slow").await;
    alice.request(json!({"type":"join","room":"r"})).await;
    slow.request(json!({"type":"join","room":"r"})).await;
    // `slow` never reads again; alice keeps talking and keeps getting acks.
    for i in 0..40 {
        let ack = alice
            .request(json!({"type":"send","room":"r","text":format!("{i}")}))
            .await;
        assert_eq!(ack["type"], "ack");
    }
    let reason = tokio::time::timeout(DEADLINE, &mut slow.link.closed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reason.code, ErrorCode::SlowConsumer);
    slow.link.session.do_send(Disconnect);
    let who = alice.request(json!({"type":"who","room":"r"})).await;
    assert_eq!(
        who["members"][1],
        json!({"user":"slow","role":"member","online":false})
    );
}

#[actix_rt::test]
async fn history_survives_a_new_engine_on_the_same_file() {
    let dir = TempDir::new().unwrap();
    {
        let engine = engine(&dir, fast_config()).await;
        engine.register("gina", "password1").await.unwrap();
        engine.join("gina", "r", None).await.unwrap();
        engine.post("gina", "r", "kept", None).await.unwrap();
        engine.shutdown().await;
    }
    let engine = engine(&dir, fast_config()).await;
    let page = engine.history("gina", "r", None, None).await.unwrap();
    assert_eq!(page.events.last().unwrap().text, "kept");
    assert!(engine.login("gina", "password1").await.is_ok());
}
