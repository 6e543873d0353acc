#![allow(clippy::expect_used, clippy::unwrap_used)]
//! What one MQTT broker hop adds in the mesh, end to end, in one run on
//! loopback: one real Mosquitto broker, two real `neuralchat-server`
//! processes (node A and node B) meshed over it, and this process as every
//! client.
//!
//! Per round, one message at a time:
//! - **mesh**: alice sends a `send` frame on node A's WebSocket; the clock
//!   stops when the `event` frame arrives on bob's WebSocket on node B (A
//!   stores it, publishes it to the broker, B receives, stores and fans it
//!   out);
//! - **same node**: the same message, the clock stopping when the `event`
//!   frame arrives on carol's WebSocket on node A (the baseline: no hop);
//! - **ack**: the same message, when alice's `ack` arrives;
//! - **bare broker**: then a bare MQTT v5 QoS 1 publish of a 300-byte payload
//!   on the same broker with paho-mqtt (the library the mesh uses), the clock
//!   stopping when a second paho client subscribed to the topic receives it;
//! - **bare, own echo**: a QoS 1 publish by a client subscribed to its own
//!   topic, until that client receives the copy — what a mesh link does,
//!   since every node subscribes to `events/+`, its own events included.
//!
//! Rounds alternate between the mesh and the bare client so both see the
//! same machine. `cargo bench --bench mesh_hop`; uses
//! `target/release/neuralchat-server` (build it with
//! `cargo build --release -p neuralchat-server`) unless
//! `NEURALCHAT_SERVER_BIN` names another. Without `--bench` (as `cargo test
//! --all-targets` runs it) it only says how to run it. Bounded: 100 warm-up
//! and 1,000 measured rounds, at most 240 s of measuring, a 10 s deadline on
//! every wait.

use neuralchat_testkit::{MeshNode, Mosquitto, ServerProcess, WsClient};
use paho_mqtt as mqtt;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Rounds not counted, first.
const WARMUP: usize = 100;
/// Rounds measured.
const ROUNDS: usize = 1000;
/// The measured rounds stop here even if not all ran (the count says so).
const MEASURE_BUDGET: Duration = Duration::from_secs(240);
/// Setup waits (links up, replication) give up after this.
const SETUP_DEADLINE: Duration = Duration::from_secs(30);
/// A single frame or MQTT message not arriving within this fails the run.
const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "correct horse";
const ROOM: &str = "general";
/// Bare publishes carry about what a sealed mesh event weighs.
const BARE_PAYLOAD: usize = 300;

/// Starts node `id` in `dir`, meshed over `broker`.
async fn node(dir: &Path, id: &str, broker: &Mosquitto) -> ServerProcess {
    MeshNode::new(dir, id, &[broker]).start().await.unwrap()
}

async fn user(server: &ServerProcess, name: &str) -> WsClient {
    let mut client = WsClient::connect(&server.ws_url()).await.unwrap();
    client.register_and_login(name, PASSWORD).await.unwrap();
    client.set_deadline(WAIT);
    client
}

