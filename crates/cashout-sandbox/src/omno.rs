//! Simulator of the OMNO payout API (`/public/payout`): Bearer-authenticated create, confirm,
//! reject and status, deterministic outcomes by the customer's `externalUserId`, optional
//! currency conversion, unsigned JSON webhooks, and the `/_admin/omno` routes tests use to inspect
//! and tune it.
//!
//! Creating a payout moves no money: it waits for a confirm (which executes it: the audit entry)
//! or a reject. Every call that passes authentication is counted (globally and for its `orderId`:
//! the body's for a create, the payout's for the others), then consumes the next fault queued for
//! its endpoint (`create`, `confirm`, `reject` or `status`, see [`crate::faults`]) if any.
//!
//! # Outcomes
//!
//! Chosen by the **last character of `customer.externalUserId`**; the status is computed from the
//! time elapsed since the confirm whenever it is read, so it is deterministic:
//!
//! | last character | after confirm |
//! |---|---|
//! | `0` | `PENDING` until `settle_delay_ms`, then `DECLINED` with `statusReason` `{"reason": "DECLINED", "detailedStatus": "NO_PROVIDER_AVAILABLE"}` (the audit entry stays: it records what was executed) |
//! | `9` | `PENDING` forever |
//! | `8` | `PENDING` until `settle_delay_ms`, then `ON_HOLD` (not a documented status) for another `settle_delay_ms`, then `SUCCESS` |
//! | `7` | `PENDING` until `settle_delay_ms`, then `FAILED` |
//! | anything else | `PENDING` until `settle_delay_ms`, then `SUCCESS` |
//!
//! Before the confirm, reads show `WAITING_FOR_CONFIRMATION` (the create answer says `CREATED`);
//! a reject makes it `REJECTED`, final. The settle delay is the one configured when the payout is
//! confirmed; the conversion (`convert_to`) the one configured when it is created.
//!
//! The token and full phone numbers are never logged; a payout keeps only the phone's last 3
//! digits.

mod model;
mod validate;
mod webhook;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::audit::{AuditEntry, AuditLog};
use crate::faults::{self, FaultRegistry};
use crate::server::Connection;
use crate::util::{iso, last3, lock, secret_eq};
use model::{Conflict, Money, Outcome, Payout, Stage};

pub use model::{PayoutView, StatusReason};

/// Configuration of the OMNO simulator.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct OmnoConfig {
    /// Expected Bearer token (default `"sandbox-omno-token"`).
    pub token: String,
    /// Time from confirm until a payout settles, in ms (default 1500).
    pub settle_delay_ms: u64,
    /// Where webhooks are POSTed, if anywhere (default none).
    pub webhook_url: Option<String>,
    /// Convert every payout into this currency at the fixed rate 0.9 (default none: no
    /// conversion), e.g. `"EUR"`: a payout of 100 USD then shows `amount` 90, `currency` `EUR`,
    /// `initialAmount` 100, `initialCurrency` `USD`.
    pub convert_to: Option<String>,
}

impl Default for OmnoConfig {
    fn default() -> Self {
        Self {
            token: "sandbox-omno-token".to_owned(),
            settle_delay_ms: 1500,
            webhook_url: None,
            convert_to: None,
        }
    }
}

impl fmt::Debug for OmnoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OmnoConfig")
            .field("token", &"<redacted>")
            .field("settle_delay_ms", &self.settle_delay_ms)
            .field("webhook_url", &self.webhook_url)
            .field("convert_to", &self.convert_to)
            .finish()
    }
}

/// `Some(value)` for a field that is present, even as `null` (`Some(None)`); absent stays `None`
/// through `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Body of `PUT /_admin/omno/config`: any subset of the tunable fields (unknown fields are a 400).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmnoConfigPatch {
    /// New settle delay (affects payouts confirmed afterwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_delay_ms: Option<u64>,
    /// New webhook URL (`http`/`https`); `null` stops webhooks. Read at each status change.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub webhook_url: Option<Option<String>>,
    /// New conversion target (3 letters); `null` stops converting. Affects payouts created
    /// afterwards.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub convert_to: Option<Option<String>>,
}

/// Answer of `GET`/`PUT /_admin/omno/config`: the live config without the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmnoConfigView {
    /// Current settle delay in ms.
    pub settle_delay_ms: u64,
    /// Current webhook URL, `null` when none.
    pub webhook_url: Option<String>,
    /// Current conversion target, `null` when none.
    pub convert_to: Option<String>,
}

