//! Fault injection over `/_admin/faults`.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Camoo, KEY, SECRET, config, sleep_ms};
use crate::PayoutList;
use crate::camoo::CallCounts;
use crate::faults::{ClearedFaults, Fault, FaultList, Phase, StoredFault};

const START_BALANCE: &str = "1000000000";

impl Camoo {
    fn faults_url(&self) -> String {
        format!("{}/_admin/faults", self.sandbox.base_url())
    }

    async fn post_fault(&self, body: Value) -> reqwest::Response {
        self.http
            .post(self.faults_url())
            .json(&body)
            .send()
            .await
            .expect("post fault")
    }

    async fn fault(&self, endpoint: &str, count: u64, fault: Value) -> StoredFault {
        let response = self
            .post_fault(
                json!({"provider": "camoo", "endpoint": endpoint, "count": count, "fault": fault}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("stored fault")
    }

    async fn faults(&self) -> Vec<StoredFault> {
        self.admin::<FaultList>("/_admin/faults").await.faults
    }

    async fn audit(&self) -> Vec<crate::AuditEntry> {
        self.admin::<PayoutList>("/_admin/payouts").await.payouts
    }

    async fn calls(&self) -> CallCounts {
        self.admin("/_admin/camoo/calls").await
    }

    async fn account(&self) -> reqwest::Response {
        self.http
            .get(self.url("/account"))
            .header("X-Api-Key", KEY)
            .header("X-Api-Secret", SECRET)
            .send()
            .await
            .expect("account")
    }

    /// A create that must fail at the transport level: the connection was established, then
    /// dropped without any HTTP response.
    async fn create_reset(&self, body: Value) {
        let error = self
            .http
            .post(self.url("/cashout"))
            .header("X-Api-Key", KEY)
            .header("X-Api-Secret", SECRET)
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect_err("the connection should have been dropped");
        assert_transport_error(&error);
    }
}

fn assert_transport_error(error: &reqwest::Error) {
    assert!(!error.is_timeout(), "not a timeout: {error:?}");
    assert!(!error.is_connect(), "connection was established: {error:?}");
    assert!(error.status().is_none(), "no HTTP status: {error:?}");
    assert!(error.is_request(), "a request error: {error:?}");
}

fn payout(reference: &str) -> Value {
    json!({"amount": 100, "phone_number": "612345671", "external_reference": reference})
}

#[tokio::test]
async fn status_fault_executes_nothing_then_next_call_succeeds() {
    let camoo = Camoo::start(config()).await;
    let stored = camoo
        .fault("create", 1, json!({"kind": "status", "status": 503}))
        .await;
    assert_eq!(stored.id, 1);
    assert_eq!(stored.provider, "camoo");
    assert_eq!(stored.endpoint, "create");
    assert_eq!(stored.count, 1);
    assert_eq!(
        stored.fault,
        Fault::Status {
            status: 503,
            retry_after_secs: None
        }
    );

    let refused = camoo.create(payout("r1")).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().get("retry-after").is_none());
    let body: Value = refused.json().await.expect("json");
    assert_eq!(
        body,
        json!({"code": 503, "message": "Service Unavailable", "errors": {}})
    );
    assert!(camoo.audit().await.is_empty(), "nothing executed");
    assert_eq!(camoo.balance().await, START_BALANCE);
    assert!(camoo.faults().await.is_empty(), "consumed");

    let created = camoo.create_ok(payout("r1")).await;
    let audit = camoo.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].provider_id, created.cash_out.id);
    assert_eq!(camoo.balance().await, "999999900");
    assert_eq!(camoo.calls().await.create, 2, "the faulted call is counted");
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn status_fault_skips_validation_and_carries_retry_after() {
    let camoo = Camoo::start(config()).await;
    camoo
        .fault(
            "create",
            1,
            json!({"kind": "status", "status": 429, "retry_after_secs": 7}),
        )
        .await;
    // Even an invalid body gets the injected answer: nothing is looked at.
    let response = camoo.create(json!({"amount": "-1"})).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"7"[..])
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], 429);
    assert_eq!(body["message"], "Too Many Requests");
    assert_eq!(body["errors"], json!({}));

    camoo
        .fault(
            "verify",
            1,
            json!({"kind": "status", "status": 502, "retry_after_secs": 0}),
        )
        .await;
    let verify = camoo.verify("anything").await;
    assert_eq!(verify.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        verify.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"0"[..])
    );
    assert_eq!(
        camoo.verify("anything").await.status(),
        StatusCode::NOT_FOUND
    );
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn unauthenticated_calls_do_not_consume_faults() {
    let camoo = Camoo::start(config()).await;
    camoo
        .fault("account", 1, json!({"kind": "status", "status": 500}))
        .await;
    let anonymous = camoo
        .http
        .get(camoo.url("/account"))
        .send()
        .await
        .expect("account");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(camoo.faults().await.len(), 1);
    assert_eq!(camoo.calls().await.account, 0);
    assert_eq!(
        camoo.account().await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(camoo.account().await.status(), StatusCode::OK);
    assert_eq!(camoo.calls().await.account, 2);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn count_is_consumed_exactly_and_queues_keep_order() {
    let camoo = Camoo::start(config()).await;
    let first = camoo
        .fault("account", 3, json!({"kind": "status", "status": 502}))
        .await;
    let second = camoo
        .fault("account", 1, json!({"kind": "status", "status": 500}))
        .await;
    let other = camoo
        .fault("verify", 2, json!({"kind": "status", "status": 503}))
        .await;
    assert!(first.id < second.id && second.id < other.id);

    assert_eq!(camoo.account().await.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(camoo.account().await.status(), StatusCode::BAD_GATEWAY);
    let remaining = camoo.faults().await;
    let counts: Vec<(u64, u64)> = remaining.iter().map(|f| (f.id, f.count)).collect();
    assert_eq!(counts, [(first.id, 1), (second.id, 1), (other.id, 2)]);

    assert_eq!(camoo.account().await.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        camoo.account().await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(camoo.account().await.status(), StatusCode::OK);
    assert_eq!(camoo.account().await.status(), StatusCode::OK);
    // The verify fault was untouched by the account calls.
    let remaining = camoo.faults().await;
    assert_eq!(remaining.len(), 1);
    assert_eq!((remaining[0].id, remaining[0].count), (other.id, 2));
    assert_eq!(camoo.calls().await.account, 6);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn delete_clears_and_get_lists() {
    let camoo = Camoo::start(config()).await;
    assert!(camoo.faults().await.is_empty());
    camoo
        .fault(
            "create",
            2,
            json!({"kind": "delay", "delay_ms": 10, "phase": "after"}),
        )
        .await;
    camoo
        .fault("verify", 1, json!({"kind": "reset", "phase": "before"}))
        .await;
    // `count` defaults to 1.
    let defaulted = camoo
        .post_fault(json!({"provider": "camoo", "endpoint": "account", "fault": {"kind": "status", "status": 500}}))
        .await;
    assert_eq!(defaulted.status(), StatusCode::CREATED);
    let body: Value = defaulted.json().await.expect("json");
    assert_eq!(
        body,
        json!({"id": 3, "provider": "camoo", "endpoint": "account", "count": 1,
               "fault": {"kind": "status", "status": 500}})
    );

    let listed: Value = camoo.admin("/_admin/faults").await;
    assert_eq!(
        listed,
        json!({"faults": [
            {"id": 1, "provider": "camoo", "endpoint": "create", "count": 2,
             "fault": {"kind": "delay", "delay_ms": 10, "phase": "after"}},
            {"id": 2, "provider": "camoo", "endpoint": "verify", "count": 1,
             "fault": {"kind": "reset", "phase": "before"}},
            {"id": 3, "provider": "camoo", "endpoint": "account", "count": 1,
             "fault": {"kind": "status", "status": 500}},
        ]})
    );
    let stored = camoo.faults().await;
    assert_eq!(
        stored[1].fault,
        Fault::Reset {
            phase: Phase::Before
        }
    );

    let cleared: ClearedFaults = camoo
        .http
        .delete(camoo.faults_url())
        .send()
        .await
        .expect("delete")
        .json()
        .await
        .expect("cleared");
    assert_eq!(cleared.cleared, 3);
    assert!(camoo.faults().await.is_empty());
    assert_eq!(camoo.account().await.status(), StatusCode::OK);
    assert_eq!(camoo.verify("x").await.status(), StatusCode::NOT_FOUND);
    // Ids keep increasing after a clear.
    let next = camoo
        .fault("create", 1, json!({"kind": "status", "status": 500}))
        .await;
    assert_eq!(next.id, 4);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn invalid_faults_are_refused() {
    let camoo = Camoo::start(config()).await;
    let status = json!({"kind": "status", "status": 500});
    for (body, field) in [
        (
            json!({"provider": "mtn", "endpoint": "create", "fault": status}),
            "provider",
        ),
        (
            json!({"provider": "camoo", "endpoint": "cashout", "fault": status}),
            "endpoint",
        ),
        (
            json!({"provider": "camoo", "endpoint": "create", "count": 0, "fault": status}),
            "count",
        ),
        (
            json!({"provider": "camoo", "endpoint": "create", "fault": {"kind": "status", "status": 200}}),
            "fault",
        ),
        (
            json!({"provider": "camoo", "endpoint": "create", "fault": {"kind": "explode"}}),
            "body",
        ),
        (
            json!({"provider": "camoo", "endpoint": "create", "fault": {"kind": "reset"}}),
            "body",
        ),
        (
            json!({"provider": "camoo", "endpoint": "create", "fault": {"kind": "reset", "phase": "before", "x": 1}}),
            "body",
        ),
        (
            json!({"provider": "camoo", "endpoint": "create", "fault": status, "extra": true}),
            "body",
        ),
    ] {
        let response = camoo.post_fault(body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["code"], 400);
        assert!(answer["errors"][field].is_string(), "{body} → {answer}");
    }
    assert!(camoo.faults().await.is_empty());
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn delay_before_with_client_gone_executes_nothing() {
    let camoo = Camoo::start(config()).await;
    camoo
        .fault(
            "create",
            1,
            json!({"kind": "delay", "delay_ms": 400, "phase": "before"}),
        )
        .await;
    let error = camoo
        .http
        .post(camoo.url("/cashout"))
        .header("X-Api-Key", KEY)
        .header("X-Api-Secret", SECRET)
        .json(&payout("late"))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .expect_err("the client should time out");
    assert!(error.is_timeout());
    sleep_ms(500).await;
    assert!(camoo.audit().await.is_empty(), "nothing executed");
    assert_eq!(camoo.balance().await, START_BALANCE);
    assert!(camoo.faults().await.is_empty());
    assert_eq!(camoo.calls().await.create, 1);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn delay_before_then_executes() {
    let camoo = Camoo::start(config()).await;
    camoo
        .fault(
            "create",
            1,
            json!({"kind": "delay", "delay_ms": 200, "phase": "before"}),
        )
        .await;
    let started = Instant::now();
    let create = camoo.create_ok(payout("slow"));
    let early = async {
        sleep_ms(100).await;
        camoo.audit().await
    };
    let (created, early) = tokio::join!(create, early);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(early.is_empty(), "not executed during the sleep");
    assert_eq!(camoo.audit().await[0].provider_id, created.cash_out.id);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn delay_after_executes_then_answers() {
    let camoo = Camoo::start(config()).await;
    camoo
        .fault(
            "create",
            1,
            json!({"kind": "delay", "delay_ms": 300, "phase": "after"}),
        )
        .await;
    let started = Instant::now();
    let create = camoo.create_ok(payout("after"));
    let during = async {
        sleep_ms(150).await;
        camoo.audit().await
    };
    let (created, during) = tokio::join!(create, during);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(during.len(), 1, "executed before the sleep");
    assert_eq!(during[0].provider_id, created.cash_out.id);
    assert_eq!(camoo.audit().await.len(), 1);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn reset_before_executes_nothing_and_keeps_other_connections() {
    let camoo = Camoo::start(config()).await;
    // Warm the client's pool: the reset hits a reused keep-alive connection too.
    assert_eq!(camoo.balance().await, START_BALANCE);
    camoo
        .fault("create", 1, json!({"kind": "reset", "phase": "before"}))
        .await;
    camoo.create_reset(payout("reset")).await;
    assert!(camoo.audit().await.is_empty(), "nothing executed");
    assert_eq!(camoo.balance().await, START_BALANCE);
    assert!(camoo.faults().await.is_empty());

    // The same client carries on normally.
    camoo.create_ok(payout("reset")).await;
    assert_eq!(camoo.audit().await.len(), 1);
    assert_eq!(camoo.calls().await.create, 2);

    camoo
        .fault("verify", 1, json!({"kind": "reset", "phase": "before"}))
        .await;
    let error = camoo
        .http
        .get(camoo.url("/verify"))
        .query(&[("id", "x")])
        .header("X-Api-Key", KEY)
        .header("X-Api-Secret", SECRET)
        .send()
        .await
        .expect_err("dropped");
    assert_transport_error(&error);
    assert_eq!(camoo.verify("x").await.status(), StatusCode::NOT_FOUND);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn reset_after_on_create_executes_exactly_once() {
    let camoo = Camoo::start(config()).await;
    camoo
        .fault("create", 1, json!({"kind": "reset", "phase": "after"}))
        .await;
    camoo.create_reset(payout("lost-answer")).await;
    // No retry behind our back either.
    sleep_ms(100).await;
    let audit: PayoutList = camoo
        .admin("/_admin/payouts?external_reference=lost-answer")
        .await;
    assert_eq!(audit.payouts.len(), 1);
    assert_eq!(camoo.balance().await, "999999900");
    assert_eq!(camoo.calls().await.create, 1);
    let payment = camoo.status(&audit.payouts[0].provider_id).await;
    assert_eq!(payment.external_reference.as_deref(), Some("lost-answer"));
    camoo.sandbox.shutdown().await;
}

/// Reads until EOF or error; returns what was read and the error, if any.
async fn read_all(stream: &mut TcpStream) -> (Vec<u8>, Option<std::io::Error>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Err(_) => panic!("the server neither answered nor closed"),
            Ok(Ok(0)) => return (out, None),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(error)) => return (out, Some(error)),
        }
    }
}

fn account_request(close: bool) -> String {
    let connection = if close { "close" } else { "keep-alive" };
    format!(
        "GET /camoo/v1/payment/account HTTP/1.1\r\nHost: sandbox\r\nX-Api-Key: {KEY}\r\n\
         X-Api-Secret: {SECRET}\r\nConnection: {connection}\r\n\r\n"
    )
}

#[tokio::test]
async fn reset_sends_no_http_bytes_and_keep_alive_still_works() {
    let camoo = Camoo::start(config()).await;
    let mut stream = TcpStream::connect(camoo.sandbox.addr)
        .await
        .expect("connect");
    // Two requests on one keep-alive connection, answered normally.
    for close in [false, true] {
        stream
            .write_all(account_request(close).as_bytes())
            .await
            .expect("write");
        if !close {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.expect("read");
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
        }
    }
    let (rest, error) = read_all(&mut stream).await;
    assert!(rest.starts_with(b"HTTP/1.1 200 OK"), "second answer");
    assert!(error.is_none());

    camoo
        .fault("account", 1, json!({"kind": "reset", "phase": "after"}))
        .await;
    let mut stream = TcpStream::connect(camoo.sandbox.addr)
        .await
        .expect("connect");
    stream
        .write_all(account_request(false).as_bytes())
        .await
        .expect("write");
    let (bytes, error) = read_all(&mut stream).await;
    assert!(bytes.is_empty(), "no HTTP response: {bytes:?}");
    let error = error.expect("the connection was reset");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    camoo.sandbox.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_waits_for_delayed_answer() {
    let camoo = Camoo::start(config()).await;
    camoo
        .fault(
            "account",
            1,
            json!({"kind": "delay", "delay_ms": 300, "phase": "after"}),
        )
        .await;
    let Camoo { sandbox, http } = camoo;
    let request = http
        .get(format!("{}/account", sandbox.camoo_base_url()))
        .header("X-Api-Key", KEY)
        .header("X-Api-Secret", SECRET)
        .send();
    let shutdown = async {
        sleep_ms(100).await;
        sandbox.shutdown().await;
    };
    let (response, ()) = tokio::join!(request, shutdown);
    assert_eq!(response.expect("answered").status(), StatusCode::OK);
}
