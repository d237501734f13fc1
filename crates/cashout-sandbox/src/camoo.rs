//! Simulator of the Camoo payment API (`/v1/payment`): authenticated `cashout`, `verify` and
//! `account` endpoints, deterministic outcomes by phone digit, signed GET notifications, and the
//! `/_admin/camoo` routes tests use to inspect and tune it.
//!
//! Every call that passes authentication is counted, then consumes the next fault queued for its
//! endpoint (`create`, `verify` or `account`, see [`crate::faults`]) if any.
//!
//! Notifications: an HTTP `GET notification_url?payment_id=…&status=…&status_time=…&trx=…&sig=…`
//! where `sig` is [`camoo_signature`] of the other parameters keyed with the API secret.

mod model;
mod notify;
mod validate;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::audit::{AuditEntry, AuditLog};
use crate::faults::{self, FaultRegistry};
use crate::server::Connection;
pub(crate) use crate::util::iso;
use crate::util::{lock, secret_eq};
use model::{Amount, Outcome, Payout};

pub use model::Payment;
pub use notify::camoo_signature;

/// Configuration of the Camoo simulator.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct CamooConfig {
    /// Expected `X-Api-Key` (default `"sandbox-key"`).
    pub api_key: String,
    /// Expected `X-Api-Secret`, also the HMAC key of notifications (default `"sandbox-secret"`).
    pub api_secret: String,
    /// Time from create until a normal payout settles, in ms (default 1500).
    pub settle_delay_ms: u64,
    /// Settle time of the "long PENDING" phones (last digit 9), in ms (default 8000).
    pub long_pending_ms: u64,
    /// Starting balance in major units, one balance whatever the currency (default 1 000 000 000).
    pub balance: i64,
    /// How long `/cashout` sleeps after recording the payout, before answering, in ms (default 0).
    pub create_delay_ms: u64,
    /// How long `/verify` sleeps before answering, in ms (default 0).
    pub verify_delay_ms: u64,
    /// Send signed notifications when a payout with a `notification_url` settles (default true).
    pub notify: bool,
}

impl Default for CamooConfig {
    fn default() -> Self {
        Self {
            api_key: "sandbox-key".to_owned(),
            api_secret: "sandbox-secret".to_owned(),
            settle_delay_ms: 1500,
            long_pending_ms: 8000,
            balance: 1_000_000_000,
            create_delay_ms: 0,
            verify_delay_ms: 0,
            notify: true,
        }
    }
}

impl std::fmt::Debug for CamooConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CamooConfig")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("settle_delay_ms", &self.settle_delay_ms)
            .field("long_pending_ms", &self.long_pending_ms)
            .field("balance", &self.balance)
            .field("create_delay_ms", &self.create_delay_ms)
            .field("verify_delay_ms", &self.verify_delay_ms)
            .field("notify", &self.notify)
            .finish()
    }
}

/// Body of `PUT /_admin/camoo/config`: any subset of the tunable fields (unknown fields are a 400).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CamooConfigPatch {
    /// New settle delay (affects payouts created afterwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settle_delay_ms: Option<u64>,
    /// New long-pending delay (affects payouts created afterwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_pending_ms: Option<u64>,
    /// New create delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_delay_ms: Option<u64>,
    /// New verify delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_delay_ms: Option<u64>,
    /// New remaining balance in major units (must be ≥ 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
    /// Turn notifications on or off (checked when each payout settles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
}

/// Answer of `GET`/`PUT /_admin/camoo/config`: the live config without the credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CamooConfigView {
    /// Current settle delay in ms.
    pub settle_delay_ms: u64,
    /// Current long-pending delay in ms.
    pub long_pending_ms: u64,
    /// Current create delay in ms.
    pub create_delay_ms: u64,
    /// Current verify delay in ms.
    pub verify_delay_ms: u64,
    /// Remaining balance in whole major units (rounded down).
    pub balance: i64,
    /// Whether notifications are sent.
    pub notify: bool,
}

/// Answer of `GET /_admin/camoo/calls`: authenticated calls received per endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    /// `POST /cashout` calls (valid or not) that passed authentication.
    pub create: u64,
    /// `GET /verify` calls that passed authentication.
    pub verify: u64,
    /// `GET /account` calls that passed authentication.
    pub account: u64,
}

/// Body of a successful `POST /cashout` (HTTP 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashoutResponse {
    /// `"Cashout created"`.
    pub message: String,
    /// 201.
    pub code: u16,
    /// The payment, status `PENDING`.
    #[serde(rename = "cashOut")]
    pub cash_out: Payment,
}

