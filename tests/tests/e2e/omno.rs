//! OMNO: create → confirm (auto or after an approve), reject as revoke, status reads, webhooks.

use cashout_tests::{Options, TestApp, causes, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn post(app: &TestApp, body: &Value) -> String {
    let (s, v) = app.post_cashout(body).await;
    assert_eq!(s, 202, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

fn kinds(v: &Value, kind: &str) -> usize {
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .count()
}

async fn calls(app: &TestApp, order: &str) -> Value {
    app.omno_admin(Method::GET, &format!("calls?order_id={order}"), None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_approval_creates_confirms_and_confirms_once() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let id = post(&app, &TestApp::omno_order("omno-auto", "user-1", "auto")).await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    let order = v["external_reference"].as_str().unwrap();
    assert_eq!(app.payouts(Some(order)).await.len(), 1);
    let c = calls(&app, order).await;
    assert_eq!(
        (c["create"].clone(), c["confirm"].clone()),
        (json!(1), json!(1)),
        "{c}"
    );
    assert!(v["provider_ref"].is_string());
    assert!(!v.to_string().contains("1234567890"), "phone masked: {v}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_approval_waits_then_an_approve_confirms() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let id = post(
        &app,
        &TestApp::omno_order("omno-manual", "user-2", "manual"),
    )
    .await;
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(20), |v| v["state"] == "submitted")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let order = v["external_reference"].as_str().unwrap().to_owned();
    assert_eq!(
        calls(&app, &order).await["confirm"],
        0,
        "nothing confirmed before the approve"
    );
    assert_eq!(app.get_cashout(&id).await["state"], "submitted");
    let (s, v) = app
        .admin_post(&format!("/v1/cashouts/{id}/approve"), Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = app
        .admin_post(&format!("/v1/cashouts/{id}/approve"), Value::Null)
        .await;
    assert_eq!(s, 409, "approving twice is refused");
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert!(causes(&v).iter().any(|c| c == "approved by ops"));
    assert_eq!(app.payouts(Some(&order)).await.len(), 1);
    app.shutdown().await;
}

/// `four_eyes`: the producer that enqueued the order cannot approve it; someone else can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_eyes_approval_refuses_the_producer_that_enqueued_it() {
    let mut app = TestApp::spawn(Options {
        operators_on_producer_routes: true,
        ..Options::default()
    })
    .await;
    app.start_worker();
    let admin = cashout_tests::ADMIN_TOKEN;
    // The operator `ops` enqueues it as a producer of its own name...
    let (s, v) = app
        .admin(
            Method::POST,
            "/v1/cashouts",
            Some(TestApp::omno_order("omno-4eyes", "user-4", "four_eyes")),
            admin,
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/cashouts/{id}");
    let read = || app.admin(Method::GET, &path, None, admin);
    let order = eventually(Duration::from_secs(20), "submitted", || async {
        let (_, v) = read().await;
        (v["state"] == "submitted").then(|| v["external_reference"].as_str().unwrap().to_owned())
    })
    .await;
    // ...so `ops` cannot approve it.
    let (s, body) = app
        .admin_post(&format!("/v1/cashouts/{id}/approve"), Value::Null)
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "same_approver", "{body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(calls(&app, &order).await["confirm"], 0, "nothing confirmed");
    // Another operator can.
    let cid = cashout_core::CashoutId::parse(&id).unwrap();
    app.driver().approve(&cid, "alice").await.unwrap();
    let v = eventually(Duration::from_secs(20), "confirmed", || async {
        let (_, v) = read().await;
        (v["state"] == "confirmed").then_some(v)
    })
    .await;
    assert!(causes(&v).iter().any(|c| c == "approved by alice"), "{v:#}");
    assert!(!causes(&v).iter().any(|c| c == "approved by ops"), "{v:#}");
    assert_eq!(app.payouts(Some(&order)).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_before_confirm_rejects_after_confirm_is_refused() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let id = post(&app, &TestApp::omno_order("omno-rej", "user-3", "manual")).await;
    app.wait_for_cashout(&id, Duration::from_secs(20), |v| v["state"] == "submitted")
        .await;
    let (s, v) = app
        .admin_post(&format!("/v1/cashouts/{id}/revoke"), Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "revoked");
    let order = v["external_reference"].as_str().unwrap();
    assert_eq!(calls(&app, order).await["reject"], 1);
    assert!(app.payouts(Some(order)).await.is_empty());

    // Confirmed: a reject is no longer possible; a clear refusal.
    app.omno_admin(
        Method::PUT,
        "config",
        Some(json!({"settle_delay_ms": 60_000})),
    )
    .await;
    let id = post(&app, &TestApp::omno_order("omno-rej2", "user-4", "auto")).await;
    app.wait_for_cashout(&id, Duration::from_secs(20), |v| kinds(v, "confirm") >= 2)
        .await;
    let (s, v) = app
        .admin_post(&format!("/v1/cashouts/{id}/revoke"), Value::Null)
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("confirmed"),
        "{v}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payout_fails_with_its_reason() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let id = post(&app, &TestApp::omno_order("omno-dec", "user-10", "auto")).await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "failed", "{v:#}");
    assert!(
        causes(&v)
            .iter()
            .any(|c| c.contains("NO_PROVIDER_AVAILABLE")),
        "{v:#}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_status_keeps_polling() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let id = post(&app, &TestApp::omno_order("omno-unk", "user-8", "auto")).await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert!(
        causes(&v).iter().any(|c| c.contains("omno status ON_HOLD")),
        "{v:#}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_triggers_a_read_and_never_a_state_change() {
    let mut opts = Options::default();
    opts.poll.first_delay_ms = 30_000;
    opts.poll.max_delay_ms = 30_000;
    let mut app = TestApp::spawn(opts).await;
    app.omno_admin(
        Method::PUT,
        "config",
        Some(json!({"webhook_url": format!("{}/v1/providers/omno/webhook", app.api_url)})),
    )
    .await;
    app.start_worker();
    let id = post(&app, &TestApp::omno_order("omno-wh", "user-5", "auto")).await;
    // Polls are 30 s apart: only the webhook can bring the final status within this wait.
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(15), |v| v["state"] == "confirmed")
        .await;
    assert!(
        causes(&v).iter().any(|c| c.starts_with("omno webhook")),
        "{v:#}"
    );
    // A forged webhook claiming a failure changes nothing.
    let r = app
        .http
        .post(format!("{}/v1/providers/omno/webhook", app.api_url))
        .json(&json!({"payoutId": v["provider_ref"], "orderId": v["external_reference"], "status": "FAILED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_cashout(&id).await["state"], "confirmed");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_is_parked_and_not_resent() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault_for(
        "omno",
        "create",
        1,
        json!({"kind": "reset", "phase": "after"}),
    )
    .await;
    app.start_worker();
    let id = post(&app, &TestApp::omno_order("omno-lost", "user-6", "auto")).await;
    let v = app.wait_settled(&id).await;
    assert_eq!(
        (v["state"].clone(), v["parked"]["reason"].clone()),
        (json!("created"), json!("outcome_unknown")),
        "{v:#}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let order = v["external_reference"].as_str().unwrap();
    assert_eq!(calls(&app, order).await["create"], 1, "never resent");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_confirm_answer_is_settled_by_reading_the_payout() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault_for(
        "omno",
        "confirm",
        1,
        json!({"kind": "reset", "phase": "after"}),
    )
    .await;
    app.start_worker();
    let id = post(&app, &TestApp::omno_order("omno-lc", "user-7x", "auto")).await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert!(
        causes(&v)
            .iter()
            .any(|c| c.contains("the confirm had applied")),
        "{v:#}"
    );
    let order = v["external_reference"].as_str().unwrap();
    assert_eq!(
        calls(&app, order).await["confirm"],
        1,
        "not confirmed twice"
    );
    assert_eq!(app.payouts(Some(order)).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_required_field_missing_is_a_422_naming_it() {
    let app = TestApp::spawn(Options::default()).await;
    let good = TestApp::omno_order("omno-val", "user-9", "auto");
    for field in [
        "external_user_id",
        "first_name",
        "last_name",
        "email",
        "phone_number",
        "date_of_birth",
        "billing",
        "kyc_verified",
    ] {
        let mut b = good.clone();
        b["recipient"].as_object_mut().unwrap().remove(field);
        let (s, v) = app.post_cashout(&b).await;
        assert_eq!(
            (s, v["error"]["field"].clone()),
            (422, json!(format!("recipient.{field}"))),
            "{v}"
        );
    }
    for field in ["address", "city", "state", "country_code", "postal_code"] {
        let mut b = good.clone();
        b["recipient"]["billing"]
            .as_object_mut()
            .unwrap()
            .remove(field);
        let (s, v) = app.post_cashout(&b).await;
        assert_eq!(
            (s, v["error"]["field"].clone()),
            (422, json!(format!("recipient.billing.{field}"))),
            "{v}"
        );
    }
    assert!(app.keys().await.is_empty(), "nothing stored");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_payout_cannot_be_resolved_as_paid() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault_for(
        "omno",
        "create",
        1,
        json!({"kind": "reset", "phase": "after"}),
    )
    .await;
    app.start_worker();
    let id = post(&app, &TestApp::omno_order("omno-res", "user-11", "auto")).await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["parked"]["reason"], "outcome_unknown", "{v:#}");
    let (s, r) = app
        .admin_post(
            &format!("/v1/dlq/{id}/resolve"),
            json!({"as": "confirmed", "note": "looks paid"}),
        )
        .await;
    assert_eq!(s, 409, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("never confirmed")
    );
    let (s, r) = app
        .admin_post(
            &format!("/v1/dlq/{id}/resolve"),
            json!({"as": "failed", "note": "OMNO shows it unconfirmed; rejected there"}),
        )
        .await;
    assert_eq!((s, r["state"].clone()), (200, json!("failed")), "{r}");
    app.shutdown().await;
}
