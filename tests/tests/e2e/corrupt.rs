//! Records that cannot be decoded (issue 13): a worker parks each one as `corrupt_record`, keeps
//! its bytes as found, and goes on delivering everything else; operators see it in the DLQ, can
//! discard it, and cannot replay or resolve it.

use cashout_core::{Cashout, CashoutId, CashoutOrder, Provider, TraceId};
use cashout_store::GROUP;
use cashout_tests::{Options, TestApp, eventually, phone};
use redis::AsyncCommands;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// A well-formed record header (see `lua/record.lua`): version 1, due `due_ms`, no lease.
fn header(due_ms: i64) -> Vec<u8> {
    format!(
        "V{:010}D{:013}L{:013}N{:05}T{}\n",
        1,
        due_ms,
        0,
        0,
        " ".repeat(40)
    )
    .into_bytes()
}

/// A real cashout's JSON, as the producer would store it.
fn cashout_json(key: &str) -> Value {
    let order = CashoutOrder::parse(&TestApp::order(key, &phone(90, 1), 1500)).unwrap();
    serde_json::to_value(Cashout::new(order, TraceId::generate(), chrono::Utc::now())).unwrap()
}

fn nested(depth: usize) -> Value {
    let mut v = json!({});
    for _ in 1..depth {
        v = json!({ "k": v });
    }
    v
}

/// The phone number planted in one corrupt record: it must not come back in any answer.
const PLANTED: &str = "+237699887766";

/// Undecodable records: bad JSON, no header, a malformed header, too deep for serde_json, a
/// field of the wrong type (quoting a phone number), not UTF-8.
fn corrupt_bodies(now_ms: i64) -> Vec<Vec<u8>> {
    let mut too_deep = cashout_json("corrupt-deep");
    too_deep["order"]["metadata"] = nested(130);
    let mut wrong_type = cashout_json("corrupt-type");
    wrong_type["attempts"] = json!(PLANTED);
    let mut bad_header = header(now_ms);
    bad_header[20] = b'x';
    bad_header.extend_from_slice(cashout_json("corrupt-header").to_string().as_bytes());
    let with_header = |body: &[u8]| [header(now_ms), body.to_vec()].concat();
    vec![
        with_header(b"{\"id\": \"not json"),
        cashout_json("corrupt-noheader").to_string().into_bytes(),
        bad_header,
        with_header(too_deep.to_string().as_bytes()),
        with_header(wrong_type.to_string().as_bytes()),
        with_header(&[0xff, 0xfe, b'{', 0x80]),
    ]
}

