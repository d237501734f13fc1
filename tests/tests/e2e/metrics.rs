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
