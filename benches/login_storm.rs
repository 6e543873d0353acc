#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Chat latency during a log-in storm: does hashing passwords at the
//! configured bcrypt cost slow down people already chatting?
//!
//! `cargo build --release -p neuralchat-server && cargo bench --bench
//! login_storm` (a plain `main`). One real server (release build, bcrypt
//! cost `STORM_BCRYPT_COST`, default 12 as in the default config; every
//! other setting at its default but the message and frame rates, raised so
//! the chat below is never refused, and the failed-log-in limit per address,
//! since every client here comes from loopback). Two members of a room, alice and bob,
//! each on a WebSocket; alice sends one message at a time and the time from
//! just before her `send` to bob's receiving the `event` is recorded
//! (for `STORM_SECS`, default 10, after 50 warm-up). First with nothing
//! else going on (the quiet figure, the peer in the same run), then while
//! `STORM_CLIENTS` (default 32) clients log in over and over as fast as the
//! server lets them (connect, `login` with the right password, close), each
//! to an account of its own (registered first). Reported: p50/p90/p99/max of both,
//! the ratio of the p99s (issue 9: within 2x), log-ins done per second and
//! refused (`rate_limited`: the hashing queue is full) during the storm.
//! What it leaves out: registrations (they hash too, and share the queue).