/// Answer of `GET /_admin/omno/calls[?order_id=X]`: authenticated calls received per endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmnoCallCounts {
    /// `POST /public/payout` calls (valid or not); per order: those whose body had that `orderId`.
    pub create: u64,
    /// `PUT /public/payout/{payoutId}/confirm` calls (per order: on a payout of that order).
    pub confirm: u64,
    /// `PUT /public/payout/{payoutId}/reject` calls.
    pub reject: u64,
    /// `GET /public/payout/{payoutId}` calls.
    pub status: u64,
}

/// Body of a successful `POST /public/payout` (HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePayoutResponse {
    /// OMNO's id of the new payout: 32 lowercase hex digits.
    pub payout_id: String,
    /// `"CREATED"`.
    pub status: String,
    /// Checkout pages of the payout (nothing serves them).
    pub iframe_urls: IframeUrls,
}

/// The `iframeUrls` of a create answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IframeUrls {
    /// Card checkout page.
    pub card: String,
    /// Alternative payment methods page.
    pub apm: String,
}

/// Answer of `GET /_admin/omno/payouts/{payoutId}`: the payout as the API shows it, plus whether
/// it was confirmed or rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPayoutView {
    /// The payout as `GET /public/payout/{payoutId}` returns it.
    #[serde(flatten)]
    pub payout: PayoutView,
    /// Confirmed (hence executed).
    pub confirmed: bool,
    /// Rejected.
    pub rejected: bool,
}

/// Answer of `GET /_admin/omno/payouts[?order_id=X]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPayoutList {
    /// Payouts in creation order.
    pub payouts: Vec<AdminPayoutView>,
}

/// Body of the webhooks POSTed to `webhook_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OmnoWebhook {
    /// The payout.
    pub payout_id: String,
    /// Its `orderId`.
    pub order_id: String,
    /// Its new status.
    pub status: String,
}

/// Provider name of this simulator in the audit and the fault registry.
const PROVIDER: &str = "omno";

/// Where the fake checkout pages of `iframeUrls` live.
const CHECKOUT_BASE: &str = "https://checkout.omno.dev/payments/payout";

/// The simulated endpoints, as named in `/_admin/omno/calls` and `/_admin/faults`.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Create,
    Confirm,
    Reject,
    Status,
}

impl Endpoint {
    const ALL: [Self; 4] = [Self::Create, Self::Confirm, Self::Reject, Self::Status];

    fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Confirm => "confirm",
            Self::Reject => "reject",
            Self::Status => "status",
        }
    }

    fn counter(self, counts: &mut OmnoCallCounts) -> &mut u64 {
        match self {
            Self::Create => &mut counts.create,
            Self::Confirm => &mut counts.confirm,
            Self::Reject => &mut counts.reject,
            Self::Status => &mut counts.status,
        }
    }
}

/// What a call is about, to count it per order.
enum Subject<'a> {
    /// A create: the body's `orderId`, if it has a string one.
    Order(Option<String>),
    /// A call on a payout: its order, if the payout exists.
    Payout(&'a str),
}

/// Payouts and call counters, behind one lock.
#[derive(Default)]
struct Ledger {
    payouts: HashMap<String, Payout>,
    next_seq: u64,
    calls: OmnoCallCounts,
    calls_by_order: HashMap<String, OmnoCallCounts>,
}

impl Ledger {
    fn record_call(&mut self, endpoint: Endpoint, subject: Subject<'_>) {
        *endpoint.counter(&mut self.calls) += 1;
        let order_id = match subject {
            Subject::Order(order_id) => order_id,
            Subject::Payout(id) => self.payouts.get(id).map(|p| p.order_id.clone()),
        };
        if let Some(order_id) = order_id {
            *endpoint.counter(self.calls_by_order.entry(order_id).or_default()) += 1;
        }
    }

    fn admin_view(payout: &Payout, now: Instant) -> AdminPayoutView {
        AdminPayoutView {
            payout: payout.view_at(now),
            confirmed: payout.confirmed(),
            rejected: payout.rejected(),
        }
    }
}

/// Shared state of the OMNO simulator.
pub(crate) struct Inner {
    config: Mutex<OmnoConfig>,
    ledger: Mutex<Ledger>,
    audit: AuditLog,
    faults: FaultRegistry,
    http: reqwest::Client,
    /// Never sent on; dropped with the state, which stops the webhook tasks.
    closed: watch::Sender<()>,
}

/// Handle on one OMNO simulator (cheap to clone).
#[derive(Clone)]
pub(crate) struct Omno {
    inner: Arc<Inner>,
}

