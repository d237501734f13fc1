//! OMT wire types and the one classification of its answers. A failure may arrive as HTTP 200
//! with `isSuccess: false` or as a 4xx, with its text in `error` or in `value`; all of them land
//! in [`OmtFailure`].

use crate::camoo::transformers::redact;
use crate::error::ProviderError;
use cashout_core::recipient::mask_phone;
use cashout_core::{Amount, Currency};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

/// `PAYCTI` body. `amount` is in major units.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayCti {
    /// The account.
    pub account_id: i64,
    /// Major units (500 for USD 500).
    pub amount: i64,
    /// 0 = LBP, 1 = USD.
    pub currency: i32,
    /// As OMT holds it.
    pub customer_name: String,
    /// Ours, stored before the call: the idempotency key towards OMT.
    pub receipt_number: String,
}

impl std::fmt::Debug for PayCti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayCti")
            .field("account_id", &self.account_id)
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("receipt_number", &self.receipt_number)
            .finish_non_exhaustive()
    }
}

/// OMT's currency code: 0 = LBP, 1 = USD; OMT pays nothing else.
pub fn omt_currency(c: Currency) -> Option<i32> {
    match c {
        Currency::Lbp => Some(0),
        Currency::Usd => Some(1),
        Currency::Xaf | Currency::Xof | Currency::Eur => None,
    }
}

impl PayCti {
    /// The PAYCTI of an order: whole major units (OMT has none smaller), OMT's currency code.
    /// `None` when OMT cannot pay it (a currency other than LBP or USD, or a fraction of a
    /// major unit).
    pub fn for_order(
        account_id: i64,
        amount: Amount,
        currency: Currency,
        customer_name: String,
        receipt_number: String,
    ) -> Option<Self> {
        let unit = 10_i64.pow(currency.exponent());
        if amount.minor() % unit != 0 {
            return None;
        }
        Some(Self {
            account_id,
            amount: amount.minor() / unit,
            currency: omt_currency(currency)?,
            customer_name,
            receipt_number,
        })
    }
}

/// What `GETCTI` says about the pending cashout.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CtiDetails {
    /// Full name.
    #[serde(default)]
    pub name: String,
    /// Major units.
    pub amount: i64,
    /// 0 = LBP, 1 = USD.
    pub currency: i32,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Middle name.
    #[serde(default)]
    pub middle_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: String,
    /// Kept masked only.
    #[serde(default, deserialize_with = "masked")]
    pub mobile_number: Option<String>,
}

impl CtiDetails {
    /// What differs between an order (amount, currency, the customer's name) and this answer;
    /// empty when they agree.
    pub fn mismatches(
        &self,
        amount: Amount,
        currency: Currency,
        customer_name: &str,
    ) -> Vec<&'static str> {
        let mut out = Vec::new();
        let unit = 10_i64.pow(currency.exponent());
        if self.amount.checked_mul(unit) != Some(amount.minor()) {
            out.push("amount");
        }
        if omt_currency(currency) != Some(self.currency) {
            out.push("currency");
        }
        if !self.name_matches(customer_name) {
            out.push("customer name");
        }
        out
    }

    /// True when `name` is one of the ways OMT's record can be written (case and spacing
    /// ignored): the full `name`, first + last, or first + middle + last.
    pub fn name_matches(&self, name: &str) -> bool {
        let norm = |s: &str| {
            s.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let want = norm(name);
        let middle = self.middle_name.as_deref().unwrap_or("");
        [
            norm(&self.name),
            norm(&format!("{} {}", self.first_name, self.last_name)),
            norm(&format!("{} {middle} {}", self.first_name, self.last_name)),
        ]
        .iter()
        .any(|n| !n.is_empty() && *n == want)
    }
}

fn masked<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(mask_phone(&s)),
        Value::Number(n) => Some(mask_phone(&n.to_string())),
        _ => None,
    })
}

/// Every failure OMT is known to answer, plus anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OmtFailure {
    /// "Account not found! Please check the info." (wrong account or OTP, or nothing pending).
    NotFound,
    /// "Account details do not match! Please check info."
    DetailsMismatch,
    /// "Account is locked due to multiple failed attempts."
    LockedAfterFailures,
    /// "Account is locked, please contact support." (expired)
    LockedContactSupport,
    /// "Cashout Failed"
    CashoutFailed,
    /// "Revoke Failed"
    RevokeFailed,
    /// Anything else (redacted).
    Unknown(String),
}

