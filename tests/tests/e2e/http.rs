//! The HTTP server itself: slow clients are cut off, shutdown lets requests in flight finish,
//! every error answer (405 included) is JSON.

use cashout_tests::{Options, TOKEN, TestApp, phone};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (EOF or an error); `None` if it is still open
/// after `limit` (a generous bound, not a timing assertion).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| got)
}

fn addr(app: &TestApp) -> String {
    app.api_url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = TestApp::spawn(Options {
        header_read_timeout_ms: 300,
        ..Options::default()
    })
    .await;
    let partial: [&[u8]; 3] = [
        b"",
        b"GET /healthz HT",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
    ];
    for bytes in partial {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let closed = read_until_closed(&mut s, Duration::from_secs(10)).await;
        assert!(
            closed.is_some(),
            "{:?}: the connection is still open",
            String::from_utf8_lossy(bytes)
        );
    }
    // A complete request is answered, and the connection is kept alive for the next one.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish() {
    let app = TestApp::spawn(Options::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = cashout_api::AppState::new(
        app.producer.clone(),
        cashout_api::parse_tokens(&format!("tests:{TOKEN}")).unwrap(),
        None,
    );
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cashout_api::serve_with(
        listener,
        state,
        Duration::from_secs(10),
        async move {
            let _ = rx.await;
        },
    ));
    let body = TestApp::order("http-inflight", &phone(53, 1), 1_500).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/cashouts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(first.as_bytes()).await.unwrap();
    // Health answers on another connection: the server is up and reading.
    let ok = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    drop(ok);

    stop.send(()).unwrap();
    // New connections are refused once the server stops accepting…
    cashout_tests::eventually(Duration::from_secs(10), "the listener closed", || async {
        TcpStream::connect(addr).await.is_err().then_some(())
    })
    .await;
    // …but the request in flight is answered in full.
    assert!(
        !server.is_finished(),
        "serve returned with a request in flight"
    );
    s.write_all(rest.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("the connection is closed after the answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(answer.contains("http-inflight"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns once the connection is done")
        .unwrap()
        .unwrap();
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_json_405_with_allow() {
    let app = TestApp::spawn(Options::default()).await;
    let cases = [
        (reqwest::Method::GET, "/v1/cashouts", "POST"),
        (reqwest::Method::DELETE, "/v1/cashouts/some-id", "GET"),
        (reqwest::Method::GET, "/v1/cashouts/some-id/revoke", "POST"),
        (reqwest::Method::PUT, "/v1/dlq", "GET"),
        (reqwest::Method::POST, "/healthz", "GET"),
        (reqwest::Method::GET, "/v1/providers/omno/webhook", "POST"),
    ];
    for (method, path, allowed) in cases {
        let r = app
            .http
            .request(method.clone(), format!("{}{path}", app.api_url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        let allow = r
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow:?}");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(ct.starts_with("application/json"), "{method} {path}: {ct}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
        assert!(v["error"]["message"].is_string(), "{v}");
    }
    app.shutdown().await;
}
