//! The one error shape: `{error: {code, message, field?}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: String,
    /// For humans.
    pub message: String,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message: message.into(),
                    field: None,
                },
            },
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.body.error.field = Some(field.into());
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid 'Authorization: Bearer <token>' header is required",
        )
    }

    /// A store error: a record that cannot be decoded is a clear 500 `corrupt_record` (retrying
    /// will not help; an operator has it in the dead-letter queue once a worker met it), anything
    /// else is [`ApiError::internal`].
    pub fn store(e: &cashout_store::StoreError) -> Self {
        match e {
            cashout_store::StoreError::Corrupt { .. } => {
                tracing::error!(error = %e, "a stored record cannot be decoded");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "corrupt_record",
                    "the stored record of this cashout cannot be read; it is parked for an \
                     operator in the dead-letter queue (reason corrupt_record)",
                )
            }
            e => Self::internal(e),
        }
    }

    pub fn internal(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage is unavailable; retry with the same idempotency key",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