/// Logs `name` in on `server`, retrying until its account has replicated.
async fn login_when_replicated(server: &ServerProcess, name: &str) -> WsClient {
    let started = Instant::now();
    loop {
        let mut client = WsClient::connect(&server.ws_url()).await.unwrap();
        if client.login(name, PASSWORD).await.is_ok() {
            client.set_deadline(WAIT);
            return client;
        }
        assert!(
            started.elapsed() < SETUP_DEADLINE,
            "{name}'s account never reached {}",
            server.node_id()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `client`'s node serves a history of `room` holding `id`.
async fn history_holds(client: &mut WsClient, room: &str, id: &str) {
    client
        .history_holding(room, &[id.to_owned()])
        .await
        .unwrap();
}

/// A connected paho client (MQTT v5, QoS 1, as the mesh's links are) whose
/// arrivals go to the returned channel with their arrival time.
fn paho_client(url: &str, id: &str) -> (mqtt::AsyncClient, mpsc::Receiver<(Instant, Vec<u8>)>) {
    let client = mqtt::CreateOptionsBuilder::new()
        .server_uri(url)
        .client_id(id)
        .mqtt_version(mqtt::MQTT_VERSION_5)
        .create_client()
        .expect("paho client");
    let (tx, rx) = mpsc::channel();
    client.set_message_callback(move |_, message| {
        if let Some(message) = message {
            let _ = tx.send((Instant::now(), message.payload().to_vec()));
        }
    });
    let options = mqtt::ConnectOptionsBuilder::new_v5()
        .clean_start(true)
        .keep_alive_interval(Duration::from_secs(5))
        .finalize();
    client.connect(options).wait().expect("paho connect");
    (client, rx)
}

/// One QoS 1 publish by `publisher` on `topic` until `receiver` has it;
/// then waits for the publisher's PUBACK (not timed).
fn bare_round(
    publisher: &mqtt::AsyncClient,
    receiver: &mpsc::Receiver<(Instant, Vec<u8>)>,
    topic: &str,
    round: usize,
) -> Duration {
    let mut payload = format!("{round:08}").into_bytes();
    payload.resize(BARE_PAYLOAD, b'.');
    let tag = payload[..8].to_vec();
    let start = Instant::now();
    let token = publisher
        .try_publish(mqtt::Message::new(topic, payload, mqtt::QOS_1))
        .expect("publish");
    let arrived = loop {
        let (at, got) = receiver.recv_timeout(WAIT).expect("bare message lost");
        if got.starts_with(&tag) {
            break at;
        }
    };
    token.wait().expect("puback");
    arrived.duration_since(start)
}

/// A measured series.
#[derive(Default)]
struct Series {
    samples: Vec<Duration>,
}

impl Series {
    /// The `q` quantile (nearest rank).
    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// How many samples are at or above `at`.
    fn at_least(&self, at: Duration) -> usize {
        self.samples.iter().filter(|d| **d >= at).count()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn run() {
    let broker = Mosquitto::start().await.expect("mosquitto");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(dir_a.path(), "node-a", &broker).await;
    let b = node(dir_b.path(), "node-b", &broker).await;

    // alice and carol on A, bob on B; all three in the room.
    let mut alice = user(&a, "alice").await;
    let mut carol = user(&a, "carol").await;
    let mut bob = user(&b, "bob").await;
    alice.join(ROOM).await.unwrap();
    let created = alice
        .request_ok(
            json!({"type": "history", "room": ROOM, "limit": 200}),
            "history",
        )
        .await
        .unwrap();
    let first = created["events"][0]["id"].as_str().unwrap().to_owned();
    history_holds(&mut bob, ROOM, &first).await;
    bob.join(ROOM).await.unwrap();
    carol.join(ROOM).await.unwrap();
    // The accounts crossed the mesh both ways.
    drop(login_when_replicated(&a, "bob").await);
    drop(login_when_replicated(&b, "alice").await);

    // The bare clients on the same broker, on topics no node reads.
    let (bare_pub, _) = paho_client(&broker.url(), "bench-bare-pub");
    let (bare_sub, bare_rx) = paho_client(&broker.url(), "bench-bare-sub");
    bare_sub
        .subscribe("bench/hop", mqtt::QOS_1)
        .wait()
        .expect("subscribe");
    let (echo, echo_rx) = paho_client(&broker.url(), "bench-bare-echo");
    echo.subscribe("bench/echo", mqtt::QOS_1)
        .wait()
        .expect("subscribe");

    let (mut mesh, mut same, mut ack) = (Series::default(), Series::default(), Series::default());
    let (mut bare, mut own_echo) = (Series::default(), Series::default());
    let load_before = loadavg();
    let mut measured_since = None;
    for round in 0..WARMUP + ROUNDS {
        let measuring = round >= WARMUP;
        if measuring {
            let since = *measured_since.get_or_insert_with(Instant::now);
            if since.elapsed() > MEASURE_BUDGET {
                println!(
                    "mesh_hop: time budget spent after {} rounds",
                    round - WARMUP
                );
                break;
            }
        }
        // The mesh: send on A, until bob (B), carol (A) and alice's ack have it.
        let text = format!("hop {round}");
        let reference = format!("hop-{round}");
        let frame = json!({"type": "send", "ref": reference, "room": ROOM,
            "text": text, "client_id": reference})
        .to_string();
        let is_it = |f: &Value| {
            f["type"] == "event" && f["event"]["kind"] == "message" && f["event"]["text"] == text
        };
        let start = Instant::now();
        alice.send_text(&frame).await.unwrap();
        let (on_b, on_a, acked) = tokio::join!(
            async { bob.recv_until(is_it).await.map(|_| start.elapsed()) },
            async { carol.recv_until(is_it).await.map(|_| start.elapsed()) },
            async {
                alice
                    .recv_until(|f| f["ref"] == reference.as_str())
                    .await
                    .map(|f| (f, start.elapsed()))
            },
        );
        let (answer, acked) = acked.expect("alice's answer");
        assert_eq!(answer["type"], "ack", "{answer}");
        let (on_b, on_a) = (on_b.expect("bob's event"), on_a.expect("carol's event"));

        // Bare: the same broker, no server.
        let bare_took = bare_round(&bare_pub, &bare_rx, "bench/hop", round);
        let echo_took = bare_round(&echo, &echo_rx, "bench/echo", round);
        if measuring {
            mesh.samples.push(on_b);
            same.samples.push(on_a);
            ack.samples.push(acked);
            bare.samples.push(bare_took);
            own_echo.samples.push(echo_took);
        }
    }
    let load_after = loadavg();

    let rows = [
        ("mesh: send on A -> event at bob on B", &mesh),
        ("same node: send on A -> event at carol on A", &same),
        ("ack: send on A -> ack at alice", &ack),
        ("bare: QoS 1 publish -> other client receives", &bare),
        (
            "bare, own echo: QoS 1 publish -> same client receives",
            &own_echo,
        ),
    ];
    println!();
    println!(
        "mesh_hop: {} measured rounds after {WARMUP} warm-up; server {}",
        mesh.samples.len(),
        std::env::var("NEURALCHAT_SERVER_BIN").unwrap_or_else(|_| "target/debug".into())
    );
    println!("load average before {load_before}, after {load_after}");
    println!("| measure | p50 | p90 | p99 | max | rounds >= 30 ms |\n|---|---|---|---|---|---|");
    for (name, series) in rows {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            ms(series.quantile(0.5)),
            ms(series.quantile(0.9)),
            ms(series.quantile(0.99)),
            ms(series.quantile(1.0)),
            series.at_least(Duration::from_millis(30)),
        );
    }
    let hop = mesh.quantile(0.5).as_secs_f64() - same.quantile(0.5).as_secs_f64();
    println!(
        "one broker hop adds (mesh p50 - same-node p50): {:.3} ms; bare publish->receive p50: {}",
        hop * 1e3,
        ms(bare.quantile(0.5))
    );

    for client in [&bare_pub, &bare_sub, &echo] {
        let _ = client.disconnect(None).wait();
    }
    drop((alice, bob, carol));
    drop((a, b, broker));
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not,
    // and a test run should not start servers for minutes.
    if !std::env::args().any(|a| a == "--bench") {
        println!("mesh_hop: run with `cargo bench --bench mesh_hop` (skipped without --bench)");
        return;
    }
    if std::env::var_os("NEURALCHAT_SERVER_BIN").is_none() {
        let release = neuralchat_testkit::bin::target_dir()
            .join("release")
            .join("neuralchat-server");
        if release.is_file() {
            std::env::set_var("NEURALCHAT_SERVER_BIN", &release);
        } else {
            eprintln!(
                "mesh_hop: {} is missing (cargo build --release -p neuralchat-server); \
                 falling back to the debug build",
                release.display()
            );
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
