//! The OMT API: its endpoints and routes, Basic authentication, the `isSuccess` bodies (business
//! failures answered per [`FailureMode`]), and what `GETCTI`, `PAYCTI` and `Revoke` do to an
//! account.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::config::{FailureMode, OmtConfig};
use super::model::{self, Account, CtiInfo, Decision, PayOrder, Refusal};
use super::{Omt, OmtCallCounts, auth};
use crate::sim::api::challenge;
use crate::sim::{self, ApiRequest, Execution, Ledger, Route, Sim, Simulator};

/// The simulated endpoints, as named in `/_admin/omt/calls` and `/_admin/faults`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint {
    GetCti,
    PayCti,
    Revoke,
}

impl sim::Endpoint for Endpoint {
    fn name(self) -> &'static str {
        match self {
            Self::GetCti => "getcti",
            Self::PayCti => "paycti",
            Self::Revoke => "revoke",
        }
    }
}

/// The routes under `/omt/api/v1/cashout`.
const ROUTES: &[Route<Endpoint>] = &[
    Route::get(Endpoint::GetCti, "/GETCTI"),
    Route::post(Endpoint::PayCti, "/PAYCTI"),
    Route::post(Endpoint::Revoke, "/Revoke"),
];

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

impl Simulator for Omt {
    const NAME: &'static str = "omt";
    const API_PATH: &'static str = "/omt/api/v1/cashout";
    const NOT_FOUND: &'static str = "Not found";

    type Endpoint = Endpoint;
    type Config = OmtConfig;
    type Counts = OmtCallCounts;
    /// The `accountId`.
    type Subject = i64;
    /// The accounts, created on first use.
    type Store = HashMap<i64, Account>;

    fn routes() -> &'static [Route<Endpoint>] {
        ROUTES
    }

    fn authorized(config: &OmtConfig, headers: &HeaderMap) -> bool {
        auth::authorized(headers, &config.username, &config.password)
    }

    fn unauthorized() -> Response {
        let response = Self::error(StatusCode::UNAUTHORIZED, "Unauthorized");
        challenge(response, "Basic realm=\"OMT sandbox\"")
    }

    /// `{"isSuccess": false, "error": message}`.
    fn error(status: StatusCode, message: &str) -> Response {
        refused(status, "error", message)
    }

    /// The integer `accountId` of the query (GETCTI) or of the JSON body.
    fn subject(_: &Self::Store, endpoint: Endpoint, request: &ApiRequest) -> Option<i64> {
        match endpoint {
            Endpoint::GetCti => query_int(&request.query(), "accountId"),
            Endpoint::PayCti | Endpoint::Revoke => {
                parse::<Value>(&request.body)?.get("accountId")?.as_i64()
            }
        }
    }

    async fn handle(sim: Arc<Sim<Self>>, endpoint: Endpoint, request: ApiRequest) -> Response {
        match endpoint {
            Endpoint::GetCti => {
                let query = request.query();
                getcti(
                    &sim,
                    query_int(&query, "accountId").zip(query_int(&query, "otp")),
                )
            }
            Endpoint::PayCti => paycti(&sim, &request.body),
            Endpoint::Revoke => revoke(&sim, &request.body),
        }
    }
}

/// The integer query parameter `name`, if present and an integer.
fn query_int(query: &HashMap<String, String>, name: &str) -> Option<i64> {
    query.get(name).and_then(|v| v.parse::<i64>().ok())
}

/// The JSON body as `T`, `None` when it is not (malformed, missing or mistyped field).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
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
    Omt::error(StatusCode::BAD_REQUEST, "Invalid request")
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

/// Runs `transition` on account `account_id` under the ledger lock and counts a failed attempt
/// if it was one.
fn decide<T>(
    ledger: &mut Ledger<Omt>,
    account_id: i64,
    transition: impl FnOnce(&mut Account) -> Decision<T>,
) -> Decision<T> {
    let decision = transition(ledger.store.entry(account_id).or_default());
    if decision.failed_attempt {
        ledger
            .calls
            .tally(Some(account_id), |counts| counts.failed_attempts += 1);
    }
    decision
}

/// Answers `decision`, logging a refusal (by account, never with the OTP or phone).
fn answer<T>(
    sim: &Sim<Omt>,
    endpoint: Endpoint,
    account_id: i64,
    decision: Decision<T>,
    ok: impl FnOnce(T) -> Response,
) -> Response {
    match decision.result {
        Ok(value) => ok(value),
        Err(refusal) => {
            tracing::info!(
                provider = Omt::NAME,
                endpoint = sim::Endpoint::name(endpoint),
                account_id,
                refusal = ?refusal,
                failed_attempt = decision.failed_attempt,
                "omt call refused"
            );
            refusal_response(sim.config().failure_mode, refusal)
        }
    }
}

/// `GET GETCTI?accountId=<int>&otp=<int>`, with its parsed `(accountId, otp)`.
fn getcti(sim: &Sim<Omt>, ids: Option<(i64, i64)>) -> Response {
    let Some((account_id, otp)) = ids else {
        return invalid_request();
    };
    let decision = decide(&mut sim.ledger(), account_id, |account| {
        account.get_cti(otp, Instant::now())
    });
    answer(sim, Endpoint::GetCti, account_id, decision, success)
}

/// `POST PAYCTI`. A payout is executed and audited under the ledger lock, with no `.await`, so a
/// client disconnecting afterwards cannot undo it.
fn paycti(sim: &Sim<Omt>, body: &[u8]) -> Response {
    let Some(request) = parse::<PayCtiRequest>(body) else {
        return invalid_request();
    };
    let order = PayOrder {
        amount: request.amount,
        currency: request.currency,
        customer_name: &request.customer_name,
    };
    let decision = {
        let mut ledger = sim.ledger();
        let decision = decide(&mut ledger, request.account_id, |account| {
            account.pay(&order, Instant::now())
        });
        if let Ok(paid) = &decision.result {
            sim.record_payout(Execution {
                provider_id: request.receipt_number.clone(),
                external_reference: Some(request.receipt_number.clone()),
                amount: paid.amount.to_string(),
                currency: paid.currency.name().to_owned(),
                phone_last3: paid.phone_last3.clone(),
                at: Utc::now(),
            });
        }
        decision
    };
    answer(sim, Endpoint::PayCti, request.account_id, decision, |_| {
        success("Cashout Success")
    })
}

/// `POST Revoke`.
fn revoke(sim: &Sim<Omt>, body: &[u8]) -> Response {
    let Some(RevokeRequest { account_id }) = parse(body) else {
        return invalid_request();
    };
    let decision = decide(&mut sim.ledger(), account_id, |account| {
        account.revoke(Instant::now())
    });
    if decision.result.is_ok() {
        tracing::info!(provider = Omt::NAME, account_id, "cashout revoked");
    }
    answer(sim, Endpoint::Revoke, account_id, decision, |()| {
        success("Revoke Success")
    })
}
