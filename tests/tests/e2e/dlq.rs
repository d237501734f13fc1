//! The dead-letter queue, as operators use it: list, show, replay (one, twice, in bulk),
//! resolve and discard, each recorded in the history; producer tokens are refused.

use cashout_tests::{ADMIN_TOKEN, Options, TOKEN, TestApp, causes, phone};
use reqwest::Method;
use serde_json::{Value, json};

/// Three cashouts parked `insufficient_funds` (the sandbox balance is too low).
async fn parked_for_funds(app: &TestApp, n: u32) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (_, v) = app
            .post_cashout(&TestApp::order(
                &format!("dlq-funds-{i}"),
                &phone(60 + i, 1),
                5_000,
            ))
            .await;
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let v = app.wait_settled(id).await;
        assert_eq!(v["parked"]["reason"], "insufficient_funds", "{v:#}");
    }
    ids
}

fn low_balance() -> Options {
    let mut o = Options::default();
    o.sandbox.camoo.balance = 1_000;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_tokens_cannot_reach_operator_endpoints() {
    let app = TestApp::spawn(Options::default()).await;
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::GET, "/v1/dlq".to_owned()),
        (Method::GET, format!("/v1/dlq/{id}")),
        (Method::POST, format!("/v1/dlq/{id}/replay")),
        (Method::POST, "/v1/dlq/replay".to_owned()),
        (Method::POST, format!("/v1/dlq/{id}/resolve")),
        (Method::POST, format!("/v1/dlq/{id}/discard")),
    ] {
        let (s, v) = app.admin(method.clone(), &path, None, TOKEN).await;
        assert_eq!(s, 403, "{method} {path}: {v}");
        let (s, _) = app
            .admin(method.clone(), &path, None, "nobody-xxxxxxxx")
            .await;
        assert_eq!(s, 401, "{method} {path}");
    }
    // Operators may read cashouts too.
    let (s, _) = app.admin(Method::GET, "/v1/dlq", None, ADMIN_TOKEN).await;
    assert_eq!(s, 200);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_show_and_bulk_replay_by_reason() {
    let mut app = TestApp::spawn(low_balance()).await;
    app.start_worker();
    let ids = parked_for_funds(&app, 3).await;

    let (s, page) = app
        .admin_get("/v1/dlq?reason=insufficient_funds&provider=camoo&limit=2")
        .await;
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["reason"], "insufficient_funds");
    assert_eq!(items[0]["state"], "created");
    assert!(items[0]["last_error"].as_str().unwrap().contains("402"));
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .admin_get(&format!(
            "/v1/dlq?reason=insufficient_funds&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let (_, none) = app.admin_get("/v1/dlq?reason=outcome_unknown").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let (s, v) = app.admin_get("/v1/dlq?reason=bogus").await;
    assert_eq!((s, v["error"]["field"].clone()), (422, json!("reason")));

    let (s, shown) = app.admin_get(&format!("/v1/dlq/{}", ids[0])).await;
    assert_eq!(s, 200);
    assert!(shown["history"].as_array().unwrap().len() >= 2);

    // Money arrives; the operator replays everything parked for it.
    app.sandbox_config(json!({"balance": 1_000_000})).await;
    let (s, res) = app
        .admin_post(
            "/v1/dlq/replay",
            json!({"reason": "insufficient_funds", "note": "topped up"}),
        )
        .await;
    assert_eq!(s, 200, "{res}");
    assert_eq!(res["replayed"], 3);
    for id in &ids {
        let v = app
            .wait_for_cashout(id, std::time::Duration::from_secs(20), |v| {
                v["state"] == "confirmed"
            })
            .await;
        assert!(
            causes(&v)
                .iter()
                .any(|c| c.starts_with("replayed by ops: topped up")),
            "{v:#}"
        );
        assert_eq!(app.payouts(Some(id)).await.len(), 1);
    }
    let (s, v) = app.admin_post("/v1/dlq/replay", json!({})).await;
    assert_eq!((s, v["error"]["field"].clone()), (422, json!("reason")));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_twice_pays_once_and_says_so() {
    let mut app = TestApp::spawn(low_balance()).await;
    app.start_worker();
    let ids = parked_for_funds(&app, 1).await;
    app.sandbox_config(json!({"balance": 1_000_000})).await;
    let path = format!("/v1/dlq/{}/replay", ids[0]);
    let (s1, first) = app.admin_post(&path, json!({"note": "once"})).await;
    let (s2, second) = app.admin_post(&path, Value::Null).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["outcome"], "replayed");
    assert_eq!(second["outcome"], "not_parked", "{second}");
    let v = app.wait_settled(&ids[0]).await;
    assert_eq!(v["state"], "confirmed");
    let (_, third) = app.admin_post(&path, Value::Null).await;
    assert_eq!(third["outcome"], "final");
    assert_eq!(app.payouts(Some(&ids[0])).await.len(), 1);
    assert_eq!(
        app.camoo_calls().await["create"],
        2,
        "one refused (402), one paid"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_and_discard_are_recorded_with_the_operator() {
    let mut opts = Options::default();
    opts.poll.deadline_secs = 1;
    let mut app = TestApp::spawn(opts).await;
    app.start_worker();
    let mut ids = Vec::new();
    for i in 0..2 {
        let (_, v) = app
            .post_cashout(&TestApp::order(
                &format!("dlq-never-{i}"),
                &phone(70 + i, 8),
                1_500,
            ))
            .await;
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let v = app.wait_settled(id).await;
        assert_eq!(v["parked"]["reason"], "deadline_exceeded");
    }

    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{}/resolve", ids[0]),
            json!({"as": "confirmed"}),
        )
        .await;
    assert_eq!((s, v["error"]["field"].clone()), (422, json!("note")));
    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{}/resolve", ids[0]),
            json!({"as": "confirmed", "note": "Camoo support confirmed payment by phone"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "confirmed");
    assert!(v["parked"].is_null());
    let history = v["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last["from"].clone(), last["to"].clone()),
        (json!("submitted"), json!("confirmed"))
    );
    assert!(
        last["cause"]
            .as_str()
            .unwrap()
            .contains("resolved as confirmed by ops: Camoo support")
    );

    // Camoo accepted the other one: discarding it could mark a paid cashout failed, so it
    // takes a resolve, after checking with the provider.
    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{}/discard", ids[1]),
            json!({"note": "customer cancelled"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("resolve"));
    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{}/resolve", ids[1]),
            json!({"as": "failed", "note": "Camoo says never paid"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "failed");

    // Acting on what is no longer parked is a conflict, not a silent change.
    let (s, _) = app
        .admin_post(
            &format!("/v1/dlq/{}/resolve", ids[0]),
            json!({"as": "failed", "note": "again"}),
        )
        .await;
    assert_eq!(s, 409);
    let (_, empty) = app.admin_get("/v1/dlq").await;
    assert!(empty["items"].as_array().unwrap().is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_marks_a_never_sent_cashout_failed_with_the_note() {
    let mut app = TestApp::spawn(low_balance()).await;
    app.start_worker();
    let ids = parked_for_funds(&app, 1).await;
    let (s, v) = app
        .admin_post(&format!("/v1/dlq/{}/discard", ids[0]), json!({}))
        .await;
    assert_eq!((s, v["error"]["field"].clone()), (422, json!("note")));
    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{}/discard", ids[0]),
            json!({"note": "customer cancelled"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "failed");
    assert!(v["parked"].is_null());
    assert!(
        causes(&v)
            .iter()
            .any(|c| c == "discarded by ops: customer cancelled")
    );
    let last = v["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["from"].clone(), last["to"].clone()),
        (json!("created"), json!("failed"))
    );
    assert!(app.payouts(Some(&ids[0])).await.is_empty());
    app.shutdown().await;
}

/// `POST /v1/dlq/resolve` settles several parked cashouts at once; each id is reported, and an
/// unknown or malformed one does not stop the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_cashouts_are_resolved_in_bulk_over_http() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.fault(
        "create",
        2,
        serde_json::json!({"kind": "reset", "phase": "after"}),
    )
    .await;
    app.start_worker();
    let mut ids = Vec::new();
    for i in 0..2 {
        let (s, v) = app
            .post_cashout(&TestApp::order(
                &format!("bulk-http-{i}"),
                &phone(57 + i, 1),
                1_500,
            ))
            .await;
        assert_eq!(s, 202);
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        assert_eq!(
            app.wait_settled(id).await["parked"]["reason"],
            "outcome_unknown"
        );
    }
    // The note is required.
    let (s, v) = app
        .admin_post(
            "/v1/dlq/resolve",
            serde_json::json!({"ids": ids, "as": "failed"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("note")),
        "{v}"
    );
    let unknown = cashout_core::CashoutId::generate().to_string();
    let body = serde_json::json!({
        "ids": [ids[0], ids[1], unknown, "nope"],
        "as": "failed",
        "note": "checked with Camoo: not paid"
    });
    let (s, v) = app.admin_post("/v1/dlq/resolve", body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["resolved"], 2, "{v}");
    let outcomes: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["resolved", "resolved", "not_found", "invalid_id"]
    );
    for id in &ids {
        let c = app.get_cashout(id).await;
        assert_eq!(
            (c["state"].as_str(), c["parked"].is_null()),
            (Some("failed"), true)
        );
    }
    // A producer token may not.
    let (s, _) = app
        .admin(
            reqwest::Method::POST,
            "/v1/dlq/resolve",
            Some(serde_json::json!({"ids": [ids[0]], "as": "failed", "note": "x"})),
            cashout_tests::TOKEN,
        )
        .await;
    assert_eq!(s, 403);
    app.shutdown().await;
}
