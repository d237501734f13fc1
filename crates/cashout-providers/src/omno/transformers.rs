//! OMNO wire types and the mapping of its payout statuses into ours.

use crate::camoo::transformers::redact;
use crate::error::ProviderError;
use cashout_core::recipient::mask_phone;
use cashout_core::{Amount, Currency, OmnoRecipient};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

/// `POST /public/payout` body.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePayout {
    /// Ours, stored before the call.
    pub order_id: String,
    /// Major units.
    pub value: f64,
    /// ISO code.
    pub currency: String,
    /// Whether we verified the customer.
    pub kyc_verified: bool,
    /// The customer.
    pub customer: Value,
    /// Router.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Direct route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_route_id: Option<String>,
}

impl std::fmt::Debug for CreatePayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatePayout")
            .field("order_id", &self.order_id)
            .field("value", &self.value)
            .field("currency", &self.currency)
            .finish_non_exhaustive()
    }
}

impl CreatePayout {
    /// Our order in OMNO's shape; minor units become major units here.
    pub fn new(order_id: &str, amount: Amount, currency: Currency, r: &OmnoRecipient) -> Self {
        let major: f64 = amount.to_major_string(currency).parse().unwrap_or(0.0);
        let mut customer = serde_json::json!({
            "externalUserId": r.external_user_id,
            "firstName": r.first_name,
            "lastName": r.last_name,
            "email": r.email,
            "phoneNumber": r.phone_number,
            "dateOfBirth": r.date_of_birth,
            "billing": {
                "address": r.billing.address,
                "city": r.billing.city,
                "state": r.billing.state,
                "countryCode": r.billing.country_code,
                "postalCode": r.billing.postal_code,
            },
        });
        if let Some(kyc) = &r.kyc {
            customer["kyc"] = Value::Object(kyc.clone());
        }
        Self {
            order_id: order_id.to_owned(),
            value: major,
            currency: currency.code().to_owned(),
            kyc_verified: r.kyc_verified,
            customer,
            router_id: r.router_id.clone(),
            direct_route_id: r.direct_route_id.clone(),
        }
    }
}

/// `POST /public/payout` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    /// OMNO's id: stored the moment it arrives.
    pub payout_id: String,
    /// Normally `CREATED`.
    #[serde(default)]
    pub status: String,
}

/// A payout as `GET /public/payout/{id}` returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payout {
    /// OMNO's id.
    #[serde(default)]
    pub payout_id: Option<String>,
    /// Our order id, echoed.
    #[serde(default)]
    pub order_id: Option<String>,
    /// The raw status.
    pub status: String,
    /// What is paid (after any conversion).
    #[serde(default)]
    pub amount: Option<Value>,
    /// In what.
    #[serde(default)]
    pub currency: Option<String>,
    /// What was asked.
    #[serde(default)]
    pub initial_amount: Option<Value>,
    /// In what.
    #[serde(default)]
    pub initial_currency: Option<String>,
    /// Why it ended as it did.
    #[serde(default)]
    pub status_reason: Option<Map<String, Value>>,
}

impl Payout {
    /// Our reading of its status.
    pub fn outcome(&self) -> PayoutStatus {
        PayoutStatus::from(OmnoStatus::parse(&self.status))
    }

    /// `"100 USD → 90 EUR"` when OMNO converted the currency.
    pub fn conversion(&self) -> Option<String> {
        let (from, to) = (self.initial_currency.as_deref()?, self.currency.as_deref()?);
        if from.eq_ignore_ascii_case(to) {
            return None;
        }
        let n = |v: &Option<Value>| {
            v.as_ref()
                .map(|v| v.to_string().trim_matches('"').to_owned())
        };
        Some(format!(
            "{} {from} → {} {to}",
            n(&self.initial_amount).unwrap_or_default(),
            n(&self.amount).unwrap_or_default()
        ))
    }

    /// `statusReason` in one line (redacted).
    pub fn reason(&self) -> Option<String> {
        let r = self.status_reason.as_ref()?;
        let get = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        let line = format!("{} {}", get("reason"), get("detailedStatus"));
        Some(redact(line.trim()))
    }
}