impl OmtFailure {
    /// Reads OMT's text.
    pub fn parse(text: &str) -> Self {
        let t = text.to_lowercase();
        if t.contains("locked") && t.contains("multiple failed") {
            OmtFailure::LockedAfterFailures
        } else if t.contains("locked") {
            OmtFailure::LockedContactSupport
        } else if t.contains("not found") {
            OmtFailure::NotFound
        } else if t.contains("do not match") || t.contains("does not match") {
            OmtFailure::DetailsMismatch
        } else if t.contains("cashout failed") {
            OmtFailure::CashoutFailed
        } else if t.contains("revoke failed") {
            OmtFailure::RevokeFailed
        } else {
            OmtFailure::Unknown(
                redact_short_digits(&redact(text))
                    .chars()
                    .take(200)
                    .collect(),
            )
        }
    }

    /// Whether OMT counts it towards the lock at 4. Unknown failures are counted too: the guard
    /// errs on the side of the customer.
    pub fn counts_as_failed_attempt(&self) -> bool {
        match self {
            OmtFailure::NotFound
            | OmtFailure::DetailsMismatch
            | OmtFailure::CashoutFailed
            | OmtFailure::Unknown(_) => true,
            OmtFailure::LockedAfterFailures
            | OmtFailure::LockedContactSupport
            | OmtFailure::RevokeFailed => false,
        }
    }

    /// Whether OMT says the account is locked.
    pub fn is_lock(&self) -> bool {
        match self {
            OmtFailure::LockedAfterFailures | OmtFailure::LockedContactSupport => true,
            OmtFailure::NotFound
            | OmtFailure::DetailsMismatch
            | OmtFailure::CashoutFailed
            | OmtFailure::RevokeFailed
            | OmtFailure::Unknown(_) => false,
        }
    }
}

impl std::fmt::Display for OmtFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OmtFailure::NotFound => f.write_str("account not found (wrong account or OTP)"),
            OmtFailure::DetailsMismatch => f.write_str("account details do not match"),
            OmtFailure::LockedAfterFailures => {
                f.write_str("account locked after multiple failed attempts")
            }
            OmtFailure::LockedContactSupport => f.write_str("account locked, contact OMT support"),
            OmtFailure::CashoutFailed => f.write_str("cashout failed"),
            OmtFailure::RevokeFailed => f.write_str("revoke failed"),
            OmtFailure::Unknown(t) => write!(f, "unrecognised failure: {t}"),
        }
    }
}

