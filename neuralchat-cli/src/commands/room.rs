//! Room commands: `send`, `history`, `join`, `leave`, `rooms`, `who`.

use super::{open, Auth, Ctx};
use crate::client::{event_of, str_field, Client};
use crate::output::{clean, without_ref, Style};
use anyhow::Result;
use neuralchat_core::protocol::ClientFrame;
use serde_json::Value;
use std::collections::HashSet;

/// Joins `room` (idempotent on the server); returns the `joined` answer.
pub async fn join_room(client: &mut Client, room: &str) -> Result<Value> {
    join_room_since(client, room, None).await
}

/// Joins `room` resuming after event `since`: the `joined` history holds
/// the events after it, oldest first (`more` when others follow).
pub async fn join_room_since(
    client: &mut Client,
    room: &str,
    since: Option<&str>,
) -> Result<Value> {
    client
        .request(&ClientFrame::Join {
            room: room.to_string(),
            since: since.map(str::to_owned),
        })
        .await
}

/// Posts `text` to `room` with a fresh client id; returns the `ack`.
pub async fn send_message(client: &mut Client, room: &str, text: &str) -> Result<Value> {
    client
        .request(&ClientFrame::Send {
            room: room.to_string(),
            text: text.to_string(),
            client_id: Some(new_client_id()),
        })
        .await
}

/// A fresh client id for a message; a retry reuses it, so the server stores
/// the message once.
pub fn new_client_id() -> String {
    format!("cli-{}", uuid::Uuid::now_v7())
}

/// The array `name` of an answer, or nothing.
pub fn list<'a>(answer: &'a Value, name: &str) -> &'a [Value] {
    answer
        .get(name)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The live frames that arrived while joining, less the events that are not
/// new: those already in the `joined` history, and this session's own join.
pub fn fresh_live(joined: &Value, me: Option<&str>, buffered: Vec<Value>) -> Vec<Value> {
    let room = str_field(joined, "room");
    let known: HashSet<&str> = list(joined, "history")
        .iter()
        .map(|event| str_field(event, "id"))
        .collect();
    buffered
        .into_iter()
        .filter(|frame| {
            let Some(event) = event_of(frame) else {
                return true;
            };
            let own_join = str_field(event, "kind") == "join"
                && str_field(event, "room") == room
                && me.is_some_and(|me| str_field(event, "author") == me);
            !own_join && !known.contains(str_field(event, "id"))
        })
        .collect()
}

/// `send ROOM TEXT`: prints the new event's id (the `ack` with --json). A
/// text starting with `/` is a server command: its output is printed (the
/// `command` answer with --json).
pub async fn send(ctx: &Ctx, room: &str, text: &str) -> Result<()> {
    let mut client = open(ctx, Auth::Required).await?;
    let answer = async {
        join_room(&mut client, room).await?;
        send_message(&mut client, room, text).await
    }
    .await;
    client.close().await;
    let answer = answer?;
    if ctx.out.is_json() {
        return ctx.out.value(&without_ref(answer));
    }
    match str_field(&answer, "type") {
        "ack" => ctx.out.line(str_field(&answer, "id")),
        "joined" => ctx
            .out
            .line(&format!("joined {}", str_field(&answer, "room"))),
        _ => {
            let text = clean(str_field(&answer, "text"));
            if text.is_empty() {
                Ok(())
            } else {
                ctx.out.line(&text)
            }
        }
    }
}

/// `history ROOM [--limit N] [--before ID]`: prints events oldest first.
pub async fn history(
    ctx: &Ctx,
    room: &str,
    limit: Option<u32>,
    before: Option<String>,
) -> Result<()> {
    let mut client = open(ctx, Auth::Required).await?;
    let page = async {
        join_room(&mut client, room).await?;
        let frame = ClientFrame::History {
            room: room.to_string(),
            before,
            limit,
        };
        client.request(&frame).await
    }
    .await;
    client.close().await;
    let page = page?;
    let events = list(&page, "events");
    for event in events {
        ctx.out.event(event, Style::Plain, false)?;
    }
    let more = page.get("more").and_then(Value::as_bool).unwrap_or(false);
    if more && !ctx.out.is_json() {
        if let Some(first) = events.first() {
            eprintln!("(older events: --before {})", str_field(first, "id"));
        }
    }
    Ok(())
}

/// `join ROOM`.
pub async fn join(ctx: &Ctx, room: &str) -> Result<()> {
    let mut client = open(ctx, Auth::Required).await?;
    let joined = join_room(&mut client, room).await;
    client.close().await;
    let joined = joined?;
    if ctx.out.is_json() {
        ctx.out.value(&without_ref(joined))
    } else {
        ctx.out
            .line(&format!("joined {}", str_field(&joined, "room")))
    }
}

