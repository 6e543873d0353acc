#![allow(clippy::expect_used)]
//! Room fan-out in-process: one message posted through the engine (checked,
//! stored in SQLite, serialized once, queued to every session) until every
//! session has it, against a bare broadcast baseline (one serialized frame
//! cloned into N bounded channels) that does nothing else.

use bytestring::ByteString;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use neuralchat_core::{Engine, EngineConfig, Inbound, SessionLink};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const SIZES: [usize; 3] = [1, 10, 100];

fn config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.accounts.bcrypt_cost = 4;
    config.limits.messages_per_second = 1e9;
    config.limits.message_burst = 1e9;
    config.limits.frames_per_second = 1e9;
    config.limits.frame_burst = 1e9;
    config
}

async fn wait_for(link: &mut SessionLink, needle: &str) {
    while let Some(frame) = link.frames.recv().await {
        if frame.contains(needle) {
            return;
        }
    }
    panic!("session closed before {needle:?} arrived");
}

/// An engine with `n` users joined to room "bench", each with a live session.
async fn room_with(n: usize, dir: &tempfile::TempDir) -> (Engine, Vec<SessionLink>) {
    let engine = Engine::builder(config())
        .database(dir.path().join("bench.db").display().to_string())
        .build()
        .await
        .expect("engine");
    let mut links = Vec::new();
    for i in 0..n {
        let user = format!("user{i}");
        engine.register(&user, "password1").await.expect("register");
        let grant = engine.login(&user, "password1").await.expect("login");
        let mut link = engine.connect("bench", "local".into());
        let auth = format!(r#"{{"type":"auth","token":"{}"}}"#, grant.token);
        link.session.send(Inbound(auth)).await.expect("auth");
        wait_for(&mut link, "\"authenticated\"").await;
        link.session
            .send(Inbound(r#"{"type":"join","room":"bench"}"#.into()))
            .await
            .expect("join");
        wait_for(&mut link, "\"joined\"").await;
        links.push(link);
    }
    (engine, links)
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    for n in SIZES {
        let system = actix_rt::System::new();
        let dir = tempfile::TempDir::new().expect("tempdir");
        let (engine, mut links) = system.block_on(room_with(n, &dir));
        group.bench_with_input(BenchmarkId::new("engine_post_to_all", n), &n, |b, _| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let start = Instant::now();
                    for i in 0..iters {
                        let text = format!("message {i}");
                        engine
                            .post("user0", "bench", &text, None)
                            .await
                            .expect("post");
                        for link in links.iter_mut() {
                            wait_for(link, &text).await;
                        }
                    }
                    start.elapsed()
                })
            })
        });

        group.bench_with_input(BenchmarkId::new("bare_broadcast", n), &n, |b, &n| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            let (senders, mut receivers): (Vec<_>, Vec<_>) =
                (0..n).map(|_| mpsc::channel::<ByteString>(1024)).unzip();
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for i in 0..iters {
                        let frame =
                            ByteString::from(format!(r#"{{"type":"event","text":"message {i}"}}"#));
                        for tx in &senders {
                            tx.try_send(frame.clone()).expect("room in channel");
                        }
                        for rx in receivers.iter_mut() {
                            rx.recv().await.expect("frame");
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
