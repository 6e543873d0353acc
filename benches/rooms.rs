#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Many small rooms, end to end: `ROOMS_COUNT` rooms (default 1,000) of
//! `ROOMS_MEMBERS` members each (default 10: one sender and nine
//! receivers) on the real `neuralchat-server`, and in the same run the same
//! shape on Mosquitto at QoS 0 (one topic per room: one publisher, nine
//! subscribers). The bare broadcast server of the other benches has one
//! room only, so it is not a peer here.
//!
//! Every room's sender keeps `ROOMS_WINDOW` (default 2) messages in flight:
//! its message `n` goes out once its message `n - window` has reached every
//! receiver of its room, so all rooms send at once, as fast as the server
//! takes them, and nothing queues without bound. It runs `ROOMS_SECS`
//! (default 5). Members sign up, log in and join with a real WebSocket
//! client, then their sockets are read raw on one thread
//! (`common/raw_reader.rs`); each sender writes masked frames (or MQTT
//! PUBLISH packets) on a raw socket. While measured, the server (or
//! broker) is pinned to core 0 and this process to the last core.
//!
//! Reported per server: messages and deliveries per second, the server's
//! CPU per delivery and per message (from /proc), its resident memory with
//! every member connected, deliveries missing, and the latency of each
//! delivery (send to read, at saturation). The real server stores and logs
//! (at `info`, into a file) every message; Mosquitto stores nothing.
//!
//! Run: `cargo build --release -p neuralchat-server && cargo bench --bench
//! rooms` (needs `ulimit -n` above the members plus 300). The table is
//! also written as JSON to `<target>/bench-results/rooms.json`.

use neuralchat_testkit::bin::{bench_server, env_usize};
use neuralchat_testkit::process::{cpu_secs, rss_bytes};
use neuralchat_testkit::{Mosquitto, ServerProcess};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

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

use pinning::Pinning;
use raw_reader::{wait_ready, Clock, RawReaders};
use wire::{mqtt_publish, mqtt_subscriber, send_frame};
use ws_member::{drain, raw_tcp, real_member, unthrottled, FRAME_DEADLINE};

/// The most messages one room sends in a run.
const ROOM_MESSAGES: usize = 2_000;
/// Members set up at once.
const SETUP_PARALLEL: usize = 32;

/// The shape of a run.
#[derive(Clone, Copy)]
struct Shape {
    /// Rooms.
    rooms: usize,
    /// Members per room, the sender included.
    members: usize,
    /// Messages in flight per room.
    window: usize,
    /// How long the rooms send.
    secs: f64,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("rooms: an end-to-end benchmark; run it with `cargo bench --bench rooms`");
        return;
    }
    let server = bench_server().unwrap_or_else(|e| panic!("{e}"));
    let shape = Shape {
        rooms: env_usize("ROOMS_COUNT", 1_000),
        members: env_usize("ROOMS_MEMBERS", 10).max(2),
        window: env_usize("ROOMS_WINDOW", 2).max(1),
        secs: env_usize("ROOMS_SECS", 5) as f64,
    };
    println!(
        "server binary: {}; {} rooms x {} members, window {}, {} s per server",
        server.display(),
        shape.rooms,
        shape.members,
        shape.window,
        shape.secs
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let real = real_run(shape).await;
        let mqtt = mosquitto_run(shape).await;
        println!("\n| server | messages/s | deliveries/s | CPU per delivery | CPU per message | RSS, members connected | missing | each delivery p50 | p99 | p999 | set-up | pinned |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (name, run) in [("neuralchat-server", &real), ("Mosquitto QoS 0", &mqtt)] {
            println!(
                "| {name} | {:.0} | {:.0} | {:.2} µs | {:.1} µs | {:.1} MiB | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} s | {} |",
                run.messages_per_sec,
                run.deliveries_per_sec,
                run.cpu_us_per_delivery,
                run.cpu_us_per_message,
                run.rss_mib,
                run.missing,
                run.p50_ms,
                run.p99_ms,
                run.p999_ms,
                run.setup_secs,
                run.pinned
            );
        }
        let runs = [("neuralchat-server", &real), ("Mosquitto QoS 0", &mqtt)].map(|(name, run)| {
            serde_json::json!({
                "server": name,
                "messages_per_sec": run.messages_per_sec,
                "deliveries_per_sec": run.deliveries_per_sec,
                "server_cpu_us_per_delivery": run.cpu_us_per_delivery,
                "server_cpu_us_per_message": run.cpu_us_per_message,
                "server_rss_mib": run.rss_mib,
                "missing": run.missing,
                "each_delivery_p50_ms": run.p50_ms,
                "each_delivery_p99_ms": run.p99_ms,
                "each_delivery_p999_ms": run.p999_ms,
                "setup_secs": run.setup_secs,
                "pinned": run.pinned,
            })
        });
        report::save(
            "rooms",
            serde_json::json!({
                "rooms": shape.rooms,
                "members": shape.members,
                "window": shape.window,
                "secs": shape.secs,
                "runs": runs,
            }),
        );
    });
}

