//! Camoo wire types and the mapping of Camoo statuses into ours.

use cashout_core::recipient::mask_phone;
use cashout_core::{Amount, Currency};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `POST /cashout` body. Its `Debug` masks the phone number.
#[derive(Clone, Serialize)]
pub struct CreateCashout {
    /// Major units (XAF has none; `"12.50"` for EUR).
    pub amount: String,
    /// E.164.
    pub phone_number: String,
    /// ISO code.
    pub currency: String,
    /// Where to notify us.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// Our reference (the cashout id), at most 190 characters.
    pub external_reference: String,
}

impl std::fmt::Debug for CreateCashout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCashout")
            .field("amount", &self.amount)
            .field("phone_number", &mask_phone(&self.phone_number))
            .field("currency", &self.currency)
            .field("external_reference", &self.external_reference)
            .finish_non_exhaustive()
    }
}

impl CreateCashout {
    /// Converts our minor units into Camoo's major units at this edge.
    pub fn new(
        amount: Amount,
        currency: Currency,
        phone_number: &str,
        external_reference: &str,
        notification_url: Option<&str>,
    ) -> Self {
        Self {
            amount: amount.to_major_string(currency),
            phone_number: phone_number.to_owned(),
            currency: currency.code().to_owned(),
            notification_url: notification_url.map(str::to_owned),
            external_reference: external_reference.to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateResponse {
    #[serde(rename = "cashOut")]
    pub(crate) cash_out: Payment,
}

#[derive(Debug, Deserialize)]
pub(crate) struct VerifyResponse {
    pub(crate) verify: Payment,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AccountResponse {
    pub(crate) account: Account,
}

/// A Camoo payment as `cashOut` / `verify` return it. Only `id` and `status` are required;
/// the rest varies in type between SDK versions, so it is kept loosely.
#[derive(Debug, Clone, Deserialize)]
pub struct Payment {
    /// Camoo's id.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// Our reference, echoed.
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub external_reference: Option<String>,
    /// The raw status.
    pub status: String,
    /// Major units, as Camoo sends them.
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub amount: Option<String>,
    /// Currency code.
    #[serde(default)]
    pub currency: Option<String>,
    /// The phone number (kept only masked).
    #[serde(default, deserialize_with = "opt_masked_phone")]
    pub phone_number: Option<String>,
}

impl Payment {
    /// Our reading of its status.
    pub fn outcome(&self) -> PaymentStatus {
        PaymentStatus::from(CamooStatus::parse(&self.status))
    }
}

/// `GET /account`.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// Remaining balance, major units.
    #[serde(deserialize_with = "string_or_number")]
    pub balance: String,
    /// Currency.
    #[serde(default)]
    pub currency: Option<String>,
}

/// Every status Camoo is known to send, plus anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CamooStatus {
    /// `CREATED`.
    Created,
    /// `INITIALISED`.
    Initialised,
    /// `PENDING`.
    Pending,
    /// `IN_PROGRESS`.
    InProgress,
    /// `CONFIRMED`.
    Confirmed,
    /// `SUCCESS`.
    Success,
    /// `FAILED`.
    Failed,
    /// `ERRORED`.
    Errored,
    /// `CANCELED` or `CANCELLED`.
    Canceled,
    /// `UNDERINVESTIGATION`: outcome unknown, keep polling.
    UnderInvestigation,
    /// Anything else: not final.
    Unknown(String),
}

impl CamooStatus {
    /// Case-insensitive; the set is open.
    pub fn parse(raw: &str) -> Self {
        let s = raw.trim().to_ascii_uppercase();
        const KNOWN: [(&str, CamooStatus); 11] = [
            ("CREATED", CamooStatus::Created),
            ("INITIALISED", CamooStatus::Initialised),
            ("PENDING", CamooStatus::Pending),
            ("IN_PROGRESS", CamooStatus::InProgress),
            ("CONFIRMED", CamooStatus::Confirmed),
            ("SUCCESS", CamooStatus::Success),
            ("FAILED", CamooStatus::Failed),
            ("ERRORED", CamooStatus::Errored),
            ("CANCELED", CamooStatus::Canceled),
            ("CANCELLED", CamooStatus::Canceled),
            ("UNDERINVESTIGATION", CamooStatus::UnderInvestigation),
        ];
        KNOWN
            .into_iter()
            .find(|(name, _)| *name == s)
            .map_or(CamooStatus::Unknown(s), |(_, st)| st)
    }
}

/// What a Camoo status means for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Not final: poll again.
    InFlight,
    /// Paid.
    Succeeded,
    /// Not paid, finally.
    Failed,
}

impl From<CamooStatus> for PaymentStatus {
    fn from(s: CamooStatus) -> Self {
        match s {
            CamooStatus::Created
            | CamooStatus::Initialised
            | CamooStatus::Pending
            | CamooStatus::InProgress
            | CamooStatus::UnderInvestigation
            | CamooStatus::Unknown(_) => PaymentStatus::InFlight,
            CamooStatus::Confirmed | CamooStatus::Success => PaymentStatus::Succeeded,
            CamooStatus::Failed | CamooStatus::Errored | CamooStatus::Canceled => {
                PaymentStatus::Failed
            }
        }
    }
}

/// The message of a Camoo error body (`{code, message, errors}`), redacted and bounded.
pub(crate) fn error_message(body: &[u8]) -> String {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return format!("non-JSON body ({} bytes)", body.len()),
    };
    let mut msg = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(errors) = v.get("errors").and_then(Value::as_object) {
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        if !fields.is_empty() {
            msg.push_str(&format!(" (fields: {})", fields.join(", ")));
        }
    }
    redact(&msg).chars().take(300).collect()
}

