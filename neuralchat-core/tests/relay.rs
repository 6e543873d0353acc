//! Replication without a transport: every event one engine commits is
//! handed to a second engine's `ingest`, as the mesh does. The second node
//! then holds the same history (same ids, same order) and the same room
//! state, derived from the events alone; a second copy changes nothing; a
//! kind it does not know is stored and served as is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use neuralchat_core::{Engine, Event, EventKind};
use serde_json::{json, Value};
use std::time::Duration;
use support::{engine, fast_config, Client};
use tempfile::TempDir;
use tokio::sync::mpsc;

async fn node(dir: &TempDir, id: &str) -> Engine {
    let mut config = fast_config();
    config.node.id = Some(id.into());
    engine(dir, config).await
}

async fn client(engine: &Engine, name: &str) -> Client {
    let mut c = Client::connect(engine).await;
    c.sign_up(name).await;
    c
}

/// A client of `engine` logged in as `name` (registered elsewhere).
async fn logged_in(engine: &Engine, name: &str) -> Client {
    let mut c = Client::connect(engine).await;
    let answer = c
        .request(json!({"type":"login","username":name,"password":"password1"}))
        .await;
    assert_eq!(answer["type"], "logged_in", "{answer}");
    c
}

/// Relays everything `from` commits into `to` until the reports are
/// dropped; reports each event's `ingest` answer (new or not).
fn relay(from: &Engine, to: &Engine) -> mpsc::UnboundedReceiver<(Event, bool)> {
    let mut committed = from.subscribe_committed();
    let (to, (report, reports)) = (to.clone(), mpsc::unbounded_channel());
    actix_rt::spawn(async move {
        while let Ok(event) = committed.recv().await {
            // Dropping the reports stops the relay.
            if report.is_closed() {
                return;
            }
            let fresh = to.ingest(event.clone()).await.unwrap();
            let _ = report.send((event, fresh));
        }
    });
    reports
}

/// Waits until `reports` has told of `id`.
async fn relayed(reports: &mut mpsc::UnboundedReceiver<(Event, bool)>, id: &Value) -> bool {
    loop {
        let (event, fresh) = tokio::time::timeout(Duration::from_secs(10), reports.recv())
            .await
            .expect("relayed in time")
            .expect("relay running");
        if json!(event.id.to_string()) == *id {
            return fresh;
        }
    }
}

async fn history(c: &mut Client, room: &str) -> Value {
    c.request(json!({"type":"history","room":room,"limit":200}))
        .await["events"]
        .clone()
}

#[actix_rt::test]
async fn a_relayed_room_has_the_same_history_and_state() {
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (a, b) = (node(&dir_a, "node-a").await, node(&dir_b, "node-b").await);
    let mut reports = relay(&a, &b);
    // Accounts registered on A are relayed to B; they log in there.
    let mut alice_a = client(&a, "alice").await;
    let mut bob_a = client(&a, "bob").await;
    let mut created = 0;
    while created < 2 {
        let (event, _) = reports.recv().await.unwrap();
        created += usize::from(event.kind == EventKind::AccountCreated);
    }
    let mut alice_b = logged_in(&b, "alice").await;
    let mut bob_b = logged_in(&b, "bob").await;

    alice_a.request(json!({"type":"join","room":"r"})).await;
    bob_a.request(json!({"type":"join","room":"r"})).await;
    for text in ["one", "/topic rust", "/op bob", "/deop bob", "/clear"] {
        let answer = alice_a
            .request(json!({"type":"send","room":"r","text":text}))
            .await;
        assert!(
            answer["type"] == "ack" || answer["type"] == "command",
            "{answer}"
        );
    }
    let last = alice_a
        .request(json!({"type":"send","room":"r","text":"/ban bob"}))
        .await;
    assert_eq!(last["type"], "command", "{last}");
    let history_a = history(&mut alice_a, "r").await;
    let last_id = &history_a.as_array().unwrap().last().unwrap()["id"];
    assert!(relayed(&mut reports, last_id).await);

    // The same events, in the same order, on both nodes.
    assert_eq!(history(&mut alice_b, "r").await, history_a);
    // State derived from the relayed events: bob is banned on B, alice is a
    // member (she posts without joining there) and owner, the topic is set.
    let refused = bob_b.request(json!({"type":"join","room":"r"})).await;
    assert_eq!(refused["code"], "banned", "{refused}");
    let said = alice_b
        .request(json!({"type":"send","room":"r","text":"from b"}))
        .await;
    assert_eq!(said["type"], "ack", "{said}");
    let joined = alice_b.request(json!({"type":"join","room":"r"})).await;
    assert_eq!(joined["topic"], "rust", "{joined}");
    let who = alice_b
        .request(json!({"type":"send","room":"r","text":"/who"}))
        .await;
    assert!(who["text"].as_str().unwrap().contains("alice"), "{who}");
    assert!(!who["text"].as_str().unwrap().contains("bob"), "{who}");

    // A second copy of an event changes nothing and is not delivered again.
    let first: Event = serde_json::from_value(history_a[0].clone()).unwrap();
    assert!(!b.ingest(first).await.unwrap());

    // A kind from a newer node is stored and served as is.
    let mut newer: Event = serde_json::from_value(history_a[2].clone()).unwrap();
    newer.kind = EventKind::Other("poll_vote".into());
    newer.id = "01ffffff-ffff-7fff-bfff-ffffffffffff".parse().unwrap();
    newer.client_id = None;
    assert!(b.ingest(newer).await.unwrap());
    let seen = alice_b
        .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "poll_vote")
        .await;
    assert_eq!(seen["event"]["id"], "01ffffff-ffff-7fff-bfff-ffffffffffff");
    let stored = history(&mut alice_b, "r").await;
    assert_eq!(
        stored.as_array().unwrap().last().unwrap()["kind"],
        "poll_vote"
    );
}

