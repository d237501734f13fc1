//! Parsing and validation of the `POST /public/payout` body into a [`PayoutRequest`], collecting
//! one message per bad field, keyed by its dotted path (`customer.billing.countryCode`).

use serde_json::{Map, Value};

use crate::amount::{Amount, AmountError};

/// A valid create-payout request (only what the simulator keeps; the rest is checked and dropped).
#[derive(Debug)]
pub(crate) struct PayoutRequest {
    pub(crate) order_id: String,
    pub(crate) value: Amount,
    /// Three ASCII letters, upper-cased.
    pub(crate) currency: String,
    pub(crate) external_user_id: String,
    /// Full phone number: never log it.
    pub(crate) phone_number: String,
}

/// Field errors: dotted path → message.
pub(crate) type FieldErrors = Map<String, Value>;

/// Collects the errors of one body.
#[derive(Default)]
struct Checker {
    errors: FieldErrors,
}

/// `parent.name`, or `name` at the top level.
fn path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// A field that may be absent or `null`.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|v| !v.is_null())
}

impl Checker {
    fn fail(&mut self, path: String, message: &str) {
        self.errors.insert(path, Value::String(message.to_owned()));
    }

    /// A required, non-blank string.
    fn text(&mut self, object: &Map<String, Value>, parent: &str, name: &str) -> Option<String> {
        match field(object, name) {
            None => self.fail(path(parent, name), "is required"),
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.fail(path(parent, name), "must not be empty");
            }
            Some(Value::String(s)) => return Some(s.clone()),
            Some(_) => self.fail(path(parent, name), "must be a string"),
        }
        None
    }

    /// A required string checked by `valid`, which explains `message` otherwise.
    fn text_matching(
        &mut self,
        object: &Map<String, Value>,
        parent: &str,
        name: &str,
        valid: impl Fn(&str) -> bool,
        message: &str,
    ) -> Option<String> {
        let text = self.text(object, parent, name)?;
        if valid(&text) {
            Some(text)
        } else {
            self.fail(path(parent, name), message);
            None
        }
    }

    /// A required object.
    fn object<'a>(
        &mut self,
        object: &'a Map<String, Value>,
        parent: &str,
        name: &str,
    ) -> Option<&'a Map<String, Value>> {
        match field(object, name) {
            None => self.fail(path(parent, name), "is required"),
            Some(Value::Object(inner)) => return Some(inner),
            Some(_) => self.fail(path(parent, name), "must be an object"),
        }
        None
    }

    /// An optional field that must be an object when present.
    fn optional_object(&mut self, object: &Map<String, Value>, parent: &str, name: &str) {
        if let Some(value) = field(object, name)
            && !value.is_object()
        {
            self.fail(path(parent, name), "must be an object");
        }
    }

    /// An optional field that must be a string when present.
    fn optional_text(&mut self, object: &Map<String, Value>, parent: &str, name: &str) {
        if let Some(value) = field(object, name)
            && !value.is_string()
        {
            self.fail(path(parent, name), "must be a string");
        }
    }

    /// A required boolean.
    fn boolean(&mut self, object: &Map<String, Value>, name: &str) {
        match field(object, name) {
            None => self.fail(name.to_owned(), "is required"),
            Some(Value::Bool(_)) => {}
            Some(_) => self.fail(name.to_owned(), "must be a boolean"),
        }
    }

    /// The required `value`: a JSON number greater than 0, at most 2 decimals.
    fn value(&mut self, object: &Map<String, Value>) -> Option<Amount> {
        let message = match field(object, "value") {
            None => "is required",
            Some(Value::Number(n)) => match Amount::from_json_number(n) {
                Ok(amount) => return Some(amount),
                Err(AmountError::Invalid) => "must be a number",
                Err(AmountError::NotPositive) => "must be greater than 0",
                Err(AmountError::TooPrecise) => "must have at most 2 decimal places",
                Err(AmountError::TooLarge) => "is too large",
            },
            Some(_) => "must be a number",
        };
        self.fail("value".to_owned(), message);
        None
    }
}

fn letters(text: &str, count: usize) -> bool {
    text.len() == count && text.bytes().all(|b| b.is_ascii_alphabetic())
}

/// `YYYY-MM-DD`, a real date.
fn valid_date(text: &str) -> bool {
    text.len() == 10 && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// `local@domain`, both parts non-empty, no whitespace.
fn valid_email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !text.contains(char::is_whitespace)
}

/// 6 to 15 digits; spaces, `+`, `-` and parentheses allowed (`1 1234567890`).
fn valid_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    (6..=15).contains(&digits)
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
}

