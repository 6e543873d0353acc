//! REST errors: the engine's [`ChatError`] as a JSON body `{code, message}`
//! with a matching HTTP status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use neuralchat_core::ChatError;

/// A client-facing error answered as JSON.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub ChatError);

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        Self(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let mut body = serde_json::json!({
            "code": self.0.code,
            "message": self.0.message,
        });
        if let Some(ms) = self.0.retry_after_ms {
            body["retry_after_ms"] = ms.into();
            // Retry-After counts whole seconds; round up.
            response.insert_header(("Retry-After", ms.div_ceil(1000).to_string()));
        }
        response.json(body)
    }
}
