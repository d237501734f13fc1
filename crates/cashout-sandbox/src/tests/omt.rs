//! The OMT simulator over loopback HTTP.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{client, sleep_ms};
use crate::omt::{
    AccountView, GetCtiResponse, LockAccount, LockReason, NewPending, OmtCallCounts, OmtConfigView,
    PayCtiRequest, PendingOutcome, PendingStatus, PendingView, RevokeRequest,
};
use crate::{AuditEntry, FailureMode, OmtConfig, PayoutList, SandboxConfig, SandboxHandle, spawn};

const USER: &str = "sandbox-user";
const PASS: &str = "sandbox-pass";
const OTP: i64 = 456_789;
const NOT_FOUND_GETCTI: &str = "Account not found! Please check the info.";
const NOT_FOUND: &str = "Account not found! Please check info.";
const MISMATCH: &str = "Account details do not match! Please check info.";
const LOCKED_FAILURES: &str = "Account is locked due to multiple failed attempts.";
const LOCKED_EXPIRED: &str = "Account is locked, please contact support.";

struct Omt {
    sandbox: SandboxHandle,
    http: reqwest::Client,
}

fn error(message: &str) -> Value {
    json!({"isSuccess": false, "error": message})
}

fn failed_value(message: &str) -> Value {
    json!({"isSuccess": false, "value": message})
}

fn ok_value(message: &str) -> Value {
    json!({"isSuccess": true, "value": message})
}

/// A pending cashout of 500 USD for John Doe Smith, OTP [`OTP`], expiring in an hour.
fn pending(account_id: i64) -> NewPending {
    NewPending {
        account_id,
        otp: OTP,
        amount: 500,
        currency: 1,
        first_name: "John".to_owned(),
        middle_name: "Doe".to_owned(),
        last_name: "Smith".to_owned(),
        mobile_number: "+96170123456".to_owned(),
        expires_in_secs: 3600,
        outcome: PendingOutcome::Success,
    }
}

fn pay(account_id: i64, receipt: &str) -> PayCtiRequest {
    PayCtiRequest {
        account_id,
        amount: 500,
        currency: 1,
        customer_name: "John Doe Smith".to_owned(),
        receipt_number: receipt.to_owned(),
    }
}

impl Omt {
    async fn start() -> Self {
        Self::with(SandboxConfig::default()).await
    }

    async fn with(config: SandboxConfig) -> Self {
        Self {
            sandbox: spawn(config).await.expect("spawn"),
            http: client(),
        }
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/api/v1/cashout/{endpoint}", self.sandbox.omt_base_url())
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}/_admin/omt{path}", self.sandbox.base_url())
    }

    async fn read(response: reqwest::Response) -> (StatusCode, Value) {
        let status = response.status();
        (status, response.json().await.expect("json body"))
    }

    async fn getcti_raw(&self, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url("GETCTI"))
            .query(query)
            .basic_auth(USER, Some(PASS))
            .send()
            .await
            .expect("getcti");
        Self::read(response).await
    }

    async fn getcti(&self, account_id: i64, otp: i64) -> (StatusCode, Value) {
        let (account_id, otp) = (account_id.to_string(), otp.to_string());
        self.getcti_raw(&[("accountId", &account_id), ("otp", &otp)])
            .await
    }

    async fn post(&self, endpoint: &str, body: &impl serde::Serialize) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(endpoint))
            .basic_auth(USER, Some(PASS))
            .json(body)
            .send()
            .await
            .expect("post");
        Self::read(response).await
    }

    async fn paycti(&self, request: &PayCtiRequest) -> (StatusCode, Value) {
        self.post("PAYCTI", request).await
    }

    async fn revoke(&self, account_id: i64) -> (StatusCode, Value) {
        self.post("Revoke", &RevokeRequest { account_id }).await
    }

    async fn admin_get<T: serde::de::DeserializeOwned>(&self, url: String) -> T {
        let response = self.http.get(url).send().await.expect("admin");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("admin body")
    }

    async fn seed(&self, pending: &NewPending) -> AccountView {
        let response = self
            .http
            .post(self.admin_url("/pending"))
            .json(pending)
            .send()
            .await
            .expect("seed");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("account view")
    }

    async fn lock(&self, account_id: i64, reason: LockReason) -> AccountView {
        let response = self
            .http
            .post(self.admin_url("/lock"))
            .json(&LockAccount { account_id, reason })
            .send()
            .await
            .expect("lock");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("account view")
    }

    async fn account(&self, account_id: i64) -> AccountView {
        self.admin_get(self.admin_url(&format!("/accounts/{account_id}")))
            .await
    }

    async fn calls(&self) -> OmtCallCounts {
        self.admin_get(self.admin_url("/calls")).await
    }

    async fn calls_of(&self, account_id: i64) -> OmtCallCounts {
        self.admin_get(self.admin_url(&format!("/calls?account_id={account_id}")))
            .await
    }

    async fn set_mode(&self, mode: &str) -> OmtConfigView {
        let response = self
            .http
            .put(self.admin_url("/config"))
            .json(&json!({"failure_mode": mode}))
            .send()
            .await
            .expect("put config");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("config view")
    }

    async fn audit(&self) -> Vec<AuditEntry> {
        self.admin_get::<PayoutList>(format!("{}/_admin/payouts", self.sandbox.base_url()))
            .await
            .payouts
    }

    async fn fault(&self, endpoint: &str, fault: Value) {
        let response = self
            .http
            .post(format!("{}/_admin/faults", self.sandbox.base_url()))
            .json(&json!({"provider": "omt", "endpoint": endpoint, "fault": fault}))
            .send()
            .await
            .expect("fault");
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    async fn status_of(&self, account_id: i64) -> Option<PendingStatus> {
        self.account(account_id).await.pending.map(|p| p.status)
    }
}

