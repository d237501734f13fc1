//! Simulator of the OMT cashout API (`/api/v1/cashout`): Basic-authenticated `GETCTI`, `PAYCTI`
//! and `Revoke` on cashouts that tests seed per account through `/_admin/omt`, with the account's
//! failed attempts, its locks (4th failed attempt, expired cashout), and a choice of how business
//! failures are answered ([`FailureMode`]: HTTP 200 with `isSuccess: false`, or a 4xx).
//!
//! Every call that passes authentication is counted (globally and, when its `accountId` parses,
//! for that account), then consumes the next fault queued for its endpoint (`getcti`, `paycti` or
//! `revoke`, see [`crate::faults`]) if any.
//!
//! OTPs, passwords and full mobile numbers are never logged.

mod auth;
mod model;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::audit::{AuditEntry, AuditLog};
use crate::faults::{self, FaultRegistry};
use crate::server::Connection;
use crate::util::{iso, last3, lock};
use model::{Account, Currency, Decision, PayOrder, Pending, Refusal};

pub use model::{CtiInfo, LockReason, PendingOutcome, PendingStatus};

/// How the simulator answers business failures (not found, mismatch, locked, `Cashout Failed`,
/// `Revoke Failed`). The body is the same either way; successes are always HTTP 200.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// `"http200"`: HTTP 200 with `isSuccess: false`.
    #[default]
    Http200,
    /// `"http4xx"`: HTTP 404 (not found), 400 (mismatch, `Cashout Failed`, `Revoke Failed`) or
    /// 403 (locked).
    Http4xx,
}

/// Configuration of the OMT simulator.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct OmtConfig {
    /// Expected Basic user-id (default `"sandbox-user"`).
    pub username: String,
    /// Expected Basic password (default `"sandbox-pass"`).
    pub password: String,
    /// How business failures are answered (default [`FailureMode::Http200`]).
    pub failure_mode: FailureMode,
}

impl Default for OmtConfig {
    fn default() -> Self {
        Self {
            username: "sandbox-user".to_owned(),
            password: "sandbox-pass".to_owned(),
            failure_mode: FailureMode::Http200,
        }
    }
}

impl fmt::Debug for OmtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OmtConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("failure_mode", &self.failure_mode)
            .finish()
    }
}

/// Body of `POST PAYCTI`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayCtiRequest {
    /// The account of the pending cashout.
    pub account_id: i64,
    /// Amount in major units; must equal the pending cashout's.
    pub amount: i64,
    /// `0` LBP, `1` USD; must equal the pending cashout's.
    pub currency: i64,
    /// `"first middle last"` or `"first last"` (case and spacing ignored).
    pub customer_name: String,
    /// The caller's receipt number: the audit's `provider_id` and `external_reference`.
    pub receipt_number: String,
}

/// Body of `POST Revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeRequest {
    /// The account whose pending cashout is cancelled.
    pub account_id: i64,
}

/// Body of a successful `GET GETCTI` (HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetCtiResponse {
    /// `true`.
    #[serde(rename = "isSuccess")]
    pub is_success: bool,
    /// The pending cashout.
    pub value: CtiInfo,
}

fn default_expires_in_secs() -> u64 {
    3600
}

/// Body of `POST /_admin/omt/pending`: the cashout waiting on an account (replaces any previous
/// one; the account's failed attempts and lock are kept).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPending {
    /// The account.
    pub account_id: i64,
    /// The OTP GETCTI expects.
    pub otp: i64,
    /// Amount in major units (at least 1).
    pub amount: i64,
    /// `0` LBP, `1` USD.
    pub currency: u8,
    /// First name.
    pub first_name: String,
    /// Middle name (default `""`).
    #[serde(default)]
    pub middle_name: String,
    /// Last name.
    pub last_name: String,
    /// The customer's mobile number (GETCTI shows it in full; the audit keeps its last 3 digits).
    pub mobile_number: String,
    /// Lifetime: once it is over, the next call on the account locks it (`expired`). Default 3600.
    #[serde(default = "default_expires_in_secs")]
    pub expires_in_secs: u64,
    /// What PAYCTI does once everything matches (default `success`).
    #[serde(default)]
    pub outcome: PendingOutcome,
}

