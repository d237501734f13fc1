//! The OMNO API: its endpoints and routes, Bearer authentication, the `{"error": …}` bodies, and
//! what create, confirm, reject and status do to a payout.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::config::OmnoConfig;
use super::model::{self, Conflict, Money, Outcome, Payout};
use super::{Omno, OmnoCallCounts, validate, webhook};
use crate::sim::api::challenge;
use crate::sim::{self, ApiRequest, Execution, Payouts, Route, Sim, Simulator};
use crate::util::{last3, secret_eq};

/// The simulated endpoints, as named in `/_admin/omno/calls` and `/_admin/faults`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint {
    Create,
    Confirm,
    Reject,
    Status,
}

impl sim::Endpoint for Endpoint {
    fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Confirm => "confirm",
            Self::Reject => "reject",
            Self::Status => "status",
        }
    }
}

/// The routes under `/omno`.
const ROUTES: &[Route<Endpoint>] = &[
    Route::post(Endpoint::Create, "/public/payout"),
    Route::get(Endpoint::Status, "/public/payout/{payout_id}"),
    Route::put(Endpoint::Confirm, "/public/payout/{payout_id}/confirm"),
    Route::put(Endpoint::Reject, "/public/payout/{payout_id}/reject"),
];

/// Where the fake checkout pages of `iframeUrls` live.
const CHECKOUT_BASE: &str = "https://checkout.omno.dev/payments/payout";

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

impl Simulator for Omno {
    const NAME: &'static str = "omno";
    const API_PATH: &'static str = "/omno";
    const NOT_FOUND: &'static str = "Not Found";

    type Endpoint = Endpoint;
    type Config = OmnoConfig;
    type Counts = OmnoCallCounts;
    /// The `orderId`.
    type Subject = String;
    type Store = Payouts<Payout>;

    fn routes() -> &'static [Route<Endpoint>] {
        ROUTES
    }

    fn authorized(config: &OmnoConfig, headers: &HeaderMap) -> bool {
        bearer(headers).is_some_and(|given| secret_eq(given, config.token.as_bytes()))
    }

    fn unauthorized() -> Response {
        let response = Self::error(StatusCode::UNAUTHORIZED, "Unauthorized");
        challenge(response, "Bearer realm=\"OMNO sandbox\"")
    }

    /// `{"error": message}`: OMNO's error body.
    fn error(status: StatusCode, message: &str) -> Response {
        (status, Json(serde_json::json!({"error": message}))).into_response()
    }

    /// A create's string `orderId`; the order of the payout a confirm, reject or status is on.
    fn subject(
        payouts: &Payouts<Payout>,
        endpoint: Endpoint,
        request: &ApiRequest,
    ) -> Option<String> {
        match endpoint {
            Endpoint::Create => match serde_json::from_slice::<Value>(&request.body)
                .ok()?
                .get("orderId")?
            {
                Value::String(order_id) => Some(order_id.clone()),
                _ => None,
            },
            Endpoint::Confirm | Endpoint::Reject | Endpoint::Status => payouts
                .get(request.param("payout_id"))
                .map(|p| p.order_id.clone()),
        }
    }

    async fn handle(sim: Arc<Sim<Self>>, endpoint: Endpoint, request: ApiRequest) -> Response {
        let payout_id = request.param("payout_id");
        match endpoint {
            Endpoint::Create => create(&sim, &request.body),
            Endpoint::Confirm => confirm(&sim, payout_id),
            Endpoint::Reject => reject(&sim, payout_id),
            Endpoint::Status => status(&sim, payout_id),
        }
    }
}

fn not_found() -> Response {
    Omno::error(StatusCode::NOT_FOUND, Omno::NOT_FOUND)
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

/// `POST /public/payout`: records a waiting payout (no money moves).
fn create(sim: &Sim<Omno>, body: &[u8]) -> Response {
    let request = match validate::parse_payout(body) {
        Ok(request) => request,
        Err(fields) => return bad_request(fields),
    };
    let convert_to = sim.config().convert_to;
    let money = Money::new(request.value, &request.currency, convert_to.as_deref());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let outcome = Outcome::from_external_user_id(&request.external_user_id);
    tracing::info!(
        provider = Omno::NAME,
        payout_id = %id,
        order_id = %request.order_id,
        amount = %money.amount,
        currency = %money.currency,
        outcome = ?outcome,
        "payout created"
    );
    let payout = Payout {
        id: id.clone(),
        order_id: request.order_id,
        money,
        phone_last3: last3(&request.phone_number),
        outcome,
        created_utc: Utc::now(),
        stage: model::Stage::Waiting,
    };
    sim.ledger().store.insert(id.clone(), payout);
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

/// `PUT …/confirm`: executes the payout. It is executed and audited under the ledger lock, with
/// no `.await`, so a client disconnecting afterwards cannot undo it.
fn confirm(sim: &Arc<Sim<Omno>>, payout_id: &str) -> Response {
    let settle_after = Duration::from_millis(sim.config().settle_delay_ms);
    let (now, now_utc) = (Instant::now(), Utc::now());
    let mut ledger = sim.ledger();
    let Some(payout) = ledger.store.get_mut(payout_id) else {
        return not_found();
    };
    if let Err(refusal) = payout.confirm(now, now_utc, settle_after) {
        tracing::info!(provider = Omno::NAME, payout_id, refusal = %refusal, "omno confirm refused");
        return conflict(refusal);
    }
    sim.record_payout(Execution {
        provider_id: payout.id.clone(),
        external_reference: Some(payout.order_id.clone()),
        amount: payout.money.amount.to_string(),
        currency: payout.money.currency.clone(),
        phone_last3: payout.phone_last3.clone(),
        at: now_utc,
    });
    tracing::debug!(provider = Omno::NAME, payout_id, outcome = ?payout.outcome, "omno outcome");
    let changes: Vec<(Instant, &'static str)> = payout
        .outcome
        .timeline(settle_after)
        .into_iter()
        .filter_map(|(offset, status)| Some((now.checked_add(offset)?, status)))
        .collect();
    let order_id = payout.order_id.clone();
    drop(ledger);
    let payout_id = payout_id.to_owned();
    sim.spawn(|sim, closed| webhook::deliver_changes(sim, closed, payout_id, order_id, changes));
    empty_object()
}

/// `PUT …/reject`: cancels a payout that was not confirmed.
fn reject(sim: &Sim<Omno>, payout_id: &str) -> Response {
    let mut ledger = sim.ledger();
    let Some(payout) = ledger.store.get_mut(payout_id) else {
        return not_found();
    };
    match payout.reject(Utc::now()) {
        Ok(()) => {
            tracing::info!(provider = Omno::NAME, payout_id, order_id = %payout.order_id, "payout rejected");
            empty_object()
        }
        Err(refusal) => {
            tracing::info!(provider = Omno::NAME, payout_id, refusal = %refusal, "omno reject refused");
            conflict(refusal)
        }
    }
}

/// `GET /public/payout/{payoutId}`.
fn status(sim: &Sim<Omno>, payout_id: &str) -> Response {
    let view = sim
        .ledger()
        .store
        .get(payout_id)
        .map(|payout| payout.view_at(Instant::now()));
    match view {
        Some(view) => Json(view).into_response(),
        None => not_found(),
    }
}
