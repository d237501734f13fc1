//! The OMNO simulator over loopback HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Number, Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{client, sleep_ms};
use crate::faults::StoredFault;
use crate::omno::{
    AdminPayoutList, AdminPayoutView, CreatePayoutResponse, OmnoCallCounts, OmnoConfigView,
    OmnoWebhook, PayoutView,
};
use crate::{AuditEntry, OmnoConfig, PayoutList, SandboxConfig, SandboxHandle, spawn};

const TOKEN: &str = "sandbox-omno-token";
const SETTLE_MS: u64 = 200;

struct Omno {
    sandbox: SandboxHandle,
    http: reqwest::Client,
}

fn config() -> SandboxConfig {
    SandboxConfig {
        omno: OmnoConfig {
            settle_delay_ms: SETTLE_MS,
            ..OmnoConfig::default()
        },
        ..SandboxConfig::default()
    }
}

/// The documented example, for customer `external_user_id` and order `order_id`.
fn payout(order_id: &str, external_user_id: &str) -> Value {
    json!({
        "orderId": order_id,
        "value": 100,
        "currency": "USD",
        "kycVerified": false,
        "customer": {
            "externalUserId": external_user_id,
            "firstName": "John",
            "lastName": "Doe",
            "email": "john.doe@example.com",
            "phoneNumber": "1 1234567890",
            "dateOfBirth": "1990-12-01",
            "billing": {
                "address": "123 Main St",
                "city": "Atlanta",
                "state": "GA",
                "countryCode": "US",
                "postalCode": "30308"
            },
            "kyc": {"idType": "passport"}
        },
        "routerId": "944732c4608c441aa91379478b91f76e",
        "merchantAdditionalData": {"property1": {}}
    })
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.expect("json body"))
}

