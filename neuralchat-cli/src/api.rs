//! Typed requests: one function per request the CLI makes, each returning
//! core's types and checking that the answer is of the expected kind.

use crate::client::{unexpected, Client};
use crate::error::{server_code, CliError};
use anyhow::Result;
use neuralchat_core::bots::BotNames;
use neuralchat_core::protocol::{ClientFrame, MemberInfo, RoomInfo, ServerFrame};
use neuralchat_core::Event;
use serde::Deserialize;

/// A `joined` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The room's canonical name.
    pub room: String,
    /// The room's topic, if one is set.
    pub topic: Option<String>,
    /// The latest events (or those after `since`), oldest first.
    pub history: Vec<Event>,
    /// Whether more events exist (older ones; newer ones after `since`).
    pub more: bool,
}

impl Joined {
    /// The answer as the server sent it, without its `ref` (for `--json`).
    pub fn frame(&self) -> ServerFrame {
        ServerFrame::Joined {
            reference: None,
            room: self.room.clone(),
            topic: self.topic.clone(),
            history: self.history.clone(),
            more: self.more,
        }
    }
}

/// A page of history.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// Whether older events exist.
    pub more: bool,
}

/// Joins `room` (creating it when it does not exist); with `since`, the
/// history holds the events after that one.
pub async fn join(client: &mut Client, room: &str, since: Option<&str>) -> Result<Joined> {
    let frame = ClientFrame::Join {
        room: room.to_owned(),
        since: since.map(str::to_owned),
    };
    match client.request(&frame).await? {
        ServerFrame::Joined {
            room,
            topic,
            history,
            more,
            ..
        } => Ok(Joined {
            room,
            topic,
            history,
            more,
        }),
        other => Err(unexpected("joined", &other).into()),
    }
}

/// Leaves `room`; returns its canonical name.
pub async fn leave(client: &mut Client, room: &str) -> Result<String> {
    let frame = ClientFrame::Leave {
        room: room.to_owned(),
    };
    match client.request(&frame).await? {
        ServerFrame::Left { room, .. } => Ok(room),
        other => Err(unexpected("left", &other).into()),
    }
}

/// Submits `text` to `room` with a fresh client id: a message (answered
/// with `ack`) or a command (`command`, or `joined` for `/join`).
pub async fn submit(client: &mut Client, room: &str, text: &str) -> Result<ServerFrame> {
    client
        .request(&ClientFrame::Send {
            room: room.to_owned(),
            text: text.to_owned(),
            client_id: Some(new_client_id()),
        })
        .await
}

/// A page of `room`'s history before `before`, oldest first.
pub async fn history(
    client: &mut Client,
    room: &str,
    before: Option<String>,
    limit: Option<u32>,
) -> Result<Page> {
    let frame = ClientFrame::History {
        room: room.to_owned(),
        before,
        limit,
    };
    match client.request(&frame).await? {
        ServerFrame::History { events, more, .. } => Ok(Page { events, more }),
        other => Err(unexpected("history", &other).into()),
    }
}

/// Whether `room` exists, asked without creating it (a one-event history
/// read). A room the user may not read exists too.
pub async fn room_exists(client: &mut Client, room: &str) -> Result<bool> {
    match history(client, room, None, Some(1)).await {
        Ok(_) => Ok(true),
        Err(e) if server_code(&e) == Some("unknown_room") => Ok(false),
        Err(e) if server_code(&e).is_some() => Ok(true),
        Err(e) => Err(e),
    }
}

/// A page of the room list, after the room named `after`.
pub async fn rooms(client: &mut Client, after: Option<String>) -> Result<(Vec<RoomInfo>, bool)> {
    let frame = ClientFrame::Rooms { after, limit: None };
    match client.request(&frame).await? {
        ServerFrame::Rooms { rooms, more, .. } => Ok((rooms, more)),
        other => Err(unexpected("rooms", &other).into()),
    }
}

/// `room`'s members.
pub async fn who(client: &mut Client, room: &str) -> Result<Vec<MemberInfo>> {
    let frame = ClientFrame::Who {
        room: room.to_owned(),
    };
    match client.request(&frame).await? {
        ServerFrame::Members { members, .. } => Ok(members),
        other => Err(unexpected("members", &other).into()),
    }
}

/// The user's unread mentions (now marked read).
pub async fn mentions(client: &mut Client) -> Result<Vec<Event>> {
    match client.request(&ClientFrame::Mentions {}).await? {
        ServerFrame::Mentions { mentions, .. } => Ok(mentions),
        other => Err(unexpected("mentions", &other).into()),
    }
}

/// The server's AI bots (the `/bots` command in `room`), with the names
/// that address them.
pub async fn bots(client: &mut Client, room: &str) -> Result<Vec<BotNames>> {
    /// One bot in `/bots`' data.
    #[derive(Deserialize)]
    struct Bot {
        name: String,
        #[serde(default)]
        aliases: Vec<String>,
    }
    /// `/bots`' data.
    #[derive(Deserialize)]
    struct Bots {
        bots: Vec<Bot>,
    }
    let answer = client
        .request(&ClientFrame::Send {
            room: room.to_owned(),
            text: "/bots".to_owned(),
            client_id: None,
        })
        .await?;
    let data = match answer {
        ServerFrame::Command { data, .. } => data,
        other => return Err(unexpected("command", &other).into()),
    };
    let bots: Bots = data
        .and_then(|data| serde_json::from_value(data).ok())
        .ok_or_else(|| CliError::protocol("the /bots answer carries no list of bots"))?;
    Ok(bots
        .bots
        .into_iter()
        .map(|bot| BotNames::new(bot.name, bot.aliases))
        .collect())
}

/// A fresh client id for a message; a retry reuses it, so the server stores
/// the message once.
pub fn new_client_id() -> String {
    format!("cli-{}", uuid::Uuid::now_v7())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_fresh() {
        assert_ne!(new_client_id(), new_client_id());
    }
}
