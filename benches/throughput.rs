#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end store throughput: how many messages per second the server
//! stores and acknowledges, over real WebSockets, with group commit on and
//! off (`store.group_commit = false`: one transaction per message, the
//! peer) in the same run.
//!
//! `cargo build --release -p neuralchat-server && cargo bench --bench throughput`
//! (a plain `main`, no criterion). Each sender is one connection of its
//! own user, keeping `WINDOW` messages in flight (it sends the next one as
//! each `ack` arrives) for `THROUGHPUT_SECS` (default 5) seconds. Scenarios:
//! one room with 1 sender, one room with 10 senders, 50 rooms with one
//! sender each. Reported: acknowledged messages per second, the server's
//! CPU time per message (from `/proc`), the mean batch size (from
//! `/metrics`), whether the server stored exactly what it acknowledged
//! (message events counted in its database after the run), and the mean
//! room batch (messages a room stored in one job). The peer, in the same run: the server's own
//! store code with nothing around it (`Db::append_event` through diesel,
//! same schema, pragmas and migrations, 256 events per transaction, one
//! thread, as fast as it goes); each scenario's ratio to it is printed. The
//! server logs at its default level into a file; limits are raised so
//! that nothing is refused. With
//! `THROUGHPUT_PIN=1` every server thread is pinned to core 0 (`taskset`);
//! run the bench itself on the other core (`taskset -c 1 …`) to keep the
//! load off the server's core, as issue 9's own measurement did. With
//! `THROUGHPUT_POSTGRES=1` the server and the peer use a throwaway
//! PostgreSQL server (the testkit's, `initdb` on a free port; a fresh
//! database for each) instead of SQLite files. The figures are also
//! written as JSON to `<target>/bench-results/throughput.json`. What it
//! leaves out: mesh relaying.

use neuralchat_testkit::bin::{bench_server, env_usize};
use neuralchat_testkit::process::{self, cpu_secs};
use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::json;
use std::time::{Duration, Instant};

#[path = "common/report.rs"]
mod report;

/// Messages each sender keeps in flight.
const WINDOW: usize = 32;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "throughput: an end-to-end benchmark; run it with `cargo bench --bench throughput`"
        );
        return;
    }
    let server = bench_server().unwrap_or_else(|e| panic!("{e}"));
    let secs = env_usize("THROUGHPUT_SECS", 5) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!("server binary: {}; {secs} s per scenario", server.display());
    let postgres = std::env::var_os("THROUGHPUT_POSTGRES")
        .map(|_| neuralchat_testkit::PgFixture::start().expect("a throwaway PostgreSQL"));
    let mut databases = 0;
    // A fresh database for each run: a file, or a PostgreSQL database.
    let mut fresh = || -> Option<String> {
        databases += 1;
        let pg = postgres.as_ref()?;
        Some(
            pg.create_database(&format!("bench{databases}"))
                .expect("create database"),
        )
    };
    println!(
        "database: {}",
        if postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let raw = raw_store(fresh(), Duration::from_secs(secs));
    println!("peer: the store alone (Db::append_event, 256 per transaction): {raw:.0} events/s");
    println!("| scenario | group commit | messages/s | vs store alone | server CPU µs/message | mean room batch | mean group commit | stored = acked |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    rt.block_on(async {
        for (name, rooms, senders_per_room) in [
            ("1 room, 1 sender", 1, 1),
            ("1 room, 10 senders", 1, 10),
            ("50 rooms, 1 sender each", 50, 1),
        ] {
            for group_commit in [true, false] {
                let r = scenario(
                    rooms,
                    senders_per_room,
                    group_commit,
                    fresh(),
                    Duration::from_secs(secs),
                )
                .await;
                let rate = r.acked as f64 / r.elapsed;
                println!(
                    "| {name} | {} | {rate:.0} | {:.2}x | {:.1} | {:.2} | {:.2} | {} |",
                    if group_commit { "on" } else { "off" },
                    rate / raw,
                    r.cpu_secs * 1e6 / r.acked.max(1) as f64,
                    r.mean_room_batch,
                    r.mean_batch,
                    if r.stored == r.acked { "yes" } else { "NO" }
                );
                rows.push(json!({
                    "scenario": name,
                    "group_commit": group_commit,
                    "messages_per_sec": rate,
                    "vs_store_alone": rate / raw,
                    "server_cpu_us_per_message": r.cpu_secs * 1e6 / r.acked.max(1) as f64,
                    "mean_room_batch": r.mean_room_batch,
                    "mean_group_commit": r.mean_batch,
                    "acked": r.acked,
                    "stored": r.stored,
                }));
            }
        }
    });
    let database = if postgres.is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    report::save(
        "throughput",
        json!({
            "database": database,
            "secs_per_scenario": secs,
            "store_alone_events_per_sec": raw,
            "scenarios": rows,
        }),
    );
}

/// One scenario's outcome.
struct Outcome {
    /// Messages acknowledged.
    acked: u64,
    /// Messages the server counted as stored.
    stored: u64,
    /// Seconds measured.
    elapsed: f64,
    /// Server CPU seconds over the measured phase.
    cpu_secs: f64,
    /// Commits per group-commit transaction.
    mean_batch: f64,
    /// Messages per room batch (one database job).
    mean_room_batch: f64,
}

