//! The Redis Streams delivery layer end to end: entries are acknowledged and trimmed, a dead
//! consumer's entries are claimed by a live one, due cashouts are promoted in bounded chunks, a
//! large backlog is paid exactly once, and a worker killed with many deliveries in flight is
//! finished by another without a second create.

use cashout_core::{Cashout, CashoutId, CashoutOrder, Provider, State};
use cashout_store::{GROUP, QueueConfig};
use cashout_tests::{Options, TestApp, eventually, phone};
use futures::StreamExt;
use redis::Value;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The Camoo stream of partition 0 (every test here uses one partition).
fn stream(app: &TestApp) -> String {
    app.producer.store().keys().stream(Provider::Camoo, 0)
}

/// The Camoo due zset of partition 0.
fn due(app: &TestApp) -> String {
    app.producer.store().keys().due(Provider::Camoo, 0)
}

/// The parked zset of partition 0.
fn parked(app: &TestApp) -> String {
    app.producer.store().keys().parked(0)
}

async fn xlen(app: &TestApp, key: &str) -> u64 {
    let mut c = app.producer.store().connection();
    redis::cmd("XLEN")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

async fn zcard(app: &TestApp, key: &str) -> u64 {
    let mut c = app.producer.store().connection();
    redis::cmd("ZCARD")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

/// Entries read by the group and not acknowledged (summary form of `XPENDING`).
async fn xpending(app: &TestApp, key: &str) -> u64 {
    let mut c = app.producer.store().connection();
    let v: Vec<Value> = redis::cmd("XPENDING")
        .arg(key)
        .arg(GROUP)
        .query_async(&mut c)
        .await
        .unwrap();
    v.first().and_then(as_u64).expect("XPENDING count")
}

/// Entries pending for one consumer of the group.
async fn xpending_of(app: &TestApp, key: &str, consumer: &str) -> usize {
    let mut c = app.producer.store().connection();
    let v: Vec<Value> = redis::cmd("XPENDING")
        .arg(key)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(10_000)
        .arg(consumer)
        .query_async(&mut c)
        .await
        .unwrap();
    v.len()
}

/// The cashout ids carried by every entry of a stream, in stream order.
async fn stream_ids(app: &TestApp, key: &str) -> Vec<String> {
    let mut c = app.producer.store().connection();
    let v: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    v.into_iter()
        .map(|(_, fields)| {
            fields
                .into_iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v)
                .expect("an entry carries an id")
        })
        .collect()
}

/// `XGROUP CREATE … MKSTREAM`, as a worker's reader does (an existing group is fine).
async fn ensure_group(app: &TestApp, key: &str) {
    let mut c = app.producer.store().connection();
    let r: Result<(), redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut c)
        .await;
    match r {
        Ok(()) => {}
        Err(e) if e.code() == Some("BUSYGROUP") => {}
        Err(e) => panic!("XGROUP CREATE: {e}"),
    }
}

/// The records of `ids`, read with pipelined `GET`s (the JSON follows the record's header, the
/// history lines follow the JSON).
async fn records(app: &TestApp, ids: &[CashoutId]) -> Vec<Cashout> {
    let keys = app.producer.store().keys();
    let mut c = app.producer.store().connection();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1_000) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.cmd("GET").arg(keys.record(id));
        }
        let data: Vec<Option<String>> = pipe.query_async(&mut c).await.unwrap();
        for (id, d) in chunk.iter().zip(data) {
            let d = d.unwrap_or_else(|| panic!("record of {id} is missing"));
            let parts = cashout_store::RecordParts::split(d.as_bytes()).unwrap();
            out.push(serde_json::from_slice(parts.json).unwrap());
        }
    }
    out
}

/// Payouts the sandbox executed, counted by external reference (the cashout id for Camoo).
async fn payouts_by_reference(app: &TestApp) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for p in app.payouts(None).await {
        let r = p["external_reference"]
            .as_str()
            .expect("a camoo payout carries our reference")
            .to_owned();
        *counts.entry(r).or_insert(0) += 1;
    }
    counts
}

