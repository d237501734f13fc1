//! Provider call limits (`providers.<p>.limits`) hold across worker processes: the sandbox
//! counts what Camoo would have seen.

use cashout_tests::{Options, TestApp, eventually, phone};
use serde_json::Value;
use std::time::Duration;

const RATE: u64 = 20;
const BURST: u64 = 2;
const IN_FLIGHT: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_together_keep_to_the_configured_rate_and_concurrency() {
    // Slow calls, so that the rate alone would let six be out at once.
    let mut options = Options::default();
    options.sandbox.camoo.create_delay_ms = 300;
    options.sandbox.camoo.verify_delay_ms = 300;
    let app = TestApp::spawn(options).await;
    let n = 60;
    let mut ids: Vec<String> = Vec::new();
    for i in 0..n {
        let order = TestApp::order(&format!("lim-{i}"), &phone(700 + i, 1), 1_000);
        ids.push(app.enqueue(&order).await.to_string());
    }
    let (rate, burst, in_flight) = (RATE.to_string(), BURST.to_string(), IN_FLIGHT.to_string());
    let limits = [
        (
            "CASHOUT_PROVIDERS__CAMOO__LIMITS__REQUESTS_PER_SECOND",
            rate.as_str(),
        ),
        ("CASHOUT_PROVIDERS__CAMOO__LIMITS__BURST", burst.as_str()),
        (
            "CASHOUT_PROVIDERS__CAMOO__LIMITS__MAX_IN_FLIGHT",
            in_flight.as_str(),
        ),
        ("CASHOUT_WORKER__CONCURRENCY", "50"),
    ];
    let _a = app.spawn_worker_process_with(&limits);
    let _b = app.spawn_worker_process_with(&limits);
    eventually(
        Duration::from_secs(90),
        "every cashout confirmed",
        || async {
            let mut done = 0;
            for id in &ids {
                if app.get_cashout(id).await["state"] == "confirmed" {
                    done += 1;
                }
            }
            (done == ids.len()).then_some(())
        },
    )
    .await;
    for id in &ids {
        assert_eq!(app.payouts(Some(id)).await.len(), 1, "{id}");
    }

    let stats: Value = app
        .http
        .get(format!(
            "{}/_admin/requests?provider=camoo&window_ms=1000",
            app.sandbox.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    eprintln!("camoo saw {stats}");
    let count = stats["count"].as_u64().unwrap();
    assert!(count >= 2 * n as u64, "a create and a verify each: {stats}");
    // Every call holds its slot from before it is sent until its answer is read: the provider
    // can never see more in flight than the limit.
    assert!(
        stats["max_in_flight"].as_u64().unwrap() <= IN_FLIGHT,
        "{stats}"
    );
    // Admissions in any second are at most RATE + BURST (GCRA); the sandbox sees each a little
    // after its admission, so allow two for the spread. Without the limit, the 60 creates
    // arrive within a few hundred milliseconds.
    assert!(
        stats["max_in_window"].as_u64().unwrap() <= RATE + BURST + 2,
        "{stats}"
    );
    // The limits leave nothing behind once the calls are done (slots are released).
    eventually(Duration::from_secs(10), "no slot left taken", || async {
        let left = app
            .producer
            .store()
            .calls_in_flight(cashout_core::Provider::Camoo)
            .await
            .unwrap();
        (left == 0).then_some(())
    })
    .await;
}
