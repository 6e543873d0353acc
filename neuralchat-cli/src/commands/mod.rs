//! The subcommands, each written once against [`Client`] so that they work
//! the same over a WebSocket and with an embedded engine. Each one runs
//! inside [`with_client`], which closes the connection properly on every
//! path: success, failure and Ctrl-C.

mod account;
mod completions;
mod room;
mod send;
mod tail;

use crate::args::{Cli, Command};
use crate::chat;
use crate::client::{Client, Target};
use crate::error::CliError;
use crate::interrupt::interrupted;
use crate::output::Output;
use crate::tls::Trust;
use crate::token_store::TokenStore;
use anyhow::Result;
use std::time::Duration;

pub use room::require_room;

/// What every command needs: where to connect, the request time limit, the
/// output mode and the token store.
pub struct Ctx {
    /// Where to connect.
    pub target: Target,
    /// The certificates `wss://` servers are checked against.
    pub trust: Trust,
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
    if let Command::Completions { shell, .. } = cli.command {
        return completions::print(shell);
    }
    let target = match &cli.embedded {
        Some(database) => Target::Embedded(database.clone()),
        None if !cli.brokers.is_empty() => Target::Servers(cli.brokers.clone()),
        None => Target::Servers(cli.servers.clone()),
    };
    let ctx = Ctx {
        target,
        trust: Trust::load(cli.ca.as_deref())?,
        timeout: cli.request_timeout(),
        out: Output::new(cli.json),
        store: TokenStore::from_env()?,
    };
    match cli.command {
        Command::Register(creds) => account::register(&ctx, &creds).await,
        Command::Login(creds) => account::login(&ctx, &creds).await,
        Command::Logout => account::logout(&ctx).await,
        Command::Send {
            room,
            text,
            create,
            no_wait,
        } => {
            let options = send::SendOptions {
                create,
                wait: !no_wait,
            };
            send::send(&ctx, &room, &text.join(" "), options).await
        }
        Command::History {
            room,
            limit,
            before,
        } => room::history(&ctx, &room, limit, before).await,
        Command::Tail { room, count } => tail::tail(&ctx, &room, count, cli.timeout).await,
        Command::Join { room } => room::join(&ctx, &room).await,
        Command::Leave { room } => room::leave(&ctx, &room).await,
        Command::Rooms => room::rooms(&ctx).await,
        Command::Mentions => room::mentions(&ctx).await,
        Command::Who { room } => room::who(&ctx, &room).await,
        Command::Chat { room, create } => chat::chat(&ctx, &room, create).await,
        Command::Completions { .. } => Ok(()),
    }
}

/// Connects (authenticating as `auth` says), runs `body` with the client
/// and closes the connection whatever happened. Ctrl-C stops the command
/// (exit 130) unless `body` handles it itself first, as `chat`, `tail` and
/// `send`'s wait for a reply do.
pub async fn with_client<T>(
    ctx: &Ctx,
    auth: Auth,
    body: impl AsyncFnOnce(&mut Client) -> Result<T>,
) -> Result<T> {
    let mut client = tokio::select! {
        biased;
        client = open(ctx, auth) => client?,
        () = interrupted() => return Err(CliError::interrupted().into()),
    };
    let outcome = tokio::select! {
        biased;
        outcome = body(&mut client) => Some(outcome),
        () = interrupted() => None,
    };
    client.close().await;
    outcome.unwrap_or_else(|| Err(CliError::interrupted().into()))
}

/// Connects and, as `auth` says, authenticates with the stored token.
async fn open(ctx: &Ctx, auth: Auth) -> Result<Client> {
    let stored = match auth {
        Auth::None => None,
        Auth::Required => ctx.store.load()?,
    };
    if auth == Auth::Required && stored.is_none() {
        return Err(CliError::not_logged_in().into());
    }
    let mut client = Client::connect(&ctx.target, &ctx.trust, ctx.timeout).await?;
    if let Some(stored) = stored {
        if let Err(e) = client.authenticate(&stored.token).await {
            client.close().await;
            return Err(e);
        }
    }
    Ok(client)
}
