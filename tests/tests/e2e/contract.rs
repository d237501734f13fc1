//! The provider contract: one suite, written once, run against Camoo, OMT and OMNO through the
//! sandbox. Each provider implements [`Contract`] (a few hooks: its orders, the sandbox names of
//! its payout-creating call and of its read, its call counters, how its revoke behaves); every
//! scenario below is generic over it and [`contract_suite!`] instantiates all of them for each
//! provider as `contract::<provider>::<scenario>` (e.g. `contract::omt::lost_create_answer…`).
//!
//! No worker runs: the tests step the driver ([`drive_until_settled`] calls
//! `Driver::handle` each time the record says a step is due) and read the record, its history
//! and the sandbox's counters. Nothing asserts how long anything took.
//!
//! A scenario that does not apply to a provider is not skipped silently: it is generated with
//! `#[ignore = "n/a for …: why"]`, so every run lists it as ignored with its reason.

use cashout_core::{Cashout, CashoutId, HistoryKind, ParkReason, State};
use cashout_tests::contract::{Settled, drive_concurrently, drive_until_settled, job_for, read};
use cashout_tests::{Options, TestApp, phone};
use cashout_worker::{Driver, StepReport};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The most one drive may take (the slowest scenario needs a few seconds).
const LIMIT: Duration = Duration::from_secs(30);

/// The statuses by which every provider refuses a payout-creating call before processing it
/// (RFC 9110, RFC 6585; both in every provider's default `retry.refused_statuses`): 429 with
/// `Retry-After` in the `Retry-After` scenario (the sandbox sends it with OMT's
/// `{"isSuccess": false}` body, which must still read as a refusal, not as a failed attempt),
/// 503 until retries run out in the other.
const THROTTLED: u16 = 429;
const UNAVAILABLE: u16 = 503;

/// What a revoke of a cashout whose payout request was sent does.
enum RevokeAfterSubmit {
    /// The provider cancels it: the cashout becomes `revoked` and nothing is paid.
    Cancels,
    /// The provider has no revoke: the API answers 409 with a message containing this, and the
    /// cashout goes on to its normal end.
    Refused(&'static str),
}

/// What a provider supplies to the contract suite.
trait Contract {
    /// The sandbox's name of the provider (`/_admin/faults` `provider`).
    const NAME: &'static str;
    /// The sandbox endpoint of the payout-creating call (the one never to be sent twice).
    const CREATE: &'static str;
    /// The sandbox endpoint of the read the flow repeats safely after errors.
    const READ: &'static str;
    /// The state a cashout is parked in when its create's answer is lost after execution.
    const LOST_CREATE_STATE: State;
    /// The state a cashout is parked in when every create is refused until retries run out.
    const REFUSED_CREATES_STATE: State;
    /// How a cashout whose reads fail until the flow gives up is parked: `(state, reason)`.
    const READS_GIVE_UP: (State, ParkReason);
    /// Audit entries (executed payouts) the sandbox keeps for a cashout that ends `failed`.
    const AUDITED_WHEN_FAILED: usize;
    /// Audit entries the sandbox keeps after a create whose answer was lost.
    const AUDITED_AFTER_LOST_CREATE: usize;