/// Parses and validates a create-payout body; the field errors when it is not valid (`"body"`
/// when it is not a JSON object).
pub(crate) fn parse_payout(body: &[u8]) -> Result<PayoutRequest, FieldErrors> {
    let mut checker = Checker::default();
    let body = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(body)) => body,
        Ok(_) => {
            checker.fail("body".to_owned(), "must be a JSON object");
            return Err(checker.errors);
        }
        Err(error) => {
            checker.fail("body".to_owned(), &format!("malformed JSON: {error}"));
            return Err(checker.errors);
        }
    };
    let c = &mut checker;

    let order_id = c.text(&body, "", "orderId");
    let value = c.value(&body);
    let currency = c.text_matching(
        &body,
        "",
        "currency",
        |s| letters(s, 3),
        "must be 3 letters (ISO 4217)",
    );
    c.boolean(&body, "kycVerified");
    c.optional_object(&body, "", "kyc");
    c.optional_text(&body, "", "routerId");
    c.optional_text(&body, "", "directRouteId");
    c.optional_object(&body, "", "merchantAdditionalData");

    let mut customer_fields = None;
    if let Some(customer) = c.object(&body, "", "customer") {
        let p = "customer";
        let external_user_id = c.text(customer, p, "externalUserId");
        c.text(customer, p, "firstName");
        c.text(customer, p, "lastName");
        c.text_matching(
            customer,
            p,
            "email",
            valid_email,
            "must be an e-mail address",
        );
        let phone_number = c.text_matching(
            customer,
            p,
            "phoneNumber",
            valid_phone,
            "must be 6 to 15 digits (spaces, +, - and parentheses allowed)",
        );
        c.text_matching(
            customer,
            p,
            "dateOfBirth",
            valid_date,
            "must be a date YYYY-MM-DD",
        );
        c.optional_object(customer, p, "kyc");
        if let Some(billing) = c.object(customer, p, "billing") {
            let p = "customer.billing";
            for name in ["address", "city", "state", "postalCode"] {
                c.text(billing, p, name);
            }
            c.text_matching(
                billing,
                p,
                "countryCode",
                |s| letters(s, 2),
                "must be 2 letters (ISO 3166-1 alpha-2)",
            );
        }
        customer_fields = external_user_id.zip(phone_number);
    }

    match (order_id, value, currency, customer_fields) {
        (Some(order_id), Some(value), Some(currency), Some((external_user_id, phone_number)))
            if checker.errors.is_empty() =>
        {
            Ok(PayoutRequest {
                order_id,
                value,
                currency: currency.to_ascii_uppercase(),
                external_user_id,
                phone_number,
            })
        }
        _ => Err(checker.errors),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid() -> Value {
        json!({
            "orderId": "944732c4608c441aa91379478b91f76e",
            "value": 100,
            "currency": "USD",
            "kycVerified": false,
            "customer": {
                "externalUserId": "123456781",
                "firstName": "John",
                "lastName": "Doe",
                "email": "john.doe@example.com",
                "phoneNumber": "1 1234567890",
                "dateOfBirth": "1990-12-01",
                "billing": {
                    "address": "123 Main St",
                    "city": "Atlanta",
                    "state": "GA",
                    "countryCode": "US",
                    "postalCode": "30308"
                },
                "kyc": {"idType": "string"}
            },
            "routerId": "944732c4608c441aa91379478b91f76e",
            "merchantAdditionalData": {"property1": {}}
        })
    }

    fn errors(body: &Value) -> Vec<String> {
        match parse_payout(body.to_string().as_bytes()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.keys().cloned().collect(),
        }
    }

    #[test]
    fn accepts_the_documented_example() {
        let request = parse_payout(valid().to_string().as_bytes()).expect("valid");
        assert_eq!(request.value.minor(), 10_000);
        assert_eq!(request.currency, "USD");
        assert_eq!(request.external_user_id, "123456781");
        let mut lower = valid();
        lower["currency"] = json!("usd");
        lower["value"] = json!(12.5);
        let request = parse_payout(lower.to_string().as_bytes()).expect("valid");
        assert_eq!(
            (request.currency.as_str(), request.value.minor()),
            ("USD", 1250)
        );
    }

    #[test]
    fn names_every_bad_field() {
        let mut body = valid();
        body["orderId"] = json!(42);
        body["value"] = json!(0);
        body["currency"] = json!("US");
        body["kycVerified"] = json!("no");
        body["routerId"] = json!(1);
        body["customer"]["email"] = json!("nope");
        body["customer"]["phoneNumber"] = json!("12");
        body["customer"]["dateOfBirth"] = json!("1990-02-30");
        body["customer"]["firstName"] = json!(" ");
        body["customer"]["billing"]["countryCode"] = json!("USA");
        body["customer"]["billing"]
            .as_object_mut()
            .map(|b| b.remove("city"));
        assert_eq!(
            errors(&body),
            [
                "currency",
                "customer.billing.city",
                "customer.billing.countryCode",
                "customer.dateOfBirth",
                "customer.email",
                "customer.firstName",
                "customer.phoneNumber",
                "kycVerified",
                "orderId",
                "routerId",
                "value",
            ]
        );
        assert_eq!(errors(&json!({"customer": "x"})).len(), 5);
        assert!(errors(&json!({})).contains(&"customer".to_owned()));
        let mut no_billing = valid();
        no_billing["customer"]["billing"] = Value::Null;
        assert_eq!(errors(&no_billing), ["customer.billing"]);
        assert_eq!(errors(&json!([1])), ["body"]);
        assert!(parse_payout(b"{").is_err());
        let mut precise = valid();
        precise["value"] = json!(1.234);
        assert_eq!(errors(&precise), ["value"]);
        let mut string_value = valid();
        string_value["value"] = json!("100");
        assert_eq!(errors(&string_value), ["value"]);
    }
}
