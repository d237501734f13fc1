//! A cashout order as upstream sends it, parsed at the edge into domain types. Every refusal
//! names the field at fault, so the API can answer 422 with something a caller can act on.

use crate::ids::IdempotencyKey;
use crate::money::{Amount, Currency};
use crate::provider::Provider;
use crate::recipient::{
    CamooRecipient, OmnoBilling, OmnoRecipient, OmtAccountId, OmtRecipient, Otp, PhoneNumber,
    Recipient,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The most bytes `metadata` (and OMNO's `recipient.kyc`) may take once serialized.
pub const MAX_METADATA_BYTES: usize = 4096;

/// The deepest `metadata` (and OMNO's `recipient.kyc`) may nest: the object itself is level 1,
/// an object or array inside it level 2, and so on. The stored record wraps it in a few more
/// levels, so whatever is accepted stays far below serde_json's recursion limit (128) and can
/// always be read back.
pub const MAX_METADATA_DEPTH: usize = 8;

/// The most keys `metadata` (and OMNO's `recipient.kyc`) may hold, counted over every nested
/// object.
pub const MAX_METADATA_KEYS: usize = 64;

/// The largest amount accepted, in minor units: 15 digits. OMNO takes the amount as a JSON
/// number in major units (an `f64`), which carries any decimal of at most 15 significant digits
/// exactly; OMT and Camoo take it as an integer or a decimal string. It is also more than 9,000
/// times below `i64::MAX`, so converting between minor and major units (at most ×100) never
/// overflows.
pub const MAX_AMOUNT_MINOR: i64 = 999_999_999_999_999;

/// A valid cashout order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashoutOrder {
    /// The caller's idempotency key.
    pub idempotency_key: IdempotencyKey,
    /// Who pays.
    pub provider: Provider,
    /// How much, in minor units.
    pub amount: Amount,
    /// In which currency.
    pub currency: Currency,
    /// Who receives.
    pub recipient: Recipient,
    /// Free-form data the caller wants back; never sent to a provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// OMNO only: confirm right away (`auto`), or wait for `POST …/approve` (`manual`), or wait
    /// for an approve by another token than the one that enqueued it (`four_eyes`).
    #[serde(default)]
    pub approval: Approval,
}

/// When an OMNO payout is confirmed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Confirm as soon as OMNO created it.
    #[default]
    Auto,
    /// Wait in `submitted` until an approve (confirm) or a revoke (reject).
    Manual,
    /// As `manual`, and the approver must not be the producer that enqueued the order
    /// (separation of duties).
    #[serde(rename = "four_eyes")]
    FourEyes,
}

impl Approval {
    /// Waits for an approve (`manual` or `four_eyes`).
    pub fn is_manual(self) -> bool {
        matches!(self, Self::Manual | Self::FourEyes)
    }
}

/// Why an order was refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the offending field, e.g. `recipient.phone_number`.
    pub field: String,
    /// A stable machine-readable code.
    pub code: &'static str,
    /// A sentence for humans.
    pub message: String,
}

impl FieldError {
    fn new(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }
}

/// Providers whose adapters are built. Orders for the others are refused at the edge.
pub const AVAILABLE_PROVIDERS: [Provider; 3] = [Provider::Camoo, Provider::Omt, Provider::Omno];

impl CashoutOrder {
    /// Parses a JSON object into an order. The body must be an object; unknown top-level fields
    /// are refused so that a typo (`ammount`) is not silently ignored.
    pub fn parse(body: &Value) -> Result<Self, FieldError> {
        let obj = body
            .as_object()
            .ok_or_else(|| FieldError::new("body", "invalid_type", "body must be a JSON object"))?;
        const KNOWN: [&str; 7] = [
            "idempotency_key",
            "provider",
            "amount",
            "currency",
            "recipient",
            "metadata",
            "approval",
        ];
        if let Some(unknown) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(FieldError::new(
                unknown,
                "unknown_field",
                format!("unknown field '{unknown}'"),
            ));
        }

        let key = required_str(obj, "idempotency_key")?;
        let idempotency_key = IdempotencyKey::parse(key)
            .map_err(|e| FieldError::new("idempotency_key", "invalid", e.0))?;

        let provider: Provider = required_str(obj, "provider")?.parse().map_err(
            |e: crate::provider::UnknownProvider| {
                FieldError::new("provider", "unknown_provider", e.to_string())
            },
        )?;
        if !AVAILABLE_PROVIDERS.contains(&provider) {
            return Err(FieldError::new(
                "provider",
                "provider_unavailable",
                format!("provider '{provider}' is not available yet"),
            ));
        }

