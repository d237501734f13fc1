//! Retries that are safe for money, driven by the sandbox's fault injection.

use cashout_core::{Provider, State};
use cashout_store::CashoutJob;
use cashout_tests::{Options, TestApp, causes, phone};
use cashout_worker::StepReport;
use chrono::DateTime;
use serde_json::{Value, json};
use std::time::Duration;

fn entries<'a>(v: &'a Value, kind: &str) -> Vec<&'a Value> {
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_on_verify_are_retried_then_confirmed_with_one_payout() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault("verify", 3, json!({"kind": "status", "status": 503}))
        .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("r-5xx", &phone(80, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert_eq!(entries(&v, "retry").len(), 3, "{v:#}");
    assert!(
        entries(&v, "retry")[0]["cause"]
            .as_str()
            .unwrap()
            .contains("HTTP 503")
    );
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    assert_eq!(app.camoo_calls().await["create"], 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_create_is_retried_after_its_retry_after() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault(
        "create",
        1,
        json!({"kind": "status", "status": 429, "retry_after_secs": 2}),
    )
    .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("r-429", &phone(81, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    let retry = entries(&v, "retry");
    assert_eq!(retry.len(), 1);
    let cause = retry[0]["cause"].as_str().unwrap();
    let ms: u64 = cause
        .rsplit("retry in ")
        .next()
        .and_then(|t| t.trim_end_matches(" ms").parse().ok())
        .unwrap();
    assert!(
        ms >= 2_000,
        "Retry-After: 2 must be honoured, scheduled {ms} ms: {cause}"
    );
    // The second create really went out no sooner.
    let submits = entries(&v, "submit");
    assert_eq!(submits.len(), 2);
    let at = |e: &Value| DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
    assert!(at(submits[1]) - at(submits[0]) >= chrono::TimeDelta::milliseconds(2_000));
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_park_in_the_state_they_had_and_replay_confirms() {
    let mut opts = Options::default();
    opts.retry.max_attempts = 3;
    let mut app = TestApp::spawn(opts).await;
    app.fault("create", 10, json!({"kind": "status", "status": 429}))
        .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("r-exh", &phone(82, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "created", "{v:#}");
    assert_eq!(v["parked"]["reason"], "retries_exhausted");
    assert_eq!(v["attempts"], 3);
    assert!(v["last_error"].as_str().unwrap().contains("429"));
    assert!(app.payouts(Some(&id)).await.is_empty());

    app.clear_faults().await;
    let (s, r) = app
        .admin_post(
            &format!("/v1/dlq/{id}/replay"),
            json!({"note": "rate limit lifted"}),
        )
        .await;
    assert_eq!((s, r["outcome"].clone()), (200, json!("replayed")));
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(20), |v| v["state"] == "confirmed")
        .await;
    assert!(causes(&v).iter().any(|c| c.contains("rate limit lifted")));
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_failing_past_the_deadline_parks_then_replay_resumes_polling() {
    let mut opts = Options::default();
    opts.poll.deadline_secs = 2;
    let mut app = TestApp::spawn(opts).await;
    app.fault("verify", 1_000, json!({"kind": "status", "status": 502}))
        .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("r-dl", &phone(83, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "submitted", "{v:#}");
    assert_eq!(v["parked"]["reason"], "deadline_exceeded");
    app.clear_faults().await;
    let (_, r) = app
        .admin_post(&format!("/v1/dlq/{id}/replay"), Value::Null)
        .await;
    assert_eq!(r["outcome"], "replayed");
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(20), |v| v["state"] == "confirmed")
        .await;
    assert_eq!(
        entries(&v, "submit").len(),
        1,
        "never submitted again: {v:#}"
    );
    assert_eq!(app.camoo_calls().await["create"], 1);
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_after_camoo_executed_the_create_is_reconciled_never_resent() {
    let mut app = TestApp::spawn(Options {
        notifications: true,
        ..Options::default()
    })
    .await;
    app.fault("create", 1, json!({"kind": "reset", "phase": "after"}))
        .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("r-reset", &phone(84, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(30), |v| v["state"] == "confirmed")
        .await;
    assert!(
        causes(&v).iter().any(|c| c.starts_with("reconciled")),
        "{v:#}"
    );
    assert_eq!(app.camoo_calls().await["create"], 1);
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_without_notifications_is_parked_and_replay_refuses_to_resend() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault("create", 1, json!({"kind": "reset", "phase": "after"}))
        .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("r-reset2", &phone(85, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(
        (v["state"].clone(), v["parked"]["reason"].clone()),
        (json!("created"), json!("outcome_unknown")),
        "{v:#}"
    );
    let (_, r) = app
        .admin_post(&format!("/v1/dlq/{id}/replay"), Value::Null)
        .await;
    assert_eq!(r["outcome"], "in_doubt", "{r}");
    // The operator checks with Camoo (the sandbox audit shows the payout) and resolves it.
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{id}/resolve"),
            json!({"as": "confirmed", "note": "seen in Camoo back office"}),
        )
        .await;
    assert_eq!((s, v["state"].clone()), (200, json!("confirmed")));
    let transitions: Vec<(Value, Value)> = entries(&v, "transition")
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        transitions,
        vec![
            (json!("created"), json!("submitted")),
            (json!("submitted"), json!("confirmed"))
        ]
    );
    assert_eq!(app.camoo_calls().await["create"], 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_job_is_scheduled_while_shutting_down() {
    let app = TestApp::spawn(Options::default()).await;
    let id = app
        .enqueue(&TestApp::order("r-shut", &phone(86, 1), 1_500))
        .await;
    let driver = app.driver();
    let job = CashoutJob {
        cashout_id: id,
        trace_id: "0af7651916cd43dd8448eb211c80319c".to_owned(),
        traceparent: None,
        entry: None,
    };
    let r = driver.handle(&job).await.unwrap();
    assert!(
        matches!(
            r,
            StepReport::Progressed {
                state: State::Submitted,
                ..
            }
        ),
        "{r:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.fault("verify", 1, json!({"kind": "status", "status": 503}))
        .await;
    let depth = app.producer.queue().depth(Provider::Camoo).await.unwrap();
    driver.begin_shutdown();
    let r = driver.handle(&job).await.unwrap();
    assert!(
        matches!(
            r,
            StepReport::Progressed {
                state: State::Submitted,
                parked: None
            }
        ),
        "{r:?}"
    );
    assert_eq!(
        app.producer.queue().depth(Provider::Camoo).await.unwrap(),
        depth
    );
    let v = app.get_cashout(&id.to_string()).await;
    assert_eq!(
        entries(&v, "retry").len(),
        1,
        "the retry is recorded for the sweeper: {v:#}"
    );
    app.shutdown().await;
}

/// A Camoo outage answering 503 to creates: the provider refused before processing (RFC 9110),
/// so the create is retried with backoff and `Retry-After` instead of parking every cashout in
/// doubt; one payout in the end. With 503 taken out of `refused_statuses`, it is in doubt again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_outage_on_create_is_retried_not_parked_in_doubt() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault(
        "create",
        2,
        json!({"kind": "status", "status": 503, "retry_after_secs": 1}),
    )
    .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("r-503", &phone(87, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    let retries = entries(&v, "retry");
    assert_eq!(retries.len(), 2, "{v:#}");
    assert!(retries[0]["cause"].as_str().unwrap().contains("HTTP 503"));
    // Retry-After (1 s) was honoured: the retry is scheduled at least that far out.
    let cause = retries[0]["cause"].as_str().unwrap();
    let ms: u64 = cause
        .rsplit("retry in ")
        .next()
        .and_then(|t| t.trim_end_matches(" ms").parse().ok())
        .unwrap();
    assert!(ms >= 1_000, "{cause}");
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    assert_eq!(app.camoo_calls().await["create"], 3);
    app.shutdown().await;

    // Configured otherwise: a 503 is in doubt and waits for a person.
    let mut opts = Options::default();
    opts.retry.refused_statuses = vec![429];
    let mut app = TestApp::spawn(opts).await;
    app.fault("create", 1, json!({"kind": "status", "status": 503}))
        .await;
    app.start_worker();
    let (_, created) = app
        .post_cashout(&TestApp::order("r-503b", &phone(88, 1), 1_500))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["parked"]["reason"], "outcome_unknown", "{v:#}");
    app.shutdown().await;
}