use neuralchat_testkit::bin::{bench_server, env_usize};
use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "storm-password";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "login_storm: an end-to-end benchmark; run it with `cargo bench --bench login_storm`"
        );
        return;
    }
    let binary = bench_server().unwrap_or_else(|e| panic!("{e}"));
    println!("server binary: {}", binary.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

/// Log-ins done and refused by the storm's clients.
#[derive(Default)]
struct StormCounts {
    /// Log-ins answered `logged_in`.
    done: AtomicU64,
    /// Log-ins answered with an error (`rate_limited` expected).
    refused: AtomicU64,
    /// The refusals' codes (or what failed instead of an answer).
    codes: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

async fn run() {
    let cost = env_usize("STORM_BCRYPT_COST", 12);
    let secs = Duration::from_secs(env_usize("STORM_SECS", 10) as u64);
    let clients = env_usize("STORM_CLIENTS", 32);
    println!(
        "cores: {}; bcrypt cost {cost}; {clients} clients logging in, each to its own account",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(
        ServerOptions::new()
            .dir(dir.path())
            .relaxed_limits()
            // Every client here has one address (loopback); a real storm
            // comes from many, each under the per-address limit.
            .env("NEURALCHAT_LIMITS__LOGIN_ATTEMPTS_PER_ADDRESS", "1000000")
            .env("NEURALCHAT_ACCOUNTS__BCRYPT_COST", cost.to_string()),
    )
    .await
    .expect("neuralchat-server did not start");

    let url = server.ws_url();
    let mut alice = member(&url, "alice").await;
    let mut bob = member(&url, "bob").await;
    for n in 0..clients {
        let mut c = WsClient::connect(&url).await.expect("connect");
        c.register_and_login(&format!("storm{n}"), PASSWORD)
            .await
            .expect("register");
    }

    // Warm-up, then the quiet figure.
    chat(&mut alice, &mut bob, Duration::ZERO, "warm").await;
    let quiet = chat(&mut alice, &mut bob, secs, "quiet").await;

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(StormCounts::default());
    let storm: Vec<_> = (0..clients)
        .map(|n| {
            let (url, stop, counts) = (url.clone(), stop.clone(), counts.clone());
            let name = format!("storm{n}");
            tokio::spawn(async move { log_in_again_and_again(&url, &name, &stop, &counts).await })
        })
        .collect();
    // Let the hashing queue fill before measuring.
    while counts.done.load(Ordering::Relaxed) + counts.refused.load(Ordering::Relaxed) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let storm_started = Instant::now();
    let done_before = counts.done.load(Ordering::Relaxed);
    let refused_before = counts.refused.load(Ordering::Relaxed);
    let stormy = chat(&mut alice, &mut bob, secs, "storm").await;
    let storm_secs = storm_started.elapsed().as_secs_f64();
    let done = counts.done.load(Ordering::Relaxed) - done_before;
    let refused = counts.refused.load(Ordering::Relaxed) - refused_before;
    stop.store(true, Ordering::Relaxed);
    for task in storm {
        let _ = task.await;
    }

    println!("\n=== results ===");
    println!("| chat, alice's send -> bob has it, ms | messages | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    print_row("quiet", &quiet);
    print_row("during the log-in storm", &stormy);
    let ratio = percentile(&stormy, 0.99) / percentile(&quiet, 0.99);
    println!(
        "p99 during the storm / quiet p99: {ratio:.2}x (issue 9: within 2x: {})",
        if ratio <= 2.0 { "met" } else { "NOT met" }
    );
    println!(
        "log-ins during the measurement: {done} done ({:.1}/s), {refused} refused, over {storm_secs:.1} s",
        done as f64 / storm_secs
    );
    if let Ok(codes) = counts.codes.lock() {
        println!("refusals over the whole storm, by code: {codes:?}");
    }
    let log = server.log_text();
    println!(
        "server log: {} lines; `slow_consumer` {}x",
        log.lines().count(),
        log.matches("slow_consumer").count()
    );
}

/// A registered, logged-in member of `general`.
async fn member(url: &str, name: &str) -> WsClient {
    let mut c = WsClient::connect(url).await.expect("connect");
    c.set_deadline(Duration::from_secs(60));
    c.register_and_login(name, PASSWORD).await.expect("sign up");
    c.join("general").await.expect("join");
    c
}

/// Sends messages from alice, one at a time, for `secs` (at least 50);
/// returns each one's time from just before the send to bob's receiving
/// it, in ms.
async fn chat(alice: &mut WsClient, bob: &mut WsClient, secs: Duration, tag: &str) -> Vec<f64> {
    let mut times = Vec::new();
    let started = Instant::now();
    for n in 0.. {
        if n >= 50 && started.elapsed() >= secs {
            break;
        }
        let text = format!("{tag} {n}");
        let started = Instant::now();
        alice
            .send_json(&json!({"type": "send", "ref": text, "room": "general", "text": text}))
            .await
            .expect("send");
        bob.recv_until(|f| f["type"] == "event" && f["event"]["text"] == text.as_str())
            .await
            .expect("bob's copy");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        // alice reads her ack (and her own copy before it) before the next.
        alice
            .recv_until(|f| f["type"] == "ack" && f["ref"] == text.as_str())
            .await
            .expect("alice's ack");
    }
    times
}

/// One storm client: connects, logs in, hangs up, again, until `stop`.
async fn log_in_again_and_again(url: &str, name: &str, stop: &AtomicBool, counts: &StormCounts) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut c) = WsClient::connect(url).await else {
            continue;
        };
        c.set_deadline(Duration::from_secs(60));
        let answer = c
            .request(json!({"type": "login", "username": name, "password": PASSWORD}))
            .await;
        match answer {
            Ok(frame) if frame["type"] == "logged_in" => {
                counts.done.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                counts.refused.fetch_add(1, Ordering::Relaxed);
                let code = match other {
                    Ok(frame) => frame["code"].as_str().unwrap_or("?").to_owned(),
                    Err(e) => format!("no answer: {e}"),
                };
                if let Ok(mut codes) = counts.codes.lock() {
                    *codes.entry(code).or_default() += 1;
                }
            }
        }
        let _ = c.close().await;
    }
}

fn percentile(times: &[f64], p: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or(f64::NAN)
}

fn print_row(label: &str, times: &[f64]) {
    println!(
        "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
        times.len(),
        percentile(times, 0.5),
        percentile(times, 0.9),
        percentile(times, 0.99),
        percentile(times, 1.0)
    );
}
