#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Idle rooms leave memory: once nobody is in a room and nobody used it
//! for `limits.idle_room_secs`, its actor stops; the next use loads it
//! again from the store with nothing lost.

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::{engine, fast_config, Client};
use tempfile::TempDir;

#[actix_rt::test]
async fn an_idle_room_is_retired_and_comes_back_whole() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.idle_room_secs = 1;
    let engine = engine(&dir, config).await;
    let mut alice = Client::connect(&engine).await;
    alice.sign_up("alice").await;
    alice.request(json!({"type":"join","room":"quiet"})).await;
    alice.request(json!({"type":"join","room":"busy"})).await;
    let ack = alice
        .request(json!({"type":"send","room":"quiet","text":"before"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    alice.request(json!({"type":"leave","room":"quiet"})).await;
    assert_eq!(engine.open_room_count().await.unwrap(), 2);

    // "busy" has alice in it and stays; "quiet" is retired.
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.open_room_count().await.unwrap() > 1 {
        assert!(Instant::now() < deadline, "the idle room was never retired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // alice is still in "busy": its live events still reach her.
    let ack = alice
        .request(json!({"type":"send","room":"busy","text":"still live"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    // Using "quiet" again loads it from the store, history and all.
    let joined = alice.request(json!({"type":"join","room":"quiet"})).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let texts: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(texts.contains(&"before"), "{joined}");
    assert_eq!(engine.open_room_count().await.unwrap(), 2);
    let who = alice.request(json!({"type":"who","room":"quiet"})).await;
    assert_eq!(who["members"][0]["role"], "owner", "{who}");
}

#[actix_rt::test]
async fn a_room_in_use_without_lookups_is_not_retired_and_nothing_stalls() {
    // Sessions in a room send straight to its actor: the hub sees no use
    // and asks the room to retire on every tick. The room stays (it is in
    // use), and a direct conversation storing messages while the hub asks
    // does not leave the two waiting for each other.
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.idle_room_secs = 1;
    config.limits.messages_per_second = 1e6;
    config.limits.message_burst = 1e6;
    config.limits.frames_per_second = 1e6;
    config.limits.frame_burst = 1e6;
    // bob reads nothing until the end: his queue must hold it all.
    config.limits.outbox_capacity = 1 << 20;
    let engine = engine(&dir, config).await;
    let mut alice = Client::connect(&engine).await;
    alice.sign_up("alice").await;
    let mut bob = Client::connect(&engine).await;
    bob.sign_up("bob").await;
    let first = alice
        .request(json!({"type":"send","room":"@bob","text":"hi"}))
        .await;
    assert_eq!(first["type"], "ack", "{first}");
    for client in [&mut alice, &mut bob] {
        let joined = client
            .request(json!({"type":"join","room":"@alice+bob"}))
            .await;
        assert_eq!(joined["type"], "joined", "{joined}");
    }
    let until = Instant::now() + Duration::from_secs(4);
    let mut n = 0;
    while Instant::now() < until {
        for i in 0..20 {
            let frame = json!({"type":"send","room":"@alice+bob","text":format!("m{n}-{i}"),"ref":format!("x{n}-{i}")});
            alice.send_raw(&frame.to_string()).await;
        }
        let last = format!("x{n}-19");
        let ack = alice.recv_until(|f| f["ref"] == json!(last)).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        n += 1;
    }
    // The hub still answers, and the room is the same one, still open.
    let who = bob.request(json!({"type":"who","room":"@alice+bob"})).await;
    assert_eq!(who["type"], "members", "{who}");
    let history = bob
        .request(json!({"type":"history","room":"@alice+bob","limit":1}))
        .await;
    assert_eq!(history["events"][0]["text"], format!("m{}-19", n - 1));
    assert_eq!(engine.open_room_count().await.unwrap(), 1);
}
