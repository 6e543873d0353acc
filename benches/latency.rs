#![allow(clippy::expect_used, clippy::unwrap_used)]
//! End-to-end latency over real loopback sockets, each measure next to a
//! peer in the same run:
//!
//! 1. AI bot: a `send` frame addressing the bot ("Olga, ...") over a real
//!    WebSocket to the real `neuralchat-server` binary (release build), timed
//!    to the first `delta` frame and to the final stored `event` of the reply
//!    — against the same question (same system prompt, same turn, same
//!    `max_tokens`, temperature 0) posted straight to the same llama.cpp
//!    `llama-server` (`/v1/chat/completions`, `"stream": true`) over a
//!    keep-alive HTTP connection, timed to the first SSE chunk with content
//!    and to `data: [DONE]`. Rounds alternate between the two paths.
//! 2. Message send → receive: a quiet room (sender and one receiver on
//!    separate connections, one message at a time) and a busy room (1,000
//!    members connected, 100 messages/s for 10 s, open loop), on the real
//!    server and on a bare WebSocket broadcast server (tokio-tungstenite,
//!    `common/bare_server.rs`, run as a child process of this bench) with
//!    the same frames and the same clients. The busy room's receivers log
//!    in and join with a real client, then are read raw on one thread
//!    (`common/raw_reader.rs`); while it is measured, the server is pinned
//!    to core 0 and this process to the last core. `LATENCY_BUSY_RATE` may
//!    be a list (`10,25,50,100`): one busy run per rate, and a plot of
//!    latency against load, `<target>/bench-plots/busy-room-latency.png`.
//!    Every part's figures are also written as JSON to
//!    `<target>/bench-results/latency.json`.
//!
//! Run: `cargo build --release -p neuralchat-server && cargo bench --bench latency`.
//! The server binary is `NEURALCHAT_SERVER_BIN` when set, else
//! `<target>/release/neuralchat-server`. The bot part needs llama.cpp's
//! server and the tiny model (`scripts/llama/setup.sh`, or `LLAMA_SERVER` /
//! `LLAMA_MODEL`); without them it is skipped with a note. Sizes can be
//! changed with `LATENCY_BOT_ROUNDS`, `LATENCY_QUIET_MESSAGES`,
//! `LATENCY_BUSY_MEMBERS`, `LATENCY_BUSY_RATE`, `LATENCY_BUSY_SECS`, and
//! the parts run with `LATENCY_PARTS` (default `bot,quiet,busy`; `crowd`
//! adds the bot with `LATENCY_CROWD_ASKERS` questions at once, default 50,
//! each asker in a room of its own, `LATENCY_CROWD_ROUNDS` rounds per path,
//! default 5, against as many requests at once to llama-server).
//! `LATENCY_LOCAL=1` (with a server built with `--features local-llm`)
//! adds a third path to the bot part: the same GGUF run inside the server
//! (`backend = "local"`), timed and printed next to llama-server.
//! Everything is bounded: every wait has a deadline and the whole run stops
//! after `RUN_DEADLINE`. Run without `--bench` (as `cargo test
//! --all-targets` does) it only says how to run it.

use futures_util::{SinkExt, StreamExt};
use neuralchat_testkit::bin::{env_usize, target_dir, workspace_root};
use neuralchat_testkit::llama::llama_paths;
use neuralchat_testkit::process::cpu_secs;
use neuralchat_testkit::{LlamaServer, ServerOptions, ServerProcess};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// The whole run stops (with a failure) after this long.
const RUN_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// Rounds per path and size before the measured ones (not counted).
const BOT_WARMUP: usize = 3;
/// Quiet-room messages before the measured ones (not counted).
const QUIET_WARMUP: usize = 100;
/// Busy-room messages before the measured ones (not counted); the last one
/// reaching every member also means the join storm has been delivered.
const BUSY_WARMUP: usize = 20;
/// At most this many busy-room members set up (connect, register, log in,
/// join) at once.
const SETUP_PARALLEL: usize = 16;

#[path = "common/bare_server.rs"]
mod bare_server;
#[path = "common/pinning.rs"]
mod pinning;
#[path = "common/plot.rs"]
mod plot;
#[path = "common/raw_reader.rs"]
mod raw_reader;
#[path = "common/report.rs"]
mod report;
#[path = "common/ws_member.rs"]
mod ws_member;

use bare_server::BareServer;
use pinning::Pinning;
use raw_reader::{wait_ready, Clock, RawReaders};
use ws_member::{next_text, raw_tcp, real_member, ws_connect, Ws, FRAME_DEADLINE};

fn main() {
    if bare_server::run_if_asked() {
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("latency: an end-to-end benchmark; run it with `cargo bench --bench latency`");
        return;
    }
    let server_bin = server_binary();
    // ServerProcess finds the binary through this variable; set it before
    // any thread starts.
    std::env::set_var("NEURALCHAT_SERVER_BIN", &server_bin);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        tokio::time::timeout(RUN_DEADLINE, run(server_bin))
            .await
            .expect("the latency bench ran past its deadline")
    });
}

