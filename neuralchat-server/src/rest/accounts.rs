//! Register, log in, log out.

use super::auth::AuthUser;
use super::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use neuralchat_core::Engine;
use serde::Deserialize;
use serde_json::json;

/// A user name and password.
#[derive(Deserialize)]
pub struct Credentials {
    /// The user name.
    username: String,
    /// The password.
    password: String,
}

/// `POST /api/v1/register`
pub async fn register(
    req: HttpRequest,
    engine: web::Data<Engine>,
    body: super::Body,
) -> Result<HttpResponse, ApiError> {
    let body: Credentials = super::fields(body)?;
    let address = address(&req);
    let user = engine
        .register_from(&body.username, &body.password, address.as_deref())
        .await?;
    Ok(HttpResponse::Created().json(json!({ "user": user })))
}

/// The client's IP address, as the sign-in limits count it.
fn address(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

/// `POST /api/v1/login`
pub async fn login(
    req: HttpRequest,
    engine: web::Data<Engine>,
    body: super::Body,
) -> Result<HttpResponse, ApiError> {
    let body: Credentials = super::fields(body)?;
    let address = address(&req);
    let grant = engine
        .login_from(&body.username, &body.password, address.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "user": grant.user,
        "token": grant.token,
        "expires_at": grant.expires_at,
    })))
}

/// `POST /api/v1/logout`
pub async fn logout(engine: web::Data<Engine>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    engine.logout(&user.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/mentions`: unread mentions, oldest first (now marked read).
pub async fn mentions(engine: web::Data<Engine>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let mentions = engine.take_mentions(&user.name).await?;
    Ok(HttpResponse::Ok().json(json!({ "mentions": mentions })))
}
