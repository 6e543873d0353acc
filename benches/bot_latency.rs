#![allow(clippy::expect_used)]
//! What a bot adds between the model server's tokens and the chat: the same
//! question, with the same context and `max_tokens`, against the same real
//! llama.cpp server (tiny test model), asked
//! - directly, with the bot's own HTTP client (`LlmClient::stream`), and
//! - through the engine: a message posted to a room, the bot actor, and the
//!   reply's `delta` frames arriving at a session in the room.
//!
//! Reported per question: time to the first token, and time to the whole
//! reply (32 tokens). Needs `scripts/llama/setup.sh` (LLAMA_SERVER /
//! LLAMA_MODEL or its cache).

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::StreamExt;
use neuralchat_core::bots::{BackendKind, BotConfig, ChatTurn, CompletionRequest, LlmClient};
use neuralchat_core::{Engine, EngineConfig, Inbound, SessionLink};
use neuralchat_testkit::LlamaServer;
use std::time::{Duration, Instant};

const TOKENS: u32 = 32;

fn bot(url: &str) -> BotConfig {
    BotConfig {
        name: "Olga".into(),
        url: url.into(),
        model: "tiny".into(),
        system_prompt: "You are Olga.".into(),
        max_tokens: TOKENS,
        context_messages: 1,
        queue_limit: 1000,
        per_user_queue: 1000,
        ..BotConfig::default()
    }
}

async fn recv_until(link: &mut SessionLink, needle: &str) -> String {
    while let Some(frame) = link.frames.recv().await {
        if frame.contains(needle) {
            return frame.to_string();
        }
    }
    panic!("session closed before {needle:?}");
}

fn bot_latency(c: &mut Criterion) {
    let system = actix_rt::System::new();
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (llama, engine, mut link) = system.block_on(async {
        let llama = LlamaServer::start()
            .await
            .expect("llama-server (run scripts/llama/setup.sh)");
        let mut config = EngineConfig::default();
        config.accounts.bcrypt_cost = 4;
        config.limits.messages_per_second = 1e9;
        config.limits.message_burst = 1e9;
        config.bots = vec![bot(&llama.url())];
        let engine = Engine::builder(config)
            .database(dir.path().join("bench.db").display().to_string())
            .build()
            .await
            .expect("engine");
        engine
            .register("alice", "password1")
            .await
            .expect("register");
        let grant = engine.login("alice", "password1").await.expect("login");
        let mut link = engine.connect("bench", "local".into());
        let auth = format!(r#"{{"type":"auth","token":"{}"}}"#, grant.token);
        link.session.send(Inbound(auth)).await.expect("auth");
        link.session
            .send(Inbound(r#"{"type":"join","room":"bench"}"#.into()))
            .await
            .expect("join");
        recv_until(&mut link, "\"joined\"").await;
        (llama, engine, link)
    });
    let client =
        LlmClient::new(BackendKind::OpenAi, &llama.url(), Duration::from_secs(30)).expect("client");
    let request = CompletionRequest {
        model: "tiny".into(),
        messages: vec![
            ChatTurn::system("You are Olga."),
            ChatTurn::user("alice: Olga, tell me a joke"),
        ],
        max_tokens: TOKENS,
        temperature: 0.7,
    };

    let mut group = c.benchmark_group("bot_latency");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("direct_first_token", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut stream = client.stream(&request).await.expect("stream");
                    while let Some(delta) = stream.next().await {
                        if !delta.expect("delta").text.is_empty() {
                            break;
                        }
                    }
                    total += start.elapsed();
                    // Read the rest too, as the engine case does, so the
                    // server is idle when the next question starts.
                    while let Some(delta) = stream.next().await {
                        delta.expect("delta");
                    }
                }
                total
            })
        })
    });
    group.bench_function("direct_whole_reply", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut stream = client.stream(&request).await.expect("stream");
                    while let Some(delta) = stream.next().await {
                        delta.expect("delta");
                    }
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("engine_first_token", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    engine
                        .post("alice", "bench", "Olga, tell me a joke", None)
                        .await
                        .expect("post");
                    recv_until(&mut link, "\"delta\"").await;
                    total += start.elapsed();
                    // Let the reply finish before the next question.
                    while !recv_until(&mut link, "\"author\":\"Olga\"")
                        .await
                        .starts_with("{\"type\":\"event\"")
                    {}
                }
                total
            })
        })
    });
    group.bench_function("engine_whole_reply", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    engine
                        .post("alice", "bench", "Olga, tell me a joke", None)
                        .await
                        .expect("post");
                    while !recv_until(&mut link, "\"author\":\"Olga\"")
                        .await
                        .starts_with("{\"type\":\"event\"")
                    {}
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    drop(llama);
}

criterion_group!(benches, bot_latency);
criterion_main!(benches);
