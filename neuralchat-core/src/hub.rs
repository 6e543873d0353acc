//! The hub: the directory of open rooms. A room actor is started the first
//! time a stored room is used and lives as long as the engine.

use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::room::Room;
use crate::shared::Shared;
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// The directory of open rooms.
pub(crate) struct Hub {
    /// Engine state.
    shared: Arc<Shared>,
    /// Open rooms by canonical name.
    rooms: HashMap<String, Addr<Room>>,
}

impl Hub {
    /// An empty hub.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            rooms: HashMap::new(),
        }
    }
}

impl Actor for Hub {
    type Context = Context<Self>;
}

/// Finds a room's actor, loading the room from the store if needed. With
/// `create_by`, a missing room is created (public) by that user.
#[derive(Message)]
#[rtype(result = "ChatResult<Addr<Room>>")]
pub(crate) struct OpenRoom {
    /// Canonical room name.
    pub name: String,
    /// Creates the room for this user when it does not exist.
    pub create_by: Option<String>,
}

impl Handler<OpenRoom> for Hub {
    type Result = AtomicResponse<Self, ChatResult<Addr<Room>>>;

    fn handle(&mut self, msg: OpenRoom, _: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.rooms.get(&msg.name) {
            let addr = addr.clone();
            return AtomicResponse::new(Box::pin(async move { Ok(addr) }.into_actor(self)));
        }
        let shared = self.shared.clone();
        let name = msg.name.clone();
        let load = async move {
            let store = &shared.store;
            if let Some(creator) = msg.create_by {
                let (room, by) = (name.clone(), creator);
                store
                    .call("ensure_room", move |db| {
                        db.ensure_room(&room, &by, chrono::Utc::now().timestamp_millis())
                    })
                    .await?;
            }
            let room = name.clone();
            let Some((topic, creator)) = store
                .call("room_info", move |db| db.room_info(&room))
                .await?
            else {
                return Err(ChatError::new(
                    ErrorCode::UnknownRoom,
                    format!("no room named {name:?}"),
                ));
            };
            let room = name.clone();
            let members = store.call("members", move |db| db.members(&room)).await?;
            Ok((topic, creator, members))
        };
        AtomicResponse::new(Box::pin(load.into_actor(self).map(
            move |loaded, hub, _| {
                let (topic, creator, members) = loaded?;
                // The handler is atomic, so nobody opened it meanwhile; `entry` keeps that obvious.
                let addr = hub
                    .rooms
                    .entry(msg.name.clone())
                    .or_insert_with(|| {
                        Room::new(msg.name, topic, creator, members, hub.shared.clone()).start()
                    })
                    .clone();
                Ok(addr)
            },
        )))
    }
}