impl fmt::Debug for NewPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPending")
            .field("account_id", &self.account_id)
            .field("otp", &"<redacted>")
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("first_name", &self.first_name)
            .field("middle_name", &self.middle_name)
            .field("last_name", &self.last_name)
            .field(
                "mobile_number",
                &format_args!("…{}", last3(&self.mobile_number)),
            )
            .field("expires_in_secs", &self.expires_in_secs)
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// Body of `POST /_admin/omt/lock`: locks an account as OMT would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockAccount {
    /// The account.
    pub account_id: i64,
    /// Which lock, hence which message calls get.
    pub reason: LockReason,
}

/// Answer of `GET /_admin/omt/accounts/{account_id}` (also of `pending` and `lock`). An account
/// never used shows 0 failed attempts, no lock and no pending cashout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The account.
    pub account_id: i64,
    /// Failed attempts so far (reset by a successful PAYCTI).
    pub failed_attempts: u32,
    /// Why the account is locked, `null` when it is not.
    pub locked: Option<LockReason>,
    /// Its cashout, `null` when none was seeded.
    pub pending: Option<PendingView>,
}

/// The pending cashout in [`AccountView`] (no OTP, no mobile number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingView {
    /// Amount in major units.
    pub amount: i64,
    /// `0` LBP, `1` USD.
    pub currency: u8,
    /// `pending`, `paid` or `revoked`.
    pub status: PendingStatus,
    /// What PAYCTI does with it.
    pub outcome: PendingOutcome,
}

/// Answer of `GET /_admin/omt/calls[?account_id=X]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmtCallCounts {
    /// `GET GETCTI` calls (valid or not) that passed authentication.
    pub getcti: u64,
    /// `POST PAYCTI` calls that passed authentication.
    pub paycti: u64,
    /// `POST Revoke` calls that passed authentication.
    pub revoke: u64,
    /// Calls that counted as failed attempts.
    pub failed_attempts: u64,
}

/// Body of `PUT /_admin/omt/config` (unknown fields are a 400).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmtConfigPatch {
    /// New failure mode, for the calls answered from then on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<FailureMode>,
}

/// Answer of `GET`/`PUT /_admin/omt/config`: the live config without the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmtConfigView {
    /// Current failure mode.
    pub failure_mode: FailureMode,
}

/// Provider name of this simulator in the audit and the fault registry.
const PROVIDER: &str = "omt";

/// The simulated endpoints, as named in `/_admin/omt/calls` and `/_admin/faults`.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    GetCti,
    PayCti,
    Revoke,
}

impl Endpoint {
    const ALL: [Self; 3] = [Self::GetCti, Self::PayCti, Self::Revoke];

    fn name(self) -> &'static str {
        match self {
            Self::GetCti => "getcti",
            Self::PayCti => "paycti",
            Self::Revoke => "revoke",
        }
    }

    fn counter(self, counts: &mut OmtCallCounts) -> &mut u64 {
        match self {
            Self::GetCti => &mut counts.getcti,
            Self::PayCti => &mut counts.paycti,
            Self::Revoke => &mut counts.revoke,
        }
    }
}

/// Accounts and call counters, behind one lock.
#[derive(Default)]
struct Ledger {
    accounts: HashMap<i64, Account>,
    calls: OmtCallCounts,
    calls_by_account: HashMap<i64, OmtCallCounts>,
}

impl Ledger {
    fn record_call(&mut self, endpoint: Endpoint, account_id: Option<i64>) {
        *endpoint.counter(&mut self.calls) += 1;
        if let Some(id) = account_id {
            *endpoint.counter(self.calls_by_account.entry(id).or_default()) += 1;
        }
    }

    /// The account's state, created on first use.
    fn account(&mut self, account_id: i64) -> &mut Account {
        self.accounts.entry(account_id).or_default()
    }

    /// Counts `decision` in the failed-attempt counters if it was one.
    fn tally<T>(&mut self, account_id: i64, decision: &Decision<T>) {
        if decision.failed_attempt {
            self.calls.failed_attempts += 1;
            self.calls_by_account
                .entry(account_id)
                .or_default()
                .failed_attempts += 1;
        }
    }

    fn view(&self, account_id: i64) -> AccountView {
        let account = self.accounts.get(&account_id);
        AccountView {
            account_id,
            failed_attempts: account.map_or(0, |a| a.failed_attempts),
            locked: account.and_then(|a| a.locked),
            pending: account
                .and_then(|a| a.pending.as_ref())
                .map(|p| PendingView {
                    amount: p.amount,
                    currency: p.currency.code(),
                    status: p.status,
                    outcome: p.outcome,
                }),
        }
    }
}

