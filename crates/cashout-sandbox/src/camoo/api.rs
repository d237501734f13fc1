//! The Camoo API: its endpoints and routes, credentials (`X-Api-Key` / `X-Api-Secret`), error
//! body, and what `cashout`, `verify` and `account` do.

use std::cmp::Reverse;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::config::CamooConfig;
use super::model::{self, Amount, Outcome, Payment, Payout, Store};
use super::{CallCounts, Camoo, notify, validate};
use crate::sim::{self, ApiRequest, CodedError, Execution, Route, Sim, Simulator};
use crate::util::{iso, secret_eq};

/// The simulated endpoints, as named in `/_admin/camoo/calls` and `/_admin/faults`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint {
    Create,
    Verify,
    Account,
}

impl sim::Endpoint for Endpoint {
    fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Verify => "verify",
            Self::Account => "account",
        }
    }
}

/// The routes under `/camoo/v1/payment`.
const ROUTES: &[Route<Endpoint>] = &[
    Route::post(Endpoint::Create, "/cashout"),
    Route::get(Endpoint::Verify, "/verify"),
    Route::get(Endpoint::Account, "/account"),
];

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

/// `400` "The given data was invalid." with one message per bad field.
pub(crate) fn invalid_data(errors: Map<String, Value>) -> CodedError {
    CodedError::fields("The given data was invalid.", errors)
}

impl Simulator for Camoo {
    const NAME: &'static str = "camoo";
    const API_PATH: &'static str = "/camoo/v1/payment";
    const NOT_FOUND: &'static str = "Not found";

    type Endpoint = Endpoint;
    type Config = CamooConfig;
    type Counts = CallCounts;
    type Subject = Infallible;
    type Store = Store;

    fn routes() -> &'static [Route<Endpoint>] {
        ROUTES
    }

    fn authorized(config: &CamooConfig, headers: &HeaderMap) -> bool {
        let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
        match (header("x-api-key"), header("x-api-secret")) {
            // Non-short-circuit `&` so both comparisons always run.
            (Some(k), Some(s)) => {
                secret_eq(k, config.api_key.as_bytes()) & secret_eq(s, config.api_secret.as_bytes())
            }
            _ => false,
        }
    }

    fn unauthorized() -> Response {
        let message = "Invalid or missing API credentials";
        Self::error(StatusCode::UNAUTHORIZED, message)
    }

    /// `{code, message, errors: {}}`, `code` = the HTTP status.
    fn error(status: StatusCode, message: &str) -> Response {
        CodedError::new(status, message).into_response()
    }

    fn subject(_: &Store, _: Endpoint, _: &ApiRequest) -> Option<Infallible> {
        None
    }

    async fn handle(sim: Arc<Sim<Self>>, endpoint: Endpoint, request: ApiRequest) -> Response {
        let answer = match endpoint {
            Endpoint::Create => create(&sim, &request.body).await,
            Endpoint::Verify => verify(&sim, &request).await,
            Endpoint::Account => Ok(account(&sim)),
        };
        answer.unwrap_or_else(IntoResponse::into_response)
    }
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// `POST /cashout`.
async fn create(sim: &Arc<Sim<Camoo>>, body: &[u8]) -> Result<Response, CodedError> {
    let request = validate::parse_cashout(body)?;
    let payment = execute(sim, request)?;
    // Already executed and recorded: dropping this future during the sleep changes nothing.
    sleep_ms(sim.config().create_delay_ms).await;
    let body = CashoutResponse {
        message: "Cashout created".to_owned(),
        code: 201,
        cash_out: payment,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Executes a validated cashout: debits the balance, records the payout in the audit and the
/// store, and schedules its notification. Everything happens before this returns, with no
/// `.await`, so a client disconnecting afterwards cannot undo it.
fn execute(
    sim: &Arc<Sim<Camoo>>,
    request: validate::CashoutRequest,
) -> Result<Payment, CodedError> {
    let config = sim.config();
    let now = Instant::now();
    let now_utc = Utc::now();
    let outcome = Outcome::from_phone(&request.phone);
    let settle_after = outcome.settle_after(&config);

    let mut ledger = sim.ledger();
    let store = &mut ledger.store;
    store.apply_refunds(now);
    if request.amount.minor() > store.balance_minor {
        let message = "Insufficient funds";
        return Err(CodedError::new(StatusCode::PAYMENT_REQUIRED, message));
    }
    store.balance_minor -= request.amount.minor();
    if let (true, Some(after)) = (outcome.refunds(), settle_after) {
        let refund = (now + after, request.amount.minor());
        store.refunds.push(Reverse(refund));
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
    sim.record_payout(Execution {
        provider_id: id.clone(),
        external_reference: payout.external_reference.clone(),
        amount: payout.amount.to_string(),
        currency: payout.currency.clone(),
        phone_last3: model::last3(&payout.phone),
        at: now_utc,
    });
    tracing::debug!(provider = Camoo::NAME, id = %id, outcome = ?outcome, "camoo outcome");
    let created = payout.created_view();
    let notify_at = match (&payout.notification_url, settle_after) {
        (Some(_), Some(after)) => Some(now + after),
        _ => None,
    };
    store.payouts.insert(id.clone(), payout);
    drop(ledger);

    if let Some(at) = notify_at {
        sim.spawn(|sim, closed| notify::deliver(sim, closed, id, at));
    }
    Ok(created)
}

/// `GET /verify?id=<id>`.
async fn verify(sim: &Sim<Camoo>, request: &ApiRequest) -> Result<Response, CodedError> {
    sleep_ms(sim.config().verify_delay_ms).await;
    let id = request
        .query()
        .remove("id")
        .filter(|id| !id.trim().is_empty());
    let Some(id) = id else {
        let mut errors = Map::new();
        errors.insert("id".to_owned(), "The id field is required.".into());
        return Err(invalid_data(errors));
    };
    let now = Instant::now();
    let payment = sim
        .ledger()
        .store
        .payouts
        .get(&id)
        .map(|payout| payout.view_at(now));
    match payment {
        Some(payment) => Ok(Json(VerifyResponse {
            code: 200,
            message: "OK".to_owned(),
            verify: payment,
        })
        .into_response()),
        None => Err(CodedError::new(
            StatusCode::NOT_FOUND,
            "Transaction not found",
        )),
    }
}

/// `GET /account`.
fn account(sim: &Sim<Camoo>) -> Response {
    let balance = Amount::from_minor(sim.ledger().store.balance_minor(Instant::now()));
    Json(AccountResponse {
        code: 200,
        message: "OK".to_owned(),
        account: Account {
            balance: balance.to_string(),
            currency: "XAF".to_owned(),
            date: iso(Utc::now()),
        },
    })
    .into_response()
}
