//! `neuralchat-cli`: the NeuralChat command-line client. Every subcommand is
//! written once against a small frame transport ([`conn::FrameConn`]) and so
//! works the same against a server and with `--embedded`.

#![warn(missing_docs)]

mod api;
mod args;
mod chat;
mod client;
mod commands;
mod conn;
mod endpoint;
mod error;
mod frames;
mod interrupt;
mod mqtt;
mod output;
mod render;
mod replies;
mod tls;
mod token_store;

use clap::Parser;
use error::CliError;
use std::process::ExitCode;

#[actix_rt::main]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

/// Prints `error: <code>: <message>` on stderr and picks the exit status.
fn report(error: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(error) {
        // The reader went away (`tail ... | head -1`): nothing left to do.
        return ExitCode::SUCCESS;
    }
    match error.downcast_ref::<CliError>() {
        Some(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
        None => {
            eprintln!("error: client: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the failure is writing to a closed pipe.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