/// `NEURALCHAT_SERVER_BIN`, else the release build; warns when it is older
/// than the server's or the engine's sources.
fn server_binary() -> PathBuf {
    let path = match std::env::var_os("NEURALCHAT_SERVER_BIN").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => target_dir().join("release").join("neuralchat-server"),
    };
    assert!(
        path.is_file(),
        "{} does not exist: run `cargo build --release -p neuralchat-server` first \
         (or set NEURALCHAT_SERVER_BIN)",
        path.display()
    );
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    let root = workspace_root();
    let newest = ["neuralchat-server/src", "neuralchat-core/src"]
        .iter()
        .filter_map(|dir| newest_mtime(&root.join(dir)))
        .max();
    if let (Some(built), Some(newest)) = (built, newest) {
        if newest > built {
            eprintln!(
                "WARNING: {} is older than the sources; rebuild it with \
                 `cargo build --release -p neuralchat-server`",
                path.display()
            );
        }
    }
    path
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// The soft limit on open files, from /proc/self/limits.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

async fn run(server_bin: PathBuf) {
    let bot_rounds = env_usize("LATENCY_BOT_ROUNDS", 30);
    let quiet_messages = env_usize("LATENCY_QUIET_MESSAGES", 2000);
    let members = env_usize("LATENCY_BUSY_MEMBERS", 1000).max(2);
    // One rate, or a list (`10,25,50,100`): one busy run on each server per
    // rate, and the plot of latency against load.
    let rates: Vec<usize> = std::env::var("LATENCY_BUSY_RATE")
        .unwrap_or_else(|_| "100".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .filter(|&r| r > 0)
        .collect();
    let secs = env_usize("LATENCY_BUSY_SECS", 10).max(1);
    let parts = std::env::var("LATENCY_PARTS").unwrap_or_else(|_| "bot,quiet,busy".into());
    // This process holds one socket per member; the server and the bare
    // server (children, same limit) one per member too.
    let need = members as u64 + 256;
    match open_files_limit() {
        Some(limit) if limit < need => panic!(
            "the open-files limit is {limit}, the busy room needs about {need}: \
             raise it (`ulimit -n 4096`) or lower LATENCY_BUSY_MEMBERS"
        ),
        Some(limit) => println!("open-files limit {limit} (need about {need} per process)"),
        None => println!("open-files limit unknown (need about {need} per process)"),
    }
    println!("server binary: {}", server_bin.display());
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let llama = match llama_paths() {
        Ok(_) if !parts.contains("bot") && !parts.contains("crowd") => None,
        Ok(_) => Some(
            LlamaServer::start()
                .await
                .expect("llama-server did not start"),
        ),
        Err(e) => {
            println!("\nBOT PART SKIPPED: {e:#}\n");
            None
        }
    };
    let config_dir = tempfile::TempDir::new().expect("tempdir");
    let server = start_server(config_dir.path(), llama.as_ref().map(LlamaServer::url)).await;

    let bot = match &llama {
        Some(llama) if parts.contains("bot") => Some(bot_part(&server, llama, bot_rounds).await),
        _ => None,
    };
    let crowd = match &llama {
        Some(llama) if parts.contains("crowd") => {
            let askers = env_usize("LATENCY_CROWD_ASKERS", 50).max(1);
            let rounds = env_usize("LATENCY_CROWD_ROUNDS", 5).max(1);
            Some(crowd_part(&server, llama, askers, rounds).await)
        }
        _ => None,
    };
    let quiet = if parts.contains("quiet") {
        Some(quiet_part(&server, quiet_messages).await)
    } else {
        None
    };
    let mut busy = Vec::new();
    if parts.contains("busy") {
        for &rate in &rates {
            busy.push(busy_part(&server, members, rate, secs).await);
        }
    }

    let log = server.log_text();
    let rate_limited = log.matches("rate_limited").count();
    let slow = log.matches("slow_consumer").count();
    drop(server);
    drop(llama);

    println!("\n=== results ===");
    if let Some(bot) = &bot {
        bot.print();
    }
    if let Some(crowd) = &crowd {
        crowd.print();
    }
    if let Some(quiet) = &quiet {
        quiet.print();
    }
    for run in &busy {
        run.print();
    }
    if !busy.is_empty() {
        plot_busy(&busy);
    }
    save_results(bot.as_ref(), crowd.as_ref(), quiet.as_ref(), &busy);
    println!(
        "\nserver log: {} lines; `rate_limited` {rate_limited}×, `slow_consumer` {slow}× (both should be 0)",
        log.lines().count()
    );
}

/// With `LATENCY_LOCAL=1`, the model file for bots run inside the server
/// (`backend = "local"`; the server must be built with `--features
/// local-llm`): the same tiny model llama-server runs.
fn local_model() -> Option<String> {
    std::env::var_os("LATENCY_LOCAL")?;
    let (_, model) = llama_paths().ok()?;
    Some(model.display().to_string())
}

/// The real server: limits raised so that nothing is rate limited or cut
/// off as a slow consumer, cheap bcrypt, logging at its default (info), and
/// two bots on the llama-server when there is one: Olga (8 tokens) and Vera
/// (32 tokens), and with `LATENCY_LOCAL=1` two on the same model inside the
/// server: Lola (8) and Lara (32).
async fn start_server(dir: &Path, llama: Option<String>) -> ServerProcess {
    let mut config = String::new();
    if let Some(url) = llama {
        let openai = format!("backend = \"openai\"\nurl = \"{url}\"\nmodel = \"tiny\"");
        let mut bots = vec![(("Olga", 8), openai.clone()), (("Vera", 32), openai)];
        if let Some(model) = local_model() {
            // The same GGUF inside the server (a build with `--features
            // local-llm`), one thread like llama-server's `--threads 1`.
            let local = format!("backend = \"local\"\nmodel_path = \"{model}\"\nthreads = 1");
            bots.extend([(("Lola", 8), local.clone()), (("Lara", 32), local)]);
        }
        for ((name, tokens), backend) in bots {
            config.push_str(&format!(
                r#"
[[bots]]
name = "{name}"
{backend}
system_prompt = "You are {name}."
context_messages = 1
max_tokens = {tokens}
temperature = 0.0
timeout_secs = 30
queue_limit = 100
per_user_queue = 100
"#
            ));
        }
    } else {
        // No bots: an empty list (the default config has Olga).
        config.push_str("bots = []\n");
    }
    let path = dir.join("neuralchat.toml");
    std::fs::write(&path, config).expect("writing the server config");
    ServerProcess::start(
        ServerOptions::new()
            .env("NEURALCHAT_LIMITS__FRAMES_PER_SECOND", "1000000")
            .env("NEURALCHAT_LIMITS__FRAME_BURST", "1000000")
            .env("NEURALCHAT_LIMITS__MESSAGES_PER_SECOND", "1000000")
            .env("NEURALCHAT_LIMITS__MESSAGE_BURST", "1000000")
            .env("NEURALCHAT_LIMITS__OUTBOX_CAPACITY", "65536")
            // 1,000 members register from one address.
            .env("NEURALCHAT_LIMITS__REGISTRATIONS_PER_ADDRESS", "100000")
            .env("NEURALCHAT_LIMITS__CONNECTIONS_PER_ADDRESS", "100000")
            .env("NEURALCHAT_ACCOUNTS__BCRYPT_COST", "4")
            .arg("--config")
            .arg(path.display().to_string()),
    )
    .await
    .expect("neuralchat-server did not start")
}

// ---------------------------------------------------------------------------
// Statistics

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

// ---------------------------------------------------------------------------
// 1. AI bot

/// One question's timings.
#[derive(Debug, Clone, Copy)]
struct Round {
    first: f64,
    whole: f64,
    tokens: usize,
}

struct BotSize {
    max_tokens: u32,
    direct: Vec<Round>,
    through: Vec<Round>,
    /// The same question to a bot running the same GGUF inside the server
    /// (`LATENCY_LOCAL=1`), through the same WebSocket.
    local: Vec<Round>,
    same_text: bool,
}

struct BotResult {
    sizes: Vec<BotSize>,
    rounds: usize,
}

fn median_of(rounds: &[Round], f: impl Fn(&Round) -> f64) -> f64 {
    pct(&sorted(rounds.iter().map(f).collect()), 50.0)
}

impl BotResult {
    fn print(&self) {
        println!(
            "\n(1) AI bot, {} rounds per path and size (after {BOT_WARMUP} warm-up rounds), medians, ms",
            self.rounds
        );
        println!(
            "| max_tokens | tokens | first token: direct | through server | added | whole reply: direct | through server | added | per-token overhead |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let mut worst_first = f64::MIN;
        let mut worst_token = f64::MIN;
        for s in &self.sizes {
            let df = median_of(&s.direct, |r| r.first);
            let dw = median_of(&s.direct, |r| r.whole);
            let tf = median_of(&s.through, |r| r.first);
            let tw = median_of(&s.through, |r| r.whole);
            let tokens = median_of(&s.through, |r| r.tokens as f64);
            let direct_tokens = median_of(&s.direct, |r| r.tokens as f64);
            let per_token = ((tw - tf) - (dw - df)) / tokens.max(1.0);
            worst_first = worst_first.max(tf - df);
            worst_token = worst_token.max(per_token);
            println!(
                "| {} | {tokens} (direct {direct_tokens}) | {df:.3} | {tf:.3} | {:.3} | {dw:.3} | {tw:.3} | {:.3} | {per_token:.4} |",
                s.max_tokens,
                tf - df,
                tw - dw
            );
            let p90 =
                |v: &[Round], f: fn(&Round) -> f64| pct(&sorted(v.iter().map(f).collect()), 90.0);
            println!(
                "|   p90 | | {:.3} | {:.3} | | {:.3} | {:.3} | | |",
                p90(&s.direct, |r| r.first),
                p90(&s.through, |r| r.first),
                p90(&s.direct, |r| r.whole),
                p90(&s.through, |r| r.whole)
            );
            if !s.same_text {
                println!("  note: the reply text through the server differed from the direct one");
            }
            if !s.local.is_empty() {
                println!(
                    "|   backend = \"local\" (same GGUF in the server), through server | {} | | {:.3} | {:.3} | | {:.3} | {:.3} | |",
                    median_of(&s.local, |r| r.tokens as f64),
                    median_of(&s.local, |r| r.first),
                    median_of(&s.local, |r| r.first) - df,
                    median_of(&s.local, |r| r.whole),
                    median_of(&s.local, |r| r.whole) - dw
                );
                let tokens_per_sec = |v: &[Round]| {
                    median_of(v, |r| {
                        (r.tokens.saturating_sub(1)) as f64
                            / ((r.whole - r.first) / 1000.0).max(1e-9)
                    })
                };
                println!(
                    "|   tokens/s after the first: llama-server direct {:.0}, local in the server {:.0} | | | | | | | | |",
                    tokens_per_sec(&s.direct),
                    tokens_per_sec(&s.local)
                );
            }
        }
        println!(
            "target: added before the first token <= 1 ms: {} (worst {worst_first:.3} ms); \
             per-token overhead <= 0.1 ms: {} (worst {worst_token:.4} ms)",
            verdict(worst_first <= 1.0),
            verdict(worst_token <= 0.1)
        );
    }
}

/// One HTTP/1.1 connection to llama-server. It closes the connection
/// after a streamed reply (whatever its `Keep-Alive` header says), so every
/// question opens a new one, as the bot's HTTP client must too.
struct Http {
    io: BufReader<TcpStream>,
}

impl Http {
    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(FRAME_DEADLINE, self.io.read_line(&mut line))
            .await
            .expect("llama-server went silent")
            .expect("reading from llama-server");
        assert!(n > 0, "llama-server closed the connection");
        line
    }

    /// Posts a streaming chat completion on a new connection; times the
    /// first SSE chunk with content and `[DONE]`, from just before the
    /// connection is opened.
    async fn ask(port: u16, body: &str) -> (Round, String) {
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/json\r\nAccept: text/event-stream\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let start = Instant::now();
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connecting to llama-server");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let mut http = Http {
            io: BufReader::new(tcp),
        };
        http.io
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("writing the request");
        http.read_reply(start).await
    }

    async fn read_reply(&mut self, start: Instant) -> (Round, String) {
        let status = self.line().await;
        assert!(status.starts_with("HTTP/1.1 200"), "llama-server: {status}");
        let mut chunked = false;
        loop {
            let header = self.line().await;
            if header == "\r\n" {
                break;
            }
            let lower = header.to_ascii_lowercase();
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
        }
        assert!(chunked, "llama-server's stream is not chunked");
        let (mut first, mut whole, mut tokens) = (None, None, 0usize);
        let mut text = String::new();
        let mut pending = Vec::new();
        loop {
            let size_line = self.line().await;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
                .expect("chunk size");
            if size == 0 {
                // The connection closes here; trailers are not read.
                break;
            }
            let mut chunk = vec![0u8; size + 2];
            tokio::time::timeout(FRAME_DEADLINE, self.io.read_exact(&mut chunk))
                .await
                .expect("llama-server went silent")
                .expect("reading a chunk");
            pending.extend_from_slice(&chunk[..size]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim_end().strip_prefix("data: ") else {
                    continue;
                };
                if data == "[DONE]" {
                    whole.get_or_insert_with(|| start.elapsed());
                    continue;
                }
                let chunk: Value = serde_json::from_str(data).expect("a JSON SSE chunk");
                if let Some(content) = chunk["choices"][0]["delta"]["content"].as_str() {
                    if !content.is_empty() {
                        first.get_or_insert_with(|| start.elapsed());
                        tokens += 1;
                        text.push_str(content);
                    }
                }
            }
        }
        let round = Round {
            first: ms(first.expect("no content in the reply")),
            whole: ms(whole.expect("no [DONE]")),
            tokens,
        };
        (round, text)
    }
}

