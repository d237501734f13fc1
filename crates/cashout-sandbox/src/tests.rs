//! End-to-end tests of the sandbox over loopback HTTP.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::camoo::{AccountResponse, CallCounts, CamooConfigView, CashoutResponse, VerifyResponse};
use crate::{CamooConfig, PayoutList, SandboxConfig, SandboxHandle, camoo_signature, spawn};

const KEY: &str = "sandbox-key";
const SECRET: &str = "sandbox-secret";
const SETTLE_MS: u64 = 200;

fn config() -> SandboxConfig {
    SandboxConfig {
        camoo: CamooConfig {
            settle_delay_ms: SETTLE_MS,
            long_pending_ms: 3 * SETTLE_MS,
            ..CamooConfig::default()
        },
        ..SandboxConfig::default()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

struct Camoo {
    sandbox: SandboxHandle,
    http: reqwest::Client,
}

impl Camoo {
    async fn start(config: SandboxConfig) -> Self {
        Self {
            sandbox: spawn(config).await.expect("spawn"),
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.camoo_base_url())
    }

    async fn create(&self, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/cashout"))
            .header("X-Api-Key", KEY)
            .header("X-Api-Secret", SECRET)
            .json(&body)
            .send()
            .await
            .expect("create")
    }

    async fn create_ok(&self, body: Value) -> CashoutResponse {
        let response = self.create(body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("create body")
    }

    async fn verify(&self, id: &str) -> reqwest::Response {
        self.http
            .get(self.url("/verify"))
            .query(&[("id", id)])
            .header("X-Api-Key", KEY)
            .header("X-Api-Secret", SECRET)
            .send()
            .await
            .expect("verify")
    }

    async fn status(&self, id: &str) -> crate::camoo::Payment {
        let response = self.verify(id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: VerifyResponse = response.json().await.expect("verify body");
        assert_eq!(body.code, 200);
        body.verify
    }

    async fn statuses(&self, ids: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for id in ids {
            out.push(self.status(id).await.status);
        }
        out
    }

    async fn balance(&self) -> String {
        let response = self
            .http
            .get(self.url("/account"))
            .header("X-Api-Key", KEY)
            .header("X-Api-Secret", SECRET)
            .send()
            .await
            .expect("account");
        assert_eq!(response.status(), StatusCode::OK);
        let body: AccountResponse = response.json().await.expect("account body");
        assert_eq!(body.account.currency, "XAF");
        body.account.balance
    }

    async fn admin<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.http
            .get(format!("{}{path}", self.sandbox.base_url()))
            .send()
            .await
            .expect("admin")
            .json()
            .await
            .expect("admin body")
    }
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test]
async fn health_and_auth() {
    let camoo = Camoo::start(config()).await;
    let health = camoo
        .http
        .get(format!("{}/healthz", camoo.sandbox.base_url()))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.expect("text"), "ok");

    let body = json!({"amount": 100, "phone_number": "+237612345671"});
    for (key, secret) in [
        (None, None),
        (Some(KEY), Some("wrong")),
        (Some("x"), Some(SECRET)),
    ] {
        let mut request = camoo.http.post(camoo.url("/cashout")).json(&body);
        if let Some(key) = key {
            request = request.header("X-Api-Key", key);
        }
        if let Some(secret) = secret {
            request = request.header("X-Api-Secret", secret);
        }
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], 401);
        assert!(body["errors"].is_object());
    }
    let account = camoo
        .http
        .get(camoo.url("/account"))
        .send()
        .await
        .expect("account");
    assert_eq!(account.status(), StatusCode::UNAUTHORIZED);
    let calls: CallCounts = camoo.admin("/_admin/camoo/calls").await;
    assert_eq!(calls, CallCounts::default());
    assert!(
        camoo
            .admin::<PayoutList>("/_admin/payouts")
            .await
            .payouts
            .is_empty()
    );
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn validation_names_fields() {
    let camoo = Camoo::start(config()).await;
    let response = camoo
        .create(json!({
            "amount": "-5",
            "phone_number": "12",
            "currency": "GBP",
            "external_reference": "x".repeat(191),
        }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], 400);
    let errors = body["errors"].as_object().expect("errors");
    for field in ["amount", "phone_number", "currency", "external_reference"] {
        assert!(errors.contains_key(field), "{field} not named in {body}");
    }

    let xaf_fraction = camoo
        .create(json!({"amount": "12.50", "phone_number": "+237612345671"}))
        .await;
    assert_eq!(xaf_fraction.status(), StatusCode::BAD_REQUEST);
    let body: Value = xaf_fraction.json().await.expect("json");
    assert!(body["errors"]["amount"].is_string());

    let malformed = camoo
        .http
        .post(camoo.url("/cashout"))
        .header("X-Api-Key", KEY)
        .header("X-Api-Secret", SECRET)
        .header("Content-Type", "application/json")
        .body("{\"amount\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.expect("json");
    assert_eq!(body["code"], 400);

    let missing_id = camoo
        .http
        .get(camoo.url("/verify"))
        .header("X-Api-Key", KEY)
        .header("X-Api-Secret", SECRET)
        .send()
        .await
        .expect("verify");
    assert_eq!(missing_id.status(), StatusCode::BAD_REQUEST);
    let unknown = camoo.verify("no-such-id").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["code"], 404);

    // Nothing executed, but the authenticated calls were counted.
    assert!(
        camoo
            .admin::<PayoutList>("/_admin/payouts")
            .await
            .payouts
            .is_empty()
    );
    let calls: CallCounts = camoo.admin("/_admin/camoo/calls").await;
    assert_eq!((calls.create, calls.verify), (3, 2));
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn confirmed_after_settle_delay_and_audited_once() {
    let camoo = Camoo::start(config()).await;
    let created = camoo
        .create_ok(json!({
            "amount": "1500",
            "phone_number": "+237671234561",
            "external_reference": "order-1",
        }))
        .await;
    assert_eq!(created.code, 201);
    assert_eq!(created.message, "Cashout created");
    let payment = created.cash_out;
    assert_eq!(payment.status, "PENDING");
    assert_eq!(payment.amount, "1500");
    assert_eq!(payment.currency, "XAF");
    assert_eq!(payment.network, "MTN");
    assert_eq!(payment.phone_number, "+*********561");
    assert_eq!(payment.completed_at, None);
    assert_eq!(payment.external_reference.as_deref(), Some("order-1"));

    assert_eq!(camoo.status(&payment.id).await.status, "PENDING");
    assert_eq!(camoo.balance().await, "999998500");
    sleep_ms(SETTLE_MS + 50).await;
    let settled = camoo.status(&payment.id).await;
    assert_eq!(settled.status, "CONFIRMED");
    assert!(settled.completed_at.is_some());
    assert_eq!(camoo.balance().await, "999998500");

    let audit: PayoutList = camoo.admin("/_admin/payouts").await;
    assert_eq!(audit.payouts.len(), 1);
    let entry = &audit.payouts[0];
    assert_eq!(entry.provider, "camoo");
    assert_eq!(entry.provider_id, payment.id);
    assert_eq!(entry.amount, "1500");
    assert_eq!(entry.phone_last3, "561");
    let filtered: PayoutList = camoo
        .admin("/_admin/payouts?external_reference=order-1")
        .await;
    assert_eq!(filtered.payouts.len(), 1);
    let other: PayoutList = camoo
        .admin("/_admin/payouts?external_reference=order-2")
        .await;
    assert!(other.payouts.is_empty());
    let calls: CallCounts = camoo.admin("/_admin/camoo/calls").await;
    assert_eq!(calls.create, 1);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn outcomes_by_last_digit() {
    let camoo = Camoo::start(config()).await;
    let mut ids = Vec::new();
    for phone in [
        "+237612345670",
        "+237612345677",
        "+237612345678",
        "+237612345679",
    ] {
        let created = camoo
            .create_ok(json!({"amount": 1000, "phone_number": phone}))
            .await;
        ids.push(created.cash_out.id);
    }
    assert_eq!(
        camoo.statuses(&ids).await,
        ["PENDING", "UNDERINVESTIGATION", "PENDING", "PENDING"]
    );
    assert_eq!(camoo.balance().await, "999996000");
    sleep_ms(SETTLE_MS + 50).await;
    assert_eq!(
        camoo.statuses(&ids).await,
        ["FAILED", "success", "PENDING", "PENDING"]
    );
    // The failed payout gave its money back.
    assert_eq!(camoo.balance().await, "999997000");
    sleep_ms(2 * SETTLE_MS).await;
    assert_eq!(
        camoo.statuses(&ids).await,
        ["FAILED", "success", "PENDING", "CONFIRMED"]
    );
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn insufficient_funds_and_live_config() {
    let mut config = config();
    config.camoo.balance = 1000;
    let camoo = Camoo::start(config).await;
    camoo
        .create_ok(json!({"amount": 600, "phone_number": "612345671", "external_reference": "a"}))
        .await;
    let refused = camoo
        .create(json!({"amount": 600, "phone_number": "612345671", "external_reference": "b"}))
        .await;
    assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["code"], 402);
    assert_eq!(body["message"], "Insufficient funds");
    assert_eq!(camoo.balance().await, "400");
    let audit: PayoutList = camoo.admin("/_admin/payouts").await;
    assert_eq!(audit.payouts.len(), 1);

    let view: CamooConfigView = camoo
        .http
        .put(format!("{}/_admin/camoo/config", camoo.sandbox.base_url()))
        .json(&json!({"balance": 5000, "settle_delay_ms": 10}))
        .send()
        .await
        .expect("put")
        .json()
        .await
        .expect("view");
    assert_eq!(view.balance, 5000);
    assert_eq!(view.settle_delay_ms, 10);
    assert_eq!(view.long_pending_ms, 3 * SETTLE_MS);
    let bad = camoo
        .http
        .put(format!("{}/_admin/camoo/config", camoo.sandbox.base_url()))
        .json(&json!({"api_secret": "x"}))
        .send()
        .await
        .expect("put");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    camoo
        .create_ok(json!({"amount": 600, "phone_number": "612345671", "external_reference": "b"}))
        .await;
    assert_eq!(camoo.balance().await, "4400");
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn create_survives_client_disconnect() {
    let mut config = config();
    config.camoo.create_delay_ms = 300;
    let camoo = Camoo::start(config).await;
    let result = camoo
        .http
        .post(camoo.url("/cashout"))
        .header("X-Api-Key", KEY)
        .header("X-Api-Secret", SECRET)
        .json(&json!({"amount": 100, "phone_number": "612345671", "external_reference": "gone"}))
        .timeout(Duration::from_millis(50))
        .send()
        .await;
    assert!(result.is_err(), "the client should have timed out");
    let audit: PayoutList = camoo.admin("/_admin/payouts?external_reference=gone").await;
    assert_eq!(audit.payouts.len(), 1);
    assert_eq!(camoo.balance().await, "999999900");
    let payment = camoo.status(&audit.payouts[0].provider_id).await;
    assert_eq!(payment.status, "PENDING");
    camoo.sandbox.shutdown().await;
}

type Received = mpsc::UnboundedSender<HashMap<String, String>>;

/// A notification receiver that refuses the first `refusals` calls with 500, then answers 200.
async fn receiver(refusals: usize) -> (String, mpsc::UnboundedReceiver<HashMap<String, String>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = (
        tx,
        std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    );
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::get(
                move |State((tx, count)): State<(
                    Received,
                    std::sync::Arc<std::sync::atomic::AtomicUsize>,
                )>,
                      Query(query): Query<HashMap<String, String>>| async move {
                    let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = tx.send(query);
                    if n < refusals {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook?tenant=t1"), rx)
}

fn check_signature(query: &HashMap<String, String>) {
    let params: Vec<(&str, &str)> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "sig" && k.as_str() != "tenant")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(query["sig"], camoo_signature(&params, SECRET));
    assert_ne!(query["sig"], camoo_signature(&params, "other-secret"));
}

#[tokio::test]
async fn notification_is_signed_and_retried() {
    let camoo = Camoo::start(config()).await;
    let (hook, mut received) = receiver(1).await;
    let created = camoo
        .create_ok(json!({
            "amount": 2500,
            "phone_number": "+237691234567",
            "external_reference": "order/7 é",
            "notification_url": hook,
        }))
        .await;
    let id = created.cash_out.id;
    assert_eq!(created.cash_out.network, "orange");

    let first = tokio::time::timeout(Duration::from_secs(2), received.recv())
        .await
        .expect("first notification in time")
        .expect("first notification");
    assert_eq!(first["payment_id"], id);
    assert_eq!(first["status"], "success");
    assert_eq!(first["trx"], "order/7 é");
    assert_eq!(first["tenant"], "t1");
    assert!(first["status_time"].ends_with('Z'));
    check_signature(&first);

    // Refused once with 500: retried 500 ms later with the same parameters.
    let second = tokio::time::timeout(Duration::from_secs(2), received.recv())
        .await
        .expect("retry in time")
        .expect("retry");
    assert_eq!(second, first);
    sleep_ms(50).await;
    let payment = camoo.status(&id).await;
    assert_eq!(payment.status, "success");
    assert_eq!(
        payment.completed_at.as_deref(),
        Some(first["status_time"].as_str())
    );
    assert!(payment.notified_at.is_some());
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn notification_without_reference_or_when_disabled() {
    let camoo = Camoo::start(config()).await;
    let (hook, mut received) = receiver(0).await;
    let first = camoo
        .create_ok(json!({"amount": 10, "phone_number": "612345670", "notification_url": hook}))
        .await;
    let query = tokio::time::timeout(Duration::from_secs(2), received.recv())
        .await
        .expect("notification in time")
        .expect("notification");
    assert_eq!(query["payment_id"], first.cash_out.id);
    assert_eq!(query["status"], "FAILED");
    assert!(!query.contains_key("trx"));
    check_signature(&query);

    let off = camoo
        .http
        .put(format!("{}/_admin/camoo/config", camoo.sandbox.base_url()))
        .json(&json!({"notify": false}))
        .send()
        .await
        .expect("put");
    assert_eq!(off.status(), StatusCode::OK);
    camoo
        .create_ok(json!({"amount": 10, "phone_number": "612345671", "notification_url": hook}))
        .await;
    sleep_ms(SETTLE_MS + 150).await;
    assert!(
        received.try_recv().is_err(),
        "no notification when notify is off"
    );
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn shutdown_drops_pending_notifications() {
    let camoo = Camoo::start(config()).await;
    let (hook, mut received) = receiver(0).await;
    camoo
        .create_ok(json!({"amount": 10, "phone_number": "612345671", "notification_url": hook}))
        .await;
    let base = camoo.sandbox.base_url();
    camoo.sandbox.shutdown().await;
    assert!(
        camoo
            .http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
    );
    sleep_ms(SETTLE_MS + 150).await;
    assert!(
        received.try_recv().is_err(),
        "no notification after shutdown"
    );
}

mod faults;
mod omno;
mod omt;
mod skeleton;
