//! A Camoo cashout from enqueue to its final state, for each outcome the sandbox can produce.

use cashout_providers::camoo::signature;
use cashout_tests::{Options, TOKEN, TestApp, causes, phone};
use serde_json::Value;
use std::time::Duration;

fn transitions(v: &Value) -> Vec<(String, String)> {
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "transition")
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_confirms_with_one_payout_and_full_history() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let (status, created) = app
        .post_cashout(&TestApp::order("happy-1", &phone(1, 1), 1500))
        .await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["state"], "created");
    let id = created["id"].as_str().unwrap().to_owned();

    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert!(v["parked"].is_null());
    assert_eq!(
        transitions(&v),
        vec![pair("created", "submitted"), pair("submitted", "confirmed")]
    );
    // Every history line carries the trace id, a time and a cause.
    for e in v["history"].as_array().unwrap() {
        assert_eq!(e["trace_id"], v["trace_id"]);
        assert!(e["at"].is_string() && e["cause"].is_string());
    }
    assert!(v["provider_ref"].is_string());
    // The phone number is never shown in full.
    assert!(!v.to_string().contains(&phone(1, 1)[4..]), "{v}");
    assert_eq!(
        v["recipient"]["phone_number"].as_str().unwrap().len(),
        phone(1, 1).len()
    );

    let payouts = app.payouts(Some(&id)).await;
    assert_eq!(payouts.len(), 1);
    assert_eq!(payouts[0]["amount"], "1500");
    assert_eq!(app.camoo_calls().await["create"], 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_for_a_while_then_confirmed() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("long-1", &phone(2, 9), 2000))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    // It was read as PENDING at least once before the final answer.
    let verifies = app.camoo_calls().await["verify"].as_u64().unwrap();
    assert!(
        verifies >= 2,
        "expected several verify polls, saw {verifies}"
    );
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn underinvestigation_is_not_final_and_lowercase_success_confirms() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("inv-1", &phone(3, 7), 2000))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert_eq!(v["provider_status"], "success");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failure_fails_the_cashout() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("fail-1", &phone(4, 0), 2000))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "failed", "{v:#}");
    assert_eq!(
        transitions(&v),
        vec![pair("created", "submitted"), pair("submitted", "failed")]
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_passed_parks_it_still_submitted() {
    let mut opts = Options::default();
    opts.poll.deadline_secs = 2;
    let mut app = TestApp::spawn(opts).await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("never-1", &phone(5, 8), 2000))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "submitted", "{v:#}");
    assert_eq!(v["parked"]["reason"], "deadline_exceeded");
    assert!(
        v["parked"]["detail"]
            .as_str()
            .unwrap()
            .contains("no final status")
    );
    // Parked cashouts are out of the due index: the sweeper leaves them to operators.
    let due: Vec<String> = {
        let mut c = app.producer.store().connection();
        redis::cmd("ZRANGE")
            .arg(
                app.producer
                    .store()
                    .keys()
                    .due_of(&id.parse().unwrap(), cashout_core::Provider::Camoo),
            )
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await
            .unwrap()
    };
    assert!(!due.contains(&id));
    app.shutdown().await;
}

/// Polls are far apart (30 s), so only the signed notification can bring the confirmation
/// within the wait below; a forged notification is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_notification_cuts_the_wait_and_forged_one_is_refused() {
    let mut opts = Options {
        notifications: true,
        ..Options::default()
    };
    opts.poll.first_delay_ms = 30_000;
    opts.poll.max_delay_ms = 30_000;
    let mut app = TestApp::spawn(opts).await;
    app.start_worker();

    // A forged notification first: refused, nothing recorded.
    let (_, created) = app
        .post_cashout(&TestApp::order("notify-1", &phone(6, 1), 2000))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let forged = reqwest::Client::new()
        .get(format!("{}/v1/providers/camoo/notify", app.api_url))
        .query(&[
            ("payment_id", "whatever"),
            ("status", "CONFIRMED"),
            ("status_time", "2026-11-21T05:00:00Z"),
            ("trx", id.as_str()),
            ("sig", "00ff00ff"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let missing = reqwest::Client::new()
        .get(format!(
            "{}/v1/providers/camoo/notify?payment_id=x&trx={id}",
            app.api_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);

    let v = app
        .wait_for_cashout(&id, Duration::from_secs(15), |v| v["state"] == "confirmed")
        .await;
    let causes = causes(&v);
    assert!(
        causes
            .iter()
            .any(|c| c.contains("signed camoo notification")),
        "{causes:?}"
    );
    assert!(!causes.iter().any(|c| c.contains("whatever")));

    // A valid notification repeated answers 200 again (Camoo retries until it gets 200).
    let pref = v["provider_ref"].as_str().unwrap();
    let mut params = vec![
        ("payment_id".to_owned(), pref.to_owned()),
        ("status".to_owned(), "CONFIRMED".to_owned()),
        ("status_time".to_owned(), "2026-11-21T05:00:00Z".to_owned()),
        ("trx".to_owned(), id.clone()),
    ];
    let sig = signature::sign(&params, &app.options.sandbox.camoo.api_secret);
    params.push(("sig".to_owned(), sig));
    for _ in 0..2 {
        let r = reqwest::Client::new()
            .get(format!("{}/v1/providers/camoo/notify", app.api_url))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.get_cashout(&id).await["state"], "confirmed");
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    let _ = TOKEN;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_balance_too_low_parks_insufficient_funds_without_burning_the_attempt() {
    let mut opts = Options::default();
    opts.sandbox.camoo.balance = 1_000;
    let mut app = TestApp::spawn(opts).await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("funds-1", &phone(7, 1), 5_000))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "created", "{v:#}");
    assert_eq!(v["parked"]["reason"], "insufficient_funds");
    assert_eq!(v["attempts"], 0, "an operator case does not burn attempts");
    assert!(app.payouts(Some(&id)).await.is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_park_provider_auth_and_never_leak_the_secret() {
    let mut app = TestApp::spawn(Options::default()).await;
    // Workers hold other credentials than the sandbox expects.
    app.options.sandbox.camoo.api_secret = "not-the-sandbox-secret".to_owned();
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("auth-2", &phone(8, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["parked"]["reason"], "provider_auth", "{v:#}");
    assert_eq!(v["state"], "created");
    assert!(!v.to_string().contains("not-the-sandbox-secret"));
    assert!(app.payouts(Some(&id)).await.is_empty());
    app.shutdown().await;
}
