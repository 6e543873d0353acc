//! Embeds the NeuralChat engine in a program, with no network at all.
//!
//! The engine runs on a SQLite file in a temporary directory. Two users
//! register, join a room and post. Then the room's history is read back
//! and printed.
//!
//! ```text
//! cargo run -p neuralchat-core --example embedded
//! ```
//!
//! The engine is built from actix actors, so it must run inside an actix
//! `System`. `#[actix_rt::main]` starts one (so does `#[actix_web::main]`).
//! Under a bare `#[tokio::main]`, `EngineBuilder::build` returns
//! `EngineError::NoActixSystem`.

use neuralchat_core::{Engine, EngineConfig, EventKind};
use std::error::Error;

#[actix_rt::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let database = dir.path().join("chat.db");

    let mut config = EngineConfig::default();
    // Cheap password hashing, so the example runs fast. Keep the default
    // cost (12) in production.
    config.accounts.bcrypt_cost = 4;
    // No AI bots here (the default configuration has one, Olga).
    config.bots.clear();

    let engine = Engine::builder(config)
        .database(format!("sqlite://{}", database.display()))
        .build()
        .await?;
    println!("engine {} on {}", engine.node_id(), database.display());

    // Calls made in-process act as the user they name, without a session.
    // A transport checks who the user is first: see the custom_transport
    // example.
    let alice = engine.register("alice", "correct horse").await?;
    let bob = engine.register("bob", "battery staple").await?;

    let joined = engine.join(&alice, "general", None).await?;
    println!(
        "{alice} joined #{} ({} events)",
        joined.room,
        joined.history.len()
    );
    engine.join(&bob, "general", None).await?;

    engine
        .post(&alice, "general", "Hello from an embedded engine!", None)
        .await?;
    engine.post(&bob, "general", "Hi alice 👋", None).await?;

    let page = engine.history(&bob, "general", None, Some(50)).await?;
    println!("history of #general (oldest first):");
    for event in &page.events {
        match event.kind {
            EventKind::Message => println!("  <{}> {}", event.author, event.text),
            ref kind => println!("  * {} ({})", event.author, kind.as_str()),
        }
    }
    let messages = page
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Message)
        .count();
    if messages != 2 {
        return Err(format!("expected 2 messages in the history, found {messages}").into());
    }

    // Waits for database writes in flight before the temporary directory goes.
    engine.shutdown().await;
    Ok(())
}
