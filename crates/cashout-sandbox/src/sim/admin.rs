//! The admin routes every simulator has (`GET /calls[?subject]`, `GET`/`PUT /config`) and the
//! `{code, message, errors}` error body of the admin routes (and of Camoo's API).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::{Admin, Sim, Simulator};

/// An error answer `{"code": status, "message": message, "errors": {field: message}}`.
#[derive(Debug)]
pub(crate) struct CodedError {
    status: StatusCode,
    message: String,
    /// Field → what is wrong with it.
    pub(crate) errors: Map<String, Value>,
}

impl CodedError {
    /// `status` with `message` and no field errors.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Map::new(),
        }
    }

    /// `400` with `message` and these field errors.
    pub(crate) fn fields(message: impl Into<String>, errors: Map<String, Value>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            errors,
        }
    }

    /// `400 {"code": 400, "message": message, "errors": {field: error}}`.
    pub(crate) fn field(message: impl Into<String>, field: &str, error: impl Into<String>) -> Self {
        let mut errors = Map::new();
        errors.insert(field.to_owned(), Value::String(error.into()));
        Self::fields(message, errors)
    }

    /// `400 {"code": 400, "message": "Invalid request", "errors": {field: error}}`.
    pub(crate) fn invalid(field: &str, error: impl Into<String>) -> Self {
        Self::field("Invalid request", field, error)
    }
}

impl IntoResponse for CodedError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "errors": self.errors,
        });
        (self.status, Json(body)).into_response()
    }
}

impl<P: Admin> Sim<P> {
    /// The routes mounted at `/_admin/<name>`: `/calls`, `/config` and the simulator's own.
    pub(crate) fn admin_routes(self: &Arc<Self>) -> Router {
        let router = Router::new()
            .route("/calls", get(calls::<P>))
            .route("/config", get(get_config::<P>).put(put_config::<P>));
        P::extra_routes(router).with_state(self.clone())
    }
}

/// `GET /calls[?subject]`: authenticated calls per endpoint, all or one subject's.
async fn calls<P: Admin>(
    State(sim): State<Arc<Sim<P>>>,
    uri: Uri,
) -> Result<Json<P::Counts>, CodedError> {
    let subject = P::calls_filter(&uri)?;
    Ok(Json(sim.ledger().calls.counts(subject.as_ref())))
}

/// `GET /config`.
async fn get_config<P: Admin>(State(sim): State<Arc<Sim<P>>>) -> Json<P::ConfigView> {
    Json(P::config_view(&sim))
}

/// `PUT /config`: any subset of the tunable fields (unknown fields are a `400`).
async fn put_config<P: Admin>(
    State(sim): State<Arc<Sim<P>>>,
    body: Bytes,
) -> Result<Json<P::ConfigView>, CodedError> {
    let patch: P::ConfigPatch = serde_json::from_slice(&body).map_err(P::bad_patch)?;
    P::patch_config(&sim, &patch)?;
    tracing::info!(provider = <P as Simulator>::NAME, patch = ?patch, "sandbox config updated");
    Ok(Json(P::config_view(&sim)))
}
