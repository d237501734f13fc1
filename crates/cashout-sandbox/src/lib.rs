//! Local simulators of the payout providers (Camoo, OMT, OMNO), served over HTTP on loopback for tests,
//! the demo and benchmarks, with a shared audit of every payout they executed.
//!
//! # Code layout
//!
//! The three simulators share one skeleton (`sim`, crate-private) and keep only what their
//! provider does differently:
//!
//! | module | what |
//! |---|---|
//! | `sim` | the skeleton: a simulator is a `Simulator` (name, API mount point, endpoints, credentials, error body, handlers) and an `Admin` (config view and patch, `/calls` filter, extra admin routes), run by one `Sim` |
//! | `sim/api.rs` | the endpoint registry: each simulator lists its routes as `Route`s naming their endpoint; every call goes authenticate (a refusal counts nothing, consumes no fault) → count (in total and per subject: OMT account, OMNO order) → next fault of that endpoint ([`faults`]) → handler |
//! | `sim/ledger.rs` | the ledger: the simulator's own store and its call counts behind one lock, the creation-ordered payout store, and the audit record of an executed payout |
//! | `sim/admin.rs` | `GET /calls[?subject]`, `GET`/`PUT /config`, and the `{code, message, errors}` error body of the admin routes (and Camoo's API) |
//! | `sim/deliver.rs` | callbacks the simulators send themselves (Camoo notifications, OMNO webhooks): up to 5 attempts 500 ms apart until HTTP 200, stopped with the simulator |
//! | `camoo.rs`, `omt.rs`, `omno.rs` | each simulator's hub: its provider state and constructor |
//! | `<provider>/api.rs` | its endpoints, routes, credentials, error body and handlers |
//! | `<provider>/admin.rs` | its call counts, config get/patch, and its own admin routes (OMT accounts, OMNO payouts) |
//! | `<provider>/config.rs` | its configuration, config patch and config view |
//! | `<provider>/model.rs` | its payouts or accounts and their transitions (plus `validate.rs`, `notify.rs` / `webhook.rs`, `auth.rs` where it has them) |
//! | [`audit`], [`faults`], [`requests`] | the payout audit, fault queues and request log the simulators share |
//! | `server.rs` | the connection-level server that makes `reset` faults possible |
//!
//! # Routes
//!
//! | path | what |
//! |---|---|
//! | `GET /healthz` | `200 ok` |
//! | `/camoo/v1/payment/…` | the Camoo payment API simulator ([`camoo`]) |
//! | `GET /_admin/payouts[?external_reference=X]` | `{"payouts": [AuditEntry…]}` in execution order ([`audit`]) |
//! | `GET /_admin/camoo/calls` | `{"create": n, "verify": n, "account": n}` authenticated calls received |
//! | `GET`/`PUT /_admin/camoo/config` | read / patch the live Camoo configuration |
//! | `/omt/api/v1/cashout/{GETCTI,PAYCTI,Revoke}` | the OMT cashout API simulator ([`omt`], see below) |
//! | `POST /_admin/omt/pending` | seeds the pending cashout of an account ([`omt::NewPending`]); `201` with its [`omt::AccountView`] |
//! | `POST /_admin/omt/lock` | locks an account (`{"account_id", "reason": "multiple_failures" \| "expired"}`) |
//! | `GET /_admin/omt/accounts/{account_id}` | [`omt::AccountView`]: failed attempts, lock, pending cashout (no OTP, no phone) |
//! | `GET /_admin/omt/calls[?account_id=X]` | `{"getcti": n, "paycti": n, "revoke": n, "failed_attempts": n}`, all or one account's |
//! | `GET`/`PUT /_admin/omt/config` | read / patch the live OMT `failure_mode` (`{"failure_mode": "http200" \| "http4xx"}`) |
//! | `/omno/public/payout[/{payoutId}[/confirm\|/reject]]` | the OMNO payout API simulator ([`omno`], see below) |
//! | `GET /_admin/omno/calls[?order_id=X]` | `{"create": n, "confirm": n, "reject": n, "status": n}`, all or one `orderId`'s |
//! | `GET /_admin/omno/payouts[?order_id=X]` | `{"payouts": [payout…]}` in creation order, each as below |
//! | `GET /_admin/omno/payouts/{payoutId}` | the payout as `GET /omno/public/payout/{payoutId}` shows it, plus `"confirmed"` and `"rejected"` (booleans) |
//! | `GET`/`PUT /_admin/omno/config` | read / patch `{"settle_delay_ms", "webhook_url", "convert_to"}` (`null` clears the last two; never the token) |
//! | `POST /_admin/faults` | queue a fault ([`faults`], see below); `201` with the stored fault |
//! | `GET /_admin/faults` | `{"faults": [StoredFault…]}` still queued, with remaining counts |
//! | `DELETE /_admin/faults` | removes every queued fault; `200 {"cleared": n}` |
//! | `GET /_admin/requests?provider=P[&window_ms=W]` | `{"count", "max_in_window", "max_in_flight"}`: API requests simulator `P` (`camoo`, `omt`, `omno`) received, the most that started inside any `W` ms (default 1000), the most in flight at once ([`requests`]) |
//!
//! The admin routes have no authentication: this is a sandbox, bind it to loopback only.
//!
//! # Fault injection
//!
//! `POST /_admin/faults` queues a fault for the next calls of one endpoint of one simulator:
//!
//! ```json
//! {"provider": "camoo", "endpoint": "create", "count": 2,
//!  "fault": {"kind": "status", "status": 503, "retry_after_secs": 5}}
//! ```
//!
//! - `provider`: `"camoo"` with `endpoint` `"create"` (`POST /cashout`), `"verify"` or
//!   `"account"`; `"omt"` with `endpoint` `"getcti"`, `"paycti"` or `"revoke"`; or `"omno"` with
//!   `endpoint` `"create"`, `"confirm"`, `"reject"` or `"status"` (the `GET`).
//! - `count`: how many calls it applies to (default 1, at least 1).
//! - `fault`, by `kind`:
//!
//! | `fault` | effect on the call |
//! |---|---|
//! | `{"kind": "status", "status": 400–599, "retry_after_secs"?: u64}` | answers that status with the provider's usual error body (Camoo: `{"code": status, "message": reason, "errors": {}}`; OMT: `{"isSuccess": false, "error": reason}`; OMNO: `{"error": reason}`), plus `Retry-After: <secs>` when given; **nothing is executed** (no validation, no payout, no balance change, no audit entry, no OMT failed attempt, no OMNO payout created, confirmed or rejected) |
//! | `{"kind": "delay", "delay_ms": u64, "phase": "before"}` | sleeps, then handles the call normally; if the client disconnects during the sleep, nothing is executed |
//! | `{"kind": "delay", "delay_ms": u64, "phase": "after"}` | handles the call normally (a create, PAYCTI or OMNO confirm is executed and audited, an OMNO create is recorded and visible to `GET`, and `create_delay_ms` / `verify_delay_ms` still apply), then sleeps before answering |
//! | `{"kind": "reset", "phase": "before"}` | drops the TCP connection with no HTTP response at all; nothing is executed |
//! | `{"kind": "reset", "phase": "after"}` | handles the call normally (a create, PAYCTI or OMNO confirm is executed and audited, an OMNO create is recorded), then drops the connection instead of answering |
//!
//! The answer is `201` with the stored fault: the request plus an `id` (increasing from 1), e.g.
//! `{"id": 1, "provider": "camoo", "endpoint": "create", "count": 2, "fault": {…}}`. An unknown
//! provider, endpoint or field, a `count` of 0 or a status outside 400–599 is a `400` in the same
//! `{code, message, errors: {field: message}}` shape.
//!
//! Faults for one endpoint queue up in creation order: each call that passes authentication
//! consumes one unit of the first one's `count` (it leaves the queue at 0). A `401` consumes
//! nothing; a call that consumed a fault still counts in `/_admin/camoo/calls` (or
//! `/_admin/omt/calls`, `/_admin/omno/calls`).
//!
//! A dropped connection is closed with a TCP RST right after the client sent its whole request:
//! clients see a transport error on an established connection ("connection reset" / "connection
//! closed before message completed"), never an HTTP status nor a timeout. This needs the sandbox's
//! own server ([`serve`], [`spawn`] or [`Sandbox::serve`]); under a server of yours,
//! [`Sandbox::router`] answers `reset` faults with a 500 instead.
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
//! # OMT
//!
//! Every call needs HTTP Basic auth (`OmtConfig::username` / `password`); without it: `401
//! {"isSuccess": false, "error": "Unauthorized"}`, which counts nothing. A query or body that
//! does not parse (non-integer `accountId`/`otp`/`amount`/`currency`, missing field) is `400
//! {"isSuccess": false, "error": "Invalid request"}`, not a failed attempt.
//!
//! Each account (`accountId`) has a count of failed attempts, maybe a lock, and at most one
//! cashout seeded by `POST /_admin/omt/pending` (`pending`, then `paid` or `revoked`). A locked
//! account answers every call with its lock message and nothing counts: `"Account is locked due to
//! multiple failed attempts."` or, once a still-pending cashout is past its `expires_in_secs`
//! (noticed by the next call, whatever the endpoint), `"Account is locked, please contact
//! support."`. A **failed attempt** increments the count; the 4th locks the account and is
//! already answered with the lock message.
//!
//! | call | answer (`isSuccess: false` unless noted) | failed attempt |
//! |---|---|---|
//! | `GET GETCTI?accountId&otp`, pending and right OTP | `{"isSuccess": true, "value": {"name", "amount", "currency", "currencyName", "firstName", "middleName", "lastName", "mobileNumber"}}` | no |
//! | GETCTI, no pending cashout or wrong OTP | `"error": "Account not found! Please check the info."` | yes |
//! | `POST PAYCTI {accountId, amount, currency, customerName, receiptNumber}`, all match, outcome success | pays: `{"isSuccess": true, "value": "Cashout Success"}`, audit entry, count reset to 0 | no |
//! | PAYCTI, no pending cashout | `"error": "Account not found! Please check info."` | yes |
//! | PAYCTI, amount, currency or name differ | `"error": "Account details do not match! Please check info."` | yes |
//! | PAYCTI, all match, outcome `failed` | `"value": "Cashout Failed"` (stays pending) | yes |
//! | `POST Revoke {accountId}`, pending | `{"isSuccess": true, "value": "Revoke Success"}` | no |
//! | Revoke, already paid | `"value": "Revoke Failed"` | no |
//! | Revoke, none (or already revoked) | `"error": "Account not found! Please check info."` | no |
//!
//! `customerName` matches `"first middle last"` or `"first last"`, ignoring case and runs of
//! whitespace. The audit entry of a PAYCTI has `provider_id` and `external_reference` = the
//! `receiptNumber`, the amount in major units, `currency` `"LBP"` (0) or `"USD"` (1), and the last
//! 3 digits of the mobile number.
//!
//! With `failure_mode` `http200` (default) business failures come with HTTP 200; with `http4xx`,
//! the same bodies come with 404 (not found), 400 (mismatch, `Cashout Failed`, `Revoke Failed`) or
//! 403 (locked).
//!
//! # OMNO
//!
//! Every call needs `Authorization: Bearer <OmnoConfig::token>` (compared in constant time);
//! without it: `401 {"error": "Unauthorized"}`, which counts nothing. Creating a payout moves no
//! money; confirming it executes it (the audit entry); a payout is confirmed or rejected at most
//! once. Paths are under `/omno` ([`SandboxHandle::omno_base_url`]).
//!
//! | call | answer |
//! |---|---|
//! | `POST /public/payout`, valid | `200 {"payoutId": "<32 hex>", "status": "CREATED", "iframeUrls": {"card": url, "apm": url}}`; the payout waits for confirmation. No dedupe of `orderId`: each create makes a new payout |
//! | `POST /public/payout`, invalid | `400 {"error": "Bad Request", "fields": {"customer.billing.countryCode": message, …}}` (`"body"` when not a JSON object) |
//! | `PUT /public/payout/{payoutId}/confirm`, waiting | `200 {}`; executes: audit entry (`provider_id` payoutId, `external_reference` orderId, the `amount`/`currency` paid, last 3 digits of `customer.phoneNumber`), status `PENDING` |
//! | `PUT /public/payout/{payoutId}/reject`, waiting | `200 {}`; status `REJECTED` (final), nothing executed |
//! | confirm or reject, already confirmed / rejected | `409 {"error": "Conflict", "message": "payout already confirmed"}` / `"payout already rejected"`; nothing executed |
//! | `GET /public/payout/{payoutId}` | `200 {"payoutId", "orderId", "status", "amount", "currency", "initialAmount", "initialCurrency", "statusReason": {"reason", "detailedStatus"} \| null, "createdAt", "updatedAt"}` (amounts are JSON numbers in major units, times ISO-8601 UTC) |
//! | any, unknown `payoutId` or path | `404 {"error": "Not Found"}` |
//!
//! The create body: required `orderId` (string), `value` (number > 0, at most 2 decimals),
//! `currency` (3 letters), `kycVerified` (boolean), `customer` {`externalUserId`, `firstName`,
//! `lastName`, `email`, `phoneNumber` (6–15 digits, spaces `+ - ( )` allowed), `dateOfBirth`
//! (`YYYY-MM-DD`), `billing` {`address`, `city`, `state`, `countryCode` (2 letters),
//! `postalCode`}}; optional objects `kyc`, `customer.kyc`, `merchantAdditionalData` and strings
//! `routerId`, `directRouteId`. Other fields are ignored.
//!
//! Status life: the create answer says `CREATED`, reads show `WAITING_FOR_CONFIRMATION` until
//! the confirm, then `PENDING` until `settle_delay_ms` (the value when confirmed), then the
//! outcome chosen by the **last character of `customer.externalUserId`**:
//!
//! | last character | after `PENDING` |
//! |---|---|
//! | `0` | `DECLINED`, `statusReason` `{"reason": "DECLINED", "detailedStatus": "NO_PROVIDER_AVAILABLE"}` (the audit entry stays) |
//! | `9` | none: `PENDING` forever |
//! | `8` | `ON_HOLD` (an undocumented status) for another `settle_delay_ms`, then `SUCCESS` |
//! | `7` | `FAILED` |
//! | anything else | `SUCCESS` |
//!
//! `statusReason` is `null` but for `DECLINED`. With `convert_to` (e.g. `"EUR"`, captured when
//! the payout is created), a payout in another currency is paid in that one at the fixed rate 0.9
//! (rounded half up to the hundredth): `amount`/`currency` show what is paid (also in the audit),
//! `initialAmount`/`initialCurrency` what was asked; without it they are equal.
//!
//! With a `webhook_url` (read at each change), every status change after the confirm (`PENDING`,
//! `ON_HOLD`, the final status) is POSTed there as JSON `{"payoutId", "orderId", "status"}`,
//! unsigned (OMNO documents no signature), up to 5 attempts 500 ms apart until one gets HTTP 200.
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

