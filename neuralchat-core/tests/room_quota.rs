//! Rooms per user and the room list (issue 8 item 4): the quota
//! (`limits.rooms_per_user`) holds when one user creates many rooms at
//! once, since it is checked in the database job that creates the room;
//! the `/rooms` command pages like the `rooms` frame.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use neuralchat_core::{ErrorCode, Submitted};
use support::{engine, fast_config};
use tempfile::TempDir;

#[actix_rt::test]
async fn creations_at_once_cannot_overshoot_the_quota() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.rooms_per_user = 3;
    config.admins = vec!["root".into()];
    let engine = engine(&dir, config).await;
    engine.register("alice", "password1").await.unwrap();
    engine.register("root", "password1").await.unwrap();

    let joins = (0..12).map(|i| {
        let engine = engine.clone();
        async move { engine.join("alice", &format!("room-{i}"), None).await }
    });
    let results = futures_util::future::join_all(joins).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 3, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code, ErrorCode::Forbidden);
    }
    let listed = engine.rooms_page("alice", None, None).await.unwrap();
    assert_eq!(listed.rooms.len(), 3);

    // Joining a room that exists is never refused; admins have no quota.
    engine.join("root", "lobby", None).await.unwrap();
    engine.join("alice", "lobby", None).await.unwrap();
    for i in 0..5 {
        engine
            .join("root", &format!("admin-{i}"), None)
            .await
            .unwrap();
    }
}

#[actix_rt::test]
async fn the_rooms_command_pages_and_says_how_to_go_on() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.rooms_per_user = 200;
    let engine = engine(&dir, config).await;
    engine.register("alice", "password1").await.unwrap();
    // More rooms than the default page (100) holds.
    for i in 0..105 {
        engine
            .join("alice", &format!("room-{i:03}"), None)
            .await
            .unwrap();
    }
    let page = |after: Option<&'static str>| {
        let engine = engine.clone();
        async move {
            let text = match after {
                None => "/rooms".to_owned(),
                Some(after) => format!("/rooms {after}"),
            };
            match engine
                .submit("alice", "room-000", &text, None)
                .await
                .unwrap()
            {
                Submitted::Command(output) => output,
                Submitted::Message(event) => panic!("not a command: {event:?}"),
            }
        }
    };
    let first = page(None).await;
    let data = first.data.unwrap();
    assert_eq!(data["rooms"].as_array().unwrap().len(), 100);
    assert_eq!(data["more"], true);
    assert!(
        first.text.ends_with("more: /rooms room-099"),
        "{}",
        first.text
    );
    let second = page(Some("room-099")).await;
    let data = second.data.unwrap();
    assert_eq!(data["rooms"].as_array().unwrap().len(), 5);
    assert_eq!(data["rooms"][0]["name"], "room-100");
    assert_eq!(data["more"], false);
    assert!(!second.text.contains("more:"));
}