/// Body of a successful `GET /verify` (HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResponse {
    /// 200.
    pub code: u16,
    /// `"OK"`.
    pub message: String,
    /// The payment with its current status.
    pub verify: Payment,
}

/// Body of a successful `GET /account` (HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountResponse {
    /// 200.
    pub code: u16,
    /// `"OK"`.
    pub message: String,
    /// The account.
    pub account: Account,
}

/// The `account` object of `GET /account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Remaining balance in major units, as a string.
    pub balance: String,
    /// Always `"XAF"`.
    pub currency: String,
    /// Now, ISO-8601 UTC.
    pub date: String,
}

/// A Camoo error answer: `{code, message, errors: {field: message}}`, `code` = the HTTP status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    errors: Map<String, Value>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Map::new(),
        }
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Invalid or missing API credentials",
        )
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn validation(errors: Map<String, Value>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: "The given data was invalid.".to_owned(),
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "errors": self.errors,
        });
        (self.status, Json(body)).into_response()
    }
}

/// Money, payouts and scheduled refunds, behind one lock.
struct Ledger {
    /// Remaining balance in hundredths of a major unit.
    balance_minor: i64,
    payouts: HashMap<String, Payout>,
    /// Failed payouts give their amount back at settle time: `(settle instant, minor amount)`.
    refunds: BinaryHeap<Reverse<(Instant, i64)>>,
}

impl Ledger {
    /// Credits back every failed payout that has settled by `now`.
    fn apply_refunds(&mut self, now: Instant) {
        while let Some(Reverse((at, minor))) = self.refunds.peek().copied() {
            if at > now {
                break;
            }
            self.refunds.pop();
            self.balance_minor = self.balance_minor.saturating_add(minor);
        }
    }
}

#[derive(Default)]
struct Calls {
    create: AtomicU64,
    verify: AtomicU64,
    account: AtomicU64,
}

/// Provider name of this simulator in the audit and the fault registry.
const PROVIDER: &str = "camoo";

/// The simulated endpoints, as named in `/_admin/camoo/calls` and `/_admin/faults`.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Create,
    Verify,
    Account,
}

impl Endpoint {
    const ALL: [Self; 3] = [Self::Create, Self::Verify, Self::Account];

    fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Verify => "verify",
            Self::Account => "account",
        }
    }

    fn counter(self, calls: &Calls) -> &AtomicU64 {
        match self {
            Self::Create => &calls.create,
            Self::Verify => &calls.verify,
            Self::Account => &calls.account,
        }
    }
}

/// Shared state of the Camoo simulator.
pub(crate) struct Inner {
    config: Mutex<CamooConfig>,
    ledger: Mutex<Ledger>,
    calls: Calls,
    audit: AuditLog,
    faults: FaultRegistry,
    http: reqwest::Client,
    /// Never sent on; dropped with the state, which stops the notification tasks.
    closed: watch::Sender<()>,
}

/// Handle on one Camoo simulator (cheap to clone).
#[derive(Clone)]
pub(crate) struct Camoo {
    inner: Arc<Inner>,
}

/// Balance in major units → minor units (hundredths), if it fits and is not negative.
fn balance_to_minor(balance: i64) -> Option<i64> {
    if balance < 0 {
        return None;
    }
    balance.checked_mul(100)
}

impl Camoo {
    /// A simulator recording its executed payouts in `audit` and taking its faults from `faults`
    /// (where it registers its endpoints).
    pub(crate) fn new(config: CamooConfig, audit: AuditLog, faults: FaultRegistry) -> Self {
        let names = Endpoint::ALL.map(Endpoint::name);
        faults.register(PROVIDER, &names);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let balance_minor = balance_to_minor(config.balance).unwrap_or_else(|| {
            tracing::warn!(
                balance = config.balance,
                "camoo sandbox balance out of range; using 0"
            );
            0
        });
        let (closed, _) = watch::channel(());
        let inner = Inner {
            config: Mutex::new(config),
            ledger: Mutex::new(Ledger {
                balance_minor,
                payouts: HashMap::new(),
                refunds: BinaryHeap::new(),
            }),
            calls: Calls::default(),
            audit,
            faults,
            http,
            closed,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Routes mounted at `/camoo/v1/payment`.
    pub(crate) fn api_routes(&self) -> Router {
        Router::new()
            .route("/cashout", post(create))
            .route("/verify", get(verify))
            .route("/account", get(account))
            .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "Not found") })
            .with_state(self.inner.clone())
    }

    /// Routes mounted at `/_admin/camoo`.
    pub(crate) fn admin_routes(&self) -> Router {
        Router::new()
            .route("/calls", get(calls))
            .route("/config", get(get_config).put(put_config))
            .with_state(self.inner.clone())
    }
}

