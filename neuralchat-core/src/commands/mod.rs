//! Slash commands: a message starting with `/` is a command. One registry
//! ([`COMMANDS`]) holds every command's name, usage, help and required
//! role; `/help` is generated from it; [`parse`] turns text into a
//! [`Command`]; the engine runs it (`engine/commands.rs`).

mod parse;
mod registry;

pub use parse::{parse, Command};
pub use registry::{find, help_text, CommandSpec, Needs, COMMANDS};
