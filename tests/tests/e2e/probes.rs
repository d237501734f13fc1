//! Hand-written probes of the HTTP API, beside `make fuzz`: what a fuzzer rarely builds. A
//! 10 MB body, JSON nested far past any limit, integers past `i64`, control characters where
//! keys and metadata go, 500 requests at once with one idempotency key, and hundreds of slow
//! clients holding connections. Each ends with the API still serving and nothing invalid stored
//! (`Store::audit`).

use cashout_tests::{ADMIN_TOKEN, Options, TOKEN, TestApp, phone};
use serde_json::{Value, json};
use std::collections::HashSet;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The API still takes a cashout, and every record under the test's prefix is valid.
async fn still_serving_and_clean(app: &TestApp, key: &str) {
    let (status, v) = app
        .post_cashout(&TestApp::order(key, &phone(40, 1), 1500))
        .await;
    assert_eq!(status, 202, "the API still takes cashouts: {v}");
    let audit = app.producer.store().audit().await.expect("audit");
    assert!(audit.is_clean(), "{:?}", audit.problems);
}

async fn post_bytes(app: &TestApp, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.api_url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_body_is_413_and_stores_nothing() {
    let app = TestApp::spawn(Options::default()).await;
    let before = app.keys().await;
    // A valid order whose metadata alone is 10 MB.
    let mut order = TestApp::order("big-1", &phone(40, 2), 1500);
    order["metadata"] = json!({ "blob": "x".repeat(10 * 1024 * 1024) });
    let body = serde_json::to_vec(&order).unwrap();
    assert!(body.len() > 10 * 1024 * 1024);
    // Just past the limit (it fits in the socket buffers, so the client finishes writing
    // before the answer): a JSON 413 on every route that reads a body.
    let mut just_over = TestApp::order("big-2", &phone(40, 2), 1500);
    just_over["metadata"] = json!({ "blob": "x".repeat(cashout_api::MAX_BODY_BYTES) });
    let just_over = serde_json::to_vec(&just_over).unwrap();
    for (path, token, want) in [
        ("/v1/cashouts", TOKEN, 413),
        ("/v1/dlq/replay", ADMIN_TOKEN, 413),
        ("/v1/providers/omno/webhook", TOKEN, 400),
    ] {
        let (status, v) = post_bytes(&app, path, token, just_over.clone()).await;
        assert_eq!(status, want, "{path}: {v}");
        assert!(v["error"]["code"].is_string(), "{path}: a JSON error: {v}");
    }
    // Sent in full: the server answers 413 as soon as the limit is passed, and may close the
    // connection while the client is still writing (a broken pipe on its side); either way
    // nothing is read past the limit.
    match app
        .http
        .post(format!("{}/v1/cashouts", app.api_url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            assert_eq!(r.status().as_u16(), 413);
            let v: Value = r.json().await.unwrap_or(Value::Null);
            assert_eq!(v["error"]["code"], "body_too_large", "{v}");
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    assert_eq!(app.keys().await, before, "nothing stored");
    still_serving_and_clean(&app, "big-after").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_nested_past_every_limit_is_refused_without_harm() {
    let app = TestApp::spawn(Options::default()).await;
    let before = app.keys().await;
    // 10,000 levels fit in the 64 KiB body limit; serde_json stops at 128.
    let depth = 10_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let in_metadata = format!(
        "{{\"idempotency_key\":\"deep-1\",\"provider\":\"camoo\",\"amount\":1500,\
         \"currency\":\"XAF\",\"recipient\":{{\"phone_number\":\"{}\"}},\"metadata\":{objects}}}",
        phone(40, 3)
    );
    for body in [&arrays, &objects, &in_metadata] {
        assert!(
            body.len() < cashout_api::MAX_BODY_BYTES,
            "under the body limit"
        );
        let (status, v) = app.post_raw(body, Some(TOKEN)).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], "malformed_json", "{v}");
        for (path, token) in [
            ("/v1/dlq/replay", ADMIN_TOKEN),
            ("/v1/dlq/resolve", ADMIN_TOKEN),
            ("/v1/providers/omno/webhook", TOKEN),
        ] {
            let (status, v) = post_bytes(&app, path, token, body.clone().into_bytes()).await;
            // The webhook reads any JSON (400); an operator body is read into its fields, so
            // the first wrong field may be met before the depth limit (422).
            assert!(matches!(status, 400 | 422), "{path}: {status} {v}");
            assert!(v["error"]["code"].is_string(), "{path}: a JSON error: {v}");
        }
    }
    assert_eq!(app.keys().await, before, "nothing stored");
    still_serving_and_clean(&app, "deep-after").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_past_i64_are_refused_naming_the_field() {
    let app = TestApp::spawn(Options::default()).await;
    let before = app.keys().await;
    let camoo = |amount: &str| {
        format!(
            "{{\"idempotency_key\":\"int-1\",\"provider\":\"camoo\",\"amount\":{amount},\
             \"currency\":\"XAF\",\"recipient\":{{\"phone_number\":\"{}\"}}}}",
            phone(40, 4)
        )
    };
    let omt = |account: &str, otp: &str| {
        format!(
            "{{\"idempotency_key\":\"int-2\",\"provider\":\"omt\",\"amount\":500,\
             \"currency\":\"USD\",\"recipient\":{{\"account_id\":{account},\"otp\":{otp},\
             \"customer_name\":\"John Doe\"}}}}"
        )
    };
    let cases = [
        (camoo("9223372036854775808"), "amount"),
        (camoo("-9223372036854775809"), "amount"),
        (camoo("18446744073709551616"), "amount"),
        (camoo("99999999999999999999999999999999999999"), "amount"),
        (camoo("1e300"), "amount"),
        (camoo("-1"), "amount"),
        (camoo("1500.5"), "amount"),
        (omt("9223372036854775808", "123456"), "recipient.account_id"),
        (
            omt("-9223372036854775809", "123456"),
            "recipient.account_id",
        ),
        (omt("9007199254740993.0", "123456"), "recipient.account_id"),
        (omt("7", "18446744073709551616"), "recipient.otp"),
        (omt("7", "-123456"), "recipient.otp"),
    ];
    for (body, field) in &cases {
        let (status, v) = app.post_raw(body, Some(TOKEN)).await;
        assert_eq!(status, 422, "{body}: {v}");
        assert_eq!(v["error"]["field"], *field, "{body}: {v}");
    }
    // Past what a JSON number can be read as at all: malformed.
    let (status, v) = app.post_raw(&camoo("1e400"), Some(TOKEN)).await;
    assert_eq!(status, 400, "{v}");
    // Query integers past usize: a JSON 400.
    let (status, v) = app.admin_get("/v1/dlq?limit=18446744073709551616").await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = app.admin_get("/v1/dlq?limit=0").await;
    assert_eq!((status, v["error"]["field"].clone()), (422, json!("limit")));
    assert_eq!(app.keys().await, before, "nothing stored");

    // An integer written with a zero fraction is that integer (JSON Schema's `integer`).
    let (status, v) = app.post_raw(&camoo("1500.0"), Some(TOKEN)).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["amount"], 1500, "{v}");
    still_serving_and_clean(&app, "int-after").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_keys_are_refused_and_in_metadata_kept_exactly() {
    let app = TestApp::spawn(Options::default()).await;
    let before = app.keys().await;
    for key in [
        "a\u{0}b",
        "a\nb",
        "a\rb",
        "a\tb",
        "a\u{1b}[31mb",
        "a\u{7f}b",
        "a\u{85}b",
    ] {
        let (status, v) = app
            .post_cashout(&TestApp::order(key, &phone(40, 5), 1500))
            .await;
        assert_eq!(status, 422, "{key:?}: {v}");
        assert_eq!(v["error"]["field"], "idempotency_key", "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains(key), "the key is not echoed: {message:?}");
    }
    assert_eq!(app.keys().await, before, "nothing stored");

    // Metadata is the caller's: control characters in its keys and values are kept and
    // returned exactly, and the record stays readable.
    let metadata = json!({
        "nul\u{0}key": "a\u{0}b",
        "line": "x\r\ny\u{1b}[2J\u{7f}",
        "nested": {"\u{1}": ["\u{2028}", "\u{fffe}"]},
    });
    let mut order = TestApp::order("ctrl-1", &phone(40, 6), 1500);
    order["metadata"] = metadata.clone();
    let (status, v) = app.post_cashout(&order).await;
    assert_eq!(status, 202, "{v}");
    let read = app.get_cashout(v["id"].as_str().unwrap()).await;
    assert_eq!(read["metadata"], metadata, "{read}");
    // Sent again, it is the same order.
    let (status, again) = app.post_cashout(&order).await;
    assert_eq!((status, &again["id"]), (200, &v["id"]), "{again}");
    still_serving_and_clean(&app, "ctrl-after").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_requests_with_one_key_make_one_cashout_and_one_payout() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let body = TestApp::order("idem-500", &phone(40, 7), 1500);
    let mut other = body.clone();
    other["amount"] = json!(1501);
    // 450 copies of one body and 50 of another with the same key, all at once.
    let requests = (0..500).map(|i| {
        let b = if i % 10 == 3 { &other } else { &body };
        app.post_cashout(b)
    });
    let results = futures::future::join_all(requests).await;
    let created: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 202)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(created.len(), 1, "exactly one 202");
    let id = created[0]["id"].as_str().unwrap().to_owned();
    let winner_amount = created[0]["amount"].clone();
    for (status, v) in &results {
        match status {
            202 => {}
            // The same body as the one that won: the existing cashout.
            200 => {
                assert_eq!(v["id"], id.as_str(), "{v}");
                assert_eq!(v["amount"], winner_amount, "{v}");
            }
            // The other body: a conflict naming the key.
            409 => {
                assert_eq!(v["error"]["field"], "idempotency_key", "{v}");
                assert_ne!(winner_amount, json!(null));
            }
            s => panic!("unexpected {s}: {v}"),
        }
    }
    let conflicts = results.iter().filter(|(s, _)| *s == 409).count();
    let expected_conflicts = if winner_amount == json!(1500) {
        50
    } else {
        450
    };
    assert_eq!(conflicts, expected_conflicts);
    assert_eq!(app.record_count().await, 1);
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v}");
    assert_eq!(app.payouts(None).await.len(), 1);
    assert_eq!(app.camoo_calls().await["create"], 1);
    let ids: HashSet<&str> = results
        .iter()
        .filter_map(|(_, v)| v["id"].as_str())
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "every answer with an id names the one cashout"
    );
    still_serving_and_clean(&app, "idem-500-after").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_holding_connections_do_not_stop_healthz() {
    let app = TestApp::spawn(Options::default()).await;
    let addr = app.api_url.trim_start_matches("http://").to_owned();
    let before = app.keys().await;
    let mut held = Vec::with_capacity(400);
    // 200 clients stuck in their headers, 200 that sent headers and a tenth of the body they
    // announced: the server holds 400 connections that will never complete.
    for i in 0..400 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"POST /v1/cashouts HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        } else {
            let head = format!(
                "POST /v1/cashouts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"idem"
            );
            s.write_all(head.as_bytes()).await.unwrap();
        }
        held.push(s);
    }
    // Meanwhile health, readiness and real work are answered, on fresh connections.
    for i in 0..20 {
        let r = reqwest::Client::new()
            .get(format!("{}/healthz", app.api_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = reqwest::Client::new()
            .get(format!("{}/readyz", app.api_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        if i == 0 {
            let (status, v) = app
                .post_cashout(&TestApp::order("slow-1", &phone(40, 8), 1500))
                .await;
            assert_eq!(status, 202, "{v}");
        }
    }
    // The held requests stored nothing: only slow-1 is new.
    assert_eq!(app.record_count().await, 1, "only slow-1");
    assert!(before.iter().all(|k| !k.contains(":cashout:")));
    drop(held);
    still_serving_and_clean(&app, "slow-after").await;
    app.shutdown().await;
}
