//! Bad input gets a clear 4xx naming the field, and leaves Redis untouched.

use cashout_tests::{Options, TOKEN, TestApp, phone};
use serde_json::{Value, json};

fn with(mut body: Value, key: &str, v: Value) -> Value {
    body[key] = v;
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_names_the_field_and_stores_nothing() {
    let app = TestApp::spawn(Options::default()).await;
    let good = TestApp::order("val-1", &phone(20, 1), 1500);
    let before = app.keys().await;

    let cases: Vec<(Value, &str)> = vec![
        (with(good.clone(), "amount", json!(0)), "amount"),
        (with(good.clone(), "amount", json!(-100)), "amount"),
        (with(good.clone(), "amount", json!(12.5)), "amount"),
        (with(good.clone(), "amount", json!("1500")), "amount"),
        (with(good.clone(), "currency", json!("GBP")), "currency"),
        (with(good.clone(), "currency", json!("xaf")), "currency"),
        (with(good.clone(), "provider", json!("paypal")), "provider"),
        (with(good.clone(), "provider", json!("omt")), "currency"),
        (
            with(good.clone(), "provider", json!("omno")),
            "recipient.external_user_id",
        ),
        (
            with(good.clone(), "idempotency_key", json!("k".repeat(129))),
            "idempotency_key",
        ),
        (
            with(good.clone(), "idempotency_key", json!("")),
            "idempotency_key",
        ),
        (
            with(
                good.clone(),
                "recipient",
                json!({"phone_number": "612345678"}),
            ),
            "recipient.phone_number",
        ),
        (
            with(
                good.clone(),
                "recipient",
                json!({"phone_number": "+23761234567890123"}),
            ),
            "recipient.phone_number",
        ),
        (
            with(good.clone(), "recipient", json!({})),
            "recipient.phone_number",
        ),
        (
            with(good.clone(), "recipient", json!("+237612345678")),
            "recipient",
        ),
        (
            with(good.clone(), "metadata", json!({"blob": "x".repeat(5000)})),
            "metadata",
        ),
        (with(good.clone(), "amout", json!(1)), "amout"),
    ];
    for (body, field) in cases {
        let (status, v) = app.post_cashout(&body).await;
        assert_eq!(status, 422, "{field}: {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
        assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string());
    }
    let mut no_key = good.clone();
    no_key.as_object_mut().unwrap().remove("idempotency_key");
    let (status, v) = app.post_cashout(&no_key).await;
    assert_eq!(
        (status, v["error"]["field"].clone()),
        (422, json!("idempotency_key"))
    );

    for raw in ["{not json", "", "[1,2", "\"just a string\""] {
        let (status, v) = app.post_raw(raw, Some(TOKEN)).await;
        assert!(status == 400 || status == 422, "{raw}: {status} {v}");
        assert!(v["error"]["code"].is_string(), "{raw}: {v}");
    }
    let (status, v) = app.post_raw("{not json", Some(TOKEN)).await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("malformed_json"))
    );
    let (status, _) = app.post_raw(&"x".repeat(70_000), Some(TOKEN)).await;
    assert_eq!(status, 413);

    // Nothing was stored and nothing enqueued.
    assert_eq!(app.keys().await, before);
    for q in ["scheduled", "active", "data"] {
        assert!(!app.keys().await.iter().any(|k| k.ends_with(q)));
    }
    app.shutdown().await;
}

/// `depth` objects nested in one another.
fn nested(depth: usize) -> Value {
    let mut v = json!({});
    for _ in 1..depth {
        v = json!({ "k": v });
    }
    v
}

