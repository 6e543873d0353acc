//! NeuralChat's engine. Build an [`Engine`] from an [`EngineConfig`], then
//! either call its methods (REST-style) or open a session per client with
//! [`Engine::connect`] and exchange protocol frames with it.
//!
//! Layout: `protocol` (frames), `event` (the event model), `engine` (entry
//! point), `hub` / `room` / `session` (actors), `store` (diesel), `accounts`.

pub mod accounts;
pub mod bots;
pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
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
