//! OMT: GETCTI → PAYCTI → Revoke, and a lockout guard that never locks a customer out.

use cashout_tests::{Options, TestApp, causes};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const OTP: i64 = 482_913;
const WRONG: i64 = 111_111;

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn post(app: &TestApp, body: &Value) -> String {
    let (s, v) = app.post_cashout(body).await;
    assert_eq!(s, 202, "{v}");
    id_of(&v)
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pays_once_and_forgets_the_otp() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1001, OTP, 500, 1).await;
    app.start_worker();
    let id = post(
        &app,
        &TestApp::omt_order("omt-ok", 1001, OTP, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert_eq!(
        transitions(&v),
        vec![
            ("created".into(), "submitted".into()),
            ("submitted".into(), "confirmed".into())
        ]
    );
    let receipt = v["external_reference"].as_str().unwrap();
    assert_eq!(v["provider_ref"], receipt);
    let payouts = app.payouts(Some(receipt)).await;
    assert_eq!(payouts.len(), 1);
    assert_eq!(payouts[0]["amount"], "500");
    let calls = app.omt_calls(1001).await;
    assert_eq!(
        (calls["getcti"].clone(), calls["paycti"].clone()),
        (json!(1), json!(1))
    );
    // The OTP is nowhere: not in the answer, not in the record kept in Redis.
    assert!(!v.to_string().contains(&OTP.to_string()), "{v}");
    assert!(v["recipient"]["otp"].is_null());
    let mut c = app.producer.store().connection();
    let keys = app.keys().await;
    for k in keys
        .iter()
        .filter(|k| k.contains(":cashout:") || k.contains(":history:"))
    {
        let dump: Vec<String> = match redis::cmd("TYPE")
            .arg(k)
            .query_async::<String>(&mut c)
            .await
            .unwrap()
            .as_str()
        {
            "hash" => redis::cmd("HVALS")
                .arg(k)
                .query_async(&mut c)
                .await
                .unwrap(),
            // The record: header, JSON and history lines in one string.
            "string" => vec![
                redis::cmd("GET")
                    .arg(k)
                    .query_async::<String>(&mut c)
                    .await
                    .unwrap(),
            ],
            "list" => redis::cmd("LRANGE")
                .arg(k)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            _ => Vec::new(),
        };
        assert!(
            !dump.concat().contains(&OTP.to_string()),
            "{k} keeps the OTP"
        );
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_otps_then_the_guard_parks_the_fourth() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1002, OTP, 500, 1).await;
    app.start_worker();
    for i in 0..3 {
        let id = post(
            &app,
            &TestApp::omt_order(&format!("omt-bad-{i}"), 1002, WRONG, 50_000, "USD"),
        )
        .await;
        let v = app.wait_settled(&id).await;
        assert_eq!(v["state"], "failed", "{v:#}");
        assert!(
            causes(&v).iter().any(|c| c.contains("account not found")),
            "{v:#}"
        );
    }
    // Even the right OTP is not tried: one more failure could lock the customer out.
    let id = post(
        &app,
        &TestApp::omt_order("omt-bad-3", 1002, OTP, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "created", "{v:#}");
    assert_eq!(v["parked"]["reason"], "omt_lockout_guard");
    let calls = app.omt_calls(1002).await;
    assert_eq!(calls["failed_attempts"], 3, "{calls}");
    assert_eq!(calls["getcti"], 3, "{calls}");
    let account = app.omt_admin(Method::GET, "accounts/1002", None).await;
    assert!(account["locked"].is_null(), "{account}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_bad_cashouts_make_at_most_three_failed_calls() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1003, OTP, 500, 1).await;
    app.start_worker();
    let bodies: Vec<Value> = (0..10)
        .map(|i| TestApp::omt_order(&format!("omt-c-{i}"), 1003, WRONG, 50_000, "USD"))
        .collect();
    let results = futures::future::join_all(bodies.iter().map(|b| app.post_cashout(b))).await;
    let ids: Vec<String> = results.iter().map(|(_, v)| id_of(v)).collect();
    let mut parked = 0;
    for id in &ids {
        let v = app.wait_settled(id).await;
        if v["parked"]["reason"] == "omt_lockout_guard" {
            parked += 1;
        } else {
            assert_eq!(v["state"], "failed", "{v:#}");
        }
    }
    let calls = app.omt_calls(1003).await;
    assert!(calls["failed_attempts"].as_u64().unwrap() <= 3, "{calls}");
    assert_eq!(
        parked,
        10 - calls["failed_attempts"].as_u64().unwrap() as usize
    );
    let account = app.omt_admin(Method::GET, "accounts/1003", None).await;
    assert!(
        account["locked"].is_null(),
        "the customer is not locked out: {account}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_account_fails_fast_without_a_call() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1004, OTP, 500, 1).await;
    app.omt_admin(
        Method::POST,
        "lock",
        Some(json!({"account_id": 1004, "reason": "expired"})),
    )
    .await;
    app.start_worker();
    let first = post(
        &app,
        &TestApp::omt_order("omt-l-1", 1004, OTP, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&first).await;
    assert_eq!(v["state"], "failed");
    assert!(
        causes(&v).iter().any(|c| c.contains("contact OMT support")),
        "{v:#}"
    );
    let second = post(
        &app,
        &TestApp::omt_order("omt-l-2", 1004, OTP, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&second).await;
    assert_eq!(v["state"], "failed");
    assert!(
        causes(&v).iter().any(|c| c.contains("no call made")),
        "{v:#}"
    );
    assert_eq!(
        app.omt_calls(1004).await["getcti"],
        1,
        "the second made no call"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_fails_without_paycti() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1005, OTP, 500, 1).await;
    app.start_worker();
    let id = post(
        &app,
        &TestApp::omt_order("omt-mm", 1005, OTP, 60_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "failed", "{v:#}");
    assert!(
        causes(&v)
            .iter()
            .any(|c| c.contains("differs from the order (amount)")),
        "{v:#}"
    );
    let calls = app.omt_calls(1005).await;
    assert_eq!(
        (calls["paycti"].clone(), calls["failed_attempts"].clone()),
        (json!(0), json!(0))
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_resets_the_count() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1006, OTP, 500, 1).await;
    app.start_worker();
    for i in 0..2 {
        let id = post(
            &app,
            &TestApp::omt_order(&format!("omt-r-{i}"), 1006, WRONG, 50_000, "USD"),
        )
        .await;
        assert_eq!(app.wait_settled(&id).await["state"], "failed");
    }
    let id = post(
        &app,
        &TestApp::omt_order("omt-r-ok", 1006, OTP, 50_000, "USD"),
    )
    .await;
    assert_eq!(app.wait_settled(&id).await["state"], "confirmed");
    // Two more wrong ones now fail normally: the count started again from zero.
    app.omt_seed(1006, OTP, 500, 1).await;
    for i in 2..5 {
        let id = post(
            &app,
            &TestApp::omt_order(&format!("omt-r-{i}"), 1006, WRONG, 50_000, "USD"),
        )
        .await;
        let v = app.wait_settled(&id).await;
        assert_eq!(v["state"], "failed", "attempt {i}: {v:#}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_answered_as_http_4xx_are_classified_the_same() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_admin(
        Method::PUT,
        "config",
        Some(json!({"failure_mode": "http4xx"})),
    )
    .await;
    app.omt_seed(1007, OTP, 500, 1).await;
    app.start_worker();
    let id = post(
        &app,
        &TestApp::omt_order("omt-4xx", 1007, WRONG, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "failed", "{v:#}");
    assert!(causes(&v).iter().any(|c| c.contains("account not found")));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paycti_timeout_is_parked_and_never_resent() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1008, OTP, 500, 1).await;
    app.fault_for(
        "omt",
        "paycti",
        1,
        json!({"kind": "delay", "delay_ms": 5_000, "phase": "after"}),
    )
    .await;
    app.start_worker();
    let id = post(
        &app,
        &TestApp::omt_order("omt-to", 1008, OTP, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "submitted", "{v:#}");
    assert_eq!(v["parked"]["reason"], "outcome_unknown");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.omt_calls(1008).await["paycti"], 1, "never resent");
    assert_eq!(
        app.payouts(Some(v["external_reference"].as_str().unwrap()))
            .await
            .len(),
        1
    );
    let (_, r) = app
        .admin_post(&format!("/v1/dlq/{id}/replay"), Value::Null)
        .await;
    assert_eq!(
        r["outcome"], "in_doubt",
        "a replay cannot resend PAYCTI: {r}"
    );
    assert_eq!(
        app.get_cashout(&id).await["parked"]["reason"],
        "outcome_unknown"
    );
    assert_eq!(app.omt_calls(1008).await["paycti"], 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_from_created_and_from_submitted() {
    let mut app = TestApp::spawn(Options::default()).await;
    // From created: no worker running, nothing sent, no provider call.
    let id = post(
        &app,
        &TestApp::omt_order("omt-rv-1", 1009, OTP, 50_000, "USD"),
    )
    .await;
    let (s, v) = app
        .admin_post(&format!("/v1/cashouts/{id}/revoke"), Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "revoked");
    assert_eq!(app.omt_calls(1009).await["getcti"], 0);
    let (s, _) = app
        .admin_post(&format!("/v1/cashouts/{id}/revoke"), Value::Null)
        .await;
    assert_eq!(s, 409, "already final");

    // From submitted: PAYCTI's connection is reset before OMT executes it, so the outcome is
    // unknown to us; OMT's Revoke settles it.
    app.omt_seed(1010, OTP, 500, 1).await;
    app.fault_for(
        "omt",
        "paycti",
        1,
        json!({"kind": "reset", "phase": "before"}),
    )
    .await;
    app.start_worker();
    let id = post(
        &app,
        &TestApp::omt_order("omt-rv-2", 1010, OTP, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&id).await;
    assert_eq!(
        (v["state"].clone(), v["parked"]["reason"].clone()),
        (json!("submitted"), json!("outcome_unknown")),
        "{v:#}"
    );
    let (s, v) = app
        .admin_post(&format!("/v1/cashouts/{id}/revoke"), Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "revoked");
    assert!(v["parked"].is_null());
    assert_eq!(
        transitions(&v).last().unwrap(),
        &("submitted".into(), "revoked".into())
    );
    assert!(causes(&v).iter().any(|c| c.contains("omt Revoke Success")));
    assert_eq!(app.omt_calls(1010).await["revoke"], 1);
    assert!(
        app.payouts(Some(v["external_reference"].as_str().unwrap()))
            .await
            .is_empty()
    );

    // A submitted Camoo cashout cannot be revoked: a clear refusal.
    let camoo = post(
        &app,
        &TestApp::order("omt-rv-camoo", &cashout_tests::phone(90, 8), 1_500),
    )
    .await;
    app.wait_for_cashout(&camoo, Duration::from_secs(20), |v| {
        v["state"] == "submitted"
    })
    .await;
    let (s, v) = app
        .admin_post(&format!("/v1/cashouts/{camoo}/revoke"), Value::Null)
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("camoo has no revoke")
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_otp_never_appears_in_logs_or_answers() {
    let app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1011, OTP, 500, 1).await;
    let log = std::env::temp_dir().join(format!("omt-otp-{}.log", uuid::Uuid::new_v4().simple()));
    let mut worker = app.spawn_worker_process_logged(&log);
    let ok = post(
        &app,
        &TestApp::omt_order("omt-log-1", 1011, OTP, 50_000, "USD"),
    )
    .await;
    let bad = post(
        &app,
        &TestApp::omt_order("omt-log-2", 1011, 654_321, 50_000, "USD"),
    )
    .await;
    let mut answers = String::new();
    for id in [&ok, &bad] {
        let v = app.wait_settled(id).await;
        answers.push_str(&v.to_string());
    }
    // Invalid OTPs are refused without being echoed.
    let (s, v) = app
        .post_cashout(&TestApp::omt_order("omt-log-3", 1011, 12, 50_000, "USD"))
        .await;
    assert_eq!(
        (s, v["error"]["field"].clone()),
        (422, json!("recipient.otp"))
    );
    answers.push_str(&v.to_string());
    let (_, dlq) = app.admin_get("/v1/dlq").await;
    answers.push_str(&dlq.to_string());
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    let logs = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        logs.contains("omt paid the cashout"),
        "debug logs were captured"
    );
    for secret in [
        OTP.to_string(),
        "654321".to_owned(),
        "71234567".to_owned(),
        "sandbox-pass".to_owned(),
    ] {
        assert!(!logs.contains(&secret), "logs contain {secret}");
        assert!(!answers.contains(&secret), "answers contain {secret}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_after_paycti_is_unknown_never_failed() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1012, OTP, 500, 1).await;
    app.fault_for("omt", "paycti", 1, json!({"kind": "status", "status": 500}))
        .await;
    app.start_worker();
    let id = post(
        &app,
        &TestApp::omt_order("omt-500", 1012, OTP, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "submitted", "never failed on a 500: {v:#}");
    assert_eq!(v["parked"]["reason"], "outcome_unknown");
    assert_eq!(app.omt_calls(1012).await["paycti"], 1);
    app.shutdown().await;
}

/// The guard's reservations have identities: one never marked sent lapses (it provably never
/// reached OMT), a sent one without an answer stays counted and is listed until an operator
/// clears it, a counted answer becomes a failure, a success resets the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_lapse_unsent_and_stay_listed_when_sent() {
    let app = TestApp::spawn(Options::default()).await;
    let store = app.producer.store();
    let account = cashout_core::OmtAccountId::new(4242).unwrap();
    let short = Duration::from_millis(300);
    // Three reserved, never sent: the fourth is refused, until they lapse.
    for i in 0..3 {
        let t = format!("unsent-{i}");
        assert!(
            store
                .omt_reserve_attempt(account, 3, &t, "c-1", "GETCTI", short)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(
        store
            .omt_reserve_attempt(account, 3, "x", "c-1", "GETCTI", short)
            .await
            .unwrap(),
        None
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // They lapsed; three sent ones now, which never lapse.
    for i in 0..3 {
        let t = format!("sent-{i}");
        assert!(
            store
                .omt_reserve_attempt(account, 3, &t, &format!("c-{i}"), "PAYCTI", short)
                .await
                .unwrap()
                .is_some(),
            "unsent reservations lapsed"
        );
        assert!(store.omt_mark_sent(account, &t).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        store
            .omt_reserve_attempt(account, 3, "y", "c-9", "GETCTI", short)
            .await
            .unwrap(),
        None,
        "sent reservations keep counting"
    );
    // A lapsed reservation cannot be marked sent: its request must not leave.
    assert!(!store.omt_mark_sent(account, "unsent-0").await.unwrap());
    // Listed for the operator, with their cashouts and calls.
    let unresolved = store.omt_unresolved().await.unwrap();
    assert_eq!(unresolved.len(), 1);
    assert_eq!(unresolved[0].account_id, 4242);
    let cashouts: Vec<&str> = unresolved[0]
        .reservations
        .iter()
        .map(|r| r.cashout_id.as_str())
        .collect();
    assert_eq!(cashouts, ["c-0", "c-1", "c-2"]);
    assert!(
        unresolved[0]
            .reservations
            .iter()
            .all(|r| r.sent && r.call == "PAYCTI")
    );
    // Cleared one: room for one more. A counted answer turns it into a failure.
    assert!(
        store
            .omt_clear_reservation(account, "sent-0")
            .await
            .unwrap()
    );
    assert!(
        !store
            .omt_clear_reservation(account, "sent-0")
            .await
            .unwrap()
    );
    assert!(
        store
            .omt_reserve_attempt(account, 3, "z", "c-3", "GETCTI", short)
            .await
            .unwrap()
            .is_some()
    );
    store.omt_settle(account, "z", true).await.unwrap();
    let g = store.omt_guard(account).await.unwrap();
    assert_eq!((g.failures, g.reservations.len()), (1, 2));
    assert_eq!(store.omt_failures(account).await.unwrap(), 3);
    // A success: nothing counted, nothing listed.
    store.omt_reset_failures(account).await.unwrap();
    assert_eq!(store.omt_failures(account).await.unwrap(), 0);
    assert!(store.omt_unresolved().await.unwrap().is_empty());
    app.shutdown().await;
}

/// A worker killed while GETCTI is with OMT: its attempt stays counted and listed (OMT may have
/// counted it), its account lease lapses within one lease instead of outliving the call
/// timeouts, and the right-OTP cashout is then paid by another worker. The dead worker's attempt
/// stays listed after the success (its request may still reach OMT after it) until an operator
/// clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_inside_getcti_leaves_one_listed_attempt_and_frees_the_account() {
    let mut app = TestApp::spawn(Options {
        camoo_timeout_ms: 10_000,
        ..Options::default()
    })
    .await;
    app.omt_seed(1077, OTP, 500, 1).await;
    app.fault_for(
        "omt",
        "getcti",
        1,
        json!({"kind": "delay", "delay_ms": 6000, "phase": "before"}),
    )
    .await;
    let mut a = app.spawn_worker_process();
    let id = post(
        &app,
        &TestApp::omt_order("omt-killed", 1077, OTP, 50_000, "USD"),
    )
    .await;
    let store = app.producer.store().clone();
    let account = cashout_core::OmtAccountId::new(1077).unwrap();
    cashout_tests::eventually(Duration::from_secs(20), "GETCTI to be sent", || {
        let store = store.clone();
        async move {
            let g = store.omt_guard(account).await.unwrap();
            g.reservations.iter().any(|r| r.sent).then_some(())
        }
    })
    .await;
    a.start_kill().unwrap();
    let _ = a.wait().await;
    // The dead holder's account lease: no longer than one lease from its last renewal.
    let mut c = store.connection();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.keys().omt_lease(account))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        pttl <= i64::try_from(app.options.worker.lease_ms).unwrap(),
        "the account lease outlives a lease: {pttl} ms"
    );
    let unresolved = store.omt_unresolved().await.unwrap();
    assert_eq!(unresolved.len(), 1, "{unresolved:?}");
    assert_eq!(unresolved[0].reservations[0].cashout_id, id);
    assert_eq!(unresolved[0].reservations[0].call, "GETCTI");

    app.start_worker();
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(40), |v| v["state"] == "confirmed")
        .await;
    assert!(v["parked"].is_null(), "{v:#}");
    let receipt = v["external_reference"].as_str().unwrap();
    assert_eq!(app.payouts(Some(receipt)).await.len(), 1);
    // The dead worker's GETCTI may still reach OMT after the success (and count there): it
    // stays counted and listed until an operator clears it, without blocking the account.
    let unresolved = store.omt_unresolved().await.unwrap();
    assert_eq!(unresolved.len(), 1, "{unresolved:?}");
    assert_eq!(unresolved[0].failures, 0);
    assert_eq!(store.omt_failures(account).await.unwrap(), 1);
    let token = unresolved[0].reservations[0].token.clone();
    assert!(store.omt_clear_reservation(account, &token).await.unwrap());
    assert!(store.omt_unresolved().await.unwrap().is_empty());
    app.shutdown().await;
}

/// PAYCTI answered 503 three times: OMT refused before processing, so each attempt is settled
/// as not counted and retried; the lockout guard never fills up, and the cashout is paid once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycti_503s_are_retried_without_filling_the_guard() {
    let mut app = TestApp::spawn(Options::default()).await;
    app.omt_seed(1088, OTP, 500, 1).await;
    app.fault_for("omt", "paycti", 3, json!({"kind": "status", "status": 503}))
        .await;
    app.start_worker();
    let id = post(
        &app,
        &TestApp::omt_order("omt-503", 1088, OTP, 50_000, "USD"),
    )
    .await;
    let v = app.wait_settled(&id).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert!(v["parked"].is_null());
    let receipt = v["external_reference"].as_str().unwrap();
    assert_eq!(app.payouts(Some(receipt)).await.len(), 1);
    assert_eq!(app.omt_calls(1088).await["paycti"], 4);
    let account = cashout_core::OmtAccountId::new(1088).unwrap();
    assert_eq!(app.producer.store().omt_failures(account).await.unwrap(), 0);
    app.shutdown().await;
}

/// Reserves an attempt of `call` under `token` and marks it sent (its request left).
async fn reserve_sent(
    store: &cashout_store::Store,
    account: cashout_core::OmtAccountId,
    token: &str,
    call: &str,
) {
    store
        .omt_reserve_attempt(account, 3, token, "c-1", call, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(store.omt_mark_sent(account, token).await.unwrap());
}

/// The tokens of the account's reservations, oldest first.
async fn reservation_tokens(
    store: &cashout_store::Store,
    account: cashout_core::OmtAccountId,
) -> Vec<String> {
    let guard = store.omt_guard(account).await.unwrap();
    guard.reservations.into_iter().map(|r| r.token).collect()
}

/// A holder whose account lease lapsed cannot wipe the newer holder's reservation when its own
/// PAYCTI succeeds: the reset is a compare-and-delete on the account lease; and a success never
/// clears another call sent and never answered (it may still reach OMT after the success).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_after_the_account_lease_lapsed_keeps_the_new_holders_reservation() {
    let app = TestApp::spawn(Options::default()).await;
    let store = app.producer.store();
    let account = cashout_core::OmtAccountId::new(4343).unwrap();
    let lease = Duration::from_millis(300);
    let expiry = Duration::from_secs(60);
    // A holds the account, reserves and sends PAYCTI, then stalls past its lease.
    assert!(
        store
            .try_omt_lease(account, "lease-a", lease)
            .await
            .unwrap()
    );
    reserve_sent(store, account, "res-a", "PAYCTI").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // B takes the account and reserves GETCTI (after A's PAYCTI reached OMT).
    assert!(
        store
            .try_omt_lease(account, "lease-b", expiry)
            .await
            .unwrap()
    );
    reserve_sent(store, account, "res-b", "GETCTI").await;
    // A's success arrives: only A's reservation goes; B's stays counted.
    assert!(
        !store
            .omt_reset_after_success(account, "lease-a", "res-a", 0, Duration::ZERO)
            .await
            .unwrap()
    );
    assert_eq!(reservation_tokens(store, account).await, ["res-b"]);
    // After B's call was sent: a failure OMT answered, and another call sent and never
    // answered. Both may have reached OMT after B's success.
    store
        .omt_reserve_attempt(account, 3, "res-f", "c-f", "GETCTI", expiry)
        .await
        .unwrap()
        .unwrap();
    store.omt_settle(account, "res-f", true).await.unwrap();
    reserve_sent(store, account, "res-x", "GETCTI").await;
    // B's success (0 failures were counted when B's call was sent): both stay counted.
    assert!(
        store
            .omt_reset_after_success(account, "lease-b", "res-b", 0, Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(reservation_tokens(store, account).await, ["res-x"]);
    let guard = store.omt_guard(account).await.unwrap();
    assert_eq!((guard.failures, guard.counted()), (1, 2));
    // A later success, its call sent after that failure was counted, and res-x older than the
    // longest transit: OMT's reset covered both.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        store
            .omt_reset_after_success(account, "lease-b", "res-y", 1, Duration::from_millis(10))
            .await
            .unwrap()
    );
    let guard = store.omt_guard(account).await.unwrap();
    assert_eq!((guard.failures, guard.counted()), (0, 0), "{guard:?}");
}