impl Omno {
    /// A simulator recording its executed payouts in `audit` and taking its faults from `faults`
    /// (where it registers its endpoints).
    pub(crate) fn new(config: OmnoConfig, audit: AuditLog, faults: FaultRegistry) -> Self {
        let names = Endpoint::ALL.map(Endpoint::name);
        faults.register(PROVIDER, &names);
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let (closed, _) = watch::channel(());
        let inner = Inner {
            config: Mutex::new(config),
            ledger: Mutex::new(Ledger::default()),
            audit,
            faults,
            http,
            closed,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Routes mounted at `/omno`.
    pub(crate) fn api_routes(&self) -> Router {
        Router::new()
            .route("/public/payout", post(create))
            .route("/public/payout/{payout_id}", get(status))
            .route("/public/payout/{payout_id}/confirm", put(confirm))
            .route("/public/payout/{payout_id}/reject", put(reject))
            .fallback(|| async { not_found() })
            .with_state(self.inner.clone())
    }

    /// Routes mounted at `/_admin/omno`.
    pub(crate) fn admin_routes(&self) -> Router {
        Router::new()
            .route("/calls", get(calls))
            .route("/payouts", get(list_payouts))
            .route("/payouts/{payout_id}", get(get_payout))
            .route("/config", get(get_config).put(put_config))
            .with_state(self.inner.clone())
    }
}

/// `{"error": message}` with `status`: OMNO's error body (also of injected status faults).
fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}

fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "Not Found")
}

fn unauthorized() -> Response {
    let mut response = error_response(StatusCode::UNAUTHORIZED, "Unauthorized");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"OMNO sandbox\""),
    );
    response
}