impl Omno {
    async fn start(config: SandboxConfig) -> Self {
        Self {
            sandbox: spawn(config).await.expect("spawn"),
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/public/payout{path}", self.sandbox.omno_base_url())
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    async fn create(&self, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(""))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .expect("create");
        read(response).await
    }

    async fn create_ok(&self, body: &Value) -> String {
        let (status, body) = self.create(body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let created: CreatePayoutResponse = serde_json::from_value(body).expect("create body");
        created.payout_id
    }

    async fn put(&self, id: &str, action: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .put(self.url(&format!("/{id}/{action}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("put");
        read(response).await
    }

    async fn confirm(&self, id: &str) -> (StatusCode, Value) {
        self.put(id, "confirm").await
    }

    async fn reject(&self, id: &str) -> (StatusCode, Value) {
        self.put(id, "reject").await
    }

    async fn get(&self, id: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(&format!("/{id}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get");
        read(response).await
    }

    async fn view(&self, id: &str) -> PayoutView {
        let (status, body) = self.get(id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("payout view")
    }

    async fn statuses(&self, ids: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for id in ids {
            out.push(self.view(id).await.status);
        }
        out
    }

    async fn admin<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.http
            .get(self.admin_url(path))
            .send()
            .await
            .expect("admin")
            .json()
            .await
            .expect("admin body")
    }

    async fn audit(&self) -> Vec<AuditEntry> {
        self.admin::<PayoutList>("/_admin/payouts").await.payouts
    }

    async fn calls(&self, order_id: Option<&str>) -> OmnoCallCounts {
        match order_id {
            Some(order_id) => {
                self.admin(&format!("/_admin/omno/calls?order_id={order_id}"))
                    .await
            }
            None => self.admin("/_admin/omno/calls").await,
        }
    }

    async fn put_config(&self, patch: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .put(self.admin_url("/_admin/omno/config"))
            .json(&patch)
            .send()
            .await
            .expect("put config");
        read(response).await
    }
}

fn conflict(message: &str) -> Value {
    json!({"error": "Conflict", "message": message})
}

#[tokio::test]
async fn unauthenticated_calls_are_refused_and_not_counted() {
    let omno = Omno::start(config()).await;
    let body = payout("o-1", "u-1");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic c2FuZGJveDpzYW5kYm94"),
        Some(TOKEN),
        Some("Bearer"),
    ] {
        let mut request = omno.http.post(omno.url("")).json(&body);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.expect("send");
        assert!(response.headers().contains_key("www-authenticate"));
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(body, json!({"error": "Unauthorized"}));
    }
    let id = omno.create_ok(&body).await;
    // Lower-case scheme is fine; the token is exact.
    let ok = omno
        .http
        .get(omno.url(&format!("/{id}")))
        .header("Authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .expect("get");
    assert_eq!(ok.status(), StatusCode::OK);
    for request in [
        omno.http.put(omno.url(&format!("/{id}/confirm"))),
        omno.http.put(omno.url(&format!("/{id}/reject"))),
        omno.http.get(omno.url(&format!("/{id}"))),
        omno.http.get(omno.url("/unknown")),
    ] {
        let (status, body) = read(request.bearer_auth("nope").send().await.expect("send")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, json!({"error": "Unauthorized"}));
    }
    assert_eq!(
        omno.calls(None).await,
        OmnoCallCounts {
            create: 1,
            status: 1,
            ..OmnoCallCounts::default()
        }
    );
    assert!(omno.audit().await.is_empty());
    assert_eq!(omno.view(&id).await.status, "WAITING_FOR_CONFIRMATION");
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn create_validation_names_fields() {
    let omno = Omno::start(config()).await;
    let mut body = payout("o-bad", "u-1");
    body["value"] = json!(-5);
    body["currency"] = json!("DOLLARS");
    body["kycVerified"] = Value::Null;
    body["customer"]["dateOfBirth"] = json!("01/12/1990");
    body["customer"]["billing"]["countryCode"] = json!("USA");
    body["customer"].as_object_mut().map(|c| c.remove("email"));
    let (status, answer) = omno.create(&body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "Bad Request");
    let fields = answer["fields"].as_object().expect("fields");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "currency",
            "customer.billing.countryCode",
            "customer.dateOfBirth",
            "customer.email",
            "kycVerified",
            "value",
        ]
    );
    assert!(fields.values().all(Value::is_string));

    let (status, answer) = omno.create(&json!({"orderId": 7})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["orderId", "value", "currency", "kycVerified", "customer"] {
        assert!(answer["fields"][field].is_string(), "{field} in {answer}");
    }
    let malformed = omno
        .http
        .post(omno.url(""))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/json")
        .body("{\"orderId\": ")
        .send()
        .await
        .expect("send");
    let (status, answer) = read(malformed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["fields"]["body"].is_string());

    // Nothing created; the authenticated calls were counted (by orderId when it was a string).
    assert!(
        omno.admin::<AdminPayoutList>("/_admin/omno/payouts")
            .await
            .payouts
            .is_empty()
    );
    assert_eq!(omno.calls(None).await.create, 3);
    assert_eq!(omno.calls(Some("o-bad")).await.create, 1);
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn create_confirm_settles_and_is_audited_once() {
    let omno = Omno::start(config()).await;
    let (status, created) = omno.create(&payout("order-1", "cust-1")).await;
    assert_eq!(status, StatusCode::OK);
    let id = created["payoutId"].as_str().expect("payoutId").to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created["status"], "CREATED");
    assert!(
        created["iframeUrls"]["card"]
            .as_str()
            .is_some_and(|u| u.contains(&id))
    );
    assert!(created["iframeUrls"]["apm"].is_string());

    let waiting = omno.view(&id).await;
    assert_eq!(waiting.status, "WAITING_FOR_CONFIRMATION");
    assert_eq!(waiting.order_id, "order-1");
    assert_eq!(waiting.amount, Number::from(100));
    assert_eq!(waiting.currency, "USD");
    assert_eq!(waiting.initial_amount, Number::from(100));
    assert_eq!(waiting.initial_currency, "USD");
    assert_eq!(waiting.status_reason, None);
    assert!(waiting.created_at.ends_with('Z'));
    assert!(omno.audit().await.is_empty(), "creating moves no money");
    sleep_ms(SETTLE_MS + 50).await;
    assert_eq!(omno.view(&id).await.status, "WAITING_FOR_CONFIRMATION");

    let (status, body) = omno.confirm(&id).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (_, raw) = omno.get(&id).await;
    assert_eq!(raw["status"], "PENDING");
    assert_eq!(raw["statusReason"], Value::Null);
    for key in [
        "payoutId",
        "orderId",
        "amount",
        "currency",
        "initialAmount",
        "initialCurrency",
        "createdAt",
        "updatedAt",
    ] {
        assert!(raw.get(key).is_some(), "{key} in {raw}");
    }
    let audit = omno.audit().await;
    assert_eq!(audit.len(), 1);
    let entry = &audit[0];
    assert_eq!(entry.provider, "omno");
    assert_eq!(entry.provider_id, id);
    assert_eq!(entry.external_reference.as_deref(), Some("order-1"));
    assert_eq!(
        (entry.amount.as_str(), entry.currency.as_str()),
        ("100", "USD")
    );
    assert_eq!(entry.phone_last3, "890");

    sleep_ms(SETTLE_MS + 50).await;
    let settled = omno.view(&id).await;
    assert_eq!(settled.status, "SUCCESS");
    assert_eq!(settled.status_reason, None);
    assert_eq!(omno.audit().await.len(), 1, "audited once");
    let admin: AdminPayoutView = omno.admin(&format!("/_admin/omno/payouts/{id}")).await;
    assert!(admin.confirmed && !admin.rejected);
    assert_eq!(admin.payout, settled);
    let filtered: PayoutList = omno
        .admin("/_admin/payouts?external_reference=order-1")
        .await;
    assert_eq!(filtered.payouts.len(), 1);
    assert_eq!(
        omno.calls(Some("order-1")).await,
        OmnoCallCounts {
            create: 1,
            confirm: 1,
            reject: 0,
            status: 4,
        }
    );
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn confirm_and_reject_happen_at_most_once() {
    let omno = Omno::start(config()).await;
    let confirmed = omno.create_ok(&payout("o-a", "u-1")).await;
    assert_eq!(omno.confirm(&confirmed).await.0, StatusCode::OK);
    let (status, body) = omno.confirm(&confirmed).await;
    assert_eq!(
        (status, body),
        (StatusCode::CONFLICT, conflict("payout already confirmed"))
    );
    let (status, body) = omno.reject(&confirmed).await;
    assert_eq!(
        (status, body),
        (StatusCode::CONFLICT, conflict("payout already confirmed"))
    );
    assert_eq!(
        omno.audit().await.len(),
        1,
        "the second confirm executed nothing"
    );

    let rejected = omno.create_ok(&payout("o-b", "u-1")).await;
    assert_eq!(omno.reject(&rejected).await, (StatusCode::OK, json!({})));
    assert_eq!(omno.view(&rejected).await.status, "REJECTED");
    let (status, body) = omno.confirm(&rejected).await;
    assert_eq!(
        (status, body),
        (StatusCode::CONFLICT, conflict("payout already rejected"))
    );
    assert_eq!(
        omno.reject(&rejected).await,
        (StatusCode::CONFLICT, conflict("payout already rejected"))
    );
    sleep_ms(SETTLE_MS + 50).await;
    assert_eq!(omno.view(&rejected).await.status, "REJECTED", "final");
    let audit = omno.audit().await;
    assert_eq!(audit.len(), 1, "nothing executed for the rejected payout");
    assert_eq!(audit[0].provider_id, confirmed);
    let admin: AdminPayoutView = omno
        .admin(&format!("/_admin/omno/payouts/{rejected}"))
        .await;
    assert!(admin.rejected && !admin.confirmed);

    for (status, body) in [
        omno.confirm("00000000000000000000000000000000").await,
        omno.reject("nope").await,
        omno.get("nope").await,
    ] {
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, json!({"error": "Not Found"}))
        );
    }
    let unknown_admin = omno
        .http
        .get(omno.admin_url("/_admin/omno/payouts/nope"))
        .send()
        .await
        .expect("admin");
    assert_eq!(unknown_admin.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        omno.calls(None).await,
        OmnoCallCounts {
            create: 2,
            confirm: 4,
            reject: 4,
            status: 3,
        }
    );
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn same_order_id_makes_two_payouts() {
    let omno = Omno::start(config()).await;
    let first = omno.create_ok(&payout("dup", "u-1")).await;
    let second = omno.create_ok(&payout("dup", "u-1")).await;
    assert_ne!(first, second);
    assert_eq!(omno.calls(Some("dup")).await.create, 2);
    assert_eq!(omno.calls(Some("other")).await, OmnoCallCounts::default());
    let listed: AdminPayoutList = omno.admin("/_admin/omno/payouts?order_id=dup").await;
    let ids: Vec<&str> = listed
        .payouts
        .iter()
        .map(|p| p.payout.payout_id.as_str())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn outcomes_by_last_character_of_external_user_id() {
    let omno = Omno::start(config()).await;
    let mut ids = Vec::new();
    for customer in ["c-10", "c-9", "c-8", "c-7", "c-1"] {
        let id = omno.create_ok(&payout(customer, customer)).await;
        assert_eq!(omno.confirm(&id).await.0, StatusCode::OK);
        ids.push(id);
    }
    assert_eq!(omno.audit().await.len(), 5);
    assert_eq!(
        omno.statuses(&ids).await,
        ["PENDING", "PENDING", "PENDING", "PENDING", "PENDING"]
    );
    sleep_ms(SETTLE_MS + 50).await;
    assert_eq!(
        omno.statuses(&ids).await,
        ["DECLINED", "PENDING", "ON_HOLD", "FAILED", "SUCCESS"]
    );
    let declined = omno.view(&ids[0]).await;
    let reason = declined.status_reason.expect("statusReason");
    assert_eq!(reason.reason, "DECLINED");
    assert_eq!(reason.detailed_status, "NO_PROVIDER_AVAILABLE");
    assert_eq!(omno.view(&ids[3]).await.status_reason, None);
    sleep_ms(SETTLE_MS).await;
    assert_eq!(
        omno.statuses(&ids).await,
        ["DECLINED", "PENDING", "SUCCESS", "FAILED", "SUCCESS"]
    );
    // The declined payout keeps its audit entry: it records what was executed.
    assert_eq!(omno.audit().await.len(), 5);
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn conversion_reports_initial_amount_and_currency() {
    let mut config = config();
    config.omno.convert_to = Some("EUR".to_owned());
    let omno = Omno::start(config).await;
    let mut body = payout("fx-1", "u-1");
    body["value"] = json!(12.34);
    let id = omno.create_ok(&body).await;
    let (_, raw) = omno.get(&id).await;
    assert_eq!(raw["amount"], json!(11.11));
    assert_eq!(raw["currency"], "EUR");
    assert_eq!(raw["initialAmount"], json!(12.34));
    assert_eq!(raw["initialCurrency"], "USD");
    omno.confirm(&id).await;
    let audit = omno.audit().await;
    assert_eq!(
        (audit[0].amount.as_str(), audit[0].currency.as_str()),
        ("11.11", "EUR")
    );

    // Live: off, then on again with another currency, through the admin config.
    let (status, view) = omno.put_config(json!({"convert_to": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["convert_to"], Value::Null);
    let plain = omno.create_ok(&payout("fx-2", "u-1")).await;
    let plain = omno.view(&plain).await;
    assert_eq!(
        (plain.amount.clone(), plain.currency.as_str()),
        (Number::from(100), "USD")
    );
    assert_eq!(plain.initial_amount, plain.amount);
    let (_, view) = omno.put_config(json!({"convert_to": "gbp"})).await;
    assert_eq!(view["convert_to"], "GBP");
    let converted = omno.create_ok(&payout("fx-3", "u-1")).await;
    let converted = omno.view(&converted).await;
    assert_eq!(converted.amount, Number::from(90));
    assert_eq!(converted.currency, "GBP");
    assert_eq!(converted.initial_amount, Number::from(100));
    assert_eq!(converted.initial_currency, "USD");
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn admin_config_patches_and_hides_the_token() {
    let omno = Omno::start(config()).await;
    let view: OmnoConfigView = omno.admin("/_admin/omno/config").await;
    assert_eq!(
        view,
        OmnoConfigView {
            settle_delay_ms: SETTLE_MS,
            webhook_url: None,
            convert_to: None,
        }
    );
    let (status, body) = omno
        .put_config(json!({"settle_delay_ms": 10, "webhook_url": "http://127.0.0.1:9/hook"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"settle_delay_ms": 10, "webhook_url": "http://127.0.0.1:9/hook", "convert_to": null})
    );
    assert!(!body.to_string().contains(TOKEN));
    // Absent fields are kept; null clears.
    let (_, body) = omno.put_config(json!({"settle_delay_ms": 20})).await;
    assert_eq!(body["webhook_url"], "http://127.0.0.1:9/hook");
    let (_, body) = omno.put_config(json!({"webhook_url": null})).await;
    assert_eq!(body["webhook_url"], Value::Null);
    assert_eq!(body["settle_delay_ms"], 20);
    for (patch, field) in [
        (json!({"token": "x"}), "body"),
        (json!({"webhook_url": "not a url"}), "webhook_url"),
        (json!({"webhook_url": "ftp://host/x"}), "webhook_url"),
        (json!({"convert_to": "EURO"}), "convert_to"),
        (json!({"settle_delay_ms": -1}), "body"),
    ] {
        let (status, body) = omno.put_config(patch.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}");
        assert!(body["errors"][field].is_string(), "{patch} → {body}");
    }
    let debug = format!("{:?}", OmnoConfig::default());
    assert!(!debug.contains(TOKEN), "{debug}");
    omno.sandbox.shutdown().await;
}

type Hooks = mpsc::UnboundedSender<Value>;

/// A webhook receiver that refuses the first `refusals` calls with 500, then answers 200.
async fn receiver(refusals: usize) -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = (tx, Arc::new(AtomicUsize::new(0)));
    let app = axum::Router::new()
        .route(
            "/omno-hook",
            axum::routing::post(
                move |State((tx, count)): State<(Hooks, Arc<AtomicUsize>)>,
                      axum::Json(body): axum::Json<Value>| async move {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let _ = tx.send(body);
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
    (format!("http://{addr}/omno-hook"), rx)
}

async fn next_hook(received: &mut mpsc::UnboundedReceiver<Value>) -> OmnoWebhook {
    let body = tokio::time::timeout(Duration::from_secs(2), received.recv())
        .await
        .expect("webhook in time")
        .expect("webhook");
    serde_json::from_value(body).expect("webhook body")
}

#[tokio::test]
async fn webhooks_on_each_change_after_confirm_with_retry() {
    let (hook, mut received) = receiver(1).await;
    let mut config = config();
    config.omno.webhook_url = Some(hook);
    let omno = Omno::start(config).await;
    let id = omno.create_ok(&payout("hook-1", "u-1")).await;
    sleep_ms(100).await;
    assert!(received.try_recv().is_err(), "no webhook before confirm");
    omno.confirm(&id).await;

    let expect = |status: &str| OmnoWebhook {
        payout_id: id.clone(),
        order_id: "hook-1".to_owned(),
        status: status.to_owned(),
    };
    // PENDING is refused once with 500, then retried 500 ms later; SUCCESS (at the settle
    // delay) comes on its own, in between on a quiet machine.
    assert_eq!(next_hook(&mut received).await, expect("PENDING"));
    let mut rest = vec![
        next_hook(&mut received).await.status,
        next_hook(&mut received).await.status,
    ];
    rest.sort_unstable();
    assert_eq!(rest, ["PENDING", "SUCCESS"]);
    sleep_ms(600).await;
    assert!(
        received.try_recv().is_err(),
        "acknowledged: no more attempts"
    );

    // A rejected payout sends nothing; one that never settles sends only PENDING.
    let rejected = omno.create_ok(&payout("hook-2", "u-1")).await;
    omno.reject(&rejected).await;
    let forever = omno.create_ok(&payout("hook-3", "u-9")).await;
    omno.confirm(&forever).await;
    let pending = next_hook(&mut received).await;
    assert_eq!(
        (pending.order_id.as_str(), pending.status.as_str()),
        ("hook-3", "PENDING")
    );
    sleep_ms(SETTLE_MS + 100).await;
    assert!(received.try_recv().is_err());
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn webhook_url_set_live_and_stopped_by_shutdown() {
    let (hook, mut received) = receiver(0).await;
    let omno = Omno::start(config()).await;
    let id = omno.create_ok(&payout("live-1", "u-7")).await;
    omno.confirm(&id).await;
    sleep_ms(50).await;
    // Set after the PENDING change (none sent: no URL then); the final change is sent.
    let (status, _) = omno.put_config(json!({"webhook_url": hook})).await;
    assert_eq!(status, StatusCode::OK);
    let failed = next_hook(&mut received).await;
    assert_eq!(
        (failed.payout_id.as_str(), failed.status.as_str()),
        (id.as_str(), "FAILED")
    );

    let other = omno.create_ok(&payout("live-2", "u-1")).await;
    omno.confirm(&other).await;
    assert_eq!(next_hook(&mut received).await.status, "PENDING");
    omno.sandbox.shutdown().await;
    sleep_ms(SETTLE_MS + 100).await;
    assert!(received.try_recv().is_err(), "no webhook after shutdown");
}

impl Omno {
    async fn fault(&self, endpoint: &str, fault: Value) -> StoredFault {
        let response = self
            .http
            .post(self.admin_url("/_admin/faults"))
            .json(&json!({"provider": "omno", "endpoint": endpoint, "fault": fault}))
            .send()
            .await
            .expect("post fault");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("stored fault")
    }
}

#[tokio::test]
async fn status_fault_on_confirm_executes_nothing() {
    let omno = Omno::start(config()).await;
    let id = omno.create_ok(&payout("f-1", "u-1")).await;
    omno.fault(
        "confirm",
        json!({"kind": "status", "status": 503, "retry_after_secs": 2}),
    )
    .await;
    let response = omno
        .http
        .put(omno.url(&format!("/{id}/confirm")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("confirm");
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"2"[..])
    );
    assert_eq!(
        read(response).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "Service Unavailable"})
        )
    );
    assert!(omno.audit().await.is_empty(), "nothing executed");
    assert_eq!(omno.view(&id).await.status, "WAITING_FOR_CONFIRMATION");
    assert_eq!(omno.calls(Some("f-1")).await.confirm, 1, "still counted");

    // The next confirm goes through, once.
    assert_eq!(omno.confirm(&id).await, (StatusCode::OK, json!({})));
    assert_eq!(omno.audit().await.len(), 1);
    omno.sandbox.shutdown().await;
}

#[tokio::test]
async fn after_phase_faults_execute_first() {
    let omno = Omno::start(config()).await;
    // reset after, on create: the payout exists though the client saw no answer.
    omno.fault("create", json!({"kind": "reset", "phase": "after"}))
        .await;
    let error = omno
        .http
        .post(omno.url(""))
        .bearer_auth(TOKEN)
        .json(&payout("lost-create", "u-1"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect_err("dropped");
    assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");
    let listed: AdminPayoutList = omno
        .admin("/_admin/omno/payouts?order_id=lost-create")
        .await;
    assert_eq!(listed.payouts.len(), 1);
    let id = listed.payouts[0].payout.payout_id.clone();
    assert_eq!(omno.view(&id).await.status, "WAITING_FOR_CONFIRMATION");

    // reset after, on confirm: executed, then the connection is dropped; a retry is a 409.
    omno.fault("confirm", json!({"kind": "reset", "phase": "after"}))
        .await;
    let error = omno
        .http
        .put(omno.url(&format!("/{id}/confirm")))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect_err("dropped");
    assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");
    assert_eq!(omno.audit().await.len(), 1);
    assert_eq!(
        omno.confirm(&id).await,
        (StatusCode::CONFLICT, conflict("payout already confirmed"))
    );

    // A status fault on status answers the error and changes nothing.
    omno.fault("status", json!({"kind": "status", "status": 500}))
        .await;
    assert_eq!(
        omno.get(&id).await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "Internal Server Error"})
        )
    );
    assert_eq!(omno.view(&id).await.status, "PENDING");

    // Unknown endpoint names are refused.
    let refused = omno
        .http
        .post(omno.admin_url("/_admin/faults"))
        .json(&json!({"provider": "omno", "endpoint": "payout", "fault": {"kind": "status", "status": 500}}))
        .send()
        .await
        .expect("post fault");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    omno.sandbox.shutdown().await;
}
