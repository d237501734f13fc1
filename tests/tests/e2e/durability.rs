//! Nothing is lost and nothing is paid twice: killed workers, lost jobs, duplicate deliveries,
//! crash loops.

use cashout_core::{CashoutId, ParkReason, Provider, State};
use cashout_store::CashoutJob;
use cashout_tests::{Options, TestApp, causes, eventually, phone};
use cashout_worker::StepReport;
use chrono::Utc;
use std::time::Duration;

fn job(app: &TestApp, id: CashoutId) -> CashoutJob {
    let _ = app;
    CashoutJob {
        cashout_id: id,
        trace_id: "0af7651916cd43dd8448eb211c80319c".to_owned(),
        traceparent: None,
        entry: None,
    }
}

/// Options where a worker can be killed inside the Camoo create: the sandbox records the payout,
/// then holds the answer for 3 s.
fn slow_create(notifications: bool) -> Options {
    let mut opts = Options {
        notifications,
        ..Options::default()
    };
    opts.sandbox.camoo.create_delay_ms = 3_000;
    opts.sandbox.camoo.settle_delay_ms = 500;
    opts.camoo_timeout_ms = 5_000;
    opts.worker.lease_ms = 8_000;
    opts
}

async fn kill_worker_inside_create(app: &TestApp, key: &str) -> String {
    let mut a = app.spawn_worker_process();
    let (status, created) = app
        .post_cashout(&TestApp::order(key, &phone(30, 1), 1500))
        .await;
    assert_eq!(status, 202);
    let id = created["id"].as_str().unwrap().to_owned();
    // The sandbox has executed the payout; worker A is waiting for the answer.
    eventually(
        Duration::from_secs(20),
        "the payout to be executed",
        || async { (app.payouts(Some(&id)).await.len() == 1).then_some(()) },
    )
    .await;
    a.start_kill().unwrap();
    let status = a.wait().await.unwrap();
    assert!(!status.success());
    let v = app.get_cashout(&id).await;
    assert_eq!(
        v["state"], "created",
        "A died before recording the answer: {v:#}"
    );
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_inside_create_is_finished_by_another_with_one_payout() {
    let app = TestApp::spawn(slow_create(true)).await;
    let id = kill_worker_inside_create(&app, "kill-1").await;
    let mut b = app.spawn_worker_process();
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(40), |v| v["state"] == "confirmed")
        .await;
    let causes = causes(&v);
    assert!(
        causes.iter().any(|c| c.starts_with("reconciled")),
        "{causes:?}"
    );
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    assert_eq!(
        app.camoo_calls().await["create"],
        1,
        "the create was never sent again"
    );
    b.start_kill().unwrap();
    let _ = b.wait().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_doubt_create_without_notifications_is_parked_never_resent() {
    let app = TestApp::spawn(slow_create(false)).await;
    let id = kill_worker_inside_create(&app, "kill-2").await;
    let mut b = app.spawn_worker_process();
    let v = app
        .wait_for_cashout(&id, Duration::from_secs(40), |v| !v["parked"].is_null())
        .await;
    assert_eq!(v["state"], "created");
    assert_eq!(v["parked"]["reason"], "outcome_unknown");
    // Give the sweeper and B a few more rounds: still one create.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.payouts(Some(&id)).await.len(), 1);
    assert_eq!(app.camoo_calls().await["create"], 1);
    b.start_kill().unwrap();
    let _ = b.wait().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_job_is_finished_by_the_sweeper() {
    let mut app = TestApp::spawn(Options::default()).await;
    let id = app
        .enqueue(&TestApp::order("lost-1", &phone(31, 1), 1500))
        .await;
    // Lose the job: delete everything apalis holds for the queue.
    let queue_keys: Vec<String> = app
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":queue:"))
        .collect();
    assert!(!queue_keys.is_empty(), "the producer enqueued a job");
    let mut c = app.producer.store().connection();
    let _: i64 = redis::cmd("DEL")
        .arg(&queue_keys)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        app.producer.queue().depth(Provider::Camoo).await.unwrap(),
        0
    );

    app.start_worker();
    let v = app.wait_settled(&id.to_string()).await;
    assert_eq!(v["state"], "confirmed", "{v:#}");
    assert_eq!(app.payouts(Some(&id.to_string())).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_job_pushed_twice_pays_once() {
    let mut app = TestApp::spawn(Options::default()).await;
    let id = app
        .enqueue(&TestApp::order("twice-1", &phone(32, 1), 1500))
        .await;
    app.producer
        .queue()
        .push(Provider::Camoo, job(&app, id), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        app.producer.queue().depth(Provider::Camoo).await.unwrap(),
        2
    );
    app.start_worker();
    let v = app.wait_settled(&id.to_string()).await;
    assert_eq!(v["state"], "confirmed");
    assert_eq!(app.payouts(Some(&id.to_string())).await.len(), 1);
    assert_eq!(app.camoo_calls().await["create"], 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_of_one_cashout_make_one_call() {
    let app = TestApp::spawn(Options::default()).await;
    let id = app
        .enqueue(&TestApp::order("race-1", &phone(33, 1), 1500))
        .await;
    let (d1, d2) = (app.driver(), app.driver());
    let (j1, j2) = (job(&app, id), job(&app, id));
    let (r1, r2) = tokio::join!(d1.handle(&j1), d2.handle(&j2));
    let reports = [r1.unwrap(), r2.unwrap()];
    let progressed = reports
        .iter()
        .filter(|r| {
            matches!(
                r,
                StepReport::Progressed {
                    state: State::Submitted,
                    ..
                }
            )
        })
        .count();
    assert_eq!(progressed, 1, "{reports:?}");
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, StepReport::Busy | StepReport::NotDue)),
        "{reports:?}"
    );
    assert_eq!(app.camoo_calls().await["create"], 1);
    // A late duplicate of the same job never creates again (at most it reads the status).
    let late = d1.handle(&j1).await.unwrap();
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
    assert_eq!(app.camoo_calls().await["create"], 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_cashout_is_parked_as_poison() {
    let app = TestApp::spawn(Options::default()).await;
    let id = app
        .enqueue(&TestApp::order("poison-1", &phone(34, 1), 1500))
        .await;
    // Five deliveries that never completed a step (each killed its worker).
    let mut c = app.producer.store().connection();
    // The delivery count sits at offset 40 of the record's header (see `lua/record.lua`).
    let _: i64 = redis::cmd("SETRANGE")
        .arg(app.producer.store().keys().record(&id))
        .arg(40)
        .arg("00005")
        .query_async(&mut c)
        .await
        .unwrap();
    let report = app.driver().handle(&job(&app, id)).await.unwrap();
    assert_eq!(
        report,
        StepReport::Progressed {
            state: State::Created,
            parked: Some(ParkReason::Poison)
        }
    );
    assert_eq!(app.camoo_calls().await["create"], 0);
    app.shutdown().await;
}

/// The share of cashouts that wait for a person when create answers are lost: every lost answer
/// is in doubt and never resent; without Camoo notifications each one is parked
/// `outcome_unknown` (the share equals the share of lost answers), with them each one is
/// reconciled by the signed notification and a verify. Figures in docs/dlq.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_answers_wait_for_a_person_only_without_notifications() {
    const N: u32 = 40;
    const LOST: u32 = 4;
    for notifications in [false, true] {
        let mut app = TestApp::spawn(Options {
            notifications,
            ..Options::default()
        })
        .await;
        // The first LOST creates are executed and their answers dropped.
        app.fault(
            "create",
            LOST,
            serde_json::json!({"kind": "reset", "phase": "after"}),
        )
        .await;
        app.start_worker();
        let mut ids = Vec::new();
        for i in 0..N {
            let key = format!("lost-share-{notifications}-{i}");
            let (s, v) = app
                .post_cashout(&TestApp::order(&key, &phone(70 + i, 1), 1_500))
                .await;
            assert_eq!(s, 202);
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
        let mut parked = 0;
        let mut confirmed = 0;
        for id in &ids {
            // With notifications, a parked cashout is only parked until its notification.
            let v = app
                .wait_for_cashout(id, Duration::from_secs(30), |v| {
                    v["state"] == "confirmed" || (!notifications && !v["parked"].is_null())
                })
                .await;
            if v["parked"]["reason"] == "outcome_unknown" {
                parked += 1;
            } else if v["state"] == "confirmed" {
                confirmed += 1;
            }
        }
        let expect_parked = if notifications { 0 } else { LOST };
        assert_eq!(
            (parked, confirmed),
            (expect_parked, N - expect_parked),
            "notifications: {notifications}"
        );
        // Every lost answer was a payout: never a second one.
        assert_eq!(app.payouts(None).await.len(), N as usize);
        assert_eq!(app.camoo_calls().await["create"], N);
        app.shutdown().await;
    }
}
