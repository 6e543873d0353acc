//! The subcommands, each written once against [`Client`] so that they work
//! the same over a WebSocket and with an embedded engine.

mod account;
pub mod room;
mod tail;

use crate::args::{Cli, Command};
use crate::chat;
use crate::client::{Client, Target};
use crate::error::CliError;
use crate::output::Output;
use crate::token_store::TokenStore;
use anyhow::Result;
use std::time::Duration;

/// What every command needs: where to connect, the request time limit, the
/// output mode and the token store.
pub struct Ctx {
    /// Where to connect.
    pub target: Target,
    /// The time limit for each request.
    pub timeout: Duration,
    /// Where results go.
    pub out: Output,
    /// The stored log-in.
    pub store: TokenStore,
}

/// Whether a command authenticates with the stored token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Never (register, login).
    None,
    /// Always; without a stored token the command fails before connecting.
    Required,
}

/// Runs the command line.
pub async fn run(cli: Cli) -> Result<()> {
    let target = match &cli.embedded {
        Some(database) => Target::Embedded(database.clone()),
        None => Target::Servers(cli.server_list()),
    };
    let ctx = Ctx {
        target,
        timeout: cli.timeout,
        out: Output::new(cli.json),
        store: TokenStore::from_env()?,
    };
    match cli.command {
        Command::Register(creds) => account::register(&ctx, &creds).await,
        Command::Login(creds) => account::login(&ctx, &creds).await,
        Command::Logout => account::logout(&ctx).await,
        Command::Send { room, text } => room::send(&ctx, &room, &text).await,
        Command::History {
            room,
            limit,
            before,
        } => room::history(&ctx, &room, limit, before).await,
        Command::Tail {
            room,
            count,
            timeout,
        } => tail::tail(&ctx, &room, count, timeout).await,
        Command::Join { room } => room::join(&ctx, &room).await,
        Command::Leave { room } => room::leave(&ctx, &room).await,
        Command::Rooms => room::rooms(&ctx).await,
        Command::Mentions => room::mentions(&ctx).await,
        Command::Who { room } => room::who(&ctx, &room).await,
        Command::Chat { room } => chat::chat(&ctx, &room).await,
    }
}

/// Connects and, as `auth` says, authenticates with the stored token.
pub async fn open(ctx: &Ctx, auth: Auth) -> Result<Client> {
    let stored = match auth {
        Auth::None => None,
        Auth::Required => ctx.store.load()?,
    };
    if auth == Auth::Required && stored.is_none() {
        return Err(CliError::not_logged_in().into());
    }
    let mut client = Client::connect(&ctx.target, ctx.timeout).await?;
    if let Some(stored) = stored {
        if let Err(e) = client.authenticate(&stored.token).await {
            client.close().await;
            return Err(e);
        }
    }
    Ok(client)
}
