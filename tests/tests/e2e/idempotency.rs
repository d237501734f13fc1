//! An idempotency key never creates a second cashout, nor a second payout.

use cashout_tests::{Options, TestApp, phone};
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_body_answers_200_with_the_same_cashout() {
    let app = TestApp::spawn(Options::default()).await;
    let body = TestApp::order("idem-1", &phone(10, 1), 1500);
    let (s1, first) = app.post_cashout(&body).await;
    let (s2, second) = app.post_cashout(&body).await;
    assert_eq!((s1, s2), (202, 200));
    assert_eq!(first["id"], second["id"]);
    // Field order does not matter.
    let reordered: serde_json::Value = serde_json::from_str(&format!(
        r#"{{"recipient":{{"phone_number":"{}"}},"metadata":{{"test":true}},"currency":"XAF","amount":1500,"provider":"camoo","idempotency_key":"idem-1"}}"#,
        phone(10, 1)
    ))
    .unwrap();
    let (s3, third) = app.post_cashout(&reordered).await;
    assert_eq!(s3, 200);
    assert_eq!(third["id"], first["id"]);
    assert_eq!(app.record_count().await, 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_different_body_is_a_409() {
    let app = TestApp::spawn(Options::default()).await;
    let (s1, first) = app
        .post_cashout(&TestApp::order("idem-2", &phone(11, 1), 1500))
        .await;
    assert_eq!(s1, 202);
    for changed in [
        TestApp::order("idem-2", &phone(11, 1), 1501),
        TestApp::order("idem-2", &phone(12, 1), 1500),
    ] {
        let (s, err) = app.post_cashout(&changed).await;
        assert_eq!(s, 409, "{err}");
        assert_eq!(err["error"]["code"], "idempotency_conflict");
        assert_eq!(err["error"]["field"], "idempotency_key");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains(first["id"].as_str().unwrap())
        );
    }
    assert_eq!(app.record_count().await, 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_duplicates_make_one_cashout_and_one_payout() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.start_worker();
    let body = TestApp::order("idem-concurrent", &phone(13, 1), 1500);
    let results = futures::future::join_all((0..20).map(|_| app.post_cashout(&body))).await;
    let ids: HashSet<String> = results
        .iter()
        .map(|(_, v)| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    let created = results.iter().filter(|(s, _)| *s == 202).count();
    let existing = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, existing), (1, 19));
    let id = ids.into_iter().next().unwrap();
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed");
    assert_eq!(app.payouts(None).await.len(), 1);
    assert_eq!(app.camoo_calls().await["create"], 1);
    app.shutdown().await;
}