/// Every OMNO payout status we know, plus anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OmnoStatus {
    /// `CREATED`.
    Created,
    /// `WAITING_FOR_CONFIRMATION`.
    WaitingForConfirmation,
    /// `PENDING`.
    Pending,
    /// `SUCCESS`.
    Success,
    /// `DECLINED`.
    Declined,
    /// `FAILED`.
    Failed,
    /// `TIMEOUT`.
    Timeout,
    /// `REJECTED` (our reject) or `CANCELLED`/`CANCELED`.
    Rejected,
    /// Anything else: not final.
    Unknown(String),
}

impl OmnoStatus {
    /// Case-insensitive; the set is open.
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "CREATED" => OmnoStatus::Created,
            "WAITING_FOR_CONFIRMATION" => OmnoStatus::WaitingForConfirmation,
            "PENDING" => OmnoStatus::Pending,
            "SUCCESS" => OmnoStatus::Success,
            "DECLINED" => OmnoStatus::Declined,
            "FAILED" => OmnoStatus::Failed,
            "TIMEOUT" => OmnoStatus::Timeout,
            "REJECTED" | "CANCELLED" | "CANCELED" => OmnoStatus::Rejected,
            other => OmnoStatus::Unknown(other.to_owned()),
        }
    }
}

/// What an OMNO status means for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutStatus {
    /// Created, not confirmed.
    AwaitingConfirmation,
    /// Confirmed, not final (or a status we do not know).
    InFlight,
    /// Paid.
    Succeeded,
    /// Not paid, finally.
    Failed,
    /// Rejected before confirmation.
    Rejected,
}

impl From<OmnoStatus> for PayoutStatus {
    fn from(s: OmnoStatus) -> Self {
        match s {
            OmnoStatus::Created | OmnoStatus::WaitingForConfirmation => {
                PayoutStatus::AwaitingConfirmation
            }
            OmnoStatus::Pending | OmnoStatus::Unknown(_) => PayoutStatus::InFlight,
            OmnoStatus::Success => PayoutStatus::Succeeded,
            OmnoStatus::Declined | OmnoStatus::Failed | OmnoStatus::Timeout => PayoutStatus::Failed,
            OmnoStatus::Rejected => PayoutStatus::Rejected,
        }
    }
}

/// A payout id as a path segment: only characters that need no escaping.
pub(crate) fn path_segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

pub(crate) async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ProviderError> {
    let answer = crate::client::Answer::read(resp).await?;
    if answer.is_success() {
        return serde_json::from_slice(&answer.bytes)
            .map_err(|e| ProviderError::Decode(redact(&e.to_string())));
    }
    let message = serde_json::from_slice::<Value>(&answer.bytes)
        .ok()
        .and_then(|v| {
            let m = v
                .get("message")
                .or_else(|| v.get("error"))?
                .as_str()?
                .to_owned();
            Some(m)
        })
        .unwrap_or_else(|| format!("({} bytes)", answer.bytes.len()));
    Err(answer.error(&message))
}

/// Masks the phone inside a customer JSON for logs.
pub fn masked_customer(customer: &Value) -> Value {
    let mut c = customer.clone();
    if let Some(p) = c.get("phoneNumber").and_then(Value::as_str) {
        c["phoneNumber"] = Value::String(mask_phone(p));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map() {
        use PayoutStatus::*;
        for (raw, want) in [
            ("CREATED", AwaitingConfirmation),
            ("waiting_for_confirmation", AwaitingConfirmation),
            ("PENDING", InFlight),
            ("ON_HOLD", InFlight),
            ("SUCCESS", Succeeded),
            ("DECLINED", Failed),
            ("FAILED", Failed),
            ("TIMEOUT", Failed),
            ("REJECTED", Rejected),
        ] {
            assert_eq!(PayoutStatus::from(OmnoStatus::parse(raw)), want, "{raw}");
        }
    }

    #[test]
    fn conversion_and_reason() {
        let p: Payout = serde_json::from_value(serde_json::json!({
            "status": "DECLINED", "amount": 90, "currency": "EUR", "initialAmount": 100,
            "initialCurrency": "USD",
            "statusReason": {"reason": "DECLINED", "detailedStatus": "NO_PROVIDER_AVAILABLE"}
        }))
        .unwrap();
        assert_eq!(p.conversion().as_deref(), Some("100 USD → 90 EUR"));
        assert_eq!(
            p.reason().as_deref(),
            Some("DECLINED NO_PROVIDER_AVAILABLE")
        );
        assert_eq!(path_segment("ab/../c?d"), "abcd");
    }
}
