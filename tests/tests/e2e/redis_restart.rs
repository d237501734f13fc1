//! Redis going away: acknowledged cashouts survive a crash and restart of a Redis with AOF,
//! workers reconnect, and a worker whose Redis stays gone exits non-zero.

use cashout_tests::{Options, PrivateRedis, TestApp, eventually, phone};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_cashouts_survive_a_redis_crash_with_aof() {
    let mut redis = PrivateRedis::start();
    let app = TestApp::spawn(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, v) = app
            .post_cashout(&TestApp::order(
                &format!("aof-{i}"),
                &phone(40 + i, 1),
                1500,
            ))
            .await;
        assert_eq!(status, 202, "{v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    // A worker is running while Redis crashes and comes back.
    let mut worker = app.spawn_worker_process();
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart();
    for id in &ids {
        let v = app.wait_settled(id).await;
        assert_eq!(v["state"], "confirmed", "{v:#}");
        assert_eq!(app.payouts(Some(id)).await.len(), 1);
    }
    // The same keys after the restart are still recognised.
    let (status, _) = app
        .post_cashout(&TestApp::order("aof-0", &phone(40, 1), 1500))
        .await;
    assert_eq!(status, 200);
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_redis_stays_gone_exits_non_zero() {
    let mut redis = PrivateRedis::start();
    let app = TestApp::spawn(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let mut worker = app.spawn_worker_process_with(&[("CASHOUT_WORKER__MAX_RESTARTS", "2")]);
    // Let it start and register, then take Redis away for good.
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.kill();
    let status = eventually(Duration::from_secs(60), "the worker to exit", || {
        let s = worker.try_wait().unwrap();
        async move { s }
    })
    .await;
    assert!(!status.success(), "{status:?}");
    assert_eq!(status.code(), Some(1));
}

/// Issue 14's scenario: five Camoo creates in flight, the provider pays and holds its answers
/// 4 s, Redis is down for 2 s meanwhile. Each delivery runs in a task of its own, so the answers
/// are recorded once Redis is back: five payouts, five confirmed, none parked in doubt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_redis_outage_loses_no_provider_answer() {
    let mut redis = PrivateRedis::start();
    let mut app = TestApp::spawn(Options {
        redis_url: Some(redis.url()),
        camoo_timeout_ms: 8_000,
        ..Options::default()
    })
    .await;
    app.fault(
        "create",
        5,
        serde_json::json!({"kind": "delay", "delay_ms": 4_000, "phase": "after"}),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, v) = app
            .post_cashout(&TestApp::order(
                &format!("outage-{i}"),
                &phone(70 + i, 1),
                1500,
            ))
            .await;
        assert_eq!(status, 202, "{v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    app.start_worker();
    eventually(Duration::from_secs(20), "five creates sent", || async {
        (app.camoo_calls().await["create"] == 5).then_some(())
    })
    .await;
    redis.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart();
    for id in &ids {
        let v = app.wait_settled(id).await;
        assert_eq!(v["state"], "confirmed", "{v:#}");
        assert_eq!(app.payouts(Some(id)).await.len(), 1);
    }
    assert_eq!(app.camoo_calls().await["create"], 5);
    app.shutdown().await;
}
