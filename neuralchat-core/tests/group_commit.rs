//! Group commit through the engine: many rooms' messages at once are stored
//! in shared transactions (the batches hold more than one commit), every
//! acknowledged message is in its room's history exactly once, in order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures_util::future::join_all;
use neuralchat_core::Engine;
use serde_json::json;
use support::{engine, fast_config, Client};
use tempfile::TempDir;

const ROOMS: usize = 16;
const MESSAGES: usize = 25;

/// An engine with no message rate limit.
async fn unthrottled(dir: &TempDir) -> Engine {
    let mut config = fast_config();
    config.limits.messages_per_second = 1e6;
    config.limits.message_burst = 1e6;
    engine(dir, config).await
}

/// A new user's session, joined to `room`.
async fn member(engine: &Engine, user: &str, room: &str) -> Client {
    let mut client = Client::connect(engine).await;
    client.sign_up(user).await;
    let joined = client.request(json!({"type": "join", "room": room})).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    client
}

/// Sends each text to `room`, one after the other, each once the one
/// before is acknowledged; returns the acks' ids.
async fn send_each(client: &mut Client, room: String, texts: Vec<String>) -> Vec<String> {
    let mut ids = Vec::new();
    for text in texts {
        let ack = client
            .request(json!({"type": "send", "room": room, "text": text}))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        ids.push(ack["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[actix_rt::test]
async fn many_rooms_at_once_share_transactions_and_lose_nothing() {
    let dir = TempDir::new().unwrap();
    let engine = unthrottled(&dir).await;
    let mut clients = Vec::new();
    for i in 0..ROOMS {
        clients.push(member(&engine, &format!("user{i}"), &format!("room{i}")).await);
    }
    let before = engine.metrics().await;

    // Every user writes into their own room, all at the same time.
    let acked = join_all(clients.iter_mut().enumerate().map(|(i, client)| {
        let texts = (0..MESSAGES).map(|n| format!("m{n}"));
        send_each(client, format!("room{i}"), texts.collect())
    }))
    .await;

    let after = engine.metrics().await;
    let batches = after.store_batches - before.store_batches;
    let commits = after.store_batched_jobs - before.store_batched_jobs;
    assert_eq!(commits as usize, ROOMS * MESSAGES, "one commit per message");
    assert!(
        batches < commits,
        "{commits} commits in {batches} transactions: nothing was batched"
    );

    for (i, ids) in acked.iter().enumerate() {
        let client = &mut clients[i];
        let page = client
            .request(json!({"type": "history", "room": format!("room{i}"), "limit": 200}))
            .await;
        let stored: Vec<&str> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "message")
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(stored, *ids, "room{i}: every ack stored once, in order");
    }
}

/// Senders at once in one room.
const SENDERS: usize = 10;
/// Messages from each of them (all fit in one history page).
const EACH: usize = 15;

#[actix_rt::test]
async fn many_senders_in_one_room_share_batches_and_keep_one_order() {
    let dir = TempDir::new().unwrap();
    let engine = unthrottled(&dir).await;
    let mut clients = Vec::new();
    for i in 0..SENDERS {
        clients.push(member(&engine, &format!("user{i}"), "lobby").await);
    }
    let before = engine.metrics().await;

    let acked = join_all(clients.iter_mut().enumerate().map(|(i, client)| {
        let texts = (0..EACH).map(|n| format!("u{i} m{n}"));
        send_each(client, "lobby".to_owned(), texts.collect())
    }))
    .await;

    let after = engine.metrics().await;
    let batches = after.room_batches - before.room_batches;
    let messages = after.room_batched_messages - before.room_batched_messages;
    assert_eq!(messages as usize, SENDERS * EACH);
    assert!(
        batches < messages,
        "{messages} messages in {batches} room batches: nothing was batched"
    );

    // Stored once each, in id order; each sender acked in its own order.
    let page = clients[0]
        .request(json!({"type": "history", "room": "lobby", "limit": 200}))
        .await;
    let mut stored: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let mut all: Vec<String> = acked.concat();
    all.sort();
    assert!(
        stored.windows(2).all(|w| w[0] < w[1]),
        "history in id order"
    );
    stored.sort();
    assert!(
        stored == all,
        "{} stored, {} acked: not every ack stored once",
        stored.len(),
        all.len()
    );
    for (i, ids) in acked.iter().enumerate() {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "user{i}'s acks in order"
        );
    }
}

#[actix_rt::test]
async fn one_connection_pipelines_its_messages_and_answers_in_order() {
    const SENT: usize = 40;
    let dir = TempDir::new().unwrap();
    let engine = unthrottled(&dir).await;
    let mut client = member(&engine, "alice", "lobby").await;
    let other = client
        .request(json!({"type": "join", "room": "other"}))
        .await;
    assert_eq!(other["type"], "joined", "{other}");
    let before = engine.metrics().await;

    // Another writer holds the database: nothing can be stored. The
    // session still takes every message frame, since it waits for each
    // only until it is queued in its room (were it waiting for the acks,
    // the second frame would not be taken before the deadline).
    let path = dir.path().join("chat.db");
    let writer = neuralchat_testkit::WriteLock::hold(&path.to_string_lossy()).unwrap();
    let all_taken = async {
        for n in 0..SENT {
            let frame = json!({"type": "send", "room": "lobby", "text": format!("m{n}"), "ref": format!("p{n}")});
            client.send_raw(&frame.to_string()).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), all_taken)
        .await
        .expect("the session took no further frame while the first was being stored");
    // A refused frame, then a message to another room: both are answered
    // after the messages before them, and the other room's message is
    // stored after them.
    client
        .send_raw(&json!({"type": "no-such-type", "ref": "bad"}).to_string())
        .await;
    client
        .send_raw(
            &json!({"type": "send", "room": "other", "text": "elsewhere", "ref": "o"}).to_string(),
        )
        .await;
    writer.release().unwrap();

    // A frame that is not a message waits for the acks before it.
    client
        .send_raw(
            &json!({"type": "history", "room": "lobby", "limit": 100, "ref": "h"}).to_string(),
        )
        .await;
    let mut answered = Vec::new();
    let mut acked = Vec::new();
    let mut elsewhere = None;
    let history = loop {
        let frame = client.recv().await;
        match frame["ref"].as_str() {
            Some("h") => break frame,
            Some("bad") => {
                assert_eq!(frame["type"], "error", "{frame}");
                answered.push("bad".to_owned());
            }
            Some("o") => {
                assert_eq!(frame["type"], "ack", "{frame}");
                answered.push("o".to_owned());
                elsewhere = frame["id"].as_str().map(str::to_owned);
            }
            Some(reference) => {
                assert_eq!(frame["type"], "ack", "{frame}");
                answered.push(reference.to_owned());
                acked.push(frame["id"].as_str().unwrap().to_owned());
            }
            None => {}
        }
    };
    let mut expected: Vec<String> = (0..SENT).map(|n| format!("p{n}")).collect();
    expected.extend(["bad".to_owned(), "o".to_owned()]);
    assert_eq!(answered, expected, "answered in the order sent");
    let elsewhere = elsewhere.unwrap();
    assert!(
        acked.iter().all(|id| *id < elsewhere),
        "the other room's message took effect after the earlier ones"
    );
    let stored: Vec<String> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        stored, acked,
        "the later frame sees every message, in order"
    );

    // The first message waited alone for the database; the rest, queued
    // meanwhile, went in together (and the other room's alone).
    let after = engine.metrics().await;
    let batches = after.room_batches - before.room_batches;
    let messages = after.room_batched_messages - before.room_batched_messages;
    assert_eq!(messages as usize, SENT + 1, "with the other room's");
    assert!(
        batches <= 3,
        "{messages} messages in {batches} room batches"
    );
}