mod amount;
pub mod audit;
pub mod camoo;
pub mod faults;
pub mod omno;
pub mod omt;
pub mod requests;
mod server;
mod sim;
mod util;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::sim::Sim;

pub use audit::{AuditEntry, AuditLog, PayoutList};
pub use camoo::{CamooConfig, camoo_signature};
pub use faults::{Fault, FaultList, FaultRegistry, NewFault, Phase, StoredFault};
pub use omno::OmnoConfig;
pub use omt::{FailureMode, OmtConfig};
pub use requests::{RequestLog, RequestStats};

/// Configuration of the whole sandbox: one section per simulated provider.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// The Camoo simulator.
    pub camoo: CamooConfig,
    /// The OMT simulator.
    pub omt: OmtConfig,
    /// The OMNO simulator.
    pub omno: OmnoConfig,
}

/// The sandbox's shared state: the audit log and each provider simulator.
///
/// [`router`] builds one of these; build it yourself when you want in-process access to the
/// audit as well as the HTTP router.
#[derive(Clone)]
pub struct Sandbox {
    audit: AuditLog,
    faults: FaultRegistry,
    requests: RequestLog,
    camoo: Arc<Sim<camoo::Camoo>>,
    omt: Arc<Sim<omt::Omt>>,
    omno: Arc<Sim<omno::Omno>>,
}

