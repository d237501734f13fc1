//! One trace from enqueue to provider call, across processes: the API and a worker export spans
//! over OTLP/HTTP to a receiver running inside this test.

use axum::body::Bytes;
use cashout_tests::{Options, TOKEN, TestApp, cashout_bin, eventually, free_port, phone};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    parent_span_id: String,
    attributes: Vec<(String, String)>,
}

fn text(attrs: &[KeyValue]) -> Vec<(String, String)> {
    attrs
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                Some(AnyValue::StringValue(s)) => s,
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(req) = ExportTraceServiceRequest::decode(body) {
                    let mut out = sink.lock().unwrap();
                    for rs in req.resource_spans {
                        let service = rs
                            .resource
                            .as_ref()
                            .map(|r| text(&r.attributes))
                            .unwrap_or_default()
                            .into_iter()
                            .find(|(k, _)| k == "service.name")
                            .map(|(_, v)| v)
                            .unwrap_or_default();
                        for ss in rs.scope_spans {
                            for s in ss.spans {
                                out.push(Span {
                                    service: service.clone(),
                                    name: s.name.clone(),
                                    trace_id: hex::encode(&s.trace_id),
                                    parent_span_id: hex::encode(&s.parent_span_id),
                                    attributes: text(&s.attributes),
                                });
                            }
                        }
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

fn process(
    app: &TestApp,
    role: &str,
    otlp: &str,
    extra: &[(&str, String)],
) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(cashout_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("CASHOUT_") || k.starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg(role)
        .envs(app.worker_env())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("RUST_LOG", "info")
        .envs(extra.iter().map(|(k, v)| (*k, v.clone())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd.spawn().expect("spawn cashout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_covers_enqueue_worker_and_provider_call() {
    let app = TestApp::spawn(Options::default()).await;
    let (otlp, spans) = receiver().await;
    let api_port = free_port();
    let mut api = process(
        &app,
        "api",
        &otlp,
        &[
            ("CASHOUT_API__LISTEN", format!("127.0.0.1:{api_port}")),
            ("CASHOUT_API__TOKENS", format!("tests:{TOKEN}")),
        ],
    );
    let mut worker = process(&app, "worker", &otlp, &[]);
    let base = format!("http://127.0.0.1:{api_port}");
    let http = app.http.clone();
    eventually(Duration::from_secs(20), "the api to answer", || {
        let (http, url) = (http.clone(), format!("{base}/healthz"));
        async move {
            http.get(url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let r = http
        .post(format!("{base}/v1/cashouts"))
        .bearer_auth(TOKEN)
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .json(&TestApp::order("traced-1", &phone(99, 1), 1_500))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["trace_id"], trace,
        "the cashout carries the caller's trace"
    );
    let id = v["id"].as_str().unwrap().to_owned();
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "confirmed");
    assert!(
        done["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["trace_id"] == trace)
    );

    let found = eventually(Duration::from_secs(20), "spans from both processes", || {
        let spans = spans.clone();
        async move {
            let s = spans.lock().unwrap().clone();
            let ours: Vec<Span> = s.into_iter().filter(|s| s.trace_id == trace).collect();
            let api = ours
                .iter()
                .any(|s| s.service == "cashout-api" && s.name == "enqueue");
            let create = ours.iter().any(|s| {
                s.service == "cashout-worker"
                    && s.name == "provider_call"
                    && s.attributes
                        .contains(&("operation".into(), "create".into()))
            });
            let verify = ours.iter().any(|s| {
                s.name == "provider_call"
                    && s.attributes
                        .contains(&("operation".into(), "verify".into()))
            });
            (api && create && verify).then_some(ours)
        }
    })
    .await;
    let enqueue = found.iter().find(|s| s.name == "enqueue").unwrap();
    assert_eq!(
        enqueue.parent_span_id, caller_span,
        "enqueue continues the caller's span"
    );
    let drives: Vec<&Span> = found.iter().filter(|s| s.name == "drive").collect();
    assert!(
        drives.len() >= 2,
        "the create and the later polls are in the trace: {drives:?}"
    );
    let create = found
        .iter()
        .find(|s| {
            s.attributes
                .contains(&("operation".into(), "create".into()))
        })
        .unwrap();
    assert!(
        create
            .attributes
            .contains(&("provider".into(), "camoo".into())),
        "{create:?}"
    );
    assert!(
        create.attributes.contains(&("outcome".into(), "ok".into())),
        "{create:?}"
    );
    let has = |s: &Span, k: &str, v: &str| s.attributes.contains(&(k.to_owned(), v.to_owned()));
    assert!(has(create, "http.method", "POST"), "{create:?}");
    assert!(has(create, "http.status_code", "201"), "{create:?}");
    assert!(
        drives.iter().all(|d| has(d, "provider", "camoo")),
        "{drives:?}"
    );
    // No span carries a phone number or a secret.
    let all = format!("{:?}", spans.lock().unwrap());
    assert!(!all.contains(&phone(99, 1)[4..]) && !all.contains("sandbox-secret"));

    api.start_kill().unwrap();
    worker.start_kill().unwrap();
    let _ = api.wait().await;
    let _ = worker.wait().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_is_emitted_by_logs_traces_or_answers() {
    let app = TestApp::spawn(Options::default()).await;
    app.omt_seed(2001, 482_913, 500, 1).await;
    let (otlp, spans) = receiver().await;
    let dir =
        std::env::temp_dir().join(format!("cashout-redact-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let api_port = free_port();
    let logged = |role: &str, extra: &[(&str, String)]| {
        let file = std::fs::File::create(dir.join(format!("{role}.log"))).unwrap();
        let mut cmd = tokio::process::Command::new(cashout_bin());
        for (k, _) in std::env::vars() {
            if k.starts_with("CASHOUT_") || k.starts_with("OTEL_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg(role)
            .envs(app.worker_env())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .env("RUST_LOG", "debug")
            .env("CASHOUT_LOG__FORMAT", "json")
            .envs(extra.iter().map(|(k, v)| (*k, v.clone())))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .kill_on_drop(true);
        cmd.spawn().expect("spawn cashout")
    };
    let mut api = logged(
        "api",
        &[
            ("CASHOUT_API__LISTEN", format!("127.0.0.1:{api_port}")),
            ("CASHOUT_API__TOKENS", format!("tests:{TOKEN}")),
        ],
    );
    let mut worker = logged("worker", &[]);
    let base = format!("http://127.0.0.1:{api_port}");
    let http = app.http.clone();
    eventually(Duration::from_secs(20), "the api to answer", || {
        let (http, url) = (http.clone(), format!("{base}/healthz"));
        async move {
            http.get(url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;

    let camoo_phone = phone(98, 1);
    let bodies = [
        TestApp::order("redact-camoo", &camoo_phone, 1_500),
        TestApp::omt_order("redact-omt", 2001, 482_913, 50_000, "USD"),
        TestApp::omno_order("redact-omno", "user-1", "auto"),
    ];
    let mut answers = String::new();
    for body in &bodies {
        let r = http
            .post(format!("{base}/v1/cashouts"))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.unwrap();
        answers.push_str(&v.to_string());
        let id = v["id"].as_str().unwrap().to_owned();
        let done = app.wait_settled(&id).await;
        assert_eq!(done["state"], "confirmed", "{done:#}");
        let r = http
            .get(format!("{base}/v1/cashouts/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        answers.push_str(&r.text().await.unwrap());
    }
    // Let the exporters flush, then stop.
    tokio::time::sleep(Duration::from_millis(800)).await;
    api.start_kill().unwrap();
    worker.start_kill().unwrap();
    let _ = api.wait().await;
    let _ = worker.wait().await;

    let logs = ["api", "worker"]
        .iter()
        .map(|r| std::fs::read_to_string(dir.join(format!("{r}.log"))).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        logs.contains("cashout accepted") && logs.contains("transition"),
        "debug logs captured"
    );
    let traces = format!("{:?}", spans.lock().unwrap());
    assert!(traces.contains("provider_call"), "spans captured");
    let o = &app.options.sandbox;
    let secrets = [
        TOKEN.to_owned(),
        o.camoo.api_key.clone(),
        o.camoo.api_secret.clone(),
        o.omt.password.clone(),
        o.omno.token.clone(),
        "482913".to_owned(),
        camoo_phone[4..].to_owned(),
        "71234567".to_owned(),
        "1234567890".to_owned(),
    ];
    for secret in &secrets {
        for (what, text) in [("logs", &logs), ("traces", &traces), ("answers", &answers)] {
            assert!(
                !text.contains(secret.as_str()),
                "{what} contain the secret {secret:?}"
            );
        }
    }
    app.shutdown().await;
}
