//! `GET /metrics`: the node's counters in the Prometheus text format
//! (version 0.0.4), for scraping.

use actix_web::{web, HttpResponse};
use neuralchat_core::Engine;
use neuralchat_mesh::Mesh;
use std::fmt::Write as _;

/// One metric: its name, type, help text and value.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric.
pub async fn metrics(engine: web::Data<Engine>, mesh: web::Data<Option<Mesh>>) -> HttpResponse {
    let m = engine.metrics().await;
    let mut out = String::with_capacity(2048);
    metric(
        &mut out,
        "neuralchat_connections",
        "gauge",
        "Client sessions open now.",
        m.sessions_open(),
    );
    metric(
        &mut out,
        "neuralchat_connections_total",
        "counter",
        "Client sessions opened since start.",
        m.sessions_opened,
    );
    metric(
        &mut out,
        "neuralchat_rooms_open",
        "gauge",
        "Room actors in memory now.",
        m.rooms_open,
    );
    metric(
        &mut out,
        "neuralchat_messages_in_total",
        "counter",
        "Messages stored from this node's users.",
        m.messages_in,
    );
    metric(
        &mut out,
        "neuralchat_deliveries_total",
        "counter",
        "Frames queued for sessions by room fan-out.",
        m.deliveries,
    );
    metric(
        &mut out,
        "neuralchat_slow_consumers_total",
        "counter",
        "Sessions dropped because their queue was full.",
        m.slow_consumers,
    );
    metric(
        &mut out,
        "neuralchat_store_calls_total",
        "counter",
        "Database jobs run.",
        m.store_calls,
    );
    metric(
        &mut out,
        "neuralchat_store_failures_total",
        "counter",
        "Database jobs that failed.",
        m.store_failures,
    );
    metric(
        &mut out,
        "neuralchat_store_seconds_total",
        "counter",
        "Summed time of database jobs, queueing included.",
        m.store_micros_sum as f64 / 1e6,
    );
    metric(
        &mut out,
        "neuralchat_store_batches_total",
        "counter",
        "Group commits: transactions holding the rooms' event commits.",
        m.store_batches,
    );
    metric(
        &mut out,
        "neuralchat_store_batched_commits_total",
        "counter",
        "Event commits run in group commits (over batches: the mean batch size).",
        m.store_batched_jobs,
    );
    metric(
        &mut out,
        "neuralchat_room_batches_total",
        "counter",
        "Batches of one room's messages stored in one database job.",
        m.room_batches,
    );
    metric(
        &mut out,
        "neuralchat_room_batched_messages_total",
        "counter",
        "Messages stored in room batches (over batches: the mean room batch).",
        m.room_batched_messages,
    );
    metric(
        &mut out,
        "neuralchat_bot_replies_total",
        "counter",
        "Bot replies finished.",
        m.bot_replies,
    );
    metric(
        &mut out,
        "neuralchat_bot_failures_total",
        "counter",
        "Bot replies whose model server failed.",
        m.bot_failures,
    );
    metric(
        &mut out,
        "neuralchat_bot_first_token_seconds_sum",
        "counter",
        "Summed bot time to first token.",
        m.bot_first_token_ms_sum as f64 / 1e3,
    );
    metric(
        &mut out,
        "neuralchat_bot_first_token_seconds_count",
        "counter",
        "Bot replies with a first token.",
        m.bot_first_tokens,
    );
    let _ = writeln!(
        out,
        "# HELP neuralchat_bot_up Whether the bot's model server answered last time."
    );
    let _ = writeln!(out, "# TYPE neuralchat_bot_up gauge");
    for bot in engine.bot_health() {
        if let Some(ok) = bot.ok {
            let _ = writeln!(
                out,
                "neuralchat_bot_up{{bot=\"{}\"}} {}",
                label(&bot.name),
                u8::from(ok)
            );
        }
    }
    if let Some(mesh) = mesh.as_ref() {
        let _ = writeln!(
            out,
            "# HELP neuralchat_mesh_broker_up Whether the link to the broker is connected."
        );
        let _ = writeln!(out, "# TYPE neuralchat_mesh_broker_up gauge");
        for broker in mesh.status().brokers {
            let _ = writeln!(
                out,
                "neuralchat_mesh_broker_up{{url=\"{}\"}} {}",
                label(&broker.url),
                u8::from(broker.connected)
            );
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}
