//! Local simulators of the payout providers (Camoo first), served over HTTP on loopback for tests,
//! the demo and benchmarks, with a shared audit of every payout they executed.
//!
//! # Layout
//!
//! | path | what |
//! |---|---|
//! | `GET /healthz` | `200 ok` |
//! | `/camoo/v1/payment/…` | the Camoo payment API simulator ([`camoo`]) |
//! | `GET /_admin/payouts[?external_reference=X]` | `{"payouts": [AuditEntry…]}` in execution order ([`audit`]) |
//! | `GET /_admin/camoo/calls` | `{"create": n, "verify": n, "account": n}` authenticated calls received |
//! | `GET`/`PUT /_admin/camoo/config` | read / patch the live Camoo configuration |
//!
//! The admin routes have no authentication: this is a sandbox, bind it to loopback only.
//!
//! # Camoo outcomes
//!
//! The outcome of a Camoo cashout is chosen by the **last digit of the phone number**, and the
//! status is computed from the time elapsed since creation whenever it is read, so it is
//! deterministic:
//!
//! | last digit | behaviour |
//! |---|---|
//! | 0 | `PENDING` until `settle_delay_ms`, then `FAILED` (the amount goes back to the balance) |
//! | 8 | `PENDING` forever (never settles, never notifies) |
//! | 9 | `PENDING` until `long_pending_ms`, then `CONFIRMED` ("long pending") |
//! | 7 | `UNDERINVESTIGATION` until `settle_delay_ms`, then `success` (lower case on purpose) |
//! | anything else | `PENDING` until `settle_delay_ms`, then `CONFIRMED` |
//!
//! The `cashOut` object in the 201 answer of `/cashout` always shows `PENDING`. The delays are
//! captured when the payout is created: later config changes only affect new payouts.
//!
//! When a payout reaches its final status, had a `notification_url` and `notify` is on (checked at
//! settle time), the sandbox sends the signed GET notification described in [`camoo`] and retries
//! until it gets HTTP 200 (5 attempts, 500 ms apart).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sandbox = cashout_sandbox::spawn(cashout_sandbox::SandboxConfig::default()).await?;
//! println!("Camoo base URL: {}", sandbox.camoo_base_url());
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod audit;
pub mod camoo;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use audit::{AuditEntry, AuditLog, PayoutList};
pub use camoo::{CamooConfig, camoo_signature};

/// Configuration of the whole sandbox: one section per simulated provider.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// The Camoo simulator.
    pub camoo: CamooConfig,
}

/// The sandbox's shared state: the audit log and each provider simulator.
///
/// [`router`] builds one of these; build it yourself when you want in-process access to the
/// audit as well as the HTTP router.
#[derive(Clone)]
pub struct Sandbox {
    audit: AuditLog,
    camoo: camoo::Camoo,
}

impl Sandbox {
    /// A fresh sandbox with an empty audit and the given configuration.
    pub fn new(config: SandboxConfig) -> Self {
        let audit = AuditLog::new();
        let camoo = camoo::Camoo::new(config.camoo, audit.clone());
        Self { audit, camoo }
    }

    /// The log of payouts executed by every simulator of this sandbox.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The HTTP router serving every simulator plus the admin and health routes.
    pub fn router(&self) -> Router {
        let admin = Router::new()
            .route("/_admin/payouts", get(audit::list_payouts))
            .with_state(self.audit.clone());
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .merge(admin)
            .nest("/camoo/v1/payment", self.camoo.api_routes())
            .nest("/_admin/camoo", self.camoo.admin_routes())
    }
}

/// A running sandbox started by [`spawn`].
///
/// Dropping the handle without calling [`SandboxHandle::shutdown`] leaves the server running until
/// the tokio runtime stops.
#[derive(Debug)]
pub struct SandboxHandle {
    /// The loopback address the sandbox listens on.
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of the Camoo simulator: `http://127.0.0.1:PORT/camoo/v1/payment`.
    pub fn camoo_base_url(&self) -> String {
        format!("{}/camoo/v1/payment", self.base_url())
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for the server.
    /// Pending notifications of this sandbox are dropped.
    pub async fn shutdown(self) {
        // The receiver is gone only if the server already stopped; nothing to signal then.
        let _ = self.shutdown.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "sandbox server stopped with an error"),
            Err(error) => tracing::warn!(%error, "sandbox server task failed"),
        }
    }
}

/// Binds `127.0.0.1:0` and serves a fresh sandbox on it in a background task.
pub async fn spawn(config: SandboxConfig) -> std::io::Result<SandboxHandle> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (shutdown, signal) = oneshot::channel::<()>();
    let stop = async move {
        if signal.await.is_err() {
            // Handle dropped without shutdown(): keep serving until the runtime stops.
            std::future::pending::<()>().await;
        }
    };
    let task = tokio::spawn(serve(listener, config, stop));
    tracing::info!(%addr, "sandbox listening");
    Ok(SandboxHandle {
        addr,
        shutdown,
        task,
    })
}

/// Serves a fresh sandbox on `listener` until `shutdown` completes (then shuts down gracefully).
pub async fn serve(
    listener: TcpListener,
    config: SandboxConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The HTTP router of a fresh sandbox (see the crate docs for its routes).
pub fn router(config: SandboxConfig) -> Router {
    Sandbox::new(config).router()
}

#[cfg(test)]
mod tests;
