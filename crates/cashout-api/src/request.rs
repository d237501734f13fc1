//! The `POST /v1/cashouts` body as the OpenAPI document shows it: written out as JSON Schema,
//! since parsing is done by `CashoutOrder::parse` (which takes any JSON object and names the
//! field it refuses) and the document must say exactly what it accepts: one shape per provider,
//! the currencies and amounts each takes, every bound on every string. `make fuzz` holds the
//! server to it (a schema-valid body is accepted, a schema-violating one refused).

use serde_json::{Value, json};
use std::borrow::Cow;
use utoipa::openapi::{RefOr, Schema};

/// The most minor units an amount may have (`cashout_core::order::MAX_AMOUNT_MINOR`).
const MAX_AMOUNT: i64 = cashout_core::order::MAX_AMOUNT_MINOR;

/// A string of at most `max` characters that is not blank (it is trimmed before it is kept).
fn text(max: usize, description: &str) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": "\\S", "description": description})
}

fn nullable(mut v: Value) -> Value {
    v["type"] = json!([v["type"].clone(), "null"]);
    v
}

fn free_form(description: &str) -> Value {
    json!({
        "type": ["object", "null"],
        "maxProperties": 64,
        "description": description,
    })
}

/// The fields every order has; `provider`, `currency`, `amount` and `recipient` are narrowed
/// per provider.
fn order(
    provider: &str,
    currencies: &[&str],
    amount: Value,
    recipient: &str,
    approval: Value,
) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["idempotency_key", "provider", "amount", "currency", "recipient"],
        "properties": {
            "idempotency_key": {
                "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$",
                "description": "1-128 visible ASCII characters (no spaces or control \
                    characters); a retry must reuse it. Scoped to the calling token."
            },
            "provider": {"type": "string", "enum": [provider]},
            "amount": amount,
            "currency": {"type": "string", "enum": currencies},
            "recipient": {"$ref": format!("#/components/schemas/{recipient}")},
            "metadata": free_form(
                "Free-form object returned as given: at most 8 levels deep, 64 keys in all \
                 nested objects and 4096 bytes serialized (422 `metadata` otherwise)."),
            "approval": approval,
        }
    })
}

fn amount(multiple_of: Option<i64>) -> Value {
    let mut a = json!({
        "type": "integer", "minimum": 1, "maximum": MAX_AMOUNT,
        "description": "Minor units (XAF and XOF have none: 1500 is 1500 XAF; 1250 EUR is \
            12.50 EUR); at most 15 digits.",
    });
    if let Some(m) = multiple_of {
        a["multipleOf"] = json!(m);
        a["minimum"] = json!(m);
        a["description"] = json!(
            "Minor units of a whole amount: OMT pays whole LBP or USD \
            (500 USD is 50000)."
        );
    }
    a
}

