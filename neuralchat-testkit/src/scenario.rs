//! End-to-end scenarios shared by several test files (each test file is its
//! own crate, so shared steps live here). They fail with a message naming the
//! step, the expected and the received frames.

use crate::server::ServerProcess;
use crate::ws::WsClient;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

/// Whether `event` is a chat message.
pub fn is_message(event: &Value) -> bool {
    event["kind"] == "message"
}

/// The message events of a list of events.
pub fn messages(events: &[Value]) -> Vec<Value> {
    events.iter().filter(|e| is_message(e)).cloned().collect()
}

/// Checks that `event` is a well-formed event (id, room, kind, author, origin, ts, text).
pub fn check_event_shape(event: &Value) -> Result<()> {
    for key in ["id", "room", "kind", "author", "origin", "text"] {
        ensure!(
            event[key].is_string(),
            "event field {key} is not a string: {event}"
        );
    }
    ensure!(event["ts"].is_i64(), "event ts is not an integer: {event}");
    ensure!(
        event["ts"].as_i64().unwrap_or_default() > 1_600_000_000_000,
        "event ts is not milliseconds since the epoch: {event}"
    );
    Ok(())
}

/// Two users over WebSocket on `server` (which must not rate-limit: see
/// [`crate::ServerOptions::relaxed_limits`]):
///
/// 1. alice and bob register, log in and join `general` (alice first: owner);
/// 2. alice sends; bob gets the event (author alice, the text, this node as
///    origin), alice gets her own event and an ack with the same id;
/// 3. alice sends 20 messages without waiting; both see them in the order sent;
/// 4. a retry with the same client_id is acked with the same id, and bob sees
///    the message once;
/// 5. `who` lists both online with roles, `rooms` lists general with 2 members;
/// 6. tokens work on a new connection (`auth`); after alice's `logout`, `join`
///    answers `unauthenticated` and her old token is `invalid_token`.
///
/// Returns the ids of the distinct messages stored, in the order sent.
pub async fn two_users_chat(server: &ServerProcess) -> Result<Vec<String>> {
    let url = server.ws_url();
    let mut alice = WsClient::connect(&url).await?;
    let mut bob = WsClient::connect(&url).await?;
    ensure!(
        alice.hello()["node"] == server.node_id(),
        "hello names node {} instead of {}",
        alice.hello()["node"],
        server.node_id()
    );
    let alice_token = alice
        .register_and_login("alice", "alice-secret-1")
        .await
        .context("alice register+login")?;
    let bob_token = bob
        .register_and_login("bob", "bob-secret-12")
        .await
        .context("bob register+login")?;
    let joined = alice.join("general").await.context("alice joins")?;
    ensure!(
        joined["room"] == "general",
        "joined names another room: {joined}"
    );
    ensure!(
        joined["history"].is_array(),
        "joined without history: {joined}"
    );
    ensure!(joined["more"].is_boolean(), "joined without more: {joined}");
    bob.join("#General").await.context("bob joins (#General)")?;

    // 2. One message, seen by both, acked with the same id.
    let ack = alice
        .send_message("general", "hello bob", Some("c-1"))
        .await
        .context("alice sends")?;
    ensure!(ack["room"] == "general", "ack room: {ack}");
    ensure!(ack["client_id"] == "c-1", "ack client_id: {ack}");
    let id = ack["id"].as_str().context("ack without id")?.to_string();
    let own = alice
        .recv_event(|e| e["id"] == id.as_str())
        .await
        .context("alice's own event")?;
    let seen = bob
        .recv_event(is_message)
        .await
        .context("bob waits for alice's message")?;
    check_event_shape(&seen)?;
    ensure!(
        seen["id"] == id.as_str(),
        "bob's first message event is not the acked one: {seen} vs ack {ack}"
    );
    ensure!(seen["author"] == "alice", "author: {seen}");
    ensure!(seen["text"] == "hello bob", "text: {seen}");
    ensure!(seen["room"] == "general", "room: {seen}");
    ensure!(seen["origin"] == server.node_id(), "origin: {seen}");
    ensure!(seen["client_id"] == "c-1", "client_id: {seen}");
    ensure!(
        own == seen,
        "alice's and bob's copies differ: {own} vs {seen}"
    );
    let mut stored = vec![id.clone()];

    // 3. Twenty messages, pipelined; both see them in the order sent.
    let mut refs = Vec::new();
    for i in 0..20 {
        let reference = alice.fresh_ref();
        alice
            .send_json(&json!({"type": "send", "ref": reference, "room": "general", "text": format!("m{i}")}))
            .await?;
        refs.push(reference);
    }
    let mut acked = Vec::new();
    for reference in &refs {
        let answer = alice.wait_ref(reference).await?;
        ensure!(answer["type"] == "ack", "answer to {reference}: {answer}");
        acked.push(answer["id"].as_str().unwrap_or_default().to_string());
    }
    let expected: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    for (name, client) in [("alice", &mut alice), ("bob", &mut bob)] {
        let mut texts = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..20 {
            let event = client.recv_event(is_message).await.with_context(|| {
                format!(
                    "{name} waits for message {} of 20; got {texts:?}",
                    texts.len() + 1
                )
            })?;
            texts.push(event["text"].as_str().unwrap_or_default().to_string());
            ids.push(event["id"].as_str().unwrap_or_default().to_string());
        }
        ensure!(
            texts == expected,
            "{name} saw the messages in this order: {texts:?}"
        );
        ensure!(
            ids == acked,
            "{name} saw ids {ids:?}, the acks said {acked:?}"
        );
        let mut sorted = ids.clone();
        sorted.sort();
        ensure!(
            sorted == ids,
            "ids do not increase in the order seen: {ids:?}"
        );
    }
    stored.extend(acked);

    // 4. A retry with the same client_id: same id, delivered once.
    let first = alice.send_message("general", "once", Some("dup-1")).await?;
    let retry = alice.send_message("general", "once", Some("dup-1")).await?;
    ensure!(
        first["id"] == retry["id"],
        "retry got another id: {first} then {retry}"
    );
    let marker = alice
        .send_message("general", "marker", Some("marker-1"))
        .await?;
    for ack in [&first, &marker] {
        stored.push(ack["id"].as_str().unwrap_or_default().to_string());
    }
    for (name, client) in [("bob", &mut bob), ("alice", &mut alice)] {
        let frames = client
            .collect_until(|f| f["type"] == "event" && f["event"]["id"] == marker["id"])
            .await
            .with_context(|| format!("{name} waits for the marker"))?;
        let copies = frames
            .iter()
            .filter(|f| f["type"] == "event" && f["event"]["id"] == first["id"])
            .count();
        ensure!(
            copies == 1,
            "{name} got the retried message {copies} times: {frames:?}"
        );
    }

    // 5. who and rooms.
    let who = bob
        .request(json!({"type": "who", "room": "general"}))
        .await?;
    ensure!(
        who["type"] == "members" && who["room"] == "general",
        "who answer: {who}"
    );
    let members = who["members"].as_array().context("members is not a list")?;
    let find = |user: &str| members.iter().find(|m| m["user"] == user).cloned();
    let a = find("alice").with_context(|| format!("alice not in {who}"))?;
    let b = find("bob").with_context(|| format!("bob not in {who}"))?;
    ensure!(
        a["online"] == true && b["online"] == true,
        "both should be online: {who}"
    );
    ensure!(
        a["role"] == "owner" && b["role"] == "member",
        "roles: {who}"
    );
    ensure!(members.len() == 2, "exactly two members expected: {who}");
    let rooms = bob.request(json!({"type": "rooms"})).await?;
    ensure!(rooms["type"] == "rooms", "rooms answer: {rooms}");
    let general = rooms["rooms"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "general"))
        .with_context(|| format!("general not listed: {rooms}"))?;
    ensure!(general["members"] == 2, "general's member count: {rooms}");

    // 6. Tokens on a new connection; logout.
    let mut again = WsClient::connect(&url).await?;
    let auth = again
        .request(json!({"type": "auth", "token": bob_token}))
        .await?;
    ensure!(
        auth["type"] == "authenticated" && auth["user"] == "bob",
        "auth with bob's token: {auth}"
    );
    let out = alice.request(json!({"type": "logout"})).await?;
    ensure!(out["type"] == "logged_out", "logout answer: {out}");
    let refused = alice
        .request(json!({"type": "join", "room": "general"}))
        .await?;
    ensure!(
        refused["type"] == "error" && refused["code"] == "unauthenticated",
        "join after logout: expected error unauthenticated, got {refused}"
    );
    let mut third = WsClient::connect(&url).await?;
    let stale = third
        .request(json!({"type": "auth", "token": alice_token}))
        .await?;
    ensure!(
        stale["type"] == "error" && stale["code"] == "invalid_token",
        "auth with a revoked token: expected invalid_token, got {stale}"
    );
    Ok(stored)
}