/// Asks the bot `bot` in `room` through the server; times the first `delta`
/// and the final `event` of the reply, from just before the `send` frame.
async fn ask_through(ws: &mut Ws, room: &str, bot: &str, n: usize) -> (Round, String) {
    let frame = json!({"type": "send", "ref": format!("q{n}"), "room": room,
        "text": format!("{bot}, tell me a joke")})
    .to_string();
    let author = format!("\"author\":\"{bot}\"");
    let start = Instant::now();
    ws.send(Message::text(frame)).await.expect("sending");
    let (mut first, mut tokens) = (None, 0usize);
    loop {
        let text = next_text(ws).await;
        let s = text.as_str();
        if s.starts_with("{\"type\":\"delta\"") {
            first.get_or_insert_with(|| start.elapsed());
            tokens += 1;
        } else if s.starts_with("{\"type\":\"event\"") && s.contains(&author) {
            let whole = start.elapsed();
            let frame: Value = serde_json::from_str(s).expect("JSON event");
            let reply = frame["event"]["text"].as_str().unwrap_or("").to_string();
            assert!(
                frame["event"].get("stopped").is_none(),
                "the reply was cut short: {reply}"
            );
            let round = Round {
                first: ms(first.expect("a reply without delta frames")),
                whole: ms(whole),
                tokens,
            };
            return (round, reply);
        } else if s.starts_with("{\"type\":\"error\"") {
            panic!("the server refused the question: {s}");
        }
    }
}

