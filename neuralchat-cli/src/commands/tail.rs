//! `tail ROOM`: prints an existing room's live events as they arrive.

use super::room::require_room;
use super::{with_client, Auth, Ctx};
use crate::api::{self, Joined};
use crate::client::Client;
use crate::error::{CliError, ErrorKind};
use crate::frames::Live;
use crate::interrupt::interrupted;
use anyhow::Result;
use neuralchat_core::Event;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// `tail ROOM [--count N] [--timeout SECS]`. Stops after `count` events
/// (success), at Ctrl-C (success) or at the timeout: success without
/// `--count`, a failure when `--count` was given and not reached.
/// When the connection is lost it reconnects (to the next `--server` if the
/// first is down) and resumes after the last event printed, so every event
/// is printed once. A room that does not exist is an error (nothing is
/// created).
pub async fn tail(
    ctx: &Ctx,
    room: &str,
    count: Option<u64>,
    limit: Option<Duration>,
) -> Result<()> {
    let deadline = limit.map(|limit| Instant::now() + limit);
    let mut progress = Progress::default();
    loop {
        let result = with_client(ctx, Auth::Required, async |client| {
            follow(ctx, client, room, count, deadline, &mut progress).await
        })
        .await;
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
    require_room(client, room, false).await?;
    let joined = api::join(client, room, progress.last.as_deref()).await?;
    let room = joined.room.clone();
    // A resume prints the gap the `joined` history fills (all of it, if it
    // takes more than one page); a first join prints only what is new.
    let mut pending: VecDeque<Event> = VecDeque::new();
    if progress.last.is_some() {
        let mut page = joined.clone();
        loop {
            let last = page.history.last().map(|e| e.id.to_string());
            pending.extend(page.history);
            match last {
                Some(last) if page.more => page = api::join(client, &room, Some(&last)).await?,
                _ => break,
            }
        }
    } else if let Some(newest) = joined.history.last() {
        // Nothing printed yet: a resume starts after what was already there.
        progress.last = Some(newest.id.to_string());
    }
    let seen: HashSet<String> = pending.iter().map(|e| e.id.to_string()).collect();
    let buffered = client.take_live();
    pending.extend(
        fresh_events(&joined, client.user(), buffered)
            .into_iter()
            .filter(|e| !seen.contains(&e.id.to_string())),
    );
    // One watch for Ctrl-C for the whole tail, looked at first.
    let mut interrupt = std::pin::pin!(interrupted());
    loop {
        if count.is_some_and(|count| progress.printed >= count) {
            return Ok(());
        }
        let next = match pending.pop_front() {
            Some(event) => Some(event),
            None => tokio::select! {
                biased;
                // Ctrl-C: the user is done, whatever --count said.
                () = &mut interrupt => return Ok(()),
                event = client.next_event(deadline) => event?,
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
        if event.room != room {
            continue;
        }
        ctx.out.event(&event, false)?;
        progress.printed += 1;
        progress.last = Some(event.id.to_string());
    }
}

/// The events among the live frames that arrived while joining, less those
/// that are not new: those already in the `joined` history, and this
/// session's own join.
fn fresh_events(joined: &Joined, me: Option<&str>, buffered: Vec<Live>) -> Vec<Event> {
    let known: HashSet<String> = joined.history.iter().map(|e| e.id.to_string()).collect();
    buffered
        .into_iter()
        .filter_map(|live| match live {
            Live::Event(event) => Some(event),
            _ => None,
        })
        .filter(|event| {
            let own_join = event.kind == neuralchat_core::EventKind::Join
                && event.room == joined.room
                && me.is_some_and(|me| event.author == me);
            !own_join && !known.contains(&event.id.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(n: u8, kind: &str, author: &str) -> Event {
        serde_json::from_value(json!({
            "id": format!("0190e3c0-0000-7000-8000-0000000000{n:02}"),
            "room": "general", "kind": kind, "author": author,
            "origin": "n1", "ts": 1, "text": "",
        }))
        .unwrap()
    }

    #[test]
    fn fresh_events_skip_history_and_the_own_join() {
        let joined = Joined {
            room: "general".into(),
            topic: None,
            history: vec![event(1, "message", "bob")],
            more: false,
        };
        let buffered = vec![
            Live::Event(event(1, "message", "bob")),
            Live::Event(event(2, "join", "alice")),
            Live::Event(event(3, "join", "bob")),
            Live::Event(event(4, "message", "alice")),
            Live::Delta {
                room: "general".into(),
                id: "5".into(),
                text: "x".into(),
            },
        ];
        let ids: Vec<String> = fresh_events(&joined, Some("alice"), buffered)
            .iter()
            .map(|e| e.id.to_string())
            .collect();
        assert_eq!(
            ids,
            [
                event(3, "join", "bob").id.to_string(),
                event(4, "message", "alice").id.to_string()
            ]
        );
    }
}
