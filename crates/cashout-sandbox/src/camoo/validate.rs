//! Parsing and validation of the `POST /cashout` body into a [`CashoutRequest`], collecting one
//! message per bad field the way Camoo's `errors` object does.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::api::invalid_data;
use super::model::{Amount, valid_phone};
use crate::sim::CodedError;

/// Currencies Camoo accepts.
const CURRENCIES: [&str; 4] = ["EUR", "USD", "XAF", "XOF"];
/// Currencies without a minor unit: amounts must be whole.
const WHOLE_CURRENCIES: [&str; 2] = ["XAF", "XOF"];
/// Longest accepted `external_reference`, in characters.
const MAX_REFERENCE_CHARS: usize = 190;

/// A valid cashout request.
#[derive(Debug)]
pub(crate) struct CashoutRequest {
    pub(crate) amount: Amount,
    pub(crate) phone: String,
    pub(crate) currency: String,
    pub(crate) notification_url: Option<reqwest::Url>,
    pub(crate) external_reference: Option<String>,
}

/// A field that may be absent or `null`.
fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|v| !v.is_null())
}

/// Parses and validates a `/cashout` body; 400 on malformed JSON or invalid fields.
pub(crate) fn parse_cashout(body: &[u8]) -> Result<CashoutRequest, CodedError> {
    let bad_request = |message: String| CodedError::new(StatusCode::BAD_REQUEST, message);
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("Malformed JSON body: {e}")))?;
    let Value::Object(body) = value else {
        return Err(bad_request(
            "The request body must be a JSON object.".to_owned(),
        ));
    };
    let mut errors = Map::new();
    let mut fail = |name: &str, message: String| {
        errors.insert(name.to_owned(), Value::String(message));
    };

    let currency = match field(&body, "currency") {
        None => Some("XAF".to_owned()),
        Some(Value::String(c)) if CURRENCIES.contains(&c.as_str()) => Some(c.clone()),
        Some(_) => {
            fail(
                "currency",
                format!(
                    "The selected currency is invalid (allowed: {}).",
                    CURRENCIES.join(", ")
                ),
            );
            None
        }
    };

    let amount = match field(&body, "amount") {
        None => Err("The amount field is required.".to_owned()),
        Some(Value::Number(n)) => Amount::from_json_number(n).map_err(|e| e.to_string()),
        Some(Value::String(s)) => Amount::parse_decimal(s).map_err(|e| e.to_string()),
        Some(_) => Err("The amount must be a number or a decimal string.".to_owned()),
    }
    .and_then(|amount| match &currency {
        Some(c) if WHOLE_CURRENCIES.contains(&c.as_str()) && !amount.is_whole() => {
            Err(format!("The amount must be a whole number for {c}."))
        }
        _ => Ok(amount),
    });
    let amount = amount.map_err(|m| fail("amount", m)).ok();

    let phone = match field(&body, "phone_number") {
        None => {
            fail(
                "phone_number",
                "The phone_number field is required.".to_owned(),
            );
            None
        }
        Some(Value::String(p)) if valid_phone(p) => Some(p.clone()),
        Some(_) => {
            fail(
                "phone_number",
                "The phone_number must be E.164 ('+' and 8 to 15 digits) or a 9-digit national number."
                    .to_owned(),
            );
            None
        }
    };

    let notification_url = match field(&body, "notification_url") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => match reqwest::Url::parse(s) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            _ => {
                fail(
                    "notification_url",
                    "The notification_url must be a valid http(s) URL.".to_owned(),
                );
                None
            }
        },
        Some(_) => {
            fail(
                "notification_url",
                "The notification_url must be a string.".to_owned(),
            );
            None
        }
    };

    let external_reference = match field(&body, "external_reference") {
        None => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_REFERENCE_CHARS => Some(s.clone()),
        Some(Value::String(_)) => {
            fail(
                "external_reference",
                format!(
                    "The external_reference may not be greater than {MAX_REFERENCE_CHARS} characters."
                ),
            );
            None
        }
        Some(_) => {
            fail(
                "external_reference",
                "The external_reference must be a string.".to_owned(),
            );
            None
        }
    };

    match field(&body, "shopping_cart_details") {
        None | Some(Value::Object(_)) => {}
        Some(_) => fail(
            "shopping_cart_details",
            "The shopping_cart_details must be an object.".to_owned(),
        ),
    }

    match (amount, phone, currency) {
        (Some(amount), Some(phone), Some(currency)) if errors.is_empty() => Ok(CashoutRequest {
            amount,
            phone,
            currency,
            notification_url,
            external_reference,
        }),
        _ => Err(invalid_data(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(body: &str) -> Vec<String> {
        match parse_cashout(body.as_bytes()) {
            Ok(_) => Vec::new(),
            Err(e) => {
                let mut keys: Vec<String> = e.errors.keys().cloned().collect();
                keys.sort();
                keys
            }
        }
    }

    #[test]
    fn accepts_minimal_and_full_bodies() {
        let minimal =
            parse_cashout(br#"{"amount": 1500, "phone_number": "+237612345671"}"#).expect("valid");
        assert_eq!(minimal.currency, "XAF");
        assert_eq!(minimal.amount.minor(), 150_000);
        let full = parse_cashout(
            br#"{"amount": "12.50", "phone_number": "612345671", "currency": "EUR",
                 "notification_url": "http://127.0.0.1:9/hook?x=1", "external_reference": "r-1",
                 "shopping_cart_details": {"k": 1}}"#,
        )
        .expect("valid");
        assert_eq!(full.amount.to_string(), "12.50");
        assert_eq!(full.external_reference.as_deref(), Some("r-1"));
        assert!(full.notification_url.is_some());
    }

    #[test]
    fn names_each_bad_field() {
        assert_eq!(errors_of("{}"), ["amount", "phone_number"]);
        assert_eq!(
            errors_of(r#"{"amount": "12.50", "phone_number": "+237612345671"}"#),
            ["amount"]
        );
        let long = "x".repeat(191);
        let body = format!(
            r#"{{"amount": true, "phone_number": "12", "currency": "GBP",
                "notification_url": "ftp://x", "external_reference": "{long}",
                "shopping_cart_details": []}}"#
        );
        assert_eq!(
            errors_of(&body),
            [
                "amount",
                "currency",
                "external_reference",
                "notification_url",
                "phone_number",
                "shopping_cart_details"
            ]
        );
        assert!(parse_cashout(b"{not json").is_err());
        assert!(parse_cashout(b"[1]").is_err());
    }
}
