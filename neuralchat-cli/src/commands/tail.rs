//! `tail ROOM`: prints a room's live events as they arrive.

use super::room::{fresh_live, join_room_since, list};
use super::{open, Auth, Ctx};
use crate::client::{event_of, str_field, Client};
use crate::error::{CliError, ErrorKind};
use crate::output::Style;
use anyhow::Result;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// `tail ROOM [--count N] [--timeout SECS]`. Stops after `count` events
/// (success) or at the timeout: success without `--count`, a failure when
/// `--count` was given and not reached. Ctrl-C stops it the same way.
/// When the connection is lost it reconnects (to the next `--server` if the
/// first is down) and resumes after the last event printed, so every event
/// is printed once.
pub async fn tail(
    ctx: &Ctx,
    room: &str,
    count: Option<u64>,
    limit: Option<Duration>,
) -> Result<()> {
    let deadline = limit.map(|limit| Instant::now() + limit);
    let mut progress = Progress::default();
    loop {
        let mut client = open(ctx, Auth::Required).await?;
        let result = follow(ctx, &mut client, room, count, deadline, &mut progress).await;
        client.close().await;
        match result {
            Err(e) if connection_lost(&e) && progress.last.is_some() => continue,
            other => return other,
        }
    }
}

/// What `tail` has printed so far.
#[derive(Debug, Default)]
struct Progress {
    /// Events printed.
    printed: u64,
    /// The id of the last one, or of the newest event there was when
    /// `tail` started: where a resume starts.
    last: Option<String>,
}

/// Whether `error` is the connection going away (worth a reconnect).
fn connection_lost(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<CliError>()
        .is_some_and(|e| e.kind == ErrorKind::Connect)
}

async fn follow(
    ctx: &Ctx,
    client: &mut Client,
    room: &str,
    count: Option<u64>,
    deadline: Option<Instant>,
    progress: &mut Progress,
) -> Result<()> {
    let joined = join_room_since(client, room, progress.last.as_deref()).await?;
    let room = match str_field(&joined, "room") {
        "" => room.to_string(),
        canonical => canonical.to_string(),
    };
    // A resume prints the gap the `joined` history fills (all of it, if it
    // takes more than one page); a first join prints only what is new.
    let mut pending: VecDeque<Value> = VecDeque::new();
    if progress.last.is_some() {
        let mut page = joined.clone();
        loop {
            let events = list(&page, "history").to_vec();
            let last = events.last().map(|e| str_field(e, "id").to_owned());
            pending.extend(events);
            match last {
                Some(last) if page["more"] == true => {
                    page = join_room_since(client, &room, Some(&last)).await?;
                }
                _ => break,
            }
        }
    } else if let Some(newest) = list(&joined, "history").last() {
        // Nothing printed yet: a resume starts after what was already there.
        progress.last = Some(str_field(newest, "id").to_owned());
    }
    let seen: HashSet<String> = pending
        .iter()
        .map(|e| str_field(e, "id").to_owned())
        .collect();
    let buffered = client.take_live();
    pending.extend(
        fresh_live(&joined, client.user(), buffered)
            .iter()
            .filter_map(event_of)
            .filter(|e| !seen.contains(str_field(e, "id")))
            .cloned(),
    );
    loop {
        if count.is_some_and(|count| progress.printed >= count) {
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
                    "{} of {count} events arrived in {room} before the time was up",
                    progress.printed
                ))
                .into()),
                None => Ok(()),
            };
        };
        if str_field(&event, "room") != room {
            continue;
        }
        ctx.out.event(&event, Style::Plain, false)?;
        progress.printed += 1;
        progress.last = Some(str_field(&event, "id").to_owned());
    }
}
