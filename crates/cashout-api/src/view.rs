//! What the API shows of a cashout: everything an upstream system needs, nothing secret, phone
//! numbers masked.

use cashout_core::{Approval, Cashout, Currency, HistoryEntry, ParkReason, Provider, State};
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
    /// Recipient with personal data masked; its shape follows `provider`.
    #[schema(value_type = RecipientView)]
    pub recipient: Value,
    /// The caller's metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// OMNO only: `auto`, `manual` (waits for `POST /v1/cashouts/{id}/approve`), or `four_eyes`
    /// (as `manual`, approved by another token than the one that enqueued it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
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
            approval: (c.order.provider == Provider::Omno).then_some(c.order.approval),
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

/// A recipient as answers show it (documentation; built by `Recipient::redacted`): nothing
/// secret, phone numbers masked to their last three digits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RecipientView {
    /// `provider: camoo`.
    Camoo(CamooRecipientView),
    /// `provider: omt` (never the OTP).
    Omt(OmtRecipientView),
    /// `provider: omno`.
    Omno(OmnoRecipientView),
}

/// A Camoo recipient in an answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CamooRecipientView {
    /// Masked: `**********678`.
    pub phone_number: String,
}

/// An OMT recipient in an answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct OmtRecipientView {
    /// The customer's OMT account.
    pub account_id: i64,
    /// The name as the order gave it.
    pub customer_name: String,
}

/// An OMNO recipient in an answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct OmnoRecipientView {
    /// Our id of the customer at OMNO.
    pub external_user_id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Masked to its last three characters.
    pub phone_number: String,
    /// Whether the customer passed KYC.
    pub kyc_verified: bool,
    /// Only the country of the billing address.
    pub billing: OmnoBillingView,
}

/// The part of an OMNO billing address an answer shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct OmnoBillingView {
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
}

/// What OMNO posts to `/v1/providers/omno/webhook`: any JSON object. Only string `payoutId`
/// and `orderId` (one of our cashout ids) lead anywhere; anything else is answered
/// `{status: ignored}`, since OMNO retries a webhook until it gets a 200.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct OmnoWebhookBody {
    /// OMNO's payout id (a string).
    pub payoutId: Option<Value>,
    /// Our order id: the cashout id.
    pub orderId: Option<Value>,
    /// The status OMNO reports (never trusted: the payout is read).
    pub status: Option<Value>,
}