/// `400 {"error": "Bad Request", "fields": {path: message}}`.
fn bad_request(fields: Map<String, Value>) -> Response {
    let body = serde_json::json!({"error": "Bad Request", "fields": fields});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `409 {"error": "Conflict", "message": …}`.
fn conflict(conflict: Conflict) -> Response {
    let body = serde_json::json!({"error": "Conflict", "message": conflict.to_string()});
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// `200 {}`: the answer of confirm and reject.
fn empty_object() -> Response {
    Json(Value::Object(Map::new())).into_response()
}

/// The token of a `Bearer` `Authorization` header.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = value.split_at(space);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| token.trim_ascii())
}

/// The string `orderId` of a JSON body, if it has one (to count the call for the order).
fn body_order_id(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(body).ok()?.get("orderId")? {
        Value::String(order_id) => Some(order_id.clone()),
        _ => None,
    }
}

impl Inner {
    fn config(&self) -> OmnoConfig {
        lock(&self.config).clone()
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let token = lock(&self.config).token.clone();
        bearer(headers).is_some_and(|given| secret_eq(given, token.as_bytes()))
    }

    fn config_view(&self) -> OmnoConfigView {
        let config = self.config();
        OmnoConfigView {
            settle_delay_ms: config.settle_delay_ms,
            webhook_url: config.webhook_url,
            convert_to: config.convert_to,
        }
    }

    /// `POST /public/payout`: records a waiting payout (no money moves).
    fn create(&self, body: &[u8]) -> Response {
        let request = match validate::parse_payout(body) {
            Ok(request) => request,
            Err(fields) => return bad_request(fields),
        };
        let convert_to = self.config().convert_to;
        let money = Money::new(request.value, &request.currency, convert_to.as_deref());
        let id = uuid::Uuid::new_v4().simple().to_string();
        let outcome = Outcome::from_external_user_id(&request.external_user_id);
        tracing::info!(
            provider = PROVIDER,
            payout_id = %id,
            order_id = %request.order_id,
            amount = %money.amount,
            currency = %money.currency,
            outcome = ?outcome,
            "payout created"
        );
        let mut ledger = lock(&self.ledger);
        ledger.next_seq += 1;
        let payout = Payout {
            id: id.clone(),
            seq: ledger.next_seq,
            order_id: request.order_id,
            money,
            phone_last3: last3(&request.phone_number),
            outcome,
            created_utc: Utc::now(),
            stage: Stage::Waiting,
        };
        ledger.payouts.insert(id.clone(), payout);
        drop(ledger);
        Json(CreatePayoutResponse {
            iframe_urls: IframeUrls {
                card: format!("{CHECKOUT_BASE}/{id}/card"),
                apm: format!("{CHECKOUT_BASE}/{id}/apm"),
            },
            payout_id: id,
            status: model::CREATED.to_owned(),
        })
        .into_response()
    }

    /// `PUT …/confirm`: executes the payout. It is executed and audited under the ledger lock,
    /// with no `.await`, so a client disconnecting afterwards cannot undo it.
    fn confirm(self: &Arc<Self>, payout_id: &str) -> Response {
        let settle_after = Duration::from_millis(self.config().settle_delay_ms);
        let (now, now_utc) = (Instant::now(), Utc::now());
        let mut ledger = lock(&self.ledger);
        let Some(payout) = ledger.payouts.get_mut(payout_id) else {
            return not_found();
        };
        if let Err(refusal) = payout.confirm(now, now_utc, settle_after) {
            tracing::info!(provider = PROVIDER, payout_id, refusal = %refusal, "omno confirm refused");
            return conflict(refusal);
        }
        self.audit.record(AuditEntry {
            provider: PROVIDER.to_owned(),
            provider_id: payout.id.clone(),
            external_reference: Some(payout.order_id.clone()),
            amount: payout.money.amount.to_string(),
            currency: payout.money.currency.clone(),
            phone_last3: payout.phone_last3.clone(),
            executed_at: iso(now_utc),
        });
        tracing::info!(
            provider = PROVIDER,
            payout_id,
            order_id = %payout.order_id,
            amount = %payout.money.amount,
            currency = %payout.money.currency,
            phone_last3 = %payout.phone_last3,
            outcome = ?payout.outcome,
            "payout executed"
        );
        let changes: Vec<(Instant, &'static str)> = payout
            .outcome
            .timeline(settle_after)
            .into_iter()
            .filter_map(|(offset, status)| Some((now.checked_add(offset)?, status)))
            .collect();
        let order_id = payout.order_id.clone();
        drop(ledger);
        tokio::spawn(webhook::deliver_changes(
            Arc::downgrade(self),
            self.closed.subscribe(),
            payout_id.to_owned(),
            order_id,
            changes,
        ));
        empty_object()
    }

    /// `PUT …/reject`: cancels a payout that was not confirmed.
    fn reject(&self, payout_id: &str) -> Response {
        let mut ledger = lock(&self.ledger);
        let Some(payout) = ledger.payouts.get_mut(payout_id) else {
            return not_found();
        };
        match payout.reject(Utc::now()) {
            Ok(()) => {
                tracing::info!(provider = PROVIDER, payout_id, order_id = %payout.order_id, "payout rejected");
                empty_object()
            }
            Err(refusal) => {
                tracing::info!(provider = PROVIDER, payout_id, refusal = %refusal, "omno reject refused");
                conflict(refusal)
            }
        }
    }

    /// `GET /public/payout/{payoutId}`.
    fn status(&self, payout_id: &str) -> Response {
        let view = lock(&self.ledger)
            .payouts
            .get(payout_id)
            .map(|payout| payout.view_at(Instant::now()));
        match view {
            Some(view) => Json(view).into_response(),
            None => not_found(),
        }
    }
}

/// One call of an API endpoint: authentication (a 401 neither counts nor consumes a fault), the
/// call counts, then `handle` under the endpoint's next fault, if any.
async fn call(
    inner: &Inner,
    endpoint: Endpoint,
    headers: &HeaderMap,
    subject: Subject<'_>,
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
    lock(&inner.ledger).record_call(endpoint, subject);
    let fault = inner.faults.take(PROVIDER, endpoint.name());
    faults::apply(
        fault,
        connection,
        error_response,
        || async move { handle() },
    )
    .await
}

/// `POST /public/payout`.
async fn create(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let order_id = body_order_id(&body);
    call(
        &inner,
        Endpoint::Create,
        &headers,
        Subject::Order(order_id),
        connection,
        || inner.create(&body),
    )
    .await
}

/// `PUT /public/payout/{payoutId}/confirm`.
async fn confirm(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    Path(payout_id): Path<String>,
) -> Response {
    call(
        &inner,
        Endpoint::Confirm,
        &headers,
        Subject::Payout(&payout_id),
        connection,
        || inner.confirm(&payout_id),
    )
    .await
}

/// `PUT /public/payout/{payoutId}/reject`.
async fn reject(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    Path(payout_id): Path<String>,
) -> Response {
    call(
        &inner,
        Endpoint::Reject,
        &headers,
        Subject::Payout(&payout_id),
        connection,
        || inner.reject(&payout_id),
    )
    .await
}

/// `GET /public/payout/{payoutId}`.
async fn status(
    State(inner): State<Arc<Inner>>,
    connection: Connection,
    headers: HeaderMap,
    Path(payout_id): Path<String>,
) -> Response {
    call(
        &inner,
        Endpoint::Status,
        &headers,
        Subject::Payout(&payout_id),
        connection,
        || inner.status(&payout_id),
    )
    .await
}

/// A refused admin request: `400 {"code": 400, "message": "Invalid request", "errors": {field:
/// message}}` (or `404` for an unknown payout), the shape of the other admin routes.
#[derive(Debug)]
pub(crate) struct AdminError {
    status: StatusCode,
    message: &'static str,
    errors: Map<String, Value>,
}

impl AdminError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Map::new();
        errors.insert(field.to_owned(), Value::String(message.into()));
        Self {
            status: StatusCode::BAD_REQUEST,
            message: "Invalid request",
            errors,
        }
    }

    fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "Payout not found",
            errors: Map::new(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "errors": self.errors,
        });
        (self.status, Json(body)).into_response()
    }
}

