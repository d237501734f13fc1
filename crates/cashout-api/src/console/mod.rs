//! The operator console under `/console`: server-rendered HTML (maud), a few lines of plain JS
//! for live refresh, assets compiled into the binary. Operators log in with an admin token
//! (`api.admin_tokens`); producer tokens cannot log in. The session is a random id in an
//! `HttpOnly`, `SameSite=Strict` cookie, kept in Redis with a TTL; every form carries the
//! session's CSRF token, and a POST without it (or from another origin) is 403. Every action
//! calls the store functions the `/v1/dlq…` routes call, under the operator's name, so it lands
//! in the cashout's history the same way.

mod html;
mod pages;
mod scan;
mod session;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Mutex;
use std::time::Instant;

/// Console settings (`CASHOUT_CONSOLE__…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve `/console` (on by default; it needs `api.admin_tokens` to let anyone in).
    pub enabled: bool,
    /// A link to a cashout's trace, `{trace_id}` replaced by its trace id, e.g.
    /// `http://localhost:16686/trace/{trace_id}` (Jaeger). Unset: no link.
    pub trace_url_template: Option<String>,
    /// How long a login lasts (seconds, at least 60).
    pub session_ttl_secs: u64,
    /// Mark the session cookie `Secure` (set it when the console is served over HTTPS).
    pub secure_cookie: bool,
    /// Seconds between refreshes of the overview and the DLQ list in the browser (0: never).
    pub refresh_secs: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            trace_url_template: None,
            session_ttl_secs: 8 * 3600,
            secure_cookie: false,
            refresh_secs: 10,
        }
    }
}

/// What the console keeps between requests: its settings and the last counts (the overview
/// and the DLQ's reason counts read every parked record; they are reused for a few seconds).
#[derive(Debug, Default)]
pub(crate) struct Console {
    pub config: ConsoleConfig,
    pub counts: Mutex<Option<(Instant, std::sync::Arc<pages::Counts>)>>,
}

impl Console {
    pub(crate) fn new(config: ConsoleConfig) -> Self {
        Self {
            config,
            counts: Mutex::new(None),
        }
    }
}

/// The console's routes (none when disabled).
pub(crate) fn routes(enabled: bool) -> Router<AppState> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/console", get(pages::overview))
        .route("/console/", get(pages::overview))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
        .route("/console/dlq", get(pages::dlq))
        .route(
            "/console/dlq/replay",
            get(pages::replay_confirm).post(pages::replay_bulk),
        )
        .route("/console/search", get(pages::search))
        .route("/console/cashouts/{id}", get(pages::cashout))
        .route("/console/cashouts/{id}/{action}", post(pages::act))
        .route("/console/assets/console.css", get(pages::css))
        .route("/console/assets/console.js", get(pages::js))
}