#[tokio::test]
async fn auth_is_required_and_refusals_count_nothing() {
    let omt = Omt::start().await;
    omt.seed(&pending(1)).await;
    omt.fault("getcti", json!({"kind": "status", "status": 500}))
        .await;
    for (user, pass) in [
        (None, None),
        (Some(USER), Some("wrong")),
        (Some("wrong"), Some(PASS)),
        (Some(USER), None),
    ] {
        for (method, endpoint) in [
            (reqwest::Method::GET, "GETCTI?accountId=1&otp=456789"),
            (reqwest::Method::POST, "PAYCTI"),
            (reqwest::Method::POST, "Revoke"),
        ] {
            let mut request = omt
                .http
                .request(method, omt.url(endpoint))
                .json(&json!({"accountId": 1}));
            if let Some(user) = user {
                request = request.basic_auth(user, pass);
            }
            let response = request.send().await.expect("send");
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert!(response.headers().contains_key("www-authenticate"));
            let body: Value = response.json().await.expect("json");
            assert_eq!(body, error("Unauthorized"));
        }
    }
    assert_eq!(omt.calls().await, OmtCallCounts::default());
    assert_eq!(omt.calls_of(1).await, OmtCallCounts::default());
    assert_eq!(omt.account(1).await.failed_attempts, 0);
    // The fault is still there for the first authenticated call.
    assert_eq!(
        omt.getcti(1, OTP).await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            error("Internal Server Error")
        )
    );
    assert_eq!(omt.getcti(1, OTP).await.0, StatusCode::OK);
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn getcti_answers_the_pending_cashout() {
    let omt = Omt::start().await;
    let view = omt.seed(&pending(123)).await;
    assert_eq!(
        view,
        AccountView {
            account_id: 123,
            failed_attempts: 0,
            locked: None,
            pending: Some(PendingView {
                amount: 500,
                currency: 1,
                status: PendingStatus::Pending,
                outcome: PendingOutcome::Success,
            }),
        }
    );
    let (status, body) = omt.getcti(123, OTP).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"isSuccess": true, "value": {
            "name": "John Doe Smith", "amount": 500, "currency": 1, "currencyName": "USD",
            "firstName": "John", "middleName": "Doe", "lastName": "Smith",
            "mobileNumber": "+96170123456",
        }})
    );
    let typed: GetCtiResponse = serde_json::from_value(body).expect("typed");
    assert!(typed.is_success);

    // No middle name, LBP; seeding with JSON uses the defaults.
    let response = omt
        .http
        .post(omt.admin_url("/pending"))
        .json(
            &json!({"account_id": 7, "otp": 1, "amount": 150000, "currency": 0,
                      "first_name": "Rima", "last_name": "Haddad", "mobile_number": "03123456"}),
        )
        .send()
        .await
        .expect("seed");
    assert_eq!(response.status(), StatusCode::CREATED);
    let (_, body) = omt.getcti(7, 1).await;
    assert_eq!(body["value"]["name"], "Rima Haddad");
    assert_eq!(body["value"]["middleName"], "");
    assert_eq!(body["value"]["currencyName"], "LBP");

    // Malformed queries: 400, counted as calls, never as failed attempts.
    for query in [
        &[("accountId", "123")][..],
        &[("otp", "456789")][..],
        &[("accountId", "abc"), ("otp", "456789")][..],
        &[("accountId", "123"), ("otp", "12.5")][..],
    ] {
        assert_eq!(
            omt.getcti_raw(query).await,
            (StatusCode::BAD_REQUEST, error("Invalid request"))
        );
    }
    assert_eq!(omt.account(123).await.failed_attempts, 0);
    let calls = omt.calls().await;
    assert_eq!((calls.getcti, calls.failed_attempts), (6, 0));
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn wrong_otp_counts_and_the_fourth_failure_locks() {
    let omt = Omt::start().await;
    omt.seed(&pending(5)).await;
    for n in 1..=3 {
        assert_eq!(
            omt.getcti(5, 111_111).await,
            (StatusCode::OK, error(NOT_FOUND_GETCTI))
        );
        assert_eq!(omt.account(5).await.failed_attempts, n);
    }
    // The 4th failed attempt (any endpoint) locks, and already answers the lock message.
    let wrong = PayCtiRequest {
        amount: 1,
        ..pay(5, "R-1")
    };
    assert_eq!(
        omt.paycti(&wrong).await,
        (StatusCode::OK, error(LOCKED_FAILURES))
    );
    let view = omt.account(5).await;
    assert_eq!(view.failed_attempts, 4);
    assert_eq!(view.locked, Some(LockReason::MultipleFailures));

    // Locked: the right OTP and a matching order are refused and count nothing.
    assert_eq!(
        omt.getcti(5, OTP).await,
        (StatusCode::OK, error(LOCKED_FAILURES))
    );
    assert_eq!(
        omt.paycti(&pay(5, "R-2")).await,
        (StatusCode::OK, error(LOCKED_FAILURES))
    );
    assert_eq!(
        omt.revoke(5).await,
        (StatusCode::OK, error(LOCKED_FAILURES))
    );
    assert_eq!(omt.account(5).await.failed_attempts, 4);
    assert_eq!(omt.status_of(5).await, Some(PendingStatus::Pending));
    assert!(omt.audit().await.is_empty());
    let calls = omt.calls_of(5).await;
    assert_eq!(
        calls,
        OmtCallCounts {
            getcti: 4,
            paycti: 2,
            revoke: 1,
            failed_attempts: 4
        }
    );
    // Seeding a new cashout keeps the lock.
    let view = omt.seed(&pending(5)).await;
    assert_eq!(view.locked, Some(LockReason::MultipleFailures));
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn calls_on_an_admin_locked_account_do_not_count() {
    let omt = Omt::start().await;
    omt.seed(&pending(9)).await;
    let view = omt.lock(9, LockReason::Expired).await;
    assert_eq!(view.locked, Some(LockReason::Expired));
    for _ in 0..5 {
        assert_eq!(
            omt.getcti(9, 1).await,
            (StatusCode::OK, error(LOCKED_EXPIRED))
        );
    }
    assert_eq!(
        omt.paycti(&pay(9, "R-9")).await,
        (StatusCode::OK, error(LOCKED_EXPIRED))
    );
    let view = omt.account(9).await;
    assert_eq!(view.failed_attempts, 0);
    assert_eq!(view.locked, Some(LockReason::Expired));
    assert_eq!(omt.calls().await.failed_attempts, 0);

    omt.lock(10, LockReason::MultipleFailures).await;
    assert_eq!(
        omt.revoke(10).await,
        (StatusCode::OK, error(LOCKED_FAILURES))
    );
    let bad = omt
        .http
        .post(omt.admin_url("/lock"))
        .json(&json!({"account_id": 10, "reason": "bored"}))
        .send()
        .await
        .expect("lock");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn expiry_locks_with_the_support_message() {
    let omt = Omt::start().await;
    omt.seed(&NewPending {
        expires_in_secs: 0,
        ..pending(3)
    })
    .await;
    assert_eq!(
        omt.getcti(3, OTP).await,
        (StatusCode::OK, error(LOCKED_EXPIRED))
    );
    let view = omt.account(3).await;
    assert_eq!(view.locked, Some(LockReason::Expired));
    assert_eq!(view.failed_attempts, 0);
    assert_eq!(
        omt.paycti(&pay(3, "R-3")).await,
        (StatusCode::OK, error(LOCKED_EXPIRED))
    );
    assert!(omt.audit().await.is_empty());

    // Expiry is noticed by PAYCTI too.
    omt.seed(&NewPending {
        expires_in_secs: 0,
        ..pending(4)
    })
    .await;
    assert_eq!(
        omt.paycti(&pay(4, "R-4")).await,
        (StatusCode::OK, error(LOCKED_EXPIRED))
    );
    assert_eq!(omt.account(4).await.locked, Some(LockReason::Expired));
    assert_eq!(omt.calls().await.failed_attempts, 0);
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn paycti_executes_once_resets_failures_and_is_audited() {
    let omt = Omt::start().await;
    omt.seed(&pending(42)).await;
    omt.getcti(42, 1).await;
    omt.getcti(42, 2).await;
    assert_eq!(omt.account(42).await.failed_attempts, 2);

    let request = PayCtiRequest {
        customer_name: "  john   SMITH ".to_owned(),
        ..pay(42, "MJIS20160000004")
    };
    assert_eq!(
        omt.paycti(&request).await,
        (StatusCode::OK, ok_value("Cashout Success"))
    );
    let view = omt.account(42).await;
    assert_eq!(view.failed_attempts, 0);
    assert_eq!(view.locked, None);
    assert_eq!(view.pending.map(|p| p.status), Some(PendingStatus::Paid));

    let audit = omt.audit().await;
    assert_eq!(audit.len(), 1);
    let entry = &audit[0];
    assert_eq!(entry.provider, "omt");
    assert_eq!(entry.provider_id, "MJIS20160000004");
    assert_eq!(entry.external_reference.as_deref(), Some("MJIS20160000004"));
    assert_eq!(entry.amount, "500");
    assert_eq!(entry.currency, "USD");
    assert_eq!(entry.phone_last3, "456");
    assert!(entry.executed_at.ends_with('Z'));
    let filtered: PayoutList = omt
        .admin_get(format!(
            "{}/_admin/payouts?external_reference=MJIS20160000004",
            omt.sandbox.base_url()
        ))
        .await;
    assert_eq!(filtered.payouts.len(), 1);

    // Paid: a second PAYCTI finds nothing (a failed attempt) and executes nothing.
    assert_eq!(
        omt.paycti(&request).await,
        (StatusCode::OK, error(NOT_FOUND))
    );
    assert_eq!(
        omt.getcti(42, OTP).await,
        (StatusCode::OK, error(NOT_FOUND_GETCTI))
    );
    assert_eq!(omt.account(42).await.failed_attempts, 2);
    assert_eq!(omt.audit().await.len(), 1);

    // Malformed bodies: 400, not failed attempts.
    for body in [
        json!({"accountId": 42}),
        json!({"accountId": "42", "amount": 500, "currency": 1, "customerName": "John Smith", "receiptNumber": "x"}),
        json!({"accountId": 42, "amount": 5.5, "currency": 1, "customerName": "John Smith", "receiptNumber": "x"}),
        json!({"accountId": 42, "amount": 500, "currency": 1, "customerName": null, "receiptNumber": "x"}),
    ] {
        assert_eq!(
            omt.post("PAYCTI", &body).await,
            (StatusCode::BAD_REQUEST, error("Invalid request"))
        );
    }
    let response = omt
        .http
        .post(omt.url("PAYCTI"))
        .basic_auth(USER, Some(PASS))
        .header("content-type", "application/json")
        .body("{\"accountId\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(omt.account(42).await.failed_attempts, 2);
    let calls = omt.calls_of(42).await;
    assert_eq!((calls.paycti, calls.failed_attempts), (5, 4));
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn mismatch_counts_and_executes_nothing() {
    let omt = Omt::start().await;
    omt.seed(&pending(8)).await;
    let mismatches = [
        PayCtiRequest {
            amount: 499,
            ..pay(8, "R-8")
        },
        PayCtiRequest {
            currency: 0,
            ..pay(8, "R-8")
        },
        PayCtiRequest {
            customer_name: "John Doe".to_owned(),
            ..pay(8, "R-8")
        },
    ];
    for (n, request) in (1..).zip(&mismatches) {
        assert_eq!(omt.paycti(request).await, (StatusCode::OK, error(MISMATCH)));
        assert_eq!(omt.account(8).await.failed_attempts, n);
    }
    assert!(omt.audit().await.is_empty());
    assert_eq!(omt.status_of(8).await, Some(PendingStatus::Pending));
    // No pending at all is "not found", also a failed attempt.
    assert_eq!(
        omt.paycti(&pay(99, "R-99")).await,
        (StatusCode::OK, error(NOT_FOUND))
    );
    assert_eq!(omt.account(99).await.failed_attempts, 1);
    assert_eq!(omt.calls().await.failed_attempts, 4);
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn failed_outcome_answers_cashout_failed_and_counts() {
    let omt = Omt::start().await;
    omt.seed(&NewPending {
        outcome: PendingOutcome::Failed,
        ..pending(6)
    })
    .await;
    assert_eq!(
        omt.paycti(&pay(6, "R-6")).await,
        (StatusCode::OK, failed_value("Cashout Failed"))
    );
    let view = omt.account(6).await;
    assert_eq!(view.failed_attempts, 1);
    let pending_view = view.pending.expect("pending");
    assert_eq!(pending_view.status, PendingStatus::Pending);
    assert_eq!(pending_view.outcome, PendingOutcome::Failed);
    assert!(omt.audit().await.is_empty());
    assert_eq!(omt.calls_of(6).await.failed_attempts, 1);
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn revoke_success_failed_and_not_found() {
    let omt = Omt::start().await;
    assert_eq!(omt.revoke(1).await, (StatusCode::OK, error(NOT_FOUND)));

    omt.seed(&pending(1)).await;
    assert_eq!(
        omt.revoke(1).await,
        (StatusCode::OK, ok_value("Revoke Success"))
    );
    assert_eq!(omt.status_of(1).await, Some(PendingStatus::Revoked));
    // Revoked: nothing left to revoke, read or pay.
    assert_eq!(omt.revoke(1).await, (StatusCode::OK, error(NOT_FOUND)));
    assert_eq!(
        omt.getcti(1, OTP).await,
        (StatusCode::OK, error(NOT_FOUND_GETCTI))
    );
    assert_eq!(omt.account(1).await.failed_attempts, 1);

    omt.seed(&pending(2)).await;
    assert_eq!(
        omt.paycti(&pay(2, "R-2")).await,
        (StatusCode::OK, ok_value("Cashout Success"))
    );
    assert_eq!(
        omt.revoke(2).await,
        (StatusCode::OK, failed_value("Revoke Failed"))
    );
    assert_eq!(omt.status_of(2).await, Some(PendingStatus::Paid));
    assert_eq!(omt.audit().await.len(), 1);
    // Revoke failures are never failed attempts.
    let calls = omt.calls().await;
    assert_eq!((calls.revoke, calls.failed_attempts), (4, 1));
    assert_eq!(
        omt.post("Revoke", &json!({"accountId": "two"})).await,
        (StatusCode::BAD_REQUEST, error("Invalid request"))
    );
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn http4xx_mode_statuses() {
    let omt = Omt::with(SandboxConfig {
        omt: OmtConfig {
            failure_mode: FailureMode::Http4xx,
            ..OmtConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let current: OmtConfigView = omt.admin_get(omt.admin_url("/config")).await;
    assert_eq!(current.failure_mode, FailureMode::Http4xx);

    assert_eq!(
        omt.getcti(1, OTP).await,
        (StatusCode::NOT_FOUND, error(NOT_FOUND_GETCTI))
    );
    assert_eq!(
        omt.revoke(1).await,
        (StatusCode::NOT_FOUND, error(NOT_FOUND))
    );
    omt.seed(&pending(1)).await;
    assert_eq!(
        omt.paycti(&PayCtiRequest {
            amount: 1,
            ..pay(1, "R-1")
        })
        .await,
        (StatusCode::BAD_REQUEST, error(MISMATCH))
    );
    assert_eq!(omt.getcti(1, OTP).await.0, StatusCode::OK);
    assert_eq!(
        omt.paycti(&pay(1, "R-1")).await,
        (StatusCode::OK, ok_value("Cashout Success"))
    );
    assert_eq!(
        omt.revoke(1).await,
        (StatusCode::BAD_REQUEST, failed_value("Revoke Failed"))
    );
    omt.seed(&NewPending {
        outcome: PendingOutcome::Failed,
        ..pending(2)
    })
    .await;
    assert_eq!(
        omt.paycti(&pay(2, "R-2")).await,
        (StatusCode::BAD_REQUEST, failed_value("Cashout Failed"))
    );
    omt.lock(2, LockReason::MultipleFailures).await;
    assert_eq!(
        omt.getcti(2, OTP).await,
        (StatusCode::FORBIDDEN, error(LOCKED_FAILURES))
    );
    assert_eq!(
        omt.getcti_raw(&[("accountId", "2")]).await,
        (StatusCode::BAD_REQUEST, error("Invalid request"))
    );
    omt.seed(&pending(3)).await;
    assert_eq!(
        omt.revoke(3).await,
        (StatusCode::OK, ok_value("Revoke Success"))
    );

    // Back to HTTP 200 at run time.
    assert_eq!(
        omt.set_mode("http200").await.failure_mode,
        FailureMode::Http200
    );
    assert_eq!(
        omt.getcti(2, OTP).await,
        (StatusCode::OK, error(LOCKED_FAILURES))
    );
    assert_eq!(
        omt.set_mode("http4xx").await.failure_mode,
        FailureMode::Http4xx
    );
    assert_eq!(omt.getcti(2, OTP).await.0, StatusCode::FORBIDDEN);
    for bad in [json!({"failure_mode": "http500"}), json!({"username": "x"})] {
        let response = omt
            .http
            .put(omt.admin_url("/config"))
            .json(&bad)
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn status_fault_on_paycti_executes_nothing() {
    let omt = Omt::start().await;
    omt.seed(&pending(1)).await;
    omt.fault(
        "paycti",
        json!({"kind": "status", "status": 503, "retry_after_secs": 2}),
    )
    .await;
    let response = omt
        .http
        .post(omt.url("PAYCTI"))
        .basic_auth(USER, Some(PASS))
        .json(&pay(1, "R-1"))
        .send()
        .await
        .expect("paycti");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"2"[..])
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, error("Service Unavailable"));
    assert!(omt.audit().await.is_empty(), "nothing executed");
    let view = omt.account(1).await;
    assert_eq!(view.failed_attempts, 0);
    assert_eq!(view.pending.map(|p| p.status), Some(PendingStatus::Pending));
    assert_eq!(omt.calls().await.paycti, 1, "the faulted call is counted");

    assert_eq!(
        omt.paycti(&pay(1, "R-1")).await,
        (StatusCode::OK, ok_value("Cashout Success"))
    );
    assert_eq!(omt.audit().await.len(), 1);
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn paycti_survives_client_disconnect() {
    let omt = Omt::start().await;
    omt.seed(&pending(1)).await;
    omt.fault(
        "paycti",
        json!({"kind": "delay", "delay_ms": 300, "phase": "after"}),
    )
    .await;
    let result = omt
        .http
        .post(omt.url("PAYCTI"))
        .basic_auth(USER, Some(PASS))
        .json(&pay(1, "gone"))
        .timeout(Duration::from_millis(50))
        .send()
        .await;
    assert!(result.is_err(), "the client should have timed out");
    sleep_ms(50).await;
    let audit = omt.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].provider_id, "gone");
    assert_eq!(omt.status_of(1).await, Some(PendingStatus::Paid));

    // A reset before executing pays nothing.
    omt.seed(&pending(2)).await;
    omt.fault("paycti", json!({"kind": "reset", "phase": "before"}))
        .await;
    let error = omt
        .http
        .post(omt.url("PAYCTI"))
        .basic_auth(USER, Some(PASS))
        .json(&pay(2, "reset"))
        .send()
        .await
        .expect_err("dropped");
    assert!(error.status().is_none());
    assert_eq!(omt.status_of(2).await, Some(PendingStatus::Pending));
    assert_eq!(omt.audit().await.len(), 1);
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn per_account_call_counters() {
    let omt = Omt::start().await;
    omt.seed(&pending(1)).await;
    omt.seed(&pending(2)).await;
    omt.getcti(1, OTP).await;
    omt.getcti(1, 0).await;
    omt.getcti(2, 0).await;
    omt.paycti(&pay(1, "R-1")).await;
    omt.revoke(2).await;
    omt.revoke(2).await;
    // Counted in the totals only: no integer accountId.
    omt.getcti_raw(&[("otp", "1")]).await;
    omt.post("Revoke", &json!({})).await;

    assert_eq!(
        omt.calls_of(1).await,
        OmtCallCounts {
            getcti: 2,
            paycti: 1,
            revoke: 0,
            failed_attempts: 1
        }
    );
    assert_eq!(
        omt.calls_of(2).await,
        OmtCallCounts {
            getcti: 1,
            paycti: 0,
            revoke: 2,
            failed_attempts: 1
        }
    );
    assert_eq!(omt.calls_of(3).await, OmtCallCounts::default());
    assert_eq!(
        omt.calls().await,
        OmtCallCounts {
            getcti: 4,
            paycti: 1,
            revoke: 3,
            failed_attempts: 2
        }
    );
    let bad = omt
        .http
        .get(omt.admin_url("/calls?account_id=x"))
        .send()
        .await
        .expect("calls");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    omt.sandbox.shutdown().await;
}

#[tokio::test]
async fn admin_validation() {
    let omt = Omt::start().await;
    let never_used = omt.account(77).await;
    assert_eq!(
        never_used,
        AccountView {
            account_id: 77,
            failed_attempts: 0,
            locked: None,
            pending: None
        }
    );
    let base = serde_json::to_value(pending(1)).expect("json");
    for (patch, field) in [
        (json!({"currency": 2}), "currency"),
        (json!({"amount": 0}), "amount"),
        (json!({"outcome": "maybe"}), "body"),
        (json!({"expires_in_sec": 5}), "body"),
    ] {
        let mut body = base.clone();
        if let (Some(body), Some(patch)) = (body.as_object_mut(), patch.as_object()) {
            body.extend(patch.clone());
        }
        let response = omt
            .http
            .post(omt.admin_url("/pending"))
            .json(&body)
            .send()
            .await
            .expect("seed");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{patch}");
        let answer: Value = response.json().await.expect("json");
        assert!(answer["errors"][field].is_string(), "{patch} → {answer}");
    }
    assert_eq!(omt.account(1).await.pending, None);
    let bad = omt
        .http
        .get(omt.admin_url("/accounts/abc"))
        .send()
        .await
        .expect("account");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    omt.sandbox.shutdown().await;
}

#[test]
fn config_parses_and_hides_the_password() {
    let config: SandboxConfig =
        serde_json::from_value(json!({"omt": {"failure_mode": "http4xx", "password": "s3cret"}}))
            .expect("config");
    assert_eq!(config.omt.failure_mode, FailureMode::Http4xx);
    assert_eq!(config.omt.username, USER);
    assert_eq!(config.omt.password, "s3cret");
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    let defaults = SandboxConfig::default().omt;
    assert_eq!(
        (defaults.username.as_str(), defaults.password.as_str()),
        (USER, PASS)
    );
    assert_eq!(defaults.failure_mode, FailureMode::Http200);
    let seeded = format!("{:?}", pending(1));
    assert!(
        !seeded.contains("456789") && !seeded.contains("70123456"),
        "{seeded}"
    );
}