/// Query string of `GET /_admin/omno/calls` and `/_admin/omno/payouts`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OrderFilter {
    order_id: Option<String>,
}

fn order_filter(
    filter: Result<Query<OrderFilter>, QueryRejection>,
) -> Result<OrderFilter, AdminError> {
    filter
        .map(|Query(filter)| filter)
        .map_err(|e| AdminError::invalid("query", format!("Invalid query: {e}")))
}

/// `GET /_admin/omno/calls[?order_id=X]`.
async fn calls(
    State(inner): State<Arc<Inner>>,
    filter: Result<Query<OrderFilter>, QueryRejection>,
) -> Result<Json<OmnoCallCounts>, AdminError> {
    let filter = order_filter(filter)?;
    let ledger = lock(&inner.ledger);
    let counts = match filter.order_id {
        Some(order_id) => ledger
            .calls_by_order
            .get(&order_id)
            .copied()
            .unwrap_or_default(),
        None => ledger.calls,
    };
    Ok(Json(counts))
}

/// `GET /_admin/omno/payouts[?order_id=X]`.
async fn list_payouts(
    State(inner): State<Arc<Inner>>,
    filter: Result<Query<OrderFilter>, QueryRejection>,
) -> Result<Json<AdminPayoutList>, AdminError> {
    let filter = order_filter(filter)?;
    let now = Instant::now();
    let ledger = lock(&inner.ledger);
    let mut payouts: Vec<&Payout> = ledger
        .payouts
        .values()
        .filter(|p| filter.order_id.as_ref().is_none_or(|o| *o == p.order_id))
        .collect();
    payouts.sort_by_key(|p| p.seq);
    let payouts = payouts
        .into_iter()
        .map(|p| Ledger::admin_view(p, now))
        .collect();
    Ok(Json(AdminPayoutList { payouts }))
}

/// `GET /_admin/omno/payouts/{payoutId}`.
async fn get_payout(
    State(inner): State<Arc<Inner>>,
    Path(payout_id): Path<String>,
) -> Result<Json<AdminPayoutView>, AdminError> {
    lock(&inner.ledger)
        .payouts
        .get(&payout_id)
        .map(|payout| Json(Ledger::admin_view(payout, Instant::now())))
        .ok_or_else(AdminError::not_found)
}

/// `GET /_admin/omno/config`.
async fn get_config(State(inner): State<Arc<Inner>>) -> Json<OmnoConfigView> {
    Json(inner.config_view())
}

/// `PUT /_admin/omno/config`.
async fn put_config(
    State(inner): State<Arc<Inner>>,
    body: Bytes,
) -> Result<Json<OmnoConfigView>, AdminError> {
    let patch: OmnoConfigPatch = serde_json::from_slice(&body)
        .map_err(|e| AdminError::invalid("body", format!("Invalid config patch: {e}")))?;
    if let Some(Some(url)) = &patch.webhook_url {
        let valid = reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !valid {
            return Err(AdminError::invalid(
                "webhook_url",
                "The webhook_url must be an http or https URL.",
            ));
        }
    }
    if let Some(Some(currency)) = &patch.convert_to
        && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(AdminError::invalid(
            "convert_to",
            "The convert_to must be 3 letters (ISO 4217).",
        ));
    }
    {
        let mut config = lock(&inner.config);
        if let Some(v) = patch.settle_delay_ms {
            config.settle_delay_ms = v;
        }
        if let Some(v) = &patch.webhook_url {
            config.webhook_url.clone_from(v);
        }
        if let Some(v) = &patch.convert_to {
            config.convert_to = v.as_ref().map(|c| c.to_ascii_uppercase());
        }
    }
    tracing::info!(patch = ?patch, "omno sandbox config updated");
    Ok(Json(inner.config_view()))
}