/// Every schema of the request, by name.
pub(crate) fn schemas() -> Vec<(&'static str, Value)> {
    let no_approval = json!({
        "type": "null",
        "description": "Only for OMNO cashouts: absent or null here."
    });
    let approval = json!({
        "type": ["string", "null"], "enum": ["auto", "manual", "four_eyes", null],
        "description": "`auto` (default) confirms the payout as soon as OMNO created it; \
            `manual` waits in `submitted` for `POST /v1/cashouts/{id}/approve` (or a revoke); `four_eyes` as `manual`, and the approver must not be the token that enqueued it."
    });
    vec![
        (
            "CreateCashoutRequest",
            json!({
                "description": "A cashout order. `provider` decides the shape: each provider \
                    has its own currencies and recipient.",
                "oneOf": [
                    {"$ref": "#/components/schemas/CamooCashoutRequest"},
                    {"$ref": "#/components/schemas/OmtCashoutRequest"},
                    {"$ref": "#/components/schemas/OmnoCashoutRequest"},
                ]
            }),
        ),
        (
            "CamooCashoutRequest",
            order(
                "camoo",
                &["XAF", "XOF", "EUR", "USD"],
                amount(None),
                "CamooRecipientRequest",
                no_approval.clone(),
            ),
        ),
        (
            "OmtCashoutRequest",
            order(
                "omt",
                &["LBP", "USD"],
                amount(Some(100)),
                "OmtRecipientRequest",
                no_approval,
            ),
        ),
        (
            "OmnoCashoutRequest",
            order(
                "omno",
                &["LBP", "USD", "XAF", "XOF", "EUR"],
                amount(None),
                "OmnoRecipientRequest",
                approval,
            ),
        ),
        (
            "CamooRecipientRequest",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["phone_number"],
                "properties": {
                    "phone_number": {
                        "type": "string", "pattern": "^\\+[1-9][0-9]{7,14}$",
                        "description": "E.164: `+`, then 8 to 15 digits, the first not 0. \
                            Masked in answers."
                    }
                }
            }),
        ),
        (
            "OmtRecipientRequest",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["account_id", "otp", "customer_name"],
                "properties": {
                    "account_id": {
                        "type": "integer", "minimum": 1,
                        "maximum": cashout_core::order::MAX_SAFE_INTEGER,
                        "description": "The customer's OMT account id."
                    },
                    "otp": {
                        "description": "The customer's OTP, 4 to 8 digits, as a string or a \
                            number. Never returned or logged.",
                        "oneOf": [
                            {"type": "string", "pattern": "^[0-9]{4,8}$"},
                            {"type": "integer", "minimum": 1000, "maximum": 99_999_999},
                        ]
                    },
                    "customer_name": text(100, "The customer's name as OMT holds it; runs \
                        of spaces are collapsed."),
                }
            }),
        ),
        (
            "OmnoRecipientRequest",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["external_user_id", "first_name", "last_name", "email",
                    "phone_number", "date_of_birth", "billing", "kyc_verified"],
                "properties": {
                    "external_user_id": text(64, "Our id of the customer at OMNO."),
                    "first_name": text(100, "First name."),
                    "last_name": text(100, "Last name."),
                    "email": {
                        "type": "string", "maxLength": 254,
                        "pattern": "^[^\\s@]+@[^\\s.][^\\s.]*\\.\\S*$",
                        "description": "An e-mail address: no spaces, a dot in the domain."
                    },
                    "phone_number": {
                        "type": "string", "maxLength": 32,
                        "pattern": "^[+() -]*(?:[0-9][+() -]*){6,15}$",
                        "description": "6 to 15 digits; spaces, `+`, `-` and parentheses \
                            allowed. Masked in answers."
                    },
                    "date_of_birth": {
                        "type": "string", "format": "date",
                        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                        "description": "`YYYY-MM-DD`."
                    },
                    "billing": {"$ref": "#/components/schemas/OmnoBillingRequest"},
                    "kyc_verified": {"type": "boolean", "description": "Whether the customer \
                        passed KYC."},
                    "kyc": free_form("KYC details, passed to OMNO as given; bounded like \
                        `metadata`."),
                    "router_id": nullable(text(64, "An OMNO router.")),
                    "direct_route_id": nullable(text(64, "An OMNO direct route.")),
                }
            }),
        ),
        (
            "OmnoBillingRequest",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["address", "city", "state", "country_code", "postal_code"],
                "properties": {
                    "address": text(200, "Street address."),
                    "city": text(100, "City."),
                    "state": text(100, "State or region."),
                    "country_code": {
                        "type": "string", "pattern": "^[A-Z]{2}$",
                        "description": "ISO 3166-1 alpha-2, upper case (`US`)."
                    },
                    "postal_code": text(20, "Postal code."),
                }
            }),
        ),
    ]
}

/// `GET /v1/dlq?since=`: an RFC 3339 time or a duration back from now, which a parameter
/// attribute cannot say (two forms), so it is set here.
pub(crate) struct SinceParam;

impl utoipa::Modify for SinceParam {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let schema = json!({"anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": "^[0-9]{1,6}[smhd]$"},
        ]});
        let Ok(schema) = serde_json::from_value::<RefOr<Schema>>(schema) else {
            return;
        };
        let params = openapi
            .paths
            .paths
            .get_mut("/v1/dlq")
            .and_then(|item| item.get.as_mut())
            .and_then(|op| op.parameters.as_mut());
        for p in params.into_iter().flatten() {
            if p.name == "since" {
                p.schema = Some(schema.clone());
            }
        }
    }
}

/// The request schemas as OpenAPI components.
pub(crate) fn components() -> Vec<(String, RefOr<Schema>)> {
    schemas()
        .into_iter()
        .filter_map(|(name, v)| match serde_json::from_value(v) {
            Ok(s) => Some((name.to_owned(), s)),
            Err(e) => {
                tracing::error!(schema = name, error = %e, "a request schema does not load");
                None
            }
        })
        .collect()
}

/// `POST /v1/cashouts`'s body, for `request_body = …` (its schema is [`schemas`]).
pub(crate) struct CreateCashoutRequest;

impl utoipa::PartialSchema for CreateCashoutRequest {
    fn schema() -> RefOr<Schema> {
        components()
            .into_iter()
            .find(|(n, _)| n == "CreateCashoutRequest")
            .map(|(_, s)| s)
            .unwrap_or_default()
    }
}

impl utoipa::ToSchema for CreateCashoutRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CreateCashoutRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(components());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing written here is lost on the way into the document.
    #[test]
    fn every_schema_loads_as_written() {
        for (name, v) in schemas() {
            let s: RefOr<Schema> = serde_json::from_value(v.clone()).expect(name);
            let back = serde_json::to_value(&s).expect(name);
            assert_eq!(strip_nulls(back), strip_nulls(v), "{name}");
        }
    }

    fn strip_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, strip_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
            v => v,
        }
    }
}
