//! Frame codec: decoding a client `send` frame and encoding a server `event`
//! frame, the two steps on every message's hot path.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
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

criterion_group!(benches, codec);
criterion_main!(benches);