/// One server's figures.
struct Run {
    messages_per_sec: f64,
    deliveries_per_sec: f64,
    cpu_us_per_delivery: f64,
    cpu_us_per_message: f64,
    /// The server's resident memory once every member is connected.
    rss_mib: f64,
    missing: usize,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    /// Connecting, signing up, logging in and joining every member.
    setup_secs: f64,
    pinned: String,
}

/// One room, its members connected and its receivers reading.
struct Room {
    /// The room's name (or MQTT topic).
    name: String,
    /// When each of its messages was sent and how many receivers have it.
    clock: Arc<Clock>,
    /// The sender's socket.
    sender: std::net::TcpStream,
    /// Each receiver's (message, when read) list, once it read the end.
    readers: Vec<tokio::task::JoinHandle<Vec<(u32, u64)>>>,
}

/// Connects every room's members, at most `SETUP_PARALLEL` at once:
/// `member(room, i)` gives member `i`'s socket (member 0 sends).
async fn rooms<F, Fut>(shape: Shape, readers: &Arc<RawReaders>, member: F) -> Vec<Room>
where
    F: Fn(String, usize) -> Fut,
    Fut: Future<Output = std::net::TcpStream> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(SETUP_PARALLEL));
    let ready = Arc::new(AtomicUsize::new(0));
    let mut sockets = Vec::new();
    for r in 0..shape.rooms {
        let name = format!("room-{r:04}");
        let members: Vec<_> = (0..shape.members)
            .map(|i| {
                let (gate, ready) = (gate.clone(), ready.clone());
                let socket = member(name.clone(), i);
                tokio::spawn(async move {
                    let permit = gate.acquire_owned().await.expect("semaphore");
                    let tcp = socket.await;
                    drop(permit);
                    ready.fetch_add(1, Ordering::Relaxed);
                    tcp
                })
            })
            .collect();
        sockets.push((name, members));
    }
    wait_ready(&ready, shape.rooms * shape.members, "room").await;
    let mut rooms = Vec::new();
    for (name, members) in sockets {
        let clock = Clock::new(ROOM_MESSAGES + 1);
        let mut members = members.into_iter();
        let sender = members.next().expect("a sender").await.expect("set-up");
        let mut room_readers = Vec::new();
        for member in members {
            let tcp = member.await.expect("set-up");
            room_readers.push(readers.read(tcp, clock.clone()));
        }
        clock.readers.store(room_readers.len(), Ordering::Relaxed);
        rooms.push(Room {
            name,
            clock,
            sender,
            readers: room_readers,
        });
    }
    rooms
}

/// What a room's sender leaves: how many messages it sent, and its
/// connection (kept until the receivers have read the end marker).
struct Sent {
    messages: usize,
    _socket: TcpStream,
    drain: tokio::task::JoinHandle<()>,
}

/// One room's sender: keeps `window` messages in flight for `secs`, then
/// sends the end marker.
async fn send_room(
    name: String,
    clock: Arc<Clock>,
    sender: std::net::TcpStream,
    encode: fn(&str, &str) -> Vec<u8>,
    shape: Shape,
    started: Instant,
) -> Sent {
    let receivers = clock.readers.load(Ordering::Relaxed);
    // The sender's own copies and acks (on the real server) are read and
    // dropped.
    let drain = drain(&sender);
    let mut out = TcpStream::from_std(sender).expect("the sender's socket");
    let mut sent = 0;
    while started.elapsed().as_secs_f64() < shape.secs && sent < ROOM_MESSAGES {
        if sent >= shape.window {
            let behind = sent - shape.window;
            while clock.seen[behind].load(Ordering::Relaxed) < receivers {
                tokio::time::timeout(FRAME_DEADLINE, clock.complete.notified())
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "{name}: message {behind} reached only {} of {receivers} receivers",
                            clock.seen[behind].load(Ordering::Relaxed)
                        )
                    });
            }
        }
        clock.sent(sent);
        out.write_all(&encode(&name, &format!("busy {sent:06}")))
            .await
            .expect("sending");
        sent += 1;
    }
    out.write_all(&encode(&name, "busy end"))
        .await
        .expect("sending the end");
    Sent {
        messages: sent,
        _socket: out,
        drain,
    }
}