        let amount = match obj.get("amount") {
            None | Some(Value::Null) => return Err(missing("amount")),
            Some(Value::Number(n)) => match whole_number(n) {
                Whole::Exact(v) => v,
                Whole::TooLarge => return Err(amount_too_large()),
                Whole::Fractional => {
                    return Err(FieldError::new(
                        "amount",
                        "invalid_amount",
                        "amount must be an integer number of minor units",
                    ));
                }
            },
            Some(_) => {
                return Err(FieldError::new(
                    "amount",
                    "invalid_type",
                    "amount must be an integer number of minor units",
                ));
            }
        };
        if amount > MAX_AMOUNT_MINOR {
            return Err(amount_too_large());
        }
        let amount = Amount::from_minor(amount)
            .map_err(|e| FieldError::new("amount", "invalid_amount", e.to_string()))?;

        let currency: Currency = required_str(obj, "currency")?.parse().map_err(
            |e: crate::money::UnknownCurrency| {
                FieldError::new("currency", "unknown_currency", e.to_string())
            },
        )?;

        let recipient = match obj.get("recipient") {
            None | Some(Value::Null) => return Err(missing("recipient")),
            Some(Value::Object(r)) => parse_recipient(provider, currency, amount, r)?,
            Some(_) => {
                return Err(FieldError::new(
                    "recipient",
                    "invalid_type",
                    "recipient must be an object",
                ));
            }
        };

