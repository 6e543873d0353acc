//! Room commands: `history`, `join`, `leave`, `rooms`, `mentions`, `who`.
//! Only `join` creates a room; the others never do (the server answers
//! `unknown_room`, and the CLI says how to create it).

use super::{with_client, Auth, Ctx};
use crate::api;
use crate::client::Client;
use crate::error::{server_code, CliError};
use anyhow::Result;
use serde_json::json;

/// The error for a room that does not exist, saying how to create it;
/// `create_flag`: the command also takes `--create`.
pub fn missing_room(room: &str, create_flag: bool) -> CliError {
    let how = if create_flag {
        format!("`neuralchat-cli join {room}` or --create creates it")
    } else {
        format!("`neuralchat-cli join {room}` creates it")
    };
    CliError::server(
        "unknown_room",
        format!("no room named {room:?} (`neuralchat-cli rooms` lists them; {how})"),
    )
}

/// Fails with [`missing_room`] unless `room` exists; direct conversations
/// (`@bob`) always do (the server opens them on first use). Nothing is
/// created.
pub async fn require_room(client: &mut Client, room: &str, create_flag: bool) -> Result<()> {
    if room.starts_with('@') || api::room_exists(client, room).await? {
        Ok(())
    } else {
        Err(missing_room(room, create_flag).into())
    }
}

/// Turns the server's `unknown_room` into [`missing_room`].
fn explain_missing(room: &str, error: anyhow::Error) -> anyhow::Error {
    if server_code(&error) == Some("unknown_room") {
        missing_room(room, false).into()
    } else {
        error
    }
}

/// `history ROOM [--limit N] [--before ID]`: prints events oldest first,
/// without joining the room.
pub async fn history(
    ctx: &Ctx,
    room: &str,
    limit: Option<u32>,
    before: Option<String>,
) -> Result<()> {
    let page = with_client(ctx, Auth::Required, async |client| {
        api::history(client, room, before, limit)
            .await
            .map_err(|e| explain_missing(room, e))
    })
    .await?;
    for event in &page.events {
        ctx.out.event(event, false)?;
    }
    if page.more && !ctx.out.is_json() {
        if let Some(first) = page.events.first() {
            eprintln!("(older events: --before {})", first.id);
        }
    }
    Ok(())
}

/// `join ROOM`: the one command that creates a room.
pub async fn join(ctx: &Ctx, room: &str) -> Result<()> {
    let joined = with_client(ctx, Auth::Required, async |client| {
        api::join(client, room, None).await
    })
    .await?;
    if ctx.out.is_json() {
        ctx.out.json(&joined.frame())
    } else {
        ctx.out.line(&format!("joined {}", joined.room))
    }
}

/// `leave ROOM`.
pub async fn leave(ctx: &Ctx, room: &str) -> Result<()> {
    let left = with_client(ctx, Auth::Required, async |client| {
        api::leave(client, room)
            .await
            .map_err(|e| explain_missing(room, e))
    })
    .await?;
    if ctx.out.is_json() {
        ctx.out.json(&json!({"type": "left", "room": left}))
    } else {
        ctx.out.line(&format!("left {left}"))
    }
}

/// `rooms`: one room per line, every page.
pub async fn rooms(ctx: &Ctx) -> Result<()> {
    with_client(ctx, Auth::Required, async |client| {
        let mut after: Option<String> = None;
        loop {
            let (rooms, more) = api::rooms(client, after.take()).await?;
            for room in &rooms {
                if ctx.out.is_json() {
                    ctx.out.json(room)?;
                } else {
                    ctx.out.line(&ctx.out.render().room_line(room))?;
                }
            }
            after = rooms.last().map(|room| room.name.clone());
            if !more || after.is_none() {
                return Ok(());
            }
        }
    })
    .await
}

/// `mentions`: unread mentions, oldest first, as events (now marked read).
pub async fn mentions(ctx: &Ctx) -> Result<()> {
    let mentions = with_client(ctx, Auth::Required, async |client| {
        api::mentions(client).await
    })
    .await?;
    for event in &mentions {
        if ctx.out.is_json() {
            ctx.out.json(event)?;
        } else {
            ctx.out.line(&ctx.out.render().mention_line(event))?;
        }
    }
    Ok(())
}

/// `who ROOM`: one member per line, without joining the room.
pub async fn who(ctx: &Ctx, room: &str) -> Result<()> {
    let members = with_client(ctx, Auth::Required, async |client| {
        api::who(client, room)
            .await
            .map_err(|e| explain_missing(room, e))
    })
    .await?;
    for member in &members {
        if ctx.out.is_json() {
            ctx.out.json(member)?;
        } else {
            ctx.out.line(&ctx.out.render().member_line(member))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_room_says_how_to_create_it() {
        let e = missing_room("nosuchroom", true);
        assert_eq!((e.code.as_str(), e.exit_code()), ("unknown_room", 1));
        assert!(e.message.contains("no room named \"nosuchroom\""), "{e}");
        assert!(e.message.contains("neuralchat-cli join nosuchroom"), "{e}");
        assert!(e.message.contains("--create"), "{e}");
        assert!(!missing_room("x", false).message.contains("--create"));
    }
}