impl Inner {
    fn config(&self) -> CamooConfig {
        lock(&self.config).clone()
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let (key, secret) = {
            let config = lock(&self.config);
            (config.api_key.clone(), config.api_secret.clone())
        };
        let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
        match (header("x-api-key"), header("x-api-secret")) {
            (Some(k), Some(s)) => {
                // Non-short-circuit `&` so both comparisons always run.
                if secret_eq(k, key.as_bytes()) & secret_eq(s, secret.as_bytes()) {
                    Ok(())
                } else {
                    Err(ApiError::unauthorized())
                }
            }
            _ => Err(ApiError::unauthorized()),
        }
    }

    /// Executes a validated cashout: debits the balance, records the payout in the audit and the
    /// store, and schedules its notification. Everything happens before this returns, with no
    /// `.await`, so a client disconnecting afterwards cannot undo it.
    fn execute(self: &Arc<Self>, request: validate::CashoutRequest) -> Result<Payment, ApiError> {
        let config = self.config();
        let now = Instant::now();
        let now_utc = Utc::now();
        let outcome = Outcome::from_phone(&request.phone);
        let settle_after = outcome.settle_after(&config);

        let mut ledger = lock(&self.ledger);
        ledger.apply_refunds(now);
        if request.amount.minor() > ledger.balance_minor {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "Insufficient funds",
            ));
        }
        ledger.balance_minor -= request.amount.minor();
        if let (true, Some(after)) = (outcome.refunds(), settle_after) {
            let refund = (now + after, request.amount.minor());
            ledger.refunds.push(Reverse(refund));
        }

        let id = uuid::Uuid::new_v4().to_string();
        let payout = Payout {
            id: id.clone(),
            external_reference: request.external_reference,
            amount: request.amount,
            currency: request.currency,
            created_utc: now_utc,
            created: now,
            phone: request.phone,
            outcome,
            settle_after,
            notification_url: request.notification_url,
            notified_at: None,
        };
        self.audit.record(AuditEntry {
            provider: PROVIDER.to_owned(),
            provider_id: id.clone(),
            external_reference: payout.external_reference.clone(),
            amount: payout.amount.to_string(),
            currency: payout.currency.clone(),
            phone_last3: model::last3(&payout.phone),
            executed_at: iso(now_utc),
        });
        let created = payout.created_view();
        let notify_at = match (&payout.notification_url, settle_after) {
            (Some(_), Some(after)) => Some(now + after),
            _ => None,
        };
        tracing::info!(
            provider = "camoo",
            id = %id,
            amount = %payout.amount,
            currency = %payout.currency,
            phone_last3 = %model::last3(&payout.phone),
            outcome = ?outcome,
            "cashout executed"
        );
        ledger.payouts.insert(id.clone(), payout);
        drop(ledger);

        if let Some(at) = notify_at {
            tokio::spawn(notify::deliver(
                Arc::downgrade(self),
                self.closed.subscribe(),
                id,
                at,
            ));
        }
        Ok(created)
    }

    /// Remaining balance in minor units, after due refunds.
    fn balance_minor(&self) -> i64 {
        let mut ledger = lock(&self.ledger);
        ledger.apply_refunds(Instant::now());
        ledger.balance_minor
    }

    fn config_view(&self) -> CamooConfigView {
        let config = self.config();
        CamooConfigView {
            settle_delay_ms: config.settle_delay_ms,
            long_pending_ms: config.long_pending_ms,
            create_delay_ms: config.create_delay_ms,
            verify_delay_ms: config.verify_delay_ms,
            balance: self.balance_minor().div_euclid(100),
            notify: config.notify,
        }
    }
}

