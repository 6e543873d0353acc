#![allow(clippy::expect_used, clippy::unwrap_used)]
//! How long delivery pauses when a broker dies: three real Mosquitto
//! brokers, two real `neuralchat-server` nodes connected to all three, and
//! this process as the clients, in one run on loopback. Alice on node A
//! sends a message every 10 ms (each after the previous `ack`); bob on node
//! B records when each arrives. Two seconds in, broker 1 is killed
//! (`kill -9`); two seconds later it is restarted. Reported: messages sent,
//! received, lost and duplicated, and the send → receive latency and the
//! longest gap between arrivals in each phase (before, broker down, after).
//!
//! `cargo bench --bench broker_failover` (uses `target/release/
//! neuralchat-server` when built with `cargo build --release -p
//! neuralchat-server`). Without `--bench` (as `cargo test --all-targets`
//! runs it) it only says how to run it. Bounded: 6 s of sending.

use neuralchat_testkit::{MeshNode, Mosquitto, WsClient};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse";
const EVERY: Duration = Duration::from_millis(10);
const KILL_AT: Duration = Duration::from_secs(2);
const RESTART_AT: Duration = Duration::from_secs(4);
const STOP_AT: Duration = Duration::from_secs(6);

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("broker_failover: run with `cargo bench --bench broker_failover`");
        return;
    }
    let release =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/neuralchat-server");
    if std::env::var_os("NEURALCHAT_SERVER_BIN").is_none() && release.exists() {
        std::env::set_var("NEURALCHAT_SERVER_BIN", release);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// Which phase a moment of the run is in.
fn phase(at: Duration) -> usize {
    if at < KILL_AT {
        0
    } else if at < RESTART_AT {
        1
    } else {
        2
    }
}

async fn run() {
    let mut brokers = Vec::new();
    for _ in 0..3 {
        brokers.push(Mosquitto::start().await.unwrap());
    }
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let all: Vec<&Mosquitto> = brokers.iter().collect();
    let a = MeshNode::new(dir_a.path(), "node-a", &all)
        .start()
        .await
        .unwrap();
    let b = MeshNode::new(dir_b.path(), "node-b", &all)
        .start()
        .await
        .unwrap();
    let mut alice = WsClient::connect(&a.ws_url()).await.unwrap();
    alice.register_and_login("alice", PASSWORD).await.unwrap();
    alice.join("general").await.unwrap();
    let mut bob = WsClient::connect(&b.ws_url()).await.unwrap();
    bob.register_and_login("bob", PASSWORD).await.unwrap();
    // The room reaches B, then bob joins it there.
    let started = Instant::now();
    loop {
        let page = bob
            .request(json!({"type": "history", "room": "general"}))
            .await
            .unwrap();
        if page["type"] == "history" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bob.join("general").await.unwrap();
    let ping = alice.send_message("general", "ready", None).await.unwrap();
    bob.recv_until(|f| f["type"] == "event" && f["event"]["id"] == ping["id"])
        .await
        .unwrap();

    // Bob's side: arrival time of each message, by its text.
    let receiver = tokio::spawn(async move {
        let mut arrivals: Vec<(String, Instant)> = Vec::new();
        loop {
            let frame = bob
                .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "message")
                .await;
            let Ok(frame) = frame else { break };
            let text = frame["event"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if text == "done" {
                break;
            }
            arrivals.push((text, Instant::now()));
        }
        arrivals
    });

    let start = Instant::now();
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let (mut killed, mut restarted) = (false, false);
    let mut i = 0u64;
    while start.elapsed() < STOP_AT {
        if !killed && start.elapsed() >= KILL_AT {
            brokers[0].kill().await.unwrap();
            killed = true;
        }
        if !restarted && start.elapsed() >= RESTART_AT {
            brokers[0].restart().await.unwrap();
            restarted = true;
        }
        let text = format!("m{i}");
        let at = Instant::now();
        alice.send_message("general", &text, None).await.unwrap();
        sent.insert(text, at);
        i += 1;
        tokio::time::sleep(EVERY).await;
    }
    alice
        .request(json!({"type": "send", "room": "general", "text": "done"}))
        .await
        .unwrap();
    let arrivals = receiver.await.unwrap();

    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut latency: [Vec<Duration>; 3] = Default::default();
    let mut gap: [Duration; 3] = Default::default();
    let mut last: Option<Instant> = None;
    for (text, at) in &arrivals {
        *seen.entry(text).or_default() += 1;
        let p = phase(at.duration_since(start));
        if let Some(sent_at) = sent.get(text) {
            latency[p].push(at.duration_since(*sent_at));
        }
        if let Some(last) = last {
            gap[p] = gap[p].max(at.duration_since(last));
        }
        last = Some(*at);
    }
    let lost = sent
        .keys()
        .filter(|t| !seen.contains_key(t.as_str()))
        .count();
    let duplicated = seen.values().filter(|n| **n > 1).count();
    println!(
        "broker_failover: {} sent, {} received, {lost} lost, {duplicated} duplicated",
        sent.len(),
        arrivals.len()
    );
    println!("| phase | messages | p50 | p99 | max | longest gap between arrivals |");
    println!("|---|---|---|---|---|---|");
    for (p, name) in ["3 brokers up", "broker 1 killed", "broker 1 back"]
        .iter()
        .enumerate()
    {
        let mut v = latency[p].clone();
        v.sort();
        let q = |f: f64| {
            v.get(((v.len() as f64 * f) as usize).min(v.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        println!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            v.len(),
            q(0.5),
            q(0.99),
            v.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            gap[p].as_secs_f64() * 1e3
        );
    }
}