/// Shared state of the OMT simulator.
pub(crate) struct Inner {
    config: Mutex<OmtConfig>,
    ledger: Mutex<Ledger>,
    audit: AuditLog,
    faults: FaultRegistry,
}

/// Handle on one OMT simulator (cheap to clone).
#[derive(Clone)]
pub(crate) struct Omt {
    inner: Arc<Inner>,
}

impl Omt {
    /// A simulator recording its executed payouts in `audit` and taking its faults from `faults`
    /// (where it registers its endpoints).
    pub(crate) fn new(config: OmtConfig, audit: AuditLog, faults: FaultRegistry) -> Self {
        let names = Endpoint::ALL.map(Endpoint::name);
        faults.register(PROVIDER, &names);
        let inner = Inner {
            config: Mutex::new(config),
            ledger: Mutex::new(Ledger::default()),
            audit,
            faults,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Routes mounted at `/omt/api/v1/cashout`.
    pub(crate) fn api_routes(&self) -> Router {
        Router::new()
            .route("/GETCTI", get(getcti))
            .route("/PAYCTI", post(paycti))
            .route("/Revoke", post(revoke))
            .fallback(|| async { error_response(StatusCode::NOT_FOUND, "Not found") })
            .with_state(self.inner.clone())
    }

    /// Routes mounted at `/_admin/omt`.
    pub(crate) fn admin_routes(&self) -> Router {
        Router::new()
            .route("/pending", post(post_pending))
            .route("/lock", post(post_lock))
            .route("/accounts/{account_id}", get(get_account))
            .route("/calls", get(calls))
            .route("/config", get(get_config).put(put_config))
            .with_state(self.inner.clone())
    }
}

/// `{"isSuccess": false, "error": message}` with `status`.
fn error_response(status: StatusCode, message: &str) -> Response {
    refused(status, "error", message)
}

/// `{"isSuccess": false, <key>: message}` with `status`.
fn refused(status: StatusCode, key: &str, message: &str) -> Response {
    let mut body = Map::new();
    body.insert("isSuccess".to_owned(), Value::Bool(false));
    body.insert(key.to_owned(), Value::String(message.to_owned()));
    (status, Json(Value::Object(body))).into_response()
}

/// `{"isSuccess": true, "value": value}`, HTTP 200.
fn success(value: impl Serialize) -> Response {
    Json(serde_json::json!({"isSuccess": true, "value": value})).into_response()
}

fn invalid_request() -> Response {
    error_response(StatusCode::BAD_REQUEST, "Invalid request")
}

fn unauthorized() -> Response {
    let mut response = error_response(StatusCode::UNAUTHORIZED, "Unauthorized");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"OMT sandbox\""),
    );
    response
}

/// A business failure answered per `mode`.
fn refusal_response(mode: FailureMode, refusal: Refusal) -> Response {
    let (status, key, message) = match refusal {
        Refusal::NotFound(message) => (StatusCode::NOT_FOUND, "error", message),
        Refusal::Mismatch => (StatusCode::BAD_REQUEST, "error", model::MISMATCH),
        Refusal::Locked(reason) => (StatusCode::FORBIDDEN, "error", reason.message()),
        Refusal::CashoutFailed => (StatusCode::BAD_REQUEST, "value", "Cashout Failed"),
        Refusal::RevokeFailed => (StatusCode::BAD_REQUEST, "value", "Revoke Failed"),
    };
    let status = match mode {
        FailureMode::Http200 => StatusCode::OK,
        FailureMode::Http4xx => status,
    };
    refused(status, key, message)
}

/// The JSON body as `T`, `None` when it is not (malformed, missing or mistyped field).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// The integer `accountId` of a JSON body, if it has one (to count the call for the account).
fn body_account_id(body: &[u8]) -> Option<i64> {
    parse::<Value>(body)?.get("accountId")?.as_i64()
}

impl Inner {
    fn failure_mode(&self) -> FailureMode {
        lock(&self.config).failure_mode
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let (username, password) = {
            let config = lock(&self.config);
            (config.username.clone(), config.password.clone())
        };
        auth::authorized(headers, &username, &password)
    }

    /// Answers `decision`, logging a refusal (by account, never with the OTP or phone).
    fn answer<T>(
        &self,
        endpoint: Endpoint,
        account_id: i64,
        decision: Decision<T>,
        ok: impl FnOnce(T) -> Response,
    ) -> Response {
        match decision.result {
            Ok(value) => ok(value),
            Err(refusal) => {
                tracing::info!(
                    provider = PROVIDER,
                    endpoint = endpoint.name(),
                    account_id,
                    refusal = ?refusal,
                    failed_attempt = decision.failed_attempt,
                    "omt call refused"
                );
                refusal_response(self.failure_mode(), refusal)
            }
        }
    }

