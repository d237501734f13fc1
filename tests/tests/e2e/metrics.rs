//! `/metrics` on the API and on a worker, each a process of its own, move as cashouts progress.

use cashout_tests::{Options, TOKEN, TestApp, eventually, free_port, phone};
use std::time::Duration;

/// The value of the first sample whose line starts with `series` (name and labels, in order).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(http: &reqwest::Client, url: &str) -> Option<String> {
    let r = http.get(url).send().await.ok()?;
    r.status().is_success().then_some(())?;
    r.text().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_worker_metrics_move_as_cashouts_progress() {
    let mut opts = Options::default();
    let worker_port = free_port();
    opts.worker.metrics_listen = format!("127.0.0.1:{worker_port}");
    let app = TestApp::spawn(opts).await;
    let api_port = free_port();
    let mut api = app.spawn_api_process(api_port);
    let mut worker = app.spawn_worker_process();
    let api_metrics = format!("http://127.0.0.1:{api_port}/metrics");
    let worker_metrics = format!("http://127.0.0.1:{worker_port}/metrics");
    let http = app.http.clone();
    eventually(Duration::from_secs(20), "both /metrics to answer", || {
        let http = http.clone();
        let (a, w) = (api_metrics.clone(), worker_metrics.clone());
        async move { Some((scrape(&http, &a).await?, scrape(&http, &w).await?)) }
    })
    .await;

    let mut ids = Vec::new();
    for i in 0..2 {
        let r = http
            .post(format!("http://127.0.0.1:{api_port}/v1/cashouts"))
            .bearer_auth(TOKEN)
            .json(&TestApp::order(
                &format!("metrics-{i}"),
                &phone(95 + i, 1),
                1_500,
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        assert_eq!(app.wait_settled(id).await["state"], "confirmed");
    }

    let api_text = scrape(&http, &api_metrics).await.unwrap();
    assert_eq!(
        sample(&api_text, "cashout_enqueued_total{provider=\"camoo\"}"),
        Some(2.0),
        "{api_text}"
    );
    assert!(
        sample(&api_text, "cashout_dlq_size").is_some(),
        "{api_text}"
    );
    // No OMT cashout here: no attempt waits for an answer.
    assert_eq!(
        sample(&api_text, "cashout_omt_unresolved_attempts"),
        Some(0.0),
        "{api_text}"
    );

    let text = eventually(Duration::from_secs(10), "the worker's confirmations", || {
        let http = http.clone();
        let url = worker_metrics.clone();
        async move {
            let t = scrape(&http, &url).await?;
            let series = "cashout_transitions_total{provider=\"camoo\",from=\"submitted\",to=\"confirmed\"}";
            (sample(&t, series) == Some(2.0)).then_some(t)
        }
    })
    .await;
    let creates = sample(
        &text,
        "cashout_provider_call_seconds_count{provider=\"camoo\",operation=\"create\",outcome=\"ok\"}",
    );
    assert_eq!(creates, Some(2.0), "{text}");
    assert!(
        sample(
            &text,
            "cashout_provider_call_seconds_bucket{provider=\"camoo\",operation=\"verify\""
        )
        .is_some()
    );
    assert!(
        sample(&text, "cashout_queue_depth{provider=\"camoo\"}").is_some(),
        "{text}"
    );
    assert_eq!(sample(&text, "cashout_inflight_jobs"), Some(0.0), "{text}");
    // No label or value carries a phone number or a secret.
    for t in [&api_text, &text] {
        assert!(!t.contains(&phone(95, 1)[4..]) && !t.contains("sandbox-secret"));
    }
    api.start_kill().unwrap();
    worker.start_kill().unwrap();
    let _ = api.wait().await;
    let _ = worker.wait().await;
    app.shutdown().await;
}

/// The writes that finish or park a cashout count it in the minute's outcomes, once: what the
/// console's last-hour chart and failure rate read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_and_parked_cashouts_are_counted_once_for_the_console() {
    use cashout_core::{Provider, State};
    let mut app = TestApp::spawn(Options::default()).await;
    // The first create is answered 500 after nothing: parked in doubt.
    app.fault(
        "create",
        1,
        serde_json::json!({"kind": "status", "status": 500}),
    )
    .await;
    app.start_worker();
    let mut ids = Vec::new();
    for (i, last) in [(0, 1), (1, 1), (2, 1), (3, 0)] {
        let order = TestApp::order(
            &format!("outc-{i}"),
            &cashout_tests::phone(600 + i, last),
            1_000,
        );
        let (s, v) = app.post_cashout(&order).await;
        assert_eq!(s, 202, "{v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
        // One at a time, so the fault meets the first.
        app.wait_settled(&ids[ids.len() - 1]).await;
    }
    let spans = app
        .producer
        .store()
        .recent_outcomes(12, 5, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(spans.len(), 12);
    let sum =
        |f: &dyn Fn(&cashout_store::outcomes::Outcomes) -> u64| spans.iter().map(f).sum::<u64>();
    assert_eq!(sum(&|o| o.in_state(State::Confirmed)), 2, "{spans:?}");
    assert_eq!(sum(&|o| o.in_state(State::Failed)), 1, "{spans:?}");
    assert_eq!(sum(&|o| o.parked_total()), 1, "{spans:?}");
    assert_eq!(
        sum(&|o| o.parked.get(&Provider::Camoo).copied().unwrap_or(0)),
        1
    );
    // Resolving the parked one finishes it: counted as failed then, and never again.
    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{}/resolve", ids[0]),
            serde_json::json!({"as": "failed", "note": "checked: never paid"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let spans = app
        .producer
        .store()
        .recent_outcomes(12, 5, chrono::Utc::now())
        .await
        .unwrap();
    let failed: u64 = spans.iter().map(|o| o.in_state(State::Failed)).sum();
    assert_eq!(failed, 2, "{spans:?}");
    app.shutdown().await;
}