/// The peer: events appended straight through the server's store code
/// (`Db`, diesel, the same schema and pragmas), 256 per transaction, on
/// this thread, for `length`; returns events per second.
fn raw_store(database: Option<String>, length: Duration) -> f64 {
    use neuralchat_core::event::{EventIdGen, EventKind, EventSource};
    use neuralchat_core::store::Db;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database.unwrap_or_else(|| dir.path().join("raw.db").to_string_lossy().into());
    let db = Db::open(&url, 2).expect("open the store");
    db.run(|conn| conn.ensure_room("room0", "author", false, 0))
        .expect("a room");
    let source = EventSource {
        node: "bench".into(),
        ids: std::sync::Arc::new(EventIdGen::new()),
    };
    let text = "message of a throughput run, about a hundred bytes long..........................";
    let started = Instant::now();
    let mut appended = 0u64;
    while started.elapsed() < length {
        db.run(|conn| {
            for _ in 0..256 {
                let client_id = Some(format!("c{appended}"));
                let event = source.make(
                    "room0",
                    EventKind::Message,
                    "author",
                    text.into(),
                    client_id,
                );
                conn.append_event(&event)?;
                appended += 1;
            }
            Ok(())
        })
        .expect("append");
    }
    appended as f64 / started.elapsed().as_secs_f64()
}

async fn scenario(
    rooms: usize,
    per_room: usize,
    group_commit: bool,
    database: Option<String>,
    length: Duration,
) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = ServerOptions::new().dir(dir.path());
    if let Some(url) = database {
        options = options.database(url);
    }
    let server = ServerProcess::start(
        options
            .relaxed_limits()
            .env("NEURALCHAT_LIMITS__MESSAGES_PER_SECOND", "1000000")
            .env("NEURALCHAT_LIMITS__MESSAGE_BURST", "1000000")
            .env("NEURALCHAT_LIMITS__FRAMES_PER_SECOND", "1000000")
            .env("NEURALCHAT_LIMITS__FRAME_BURST", "1000000")
            .env("NEURALCHAT_LIMITS__OUTBOX_CAPACITY", "65536")
            .env("NEURALCHAT_STORE__GROUP_COMMIT", group_commit.to_string())
            .env("NEURALCHAT_ACCOUNTS__BCRYPT_COST", "4"),
    )
    .await
    .expect("neuralchat-server did not start");
    if std::env::var_os("THROUGHPUT_PIN").is_some() {
        pin_to_core_0(server.pid());
    }
    let mut clients = Vec::new();
    for room in 0..rooms {
        for sender in 0..per_room {
            let mut client = WsClient::connect(&server.ws_url()).await.expect("connect");
            client
                .register_and_login(&format!("s{room}x{sender}"), "bench-password")
                .await
                .expect("sign up");
            client.join(&format!("room{room}")).await.expect("join");
            clients.push((client, format!("room{room}")));
        }
    }
    let before = metrics(&server).await;
    let cpu_before = cpu_secs(server.pid()).unwrap_or(0.0);
    let started = Instant::now();
    let deadline = started + length;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(client, room)| tokio::spawn(sender(client, room, deadline)))
        .collect();
    let mut acked = 0;
    for task in tasks {
        acked += task.await.expect("sender task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_secs(server.pid()).unwrap_or(0.0) - cpu_before;
    let after = metrics(&server).await;
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let stored = stored_messages(server.database());
    let batches = delta("neuralchat_store_batches_total");
    let room_batches = delta("neuralchat_room_batches_total");
    Outcome {
        mean_room_batch: if room_batches > 0.0 {
            delta("neuralchat_room_batched_messages_total") / room_batches
        } else {
            1.0
        },
        acked,
        stored,
        elapsed,
        cpu_secs: cpu,
        mean_batch: if batches > 0.0 {
            delta("neuralchat_store_batched_commits_total") / batches
        } else {
            1.0
        },
    }
}

/// Message events in the server's database, counted there (every
/// scenario starts on an empty database).
fn stored_messages(url: &str) -> u64 {
    use diesel::dsl::count_star;
    use diesel::prelude::*;
    use neuralchat_core::store::schema::events;
    use neuralchat_core::store::{Conn, Db};
    let db = Db::open(url, 1).expect("open the server's database");
    db.run(|conn| {
        let query = events::table
            .filter(events::kind.eq("message"))
            .select(count_star());
        Ok(match conn {
            Conn::Sqlite(c) => query.get_result::<i64>(*c)?,
            Conn::Postgres(c) => query.get_result::<i64>(*c)?,
        })
    })
    .expect("count the stored messages") as u64
}

/// Pins every thread of process `pid` to core 0 (`taskset -a -p`).
fn pin_to_core_0(pid: u32) {
    assert!(process::pin(pid, "0"), "taskset could not pin the server");
}

/// Sends with `WINDOW` messages in flight until `deadline`, then waits for
/// the last acks; returns how many were acknowledged.
async fn sender(mut client: WsClient, room: String, deadline: Instant) -> u64 {
    client.set_deadline(Duration::from_secs(30));
    let mut sent = 0u64;
    let mut acked = 0u64;
    let frame = |n: u64| json!({"type": "send", "ref": format!("m{n}"), "room": room, "text": format!("message {n} of a throughput run, about a hundred bytes long........")});
    for _ in 0..WINDOW {
        client.send_json(&frame(sent)).await.expect("send");
        sent += 1;
    }
    while acked < sent {
        let reply = client.recv_json().await.expect("an answer");
        match reply["type"].as_str() {
            Some("ack") => {
                acked += 1;
                if Instant::now() < deadline {
                    client.send_json(&frame(sent)).await.expect("send");
                    sent += 1;
                }
            }
            Some("error") => panic!("refused: {reply}"),
            _ => {}
        }
    }
    acked
}

/// The server's counters from `/metrics`.
async fn metrics(server: &ServerProcess) -> std::collections::HashMap<String, f64> {
    let response = server
        .http()
        .send_raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("/metrics");
    response
        .text()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}