#[actix_rt::test]
async fn malformed_relayed_events_are_refused() {
    let dir = TempDir::new().unwrap();
    let b = node(&dir, "node-b").await;
    let mut alice = client(&b, "alice").await;
    alice.request(json!({"type":"join","room":"r"})).await;
    let history = history(&mut alice, "r").await;
    let good: Event = serde_json::from_value(history[0].clone()).unwrap();
    for room in ["R", "has space", "@b+a", "@alice", ""] {
        let mut bad = good.clone();
        bad.room = room.into();
        bad.id = "01aaaaaa-aaaa-7aaa-aaaa-aaaaaaaaaaaa".parse().unwrap();
        let refused = b.ingest(bad).await.unwrap_err();
        assert_eq!(refused.code.as_str(), "bad_frame", "{room:?}");
    }
}

#[actix_rt::test]
async fn accounts_and_tokens_hold_on_every_node() {
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (a, b) = (node(&dir_a, "node-a").await, node(&dir_b, "node-b").await);
    let mut reports = relay(&a, &b);
    let mut on_a = Client::connect(&a).await;
    let registered = on_a
        .request(json!({"type":"register","username":"Carol","password":"password1"}))
        .await;
    assert_eq!(registered["type"], "registered", "{registered}");
    let grant = on_a
        .request(json!({"type":"login","username":"carol","password":"password1"}))
        .await;
    let token = grant["token"].as_str().unwrap().to_owned();
    // Registration and token, relayed (as hashes) before B is asked.
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let (event, fresh) = reports.recv().await.unwrap();
        assert!(fresh);
        assert!(!event.text.contains("password1") && !event.text.contains(&token));
        kinds.push(event.kind.as_str().to_owned());
    }
    assert_eq!(kinds, ["account_created", "token_issued"]);

    // The password works on B, and so does A's token.
    let mut on_b = Client::connect(&b).await;
    let login = on_b
        .request(json!({"type":"login","username":"carol","password":"password1"}))
        .await;
    assert_eq!(login["type"], "logged_in", "{login}");
    assert_eq!(login["user"], "Carol");
    assert_eq!(b.authenticate(&token).await.unwrap(), "Carol");
    // The name is taken on B too.
    let again = on_b
        .request(json!({"type":"register","username":"CAROL","password":"password2"}))
        .await;
    assert_eq!(again["code"], "username_taken");

    // A log-out on A revokes the token on B.
    a.logout(&token).await.unwrap();
    let (revoked, _) = reports.recv().await.unwrap();
    assert_eq!(revoked.kind, EventKind::TokenRevoked);
    assert_eq!(
        b.authenticate(&token).await.unwrap_err().code.as_str(),
        "invalid_token"
    );
}

