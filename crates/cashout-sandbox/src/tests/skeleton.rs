//! What every simulator gets from the shared skeleton, pinned for all three at once: an unknown
//! API path is the provider's own 404, a wrong method a bare 405, a refused authentication the
//! provider's 401 that counts nothing and consumes no fault, and the admin `/calls` and
//! `/config` routes answer bad input in each simulator's established shape.

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};

use super::client;
use crate::{SandboxConfig, spawn};

/// `(method, url)` → `(status, WWW-Authenticate, JSON body or null when the body is empty)`.
async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = http
        .request(method, url)
        .json(&json!({"accountId": 7, "orderId": "o-1"}))
        .send()
        .await
        .expect("send");
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json body")
    };
    (status, challenge, body)
}

#[tokio::test]
async fn every_simulator_answers_paths_methods_and_credentials_in_its_own_shape() {
    let sandbox = spawn(SandboxConfig::default()).await.expect("spawn");
    let http = client();
    let base = sandbox.base_url();
    // One fault on each endpoint the unauthenticated calls below reach.
    for (provider, endpoint) in [("camoo", "create"), ("omt", "paycti"), ("omno", "confirm")] {
        let fault = json!({"provider": provider, "endpoint": endpoint,
                           "fault": {"kind": "status", "status": 503}});
        let queued = http
            .post(format!("{base}/_admin/faults"))
            .json(&fault)
            .send()
            .await
            .expect("fault");
        assert_eq!(queued.status(), StatusCode::CREATED, "{provider}");
    }

    let cases = [
        (
            Method::GET,
            "/camoo/v1/payment/nope",
            (
                StatusCode::NOT_FOUND,
                None,
                json!({"code": 404, "message": "Not found", "errors": {}}),
            ),
        ),
        (
            Method::GET,
            "/camoo/v1/payment/cashout",
            (StatusCode::METHOD_NOT_ALLOWED, None, Value::Null),
        ),
        (
            Method::POST,
            "/camoo/v1/payment/cashout",
            (
                StatusCode::UNAUTHORIZED,
                None,
                json!({"code": 401, "message": "Invalid or missing API credentials", "errors": {}}),
            ),
        ),
        (
            Method::GET,
            "/omt/api/v1/cashout/nope",
            (
                StatusCode::NOT_FOUND,
                None,
                json!({"isSuccess": false, "error": "Not found"}),
            ),
        ),
        (
            Method::GET,
            "/omt/api/v1/cashout/PAYCTI",
            (StatusCode::METHOD_NOT_ALLOWED, None, Value::Null),
        ),
        (
            Method::POST,
            "/omt/api/v1/cashout/PAYCTI",
            (
                StatusCode::UNAUTHORIZED,
                Some("Basic realm=\"OMT sandbox\"".to_owned()),
                json!({"isSuccess": false, "error": "Unauthorized"}),
            ),
        ),
        (
            Method::GET,
            "/omno/nope",
            (StatusCode::NOT_FOUND, None, json!({"error": "Not Found"})),
        ),
        (
            Method::POST,
            "/omno/public/payout/abc",
            (StatusCode::METHOD_NOT_ALLOWED, None, Value::Null),
        ),
        (
            Method::PUT,
            "/omno/public/payout/abc/confirm",
            (
                StatusCode::UNAUTHORIZED,
                Some("Bearer realm=\"OMNO sandbox\"".to_owned()),
                json!({"error": "Unauthorized"}),
            ),
        ),
    ];
    for (method, path, expected) in cases {
        let got = call(&http, method.clone(), &format!("{base}{path}")).await;
        assert_eq!(got, expected, "{method} {path}");
    }

    for (provider, zero) in [
        ("camoo", json!({"create": 0, "verify": 0, "account": 0})),
        (
            "omt",
            json!({"getcti": 0, "paycti": 0, "revoke": 0, "failed_attempts": 0}),
        ),
        (
            "omno",
            json!({"create": 0, "confirm": 0, "reject": 0, "status": 0}),
        ),
    ] {
        let calls: Value = http
            .get(format!("{base}/_admin/{provider}/calls"))
            .send()
            .await
            .expect("calls")
            .json()
            .await
            .expect("calls body");
        assert_eq!(calls, zero, "{provider}: a 401 counts nothing");
    }
    let faults: Value = http
        .get(format!("{base}/_admin/faults"))
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("faults body");
    let counts: Vec<&Value> = faults["faults"]
        .as_array()
        .expect("list")
        .iter()
        .map(|f| &f["count"])
        .collect();
    assert_eq!(counts, [&json!(1); 3], "a 401 consumes no fault");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn admin_routes_refuse_bad_input_in_each_simulators_shape() {
    let sandbox = spawn(SandboxConfig::default()).await.expect("spawn");
    let http = client();
    let base = sandbox.base_url();
    for (provider, message, field, prefix) in [
        ("camoo", "Invalid config patch: ", None, ""),
        ("omt", "Invalid request", Some("body"), "Invalid body: "),
        (
            "omno",
            "Invalid request",
            Some("body"),
            "Invalid config patch: ",
        ),
    ] {
        let response = http
            .put(format!("{base}/_admin/{provider}/config"))
            .json(&json!({"token": "x"}))
            .send()
            .await
            .expect("put config");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{provider}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], 400, "{provider}");
        let text = |v: &Value| v.as_str().expect("string").to_owned();
        match field {
            None => {
                assert!(text(&body["message"]).starts_with(message), "{body}");
                assert_eq!(body["errors"], json!({}), "{provider}");
            }
            Some(field) => {
                assert_eq!(body["message"], message, "{provider}");
                assert!(text(&body["errors"][field]).starts_with(prefix), "{body}");
            }
        }
    }

    let bad_account = http
        .get(format!("{base}/_admin/omt/calls?account_id=x"))
        .send()
        .await
        .expect("omt calls");
    assert_eq!(bad_account.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad_account.json().await.expect("json");
    assert_eq!(
        body,
        json!({"code": 400, "message": "Invalid request",
               "errors": {"account_id": "The account_id must be an integer."}})
    );
    // Camoo's counts have no subject: a query string changes nothing.
    let camoo: Value = http
        .get(format!("{base}/_admin/camoo/calls?account_id=x"))
        .send()
        .await
        .expect("camoo calls")
        .json()
        .await
        .expect("json");
    assert_eq!(camoo, json!({"create": 0, "verify": 0, "account": 0}));
    sandbox.shutdown().await;
}