/// `leave ROOM`.
pub async fn leave(ctx: &Ctx, room: &str) -> Result<()> {
    let mut client = open(ctx, Auth::Required).await?;
    let left = client
        .request(&ClientFrame::Leave {
            room: room.to_string(),
        })
        .await;
    client.close().await;
    let left = left?;
    if ctx.out.is_json() {
        ctx.out.value(&without_ref(left))
    } else {
        ctx.out.line(&format!("left {}", str_field(&left, "room")))
    }
}

/// `rooms`: one room per line, every page.
pub async fn rooms(ctx: &Ctx) -> Result<()> {
    let mut client = open(ctx, Auth::Required).await?;
    let listed = list_rooms(ctx, &mut client).await;
    client.close().await;
    listed
}

/// Prints the room list a page at a time until the server says no more follow.
async fn list_rooms(ctx: &Ctx, client: &mut Client) -> Result<()> {
    let mut after: Option<String> = None;
    loop {
        let frame = ClientFrame::Rooms {
            after: after.take(),
            limit: None,
        };
        let answer = client.request(&frame).await?;
        for room in list(&answer, "rooms") {
            if ctx.out.is_json() {
                ctx.out.value(room)?;
            } else {
                ctx.out.line(&room_line(room))?;
            }
            after = room.get("name").and_then(|n| n.as_str()).map(str::to_owned);
        }
        if answer.get("more").and_then(|m| m.as_bool()) != Some(true) || after.is_none() {
            return Ok(());
        }
    }
}

/// `mentions`: unread mentions, oldest first, as events (now marked read).
pub async fn mentions(ctx: &Ctx) -> Result<()> {
    let mut client = open(ctx, Auth::Required).await?;
    let answer = client.request(&ClientFrame::Mentions {}).await;
    client.close().await;
    let answer = answer?;
    for event in list(&answer, "mentions") {
        ctx.out.event(event, Style::Plain, false)?;
    }
    Ok(())
}

/// `who ROOM`: one member per line.
pub async fn who(ctx: &Ctx, room: &str) -> Result<()> {
    let mut client = open(ctx, Auth::Required).await?;
    let answer = client
        .request(&ClientFrame::Who {
            room: room.to_string(),
        })
        .await;
    client.close().await;
    let answer = answer?;
    for member in list(&answer, "members") {
        if ctx.out.is_json() {
            ctx.out.value(member)?;
        } else {
            ctx.out.line(&member_line(member))?;
        }
    }
    Ok(())
}

/// `general  3 members  topic`.
fn room_line(room: &Value) -> String {
    let members = room.get("members").and_then(Value::as_u64).unwrap_or(0);
    let noun = if members == 1 { "member" } else { "members" };
    let mut line = format!("{}  {members} {noun}", str_field(room, "name"));
    let topic = clean(str_field(room, "topic"));
    if !topic.is_empty() {
        line.push_str("  ");
        line.push_str(&topic);
    }
    line
}

/// `alice  owner  online`.
fn member_line(member: &Value) -> String {
    let online = member
        .get("online")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    format!(
        "{}  {}  {}",
        str_field(member, "user"),
        str_field(member, "role"),
        if online { "online" } else { "offline" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_rooms_and_members() {
        assert_eq!(
            room_line(&json!({"name":"general","members":3})),
            "general  3 members"
        );
        assert_eq!(
            room_line(&json!({"name":"rust","members":1,"topic":"crabs"})),
            "rust  1 member  crabs"
        );
        assert_eq!(
            member_line(&json!({"user":"alice","role":"owner","online":true})),
            "alice  owner  online"
        );
    }

    #[test]
    fn fresh_live_skips_history_and_the_own_join() {
        let event = |id: &str, kind: &str, author: &str| json!({"id": id, "room": "general", "kind": kind, "author": author, "text": ""});
        let ev = |id: &str, kind: &str, author: &str| json!({"type": "event", "event": event(id, kind, author)});
        let joined = json!({
            "room": "general",
            "history": [event("1", "message", "bob")],
            "more": false
        });
        let buffered = vec![
            ev("1", "message", "bob"),
            ev("2", "join", "alice"),
            ev("3", "join", "bob"),
            ev("4", "message", "alice"),
            json!({"type": "delta", "room": "general", "id": "5", "text": "x"}),
        ];
        let ids: Vec<String> = fresh_live(&joined, Some("alice"), buffered)
            .iter()
            .map(|f| str_field(event_of(f).unwrap_or(f), "id").to_string())
            .collect();
        assert_eq!(ids, ["3", "4", "5"]);
    }

    #[test]
    fn client_ids_are_fresh() {
        assert_ne!(new_client_id(), new_client_id());
    }
}