async fn enqueue_many(app: &TestApp, tag: &str, n: usize) -> Vec<CashoutId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("{tag}-{i}");
        let phone = phone(u32::try_from(i).unwrap(), 1);
        ids.push(app.enqueue(&TestApp::order(&key, &phone, 1_500)).await);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_ack_and_trim() {
    let mut app = TestApp::spawn(Options::default()).await;
    let n = 4;
    let ids = enqueue_many(&app, "trim", n).await;
    let (s, z) = (stream(&app), due(&app));

    // No worker yet: one entry per cashout, all counted as waiting.
    assert_eq!(xlen(&app, &s).await, n as u64);
    assert_eq!(stream_ids(&app, &s).await.len(), n);
    assert_eq!(
        app.producer.queue().depth(Provider::Camoo).await.unwrap(),
        n as u64
    );
    assert_eq!(
        zcard(&app, &z).await,
        n as u64,
        "each has a redelivery deadline"
    );

    app.start_worker();
    for id in &ids {
        let v = app.wait_settled(&id.to_string()).await;
        assert_eq!(v["state"], "confirmed", "{v:#}");
        assert_eq!(app.payouts(Some(&id.to_string())).await.len(), 1);
    }
    assert_eq!(app.camoo_calls().await["create"], n);

    // Every entry read is acknowledged (a late duplicate is acked once its delivery returns).
    eventually(Duration::from_secs(10), "no pending entries", || {
        let (app, s) = (&app, &s);
        async move { (xpending(app, s).await == 0).then_some(()) }
    })
    .await;
    let report = cashout_worker::sweeper::sweep_once(&app.driver())
        .await
        .unwrap();
    assert_eq!(report.promoted, 0, "nothing finished is due again");
    // Trimmed below the last delivered entry: at most that one is left.
    let left = xlen(&app, &s).await;
    assert!(left <= 1, "the stream keeps {left} entries after trimming");
    assert_eq!(xpending(&app, &s).await, 0);
    assert_eq!(
        app.producer.queue().depth(Provider::Camoo).await.unwrap(),
        0
    );
    // The finished cashouts left the due zset (and were never parked).
    let mut c = app.producer.store().connection();
    for id in &ids {
        let score: Option<f64> = redis::cmd("ZSCORE")
            .arg(&z)
            .arg(id.to_string())
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(score, None, "{id} is finished but still due");
    }
    assert_eq!(zcard(&app, &z).await, 0);
    assert_eq!(zcard(&app, &parked(&app)).await, 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_entries_are_claimed() {
    let mut opts = Options {
        // No redelivery from the due zset within the test: only a claim can recover them.
        redeliver_after_ms: 600_000,
        ..Options::default()
    };
    opts.worker.queue.claim_idle_ms = 500;
    let mut app = TestApp::spawn(opts).await;
    let n = 5;
    let ids = enqueue_many(&app, "orphan", n).await;
    let s = stream(&app);

    // A consumer reads every entry and dies without acknowledging any.
    ensure_group(&app, &s).await;
    let mut c = app.producer.store().connection();
    let read: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("dead-consumer")
        .arg("COUNT")
        .arg(n)
        .arg("STREAMS")
        .arg(&s)
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        !matches!(read, Value::Nil),
        "the dead consumer read nothing"
    );
    assert_eq!(xpending(&app, &s).await, n as u64);
    assert_eq!(xpending_of(&app, &s, "dead-consumer").await, n);
    // Read but unacknowledged entries still count as waiting.
    assert_eq!(
        app.producer.queue().depth(Provider::Camoo).await.unwrap(),
        n as u64
    );

    app.start_worker();
    for id in &ids {
        let v = app.wait_settled(&id.to_string()).await;
        assert_eq!(v["state"], "confirmed", "{v:#}");
        assert_eq!(app.payouts(Some(&id.to_string())).await.len(), 1);
    }
    assert_eq!(
        app.camoo_calls().await["create"],
        n,
        "each claimed cashout was created once"
    );
    eventually(Duration::from_secs(10), "no pending entries", || {
        let (app, s) = (&app, &s);
        async move { (xpending(app, s).await == 0).then_some(()) }
    })
    .await;
    assert_eq!(xpending_of(&app, &s, "dead-consumer").await, 0);
    app.shutdown().await;
}

/// Puts `n` made-up cashout ids into the Camoo due zset, due in the past (oldest first), and
/// returns them in score order.
async fn fill_due(app: &TestApp, n: usize) -> Vec<String> {
    let z = due(app);
    let ids: Vec<String> = (0..n).map(|_| CashoutId::generate().to_string()).collect();
    let past = chrono::Utc::now().timestamp_millis() - 60_000;
    let mut c = app.producer.store().connection();
    for (i, chunk) in ids.chunks(1_000).enumerate() {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(&z);
        for (j, id) in chunk.iter().enumerate() {
            cmd.arg(past - 30_000 + i64::try_from(i * 1_000 + j).unwrap())
                .arg(id);
        }
        let _: i64 = cmd.query_async(&mut c).await.unwrap();
    }
    assert_eq!(zcard(app, &z).await, n as u64);
    ids
}

/// Members of the due zset scored below `ms`.
async fn due_before(app: &TestApp, ms: i64) -> u64 {
    let mut c = app.producer.store().connection();
    redis::cmd("ZCOUNT")
        .arg(due(app))
        .arg("-inf")
        .arg(format!("({ms}"))
        .query_async(&mut c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_promotion_moves_a_backlog_in_bounded_chunks() {
    // 3,000 due with chunks of 100, straight through the queue.
    let mut opts = Options::default();
    opts.worker.queue.promote_chunk = 100;
    let app = TestApp::spawn(opts).await;
    let redeliver = i64::try_from(app.options.redeliver_after_ms).unwrap();
    let ids = fill_due(&app, 3_000).await;
    let s = stream(&app);
    let before = chrono::Utc::now().timestamp_millis();
    let mut calls = Vec::new();
    loop {
        let (moved, next) = app
            .producer
            .queue()
            .promote(Provider::Camoo, 0)
            .await
            .unwrap();
        assert!(moved <= 100, "one call moved {moved} (chunk 100)");
        if moved == 0 {
            // Nothing due is left; the next due time is a redelivery deadline.
            let next = next.expect("the zset still holds the promoted ids");
            assert!(next >= before + redeliver, "next due {next}");
            break;
        }
        calls.push(moved);
        assert!(calls.len() <= 30, "more calls than 3,000 / 100");
        if calls.len() == 1 {
            // Oldest first: the first chunk is the 100 lowest scores.
            assert_eq!(stream_ids(&app, &s).await, ids[..100].to_vec());
        }
    }
    assert_eq!(calls, vec![100; 30]);
    assert_eq!(xlen(&app, &s).await, 3_000);
    let on_stream: HashSet<String> = stream_ids(&app, &s).await.into_iter().collect();
    assert_eq!(on_stream, ids.iter().cloned().collect::<HashSet<_>>());
    // Each stays in the zset, scored with its redelivery deadline: nothing is due now.
    assert_eq!(zcard(&app, &due(&app)).await, 3_000);
    assert_eq!(due_before(&app, before + redeliver).await, 0);
    app.shutdown().await;

    // 10,000 due with the default chunk, through the promoter's own pass: no Lua error (the old
    // apalis-redis unpacked every due id at once and failed past ~8,000).
    let mut opts = Options::default();
    opts.worker.queue.promote_chunk = QueueConfig::default().promote_chunk;
    let chunk = opts.worker.queue.promote_chunk as u64;
    let app = TestApp::spawn(opts).await;
    let redeliver = i64::try_from(app.options.redeliver_after_ms).unwrap();
    let ids = fill_due(&app, 10_000).await;
    let s = stream(&app);
    let before = chrono::Utc::now().timestamp_millis();
    let driver = app.driver();
    let mut total = 0;
    let mut passes = 0;
    loop {
        let report = cashout_worker::sweeper::promote_once(&driver)
            .await
            .expect("promotion of a 10,000-member due zset");
        // One pass moves a bounded number of chunks per stream.
        assert!(report.promoted <= 8 * chunk, "{report:?}");
        total += report.promoted;
        passes += 1;
        if report.promoted == 0 {
            break;
        }
        assert!(passes <= 10, "promotion does not converge: {total} moved");
    }
    assert_eq!(total, 10_000);
    assert_eq!(xlen(&app, &s).await, 10_000);
    let on_stream: HashSet<String> = stream_ids(&app, &s).await.into_iter().collect();
    assert_eq!(on_stream, ids.into_iter().collect::<HashSet<_>>());
    assert_eq!(zcard(&app, &due(&app)).await, 10_000);
    assert_eq!(due_before(&app, before + redeliver).await, 0);
    app.shutdown().await;
}

/// A chunk of 4,000 ids is 8,000 values for `ZADD`: more than Lua's `unpack` takes at once (a
/// Lua error would not undo the `XADD`s already made). `promote.lua` adds deadlines in slices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promote_chunk_of_4000_promotes_without_a_lua_error() {
    let mut opts = Options::default();
    opts.worker.queue.promote_chunk = 4_000;
    let app = TestApp::spawn(opts).await;
    fill_due(&app, 10_000).await;
    let s = stream(&app);
    let first = app.producer.queue().promote(Provider::Camoo, 0).await;
    let after_first = xlen(&app, &s).await;
    let second = app.producer.queue().promote(Provider::Camoo, 0).await;
    let after_second = xlen(&app, &s).await;
    let due_now = due_before(&app, chrono::Utc::now().timestamp_millis()).await;
    app.shutdown().await;
    assert!(
        first.is_ok() && second.is_ok(),
        "promote failed: {first:?} / {second:?}; stream length {after_first} then \
         {after_second}, {due_now} ids still due"
    );
    assert_eq!(after_second, 8_000);
}

/// How many cashouts the backlog test enqueues (`CASHOUT_BACKLOG_N`, default 50,000).
fn backlog_n() -> usize {
    std::env::var("CASHOUT_BACKLOG_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_of_50k_is_paid_once() {
    let n = backlog_n();
    let mut opts = Options {
        // Generous under load: a slow create must not be taken for a lost answer.
        camoo_timeout_ms: 30_000,
        // No redelivery of a cashout waiting in the backlog: each is delivered once per step.
        redeliver_after_ms: 600_000,
        ..Options::default()
    };
    opts.worker.concurrency = 64;
    opts.worker.queue.batch_size = 64;
    opts.worker.queue.promote_chunk = 500;
    opts.worker.lease_ms = 60_000;
    opts.sandbox.camoo.settle_delay_ms = 0;
    let mut app = TestApp::spawn(opts).await;
    let (s, z, p) = (stream(&app), due(&app), parked(&app));

    let start = Instant::now();
    let producer = app.producer.clone();
    let results: Vec<CashoutId> = futures::stream::iter(0..n)
        .map(|i| {
            let producer = producer.clone();
            async move {
                let key = format!("backlog-{i}");
                let phone = phone(u32::try_from(i).unwrap(), 1);
                let order = CashoutOrder::parse(&TestApp::order(&key, &phone, 1_500)).unwrap();
                match producer.enqueue(order, None).await.unwrap() {
                    cashout_store::Enqueued::Created(c) => c.id,
                    other => panic!("expected a new cashout, got {other:?}"),
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let ids = results;
    eprintln!("backlog: enqueued {n} in {:?}", start.elapsed());
    assert_eq!(xlen(&app, &s).await, n as u64);
    assert_eq!(
        app.producer.queue().depth(Provider::Camoo).await.unwrap(),
        n as u64
    );

    let started = Instant::now();
    app.start_worker();
    let limit = Duration::from_secs(8 * 60);
    let mut last_report = Instant::now();
    loop {
        let (waiting, parked_n) = (zcard(&app, &z).await, zcard(&app, &p).await);
        if waiting == 0 {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "backlog: {waiting} not final, {parked_n} parked after {:?}",
                started.elapsed()
            );
            last_report = Instant::now();
        }
        assert!(
            started.elapsed() < limit,
            "{waiting} of {n} cashouts not final after {limit:?} ({parked_n} parked)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drained = started.elapsed();
    eprintln!("backlog: {n} final in {drained:?}");
    assert_eq!(zcard(&app, &p).await, 0, "nothing parked");

    // Every cashout confirmed, and paid exactly once.
    let recs = records(&app, &ids).await;
    let not_confirmed: Vec<_> = recs
        .iter()
        .filter(|r| r.state != State::Confirmed || r.parked.is_some())
        .map(|r| (r.id, r.state, r.parked.as_ref().map(|p| p.reason)))
        .take(10)
        .collect();
    assert!(not_confirmed.is_empty(), "not confirmed: {not_confirmed:?}");
    let paid = payouts_by_reference(&app).await;
    assert_eq!(paid.len(), n, "cashouts with a payout");
    let twice: Vec<_> = paid.iter().filter(|(_, c)| **c != 1).take(10).collect();
    assert!(twice.is_empty(), "paid more than once: {twice:?}");
    for id in &ids {
        assert_eq!(paid.get(&id.to_string()), Some(&1), "{id}");
    }
    assert_eq!(app.camoo_calls().await["create"], n, "no create sent twice");
    eventually(Duration::from_secs(20), "no pending entries", || {
        let (app, s) = (&app, &s);
        async move { (xpending(app, s).await == 0).then_some(()) }
    })
    .await;
    eprintln!("backlog: checked in {:?} overall", start.elapsed());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_with_100_in_flight_is_finished_by_another() {
    let n: usize = 100;
    // A verify is held far longer than the kill takes; the lease outlasts the call timeout.
    let mut opts = Options {
        camoo_timeout_ms: 8_000,
        ..Options::default()
    };
    opts.worker.lease_ms = 10_000;
    opts.sandbox.camoo.settle_delay_ms = 0;
    let mut app = TestApp::spawn(opts).await;
    let ids = enqueue_many(&app, "inflight", n).await;
    let s = stream(&app);
    // Each first verify is held: the create is recorded, then the status read hangs.
    app.fault(
        "verify",
        u32::try_from(n).unwrap(),
        json!({"kind": "delay", "delay_ms": 15_000, "phase": "before"}),
    )
    .await;

    let spawned = Instant::now();
    let mut a = app.spawn_worker_process_with(&[("CASHOUT_WORKER__CONCURRENCY", "128")]);
    eventually(
        Duration::from_secs(30),
        "100 verifies held by worker A",
        || async {
            let calls = app.camoo_calls().await;
            (calls["verify"].as_u64() >= Some(n as u64)).then_some(())
        },
    )
    .await;
    eprintln!(
        "in flight: {n} verifies held {:?} after A started",
        spawned.elapsed()
    );
    let calls = app.camoo_calls().await;
    assert_eq!(calls["create"], n, "{calls}");
    assert_eq!(calls["verify"], n, "{calls}");
    a.start_kill().unwrap();
    let status = a.wait().await.unwrap();
    assert!(!status.success());

    // A died with every cashout submitted (its create recorded), its verify in flight.
    let recs = records(&app, &ids).await;
    for r in &recs {
        assert_eq!(r.state, State::Submitted, "{}: {:?}", r.id, r.parked);
        assert!(r.provider_ref.is_some());
    }
    assert!(
        xpending(&app, &s).await >= n as u64,
        "A held its deliveries unacknowledged"
    );

    let killed = Instant::now();
    app.start_worker();
    let recs = eventually(Duration::from_secs(90), "all 100 final", || {
        let (app, ids) = (&app, &ids);
        async move {
            let recs = records(app, ids).await;
            recs.iter()
                .all(|r| r.state.is_terminal() || r.parked.is_some())
                .then_some(recs)
        }
    })
    .await;
    eprintln!("in flight: {n} final {:?} after the kill", killed.elapsed());
    for r in &recs {
        // Every create was answered before the kill: nothing is in doubt.
        assert_eq!(
            (r.state, r.parked.as_ref().map(|p| p.reason)),
            (State::Confirmed, None),
            "{}",
            r.id
        );
    }
    let paid = payouts_by_reference(&app).await;
    for id in &ids {
        assert_eq!(paid.get(&id.to_string()), Some(&1), "{id} paid once");
    }
    assert_eq!(paid.len(), n);
    assert_eq!(
        app.camoo_calls().await["create"],
        n,
        "no create was sent again"
    );
    eventually(Duration::from_secs(20), "no pending entries", || {
        let (app, s) = (&app, &s);
        async move { (xpending(app, s).await == 0).then_some(()) }
    })
    .await;
    app.shutdown().await;
}

/// A step longer than the lease keeps it: the lease is renewed while the call runs, so a
/// second delivery meanwhile finds the cashout busy and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_longer_than_the_lease_keeps_its_lease() {
    let mut opts = Options {
        camoo_timeout_ms: 8_000,
        ..Options::default()
    };
    opts.worker.lease_ms = 1_200;
    let app = TestApp::spawn(opts).await;
    let id = app
        .enqueue(&TestApp::order("heartbeat-1", &phone(61, 1), 1500))
        .await;
    app.fault(
        "create",
        1,
        json!({"kind": "delay", "delay_ms": 3_000, "phase": "before"}),
    )
    .await;
    let job = cashout_store::CashoutJob {
        cashout_id: id,
        trace_id: String::new(),
        traceparent: None,
        entry: None,
    };
    let (d1, d2) = (app.driver(), app.driver());
    let first = {
        let job = job.clone();
        tokio::spawn(async move { d1.handle(&job).await })
    };
    // Well past the lease's length, with the create still held.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let second = d2.handle(&job).await.unwrap();
    assert!(
        matches!(
            second,
            cashout_worker::StepReport::Busy | cashout_worker::StepReport::NotDue
        ),
        "{second:?}"
    );
    let first = first.await.unwrap().unwrap();
    assert!(
        matches!(
            first,
            cashout_worker::StepReport::Progressed {
                state: State::Submitted,
                ..
            }
        ),
        "{first:?}"
    );
    assert_eq!(app.camoo_calls().await["create"], 1);
    app.shutdown().await;
}

/// The consumers of the group on `key` (`XINFO CONSUMERS`), by name.
async fn consumers(app: &TestApp, key: &str) -> Vec<String> {
    let mut c = app.producer.store().connection();
    let v: Vec<HashMap<String, Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(key)
        .arg(GROUP)
        .query_async(&mut c)
        .await
        .unwrap();
    v.into_iter()
        .filter_map(|m| match m.get("name") {
            Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(Value::SimpleString(s)) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// SIGTERM to a worker under load (issue 12): the steps it is running finish, what it read
/// but had not started is handed back, it leaves the group with nothing pending, and a second
/// worker finishes everything without waiting for orphan recovery: both workers run with
/// claim idle time and redelivery at ten minutes, so an entry left pending under the first
/// one's name would stay stuck far past this test's bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_hands_back_and_nothing_waits_for_orphan_recovery() {
    let n: usize = 200;
    let held: u32 = 30;
    let mut opts = Options {
        camoo_timeout_ms: 8_000,
        ..Options::default()
    };
    opts.sandbox.camoo.settle_delay_ms = 0;
    let app = TestApp::spawn(opts).await;
    let ids = enqueue_many(&app, "sigterm", n).await;
    let s = stream(&app);
    // The first verifies take 2 s: worker A is inside those calls when the signal comes.
    app.fault(
        "verify",
        held,
        json!({"kind": "delay", "delay_ms": 2_000, "phase": "before"}),
    )
    .await;
    let slow_recovery = [
        ("CASHOUT_WORKER__QUEUE__CLAIM_IDLE_MS", "600000"),
        ("CASHOUT_REDIS__REDELIVER_AFTER_MS", "600000"),
        ("CASHOUT_WORKER__CONCURRENCY", "30"),
        ("CASHOUT_WORKER__QUEUE__BATCH_SIZE", "64"),
    ];
    let mut a = app.spawn_worker_process_with(&slow_recovery);
    eventually(
        Duration::from_secs(30),
        "A inside held verifies",
        || async {
            let calls = app.camoo_calls().await;
            (calls["verify"].as_u64() >= Some(u64::from(held))).then_some(())
        },
    )
    .await;
    let before = records(&app, &ids).await;
    let unfinished = before.iter().filter(|r| !r.state.is_terminal()).count();
    assert!(
        unfinished > 0,
        "A must still hold work when the signal comes"
    );
    let pid = a.id().expect("A runs");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(60), a.wait())
        .await
        .expect("A stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "a clean stop exits 0: {status}");

    // A left nothing pending and left the group.
    assert_eq!(
        xpending(&app, &s).await,
        0,
        "A handed back or acked all it read"
    );
    assert!(consumers(&app, &s).await.is_empty(), "A left the group");
    // The calls A was inside were answered and recorded: none of those cashouts is in doubt.
    let after = records(&app, &ids).await;
    assert!(
        after.iter().all(|r| r.parked.is_none()),
        "a clean stop parks nothing"
    );

    let _b = app.spawn_worker_process_with(&slow_recovery);
    let recs = eventually(Duration::from_secs(90), "all final after B starts", || {
        let (app, ids) = (&app, &ids);
        async move {
            let recs = records(app, ids).await;
            recs.iter()
                .all(|r| r.state.is_terminal() || r.parked.is_some())
                .then_some(recs)
        }
    })
    .await;
    for r in &recs {
        assert_eq!(
            (r.state, r.parked.as_ref().map(|p| p.reason)),
            (State::Confirmed, None),
            "{}",
            r.id
        );
    }
    let paid = payouts_by_reference(&app).await;
    for id in &ids {
        assert_eq!(paid.get(&id.to_string()), Some(&1), "{id} paid once");
    }
    assert_eq!(app.camoo_calls().await["create"], n, "no create sent twice");
    app.shutdown().await;
}

/// Stream entries ever added (`XINFO STREAM … entries-added`), trimming aside.
async fn entries_added(app: &TestApp, key: &str) -> u64 {
    let mut c = app.producer.store().connection();
    let v: Vec<Value> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    v.chunks(2)
        .find(|kv| matches!(&kv[0], Value::BulkString(b) if b == b"entries-added"))
        .and_then(|kv| as_u64(&kv[1]))
        .unwrap()
}

/// A Camoo cashout whose verify is due right after its create, with `continue_within_ms`.
async fn paid_with_continuation(continue_within_ms: u64) -> (u64, usize) {
    let mut opts = Options::default();
    opts.sandbox.camoo.settle_delay_ms = 0;
    opts.poll.first_delay_ms = 5;
    opts.worker.continue_within_ms = continue_within_ms;
    let mut app = TestApp::spawn(opts).await;
    let n = 3;
    let ids = enqueue_many(&app, &format!("cont{continue_within_ms}"), n).await;
    app.start_worker();
    for id in &ids {
        let v = app.wait_settled(&id.to_string()).await;
        assert_eq!(v["state"], "confirmed", "{v:#}");
        let kinds: Vec<&str> = v["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        assert!(kinds.contains(&"submit"), "{kinds:?}");
        assert_eq!(app.payouts(Some(&id.to_string())).await.len(), 1);
    }
    let s = stream(&app);
    eventually(Duration::from_secs(10), "no pending entries", || {
        let (app, s) = (&app, &s);
        async move { (xpending(app, s).await == 0).then_some(()) }
    })
    .await;
    let added = entries_added(&app, &s).await;
    let due_left = zcard(&app, &due(&app)).await;
    assert_eq!(due_left, 0, "finished cashouts left the due zset");
    app.shutdown().await;
    (added, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_due_at_once_runs_in_the_create_s_delivery() {
    // Continued: the verify needs no stream entry, ack or claim of its own.
    let (added, n) = paid_with_continuation(200).await;
    assert_eq!(added, n as u64, "one stream entry per cashout");
    // Not continued: the verify is a delivery of its own.
    let (added, n) = paid_with_continuation(0).await;
    assert_eq!(
        added,
        2 * n as u64,
        "a create's and a verify's entry per cashout"
    );
}
