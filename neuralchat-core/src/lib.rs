//! NeuralChat's engine: accounts, rooms, messages, slash commands,
//! @mentions, AI bots and persistent history, with no transport attached.
//! neuralchat-server puts WebSocket and REST in front of it; any program can
//! embed it the same way.
//!
//! Build an [`Engine`] from an [`EngineConfig`] with [`Engine::builder`],
//! then either
//!
//! - call its methods directly ([`Engine::register`], [`Engine::join`],
//!   [`Engine::post`], [`Engine::history`], [`Engine::submit`], ...), acting
//!   as the user each call names, or
//! - open a session per client with [`Engine::connect`] and exchange
//!   protocol frames with it: send [`ClientFrame`]s as JSON text in
//!   [`Inbound`], read [`ServerFrame`]s as JSON text from
//!   [`SessionLink::frames`], and send [`Disconnect`] when the client goes
//!   away. The session enforces every rule (log-in, rates, permissions), so
//!   this is how a transport serves untrusted clients. The frames are
//!   described in `docs/PROTOCOL.md`.
//!
//! # Runtime: an actix System
//!
//! The engine is made of actix actors. Build and use it inside an actix
//! `System`: under `#[actix_rt::main]` or `#[actix_web::main]`,
//! `#[actix_rt::test]` in tests, or in `actix_rt::System::new().block_on(...)`.
//! Under a bare `#[tokio::main]` runtime, [`EngineBuilder::build`] returns
//! [`EngineError::NoActixSystem`].
//!
//! # Example
//!
//! Two users chat in a room, on a SQLite file in a temporary directory:
//!
//! ```
//! use neuralchat_core::{Engine, EngineConfig, EventKind, Inbound, ServerFrame};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let database = dir.path().join("chat.db");
//!
//! actix_rt::System::new().block_on(async move {
//!     let mut config = EngineConfig::default();
//!     config.accounts.bcrypt_cost = 4; // Fast for the example; keep 12 in production.
//!     config.bots.clear(); // No AI bot (the default has Olga, on a local model server).
//!     let engine = Engine::builder(config)
//!         .database(format!("sqlite://{}", database.display()))
//!         .build()
//!         .await?;
//!
//!     // Direct calls: act as the user named.
//!     let alice = engine.register("alice", "correct horse").await?;
//!     engine.join(&alice, "general", None).await?;
//!     engine.post(&alice, "general", "hello from Rust", None).await?;
//!
//!     // A session: what a transport does for each client connection.
//!     engine.register("bob", "battery staple").await?;
//!     let mut link = engine.connect("example", "local".into());
//!     for frame in [
//!         r#"{"type":"login","username":"bob","password":"battery staple"}"#,
//!         r#"{"type":"history","room":"general","ref":"h1"}"#,
//!     ] {
//!         link.session.send(Inbound(frame.to_owned())).await?;
//!     }
//!     // `hello` comes first, then one answer per frame, in order.
//!     let history = loop {
//!         let text = link.frames.recv().await.ok_or("session closed")?;
//!         match serde_json::from_str::<ServerFrame>(&text)? {
//!             ServerFrame::Error { message, .. } => return Err(message.into()),
//!             ServerFrame::History { events, .. } => break events,
//!             _ => {} // hello, logged_in
//!         }
//!     };
//!     let messages: Vec<&str> = history
//!         .iter()
//!         .filter(|e| e.kind == EventKind::Message)
//!         .map(|e| e.text.as_str())
//!         .collect();
//!     assert_eq!(messages, ["hello from Rust"]);
//!
//!     engine.shutdown().await; // Waits for database writes in flight.
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! More, runnable with `cargo run -p neuralchat-core --example NAME`:
//! `embedded` (the engine in a program), `custom_transport` (a transport of
//! your own over [`Engine::connect`]), `local_bot` (an AI bot on a local
//! model server).
//!
//! # Entry points
//!
//! - [`Engine`], [`EngineBuilder`], [`EngineConfig`], [`EngineError`]:
//!   building and running the engine.
//! - [`SessionLink`], [`Inbound`], [`Disconnect`], [`ClientFrame`],
//!   [`ServerFrame`]: the session API for transports.
//! - [`Event`], [`EventKind`], [`EventId`]: what happens in rooms.
//! - [`ChatError`], [`ErrorCode`]: why a request was refused.
//! - [`bots::BotConfig`]: an AI bot (a `[[bots]]` table in `neuralchat.toml`).
//!
//! Layout: `protocol` (frames), `event` (the event model), `engine` (entry
//! point), `hub` / `room` / `session` (actors), `store` (diesel), `accounts`.

#![warn(missing_docs)]

pub mod accounts;
mod answer_line;
pub mod bots;
pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
// The fuzz targets' checks, shared with `tests/fuzz_regressions.rs`.
#[doc(hidden)]
pub mod fuzzing;
mod hub;
pub mod mentions;
pub mod metrics;
pub mod names;
pub mod outbox;
pub mod permissions;
pub mod presence;
pub mod protocol;
pub mod rate;
pub mod recent;
mod room;
pub mod session;
mod shared;
pub mod store;
pub mod text;
pub mod throttle;

pub use accounts::LoginGrant;
pub use config::EngineConfig;
pub use engine::{
    client_address, CommandOutput, DatabaseHealth, Effect, Engine, EngineBuilder, EngineError,
    JoinedRoom, RoomsPage, Submitted,
};
pub use error::{ChatError, ChatResult, ErrorCode};
pub use event::{Event, EventId, EventKind};
pub use outbox::CloseReason;
pub use protocol::{ClientFrame, ServerFrame};
pub use room::ReplyProgress;
pub use session::{Disconnect, Inbound, Session, SessionLink};
