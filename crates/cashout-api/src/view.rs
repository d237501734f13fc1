//! What the API shows of a cashout: everything an upstream system needs, nothing secret, phone
//! numbers masked.

use cashout_core::{Cashout, Currency, HistoryEntry, ParkReason, Provider, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A cashout as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CashoutView {
    /// Our id.
    pub id: String,
    /// The caller's key.
    pub idempotency_key: String,
    /// Public state.
    pub state: State,
    /// Provider.
    pub provider: Provider,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: Currency,
    /// Recipient with personal data masked.
    #[schema(value_type = Object)]
    pub recipient: Value,
    /// The caller's metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// The reference we gave the provider.
    pub external_reference: String,
    /// The provider's id for the payout.
    pub provider_ref: Option<String>,
    /// The last status the provider reported.
    pub provider_status: Option<String>,
    /// Present while the cashout waits for an operator.
    pub parked: Option<ParkedView>,
    /// The last error, redacted.
    pub last_error: Option<String>,
    /// Provider attempts in the current step.
    pub attempts: u32,
    /// Trace id.
    pub trace_id: String,
    /// Accepted at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// History, oldest first (on `GET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

/// Why a cashout is parked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParkedView {
    /// Reason.
    pub reason: ParkReason,
    /// Since.
    pub at: DateTime<Utc>,
    /// Detail.
    pub detail: String,
}

impl CashoutView {
    /// The view of a record, with or without its history.
    pub fn new(c: &Cashout, history: Option<Vec<HistoryEntry>>) -> Self {
        Self {
            id: c.id.to_string(),
            idempotency_key: c.order.idempotency_key.to_string(),
            state: c.state,
            provider: c.order.provider,
            amount: c.order.amount.minor(),
            currency: c.order.currency,
            recipient: c.order.recipient.redacted(),
            metadata: c.order.metadata.clone().map(Value::Object),
            external_reference: c.external_reference.clone(),
            provider_ref: c.provider_ref.clone(),
            provider_status: c.provider_status.clone(),
            parked: c.parked.as_ref().map(|p| ParkedView {
                reason: p.reason,
                at: p.at,
                detail: p.detail.clone(),
            }),
            last_error: c.last_error.clone(),
            attempts: c.attempts,
            trace_id: c.trace_id.to_string(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            history,
        }
    }
}

/// `POST /v1/cashouts` body (documentation; parsing is done by `CashoutOrder::parse`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CreateCashoutRequest {
    /// 1–128 visible ASCII characters; a retry must reuse it.
    pub idempotency_key: String,
    /// `camoo` or `omt` (OMNO is refused until its adapter exists).
    pub provider: Provider,
    /// Strictly positive integer, minor units (XAF has none: 1500 means 1500 XAF).
    pub amount: i64,
    /// ISO code.
    pub currency: Currency,
    /// Provider-specific recipient: [`CamooRecipientRequest`] or [`OmtRecipientRequest`].
    #[schema(value_type = Object)]
    pub recipient: CamooRecipientRequest,
    /// Free-form object up to 4 KiB, returned as given.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// The Camoo recipient.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CamooRecipientRequest {
    /// E.164, e.g. `+237612345678`.
    pub phone_number: String,
}

/// The OMT recipient. `currency` must be LBP or USD and `amount` whole major units.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OmtRecipientRequest {
    /// The customer's OMT account id.
    pub account_id: i64,
    /// The customer's OTP (4-8 digits, number or string). Never returned or logged.
    pub otp: String,
    /// The customer's name, as OMT holds it.
    pub customer_name: String,
}

/// What OMNO posts to `/v1/providers/omno/webhook` (only `payoutId` and `orderId` are used).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct OmnoWebhookBody {
    /// OMNO's payout id.
    pub payoutId: String,
    /// Our order id.
    pub orderId: String,
    /// The status OMNO reports (never trusted: the payout is read).
    pub status: String,
}
