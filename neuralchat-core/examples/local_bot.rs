//! An AI bot on a local model server.
//!
//! The engine is configured with one bot, Olga, the programmatic form of a
//! `[[bots]]` table in `neuralchat.toml`:
//!
//! ```toml
//! [[bots]]
//! name = "Olga"
//! aliases = ["Ольга"]
//! backend = "openai"             # llama.cpp's llama-server, vLLM, LM Studio...
//! url = "http://127.0.0.1:8081"
//! ```
//!
//! A user asks "Olga, tell me a joke" in a room. The example prints the
//! frames that stream the answer: `reply_start`, a `delta` for each piece
//! of text, then the final `event` with the whole reply.
//!
//! ```text
//! # The default server, http://127.0.0.1:8081 (llama-server --port 8081 -m MODEL.gguf):
//! cargo run -p neuralchat-core --example local_bot
//! # Another server, by argument or environment:
//! cargo run -p neuralchat-core --example local_bot -- http://127.0.0.1:8080
//! NEURALCHAT_BOT_URL=http://127.0.0.1:11434 NEURALCHAT_BOT_BACKEND=ollama \
//!     NEURALCHAT_BOT_MODEL=llama3.2 cargo run -p neuralchat-core --example local_bot
//! ```
//!
//! If no model server answers, the bot's reply is its failure message
//! ("Olga is unavailable: cannot connect"). The example prints it and
//! exits with status 0, so it also runs where no model is installed.

use neuralchat_core::bots::{BackendKind, BotConfig};
use neuralchat_core::{Engine, EngineConfig, SessionLink};
use serde_json::{json, Value};
use std::error::Error;
use std::time::Duration;

type BoxError = Box<dyn Error>;

/// The bot's configuration: Olga, with the model server from the command
/// line or the environment.
fn bot_config() -> Result<BotConfig, BoxError> {
    let mut bot = BotConfig::olga();
    if let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NEURALCHAT_BOT_URL").ok())
    {
        bot.url = url;
    }
    if let Ok(backend) = std::env::var("NEURALCHAT_BOT_BACKEND") {
        bot.backend = match backend.as_str() {
            "openai" => BackendKind::OpenAi,
            "ollama" => BackendKind::Ollama,
            other => return Err(format!("unknown backend {other:?} (openai or ollama)").into()),
        };
    }
    if let Ok(model) = std::env::var("NEURALCHAT_BOT_MODEL") {
        bot.model = model;
    }
    // Give up on a server that goes silent for this long.
    bot.timeout_secs = 30;
    Ok(bot)
}

/// Sends a frame to the session.
async fn send(link: &SessionLink, frame: Value) -> Result<(), BoxError> {
    link.session
        .send(neuralchat_core::Inbound(frame.to_string()))
        .await?;
    Ok(())
}

/// The session's next frame, as JSON.
async fn recv(link: &mut SessionLink, wait: Duration) -> Result<Value, BoxError> {
    let frame = tokio::time::timeout(wait, link.frames.recv())
        .await
        .map_err(|_| format!("no frame within {wait:?}"))?
        .ok_or("the session closed")?;
    Ok(serde_json::from_str(&frame)?)
}

/// The next frame answering `reference`, skipping others; an `error`
/// answer is an error.
async fn answer(link: &mut SessionLink, reference: &str) -> Result<Value, BoxError> {
    loop {
        let frame = recv(link, Duration::from_secs(10)).await?;
        if frame["ref"] == reference {
            if frame["type"] == "error" {
                return Err(format!("request {reference} failed: {frame}").into());
            }
            return Ok(frame);
        }
    }
}

#[actix_rt::main]
async fn main() -> Result<(), BoxError> {
    let bot = bot_config()?;
    let (name, url, wait) = (
        bot.name.clone(),
        bot.url.clone(),
        Duration::from_secs(bot.timeout_secs + 10),
    );
    println!("bot {name} ({}) at {url}", bot.backend);

    let dir = tempfile::tempdir()?;
    let mut config = EngineConfig::default();
    config.accounts.bcrypt_cost = 4; // Fast hashing for the example only.
    config.bots = vec![bot];
    let engine = Engine::builder(config)
        .database(dir.path().join("chat.db").to_string_lossy())
        .build()
        .await?;

    engine.register("carol", "password1").await?;
    let mut link = engine.connect("example", "local".into());
    send(
        &link,
        json!({"type":"login","ref":"1","username":"carol","password":"password1"}),
    )
    .await?;
    answer(&mut link, "1").await?;
    send(&link, json!({"type":"join","ref":"2","room":"jokes"})).await?;
    answer(&mut link, "2").await?;
    let question = format!("{name}, tell me a joke");
    println!("carol: {question}");
    send(
        &link,
        json!({"type":"send","ref":"3","room":"jokes","text":question}),
    )
    .await?;

    // The reply streams in: reply_start, deltas, then the final event
    // (with the same id as reply_start's).
    let mut reply_id = None;
    let reply = loop {
        let frame = recv(&mut link, wait).await?;
        match frame["type"].as_str() {
            Some("reply_start") => {
                // `event.text` is what the bot said so far (empty at first).
                reply_id = Some(frame["event"]["id"].clone());
                println!("[reply_start] {name}: {}", frame["event"]["text"]);
            }
            Some("delta") if reply_id.as_ref() == Some(&frame["id"]) => {
                println!("[delta] {}", frame["text"]);
            }
            Some("event") if reply_id.as_ref() == Some(&frame["event"]["id"]) => {
                break frame["event"].clone();
            }
            Some("error") => {
                // For example bot_busy, or token_budget_spent.
                println!("the bot refused: {}", frame["message"]);
                engine.shutdown().await;
                return Ok(());
            }
            _ => {}
        }
    };
    let text = reply["text"].as_str().unwrap_or("");
    println!("[event] {name}: {text}");
    if text.starts_with(&format!("{name} is unavailable:")) {
        println!("no model server answered at {url}: that is the bot's failure message above");
    }
    engine.shutdown().await;
    Ok(())
}
