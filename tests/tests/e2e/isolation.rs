//! Producers are kept apart: each token's idempotency keys and cashouts are its own; revoke and
//! approve are operator actions; operator tokens stay off producer routes unless configured.

use cashout_tests::{ADMIN_TOKEN, OTHER_TOKEN, Options, TOKEN, TestApp, phone};
use serde_json::Value;

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.api_url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_sees_and_collides_with_its_own_cashouts_only() {
    use reqwest::Method;
    let app = TestApp::spawn(Options::default()).await;
    let mine = TestApp::order("iso-1", &phone(91, 1), 1_500);
    let (s, created) = call(&app, Method::POST, "/v1/cashouts", TOKEN, Some(&mine)).await;
    assert_eq!(s, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // Another producer cannot read it: answered as unknown.
    let (s, v) = call(
        &app,
        Method::GET,
        &format!("/v1/cashouts/{id}"),
        OTHER_TOKEN,
        None,
    )
    .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found");

    // The same key with another body, from another producer: its own new cashout, no 409 and
    // no mention of the first producer's cashout.
    let theirs = TestApp::order("iso-1", &phone(92, 1), 2_500);
    let (s, other) = call(
        &app,
        Method::POST,
        "/v1/cashouts",
        OTHER_TOKEN,
        Some(&theirs),
    )
    .await;
    assert_eq!(s, 202, "{other}");
    assert_ne!(other["id"], created["id"]);
    assert!(!other.to_string().contains(&id));
    // Its duplicate is its own.
    let (s, again) = call(
        &app,
        Method::POST,
        "/v1/cashouts",
        OTHER_TOKEN,
        Some(&theirs),
    )
    .await;
    assert_eq!((s, &again["id"]), (200, &other["id"]));
    // And the first producer still gets its own on a retry, a 409 on a changed body.
    let (s, again) = call(&app, Method::POST, "/v1/cashouts", TOKEN, Some(&mine)).await;
    assert_eq!((s, &again["id"]), (200, &created["id"]));
    let (s, conflict) = call(&app, Method::POST, "/v1/cashouts", TOKEN, Some(&theirs)).await;
    assert_eq!(s, 409, "{conflict}");
    assert!(!conflict.to_string().contains(other["id"].as_str().unwrap()));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_and_approve_are_operator_actions() {
    use reqwest::Method;
    let app = TestApp::spawn(Options::default()).await;
    let (s, created) = app
        .post_cashout(&TestApp::order("iso-2", &phone(93, 1), 1_500))
        .await;
    assert_eq!(s, 202);
    let id = created["id"].as_str().unwrap().to_owned();
    for action in ["revoke", "approve"] {
        let path = format!("/v1/cashouts/{id}/{action}");
        let (s, v) = call(&app, Method::POST, &path, TOKEN, None).await;
        assert_eq!(s, 403, "{action}: {v}");
        assert_eq!(v["error"]["code"], "forbidden");
    }
    assert_eq!(app.get_cashout(&id).await["state"], "created");
    // The operator may.
    let (s, v) = app
        .admin_post(&format!("/v1/cashouts/{id}/revoke"), Value::Null)
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("revoked")), "{v}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_tokens_stay_off_producer_routes_unless_configured() {
    use reqwest::Method;
    let app = TestApp::spawn(Options::default()).await;
    let body = TestApp::order("iso-3", &phone(94, 1), 1_500);
    let (s, v) = call(&app, Method::POST, "/v1/cashouts", ADMIN_TOKEN, Some(&body)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let (s, created) = app.post_cashout(&body).await;
    assert_eq!(s, 202);
    let id = created["id"].as_str().unwrap().to_owned();
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/v1/cashouts/{id}"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(s, 403);
    app.shutdown().await;

    // Allowed by configuration: the operator reads every producer's cashouts.
    let app = TestApp::spawn(Options {
        operators_on_producer_routes: true,
        ..Options::default()
    })
    .await;
    let (s, created) = app.post_cashout(&body).await;
    assert_eq!(s, 202);
    let id = created["id"].as_str().unwrap().to_owned();
    let (s, v) = call(
        &app,
        Method::GET,
        &format!("/v1/cashouts/{id}"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!((s, v["id"].as_str()), (200, Some(id.as_str())), "{v}");
    app.shutdown().await;
}
