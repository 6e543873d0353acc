#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Saturated fan-out, end to end: one sender and N receivers in one room,
//! on the real `neuralchat-server` and, in the same run, on two peers: the
//! bare WebSocket broadcast server (tokio-tungstenite, `common/bare_server.rs`)
//! and Mosquitto at QoS 0 and at QoS 1 (one topic, N subscribers; at QoS 1
//! the sender publishes and every subscriber subscribes at QoS 1, and each
//! reader answers every PUBLISH with its PUBACK).
//!
//! The sender sends as fast as the room takes it: message `n` goes out once
//! message `n - WINDOW` has reached every receiver, so no queue grows and
//! nothing is dropped for being slow. It runs `BROADCAST_SECS` (default 5)
//! per server and size; sizes are `BROADCAST_RECEIVERS` (default
//! `100,1000`). Receivers sign up, log in and join with a real WebSocket
//! client (on the real server), then hand their sockets to one thread that
//! reads raw bytes (`common/raw_reader.rs`); the sender writes its frames
//! (masked WebSocket text frames, or MQTT PUBLISH packets) on a raw socket
//! too. During the measured phase the server (or broker) is pinned to core
//! 0 and this process to the last core (`taskset`), when there are two.
//!
//! Reported per server and size: messages and deliveries per second (from
//! the first send to the last delivery), the ratio to the bare server, the
//! server's CPU per delivery (from /proc), deliveries missing, and the
//! latency of each delivery (send to read; at saturation, so mostly queue).
//! The real server logs at `info` into a file; its limits are raised so
//! nothing is refused. What it leaves out: storing is in the real server's
//! path (each message is stored before it fans out), not in the peers'.
//!
//! Run: `cargo build --release -p neuralchat-server && cargo bench --bench
//! broadcast` (needs `ulimit -n` above the largest size plus 300). The
//! table is also written as JSON to `<target>/bench-results/broadcast.json`.

use neuralchat_testkit::bin::{bench_server, env_usize};
use neuralchat_testkit::process::cpu_secs;
use neuralchat_testkit::{Mosquitto, ServerProcess};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

#[path = "common/bare_server.rs"]
mod bare_server;
#[path = "common/pinning.rs"]
mod pinning;
#[path = "common/raw_reader.rs"]
mod raw_reader;
#[path = "common/report.rs"]
mod report;
#[path = "common/wire.rs"]
mod wire;
#[path = "common/ws_member.rs"]
mod ws_member;

use bare_server::BareServer;
use pinning::Pinning;
use raw_reader::{wait_ready, Clock, RawReaders};
use wire::{mqtt_publish, mqtt_publish_qos1, mqtt_subscriber, mqtt_subscriber_at, send_frame};
use ws_member::{drain, raw_tcp, real_member, unthrottled, ws_connect, FRAME_DEADLINE};

/// Messages in flight: message `n` is sent once `n - WINDOW` reached all.
const WINDOW: usize = 16;
/// The most messages one run can send (the marker has six digits).
const MAX_MESSAGES: usize = 999_999;
/// Receivers set up at once.
const SETUP_PARALLEL: usize = 16;
/// The room (and MQTT topic).
const ROOM: &str = "flood";

