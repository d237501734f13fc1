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

/// `POST /v1/cashouts` body (documentation; parsing is done by `CashoutOrder::parse`, which
/// refuses unknown fields).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CreateCashoutRequest {
    /// 1–128 visible ASCII characters; a retry must reuse it.
    pub idempotency_key: String,
    /// `camoo`, `omt` or `omno`; it decides the shape of `recipient`.
    pub provider: Provider,
    /// Strictly positive integer, minor units (XAF has none: 1500 means 1500 XAF). OMT pays
    /// whole LBP or USD only.
    pub amount: i64,
    /// ISO code.
    pub currency: Currency,
    /// Provider-specific recipient.
    pub recipient: RecipientRequest,
    /// Free-form object up to 4 KiB, returned as given.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// OMNO only (refused for other providers): `auto` (default) confirms the payout as soon as
    /// OMNO created it; `manual` waits in `submitted` for `POST /v1/cashouts/{id}/approve` (or a
    /// revoke).
    pub approval: Option<cashout_core::Approval>,
}

/// The recipient of a cashout, by provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RecipientRequest {
    /// `provider: camoo`.
    Camoo(CamooRecipientRequest),
    /// `provider: omt`.
    Omt(OmtRecipientRequest),
    /// `provider: omno`.
    Omno(Box<OmnoRecipientRequest>),
}

/// The Camoo recipient.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CamooRecipientRequest {
    /// E.164, e.g. `+237612345678`.
    pub phone_number: String,
}

/// The OMT recipient. `currency` must be LBP or USD and `amount` whole major units.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OmtRecipientRequest {
    /// The customer's OMT account id (a positive integer).
    pub account_id: i64,
    /// The customer's OTP (4-8 digits, number or string). Never returned or logged.
    pub otp: String,
    /// The customer's name, as OMT holds it.
    pub customer_name: String,
}

/// The OMNO recipient: the customer as OMNO knows them. Strings are trimmed and must not be
/// empty.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OmnoRecipientRequest {
    /// Our id of the customer at OMNO, at most 64 characters.
    #[schema(max_length = 64)]
    pub external_user_id: String,
    /// At most 100 characters.
    #[schema(max_length = 100)]
    pub first_name: String,
    /// At most 100 characters.
    #[schema(max_length = 100)]
    pub last_name: String,
    /// An e-mail address, at most 254 characters.
    #[schema(max_length = 254)]
    pub email: String,
    /// 6 to 15 digits; spaces, `+`, `-` and parentheses allowed. Masked in answers.
    #[schema(max_length = 32)]
    pub phone_number: String,
    /// `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date_of_birth: String,
    /// The billing address.
    pub billing: OmnoBillingRequest,
    /// Whether the customer passed KYC.
    pub kyc_verified: bool,
    /// KYC details, passed to OMNO as given.
    #[schema(value_type = Option<Object>)]
    pub kyc: Option<Value>,
    /// An OMNO router, at most 64 characters.
    #[schema(max_length = 64)]
    pub router_id: Option<String>,
    /// An OMNO direct route, at most 64 characters.
    #[schema(max_length = 64)]
    pub direct_route_id: Option<String>,
}

/// The OMNO customer's billing address; every field is required.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OmnoBillingRequest {
    /// At most 200 characters.
    #[schema(max_length = 200)]
    pub address: String,
    /// At most 100 characters.
    #[schema(max_length = 100)]
    pub city: String,
    /// At most 100 characters.
    #[schema(max_length = 100)]
    pub state: String,
    /// ISO 3166-1 alpha-2, upper case (`US`).
    #[schema(min_length = 2, max_length = 2, pattern = "^[A-Z]{2}$")]
    pub country_code: String,
    /// At most 20 characters.
    #[schema(max_length = 20)]
    pub postal_code: String,
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
