#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Several server processes on one PostgreSQL database (no broker): they
//! all start on an empty database at the same instant, and a message sent
//! with the same `client_id` through two nodes at the same moment is one
//! message, acknowledged with the same (stored) id by both.

use neuralchat_testkit::{PgFixture, ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

const PAIRS: usize = 300;

async fn node(url: &str, id: &str) -> ServerProcess {
    ServerProcess::start(
        ServerOptions::new()
            .database(url)
            .node_id(id)
            .relaxed_limits(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn three_nodes_start_together_on_an_empty_database() {
    let pg = PgFixture::start().unwrap();
    let url = pg.create_database("together").unwrap();
    let (a, b, c) = tokio::join!(node(&url, "a"), node(&url, "b"), node(&url, "c"));
    // All three serve, on the one schema they migrated together.
    for server in [&a, &b, &c] {
        let mut client = WsClient::connect(&server.ws_url()).await.unwrap();
        client.ping().await.unwrap();
    }
    let migrations = pg
        .psql_in(
            "together",
            "select count(*) from __diesel_schema_migrations",
        )
        .unwrap();
    let shipped = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/neuralchat-core/migrations"
    ))
    .unwrap()
    .filter(|entry| entry.as_ref().unwrap().path().is_dir())
    .count();
    assert_eq!(
        migrations.trim(),
        shipped.to_string(),
        "each migration applied once"
    );
}

#[tokio::test]
async fn one_client_id_through_two_nodes_is_one_message() {
    let pg = PgFixture::start().unwrap();
    let url = pg.create_database("race").unwrap();
    let a = node(&url, "node-a").await;
    let b = node(&url, "node-b").await;

    let mut via_a = WsClient::connect(&a.ws_url()).await.unwrap();
    via_a
        .register_and_login("alice", "correct horse")
        .await
        .unwrap();
    via_a.join("general").await.unwrap();
    let mut via_b = WsClient::connect(&b.ws_url()).await.unwrap();
    via_b.login("alice", "correct horse").await.unwrap();
    via_b.join("general").await.unwrap();

    let mut acked = HashMap::new();
    for i in 0..PAIRS {
        let (cid, text) = (format!("c-{i}"), format!("m-{i}"));
        let (ack_a, ack_b) = tokio::join!(
            via_a.send_message("general", &text, Some(&cid)),
            via_b.send_message("general", &text, Some(&cid)),
        );
        let (ack_a, ack_b) = (ack_a.unwrap(), ack_b.unwrap());
        assert_eq!(
            ack_a["id"], ack_b["id"],
            "both nodes acknowledge {cid} with the same id"
        );
        acked.insert(cid, ack_a["id"].as_str().unwrap().to_owned());
    }

    // Exactly one stored message per client id, and it is the acked one.
    let rows = pg
        .psql_in(
            "race",
            "select client_id || ' ' || id from events where kind = 'message' order by id",
        )
        .unwrap();
    let stored: HashMap<String, String> = rows
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(c, id)| (c.to_owned(), id.to_owned()))
        .collect();
    assert_eq!(
        rows.lines().filter(|l| !l.is_empty()).count(),
        PAIRS,
        "one row per client id"
    );
    assert_eq!(stored, acked, "every acknowledged id is the stored one");

    // No node broadcast an event it did not store.
    let stored_ids: HashSet<&String> = stored.values().collect();
    for client in [&mut via_a, &mut via_b] {
        client.ping().await.unwrap();
        let seen: Vec<Value> = client
            .take_backlog()
            .into_iter()
            .filter(|f| f["type"] == "event" && f["event"]["kind"] == "message")
            .collect();
        for frame in &seen {
            let id = frame["event"]["id"].as_str().unwrap().to_owned();
            assert!(
                stored_ids.contains(&id),
                "broadcast but not stored: {frame}"
            );
        }
    }
    // The history both nodes serve is the same and has every message once.
    let page = json!({"type": "history", "room": "general", "limit": 200});
    let page_a = via_a.request_ok(page.clone(), "history").await.unwrap();
    let page_b = via_b.request_ok(page, "history").await.unwrap();
    assert_eq!(page_a["events"], page_b["events"]);
}
