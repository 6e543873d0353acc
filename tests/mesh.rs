#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The mesh with real Mosquitto brokers and real server processes: events
//! cross nodes through several brokers at once; killing a broker in the
//! middle of a conversation loses and duplicates nothing; a node killed
//! while the brokers also forgot its sessions catches up from its peer; a
//! payload forged with `mosquitto_pub` is refused and never stored.

use neuralchat_testkit::{MeshNode, Mosquitto, PgFixture, ServerProcess, WsClient};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse";

/// Starts node `id` in `dir` (its own SQLite database), meshed over `brokers`.
async fn node(dir: &Path, id: &str, brokers: &[&Mosquitto]) -> ServerProcess {
    node_on(dir, id, brokers, None, "").await
}

/// Starts node `id` in `dir` on `database` (default: its own SQLite file),
/// meshed over `brokers`, with more configuration in `extra_toml`.
async fn node_on(
    dir: &Path,
    id: &str,
    brokers: &[&Mosquitto],
    database: Option<&str>,
    extra_toml: &str,
) -> ServerProcess {
    MeshNode {
        database,
        extra_toml,
        ..MeshNode::new(dir, id, brokers)
    }
    .start()
    .await
    .unwrap()
}

/// Waits until `/healthz` shows `count` broker links connected.
async fn links_up(server: &ServerProcess, count: usize) {
    neuralchat_testkit::links_up(server, count).await.unwrap();
}

async fn user(server: &ServerProcess, name: &str) -> WsClient {
    let mut client = WsClient::connect(&server.ws_url()).await.unwrap();
    client.register_and_login(name, PASSWORD).await.unwrap();
    client
}

async fn history(client: &mut WsClient, room: &str) -> Vec<Value> {
    let page = client
        .request_ok(
            json!({"type": "history", "room": room, "limit": 200}),
            "history",
        )
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

/// Waits until `client`'s node serves a history of `room` holding `ids`.
async fn history_holds(client: &mut WsClient, room: &str, ids: &[String]) -> Vec<Value> {
    client.history_holding(room, ids).await.unwrap()
}

/// Alice (registered on A) creates `general` there; once the room has
/// reached B, bob (registered on B) joins it there. Returns both clients.
async fn meet_in_general(a: &ServerProcess, b: &ServerProcess) -> (WsClient, WsClient) {
    let mut alice = user(a, "alice").await;
    let mut bob = user(b, "bob").await;
    alice.join("general").await.unwrap();
    let created = history(&mut alice, "general").await;
    let first = vec![created[0]["id"].as_str().unwrap().to_owned()];
    history_holds(&mut bob, "general", &first).await;
    bob.join("general").await.unwrap();
    (alice, bob)
}

/// Sends `text` and returns the acknowledged id.
async fn say(client: &mut WsClient, room: &str, text: &str) -> String {
    let ack = client
        .send_message(room, text, Some(&format!("cid-{text}")))
        .await
        .unwrap();
    ack["id"].as_str().unwrap().to_owned()
}

/// Reads live events on `client` until it has seen every id in `ids`;
/// returns how many times each message id arrived.
async fn receive_all(client: &mut WsClient, ids: &[String]) -> Vec<String> {
    let wanted: HashSet<&String> = ids.iter().collect();
    let mut seen = Vec::new();
    let started = Instant::now();
    while !wanted.iter().all(|id| seen.contains(*id)) {
        assert!(
            started.elapsed() < DEADLINE,
            "saw {} of {}",
            seen.len(),
            ids.len()
        );
        let frame = client
            .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "message")
            .await
            .unwrap();
        seen.push(frame["event"]["id"].as_str().unwrap().to_owned());
    }
    seen
}

