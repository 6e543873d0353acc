//! Rooms, members and messages.

use super::auth::AuthUser;
use super::ApiError;
use actix_web::{web, HttpResponse};
use neuralchat_core::{Engine, Submitted};
use serde::Deserialize;
use serde_json::json;

/// `GET /api/v1/rooms`
pub async fn list(
    engine: web::Data<Engine>,
    user: AuthUser,
    page: web::Query<RoomsQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = engine
        .rooms_page(&user.name, page.after.as_deref(), page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "rooms": page.rooms, "more": page.more })))
}

/// Paging the room list.
#[derive(Deserialize)]
pub struct RoomsQuery {
    /// Rooms whose names sort after this one.
    after: Option<String>,
    /// At most this many rooms.
    limit: Option<u32>,
}

/// Resuming a join.
#[derive(Deserialize)]
pub struct Resume {
    /// The last event the client saw.
    since: Option<String>,
}

/// `POST /api/v1/rooms/{room}/join?since=ID`
pub async fn join(
    engine: web::Data<Engine>,
    user: AuthUser,
    room: web::Path<String>,
    resume: web::Query<Resume>,
) -> Result<HttpResponse, ApiError> {
    let joined = engine
        .join(&user.name, &room, resume.since.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "room": joined.room,
        "topic": joined.topic,
        "history": joined.history,
        "more": joined.more,
    })))
}

/// `POST /api/v1/rooms/{room}/leave`
pub async fn leave(
    engine: web::Data<Engine>,
    user: AuthUser,
    room: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    engine.leave(&user.name, &room).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/rooms/{room}/members`
pub async fn members(
    engine: web::Data<Engine>,
    user: AuthUser,
    room: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (room, members) = engine.members(&user.name, &room).await?;
    Ok(HttpResponse::Ok().json(json!({ "room": room, "members": members })))
}

/// Paging for `GET .../messages`.
#[derive(Deserialize)]
pub struct Page {
    /// Only events older than this id.
    before: Option<String>,
    /// At most this many events.
    limit: Option<u32>,
}

/// `GET /api/v1/rooms/{room}/messages?before=ID&limit=N`
pub async fn history(
    engine: web::Data<Engine>,
    user: AuthUser,
    room: web::Path<String>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let result = engine
        .history(&user.name, &room, page.before.as_deref(), page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "room": engine.room_name(&user.name, &room).await?,
        "events": result.events,
        "more": result.more,
    })))
}

/// A message to post.
#[derive(Deserialize)]
pub struct NewMessage {
    /// The text.
    text: String,
    /// The client's id for the message (makes retries idempotent).
    client_id: Option<String>,
}

/// `POST /api/v1/rooms/{room}/messages`: a message (201 with the event), or
/// a command when the text starts with `/` (200 with its output).
pub async fn post(
    engine: web::Data<Engine>,
    user: AuthUser,
    room: web::Path<String>,
    body: super::Body,
) -> Result<HttpResponse, ApiError> {
    let body: NewMessage = super::fields(body)?;
    match engine
        .submit(&user.name, &room, &body.text, body.client_id)
        .await?
    {
        Submitted::Message(event) => Ok(HttpResponse::Created().json(json!({ "event": event }))),
        Submitted::Command(output) => Ok(HttpResponse::Ok().json(json!({
            "command": output.command,
            "room": output.room,
            "text": output.text,
            "data": output.data,
        }))),
    }
}