fn main() {
    if bare_server::run_if_asked() {
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("broadcast: an end-to-end benchmark; run it with `cargo bench --bench broadcast`");
        return;
    }
    let server = bench_server().unwrap_or_else(|e| panic!("{e}"));
    let secs = env_usize("BROADCAST_SECS", 5) as f64;
    let sizes: Vec<usize> = std::env::var("BROADCAST_RECEIVERS")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    println!(
        "server binary: {}; {secs} s per server and size; window {WINDOW}",
        server.display()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let mut rows = Vec::new();
        for &receivers in &sizes {
            let real = real_run(receivers, secs).await;
            let bare = bare_run(receivers, secs).await;
            let mqtt = mosquitto_run(receivers, secs, Framing::Mqtt).await;
            let mqtt1 = mosquitto_run(receivers, secs, Framing::Mqtt1).await;
            rows.push((receivers, real, bare, mqtt, mqtt1));
        }
        println!("\n| receivers | server | messages/s | deliveries/s | vs bare | CPU per delivery | missing | each delivery p50 | p99 | pinned |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for (receivers, real, bare, mqtt, mqtt1) in &rows {
            for (name, run) in [
                ("neuralchat-server", real),
                ("bare broadcast", bare),
                ("Mosquitto QoS 0", mqtt),
                ("Mosquitto QoS 1", mqtt1),
            ] {
                println!(
                    "| {receivers} | {name} | {:.0} | {:.0} | {:.2}x | {:.2} µs | {} | {:.2} ms | {:.2} ms | {} |",
                    run.messages_per_sec,
                    run.deliveries_per_sec,
                    run.deliveries_per_sec / bare.deliveries_per_sec,
                    run.cpu_us,
                    run.missing,
                    run.p50_ms,
                    run.p99_ms,
                    run.pinned
                );
            }
        }
        let results: Vec<_> = rows
            .iter()
            .flat_map(|(receivers, real, bare, mqtt, mqtt1)| {
                [
                    ("neuralchat-server", real),
                    ("bare broadcast", bare),
                    ("Mosquitto QoS 0", mqtt),
                    ("Mosquitto QoS 1", mqtt1),
                ]
                .map(|(name, run)| {
                    serde_json::json!({
                        "receivers": receivers,
                        "server": name,
                        "messages_per_sec": run.messages_per_sec,
                        "deliveries_per_sec": run.deliveries_per_sec,
                        "vs_bare": run.deliveries_per_sec / bare.deliveries_per_sec,
                        "server_cpu_us_per_delivery": run.cpu_us,
                        "missing": run.missing,
                        "each_delivery_p50_ms": run.p50_ms,
                        "each_delivery_p99_ms": run.p99_ms,
                        "pinned": run.pinned,
                    })
                })
            })
            .collect();
        report::save("broadcast", serde_json::json!({ "window": WINDOW, "secs": secs, "runs": results }));
    });
}

/// One server's figures at one size.
struct Run {
    /// Messages sent per second.
    messages_per_sec: f64,
    /// Messages read per second, summed over the receivers.
    deliveries_per_sec: f64,
    /// The server's CPU time (user + system) per delivery, µs.
    cpu_us: f64,
    /// Deliveries that never came (messages sent × receivers − read).
    missing: usize,
    /// Send → read, each delivery.
    p50_ms: f64,
    p99_ms: f64,
    /// Where the measured phase ran.
    pinned: String,
}

/// How the sender's messages are framed for one kind of server.
#[derive(Clone, Copy)]
enum Framing {
    /// A masked WebSocket text frame holding a `send` frame.
    WebSocket,
    /// An MQTT QoS 0 PUBLISH to `ROOM`.
    Mqtt,
    /// An MQTT QoS 1 PUBLISH to `ROOM`.
    Mqtt1,
}

impl Framing {
    /// Message `seq` (its packet id, at QoS 1) holding `text`.
    fn encode(self, text: &str, seq: usize) -> Vec<u8> {
        match self {
            Framing::WebSocket => send_frame(ROOM, text),
            Framing::Mqtt => mqtt_publish(ROOM, text),
            Framing::Mqtt1 => mqtt_publish_qos1(ROOM, text, (seq % 65_535) as u16 + 1),
        }
    }

    /// Whether receivers answer each message (MQTT QoS 1's PUBACK).
    fn acked(self) -> bool {
        matches!(self, Framing::Mqtt1)
    }
}

/// What every run shares once its receivers are reading.
struct Room {
    clock: Arc<Clock>,
    readers: Vec<tokio::task::JoinHandle<Vec<(u32, u64)>>>,
}

/// Sets up `count` receivers, at most `SETUP_PARALLEL` at once: `connect`
/// gives each one's socket after its sign-up, log-in and join; `framing`
/// says whether its reader answers what it reads.
async fn receivers<F, Fut>(count: usize, framing: Framing, connect: F) -> Room
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = std::net::TcpStream> + Send + 'static,
{
    let clock = Clock::new(MAX_MESSAGES + 1);
    let readers = Arc::new(RawReaders::start());
    let gate = Arc::new(Semaphore::new(SETUP_PARALLEL));
    let ready = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let (gate, ready, readers, clock) =
                (gate.clone(), ready.clone(), readers.clone(), clock.clone());
            let socket = connect(i);
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("semaphore");
                let tcp = socket.await;
                drop(permit);
                let reading = if framing.acked() {
                    readers.read_acking(tcp, clock)
                } else {
                    readers.read(tcp, clock)
                };
                ready.fetch_add(1, Ordering::Relaxed);
                reading.await.expect("a reader failed")
            })
        })
        .collect();
    wait_ready(&ready, count, "receiving").await;
    clock.readers.store(count, Ordering::Relaxed);
    Room {
        clock,
        readers: tasks,
    }
}