    /// `GETCTI` with its parsed `(accountId, otp)`.
    fn getcti(&self, ids: Option<(i64, i64)>) -> Response {
        let Some((account_id, otp)) = ids else {
            return invalid_request();
        };
        let decision = {
            let mut ledger = lock(&self.ledger);
            let decision = ledger.account(account_id).get_cti(otp, Instant::now());
            ledger.tally(account_id, &decision);
            decision
        };
        self.answer(Endpoint::GetCti, account_id, decision, success)
    }

    /// `PAYCTI`. A payout is executed and audited under the ledger lock, with no `.await`, so a
    /// client disconnecting afterwards cannot undo it.
    fn paycti(&self, body: &[u8]) -> Response {
        let Some(request) = parse::<PayCtiRequest>(body) else {
            return invalid_request();
        };
        let order = PayOrder {
            amount: request.amount,
            currency: request.currency,
            customer_name: &request.customer_name,
        };
        let decision = {
            let mut ledger = lock(&self.ledger);
            let decision = ledger
                .account(request.account_id)
                .pay(&order, Instant::now());
            ledger.tally(request.account_id, &decision);
            if let Ok(paid) = &decision.result {
                self.audit.record(AuditEntry {
                    provider: PROVIDER.to_owned(),
                    provider_id: request.receipt_number.clone(),
                    external_reference: Some(request.receipt_number.clone()),
                    amount: paid.amount.to_string(),
                    currency: paid.currency.name().to_owned(),
                    phone_last3: paid.phone_last3.clone(),
                    executed_at: iso(Utc::now()),
                });
                tracing::info!(
                    provider = PROVIDER,
                    account_id = request.account_id,
                    receipt_number = %request.receipt_number,
                    amount = paid.amount,
                    currency = paid.currency.name(),
                    phone_last3 = %paid.phone_last3,
                    "cashout executed"
                );
            }
            decision
        };
        self.answer(Endpoint::PayCti, request.account_id, decision, |_| {
            success("Cashout Success")
        })
    }

    /// `Revoke`.
    fn revoke(&self, body: &[u8]) -> Response {
        let Some(RevokeRequest { account_id }) = parse(body) else {
            return invalid_request();
        };
        let decision = {
            let mut ledger = lock(&self.ledger);
            let decision = ledger.account(account_id).revoke(Instant::now());
            ledger.tally(account_id, &decision);
            decision
        };
        if decision.result.is_ok() {
            tracing::info!(provider = PROVIDER, account_id, "cashout revoked");
        }
        self.answer(Endpoint::Revoke, account_id, decision, |()| {
            success("Revoke Success")
        })
    }
}

/// One call of an API endpoint: authentication (a 401 neither counts nor consumes a fault), the
/// call counts, then `handle` under the endpoint's next fault, if any.
async fn call(
    inner: &Inner,
    endpoint: Endpoint,
    headers: &HeaderMap,
    account_id: Option<i64>,
    connection: Connection,
    handle: impl FnOnce() -> Response,
) -> Response {
    if !inner.authorized(headers) {
        tracing::debug!(
            provider = PROVIDER,
            endpoint = endpoint.name(),
            "unauthorized call"
        );
        return unauthorized();
    }
    lock(&inner.ledger).record_call(endpoint, account_id);
    let fault = inner.faults.take(PROVIDER, endpoint.name());
    faults::apply(
        fault,
        connection,
        error_response,
        || async move { handle() },
    )
    .await
}

/// `GET GETCTI?accountId=<int>&otp=<int>`.
async fn getcti(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let int = |name: &str| query.get(name).and_then(|v| v.parse::<i64>().ok());
    let (account_id, otp) = (int("accountId"), int("otp"));
    call(
        &inner,
        Endpoint::GetCti,
        &headers,
        account_id,
        connection,
        || inner.getcti(account_id.zip(otp)),
    )
    .await
}

/// `POST PAYCTI`.
async fn paycti(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account_id = body_account_id(&body);
    call(
        &inner,
        Endpoint::PayCti,
        &headers,
        account_id,
        connection,
        || inner.paycti(&body),
    )
    .await
}

