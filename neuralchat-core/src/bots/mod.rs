//! AI bots: deciding whether a message is addressed to a bot
//! ([`address`]), and streaming replies from LLM servers ([`backend`]).
//!
//! Both parts are plain library code with no actor in them: the bot actor
//! asks [`addressed_to`] about each message in a room, and calls
//! [`LlmClient::stream`] to get the model's reply token by token.

#![warn(missing_docs)]

mod actor;
pub mod address;
pub mod backend;
pub mod config;
pub mod context;
pub mod health;
mod reply;

pub(crate) use actor::{Ask, Asking, Bot, StopReplies};
pub use address::{addressed_to, Addressed, AddressedBy, BotNames};
pub use backend::{
    BackendError, BackendKind, ChatTurn, CompletionRequest, Delta, LlmClient, Role, TokenStream,
    Usage,
};
pub use config::BotConfig;
pub use health::{BotHealth, BotStatus};
pub(crate) use reply::Pending;