async fn bot_part(server: &ServerProcess, llama: &LlamaServer, rounds: usize) -> BotResult {
    println!("(1) AI bot: {rounds} rounds per path, max_tokens 8 and 32 ...");
    let mut ws = real_member(&server.ws_url(), "asker", &["bot8", "bot32"]).await;
    let mut sizes = Vec::new();
    let mut n = 0;
    let local = local_model().is_some();
    for (bot, local_bot, room, max_tokens) in [
        ("Olga", "Lola", "bot8", 8u32),
        ("Vera", "Lara", "bot32", 32),
    ] {
        // What the bot sends for the question (context_messages = 1: the
        // system prompt and the question, with its author named).
        let body = json!({
            "model": "tiny",
            "messages": [
                {"role": "system", "content": format!("You are {bot}.")},
                {"role": "user", "content": format!("asker: {bot}, tell me a joke")},
            ],
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
        .to_string();
        let mut size = BotSize {
            max_tokens,
            direct: Vec::new(),
            through: Vec::new(),
            local: Vec::new(),
            same_text: true,
        };
        for round in 0..BOT_WARMUP + rounds {
            // Alternate which path goes first.
            let (d, t) = if round % 2 == 0 {
                let d = Http::ask(llama.port(), &body).await;
                n += 1;
                (d, ask_through(&mut ws, room, bot, n).await)
            } else {
                n += 1;
                let t = ask_through(&mut ws, room, bot, n).await;
                (Http::ask(llama.port(), &body).await, t)
            };
            let l = if local {
                n += 1;
                Some(ask_through(&mut ws, room, local_bot, n).await)
            } else {
                None
            };
            if round >= BOT_WARMUP {
                size.same_text &= d.1 == t.1;
                size.direct.push(d.0);
                size.through.push(t.0);
                size.local.extend(l.map(|l| l.0));
            }
        }
        sizes.push(size);
    }
    BotResult { sizes, rounds }
}

// ---------------------------------------------------------------------------
// 1b. AI bot, many questions at once

/// The same question from many askers at once, each in a room of its own
/// (a bot answers one question at a time per room), through the server and
/// straight to llama-server, rounds alternating which path goes first.
struct CrowdResult {
    askers: usize,
    rounds: usize,
    direct: Vec<Round>,
    through: Vec<Round>,
}

impl CrowdResult {
    fn print(&self) {
        println!(
            "\n(1b) AI bot, {} questions at once (max_tokens 8, one room each), {} rounds per path, ms",
            self.askers, self.rounds
        );
        println!("| path | first token p50 | p90 | whole reply p50 | p90 |");
        println!("|---|---|---|---|---|");
        for (name, rounds) in [
            ("llama-server directly", &self.direct),
            ("through neuralchat-server", &self.through),
        ] {
            let first = sorted(rounds.iter().map(|r| r.first).collect());
            let whole = sorted(rounds.iter().map(|r| r.whole).collect());
            println!(
                "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |",
                pct(&first, 50.0),
                pct(&first, 90.0),
                pct(&whole, 50.0),
                pct(&whole, 90.0)
            );
        }
        let added = |f: fn(&Round) -> f64| median_of(&self.through, f) - median_of(&self.direct, f);
        println!(
            "added by neuralchat-server (medians): first token {:.3} ms, whole reply {:.3} ms",
            added(|r| r.first),
            added(|r| r.whole)
        );
    }
}

async fn crowd_part(
    server: &ServerProcess,
    llama: &LlamaServer,
    askers: usize,
    rounds: usize,
) -> CrowdResult {
    println!("(1b) AI bot: {askers} questions at once, {rounds} rounds per path ...");
    let mut members = Vec::new();
    for i in 0..askers {
        let (name, room) = (format!("crowd-{i:02}"), format!("crowd-{i:02}"));
        let ws = real_member(&server.ws_url(), &name, &[&room]).await;
        // What Olga sends for this asker's question (as in the bot part).
        let body = json!({
            "model": "tiny",
            "messages": [
                {"role": "system", "content": "You are Olga."},
                {"role": "user", "content": format!("{name}: Olga, tell me a joke")},
            ],
            "max_tokens": 8,
            "temperature": 0.0,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
        .to_string();
        members.push((ws, room, body));
    }
    let (mut askers_ws, bodies): (Vec<_>, Vec<_>) = members
        .into_iter()
        .map(|(ws, room, body)| ((ws, room), body))
        .unzip();
    let port = llama.port();
    let mut result = CrowdResult {
        askers,
        rounds,
        direct: Vec::new(),
        through: Vec::new(),
    };
    let mut n = 0;
    for round in 0..1 + rounds {
        let (d, t) = if round % 2 == 0 {
            let d = crowd_direct(port, &bodies).await;
            n += askers;
            (d, crowd_through(&mut askers_ws, n).await)
        } else {
            n += askers;
            let t = crowd_through(&mut askers_ws, n).await;
            (crowd_direct(port, &bodies).await, t)
        };
        // The first round warms both paths up.
        if round > 0 {
            result.direct.extend(d.into_iter().map(|(r, _)| r));
            result.through.extend(t.into_iter().map(|(r, _)| r));
        }
    }
    result
}

/// Every body posted to llama-server at once.
async fn crowd_direct(port: u16, bodies: &[String]) -> Vec<(Round, String)> {
    futures_util::future::join_all(bodies.iter().map(|body| Http::ask(port, body))).await
}

/// Every asker asks Olga at once, through the server.
async fn crowd_through(askers: &mut [(Ws, String)], n: usize) -> Vec<(Round, String)> {
    futures_util::future::join_all(
        askers
            .iter_mut()
            .enumerate()
            .map(|(i, (ws, room))| ask_through(ws, room, "Olga", n + i)),
    )
    .await
}

// ---------------------------------------------------------------------------
// 2a. Quiet room

struct QuietResult {
    messages: usize,
    real: Vec<f64>,
    bare: Vec<f64>,
}

impl QuietResult {
    fn print(&self) {
        println!(
            "\n(2a) quiet room: 2 members, {} messages one at a time (after {QUIET_WARMUP} warm-up), send -> receiver has it, ms",
            self.messages
        );
        println!("| server | p50 | p90 | p99 | max |");
        println!("|---|---|---|---|---|");
        for (name, v) in [
            ("neuralchat-server", &self.real),
            ("bare broadcast", &self.bare),
        ] {
            println!(
                "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |",
                pct(v, 50.0),
                pct(v, 90.0),
                pct(v, 99.0),
                pct(v, 100.0)
            );
        }
        let p50 = pct(&self.real, 50.0);
        println!(
            "added by neuralchat-server: p50 {:.3} ms, p99 {:.3} ms; target p50 <= 0.5 ms: {}",
            p50 - pct(&self.bare, 50.0),
            pct(&self.real, 99.0) - pct(&self.bare, 99.0),
            verdict(p50 <= 0.5)
        );
    }
}

/// Sends `count` messages one at a time from `sender`; each is timed from
/// just before it is written until `receiver` has it; then the sender's
/// `ack` is awaited before the next.
async fn quiet_rounds(sender: &mut Ws, receiver: &mut Ws, room: &str, count: usize) -> Vec<f64> {
    let mut samples = Vec::with_capacity(count);
    for i in 0..QUIET_WARMUP + count {
        let text = format!("quiet {i:06}");
        let frame =
            json!({"type": "send", "ref": format!("m{i}"), "room": room, "text": text}).to_string();
        let needle = format!("\"text\":\"{text}\"");
        let ack = format!("\"ref\":\"m{i}\"");
        let start = Instant::now();
        sender.send(Message::text(frame)).await.expect("sending");
        while !next_text(receiver).await.as_str().contains(&needle) {}
        let took = start.elapsed();
        while !next_text(sender).await.as_str().contains(&ack) {}
        if i >= QUIET_WARMUP {
            samples.push(ms(took));
        }
    }
    sorted(samples)
}

async fn quiet_part(server: &ServerProcess, count: usize) -> QuietResult {
    println!("(2a) quiet room: {count} messages on each server ...");
    let url = server.ws_url();
    let mut sender = real_member(&url, "quiet-sender", &["quiet"]).await;
    let mut receiver = real_member(&url, "quiet-receiver", &["quiet"]).await;
    let real = quiet_rounds(&mut sender, &mut receiver, "quiet", count).await;

    let bare_server = BareServer::start().await;
    let mut sender = ws_connect(&bare_server.url()).await;
    let mut receiver = ws_connect(&bare_server.url()).await;
    let bare = quiet_rounds(&mut sender, &mut receiver, "quiet", count).await;
    QuietResult {
        messages: count,
        real,
        bare,
    }
}

// ---------------------------------------------------------------------------
// 2b. Busy room

struct BusyRun {
    /// CPU time (user + system) of the server process per measured
    /// delivery, µs.
    server_cpu_us: f64,
    /// The same for this process (all the clients).
    client_cpu_us: f64,
    /// Deliveries per second, from the first measured send to the last
    /// measured delivery.
    throughput: f64,
    deliveries: Vec<f64>,
    all_received: Vec<f64>,
    missing: usize,
    incomplete: usize,
    send_secs: f64,
    setup_secs: f64,
}

struct BusyResult {
    members: usize,
    rate: usize,
    messages: usize,
    /// Where the measured phases ran.
    pinned: String,
    real: BusyRun,
    bare: BusyRun,
}

impl BusyResult {
    fn print(&self) {
        println!(
            "\n(2b) busy room: {} members (1 sender + {} receivers), {} messages at {}/s (after {BUSY_WARMUP} warm-up), ms",
            self.members,
            self.members - 1,
            self.messages,
            self.rate
        );
        println!("offered: {} deliveries/s", self.rate * (self.members - 1));
        println!(
            "measured phase: {} (receivers read raw TCP bytes)",
            self.pinned
        );
        println!("| server | send -> each receiver p50 | p99 | send -> every receiver p50 | p99 | max | sending took | delivered/s | missing deliveries |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for (name, r) in [
            ("neuralchat-server", &self.real),
            ("bare broadcast", &self.bare),
        ] {
            println!(
                "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} s | {:.0} | {} ({} messages incomplete) |",
                pct(&r.deliveries, 50.0),
                pct(&r.deliveries, 99.0),
                pct(&r.all_received, 50.0),
                pct(&r.all_received, 99.0),
                pct(&r.all_received, 100.0),
                r.send_secs,
                r.throughput,
                r.missing,
                r.incomplete
            );
        }
        println!(
            "CPU per delivery (user + system, measured phase): neuralchat-server {:.1} µs, bare server {:.1} µs; \
             clients {:.1} µs / {:.1} µs",
            self.real.server_cpu_us,
            self.bare.server_cpu_us,
            self.real.client_cpu_us,
            self.bare.client_cpu_us
        );
        println!(
            "setup: neuralchat-server {:.1} s (connect, register, log in, join), bare {:.1} s (connect)",
            self.real.setup_secs, self.bare.setup_secs
        );
        let p99 = pct(&self.real.all_received, 99.0);
        println!(
            "target: send -> every receiver p99 <= 10 ms: {} ({p99:.3} ms; bare {:.3} ms)",
            verdict(p99 <= 10.0 && self.real.missing == 0),
            pct(&self.bare.all_received, 99.0)
        );
    }
}

/// Sends `BUSY_WARMUP` messages, waits until every receiver has the last
/// one, then `messages` more at `rate` per second (open loop: each at its
/// scheduled time, however late the others are), then the end marker.
async fn busy_run(
    sender: Ws,
    receivers: Vec<tokio::task::JoinHandle<Vec<(u32, u64)>>>,
    clock: Arc<Clock>,
    room: &str,
    rate: usize,
    setup_secs: f64,
    server_pid: u32,
) -> BusyRun {
    let total = clock.seen.len();
    let count = receivers.len();
    let (mut sink, mut stream) = sender.split();
    // The sender's own frames (its copies of the events, the acks).
    let drain = tokio::spawn(async move {
        while let Ok(Some(Ok(message))) = tokio::time::timeout(FRAME_DEADLINE, stream.next()).await
        {
            if let Message::Text(text) = message {
                if text.as_str().contains("\"ref\":\"end\"") {
                    break;
                }
            }
        }
    });
    let frame = |seq: usize| {
        json!({"type": "send", "ref": format!("b{seq}"), "room": room,
            "text": format!("busy {seq:06}")})
        .to_string()
    };
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    for seq in 0..BUSY_WARMUP {
        clock.sent(seq);
        sink.send(Message::text(frame(seq))).await.expect("sending");
        tokio::time::sleep(interval).await;
    }
    let waited = Instant::now();
    while clock.seen[BUSY_WARMUP - 1].load(Ordering::Relaxed) < count {
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "the warm-up message reached only {} of {count} receivers",
            clock.seen[BUSY_WARMUP - 1].load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_before = (cpu_secs(server_pid), cpu_secs(std::process::id()));
    let start = tokio::time::Instant::now();
    for seq in BUSY_WARMUP..total {
        tokio::time::sleep_until(start + interval.mul_f64((seq - BUSY_WARMUP) as f64)).await;
        clock.sent(seq);
        sink.send(Message::text(frame(seq))).await.expect("sending");
    }
    let send_secs = start.elapsed().as_secs_f64();
    let end = json!({"type": "send", "ref": "end", "room": room, "text": "busy end"});
    sink.send(Message::text(end.to_string()))
        .await
        .expect("sending");
    let mut per_message: Vec<Vec<f64>> = vec![Vec::new(); total];
    let mut last_at = 0u64;
    for receiver in receivers {
        for (seq, at) in receiver.await.expect("a receiver task failed") {
            let seq = seq as usize;
            if seq >= BUSY_WARMUP {
                last_at = last_at.max(at);
            }
            let sent = clock.sent_ns[seq].load(Ordering::Relaxed);
            per_message[seq].push(at.saturating_sub(sent) as f64 / 1e6);
        }
    }
    let _ = drain.await;
    let cpu_after = (cpu_secs(server_pid), cpu_secs(std::process::id()));
    let mut deliveries = Vec::new();
    let mut all_received = Vec::new();
    let (mut missing, mut incomplete) = (0, 0);
    for got in &per_message[BUSY_WARMUP..] {
        deliveries.extend_from_slice(got);
        missing += count - got.len().min(count);
        if got.len() >= count {
            all_received.push(got.iter().copied().fold(0.0, f64::max));
        } else {
            incomplete += 1;
        }
    }
    let first_sent = clock.sent_ns[BUSY_WARMUP].load(Ordering::Relaxed);
    let span = last_at.saturating_sub(first_sent).max(1) as f64 / 1e9;
    let per_delivery = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) => (a - b) * 1e6 / deliveries.len().max(1) as f64,
        _ => f64::NAN,
    };
    BusyRun {
        server_cpu_us: per_delivery(cpu_before.0, cpu_after.0),
        client_cpu_us: per_delivery(cpu_before.1, cpu_after.1),
        throughput: deliveries.len() as f64 / span,
        deliveries: sorted(deliveries),
        all_received: sorted(all_received),
        missing,
        incomplete,
        send_secs,
        setup_secs,
    }
}

async fn busy_part(server: &ServerProcess, members: usize, rate: usize, secs: usize) -> BusyResult {
    let messages = rate * secs;
    let total = BUSY_WARMUP + messages;
    let receivers = members - 1;
    println!(
        "(2b) busy room: {members} members, {messages} messages at {rate}/s on each server ..."
    );

    // The real server: the sender joins first (and owns the room); every
    // receiver connects, registers, logs in and joins, then reads (raw).
    let readers = Arc::new(RawReaders::start());
    let started = Instant::now();
    let url = server.ws_url();
    // A room and members of its own for each rate.
    let room = format!("busy{rate}");
    let sender = real_member(&url, &format!("{room}-sender"), &[&room]).await;
    let clock = Clock::new(total);
    let ready = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(SETUP_PARALLEL));
    let tasks = (0..receivers)
        .map(|i| {
            let (url, clock, ready, gate, readers, room) = (
                url.clone(),
                clock.clone(),
                ready.clone(),
                gate.clone(),
                readers.clone(),
                room.clone(),
            );
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("semaphore");
                let ws = real_member(&url, &format!("{room}-{i:04}"), &[&room]).await;
                drop(permit);
                let reading = readers.read(raw_tcp(ws), clock);
                ready.fetch_add(1, Ordering::Relaxed);
                reading.await.expect("a reader failed")
            })
        })
        .collect();
    wait_ready(&ready, receivers, "neuralchat-server").await;
    let setup = started.elapsed().as_secs_f64();
    let pinned = Pinning::apply(server.pid());
    let real = busy_run(sender, tasks, clock, &room, rate, setup, server.pid()).await;
    pinned.undo();

    // The bare server: every connection is a member.
    let bare_server = BareServer::start().await;
    let started = Instant::now();
    let url = bare_server.url();
    let sender = ws_connect(&url).await;
    let clock = Clock::new(total);
    let ready = Arc::new(AtomicUsize::new(0));
    let tasks = (0..receivers)
        .map(|_| {
            let (url, clock, ready, gate, readers) = (
                url.clone(),
                clock.clone(),
                ready.clone(),
                gate.clone(),
                readers.clone(),
            );
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("semaphore");
                let ws = ws_connect(&url).await;
                drop(permit);
                let reading = readers.read(raw_tcp(ws), clock);
                ready.fetch_add(1, Ordering::Relaxed);
                reading.await.expect("a reader failed")
            })
        })
        .collect();
    wait_ready(&ready, receivers, "bare").await;
    let setup = started.elapsed().as_secs_f64();
    let pinned = Pinning::apply(bare_server.pid);
    let bare = busy_run(sender, tasks, clock, &room, rate, setup, bare_server.pid).await;
    pinned.undo();
    drop(bare_server);

    BusyResult {
        members,
        rate,
        messages,
        pinned: pinned.description(),
        real,
        bare,
    }
}