/// Masks anything that looks like a phone number: 7 or more digits, possibly separated by single
/// spaces, dashes, dots or parentheses, keep only their last three digits.
pub fn redact(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let is_sep = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')');
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Extend the run over digits and single separators followed by a digit.
        let mut j = i;
        let mut digits = 0;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                j += 1;
            } else if is_sep(chars[j]) && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
                j += 1;
            } else {
                break;
            }
        }
        let run = &chars[i..j];
        if digits >= 7 {
            let mut seen = 0;
            for c in run {
                if c.is_ascii_digit() {
                    seen += 1;
                    out.push(if digits - seen < 3 { *c } else { '*' });
                } else {
                    out.push(*c);
                }
            }
        } else {
            out.extend(run);
        }
        i = j;
    }
    out
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom("expected a string or number")),
    }
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Ok(None),
    }
}

fn opt_masked_phone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(opt_string_or_number(d)?.map(|p| mask_phone(&p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_case_insensitively() {
        use PaymentStatus::*;
        let cases = [
            ("CREATED", InFlight),
            ("initialised", InFlight),
            ("Pending", InFlight),
            ("IN_PROGRESS", InFlight),
            ("UNDERINVESTIGATION", InFlight),
            ("something_new", InFlight),
            ("CONFIRMED", Succeeded),
            ("success", Succeeded),
            ("FAILED", Failed),
            ("errored", Failed),
            ("CANCELED", Failed),
            ("Cancelled", Failed),
        ];
        for (raw, want) in cases {
            assert_eq!(PaymentStatus::from(CamooStatus::parse(raw)), want, "{raw}");
        }
    }

    #[test]
    fn payment_decodes_loose_types_and_masks_phone() {
        let p: Payment = serde_json::from_value(serde_json::json!({
            "id": 12345, "status": "PENDING", "amount": 1500, "created_at": 1700000000,
            "phone_number": "+237612345678", "external_reference": "abc"
        }))
        .unwrap();
        assert_eq!(p.id, "12345");
        assert_eq!(p.amount.as_deref(), Some("1500"));
        assert_eq!(p.phone_number.as_deref(), Some("**********678"));
    }

    #[test]
    fn error_messages_hide_phone_numbers() {
        let m = error_message(
            br#"{"code":400,"message":"bad number +237612345678","errors":{"phone_number":"x"}}"#,
        );
        assert!(!m.contains("612345"), "{m}");
        assert!(m.contains("phone_number"));
    }

    #[test]
    fn redaction_covers_spaced_numbers_and_keeps_short_ones() {
        assert_eq!(
            redact("call +237 6 12 34 56 78 now"),
            "call +*** * ** ** *6 78 now"
        );
        assert_eq!(redact("id 612345678"), "id ******678");
        assert_eq!(redact("HTTP 422 at 12:30"), "HTTP 422 at 12:30");
        let c = CreateCashout::new(
            Amount::from_minor(1).unwrap(),
            Currency::Xaf,
            "+237612345678",
            "r",
            None,
        );
        assert!(!format!("{c:?}").contains("612345"));
    }

    #[test]
    fn amounts_convert_to_major_units() {
        let a = Amount::from_minor(1250).unwrap();
        let c = CreateCashout::new(a, Currency::Eur, "+237612345678", "ref", None);
        assert_eq!(c.amount, "12.50");
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("notification_url").is_none());
    }
}
