//! Frame codec: decoding a client `send` frame and encoding a server `event`
//! frame, the two steps on every message's hot path; and the third, asking
//! whether a message calls a bot.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use neuralchat_core::bots::{addressed_to, BotNames};
use neuralchat_core::event::{Event, EventIdGen, EventKind};
use neuralchat_core::protocol::{decode, ServerFrame};

fn sample_event(text: &str) -> Event {
    let id = EventIdGen::new().next();
    Event {
        id,
        room: "general".into(),
        kind: EventKind::Message,
        author: "alice".into(),
        origin: "node-bench".into(),
        ts: id.millis(),
        text: text.into(),
        client_id: Some("c-123".into()),
        target: None,
        mentions: Vec::new(),
        reply_to: None,
        stopped: false,
        failed: false,
    }
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("frames");
    for size in [16usize, 1024] {
        let text = "x".repeat(size);
        let send = format!(
            r#"{{"type":"send","ref":"17","room":"general","text":"{text}","client_id":"c-123"}}"#
        );
        group.throughput(Throughput::Bytes(send.len() as u64));
        group.bench_function(format!("decode_send_{size}B"), |b| {
            b.iter(|| decode(black_box(&send), 64 * 1024))
        });
        let frame = ServerFrame::Event {
            event: sample_event(&text),
        };
        group.bench_function(format!("encode_event_{size}B"), |b| {
            b.iter(|| black_box(&frame).encode())
        });
    }
    group.bench_function("decode_bad_json", |b| {
        b.iter(|| decode(black_box("{\"type\":"), 64 * 1024))
    });
    group.finish();
}

/// Whether a message calls a bot (asked of every message in a room with
/// bots): most name none.
fn address(c: &mut Criterion) {
    let bots = vec![BotNames::new("Olga", ["Ольга", "Оля"])];
    let mut group = c.benchmark_group("address");
    for (name, text) in [
        (
            "ascii_no_bot",
            "message of a throughput run, about a hundred bytes long, naming nobody at all here.",
        ),
        (
            "cyrillic_no_bot",
            "сообщение о погоде на завтра, примерно сто байт, и никого здесь не зовут.",
        ),
        ("ascii_calls_olga", "Olga, tell me a joke about the weather"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| addressed_to(black_box(text), black_box(&bots)))
        });
    }
    group.finish();
}

criterion_group!(benches, codec, address);
criterion_main!(benches);