/// Masks every run of four or more digits: an OMT text could echo an OTP.
fn redact_short_digits(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 4 {
            out.extend(std::iter::repeat_n('*', run.len()));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// An OMT answer: success with its value, or a business failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OmtAnswer<T> {
    /// `isSuccess: true`.
    Ok(T),
    /// `isSuccess: false`, classified.
    Failed(OmtFailure),
}

impl<T> OmtAnswer<T> {
    /// Drops the success value.
    pub fn discard(self) -> OmtAnswer<()> {
        match self {
            OmtAnswer::Ok(_) => OmtAnswer::Ok(()),
            OmtAnswer::Failed(f) => OmtAnswer::Failed(f),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    is_success: bool,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    error: Option<String>,
}

/// Reads any OMT answer. 401 is always a credentials problem and 429 a refusal before
/// processing (neither counted as a failed attempt); 5xx and 408 are transport-level errors whatever their body (a server error after a
/// PAYCTI may come after the payout was executed, so it must not read as a refusal); an
/// `isSuccess` body with another status is classified; anything else is a contract error.
pub(crate) async fn read<T: DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<OmtAnswer<T>, ProviderError> {
    let answer = crate::client::Answer::read(resp).await?;
    let (status, bytes) = (answer.status, &answer.bytes);
    // OMT's `Retry-After`, if it sends one, is honoured like any provider's.
    let http = |message: String| answer.error(&message);
    if status == 401 {
        return Err(http("unauthorized".to_owned()));
    }
    // 429 is a refusal before processing (RFC 6585) whatever the body says: an HTTP error that
    // `retry.refused_statuses` retries and the lockout guard does not count, never an OMT
    // failure text that could read as an attempt.
    if status == 429 {
        return Err(http("too many requests".to_owned()));
    }
    if status >= 500 || status == 408 {
        return Err(http(format!("server error ({} bytes)", bytes.len())));
    }
    let Ok(env) = serde_json::from_slice::<Envelope>(bytes) else {
        return if (200..300).contains(&status) {
            Err(ProviderError::Decode(format!(
                "no isSuccess in a {status} answer ({} bytes)",
                bytes.len()
            )))
        } else {
            Err(http(format!("non-OMT body ({} bytes)", bytes.len())))
        };
    };
    if env.is_success {
        return serde_json::from_value(env.value)
            .map(OmtAnswer::Ok)
            .map_err(|e| ProviderError::Decode(redact(&e.to_string())));
    }
    let text = env
        .error
        .or_else(|| env.value.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(OmtAnswer::Failed(OmtFailure::parse(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_convert_to_omt_wire_form() {
        let usd = |minor| Amount::from_minor(minor).unwrap();
        let p = PayCti::for_order(7, usd(50_000), Currency::Usd, "J".into(), "r".into()).unwrap();
        assert_eq!((p.amount, p.currency), (500, 1));
        assert!(PayCti::for_order(7, usd(50_050), Currency::Usd, "J".into(), "r".into()).is_none());
        assert!(PayCti::for_order(7, usd(500), Currency::Xaf, "J".into(), "r".into()).is_none());
        assert_eq!(omt_currency(Currency::Lbp), Some(0));
        let d = CtiDetails {
            name: "John Doe".into(),
            amount: 500,
            currency: 1,
            first_name: "John".into(),
            middle_name: None,
            last_name: "Doe".into(),
            mobile_number: None,
        };
        assert!(
            d.mismatches(usd(50_000), Currency::Usd, "john  doe")
                .is_empty()
        );
        assert_eq!(
            d.mismatches(usd(40_000), Currency::Lbp, "Jane Doe"),
            ["amount", "currency", "customer name"]
        );
    }

    #[test]
    fn every_documented_text_is_classified() {
        use OmtFailure::*;
        let cases = [
            ("Account not found! Please check the info.", NotFound),
            ("Account not found! Please check info.", NotFound),
            (
                "Account details do not match! Please check info.",
                DetailsMismatch,
            ),
            (
                "Account is locked due to multiple failed attempts.",
                LockedAfterFailures,
            ),
            (
                "Account is locked, please contact support.",
                LockedContactSupport,
            ),
            ("Cashout Failed", CashoutFailed),
            ("Revoke Failed", RevokeFailed),
        ];
        for (text, want) in cases {
            assert_eq!(OmtFailure::parse(text), want, "{text}");
        }
        assert!(matches!(OmtFailure::parse("Boom"), Unknown(_)));
        assert!(
            !OmtFailure::parse("bad otp 482913")
                .to_string()
                .contains("4829")
        );
        assert!(
            !OmtFailure::parse("call +961 71 234 567")
                .to_string()
                .contains("234")
        );
    }

    #[test]
    fn which_failures_count_towards_the_lock() {
        assert!(OmtFailure::NotFound.counts_as_failed_attempt());
        assert!(OmtFailure::DetailsMismatch.counts_as_failed_attempt());
        assert!(OmtFailure::CashoutFailed.counts_as_failed_attempt());
        assert!(!OmtFailure::LockedAfterFailures.counts_as_failed_attempt());
        assert!(OmtFailure::LockedContactSupport.is_lock());
    }

    #[test]
    fn names_match_loosely() {
        let d: CtiDetails = serde_json::from_value(serde_json::json!({
            "name": "John Doe Smith", "amount": 500, "currency": 1, "currencyName": "USD",
            "firstName": "John", "middleName": "Doe", "lastName": "Smith",
            "mobileNumber": "+96171234567"
        }))
        .unwrap();
        assert!(d.name_matches("john  doe smith"));
        assert!(d.name_matches("John Smith"));
        assert!(!d.name_matches("Jane Smith"));
        assert_eq!(d.mobile_number.as_deref(), Some("*********567"));
    }

    #[test]
    fn paycti_debug_hides_the_name() {
        let p = PayCti {
            account_id: 1,
            amount: 500,
            currency: 1,
            customer_name: "John Doe".into(),
            receipt_number: "R1".into(),
        };
        assert!(!format!("{p:?}").contains("John"));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["receiptNumber"], "R1");
        assert_eq!(json["customerName"], "John Doe");
    }
}
