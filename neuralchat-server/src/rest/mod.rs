//! The REST API under `/api/v1`: the same engine calls as the WebSocket
//! frames, for scripts and simple clients.

mod accounts;
mod auth;
mod error;
mod rooms;

pub use error::ApiError;

/// Any other path or method: 404 with the usual JSON error body.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError(ChatError::new(
        ErrorCode::NotFound,
        "no such path or method",
    )))
}

use actix_web::web;
use neuralchat_core::{ChatError, ErrorCode};

/// A request body as read: any JSON object. Anything else (not JSON, an
/// array, a number, ...) is `bad_json`, as for frames.
pub type Body = web::Json<serde_json::Map<String, serde_json::Value>>;

/// The body's fields as `T`; missing or mistyped fields are `bad_frame`.
pub fn fields<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(body.into_inner())).map_err(|e| {
        ApiError(ChatError::new(
            ErrorCode::BadFrame,
            format!("bad request body: {e}"),
        ))
    })
}

/// Mounts the API routes.
pub fn routes(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    let json = web::JsonConfig::default()
        .limit(max_body_bytes)
        .error_handler(|err, _| {
            let code = match err {
                actix_web::error::JsonPayloadError::Overflow { .. }
                | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                    ErrorCode::FrameTooLarge
                }
                // The body is read as a JSON object: any failure to do so
                // means it is not one.
                actix_web::error::JsonPayloadError::Deserialize(_) => ErrorCode::BadJson,
                _ => ErrorCode::BadFrame,
            };
            ApiError(ChatError::new(code, format!("bad request body: {err}"))).into()
        });
    let query = web::QueryConfig::default().error_handler(|err, _| {
        ApiError(ChatError::new(
            ErrorCode::BadFrame,
            format!("bad query: {err}"),
        ))
        .into()
    });
    cfg.service(
        web::scope("/api/v1")
            .app_data(json)
            .app_data(query)
            .route("/register", web::post().to(accounts::register))
            .route("/login", web::post().to(accounts::login))
            .route("/logout", web::post().to(accounts::logout))
            .route("/mentions", web::get().to(accounts::mentions))
            .route("/rooms", web::get().to(rooms::list))
            .route("/rooms/{room}/join", web::post().to(rooms::join))
            .route("/rooms/{room}/leave", web::post().to(rooms::leave))
            .route("/rooms/{room}/members", web::get().to(rooms::members))
            .route("/rooms/{room}/messages", web::get().to(rooms::history))
            .route("/rooms/{room}/messages", web::post().to(rooms::post)),
    );
}