/// One call of an API endpoint: authentication (a 401 neither counts nor consumes a fault), the
/// call count, then `handle` under the endpoint's next fault, if any.
async fn call<Fut, R>(
    inner: &Inner,
    endpoint: Endpoint,
    headers: &HeaderMap,
    connection: Connection,
    handle: impl FnOnce() -> Fut,
) -> Response
where
    Fut: Future<Output = Result<R, ApiError>>,
    R: IntoResponse,
{
    if let Err(error) = inner.authorize(headers) {
        return error.into_response();
    }
    endpoint
        .counter(&inner.calls)
        .fetch_add(1, Ordering::Relaxed);
    let fault = inner.faults.take(PROVIDER, endpoint.name());
    faults::apply(
        fault,
        connection,
        |status, message| ApiError::new(status, message).into_response(),
        || async { handle().await.into_response() },
    )
    .await
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// `POST /cashout`.
async fn create(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    call(&inner, Endpoint::Create, &headers, connection, || {
        create_call(&inner, &body)
    })
    .await
}

async fn create_call(inner: &Arc<Inner>, body: &[u8]) -> Result<Response, ApiError> {
    let request = validate::parse_cashout(body)?;
    let payment = inner.execute(request)?;
    // Already executed and recorded: dropping this future during the sleep changes nothing.
    sleep_ms(inner.config().create_delay_ms).await;
    let body = CashoutResponse {
        message: "Cashout created".to_owned(),
        code: 201,
        cash_out: payment,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /verify?id=<id>`.
async fn verify(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    call(&inner, Endpoint::Verify, &headers, connection, || {
        verify_call(&inner, query)
    })
    .await
}

async fn verify_call(
    inner: &Inner,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<VerifyResponse>, ApiError> {
    sleep_ms(inner.config().verify_delay_ms).await;
    let id = query
        .ok()
        .and_then(|Query(mut q)| q.remove("id"))
        .filter(|id| !id.trim().is_empty());
    let Some(id) = id else {
        let mut errors = Map::new();
        errors.insert("id".to_owned(), "The id field is required.".into());
        return Err(ApiError::validation(errors));
    };
    let now = Instant::now();
    let payment = lock(&inner.ledger)
        .payouts
        .get(&id)
        .map(|payout| payout.view_at(now));
    match payment {
        Some(payment) => Ok(Json(VerifyResponse {
            code: 200,
            message: "OK".to_owned(),
            verify: payment,
        })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "Transaction not found",
        )),
    }
}

/// `GET /account`.
async fn account(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
) -> Response {
    call(&inner, Endpoint::Account, &headers, connection, || {
        account_call(&inner)
    })
    .await
}

async fn account_call(inner: &Inner) -> Result<Json<AccountResponse>, ApiError> {
    let balance = Amount::from_minor(inner.balance_minor());
    Ok(Json(AccountResponse {
        code: 200,
        message: "OK".to_owned(),
        account: Account {
            balance: balance.to_string(),
            currency: "XAF".to_owned(),
            date: iso(Utc::now()),
        },
    }))
}

/// `GET /_admin/camoo/calls`.
async fn calls(State(inner): State<Arc<Inner>>) -> Json<CallCounts> {
    Json(CallCounts {
        create: inner.calls.create.load(Ordering::Relaxed),
        verify: inner.calls.verify.load(Ordering::Relaxed),
        account: inner.calls.account.load(Ordering::Relaxed),
    })
}

/// `GET /_admin/camoo/config`.
async fn get_config(State(inner): State<Arc<Inner>>) -> Json<CamooConfigView> {
    Json(inner.config_view())
}

/// `PUT /_admin/camoo/config`.
async fn put_config(
    State(inner): State<Arc<Inner>>,
    body: Bytes,
) -> Result<Json<CamooConfigView>, ApiError> {
    let patch: CamooConfigPatch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Invalid config patch: {e}")))?;
    let balance_minor = match patch.balance {
        Some(balance) => Some(balance_to_minor(balance).ok_or_else(|| {
            let mut errors = Map::new();
            errors.insert(
                "balance".to_owned(),
                "The balance must be between 0 and i64::MAX / 100.".into(),
            );
            ApiError::validation(errors)
        })?),
        None => None,
    };
    {
        let mut config = lock(&inner.config);
        if let Some(v) = patch.settle_delay_ms {
            config.settle_delay_ms = v;
        }
        if let Some(v) = patch.long_pending_ms {
            config.long_pending_ms = v;
        }
        if let Some(v) = patch.create_delay_ms {
            config.create_delay_ms = v;
        }
        if let Some(v) = patch.verify_delay_ms {
            config.verify_delay_ms = v;
        }
        if let Some(v) = patch.notify {
            config.notify = v;
        }
        if let (Some(balance), Some(minor)) = (patch.balance, balance_minor) {
            config.balance = balance;
            lock(&inner.ledger).balance_minor = minor;
        }
    }
    tracing::info!(patch = ?patch, "camoo sandbox config updated");
    Ok(Json(inner.config_view()))
}
