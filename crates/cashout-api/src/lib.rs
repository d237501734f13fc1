//! The HTTP API: producer endpoints (`POST /v1/cashouts`, `GET /v1/cashouts/{id}`), provider
//! notifications, health and the generated OpenAPI document. Every error is JSON
//! `{error: {code, message, field?}}`; nothing is stored or enqueued when a request is refused.

mod admin;
mod auth;
mod config;
mod error;
mod handlers;
mod view;

pub use admin::parse_since;
use auth::BearerScheme;
pub use auth::{ApiToken, parse_tokens};
pub use config::{ApiConfig, NotifyConfig};
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
    driver: Option<Arc<cashout_worker::Driver>>,
    tokens: Arc<Vec<ApiToken>>,
    admin_tokens: Arc<Vec<ApiToken>>,
    camoo_secret: Option<SecretString>,
    metrics: Option<MetricsRender>,
    notify: Arc<NotifyConfig>,
    operators_on_producer_routes: bool,
}

/// Renders the process's metrics in Prometheus text format.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

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
            driver: None,
            tokens: Arc::new(tokens),
            admin_tokens: Arc::new(Vec::new()),
            camoo_secret,
            metrics: None,
            notify: Arc::new(NotifyConfig::default()),
            operators_on_producer_routes: false,
        }
    }

    /// How provider notifications are accepted.
    pub fn with_notifications(mut self, notify: NotifyConfig) -> Self {
        self.notify = Arc::new(notify);
        self
    }

    /// Lets operator tokens use the producer routes (see
    /// [`ApiConfig::operators_on_producer_routes`]).
    pub fn with_operators_on_producer_routes(mut self, allowed: bool) -> Self {
        self.operators_on_producer_routes = allowed;
        self
    }

    /// Serves `GET /metrics` with this renderer.
    pub fn with_metrics(mut self, render: MetricsRender) -> Self {
        self.metrics = Some(render);
        self
    }

    /// The provider adapters, for revokes (which may call the provider).
    pub fn with_driver(mut self, driver: Arc<cashout_worker::Driver>) -> Self {
        self.driver = Some(driver);
        self
    }

    /// Operator tokens for the `/v1/dlq` endpoints, revoke and approve. Producer tokens get 403
    /// there.
    pub fn with_admin_tokens(mut self, tokens: Vec<ApiToken>) -> Self {
        self.admin_tokens = Arc::new(tokens);
        self
    }
}

/// The most bytes a request body may have.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/cashouts", post(handlers::create_cashout))
        .route("/v1/cashouts/{id}", get(handlers::get_cashout))
        .route("/v1/cashouts/{id}/revoke", post(handlers::revoke_cashout))
        .route("/v1/cashouts/{id}/approve", post(handlers::approve_cashout))
        .route("/v1/providers/omno/webhook", post(handlers::omno_webhook))
        .route("/v1/providers/camoo/notify", get(handlers::camoo_notify))
        .route("/v1/dlq", get(admin::list))
        .route("/v1/dlq/replay", post(admin::replay_bulk))
        .route("/v1/dlq/{id}", get(admin::show))
        .route("/v1/dlq/{id}/replay", post(admin::replay))
        .route("/v1/dlq/{id}/resolve", post(admin::resolve))
        .route("/v1/dlq/{id}/discard", post(admin::discard))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/openapi.json", get(handlers::openapi))
        .route("/metrics", get(handlers::metrics))
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
        handlers::revoke_cashout,
        handlers::approve_cashout,
        handlers::omno_webhook,
        handlers::camoo_notify,
        handlers::healthz,
        handlers::readyz,
        admin::list,
        admin::show,
        admin::replay,
        admin::replay_bulk,
        admin::resolve,
        admin::discard
    ),
    components(schemas(
        view::CashoutView,
        view::ParkedView,
        view::CreateCashoutRequest,
        view::CamooRecipientRequest,
        view::OmtRecipientRequest,
        view::OmnoWebhookBody,
        error::ErrorBody,
        admin::DlqItem,
        admin::DlqList,
        admin::DlqView,
        admin::CorruptView,
        admin::ReplayResult,
        admin::BulkReplayResult,
        admin::NoteBody,
        admin::ResolveBody,
        admin::BulkReplayBody,
        error::ErrorDetail,
        cashout_core::HistoryEntry,
        cashout_core::State,
        cashout_core::Provider,
        cashout_core::Currency,
        cashout_core::ParkReason,
        cashout_core::Approval
    )),
    modifiers(&BearerScheme),
    security(("bearer" = []))
)]
pub struct ApiDoc;