/// Draws each delivery's p50 and p99 against the offered load (deliveries
/// per second) for both servers into `<target>/bench-plots/busy-room-latency.png`.
fn plot_busy(runs: &[BusyResult]) {
    let offered = |r: &BusyResult| (r.rate * (r.members - 1)) as f64;
    let line = |name: &str, color, thin, pick: &dyn Fn(&BusyResult) -> f64| plot::Series {
        name: name.into(),
        points: runs.iter().map(|r| (offered(r), pick(r))).collect(),
        color,
        thin,
    };
    let series = [
        line("neuralchat-server p99", plot::RED, false, &|r| {
            pct(&r.real.deliveries, 99.0)
        }),
        line("neuralchat-server p50", plot::RED, true, &|r| {
            pct(&r.real.deliveries, 50.0)
        }),
        line("bare broadcast p99", plot::BLUE, false, &|r| {
            pct(&r.bare.deliveries, 99.0)
        }),
        line("bare broadcast p50", plot::BLUE, true, &|r| {
            pct(&r.bare.deliveries, 50.0)
        }),
    ];
    let members = runs.first().map_or(0, |r| r.members);
    let path = target_dir()
        .join("bench-plots")
        .join("busy-room-latency.png");
    let title = format!("busy room, {members} members: send -> each receiver");
    match plot::draw(
        &path,
        &title,
        "offered deliveries per second",
        &series,
        10.0,
    ) {
        Ok(()) => println!("\nplot: {}", path.display()),
        Err(e) => println!("\nno plot: {e}"),
    }
}

