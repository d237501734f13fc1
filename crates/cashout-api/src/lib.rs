//! The HTTP API: producer endpoints (`POST /v1/cashouts`, `GET /v1/cashouts/{id}`), provider
//! notifications, health and the generated OpenAPI document. Every error is JSON
//! `{error: {code, message, field?}}`; nothing is stored or enqueued when a request is refused.

mod auth;
mod config;
mod error;
mod handlers;
mod view;

use auth::BearerScheme;
pub use auth::{ApiToken, parse_tokens};
pub use config::ApiConfig;
pub use view::CashoutView;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use cashout_store::Producer;
use secrecy::SecretString;
use std::sync::Arc;
use utoipa::OpenApi;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    producer: Producer,
    tokens: Arc<Vec<ApiToken>>,
    camoo_secret: Option<SecretString>,
}

impl AppState {
    /// State over a producer, the accepted bearer tokens and the Camoo secret (for notification
    /// signatures; `None` refuses every notification).
    pub fn new(
        producer: Producer,
        tokens: Vec<ApiToken>,
        camoo_secret: Option<SecretString>,
    ) -> Self {
        Self {
            producer,
            tokens: Arc::new(tokens),
            camoo_secret,
        }
    }
}

/// The most bytes a request body may have.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/cashouts", post(handlers::create_cashout))
        .route("/v1/cashouts/{id}", get(handlers::get_cashout))
        .route("/v1/providers/camoo/notify", get(handlers::camoo_notify))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/openapi.json", get(handlers::openapi))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "cashout", description = "Durable payouts through OMT, OMNO and Camoo."),
    paths(
        handlers::create_cashout,
        handlers::get_cashout,
        handlers::camoo_notify,
        handlers::healthz,
        handlers::readyz
    ),
    components(schemas(
        view::CashoutView,
        view::ParkedView,
        view::CreateCashoutRequest,
        view::CamooRecipientRequest,
        error::ErrorBody,
        error::ErrorDetail,
        cashout_core::HistoryEntry,
        cashout_core::State,
        cashout_core::Provider,
        cashout_core::Currency,
        cashout_core::ParkReason
    )),
    modifiers(&BearerScheme),
    security(("bearer" = []))
)]
pub struct ApiDoc;