    /// An order that ends `confirmed` (seeding the sandbox if the provider needs it).
    async fn good_order(app: &TestApp, key: &str) -> Value;
    /// An order the provider fails finally.
    async fn failing_order(app: &TestApp, key: &str) -> Value;
    /// An order the provider accepts and never settles (polled until the deadline). `None` when
    /// the provider has no status read (then `poll_deadline_parks` is ignored with the reason).
    async fn never_final_order(app: &TestApp, key: &str) -> Option<Value>;
    /// Brings a new cashout to the `submitted` state in which an operator would revoke it.
    async fn submitted_for_revoke(
        app: &TestApp,
        driver: &Driver,
        key: &str,
    ) -> (CashoutId, RevokeAfterSubmit);
    /// Payout-creating calls the sandbox received for this cashout.
    async fn creates(app: &TestApp, rec: &Cashout) -> u64;
    /// Reads ([`Contract::READ`]) the sandbox received for this cashout.
    async fn reads(app: &TestApp, rec: &Cashout) -> u64;
    /// Cancels (revoke / reject calls) the sandbox received for this cashout.
    async fn cancels(app: &TestApp, rec: &Cashout) -> u64;
}

// ---------------------------------------------------------------------------------------------
// The providers.

/// Camoo: `POST /cashout` creates and pays; `GET /verify` reads. The phone's last digit picks
/// the sandbox's outcome. Its call counters are per sandbox (one cashout per scenario counts).
/// The suite runs without signed notifications (`Options::notifications` off): a lost create
/// answer then waits for a person, as with the other providers (with notifications Camoo
/// reconciles it: `retries::a_reset_after_camoo_executed_…`).
struct Camoo;

impl Contract for Camoo {
    const NAME: &'static str = "camoo";
    const CREATE: &'static str = "create";
    const READ: &'static str = "verify";
    const LOST_CREATE_STATE: State = State::Created;
    const REFUSED_CREATES_STATE: State = State::Created;
    const READS_GIVE_UP: (State, ParkReason) = (State::Submitted, ParkReason::DeadlineExceeded);
    /// Camoo executed the create, then reported `FAILED` (the sandbox gives the amount back to
    /// the balance; the audit line of the execution stays).
    const AUDITED_WHEN_FAILED: usize = 1;
    /// Camoo executed the create before the connection was dropped.
    const AUDITED_AFTER_LOST_CREATE: usize = 1;

