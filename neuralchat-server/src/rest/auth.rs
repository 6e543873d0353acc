//! The `Authorization: Bearer TOKEN` extractor.

use super::ApiError;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use neuralchat_core::{ChatError, Engine, ErrorCode};
use std::future::Future;
use std::pin::Pin;

/// The user a request's bearer token belongs to.
pub struct AuthUser {
    /// The user name.
    pub name: String,
    /// The token itself (for log-out).
    pub token: String,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let engine = req.app_data::<web::Data<Engine>>().cloned();
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // The scheme name is case-insensitive (RFC 9110).
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token)
            })
            .map(|t| t.trim().to_owned());
        Box::pin(async move {
            let engine = engine.ok_or_else(|| ApiError(ChatError::internal()))?;
            let token = token.ok_or_else(|| {
                ApiError(ChatError::new(
                    ErrorCode::Unauthenticated,
                    "send Authorization: Bearer TOKEN (from /api/v1/login)",
                ))
            })?;
            let name = engine.authenticate(&token).await?;
            Ok(AuthUser { name, token })
        })
    }
}