/// Input the API used to accept but the worker could not read back (issue 13): metadata deeper
/// than the record's JSON can hold, and amounts without a ceiling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_unbounded_input_is_refused_and_stores_nothing() {
    let app = TestApp::spawn(Options::default()).await;
    let good = TestApp::order("bounds-1", &phone(22, 1), 1500);
    let before = app.keys().await;

    let many_keys: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (
            with(good.clone(), "metadata", nested(125)),
            "metadata",
            "too_deep",
            "8",
        ),
        (
            with(good.clone(), "metadata", nested(9)),
            "metadata",
            "too_deep",
            "8",
        ),
        (
            with(good.clone(), "metadata", Value::Object(many_keys)),
            "metadata",
            "too_many_keys",
            "64",
        ),
        (
            with(good.clone(), "amount", json!(1_000_000_000_000_000_i64)),
            "amount",
            "amount_too_large",
            "999999999999999",
        ),
        (
            with(good.clone(), "amount", json!(i64::MAX)),
            "amount",
            "amount_too_large",
            "999999999999999",
        ),
        (
            with(good.clone(), "amount", json!(u64::MAX)),
            "amount",
            "amount_too_large",
            "999999999999999",
        ),
    ];
    for (body, field, code, limit) in cases {
        let (status, v) = app.post_cashout(&body).await;
        assert_eq!(status, 422, "{field}: {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(limit), "the message gives the limit: {v}");
    }
    // Nothing was stored for any refused request.
    assert_eq!(app.keys().await, before);

    // At the bounds it is accepted, and reads back.
    let at_bounds = with(
        with(good.clone(), "metadata", nested(8)),
        "amount",
        json!(999_999_999_999_999_i64),
    );
    let (status, v) = app.post_cashout(&at_bounds).await;
    assert_eq!(status, 202, "{v}");
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    let read = app.get_cashout(&id).await;
    assert_eq!(read["amount"], json!(999_999_999_999_999_i64), "{read}");
    assert_eq!(read["metadata"], nested(8), "{read}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_declared_json_is_415_and_stores_nothing() {
    let app = TestApp::spawn(Options::default()).await;
    let body = TestApp::order("ctype-1", &phone(22, 1), 1500).to_string();
    let post = |ct: Option<&'static str>, token: &'static str| {
        let mut req = app
            .http
            .post(format!("{}/v1/cashouts", app.api_url))
            .bearer_auth(token)
            .body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        Some("application/json-patch+json"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=latin1"),
        Some("json"),
    ] {
        let (status, v) = post(ct, TOKEN).await;
        assert_eq!(status, 415, "{ct:?}: {v}");
        assert_eq!(v["error"]["code"], "unsupported_media_type", "{ct:?}: {v}");
    }
    assert!(app.keys().await.is_empty(), "nothing stored");
    // Without a valid token it is still 401 first.
    let (status, _) = post(Some("text/plain"), "wrong-token-xxxxxxxx").await;
    assert_eq!(status, 401);
    // JSON in any case, with or without a UTF-8 charset.
    for (i, ct) in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "APPLICATION/JSON ; charset=\"utf-8\"",
    ]
    .into_iter()
    .enumerate()
    {
        let (status, v) = post(Some(ct), TOKEN).await;
        let want = if i == 0 { 202 } else { 200 };
        assert_eq!(status, want, "{ct}: {v}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_401() {
    let app = TestApp::spawn(Options::default()).await;
    let body = TestApp::order("auth-1", &phone(21, 1), 1500).to_string();
    for token in [None, Some("wrong-token-xxxxxxxx")] {
        let (status, v) = app.post_raw(&body, token).await;
        assert_eq!(status, 401, "{v}");
        assert_eq!(v["error"]["code"], "unauthorized");
    }
    let r = app
        .http
        .get(format!(
            "{}/v1/cashouts/{}",
            app.api_url,
            uuid::Uuid::new_v4()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(app.keys().await.is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_openapi_and_unknown_ids() {
    let app = TestApp::spawn(Options::default()).await;
    let get = |p: &str| app.http.get(format!("{}{p}", app.api_url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let doc: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/v1/cashouts"]["post"].is_object());
    assert!(doc["paths"]["/v1/cashouts/{id}"]["get"].is_object());
    let v = app.get_cashout("not-an-id").await;
    assert_eq!(v["error"]["code"], "not_found");
    let v = app.get_cashout(&uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(v["error"]["code"], "not_found");
    app.shutdown().await;
}