        let metadata = match obj.get("metadata") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                check_free_form("metadata", m)?;
                Some(m.clone())
            }
            Some(_) => {
                return Err(FieldError::new(
                    "metadata",
                    "invalid_type",
                    "metadata must be an object",
                ));
            }
        };

        let approval = match obj.get("approval") {
            None | Some(Value::Null) => Approval::Auto,
            Some(_) if provider != Provider::Omno => {
                return Err(FieldError::new(
                    "approval",
                    "unsupported",
                    "approval applies to omno cashouts only",
                ));
            }
            Some(Value::String(s)) if s == "auto" => Approval::Auto,
            Some(Value::String(s)) if s == "manual" => Approval::Manual,
            Some(Value::String(s)) if s == "four_eyes" => Approval::FourEyes,
            Some(_) => {
                return Err(FieldError::new(
                    "approval",
                    "invalid",
                    "approval must be 'auto', 'manual' or 'four_eyes'",
                ));
            }
        };
        Ok(Self {
            idempotency_key,
            provider,
            amount,
            currency,
            recipient,
            metadata,
            approval,
        })
    }

    /// A digest of everything but the idempotency key, used to tell a retry of the same order
    /// (same key, same fingerprint) from a conflicting one. Map keys serialize sorted, so the
    /// digest does not depend on the caller's field order.
    pub fn fingerprint(&self) -> String {
        // Without secrets: the digest is stored, and a 4-8 digit OTP would be easy to find
        // from it. The same key with only another OTP is therefore the same order.
        let mut recipient = self.recipient.clone();
        recipient.scrub_secrets();
        let canonical = serde_json::json!({
            "provider": self.provider,
            "amount": self.amount,
            "currency": self.currency,
            "recipient": recipient,
            "metadata": self.metadata,
            "approval": self.approval,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The largest integer a JSON number written with a fraction or an exponent (an `f64`) carries
/// exactly: 2^53 - 1.
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// A JSON number read as a whole number.
enum Whole {
    /// An integer, written as one (`1500`) or with a zero fraction or an exponent (`1500.0`,
    /// `1.5e3`: JSON Schema's `integer` takes them too) as long as that is exact.
    Exact(i64),
    /// A whole number past `i64` (or, written with a fraction, past 2^53 - 1).
    TooLarge,
    /// Not a whole number.
    Fractional,
}

fn whole_number(n: &serde_json::Number) -> Whole {
    if let Some(v) = n.as_i64() {
        return Whole::Exact(v);
    }
    if n.is_u64() {
        return Whole::TooLarge;
    }
    match n.as_f64() {
        Some(f) if f.fract() != 0.0 || !f.is_finite() => Whole::Fractional,
        // Exact: |f| is at most 2^53 - 1, a whole number, so the conversion loses nothing.
        #[allow(clippy::cast_possible_truncation)]
        Some(f) if f.abs() <= MAX_SAFE_INTEGER as f64 => Whole::Exact(f as i64),
        Some(_) => Whole::TooLarge,
        None => Whole::Fractional,
    }
}

/// A whole JSON number, if `v` is one (see [`whole_number`]).
fn whole(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => match whole_number(n) {
            Whole::Exact(i) => Some(i),
            Whole::TooLarge | Whole::Fractional => None,
        },
        _ => None,
    }
}

fn amount_too_large() -> FieldError {
    FieldError::new(
        "amount",
        "amount_too_large",
        format!("amount must be at most {MAX_AMOUNT_MINOR} minor units"),
    )
}

/// Bounds a free-form object the caller gives us to keep (`metadata`, OMNO's `recipient.kyc`):
/// at most [`MAX_METADATA_DEPTH`] levels, [`MAX_METADATA_KEYS`] keys in all and
/// [`MAX_METADATA_BYTES`] serialized, so that the record holding it can always be read back.
/// The walk is iterative: a deep value cannot exhaust the stack here.
fn check_free_form(field: &str, m: &Map<String, Value>) -> Result<(), FieldError> {
    let mut keys = m.len();
    let mut stack: Vec<(&Value, usize)> = m.values().map(|v| (v, 2)).collect();
    while let Some((v, depth)) = stack.pop() {
        if keys > MAX_METADATA_KEYS {
            break;
        }
        match v {
            Value::Object(_) | Value::Array(_) if depth > MAX_METADATA_DEPTH => {
                return Err(FieldError::new(
                    field,
                    "too_deep",
                    format!("{field} may nest at most {MAX_METADATA_DEPTH} levels deep"),
                ));
            }
            Value::Object(o) => {
                keys += o.len();
                stack.extend(o.values().map(|c| (c, depth + 1)));
            }
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    if keys > MAX_METADATA_KEYS {
        return Err(FieldError::new(
            field,
            "too_many_keys",
            format!("{field} may hold at most {MAX_METADATA_KEYS} keys in all"),
        ));
    }
    let size = serde_json::to_vec(m).map_or(usize::MAX, |b| b.len());
    if size > MAX_METADATA_BYTES {
        return Err(FieldError::new(
            field,
            "too_large",
            format!("{field} must be at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn missing(field: &str) -> FieldError {
    FieldError::new(field, "missing", format!("{field} is required"))
}

fn required_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(missing(field)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(FieldError::new(
            field,
            "invalid_type",
            format!("{field} must be a string"),
        )),
    }
}

/// The longest customer name accepted for OMT.
pub const MAX_CUSTOMER_NAME: usize = 100;

fn unknown_recipient_field(r: &Map<String, Value>, known: &[&str]) -> Result<(), FieldError> {
    match r.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(FieldError::new(
            &format!("recipient.{unknown}"),
            "unknown_field",
            format!("unknown field 'recipient.{unknown}'"),
        )),
        None => Ok(()),
    }
}

fn parse_omt(
    currency: Currency,
    amount: Amount,
    r: &Map<String, Value>,
) -> Result<Recipient, FieldError> {
    if !matches!(currency, Currency::Lbp | Currency::Usd) {
        return Err(FieldError::new(
            "currency",
            "unsupported_currency",
            "omt pays out in LBP or USD",
        ));
    }
    // OMT takes whole major units: 500 USD is `amount: 500`.
    let unit = 10_i64.pow(currency.exponent());
    if amount.minor() % unit != 0 {
        return Err(FieldError::new(
            "amount",
            "fractional_amount",
            format!(
                "omt pays whole {currency} only: amount must be a multiple of {unit} minor units"
            ),
        ));
    }
    unknown_recipient_field(r, &["account_id", "otp", "customer_name"])?;
    let account_id = match r.get("account_id") {
        None | Some(Value::Null) => return Err(missing("recipient.account_id")),
        Some(v) => whole(v)
            .filter(|v| *v <= MAX_SAFE_INTEGER)
            .and_then(|v| OmtAccountId::new(v).ok()),
    }
    .ok_or_else(|| {
        FieldError::new(
            "recipient.account_id",
            "invalid_account_id",
            "recipient.account_id must be a positive integer",
        )
    })?;
    let otp = match r.get("otp") {
        None | Some(Value::Null) => return Err(missing("recipient.otp")),
        Some(v @ Value::Number(_)) => whole(v)
            .filter(|v| *v >= 0)
            .and_then(|v| Otp::parse(&v.to_string()).ok()),
        Some(Value::String(s)) => Otp::parse(s).ok(),
        Some(_) => None,
    }
    .ok_or_else(|| {
        // Never echo the value: it is a secret.
        FieldError::new(
            "recipient.otp",
            "invalid_otp",
            "recipient.otp must be 4 to 8 digits",
        )
    })?;
    // At most MAX_CUSTOMER_NAME characters as sent; runs of whitespace are then collapsed.
    let customer_name = match r.get("customer_name") {
        None | Some(Value::Null) => return Err(missing("recipient.customer_name")),
        Some(Value::String(s)) if s.chars().count() <= MAX_CUSTOMER_NAME => {
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        Some(_) => String::new(),
    };
    if customer_name.is_empty() {
        return Err(FieldError::new(
            "recipient.customer_name",
            "invalid_name",
            format!("recipient.customer_name must be 1 to {MAX_CUSTOMER_NAME} characters"),
        ));
    }
    Ok(Recipient::Omt(OmtRecipient {
        account_id,
        otp: Some(otp),
        customer_name,
    }))
}

/// A required string at `path` of at most `max` characters as sent, not blank; kept trimmed.
/// The bound is on the string as sent, so that the document can state it exactly.
fn text(obj: &Map<String, Value>, key: &str, path: &str, max: usize) -> Result<String, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(missing(path)),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
            Ok(s.trim().to_owned())
        }
        Some(Value::String(_)) => Err(FieldError::new(
            path,
            "invalid",
            format!("{path} must be 1 to {max} characters, not blank"),
        )),
        Some(_) => Err(FieldError::new(
            path,
            "invalid_type",
            format!("{path} must be a string"),
        )),
    }
}

/// Like [`text`], for a field whose form is checked: kept exactly as sent (untrimmed), so a
/// space around it is refused by that check rather than silently dropped.
fn exact_text(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    max: usize,
) -> Result<String, FieldError> {
    text(obj, key, path, max)?;
    Ok(obj
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}

fn optional_text(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    max: usize,
) -> Result<Option<String>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => text(obj, key, path, max).map(Some),
    }
}

fn parse_omno(r: &Map<String, Value>) -> Result<Recipient, FieldError> {
    unknown_recipient_field(
        r,
        &[
            "external_user_id",
            "first_name",
            "last_name",
            "email",
            "phone_number",
            "date_of_birth",
            "billing",
            "kyc",
            "kyc_verified",
            "router_id",
            "direct_route_id",
        ],
    )?;
    let external_user_id = text(r, "external_user_id", "recipient.external_user_id", 64)?;
    let first_name = text(r, "first_name", "recipient.first_name", 100)?;
    let last_name = text(r, "last_name", "recipient.last_name", 100)?;
    let email = exact_text(r, "email", "recipient.email", 254)?;
    let ok_email = email
        .split_once('@')
        .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !d.starts_with('.'));
    if !ok_email || email.contains(char::is_whitespace) {
        return Err(FieldError::new(
            "recipient.email",
            "invalid_email",
            "recipient.email must be an e-mail address",
        ));
    }
    let phone_number = exact_text(r, "phone_number", "recipient.phone_number", 32)?;
    let digits = phone_number.chars().filter(char::is_ascii_digit).count();
    if !(6..=15).contains(&digits)
        || !phone_number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
    {
        return Err(FieldError::new(
            "recipient.phone_number",
            "invalid_phone",
            "recipient.phone_number must be 6 to 15 digits (spaces, +, - and parentheses allowed)",
        ));
    }
    let date_of_birth = exact_text(r, "date_of_birth", "recipient.date_of_birth", 10)?;
    // Exactly `YYYY-MM-DD` (chrono alone would take `2020-1-5` or a signed year).
    let shape = date_of_birth.len() == 10
        && date_of_birth.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape || chrono::NaiveDate::parse_from_str(&date_of_birth, "%Y-%m-%d").is_err() {
        return Err(FieldError::new(
            "recipient.date_of_birth",
            "invalid_date",
            "recipient.date_of_birth must be a date YYYY-MM-DD",
        ));
    }
    let billing = match r.get("billing") {
        None | Some(Value::Null) => return Err(missing("recipient.billing")),
        Some(Value::Object(b)) => b,
        Some(_) => {
            return Err(FieldError::new(
                "recipient.billing",
                "invalid_type",
                "recipient.billing must be an object",
            ));
        }
    };
    if let Some(unknown) = billing.keys().find(|k| {
        !["address", "city", "state", "country_code", "postal_code"].contains(&k.as_str())
    }) {
        return Err(FieldError::new(
            &format!("recipient.billing.{unknown}"),
            "unknown_field",
            format!("unknown field 'recipient.billing.{unknown}'"),
        ));
    }
    let country_code = exact_text(billing, "country_code", "recipient.billing.country_code", 2)?;
    if country_code.len() != 2 || !country_code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(FieldError::new(
            "recipient.billing.country_code",
            "invalid_country",
            "recipient.billing.country_code must be ISO 3166-1 alpha-2, e.g. US",
        ));
    }
    let billing = OmnoBilling {
        address: text(billing, "address", "recipient.billing.address", 200)?,
        city: text(billing, "city", "recipient.billing.city", 100)?,
        state: text(billing, "state", "recipient.billing.state", 100)?,
        country_code,
        postal_code: text(billing, "postal_code", "recipient.billing.postal_code", 20)?,
    };
    let kyc = match r.get("kyc") {
        None | Some(Value::Null) => None,
        Some(Value::Object(k)) => {
            check_free_form("recipient.kyc", k)?;
            Some(k.clone())
        }
        Some(_) => {
            return Err(FieldError::new(
                "recipient.kyc",
                "invalid_type",
                "recipient.kyc must be an object",
            ));
        }
    };
    let kyc_verified = match r.get("kyc_verified") {
        None | Some(Value::Null) => return Err(missing("recipient.kyc_verified")),
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(FieldError::new(
                "recipient.kyc_verified",
                "invalid_type",
                "recipient.kyc_verified must be true or false",
            ));
        }
    };
    Ok(Recipient::Omno(Box::new(OmnoRecipient {
        external_user_id,
        first_name,
        last_name,
        email,
        phone_number,
        date_of_birth,
        billing,
        kyc,
        kyc_verified,
        router_id: optional_text(r, "router_id", "recipient.router_id", 64)?,
        direct_route_id: optional_text(r, "direct_route_id", "recipient.direct_route_id", 64)?,
    })))
}