/// `POST Revoke`.
async fn revoke(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account_id = body_account_id(&body);
    call(
        &inner,
        Endpoint::Revoke,
        &headers,
        account_id,
        connection,
        || inner.revoke(&body),
    )
    .await
}

/// A refused admin request: `400 {"code": 400, "message": "Invalid request", "errors": {field:
/// message}}`, the shape of the other admin routes.
#[derive(Debug)]
pub(crate) struct AdminError {
    field: &'static str,
    message: String,
}

impl AdminError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let mut errors = Map::new();
        errors.insert(self.field.to_owned(), Value::String(self.message));
        let body = serde_json::json!({
            "code": 400,
            "message": "Invalid request",
            "errors": errors,
        });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

fn parse_admin<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| AdminError::new("body", format!("Invalid body: {e}")))
}

/// `POST /_admin/omt/pending`.
async fn post_pending(
    State(inner): State<Arc<Inner>>,
    body: Bytes,
) -> Result<(StatusCode, Json<AccountView>), AdminError> {
    let new: NewPending = parse_admin(&body)?;
    let currency = Currency::from_code(i64::from(new.currency))
        .ok_or_else(|| AdminError::new("currency", "The currency must be 0 (LBP) or 1 (USD)."))?;
    if new.amount < 1 {
        return Err(AdminError::new("amount", "The amount must be at least 1."));
    }
    let expires_at = Instant::now().checked_add(Duration::from_secs(new.expires_in_secs));
    tracing::info!(pending = ?new, "omt pending cashout seeded");
    let mut ledger = lock(&inner.ledger);
    ledger.account(new.account_id).pending = Some(Pending {
        otp: new.otp,
        amount: new.amount,
        currency,
        first_name: new.first_name,
        middle_name: new.middle_name,
        last_name: new.last_name,
        mobile_number: new.mobile_number,
        expires_at,
        outcome: new.outcome,
        status: PendingStatus::Pending,
    });
    Ok((StatusCode::CREATED, Json(ledger.view(new.account_id))))
}

/// `POST /_admin/omt/lock`.
async fn post_lock(
    State(inner): State<Arc<Inner>>,
    body: Bytes,
) -> Result<Json<AccountView>, AdminError> {
    let request: LockAccount = parse_admin(&body)?;
    tracing::info!(lock = ?request, "omt account locked by the admin");
    let mut ledger = lock(&inner.ledger);
    ledger.account(request.account_id).locked = Some(request.reason);
    Ok(Json(ledger.view(request.account_id)))
}

/// `GET /_admin/omt/accounts/{account_id}`.
async fn get_account(
    State(inner): State<Arc<Inner>>,
    account_id: Result<Path<i64>, PathRejection>,
) -> Result<Json<AccountView>, AdminError> {
    let Path(account_id) = account_id
        .map_err(|_| AdminError::new("account_id", "The account_id must be an integer."))?;
    Ok(Json(lock(&inner.ledger).view(account_id)))
}

/// Query string of `GET /_admin/omt/calls`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallsFilter {
    account_id: Option<i64>,
}

/// `GET /_admin/omt/calls[?account_id=X]`.
async fn calls(
    State(inner): State<Arc<Inner>>,
    filter: Result<Query<CallsFilter>, QueryRejection>,
) -> Result<Json<OmtCallCounts>, AdminError> {
    let Query(filter) =
        filter.map_err(|_| AdminError::new("account_id", "The account_id must be an integer."))?;
    let ledger = lock(&inner.ledger);
    let counts = match filter.account_id {
        Some(id) => ledger
            .calls_by_account
            .get(&id)
            .copied()
            .unwrap_or_default(),
        None => ledger.calls,
    };
    Ok(Json(counts))
}

/// `GET /_admin/omt/config`.
async fn get_config(State(inner): State<Arc<Inner>>) -> Json<OmtConfigView> {
    Json(OmtConfigView {
        failure_mode: inner.failure_mode(),
    })
}

/// `PUT /_admin/omt/config`.
async fn put_config(
    State(inner): State<Arc<Inner>>,
    body: Bytes,
) -> Result<Json<OmtConfigView>, AdminError> {
    let patch: OmtConfigPatch = parse_admin(&body)?;
    let failure_mode = {
        let mut config = lock(&inner.config);
        if let Some(mode) = patch.failure_mode {
            config.failure_mode = mode;
        }
        config.failure_mode
    };
    tracing::info!(patch = ?patch, "omt sandbox config updated");
    Ok(Json(OmtConfigView { failure_mode }))
}