/// Floods the room for `secs` and gathers the figures.
async fn flood(
    room: Room,
    sender: std::net::TcpStream,
    framing: Framing,
    server_pid: u32,
    secs: f64,
) -> Run {
    let Room { clock, readers } = room;
    let count = clock.readers.load(Ordering::Relaxed);
    // The sender's own copies and acks are read and dropped.
    let drain = drain(&sender);
    let mut out = TcpStream::from_std(sender).expect("the sender's socket");
    let pinned = Pinning::apply(server_pid);
    let cpu_before = cpu_secs(server_pid);
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed().as_secs_f64() < secs && sent < MAX_MESSAGES {
        if sent >= WINDOW {
            let behind = sent - WINDOW;
            while clock.seen[behind].load(Ordering::Relaxed) < count {
                tokio::time::timeout(FRAME_DEADLINE, clock.complete.notified())
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "message {behind} reached only {} of {count} receivers",
                            clock.seen[behind].load(Ordering::Relaxed)
                        )
                    });
            }
        }
        clock.sent(sent);
        out.write_all(&framing.encode(&format!("busy {sent:06}"), sent))
            .await
            .expect("sending");
        sent += 1;
    }
    out.write_all(&framing.encode("busy end", sent))
        .await
        .expect("sending the end");
    let mut got = 0usize;
    let mut last = 0u64;
    let mut latencies = Vec::new();
    for reader in readers {
        let seen = reader.await.expect("a reader task failed");
        got += seen.len();
        for (seq, at) in seen {
            last = last.max(at);
            let sent_at = clock.sent_ns[seq as usize].load(Ordering::Relaxed);
            latencies.push(at.saturating_sub(sent_at) as f64 / 1e6);
        }
    }
    let cpu_after = cpu_secs(server_pid);
    pinned.undo();
    drain.abort();
    latencies.sort_by(f64::total_cmp);
    let span =
        (last.saturating_sub(clock.sent_ns[0].load(Ordering::Relaxed)) as f64 / 1e9).max(1e-9);
    let pct = |p: f64| report::percentile(&latencies, p);
    Run {
        messages_per_sec: sent as f64 / span,
        deliveries_per_sec: got as f64 / span,
        cpu_us: match (cpu_before, cpu_after) {
            (Some(b), Some(a)) => (a - b) * 1e6 / got.max(1) as f64,
            _ => f64::NAN,
        },
        missing: (sent * count).saturating_sub(got),
        p50_ms: pct(50.0),
        p99_ms: pct(99.0),
        pinned: pinned.description(),
    }
}

async fn real_run(receivers_count: usize, secs: f64) -> Run {
    println!("neuralchat-server, {receivers_count} receivers ...");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(unthrottled(dir.path()))
        .await
        .expect("neuralchat-server did not start");
    let url = server.ws_url();
    let sender = raw_tcp(real_member(&url, "flood-sender", &[ROOM]).await);
    let room = receivers(receivers_count, Framing::WebSocket, |i| {
        let url = url.clone();
        async move { raw_tcp(real_member(&url, &format!("flood-{i:04}"), &[ROOM]).await) }
    })
    .await;
    flood(room, sender, Framing::WebSocket, server.pid(), secs).await
}

async fn bare_run(receivers_count: usize, secs: f64) -> Run {
    println!("bare broadcast, {receivers_count} receivers ...");
    let bare = BareServer::start().await;
    let url = bare.url();
    let sender = raw_tcp(ws_connect(&url).await);
    let room = receivers(receivers_count, Framing::WebSocket, |_| {
        let url = url.clone();
        async move { raw_tcp(ws_connect(&url).await) }
    })
    .await;
    flood(room, sender, Framing::WebSocket, bare.pid, secs).await
}

/// Mosquitto with `framing` (QoS 0 or 1; the subscribers subscribe at the
/// same QoS).
async fn mosquitto_run(receivers_count: usize, secs: f64, framing: Framing) -> Run {
    let qos = u8::from(framing.acked());
    println!("Mosquitto QoS {qos}, {receivers_count} receivers ...");
    let broker = Mosquitto::start().await.expect("Mosquitto did not start");
    let port = broker.port();
    // The sender's PUBACKs (at QoS 1) are read and dropped with the rest.
    let sender = mqtt_subscriber(port, "flood-sender", None).await;
    let room = receivers(receivers_count, framing, |i| async move {
        mqtt_subscriber_at(port, &format!("flood-{i:04}"), Some(ROOM), qos).await
    })
    .await;
    let pid = broker.pid().expect("Mosquitto's pid");
    flood(room, sender, framing, pid, secs).await
}
