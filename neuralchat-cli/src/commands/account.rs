//! `register`, `login` and `logout`.

use super::{with_client, Auth, Ctx};
use crate::args::Credentials;
use crate::client::{unexpected, Client};
use crate::error::{server_code, CliError};
use crate::token_store::StoredSession;
use anyhow::{Context, Result};
use neuralchat_core::protocol::{ClientFrame, ServerFrame};
use serde_json::json;
use std::io::BufRead;

/// The environment variable holding the password.
const PASSWORD_ENV: &str = "NEURALCHAT_PASSWORD";

/// `register NAME`: creates an account.
pub async fn register(ctx: &Ctx, creds: &Credentials) -> Result<()> {
    let frame = ClientFrame::Register {
        username: creds.name.clone(),
        password: password(creds.password_stdin)?,
    };
    let user = with_client(ctx, Auth::None, async |client| {
        match client.request(&frame).await? {
            ServerFrame::Registered { user, .. } => Ok(user),
            other => Err(unexpected("registered", &other).into()),
        }
    })
    .await?;
    if ctx.out.is_json() {
        ctx.out.json(&json!({"type": "registered", "user": user}))
    } else {
        ctx.out.line(&format!("registered {user}"))
    }
}

/// `login NAME`: logs in and stores the token.
pub async fn login(ctx: &Ctx, creds: &Credentials) -> Result<()> {
    let frame = ClientFrame::Login {
        username: creds.name.clone(),
        password: password(creds.password_stdin)?,
    };
    let session = with_client(ctx, Auth::None, async |client| {
        match client.request(&frame).await? {
            ServerFrame::LoggedIn {
                user,
                token,
                expires_at,
                ..
            } => Ok(StoredSession {
                user,
                token,
                expires_at: Some(expires_at),
            }),
            other => Err(unexpected("logged_in", &other).into()),
        }
    })
    .await?;
    if session.token.is_empty() {
        return Err(CliError::protocol("the logged_in answer carries no token").into());
    }
    ctx.store.save(&session)?;
    if ctx.out.is_json() {
        // The token stays in the session file, out of logs and terminals.
        ctx.out.json(&json!({
            "type": "logged_in",
            "user": session.user,
            "expires_at": session.expires_at,
        }))
    } else {
        ctx.out.line(&format!("logged in as {}", session.user))
    }
}

/// `logout`: revokes the stored token and deletes it. A token the server no
/// longer accepts is deleted all the same.
pub async fn logout(ctx: &Ctx) -> Result<()> {
    let Some(stored) = ctx.store.load()? else {
        return Err(CliError::not_logged_in().into());
    };
    let outcome = with_client(ctx, Auth::None, async |client: &mut Client| {
        client.authenticate(&stored.token).await?;
        client.request(&ClientFrame::Logout {}).await
    })
    .await;
    match outcome {
        Ok(_) => {}
        Err(e) if server_code(&e) == Some("invalid_token") => {}
        Err(e) => return Err(e),
    }
    ctx.store.clear()?;
    if ctx.out.is_json() {
        ctx.out
            .json(&json!({"type": "logged_out", "user": stored.user}))
    } else {
        ctx.out.line(&format!("logged out {}", stored.user))
    }
}

/// The password: one line of stdin with `--password-stdin`, else the environment.
fn password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            return Err(CliError::local("no_password", "stdin gave an empty password").into());
        }
        return Ok(password);
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(password) if !password.is_empty() => Ok(password),
        _ => Err(CliError::local(
            "no_password",
            format!("no password: set {PASSWORD_ENV} or pass --password-stdin"),
        )
        .into()),
    }
}