impl Sandbox {
    /// A fresh sandbox with an empty audit and the given configuration.
    pub fn new(config: SandboxConfig) -> Self {
        let audit = AuditLog::new();
        let faults = FaultRegistry::new();
        let camoo = camoo::new(config.camoo, audit.clone(), faults.clone());
        let omt = omt::new(config.omt, audit.clone(), faults.clone());
        let omno = omno::new(config.omno, audit.clone(), faults.clone());
        Self {
            audit,
            faults,
            requests: RequestLog::new(),
            camoo,
            omt,
            omno,
        }
    }

    /// The log of payouts executed by every simulator of this sandbox.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The fault queues of every simulator of this sandbox (what `/_admin/faults` edits).
    pub fn faults(&self) -> &FaultRegistry {
        &self.faults
    }

    /// The HTTP router serving every simulator plus the admin and health routes.
    ///
    /// `reset` faults need the connection-level support of [`Sandbox::serve`] (also used by
    /// [`serve`] and [`spawn`]): under another server they answer a 500 instead.
    pub fn router(&self) -> Router {
        let admin = Router::new()
            .route("/_admin/payouts", get(audit::list_payouts))
            .with_state(self.audit.clone());
        let faults = Router::new()
            .route(
                "/_admin/faults",
                post(faults::post_fault)
                    .get(faults::list_faults)
                    .delete(faults::clear_faults),
            )
            .with_state(self.faults.clone());
        let requests = Router::new()
            .route("/_admin/requests", get(requests::get_stats))
            .with_state(self.requests.clone());
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .merge(admin)
            .merge(faults)
            .merge(requests);
        let router = self.camoo.mount(router, &self.requests);
        let router = self.omt.mount(router, &self.requests);
        self.omno.mount(router, &self.requests)
    }

    /// Serves this sandbox on `listener` until `shutdown` completes (then shuts down gracefully:
    /// stops accepting, lets in-flight requests finish).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        server::serve_router(listener, self.router(), shutdown).await
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

    /// Base URL of the OMT simulator: `http://127.0.0.1:PORT/omt` (the API is under
    /// `/omt/api/v1/cashout/`).
    pub fn omt_base_url(&self) -> String {
        format!("{}/omt", self.base_url())
    }

    /// Base URL of the OMNO simulator: `http://127.0.0.1:PORT/omno` (the API is under
    /// `/omno/public/payout`).
    pub fn omno_base_url(&self) -> String {
        format!("{}/omno", self.base_url())
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
    Sandbox::new(config).serve(listener, shutdown).await
}

/// The HTTP router of a fresh sandbox (see the crate docs for its routes).
pub fn router(config: SandboxConfig) -> Router {
    Sandbox::new(config).router()
}

#[cfg(test)]
mod tests;