#[tokio::test]
async fn a_broker_killed_mid_conversation_loses_and_duplicates_nothing() {
    let mut brokers = Vec::new();
    for _ in 0..3 {
        brokers.push(Mosquitto::start().await.unwrap());
    }
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let all: Vec<&Mosquitto> = brokers.iter().collect();
    let a = node(dir_a.path(), "node-a", &all).await;
    let b = node(dir_b.path(), "node-b", &all).await;

    // Accounts, rooms and their events are shared.
    let (mut alice, mut bob) = meet_in_general(&a, &b).await;

    let mut sent_a = Vec::new();
    let mut sent_b = Vec::new();
    for i in 0..60 {
        if i == 20 {
            brokers[0].kill().await.unwrap();
        }
        if i == 40 {
            brokers[0].restart().await.unwrap();
        }
        sent_a.push(say(&mut alice, "general", &format!("a{i}")).await);
        sent_b.push(say(&mut bob, "general", &format!("b{i}")).await);
    }
    // Every message reached the other node's member exactly once.
    let got_b = receive_all(&mut bob, &sent_a).await;
    let got_a = receive_all(&mut alice, &sent_b).await;
    for (got, sent) in [(&got_b, &sent_a), (&got_a, &sent_b)] {
        let unique: HashSet<&String> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "no event delivered twice");
        assert!(sent.iter().all(|id| unique.contains(id)));
    }
    // Both nodes hold the same history: same ids, same order.
    links_up(&a, 3).await;
    let everything: Vec<String> = sent_a.iter().chain(&sent_b).cloned().collect();
    let on_a = history_holds(&mut alice, "general", &everything).await;
    let on_b = history_holds(&mut bob, "general", &everything).await;
    assert_eq!(on_a, on_b);
    let messages = on_a.iter().filter(|e| e["kind"] == "message").count();
    assert_eq!(messages, 120, "each message stored once");
}