    async fn good_order(_: &TestApp, key: &str) -> Value {
        TestApp::order(key, &phone(1, 1), 1_500)
    }
    async fn failing_order(_: &TestApp, key: &str) -> Value {
        TestApp::order(key, &phone(2, 0), 1_500)
    }
    async fn never_final_order(_: &TestApp, key: &str) -> Option<Value> {
        Some(TestApp::order(key, &phone(3, 8), 1_500))
    }
    /// Camoo has no revoke: once the create is sent, the API refuses.
    async fn submitted_for_revoke(
        app: &TestApp,
        driver: &Driver,
        key: &str,
    ) -> (CashoutId, RevokeAfterSubmit) {
        let id = app.enqueue(&Self::good_order(app, key).await).await;
        let r = driver.handle(&job_for(id)).await.unwrap();
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
        (id, RevokeAfterSubmit::Refused("camoo has no revoke"))
    }
    async fn creates(app: &TestApp, _: &Cashout) -> u64 {
        app.camoo_calls().await["create"].as_u64().unwrap()
    }
    async fn reads(app: &TestApp, _: &Cashout) -> u64 {
        app.camoo_calls().await["verify"].as_u64().unwrap()
    }
    async fn cancels(_: &TestApp, _: &Cashout) -> u64 {
        0
    }
}

/// OMT: `GETCTI` reads the customer's pending cashout (checked against the order), `PAYCTI`
/// pays. OMT has **no status read**: PAYCTI's answer is final, so there is no polling and no
/// polling deadline. Its read is GETCTI: safe to repeat, but a GETCTI without an answer (reset,
/// timeout) stays counted by the lockout guard (3 of them would park the cashout
/// `omt_lockout_guard`), so the read-error scenario's two transport-level errors stay below it.
/// When GETCTI keeps failing the flow gives up by its retry budget (`retries_exhausted` in
/// `created`), not by a deadline.
struct Omt;

const OMT_ACCOUNT: i64 = 3_001;
const OMT_OTP: i64 = 482_913;

async fn omt_seed(app: &TestApp, outcome: &str) {
    let r = app
        .http
        .post(format!("{}/_admin/omt/pending", app.sandbox.base_url()))
        .json(&json!({
            "account_id": OMT_ACCOUNT, "otp": OMT_OTP, "amount": 500, "currency": 1,
            "first_name": "John", "middle_name": "Doe", "last_name": "Smith",
            "mobile_number": "+96171234567", "outcome": outcome
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "omt seed refused");
}

async fn omt_calls(app: &TestApp, what: &str) -> u64 {
    app.omt_calls(OMT_ACCOUNT).await[what].as_u64().unwrap()
}

impl Contract for Omt {
    const NAME: &'static str = "omt";
    const CREATE: &'static str = "paycti";
    const READ: &'static str = "getcti";
    /// `submitted` is written with PAYCTI's intent, before it leaves.
    const LOST_CREATE_STATE: State = State::Submitted;
    const REFUSED_CREATES_STATE: State = State::Submitted;
    const READS_GIVE_UP: (State, ParkReason) = (State::Created, ParkReason::RetriesExhausted);
    /// `Cashout Failed`: nothing executed.
    const AUDITED_WHEN_FAILED: usize = 0;
    /// OMT executed PAYCTI before the connection was dropped.
    const AUDITED_AFTER_LOST_CREATE: usize = 1;

    async fn good_order(app: &TestApp, key: &str) -> Value {
        omt_seed(app, "success").await;
        TestApp::omt_order(key, OMT_ACCOUNT, OMT_OTP, 50_000, "USD")
    }
    async fn failing_order(app: &TestApp, key: &str) -> Value {
        omt_seed(app, "failed").await;
        TestApp::omt_order(key, OMT_ACCOUNT, OMT_OTP, 50_000, "USD")
    }
    async fn never_final_order(_: &TestApp, _: &str) -> Option<Value> {
        None
    }
    /// PAYCTI's connection is reset before OMT executes it: the cashout is parked
    /// `outcome_unknown` in `submitted`, and OMT's `Revoke` settles it.
    async fn submitted_for_revoke(
        app: &TestApp,
        driver: &Driver,
        key: &str,
    ) -> (CashoutId, RevokeAfterSubmit) {
        let order = Self::good_order(app, key).await;
        app.fault_for(
            "omt",
            "paycti",
            1,
            json!({"kind": "reset", "phase": "before"}),
        )
        .await;
        let id = app.enqueue(&order).await;
        let s = drive_until_settled(driver, id, LIMIT).await;
        assert_eq!(
            (s.record.state, park_reason(&s.record)),
            (State::Submitted, Some(ParkReason::OutcomeUnknown)),
            "{s:#?}"
        );
        (id, RevokeAfterSubmit::Cancels)
    }
    async fn creates(app: &TestApp, _: &Cashout) -> u64 {
        omt_calls(app, "paycti").await
    }
    async fn reads(app: &TestApp, _: &Cashout) -> u64 {
        omt_calls(app, "getcti").await
    }
    async fn cancels(app: &TestApp, _: &Cashout) -> u64 {
        omt_calls(app, "revoke").await
    }
}

/// OMNO: `POST /public/payout` creates (moves no money), `PUT …/confirm` executes, `GET
/// /public/payout/{id}` reads. The last character of `external_user_id` picks the outcome; a
/// `manual` order waits for an approve, which is when a revoke (reject) applies.
struct Omno;

async fn omno_calls(app: &TestApp, rec: &Cashout, what: &str) -> u64 {
    app.omno_admin(
        Method::GET,
        &format!("calls?order_id={}", rec.external_reference),
        None,
    )
    .await[what]
        .as_u64()
        .unwrap()
}

impl Contract for Omno {
    const NAME: &'static str = "omno";
    const CREATE: &'static str = "create";
    const READ: &'static str = "status";
    const LOST_CREATE_STATE: State = State::Created;
    const REFUSED_CREATES_STATE: State = State::Created;
    const READS_GIVE_UP: (State, ParkReason) = (State::Submitted, ParkReason::DeadlineExceeded);
    /// The confirm executed the payout, then OMNO reported `FAILED`; the audit line of the
    /// execution stays.
    const AUDITED_WHEN_FAILED: usize = 1;
    /// An OMNO create moves no money (the confirm does).
    const AUDITED_AFTER_LOST_CREATE: usize = 0;

    async fn good_order(_: &TestApp, key: &str) -> Value {
        TestApp::omno_order(key, "user-11", "auto")
    }
    async fn failing_order(_: &TestApp, key: &str) -> Value {
        TestApp::omno_order(key, "user-17", "auto")
    }
    async fn never_final_order(_: &TestApp, key: &str) -> Option<Value> {
        Some(TestApp::omno_order(key, "user-19", "auto"))
    }
    /// A `manual` order: created at OMNO, waiting for an approve; a revoke rejects it.
    async fn submitted_for_revoke(
        app: &TestApp,
        driver: &Driver,
        key: &str,
    ) -> (CashoutId, RevokeAfterSubmit) {
        let id = app
            .enqueue(&TestApp::omno_order(key, "user-11", "manual"))
            .await;
        let s = drive_until_settled(driver, id, LIMIT).await;
        assert_eq!(s.record.state, State::Submitted, "{s:#?}");
        assert!(
            s.record.parked.is_none() && s.record.next_action_at.is_none(),
            "waiting for an approve: {s:#?}"
        );
        (id, RevokeAfterSubmit::Cancels)
    }
    async fn creates(app: &TestApp, rec: &Cashout) -> u64 {
        omno_calls(app, rec, "create").await
    }
    async fn reads(app: &TestApp, rec: &Cashout) -> u64 {
        omno_calls(app, rec, "status").await
    }
    async fn cancels(app: &TestApp, rec: &Cashout) -> u64 {
        omno_calls(app, rec, "reject").await
    }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces.

/// Small delays for every provider (OMNO settles in 300 ms as Camoo does).
fn options() -> Options {
    let mut o = Options::default();
    o.sandbox.omno.settle_delay_ms = 300;
    o
}

async fn start(options: Options) -> (TestApp, Arc<Driver>) {
    let app = TestApp::spawn(options).await;
    let driver = app.driver();
    (app, driver)
}

fn park_reason(rec: &Cashout) -> Option<ParkReason> {
    rec.parked.as_ref().map(|p| p.reason)
}

async fn payouts(app: &TestApp, rec: &Cashout) -> usize {
    app.payouts(Some(&rec.external_reference)).await.len()
}

async fn fault<P: Contract>(app: &TestApp, endpoint: &str, count: u32, fault: Value) {
    app.fault_for(P::NAME, endpoint, count, fault).await;
}

async fn replay(app: &TestApp, id: CashoutId) -> Value {
    let (s, r) = app
        .admin_post(&format!("/v1/dlq/{id}/replay"), json!({"note": "contract"}))
        .await;
    assert_eq!(s, 200, "{r}");
    r["outcome"].clone()
}

/// A delivery of a settled cashout does nothing.
async fn assert_nothing_due(driver: &Driver, id: CashoutId) {
    let r = driver.handle(&job_for(id)).await.unwrap();
    assert_eq!(
        r,
        StepReport::NotDue,
        "a settled cashout is not stepped again"
    );
}

fn causes(s: &Settled, kind: HistoryKind) -> Vec<String> {
    s.entries(kind).iter().map(|e| e.cause.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// The scenarios, written once.

/// Accepted, then confirmed; one create, one payout; nothing parked.
async fn happy_path<P: Contract>() {
    let (app, driver) = start(options()).await;
    let id = app.enqueue(&P::good_order(&app, "c-happy").await).await;
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(s.record.state, State::Confirmed, "{s:#?}");
    assert!(s.record.parked.is_none());
    assert_eq!(
        s.transitions(),
        vec![
            (State::Created, State::Submitted),
            (State::Submitted, State::Confirmed)
        ]
    );
    assert_eq!(P::creates(&app, &s.record).await, 1);
    assert_eq!(payouts(&app, &s.record).await, 1);
    assert_nothing_due(&driver, id).await;
    app.shutdown().await;
}

/// The provider's final "no": `failed`, never retried or resubmitted, nothing parked.
async fn final_failure<P: Contract>() {
    let (app, driver) = start(options()).await;
    let id = app.enqueue(&P::failing_order(&app, "c-fail").await).await;
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(s.record.state, State::Failed, "{s:#?}");
    assert!(s.record.parked.is_none());
    assert_eq!(
        s.transitions().last(),
        Some(&(State::Submitted, State::Failed))
    );
    assert!(s.entries(HistoryKind::Retry).is_empty(), "{s:#?}");
    assert_eq!(P::creates(&app, &s.record).await, 1);
    assert_eq!(payouts(&app, &s.record).await, P::AUDITED_WHEN_FAILED);
    assert_nothing_due(&driver, id).await;
    app.shutdown().await;
}

/// The create is executed and its answer lost (connection reset after execution): parked
/// `outcome_unknown`, never sent again (by a delivery or a replay, which refuses it as in doubt).
async fn lost_create_answer_is_parked_never_resent<P: Contract>() {
    let (app, driver) = start(options()).await;
    let order = P::good_order(&app, "c-lost").await;
    fault::<P>(
        &app,
        P::CREATE,
        1,
        json!({"kind": "reset", "phase": "after"}),
    )
    .await;
    let id = app.enqueue(&order).await;
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(
        (s.record.state, park_reason(&s.record)),
        (P::LOST_CREATE_STATE, Some(ParkReason::OutcomeUnknown)),
        "{s:#?}"
    );
    assert!(s.record.submit_intent.is_some(), "still in doubt: {s:#?}");
    assert_eq!(P::creates(&app, &s.record).await, 1);
    // Another delivery (a duplicate, a sweeper's) sends nothing.
    assert_nothing_due(&driver, id).await;
    assert_eq!(replay(&app, id).await, "in_doubt");
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(park_reason(&s.record), Some(ParkReason::OutcomeUnknown));
    assert_eq!(P::creates(&app, &s.record).await, 1, "never resent");
    assert_eq!(payouts(&app, &s.record).await, P::AUDITED_AFTER_LOST_CREATE);
    app.shutdown().await;
}

/// A server error, a dropped connection and a timeout on the provider's read: each recorded as
/// a retry, then the read succeeds and the cashout is confirmed; one create, one payout.
async fn read_errors_are_retried_then_confirmed<P: Contract>() {
    let (app, driver) = start(options()).await;
    let order = P::good_order(&app, "c-read").await;
    fault::<P>(&app, P::READ, 1, json!({"kind": "status", "status": 503})).await;
    fault::<P>(
        &app,
        P::READ,
        1,
        json!({"kind": "reset", "phase": "before"}),
    )
    .await;
    // Longer than the client's timeout (`Options::camoo_timeout_ms`, every provider's).
    let hold = app.options.camoo_timeout_ms + 500;
    fault::<P>(
        &app,
        P::READ,
        1,
        json!({"kind": "delay", "delay_ms": hold, "phase": "before"}),
    )
    .await;
    let id = app.enqueue(&order).await;
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(s.record.state, State::Confirmed, "{s:#?}");
    let retries = causes(&s, HistoryKind::Retry);
    assert_eq!(retries.len(), 3, "{retries:#?}");
    assert!(retries[0].contains("HTTP 503"), "{retries:#?}");
    assert!(retries[1].contains("transport error"), "{retries:#?}");
    assert!(retries[2].contains("timed out"), "{retries:#?}");
    assert!(P::reads(&app, &s.record).await >= 4);
    assert_eq!(P::creates(&app, &s.record).await, 1);
    assert_eq!(payouts(&app, &s.record).await, 1);
    app.shutdown().await;
}

/// A create refused with `Retry-After: 2`: the next attempt is recorded as due no sooner than
/// asked, a delivery before then does nothing, and the retry confirms with one payout.
async fn retry_after_is_honoured<P: Contract>() {
    let (app, driver) = start(options()).await;
    let order = P::good_order(&app, "c-ra").await;
    fault::<P>(
        &app,
        P::CREATE,
        1,
        json!({"kind": "status", "status": THROTTLED, "retry_after_secs": 2}),
    )
    .await;
    let id = app.enqueue(&order).await;
    let r = driver.handle(&job_for(id)).await.unwrap();
    assert!(
        matches!(r, StepReport::Progressed { parked: None, .. }),
        "{r:?}"
    );
    let (rec, history) = read(&driver, id).await;
    let retry = history
        .iter()
        .rev()
        .find(|e| e.kind == HistoryKind::Retry)
        .unwrap_or_else(|| panic!("no retry recorded: {history:#?}"));
    assert!(
        retry.cause.contains(&format!("HTTP {THROTTLED}")),
        "{retry:?}"
    );
    let due = rec.next_action_at.expect("a retry is due");
    // The record keeps milliseconds; the history line the full time.
    assert!(
        due - retry.at >= chrono::TimeDelta::milliseconds(1_999),
        "Retry-After: 2 not honoured: retry at {}, due {due}",
        retry.at
    );
    // A delivery before the due time (beyond the driver's 500 ms tolerance) does nothing.
    if chrono::Utc::now() + chrono::TimeDelta::milliseconds(600) < due {
        assert_eq!(
            driver.handle(&job_for(id)).await.unwrap(),
            StepReport::NotDue
        );
    }
    assert_eq!(P::creates(&app, &rec).await, 1);
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(s.record.state, State::Confirmed, "{s:#?}");
    assert_eq!(P::creates(&app, &s.record).await, 2);
    assert_eq!(payouts(&app, &s.record).await, 1);
    app.shutdown().await;
}

/// Accepted, never final: polled until the deadline, then parked `deadline_exceeded` in
/// `submitted` (nothing created again).
async fn poll_deadline_parks<P: Contract>() {
    let mut opts = options();
    opts.poll.deadline_secs = 1;
    let (app, driver) = start(opts).await;
    let order = P::never_final_order(&app, "c-dl").await.unwrap_or_else(|| {
        panic!(
            "{} has no never-final order: its poll_deadline_parks must be #[ignore]d",
            P::NAME
        )
    });
    let id = app.enqueue(&order).await;
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(
        (s.record.state, park_reason(&s.record)),
        (State::Submitted, Some(ParkReason::DeadlineExceeded)),
        "{s:#?}"
    );
    let parked = s.record.parked.as_ref().map(|p| p.detail.as_str());
    assert!(
        parked.is_some_and(|d| d.contains("no final status")),
        "{parked:?}"
    );
    assert!(s.record.polls >= 1, "it was polled: {s:#?}");
    // Parked cashouts are out of the due index: the sweeper leaves them to operators.
    let due_key = driver.store().keys().due_of(&id, s.record.order.provider);
    let due: Vec<String> = redis::cmd("ZRANGE")
        .arg(due_key)
        .arg(0)
        .arg(-1)
        .query_async(&mut driver.store().connection())
        .await
        .unwrap();
    assert!(!due.contains(&id.to_string()), "{due:?}");
    assert!(P::reads(&app, &s.record).await >= 1);
    assert_eq!(P::creates(&app, &s.record).await, 1);
    app.shutdown().await;
}

/// The same job delivered twice at once (two drivers, as two workers), again afterwards, then
/// every later step delivered to both at once: one create, one payout.
async fn duplicate_delivery_pays_once<P: Contract>() {
    let (app, d1) = start(options()).await;
    let d2 = app.driver();
    let id = app.enqueue(&P::good_order(&app, "c-dup").await).await;
    let (j1, j2) = (job_for(id), job_for(id));
    let (r1, r2) = tokio::join!(d1.handle(&j1), d2.handle(&j2));
    let reports = [r1.unwrap(), r2.unwrap()];
    // One of them sent the create; the other found the cashout busy (leased), or came after the
    // first had finished and found nothing due or did the next step (an OMNO confirm is due at
    // once): never a second create.
    assert_eq!(
        P::creates(&app, &read(&d1, id).await.0).await,
        1,
        "{reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, StepReport::Progressed { .. })),
        "{reports:?}"
    );
    assert!(
        reports.iter().all(|r| matches!(
            r,
            StepReport::Busy | StepReport::NotDue | StepReport::Progressed { parked: None, .. }
        )),
        "{reports:?}"
    );
    // A late duplicate of the first delivery never goes back to `created`.
    let late = d2.handle(&j2).await.unwrap();
    assert!(
        !matches!(
            late,
            StepReport::Progressed {
                state: State::Created,
                ..
            }
        ),
        "{late:?}"
    );
    // Every further step delivered to both at once.
    let s = drive_concurrently(&[&d1, &d2], id, LIMIT).await;
    assert_eq!(s.record.state, State::Confirmed, "{s:#?}");
    // (OMT has no further step: its first delivery paid.)
    assert!(
        s.reports.is_empty()
            || s.reports.contains(&StepReport::Busy)
            || s.reports.contains(&StepReport::NotDue),
        "the duplicates met the lease or found nothing due: {:?}",
        s.reports
    );
    assert_nothing_due(&d2, id).await;
    assert_eq!(P::creates(&app, &s.record).await, 1);
    assert_eq!(payouts(&app, &s.record).await, 1);
    app.shutdown().await;
}

/// A revoke before anything was sent: `revoked` with no provider call at all.
async fn revoke_before_submit_makes_no_call<P: Contract>() {
    let (app, driver) = start(options()).await;
    let id = app.enqueue(&P::good_order(&app, "c-rv0").await).await;
    let (s, v) = app
        .admin_post(&format!("/v1/cashouts/{id}/revoke"), Value::Null)
        .await;
    assert_eq!((s, v["state"].clone()), (200, json!("revoked")), "{v}");
    assert_nothing_due(&driver, id).await;
    let (rec, _) = read(&driver, id).await;
    assert_eq!(rec.state, State::Revoked);
    assert_eq!(P::creates(&app, &rec).await, 0);
    assert_eq!(P::reads(&app, &rec).await, 0);
    assert_eq!(P::cancels(&app, &rec).await, 0);
    assert_eq!(payouts(&app, &rec).await, 0);
    app.shutdown().await;
}

/// A revoke once the payout request was sent: where the provider can cancel, `revoked` through
/// its cancel and nothing paid; where it cannot, a clear 409 and the cashout goes on to be paid
/// once.
async fn revoke_after_submit<P: Contract>() {
    let (app, driver) = start(options()).await;
    let (id, expect) = P::submitted_for_revoke(&app, &driver, "c-rv1").await;
    let (status, v) = app
        .admin_post(&format!("/v1/cashouts/{id}/revoke"), Value::Null)
        .await;
    match expect {
        RevokeAfterSubmit::Cancels => {
            assert_eq!((status, v["state"].clone()), (200, json!("revoked")), "{v}");
            assert!(v["parked"].is_null(), "{v}");
            let (rec, history) = read(&driver, id).await;
            assert_eq!(
                cashout_tests::contract::transitions(&history).last(),
                Some(&(State::Submitted, State::Revoked))
            );
            assert_nothing_due(&driver, id).await;
            assert_eq!(P::cancels(&app, &rec).await, 1);
            assert_eq!(P::creates(&app, &rec).await, 1);
            assert_eq!(payouts(&app, &rec).await, 0);
        }
        RevokeAfterSubmit::Refused(why) => {
            assert_eq!(status, 409, "{v}");
            let message = v["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(why), "{v}");
            let s = drive_until_settled(&driver, id, LIMIT).await;
            assert_eq!(s.record.state, State::Confirmed, "{s:#?}");
            assert_eq!(P::creates(&app, &s.record).await, 1);
            assert_eq!(payouts(&app, &s.record).await, 1);
        }
    }
    app.shutdown().await;
}

/// Every create refused until the retry budget is spent: parked `retries_exhausted`, nothing
/// paid; after the outage a replay resumes it: confirmed, paid once.
async fn replay_after_retries_exhausted_pays_once<P: Contract>() {
    let mut opts = options();
    opts.retry.max_attempts = 3;
    let (app, driver) = start(opts).await;
    let order = P::good_order(&app, "c-exh").await;
    fault::<P>(
        &app,
        P::CREATE,
        100,
        json!({"kind": "status", "status": UNAVAILABLE}),
    )
    .await;
    let id = app.enqueue(&order).await;
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(
        (s.record.state, park_reason(&s.record)),
        (P::REFUSED_CREATES_STATE, Some(ParkReason::RetriesExhausted)),
        "{s:#?}"
    );
    assert!(s.record.submit_intent.is_none(), "nothing in doubt: {s:#?}");
    assert_eq!(P::creates(&app, &s.record).await, 3);
    assert_eq!(payouts(&app, &s.record).await, 0);
    app.clear_faults().await;
    assert_eq!(replay(&app, id).await, "replayed");
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(s.record.state, State::Confirmed, "{s:#?}");
    assert_eq!(s.entries(HistoryKind::Replayed).len(), 1);
    assert_eq!(P::creates(&app, &s.record).await, 4);
    assert_eq!(payouts(&app, &s.record).await, 1);
    app.shutdown().await;
}

/// The provider's read fails until the flow gives up (a polling deadline, or OMT's retry
/// budget): parked as the provider declares; a replay after the outage resumes reading and
/// never creates again: confirmed, one create, one payout.
async fn replay_after_reads_gave_up_never_resubmits<P: Contract>() {
    let mut opts = options();
    opts.poll.deadline_secs = 1;
    let (app, driver) = start(opts).await;
    let order = P::good_order(&app, "c-rdl").await;
    fault::<P>(
        &app,
        P::READ,
        1_000,
        json!({"kind": "status", "status": 503}),
    )
    .await;
    let id = app.enqueue(&order).await;
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(
        (s.record.state, park_reason(&s.record)),
        (P::READS_GIVE_UP.0, Some(P::READS_GIVE_UP.1)),
        "{s:#?}"
    );
    let creates = P::creates(&app, &s.record).await;
    let submits = s.entries(HistoryKind::Submit).len();
    app.clear_faults().await;
    assert_eq!(replay(&app, id).await, "replayed");
    let s = drive_until_settled(&driver, id, LIMIT).await;
    assert_eq!(s.record.state, State::Confirmed, "{s:#?}");
    if P::READS_GIVE_UP.0 == State::Submitted {
        // Parked after the create: the replay only read.
        assert_eq!(creates, 1);
        assert_eq!(s.entries(HistoryKind::Submit).len(), submits, "{s:#?}");
    }
    assert_eq!(P::creates(&app, &s.record).await, 1, "created once");
    assert_eq!(payouts(&app, &s.record).await, 1);
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Instantiation: every scenario for every provider.

/// `contract_suite!(module, Provider, poll_deadline: #[attrs])` generates one test per scenario
/// in `mod module`. Every scenario is listed here once, so a provider cannot miss one; the only
/// one a provider may not support (a polling deadline) takes its `#[ignore = "why"]` here.
macro_rules! contract_suite {
    ($module:ident, $provider:ty, poll_deadline: $(#[$pd:meta])*) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn happy_path() {
                super::happy_path::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn final_failure() {
                super::final_failure::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn lost_create_answer_is_parked_never_resent() {
                super::lost_create_answer_is_parked_never_resent::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn read_errors_are_retried_then_confirmed() {
                super::read_errors_are_retried_then_confirmed::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn retry_after_is_honoured() {
                super::retry_after_is_honoured::<$provider>().await;
            }

            $(#[$pd])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn poll_deadline_parks() {
                super::poll_deadline_parks::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn duplicate_delivery_pays_once() {
                super::duplicate_delivery_pays_once::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn revoke_before_submit_makes_no_call() {
                super::revoke_before_submit_makes_no_call::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn revoke_after_submit() {
                super::revoke_after_submit::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn replay_after_retries_exhausted_pays_once() {
                super::replay_after_retries_exhausted_pays_once::<$provider>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn replay_after_reads_gave_up_never_resubmits() {
                super::replay_after_reads_gave_up_never_resubmits::<$provider>().await;
            }
        }
    };
}

contract_suite!(camoo, Camoo, poll_deadline:);
contract_suite!(
    omt,
    Omt,
    poll_deadline: #[ignore = "n/a for OMT: it has no status read (PAYCTI's answer is final), so \
                               there is no polling to exceed; reads that keep failing are \
                               covered by replay_after_reads_gave_up_never_resubmits"]
);
contract_suite!(omno, Omno, poll_deadline:);