/// Every room sends at once; gathers the figures.
async fn flood(
    rooms: Vec<Room>,
    encode: fn(&str, &str) -> Vec<u8>,
    server_pid: u32,
    shape: Shape,
    setup_secs: f64,
) -> Run {
    let rss_mib = rss_bytes(server_pid).unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let pinned = Pinning::apply(server_pid);
    let cpu_before = cpu_secs(server_pid);
    let started = Instant::now();
    let mut senders = Vec::new();
    let mut all_readers = Vec::new();
    for room in rooms {
        let clock = room.clock.clone();
        senders.push(tokio::spawn(send_room(
            room.name,
            room.clock,
            room.sender,
            encode,
            shape,
            started,
        )));
        all_readers.push((clock, room.readers));
    }
    let mut done = Vec::new();
    for sender in senders {
        done.push(sender.await.expect("a sender failed"));
    }
    let sent: usize = done.iter().map(|s| s.messages).sum();
    let mut got = 0usize;
    let mut expected = 0usize;
    let mut last = started;
    let mut latencies = Vec::new();
    for ((clock, readers), room) in all_readers.into_iter().zip(&done) {
        expected += room.messages * readers.len();
        for reader in readers {
            for (seq, at) in reader.await.expect("a reader task failed") {
                got += 1;
                last = last.max(clock.base + std::time::Duration::from_nanos(at));
                let sent_at = clock.sent_ns[seq as usize].load(Ordering::Relaxed);
                latencies.push(at.saturating_sub(sent_at) as f64 / 1e6);
            }
        }
    }
    let cpu_after = cpu_secs(server_pid);
    pinned.undo();
    for room in done {
        room.drain.abort();
    }
    latencies.sort_by(f64::total_cmp);
    let span = last.duration_since(started).as_secs_f64().max(1e-9);
    let pct = |p: f64| report::percentile(&latencies, p);
    let cpu = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) => a - b,
        _ => f64::NAN,
    };
    Run {
        messages_per_sec: sent as f64 / span,
        deliveries_per_sec: got as f64 / span,
        cpu_us_per_delivery: cpu * 1e6 / got.max(1) as f64,
        cpu_us_per_message: cpu * 1e6 / sent.max(1) as f64,
        rss_mib,
        missing: expected.saturating_sub(got),
        p50_ms: pct(50.0),
        p99_ms: pct(99.0),
        p999_ms: pct(99.9),
        setup_secs,
        pinned: pinned.description(),
    }
}

async fn real_run(shape: Shape) -> Run {
    println!(
        "neuralchat-server: connecting {} members ...",
        shape.rooms * shape.members
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(unthrottled(dir.path()))
        .await
        .expect("neuralchat-server did not start");
    let url = server.ws_url();
    let readers = Arc::new(RawReaders::start());
    let setup = Instant::now();
    let rooms = rooms(shape, &readers, |room, i| {
        let url = url.clone();
        async move { raw_tcp(real_member(&url, &format!("{room}-m{i}"), &[&room]).await) }
    })
    .await;
    let setup_secs = setup.elapsed().as_secs_f64();
    println!("neuralchat-server: {setup_secs:.0} s to set up; sending ...");
    flood(rooms, send_frame, server.pid(), shape, setup_secs).await
}

async fn mosquitto_run(shape: Shape) -> Run {
    println!(
        "Mosquitto QoS 0: connecting {} clients ...",
        shape.rooms * shape.members
    );
    let broker = Mosquitto::start().await.expect("Mosquitto did not start");
    let port = broker.port();
    let readers = Arc::new(RawReaders::start());
    let setup = Instant::now();
    let rooms = rooms(shape, &readers, |room, i| async move {
        let topic = (i > 0).then_some(room.as_str());
        mqtt_subscriber(port, &format!("{room}-m{i}"), topic).await
    })
    .await;
    let setup_secs = setup.elapsed().as_secs_f64();
    println!("Mosquitto QoS 0: {setup_secs:.0} s to set up; sending ...");
    let pid = broker.pid().expect("Mosquitto's pid");
    flood(rooms, mqtt_publish, pid, shape, setup_secs).await
}
