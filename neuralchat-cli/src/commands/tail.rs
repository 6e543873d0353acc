//! `tail ROOM`: prints a room's live events as they arrive.

use super::room::{fresh_live, join_room};
use super::{open, Auth, Ctx};
use crate::client::{event_of, str_field, Client};
use crate::error::CliError;
use crate::output::Style;
use anyhow::Result;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// `tail ROOM [--count N] [--timeout SECS]`. Stops after `count` events
/// (success) or at the timeout: success without `--count`, a failure when
/// `--count` was given and not reached. Ctrl-C stops it the same way.
pub async fn tail(
    ctx: &Ctx,
    room: &str,
    count: Option<u64>,
    limit: Option<Duration>,
) -> Result<()> {
    let deadline = limit.map(|limit| Instant::now() + limit);
    let mut client = open(ctx, Auth::Required).await?;
    let result = follow(ctx, &mut client, room, count, deadline).await;
    client.close().await;
    result
}

async fn follow(
    ctx: &Ctx,
    client: &mut Client,
    room: &str,
    count: Option<u64>,
    deadline: Option<Instant>,
) -> Result<()> {
    let joined = join_room(client, room).await?;
    let room = match str_field(&joined, "room") {
        "" => room.to_string(),
        canonical => canonical.to_string(),
    };
    let buffered = client.take_live();
    let mut pending: VecDeque<_> = fresh_live(&joined, client.user(), buffered)
        .iter()
        .filter_map(event_of)
        .cloned()
        .collect();
    let mut printed = 0u64;
    loop {
        if count.is_some_and(|count| printed >= count) {
            return Ok(());
        }
        let next = match pending.pop_front() {
            Some(event) => Some(event),
            None => tokio::select! {
                event = client.next_event(deadline) => event?,
                () = crate::chat::interrupted() => None,
            },
        };
        let Some(event) = next else {
            return match count {
                Some(count) => Err(CliError::timeout(format!(
                    "{printed} of {count} events arrived in {room} before the time was up"
                ))
                .into()),
                None => Ok(()),
            };
        };
        if str_field(&event, "room") != room {
            continue;
        }
        ctx.out.event(&event, Style::Plain, false)?;
        printed += 1;
    }
}