/// The figures of every part run, as JSON (`report::save`).
fn save_results(
    bot: Option<&BotResult>,
    crowd: Option<&CrowdResult>,
    quiet: Option<&QuietResult>,
    busy: &[BusyResult],
) {
    let crowd = crowd.map(|c| {
        let both = |f: fn(&Round) -> f64| {
            json!({"direct": median_of(&c.direct, f), "through_server": median_of(&c.through, f)})
        };
        json!({
            "askers": c.askers,
            "rounds": c.rounds,
            "first_token_ms_p50": both(|r| r.first),
            "whole_reply_ms_p50": both(|r| r.whole),
        })
    });
    let bot = bot.map(|bot| {
        let sizes: Vec<Value> = bot
            .sizes
            .iter()
            .map(|size| {
                let first = |rounds: &[Round]| median_of(rounds, |r| r.first);
                let whole = |rounds: &[Round]| median_of(rounds, |r| r.whole);
                json!({
                    "max_tokens": size.max_tokens,
                    "first_token_ms": {"direct": first(&size.direct), "through_server": first(&size.through)},
                    "whole_reply_ms": {"direct": whole(&size.direct), "through_server": whole(&size.through)},
                    "added_before_first_token_ms": first(&size.through) - first(&size.direct),
                })
            })
            .collect();
        json!({ "rounds": bot.rounds, "sizes": sizes })
    });
    let quiet = quiet.map(|q| {
        json!({
            "messages": q.messages,
            "neuralchat_server_ms": {"p50": pct(&q.real, 50.0), "p99": pct(&q.real, 99.0)},
            "bare_ms": {"p50": pct(&q.bare, 50.0), "p99": pct(&q.bare, 99.0)},
        })
    });
    let run = |r: &BusyRun| {
        json!({
            "each_delivery_ms": {"p50": pct(&r.deliveries, 50.0), "p99": pct(&r.deliveries, 99.0)},
            "every_receiver_ms": {"p50": pct(&r.all_received, 50.0), "p99": pct(&r.all_received, 99.0)},
            "delivered_per_sec": r.throughput,
            "missing": r.missing,
            "server_cpu_us_per_delivery": r.server_cpu_us,
            "clients_cpu_us_per_delivery": r.client_cpu_us,
        })
    };
    let busy: Vec<Value> = busy
        .iter()
        .map(|b| {
            json!({
                "members": b.members,
                "messages_per_sec": b.rate,
                "pinned": b.pinned,
                "neuralchat_server": run(&b.real),
                "bare": run(&b.bare),
            })
        })
        .collect();
    report::save(
        "latency",
        json!({ "bot": bot, "crowd": crowd, "quiet": quiet, "busy": busy }),
    );
}