#[actix_rt::test]
async fn join_since_sends_exactly_the_gap() {
    let dir = TempDir::new().unwrap();
    let a = node(&dir, "node-a").await;
    let mut alice = client(&a, "alice").await;
    alice.request(json!({"type":"join","room":"r"})).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let ack = alice
            .request(json!({"type":"send","room":"r","text":format!("m{i}")}))
            .await;
        ids.push(ack["id"].clone());
    }
    let mut again = Client::connect(&a).await;
    let login = again
        .request(json!({"type":"login","username":"alice","password":"password1"}))
        .await;
    assert_eq!(login["type"], "logged_in");
    let joined = again
        .request(json!({"type":"join","room":"r","since":ids[1]}))
        .await;
    let got: Vec<&Value> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(got, ids[2..].iter().collect::<Vec<_>>());
    assert_eq!(joined["more"], false);
    let bad = again
        .request(json!({"type":"join","room":"r","since":"yesterday"}))
        .await;
    assert_eq!(bad["code"], "bad_cursor");
}

#[actix_rt::test]
async fn one_client_id_stored_on_two_nodes_converges_on_the_smaller_id() {
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (a, b) = (node(&dir_a, "node-a").await, node(&dir_b, "node-b").await);
    let mut to_b = relay(&a, &b);
    let mut alice_a = client(&a, "alice").await;
    alice_a.request(json!({"type":"join","room":"r"})).await;
    let created = history(&mut alice_a, "r").await;
    assert!(
        relayed(
            &mut to_b,
            &created.as_array().unwrap().last().unwrap()["id"]
        )
        .await
    );
    drop(to_b);
    // The relay stops; the same retry reaches each node on its own.
    let mut alice_b = logged_in(&b, "alice").await;
    let send = json!({"type":"send","room":"r","text":"once","client_id":"c-1"});
    let on_a = alice_a.request(send.clone()).await;
    let on_b = alice_b.request(send).await;
    assert_ne!(on_a["id"], on_b["id"]);
    // Each node now hears of the other's copy.
    let copy = |client_history: &Value, id: &Value| -> Event {
        let event = client_history
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == *id)
            .unwrap();
        serde_json::from_value(event.clone()).unwrap()
    };
    let copy_a = copy(&history(&mut alice_a, "r").await, &on_a["id"]);
    let copy_b = copy(&history(&mut alice_b, "r").await, &on_b["id"]);
    b.ingest(copy_a).await.unwrap();
    a.ingest(copy_b).await.unwrap();
    let smaller = std::cmp::min(on_a["id"].as_str().unwrap(), on_b["id"].as_str().unwrap());
    let history_a = history(&mut alice_a, "r").await;
    assert_eq!(history_a, history(&mut alice_b, "r").await);
    let messages: Vec<&Value> = history_a
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message")
        .collect();
    assert_eq!(messages.len(), 1, "{history_a}");
    assert_eq!(messages[0]["id"], smaller);
}

#[actix_rt::test]
async fn a_room_created_on_two_nodes_at_once_has_one_creator_everywhere() {
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (a, b) = (node(&dir_a, "node-a").await, node(&dir_b, "node-b").await);
    let mut alice = client(&a, "alice").await;
    let mut bob = client(&b, "bob").await;
    // Not relayed yet: each node creates "r" with its own creator, alice first.
    alice.request(json!({"type":"join","room":"r"})).await;
    bob.request(json!({"type":"join","room":"r"})).await;
    let from_a = history(&mut alice, "r").await;
    let from_b = history(&mut bob, "r").await;
    for event in from_a.as_array().unwrap() {
        b.ingest(serde_json::from_value(event.clone()).unwrap())
            .await
            .unwrap();
    }
    for event in from_b.as_array().unwrap() {
        a.ingest(serde_json::from_value(event.clone()).unwrap())
            .await
            .unwrap();
    }
    for client in [&mut alice, &mut bob] {
        let who = client.request(json!({"type":"who","room":"r"})).await;
        let roles: Vec<(String, String)> = who["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["user"].as_str().unwrap().to_owned(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            roles,
            [
                ("alice".to_owned(), "owner".to_owned()),
                ("bob".to_owned(), "member".to_owned())
            ],
            "{who}"
        );
    }
    // The rule holds in the store too: bob cannot act as an owner on B.
    let refused = bob
        .request(json!({"type":"send","room":"r","text":"/private on"}))
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
}