async fn raw(app: &TestApp, key: &str) -> Option<Vec<u8>> {
    let mut c = app.producer.store().connection();
    c.get(key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_records_are_parked_as_found_and_delivery_goes_on() {
    let mut app = TestApp::spawn(Options::default()).await;
    let store = app.producer.store().clone();
    let keys = store.keys().clone();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut conn = store.connection();

    // Corrupt records first, each with its due entry and a stream entry, as a create writes.
    let mut corrupt: Vec<(CashoutId, Vec<u8>)> = Vec::new();
    for (i, body) in corrupt_bodies(now_ms).into_iter().enumerate() {
        let id = CashoutId::generate();
        let _: () = conn.set(keys.record(&id), &body).await.unwrap();
        let _: () = conn
            .zadd(keys.due_of(&id, Provider::Camoo), id.to_string(), now_ms)
            .await
            .unwrap();
        // Half of them only in the due zset: the promoter hands those out.
        if i % 2 == 0 {
            let _: String = redis::cmd("XADD")
                .arg(keys.stream_of(&id, Provider::Camoo))
                .arg("*")
                .arg("id")
                .arg(id.to_string())
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        corrupt.push((id, body));
    }
    // Normal cashouts after them.
    let mut normal = Vec::new();
    for i in 0..5 {
        let id = app
            .enqueue(&TestApp::order(
                &format!("after-corrupt-{i}"),
                &phone(91 + i, 1),
                1500,
            ))
            .await;
        normal.push(id.to_string());
    }

    app.start_worker();
    for id in &normal {
        let v = app.wait_settled(id).await;
        assert_eq!(v["state"], "confirmed", "{v:#}");
    }

    // Every corrupt record is listed as corrupt_record.
    let want: HashSet<String> = corrupt.iter().map(|(id, _)| id.to_string()).collect();
    let items = eventually(
        Duration::from_secs(30),
        "corrupt records in the DLQ",
        || {
            let app = &app;
            let want = &want;
            async move {
                let (s, page) = app.admin_get("/v1/dlq?reason=corrupt_record").await;
                assert_eq!(s, 200, "{page}");
                let items = page["items"].as_array().cloned().unwrap_or_default();
                let got: HashSet<String> = items
                    .iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_owned))
                    .collect();
                (got == *want).then_some(items)
            }
        },
    )
    .await;
    for item in &items {
        assert_eq!(item["reason"], "corrupt_record", "{item}");
        assert_eq!(item["provider"], "camoo", "{item}");
        assert!(item["state"].is_null(), "{item}");
        assert!(
            !item["last_error"].as_str().unwrap_or("").is_empty(),
            "{item}"
        );
    }
    let (_, all) = app.admin_get("/v1/dlq").await;
    assert!(!all.to_string().contains(&PLANTED[4..]), "{all}");

    // Nothing pending, nothing due, the bytes as found.
    let stream = keys.stream(Provider::Camoo, 0);
    eventually(Duration::from_secs(30), "every entry acknowledged", || {
        let mut c = store.connection();
        let stream = stream.clone();
        async move {
            let v: Vec<redis::Value> = redis::cmd("XPENDING")
                .arg(&stream)
                .arg(GROUP)
                .query_async(&mut c)
                .await
                .unwrap();
            (v.first() == Some(&redis::Value::Int(0))).then_some(())
        }
    })
    .await;
    for (id, body) in &corrupt {
        assert_eq!(
            raw(&app, &keys.record(id)).await.as_ref(),
            Some(body),
            "{id}"
        );
        for due in keys.dues_of(id) {
            let score: Option<f64> = conn.zscore(&due, id.to_string()).await.unwrap();
            assert!(score.is_none(), "{id} still in {due}");
        }
    }

    // Each reads as a clear error, shows in the DLQ, refuses replay and resolve.
    let (id, body) = &corrupt[4];
    let r = app
        .http
        .get(format!("{}/v1/cashouts/{id}", app.api_url))
        .bearer_auth(cashout_tests::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "corrupt_record", "{v}");
    let (s, shown) = app.admin_get(&format!("/v1/dlq/{id}")).await;
    assert_eq!(s, 200, "{shown}");
    assert_eq!(shown["reason"], "corrupt_record", "{shown}");
    assert_eq!(shown["record_key"], keys.record(id), "{shown}");
    assert!(
        shown["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|e| e["kind"] == "parked")),
        "{shown}"
    );
    assert!(!shown.to_string().contains(&PLANTED[4..]), "{shown}");
    let (s, v) = app
        .admin_post(&format!("/v1/dlq/{id}/replay"), json!({"note": "try"}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (409, json!("corrupt_record")),
        "{v}"
    );
    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{id}/resolve"),
            json!({"as": "failed", "note": "checked"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (409, json!("corrupt_record")),
        "{v}"
    );
    let (_, bulk) = app
        .admin_post("/v1/dlq/replay", json!({"reason": "corrupt_record"}))
        .await;
    assert_eq!(bulk["replayed"], 0, "{bulk}");

    // Discard takes it out of the DLQ, keeps the bytes, and lets them expire.
    let (s, v) = app
        .admin_post(&format!("/v1/dlq/{id}/discard"), json!({"note": ""}))
        .await;
    assert_eq!(s, 422, "a note is required: {v}");
    let (s, v) = app
        .admin_post(
            &format!("/v1/dlq/{id}/discard"),
            json!({"note": "inspected, a test record"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["discarded_by"].as_str().unwrap().contains("inspected"),
        "{v}"
    );
    let (s, _) = app.admin_get(&format!("/v1/dlq/{id}")).await;
    assert_eq!(s, 404);
    let (_, page) = app.admin_get("/v1/dlq?reason=corrupt_record").await;
    assert_eq!(
        page["items"].as_array().map(Vec::len),
        Some(corrupt.len() - 1)
    );
    assert_eq!(raw(&app, &keys.record(id)).await.as_ref(), Some(body));
    let ttl: i64 = conn.pttl(keys.record(id)).await.unwrap();
    assert!(ttl > 0, "the discarded record expires: {ttl}");
    let (s, _) = app
        .admin_post(&format!("/v1/dlq/{id}/discard"), json!({"note": "again"}))
        .await;
    assert_eq!(s, 409);
    app.shutdown().await;
}
