//! Provider notifications are hints that nobody can turn into a lever: an endpoint touches its
//! own provider's cashouts only, an unsigned webhook never unparks or plants a reference, a
//! repeated or flooded notification is acted on once, and a configured OMNO token is required.

use cashout_core::CashoutId;
use cashout_providers::camoo::signature;
use cashout_tests::{Options, TestApp, causes, phone};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;

async fn omno_webhook(app: &TestApp, query: &str, body: &Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/v1/providers/omno/webhook{query}", app.api_url))
        .json(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_omno_webhook_cannot_act_on_a_camoo_cashout() {
    let mut app = TestApp::spawn(Options::default()).await;
    // A Camoo create whose answer is lost: parked in doubt, waiting for a person.
    app.fault_for(
        "camoo",
        "create",
        1,
        json!({"kind": "reset", "phase": "after"}),
    )
    .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("wh-camoo", &phone(95, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["parked"]["reason"], "outcome_unknown", "{v:#}");
    let lines = v["history"].as_array().unwrap().len();
    let verifies = app.camoo_calls().await["verify"].clone();

    for i in 0..20 {
        let body = json!({"payoutId": format!("EVIL-{i}"), "orderId": id, "status": "SUCCESS"});
        let (s, answer) = omno_webhook(&app, "", &body).await;
        assert_eq!(
            (s, answer["status"].as_str()),
            (200, Some("ignored")),
            "{answer}"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = app.get_cashout(&id).await;
    assert_eq!(
        after["parked"]["reason"], "outcome_unknown",
        "still parked: {after:#}"
    );
    assert_eq!(
        after["history"].as_array().unwrap().len(),
        lines,
        "no history grew"
    );
    assert_eq!(
        app.camoo_calls().await["verify"],
        verifies,
        "no verify with a planted id"
    );
    let stored = app
        .producer
        .store()
        .get(&CashoutId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.hinted_provider_ref.is_none(), "no reference planted");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_notification_is_acted_on_once_and_a_stale_one_not_at_all() {
    let mut opts = Options::default();
    opts.poll.first_delay_ms = 30_000;
    opts.poll.max_delay_ms = 30_000;
    // Settles only after a long wait, so the cashout stays submitted while we notify.
    opts.sandbox.camoo.settle_delay_ms = 20_000;
    let mut app = TestApp::spawn(opts).await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("wh-signed", &phone(96, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(15), |v| v["state"] == "submitted")
        .await;
    let pref = v["provider_ref"].as_str().unwrap().to_owned();
    let secret = app.options.sandbox.camoo.api_secret.clone();
    let signed = |status: &str, at: chrono::DateTime<chrono::Utc>| {
        let mut params = vec![
            ("payment_id".to_owned(), pref.clone()),
            ("status".to_owned(), status.to_owned()),
            ("status_time".to_owned(), at.to_rfc3339()),
            ("trx".to_owned(), id.clone()),
        ];
        let sig = signature::sign(&params, &secret);
        params.push(("sig".to_owned(), sig));
        params
    };
    let notify = |params: Vec<(String, String)>| {
        let app = &app;
        async move {
            let r = app
                .http
                .get(format!("{}/v1/providers/camoo/notify", app.api_url))
                .query(&params)
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (s, v["status"].as_str().unwrap_or("?").to_owned())
        }
    };
    let one = signed("IN_PROGRESS", chrono::Utc::now());
    let mut words = Vec::new();
    for _ in 0..20 {
        let (s, word) = notify(one.clone()).await;
        assert_eq!(s, 200, "Camoo retries until it gets 200");
        words.push(word);
    }
    assert_eq!(words[0], "scheduled", "{words:?}");
    assert!(words[1..].iter().all(|w| w == "duplicate"), "{words:?}");
    // Signed, but dated two days ago: a replay, not acted on.
    let old = signed("CONFIRMED", chrono::Utc::now() - chrono::TimeDelta::days(2));
    assert_eq!(notify(old).await, (200, "stale".to_owned()));

    tokio::time::sleep(Duration::from_millis(500)).await;
    let v = app.get_cashout(&id).await;
    let notes = causes(&v)
        .iter()
        .filter(|c| c.contains("signed camoo notification"))
        .count();
    assert_eq!(notes, 1, "one line for twenty deliveries: {v:#}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_omno_token_is_required() {
    let mut opts = Options::default();
    opts.notify.omno_webhook_token = Some(SecretString::from("webhook-secret-42"));
    let app = TestApp::spawn(opts).await;
    let body = json!({"payoutId": "p", "orderId": "not-ours", "status": "SUCCESS"});
    for (query, header) in [("", None), ("?token=wrong", None), ("", Some("wrong"))] {
        let mut req = app
            .http
            .post(format!("{}/v1/providers/omno/webhook{query}", app.api_url))
            .json(&body);
        if let Some(h) = header {
            req = req.header("x-webhook-token", h);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{query} {header:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "bad_webhook_token");
        assert!(!v.to_string().contains("webhook-secret-42"));
    }
    let (s, v) = omno_webhook(&app, "?token=webhook-secret-42", &body).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ignored")), "{v}");
    let r = app
        .http
        .post(format!("{}/v1/providers/omno/webhook", app.api_url))
        .header("x-webhook-token", "webhook-secret-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.shutdown().await;
}