#[tokio::test]
async fn a_killed_node_catches_up_after_the_brokers_forgot_it() {
    let mut brokers = [
        Mosquitto::start().await.unwrap(),
        Mosquitto::start().await.unwrap(),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let all: Vec<&Mosquitto> = brokers.iter().collect();
    let a = node(dir_a.path(), "node-a", &all).await;
    let mut b = node(dir_b.path(), "node-b", &all).await;
    let (mut alice, _bob) = meet_in_general(&a, &b).await;

    b.kill().await.unwrap();
    let mut sent = Vec::new();
    for i in 0..10 {
        sent.push(say(&mut alice, "general", &format!("while-b-down-{i}")).await);
    }
    // The brokers crash too and come back without the sessions they held.
    for broker in brokers.iter_mut() {
        broker.kill().await.unwrap();
        broker.restart().await.unwrap();
    }
    links_up(&a, 2).await;
    for i in 0..10 {
        sent.push(say(&mut alice, "general", &format!("after-restart-{i}")).await);
    }
    let all: Vec<&Mosquitto> = brokers.iter().collect();
    let b = node(dir_b.path(), "node-b", &all).await;
    let mut bob = WsClient::connect(&b.ws_url()).await.unwrap();
    bob.login("bob", PASSWORD).await.unwrap();
    let on_b = history_holds(&mut bob, "general", &sent).await;
    let on_a = history(&mut alice, "general").await;
    assert_eq!(
        on_a, on_b,
        "the restarted node holds exactly what its peer holds"
    );
    // Alice registered on A only: her account reached B too.
    let mut alice_on_b = WsClient::connect(&b.ws_url()).await.unwrap();
    alice_on_b.login("alice", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_forged_payload_is_refused_and_never_stored() {
    let broker = Mosquitto::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "node-a", &[&broker]).await;
    let mut alice = user(&a, "alice").await;
    alice.join("general").await.unwrap();
    let event = json!({
        "type": "event",
        "event": {"id": "01a211e9-d8f6-71cf-994d-594c3c6ddf29", "room": "general",
            "kind": "message", "author": "mallory", "origin": "node-evil",
            "ts": 1, "text": "forged"}
    });
    let forged = format!("{}\n{event}", "0".repeat(64));
    for payload in [forged.as_str(), &event.to_string()] {
        let status = tokio::process::Command::new("mosquitto_pub")
            .args(["-p", &broker.port().to_string(), "-q", "1"])
            .args(["-t", "neuralchat/v1/mesh/events/node-evil", "-m", payload])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }
    let started = Instant::now();
    while a.log_text().matches("mesh payload refused").count() < 2 {
        assert!(started.elapsed() < DEADLINE, "{}", a.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = history(&mut alice, "general").await;
    assert!(stored.iter().all(|e| e["text"] != "forged"), "{stored:?}");
}

/// Waits until `user` shows online (or not) in `room` on `client`'s node.
async fn online(client: &mut WsClient, room: &str, user: &str, want: bool) {
    let started = Instant::now();
    loop {
        let who = client
            .request_ok(json!({"type": "who", "room": room}), "members")
            .await
            .unwrap();
        let members = who["members"].as_array().unwrap();
        if members
            .iter()
            .any(|m| m["user"] == user && m["online"] == want)
        {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{user} never online={want}: {who}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_cli_tail_fails_over_to_another_node_and_prints_every_event_once() {
    let broker = Mosquitto::start().await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = node(dir_a.path(), "node-a", &[&broker]).await;
    let b = node(dir_b.path(), "node-b", &[&broker]).await;
    let mut alice = user(&a, "alice").await;
    alice.join("general").await.unwrap();
    // Bob joins, then goes: "online" below means his tail is in the room.
    let mut bob_ws = user(&a, "bob").await;
    bob_ws.join("general").await.unwrap();
    bob_ws.close().await.unwrap();
    let created = history(&mut alice, "general").await;
    let joined: Vec<String> = created
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();

    online(&mut alice, "general", "bob", false).await;
    let home = tempfile::tempdir().unwrap();
    let cli = neuralchat_testkit::Cli::new(home.path()).unwrap();
    let servers = format!("{},{}", a.ws_url(), b.ws_url());
    let login = cli
        .run_with_env(
            &["--server", &servers, "login", "bob"],
            &[("NEURALCHAT_PASSWORD", PASSWORD)],
        )
        .await
        .unwrap();
    assert!(login.success(), "{login}");
    let tail = cli
        .spawn(&[
            "--server",
            &servers,
            "tail",
            "general",
            "--count",
            "20",
            "--timeout",
            "60",
            "--json",
        ])
        .unwrap();
    online(&mut alice, "general", "bob", true).await;

    let mut sent = Vec::new();
    for i in 0..10 {
        sent.push(say(&mut alice, "general", &format!("before-{i}")).await);
    }
    // B has them (and, relayed before them, the CLI's token) before A dies.
    let mut bob_b = WsClient::connect(&b.ws_url()).await.unwrap();
    bob_b.login("bob", PASSWORD).await.unwrap();
    let everything: Vec<String> = joined.iter().chain(&sent).cloned().collect();
    history_holds(&mut bob_b, "general", &everything).await;
    a.kill().await.unwrap();

    let mut alice_b = WsClient::connect(&b.ws_url()).await.unwrap();
    alice_b.login("alice", PASSWORD).await.unwrap();
    for i in 0..10 {
        sent.push(say(&mut alice_b, "general", &format!("after-{i}")).await);
    }
    let out = tail.wait(Duration::from_secs(90)).await.unwrap();
    assert!(out.success(), "tail failed: {out}");
    let printed: Vec<String> = out
        .lines()
        .iter()
        .map(|l| {
            let event: Value = serde_json::from_str(l).unwrap();
            event["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        printed, sent,
        "every event once, in order, across the failover"
    );
}

#[tokio::test]
async fn nodes_sharing_one_postgresql_deliver_each_others_events_live() {
    let pg = PgFixture::start().unwrap();
    let url = pg.create_database("meshed").unwrap();
    let broker = Mosquitto::start().await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node_on(dir_a.path(), "node-a", &[&broker], Some(&url), "").await;
    let b = node_on(dir_b.path(), "node-b", &[&broker], Some(&url), "").await;
    let mut alice = user(&a, "alice").await;
    alice.join("general").await.unwrap();
    let mut bob = user(&b, "bob").await;
    bob.join("general").await.unwrap();
    // Bob's join, stored by B in the shared database, reaches A's room live.
    alice
        .recv_until(|f| {
            f["type"] == "event" && f["event"]["kind"] == "join" && f["event"]["author"] == "bob"
        })
        .await
        .unwrap();
    let mut sent_a = Vec::new();
    let mut sent_b = Vec::new();
    for i in 0..20 {
        sent_a.push(say(&mut alice, "general", &format!("a{i}")).await);
        sent_b.push(say(&mut bob, "general", &format!("b{i}")).await);
    }
    for (client, sent) in [(&mut bob, &sent_a), (&mut alice, &sent_b)] {
        let got = receive_all(client, sent).await;
        let unique: HashSet<&String> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "no event delivered twice");
    }
    let rows = pg
        .psql_in(
            "meshed",
            "select count(*) from events where kind = 'message'",
        )
        .unwrap();
    assert_eq!(rows.trim(), "40", "each message stored once");
}

#[tokio::test]
async fn a_bot_answers_once_and_its_reply_streams_to_every_node() {
    let llama = neuralchat_testkit::LlamaServer::start().await.unwrap();
    let bot = format!(
        "[[bots]]\nname = \"Olga\"\nbackend = \"openai\"\nurl = \"{}\"\nmodel = \"tiny\"\n\
         system_prompt = \"You are Olga.\"\nmax_tokens = 24\ntimeout_secs = 20\n",
        llama.url()
    );
    let broker = Mosquitto::start().await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both nodes have Olga; only A has Longa, who talks long.
    let longa = format!(
        "[[bots]]\nname = \"Longa\"\nbackend = \"openai\"\nurl = \"{}\"\nmodel = \"tiny\"\n\
         system_prompt = \"You talk a lot.\"\nmax_tokens = 1500\ntimeout_secs = 20\n",
        llama.url()
    );
    let both = format!("{bot}\n{longa}");
    let a = node_on(dir_a.path(), "node-a", &[&broker], None, &both).await;
    let b = node_on(dir_b.path(), "node-b", &[&broker], None, &bot).await;
    let (mut alice, mut bob) = meet_in_general(&a, &b).await;
    alice.set_deadline(Duration::from_secs(30));
    bob.set_deadline(Duration::from_secs(30));
    // Bob's join reached A before the question, so the reply's room is shared.
    alice
        .recv_until(|f| f["type"] == "event" && f["event"]["author"] == "bob")
        .await
        .unwrap();

    let question = say(&mut alice, "general", "Olga, tell me a joke").await;
    // Bob, on the other node, sees the reply stream in, then the stored reply.
    let (streamed, last) = bob.bot_reply(&question).await.unwrap();
    let id = last["id"].as_str().unwrap().to_owned();
    assert!(
        !streamed.is_empty(),
        "pieces arrived before the stored reply"
    );
    assert_eq!(last["text"].as_str().unwrap(), streamed);
    // Exactly one reply, on both nodes.
    let everything = vec![question.clone(), id.clone()];
    for client in [&mut alice, &mut bob] {
        let events = history_holds(client, "general", &everything).await;
        let replies = events
            .iter()
            .filter(|e| e["author"] == "Olga" && e["reply_to"] == question.as_str())
            .count();
        assert_eq!(replies, 1, "{events:?}");
    }

    // `/stop` asked on B stops a reply running on A.
    let long_question = say(&mut alice, "general", "Longa, tell me everything").await;
    bob.recv_until(|f| {
        f["type"] == "reply_start" && f["event"]["reply_to"] == long_question.as_str()
    })
    .await
    .unwrap();
    let stop = bob
        .request_ok(
            json!({"type": "send", "room": "general", "text": "/stop"}),
            "command",
        )
        .await
        .unwrap();
    assert!(
        stop["text"].as_str().unwrap().contains("other nodes"),
        "{stop}"
    );
    let stopped = bob
        .recv_until(|f| f["type"] == "event" && f["event"]["reply_to"] == long_question.as_str())
        .await
        .unwrap();
    assert_eq!(stopped["event"]["stopped"], true, "{stopped}");
}

#[tokio::test]
async fn who_shows_users_online_on_any_node_until_their_node_dies() {
    let broker = Mosquitto::start().await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(dir_a.path(), "node-a", &[&broker]).await;
    let mut b = node(dir_b.path(), "node-b", &[&broker]).await;
    let (mut alice, _bob) = meet_in_general(&a, &b).await;
    // Alice, on A, sees bob (on B) online; then B dies and he goes offline.
    online(&mut alice, "general", "bob", true).await;
    b.kill().await.unwrap();
    online(&mut alice, "general", "bob", false).await;
}

#[tokio::test]
async fn a_question_left_by_a_dead_node_is_answered_once_by_another() {
    let llama = neuralchat_testkit::LlamaServer::start().await.unwrap();
    // A's model server accepts and never answers: A's bot is stuck when A dies.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let _held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let olga = |url: &str| {
        format!(
            "[[bots]]\nname = \"Olga\"\nbackend = \"openai\"\nurl = \"{url}\"\nmodel = \"tiny\"\n\
             system_prompt = \"You are Olga.\"\nmax_tokens = 24\ntimeout_secs = 60\n"
        )
    };
    let broker = Mosquitto::start().await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = node_on(dir_a.path(), "node-a", &[&broker], None, &olga(&silent_url)).await;
    let b = node_on(
        dir_b.path(),
        "node-b",
        &[&broker],
        None,
        &olga(&llama.url()),
    )
    .await;
    let (mut alice, mut bob) = meet_in_general(&a, &b).await;
    bob.set_deadline(Duration::from_secs(30));

    let question = say(&mut alice, "general", "Olga, are you there?").await;
    history_holds(&mut bob, "general", std::slice::from_ref(&question)).await;
    a.kill().await.unwrap();
    // B takes the question over and answers it.
    let reply = bob
        .recv_until(|f| {
            f["type"] == "event"
                && f["event"]["reply_to"] == question.as_str()
                && f["event"]["origin"] == "node-b"
        })
        .await
        .unwrap();
    assert_eq!(reply["event"]["author"], "Olga");
    let events = history(&mut bob, "general").await;
    let replies = events
        .iter()
        .filter(|e| e["reply_to"] == question.as_str())
        .count();
    assert_eq!(replies, 1, "{events:?}");
}

#[tokio::test]
async fn a_fresh_node_with_an_empty_database_fills_in() {
    let broker = Mosquitto::start().await.unwrap();
    let (dir_a, dir_c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(dir_a.path(), "node-a", &[&broker]).await;
    let mut alice = user(&a, "alice").await;
    alice.join("general").await.unwrap();
    let mut sent = Vec::new();
    for i in 0..30 {
        sent.push(say(&mut alice, "general", &format!("before-c-{i}")).await);
    }
    // C starts later, with nothing: it asks A and fills in, accounts too.
    let c = node(dir_c.path(), "node-c", &[&broker]).await;
    let mut alice_on_c = WsClient::connect(&c.ws_url()).await.unwrap();
    let started = Instant::now();
    while alice_on_c.login("alice", PASSWORD).await.is_err() {
        assert!(
            started.elapsed() < DEADLINE,
            "alice's account never reached C"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let on_c = history_holds(&mut alice_on_c, "general", &sent).await;
    assert_eq!(on_c, history(&mut alice, "general").await);
}