fn parse_recipient(
    provider: Provider,
    currency: Currency,
    amount: Amount,
    r: &Map<String, Value>,
) -> Result<Recipient, FieldError> {
    match provider {
        Provider::Camoo => {
            const CAMOO_CURRENCIES: [Currency; 4] =
                [Currency::Xaf, Currency::Xof, Currency::Eur, Currency::Usd];
            if !CAMOO_CURRENCIES.contains(&currency) {
                return Err(FieldError::new(
                    "currency",
                    "unsupported_currency",
                    "camoo pays out in XAF, XOF, EUR or USD",
                ));
            }
            if let Some(unknown) = r.keys().find(|k| k.as_str() != "phone_number") {
                return Err(FieldError::new(
                    &format!("recipient.{unknown}"),
                    "unknown_field",
                    format!("unknown field 'recipient.{unknown}'"),
                ));
            }
            let phone = match r.get("phone_number") {
                None | Some(Value::Null) => return Err(missing("recipient.phone_number")),
                Some(Value::String(s)) => s,
                Some(_) => {
                    return Err(FieldError::new(
                        "recipient.phone_number",
                        "invalid_type",
                        "recipient.phone_number must be a string",
                    ));
                }
            };
            let phone_number = PhoneNumber::parse(phone).map_err(|e| {
                FieldError::new("recipient.phone_number", "invalid_phone", e.to_string())
            })?;
            Ok(Recipient::Camoo(CamooRecipient { phone_number }))
        }
        Provider::Omt => parse_omt(currency, amount, r),
        Provider::Omno => parse_omno(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "idempotency_key": "order-1",
            "provider": "camoo",
            "amount": 1500,
            "currency": "XAF",
            "recipient": {"phone_number": "+237612345678"},
            "metadata": {"order": 42}
        })
    }

    fn field_of(v: Value) -> String {
        CashoutOrder::parse(&v).unwrap_err().field
    }

    #[test]
    fn parses_a_good_order() {
        let o = CashoutOrder::parse(&good()).unwrap();
        assert_eq!(o.amount.minor(), 1500);
        assert_eq!(o.currency, Currency::Xaf);
        assert_eq!(o.provider, Provider::Camoo);
    }

    #[test]
    fn each_bad_field_is_named() {
        let with = |k: &str, v: Value| {
            let mut g = good();
            g[k] = v;
            g
        };
        assert_eq!(field_of(with("amount", json!(0))), "amount");
        assert_eq!(field_of(with("amount", json!(-10))), "amount");
        assert_eq!(field_of(with("amount", json!(12.5))), "amount");
        assert_eq!(field_of(with("amount", json!("1500"))), "amount");
        assert_eq!(field_of(with("currency", json!("GBP"))), "currency");
        assert_eq!(field_of(with("currency", json!("LBP"))), "currency");
        assert_eq!(field_of(with("provider", json!("paypal"))), "provider");
        assert_eq!(field_of(with("approval", json!("manual"))), "approval");
        assert_eq!(
            field_of(with("idempotency_key", json!("k".repeat(129)))),
            "idempotency_key"
        );
        assert_eq!(
            field_of(with("recipient", json!({"phone_number": "12345"}))),
            "recipient.phone_number"
        );
        assert_eq!(
            field_of(with("recipient", json!({}))),
            "recipient.phone_number"
        );
        assert_eq!(field_of(with("ammount", json!(1))), "ammount");
        assert_eq!(
            field_of(with("metadata", json!({"x": "y".repeat(5000)}))),
            "metadata"
        );
        let mut no_key = good();
        no_key.as_object_mut().unwrap().remove("idempotency_key");
        assert_eq!(field_of(no_key), "idempotency_key");
    }

    fn omt() -> Value {
        json!({
            "idempotency_key": "omt-1",
            "provider": "omt",
            "amount": 50_000,
            "currency": "USD",
            "recipient": {"account_id": 123, "otp": 456789, "customer_name": "John  Doe Smith"},
        })
    }

    #[test]
    fn parses_omt_orders() {
        let o = CashoutOrder::parse(&omt()).unwrap();
        let Recipient::Omt(r) = &o.recipient else {
            panic!()
        };
        assert_eq!(r.account_id.get(), 123);
        assert_eq!(r.otp.as_ref().map(Otp::expose), Some("456789"));
        assert_eq!(r.customer_name, "John Doe Smith");
        let mut s = omt();
        s["recipient"]["otp"] = json!("012345");
        assert!(CashoutOrder::parse(&s).is_ok());
    }

    #[test]
    fn omt_refusals_name_the_field_and_never_echo_the_otp() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = omt();
            f(&mut v);
            CashoutOrder::parse(&v).unwrap_err()
        };
        assert_eq!(with(&|v| v["amount"] = json!(50_050)).field, "amount");
        assert_eq!(with(&|v| v["currency"] = json!("XAF")).field, "currency");
        assert_eq!(
            with(&|v| v["recipient"]["account_id"] = json!(0)).field,
            "recipient.account_id"
        );
        assert_eq!(
            with(&|v| v["recipient"]["account_id"] = json!("12")).field,
            "recipient.account_id"
        );
        let e = with(&|v| v["recipient"]["otp"] = json!(12));
        assert_eq!(e.field, "recipient.otp");
        assert!(!e.message.contains("12 "));
        assert_eq!(
            with(&|v| v["recipient"]["customer_name"] = json!("  ")).field,
            "recipient.customer_name"
        );
        assert_eq!(
            with(&|v| {
                v["recipient"].as_object_mut().unwrap().remove("otp");
            })
            .field,
            "recipient.otp"
        );
        assert_eq!(
            with(&|v| v["recipient"]["pin"] = json!(1)).field,
            "recipient.pin"
        );
    }

    fn omno() -> Value {
        json!({
            "idempotency_key": "omno-1", "provider": "omno", "amount": 10_000, "currency": "USD",
            "approval": "manual",
            "recipient": {
                "external_user_id": "123456789", "first_name": "John", "last_name": "Doe",
                "email": "john.doe@example.com", "phone_number": "1 1234567890",
                "date_of_birth": "1990-12-01", "kyc_verified": false,
                "billing": {"address": "123 Main St", "city": "Atlanta", "state": "GA",
                            "country_code": "US", "postal_code": "30308"}
            }
        })
    }

    #[test]
    fn parses_omno_and_names_every_missing_field() {
        let o = CashoutOrder::parse(&omno()).unwrap();
        assert_eq!(o.approval, Approval::Manual);
        for field in [
            "external_user_id",
            "first_name",
            "last_name",
            "email",
            "phone_number",
            "date_of_birth",
            "kyc_verified",
            "billing",
        ] {
            let mut v = omno();
            v["recipient"].as_object_mut().unwrap().remove(field);
            assert_eq!(
                CashoutOrder::parse(&v).unwrap_err().field,
                format!("recipient.{field}")
            );
        }
        for field in ["address", "city", "state", "country_code", "postal_code"] {
            let mut v = omno();
            v["recipient"]["billing"]
                .as_object_mut()
                .unwrap()
                .remove(field);
            assert_eq!(
                CashoutOrder::parse(&v).unwrap_err().field,
                format!("recipient.billing.{field}")
            );
        }
        let bad = |k: &str, val: Value| {
            let mut v = omno();
            v["recipient"][k] = val;
            CashoutOrder::parse(&v).unwrap_err().field
        };
        assert_eq!(bad("email", json!("nope")), "recipient.email");
        assert_eq!(
            bad("date_of_birth", json!("1990-13-01")),
            "recipient.date_of_birth"
        );
        assert_eq!(bad("kyc_verified", json!("yes")), "recipient.kyc_verified");
        let mut v = omno();
        v["approval"] = json!("later");
        assert_eq!(CashoutOrder::parse(&v).unwrap_err().field, "approval");
        v["approval"] = json!("four_eyes");
        let o = CashoutOrder::parse(&v).unwrap();
        assert_eq!(o.approval, Approval::FourEyes);
        assert!(o.approval.is_manual());
        assert_eq!(
            serde_json::to_value(o.approval).unwrap(),
            json!("four_eyes")
        );
        assert!(!Approval::Auto.is_manual());
    }

    /// `depth` objects nested in one another: `{"k":{"k":…{}}}`.
    fn nested(depth: usize) -> Value {
        let mut v = json!({});
        for _ in 1..depth {
            v = json!({ "k": v });
        }
        v
    }

    fn refusal(field: &str, v: Value) -> FieldError {
        let mut g = good();
        g[field] = v;
        CashoutOrder::parse(&g).unwrap_err()
    }

    #[test]
    fn metadata_is_bounded_in_depth_keys_and_size() {
        let mut ok = good();
        ok["metadata"] = nested(MAX_METADATA_DEPTH);
        assert!(CashoutOrder::parse(&ok).is_ok());

        for depth in [MAX_METADATA_DEPTH + 1, 125] {
            let e = refusal("metadata", nested(depth));
            assert_eq!((e.field.as_str(), e.code), ("metadata", "too_deep"));
            assert!(e.message.contains(&MAX_METADATA_DEPTH.to_string()), "{e}");
        }
        // Arrays count as levels too.
        let mut arrays = json!([]);
        for _ in 0..MAX_METADATA_DEPTH {
            arrays = json!([arrays]);
        }
        assert_eq!(refusal("metadata", json!({ "a": arrays })).code, "too_deep");

        let flat: Map<String, Value> = (0..MAX_METADATA_KEYS)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect();
        let mut ok = good();
        ok["metadata"] = Value::Object(flat.clone());
        assert!(CashoutOrder::parse(&ok).is_ok());
        let mut too_many = flat.clone();
        too_many.insert("one_more".into(), json!(1));
        let e = refusal("metadata", Value::Object(too_many));
        assert_eq!((e.field.as_str(), e.code), ("metadata", "too_many_keys"));
        assert!(e.message.contains(&MAX_METADATA_KEYS.to_string()), "{e}");
        // Keys are counted over every nested object.
        let spread = json!({
            "a": Value::Object(flat.iter().take(40).map(|(k, v)| (k.clone(), v.clone())).collect()),
            "b": [Value::Object(flat.iter().take(30).map(|(k, v)| (k.clone(), v.clone())).collect())],
        });
        assert_eq!(refusal("metadata", spread).code, "too_many_keys");

        let e = refusal("metadata", json!({"x": "y".repeat(MAX_METADATA_BYTES)}));
        assert_eq!((e.field.as_str(), e.code), ("metadata", "too_large"));
        assert!(e.message.contains("4096"), "{e}");
    }

    #[test]
    fn omno_kyc_is_bounded_like_metadata() {
        let mut v = omno();
        v["recipient"]["kyc"] = nested(125);
        let e = CashoutOrder::parse(&v).unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("recipient.kyc", "too_deep"));
        v["recipient"]["kyc"] = json!({"level": {"checked": true}});
        assert!(CashoutOrder::parse(&v).is_ok());
    }

    #[test]
    fn amounts_have_a_ceiling() {
        let mut ok = good();
        ok["amount"] = json!(MAX_AMOUNT_MINOR);
        assert_eq!(
            CashoutOrder::parse(&ok).map(|o| o.amount.minor()),
            Ok(MAX_AMOUNT_MINOR)
        );
        for huge in [
            json!(MAX_AMOUNT_MINOR + 1),
            json!(i64::MAX),
            json!(u64::MAX),
        ] {
            let e = refusal("amount", huge);
            assert_eq!((e.field.as_str(), e.code), ("amount", "amount_too_large"));
            assert!(e.message.contains(&MAX_AMOUNT_MINOR.to_string()), "{e}");
        }
        // The ceiling holds for every provider, not only Camoo.
        let mut v = omt();
        v["amount"] = json!(1_000_000_000_000_000_i64);
        assert_eq!(
            CashoutOrder::parse(&v).unwrap_err().code,
            "amount_too_large"
        );
        let mut v = omno();
        v["amount"] = json!(u64::MAX);
        assert_eq!(
            CashoutOrder::parse(&v).unwrap_err().code,
            "amount_too_large"
        );
    }

    /// Any JSON value, nested up to about twice the accepted depth, with short keys.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            // Short binary fractions: serde_json (without `float_roundtrip`) reads back any
            // float within one ULP, so only floats it reads back exactly are compared.
            (any::<i16>(), 0u32..8).prop_map(|(m, e)| json!(f64::from(m) / f64::from(1u16 << e))),
            r#"[a-z0-9 "\\é😀]{0,12}"#.prop_map(Value::String),
        ];
        leaf.prop_recursive(16, 256, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The record as stored holds the cashout as JSON: what we accepted must read back.
    fn round_trips(order: CashoutOrder) -> Result<(), TestCaseError> {
        let c = crate::Cashout::new(order, crate::TraceId::generate(), chrono::Utc::now());
        let stored = serde_json::to_string(&c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: crate::Cashout = serde_json::from_str(&stored)
            .map_err(|e| TestCaseError::fail(format!("accepted but unreadable: {e}")))?;
        prop_assert_eq!(&back.order, &c.order);
        let again = serde_json::to_string(&back).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again, stored);
        Ok(())
    }

    proptest! {
        #[test]
        fn accepted_metadata_always_reads_back(meta in any_json()) {
            let mut v = good();
            v["metadata"] = json!({ "m": meta });
            if let Ok(order) = CashoutOrder::parse(&v) {
                round_trips(order)?;
            }
        }

        #[test]
        fn accepted_kyc_always_reads_back(kyc in any_json()) {
            let mut v = omno();
            v["recipient"]["kyc"] = json!({ "k": kyc });
            if let Ok(order) = CashoutOrder::parse(&v) {
                round_trips(order)?;
            }
        }

        #[test]
        fn depth_is_accepted_exactly_up_to_the_bound(depth in 1usize..127) {
            let mut v = good();
            v["metadata"] = nested(depth);
            match CashoutOrder::parse(&v) {
                Ok(order) => {
                    prop_assert!(depth <= MAX_METADATA_DEPTH);
                    round_trips(order)?;
                }
                Err(e) => {
                    prop_assert!(depth > MAX_METADATA_DEPTH);
                    prop_assert_eq!(e.field, "metadata");
                }
            }
        }

        #[test]
        fn amounts_are_accepted_exactly_up_to_the_ceiling(amount in 1i64..=i64::MAX) {
            let mut v = good();
            v["amount"] = json!(amount);
            match CashoutOrder::parse(&v) {
                Ok(order) => {
                    prop_assert!(amount <= MAX_AMOUNT_MINOR);
                    round_trips(order)?;
                }
                Err(e) => {
                    prop_assert!(amount > MAX_AMOUNT_MINOR);
                    prop_assert_eq!(e.field, "amount");
                }
            }
        }
    }

    #[test]
    fn fingerprint_ignores_key_and_field_order() {
        let a = CashoutOrder::parse(&good()).unwrap();
        let mut other = good();
        other["idempotency_key"] = json!("order-2");
        let b = CashoutOrder::parse(&other).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let mut changed = good();
        changed["amount"] = json!(1501);
        let c = CashoutOrder::parse(&changed).unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}
