#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Idle authenticated sessions: how much server memory each costs, and how
//! fast they connect. `cargo build --release -p neuralchat-server && cargo
//! bench --bench sessions` (a plain `main`). Opens `SESSIONS_COUNT`
//! (default 5,000) WebSocket connections to the real server binary, each
//! authenticated with a token (`auth`: no password hashing per connection),
//! then reads the server's resident memory (`VmRSS`) and reports the growth
//! per session, sessions per GiB, and connections (with `auth`) per second.
//! The server logs at its default level into a file. What it leaves out:
//! sessions that joined rooms, and any peer (no bare WebSocket server here).

use neuralchat_testkit::bin::{bench_server, env_usize};
use neuralchat_testkit::process::rss_bytes;
use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::json;
use std::time::Instant;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("sessions: an end-to-end benchmark; run it with `cargo bench --bench sessions`");
        return;
    }
    let server = bench_server().unwrap_or_else(|e| panic!("{e}"));
    println!("server binary: {}", server.display());
    let count = env_usize("SESSIONS_COUNT", 5_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = ServerProcess::start(
            ServerOptions::new()
                .dir(dir.path())
                .relaxed_limits()
                .env("NEURALCHAT_LIMITS__CONNECTIONS_PER_ADDRESS", (count + 100).to_string())
                .env("NEURALCHAT_ACCOUNTS__BCRYPT_COST", "4"),
        )
        .await
        .expect("neuralchat-server did not start");
        let mut first = WsClient::connect(&server.ws_url()).await.expect("connect");
        let token = first
            .register_and_login("idle", "bench-password")
            .await
            .expect("sign up");
        let before = rss_bytes(server.pid()).expect("server RSS");
        let started = Instant::now();
        let mut sessions = Vec::with_capacity(count);
        for _ in 0..count {
            let mut client = WsClient::connect(&server.ws_url()).await.expect("connect");
            client
                .request_ok(json!({"type": "auth", "token": token}), "authenticated")
                .await
                .expect("auth");
            sessions.push(client);
        }
        let elapsed = started.elapsed().as_secs_f64();
        // Every session answered `authenticated`: all are open and idle now.
        let after = rss_bytes(server.pid()).expect("server RSS");
        let per_session = after.saturating_sub(before) as f64 / count as f64;
        println!("| sessions | server RSS before | after | per session | sessions per GiB | connect + auth per second |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| {count} | {:.1} MiB | {:.1} MiB | {:.1} KiB | {:.0} | {:.0} |",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            per_session / 1024.0,
            (1u64 << 30) as f64 / per_session.max(1.0),
            count as f64 / elapsed
        );
        drop(sessions);
    });
}
