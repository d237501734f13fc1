//! The record layout against a real Redis (`CASHOUT_REDIS__URL`, else 127.0.0.1:6379), each test
//! under a prefix of its own: one key per cashout, history lines inside the record, retention in
//! the record's own `SET`.

use cashout_core::{CashoutOrder, Event, State};
use cashout_store::{
    Change, Enqueued, JobQueue, Modified, Producer, QueueConfig, RecordParts, RedisConfig, Store,
    WriteMode,
};
use redis::AsyncCommands;
use serde_json::json;
use std::time::Duration;

fn config(retention_days: u64) -> RedisConfig {
    RedisConfig {
        url: std::env::var("CASHOUT_REDIS__URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
        prefix: format!("layout-test-{}", uuid::Uuid::new_v4().simple()),
        retention_days,
        ..RedisConfig::default()
    }
}

async fn producer(config: &RedisConfig) -> Producer {
    let conn = cashout_store::connect(config)
        .await
        .expect("redis: set CASHOUT_REDIS__URL or run a Redis on 127.0.0.1:6379");
    let store = Store::new(conn, config);
    let queue = JobQueue::new(&store, config, QueueConfig::default()).expect("queue");
    Producer::new(store, queue)
}

fn order(key: &str) -> CashoutOrder {
    CashoutOrder::parse(&json!({
        "idempotency_key": key, "provider": "camoo", "amount": 1500, "currency": "XAF",
        "recipient": {"phone_number": "+237650000001"}
    }))
    .expect("a valid order")
}

async fn keys(store: &Store) -> Vec<String> {
    let mut c = store.connection();
    let mut keys: Vec<String> = c
        .keys(format!("{}:*", store.keys().prefix()))
        .await
        .expect("redis");
    keys.sort();
    keys
}

async fn cleanup(store: &Store) {
    let keys = keys(store).await;
    if !keys.is_empty() {
        let mut c = store.connection();
        let _: () = c.del(keys).await.expect("redis");
    }
}

async fn raw(store: &Store, key: &str) -> Vec<u8> {
    let mut c = store.connection();
    let v: Option<Vec<u8>> = c.get(key).await.expect("redis");
    v.expect("the record")
}

#[tokio::test]
async fn the_history_lives_in_the_record_and_retention_rides_on_its_set() {
    let config = config(1);
    let producer = producer(&config).await;
    let store = producer.store().clone();
    let Enqueued::Created(c) = producer.enqueue(order("k-1"), None).await.expect("enqueue") else {
        panic!("a new cashout");
    };
    let record = store.keys().record(&c.id);
    let stored = raw(&store, &record).await;
    let parts = RecordParts::split(&stored).expect("a header");
    assert_eq!(parts.lines().count(), 1, "the first line is in the record");
    assert!(
        !keys(&store).await.iter().any(|k| k.contains(":history:")),
        "no history list"
    );
    let mut conn = store.connection();
    let ttl: i64 = conn.pttl(&record).await.expect("redis");
    assert_eq!(ttl, -1, "a live cashout does not expire");

    // Two writes, the second final: lines appended, the first kept, the TTL set by the SET.
    for (event, cause) in [
        (Event::ProviderAccepted, "sent"),
        (Event::ProviderConfirmed, "paid"),
    ] {
        let m = store
            .modify_with(
                &c.id,
                WriteMode {
                    completes_step: true,
                    push: false,
                },
                |r, now| Change::Write {
                    entries: r
                        .apply(event, cause, now)
                        .expect("legal")
                        .into_iter()
                        .collect(),
                    value: (),
                },
            )
            .await
            .expect("write");
        assert!(matches!(m, Modified::Written(..)), "{m:?}");
    }
    let stored = raw(&store, &record).await;
    let parts = RecordParts::split(&stored).expect("a header");
    assert_eq!(parts.lines().count(), 3);
    let got = store.get(&c.id).await.expect("get").expect("stored");
    assert_eq!(got.state, State::Confirmed);
    let history = store.history(&got).await.expect("history");
    let causes: Vec<&str> = history.iter().map(|e| e.cause.as_str()).collect();
    assert_eq!(causes, ["accepted", "sent", "paid"]);
    assert!(
        history
            .iter()
            .all(|e| e.trace_id == got.trace_id.to_string())
    );
    let ttl: i64 = conn.pttl(&record).await.expect("redis");
    assert!(ttl > 86_000_000 && ttl <= 86_400_000, "{ttl}");

    // A claim hands out the JSON only.
    let claim = store
        .try_lease(&c.id, "op", Duration::from_secs(5))
        .await
        .expect("claim");
    match claim {
        cashout_store::Claim::Claimed(r, _) => assert_eq!(r.id, c.id),
        other => panic!("{other:?}"),
    }

    // The same key again: the same cashout, nothing written.
    let again = producer.enqueue(order("k-1"), None).await.expect("enqueue");
    assert!(
        matches!(again, Enqueued::Existing(ref e) if e.id == c.id),
        "{again:?}"
    );
    cleanup(&store).await;
}

#[tokio::test]
async fn a_record_without_retention_keeps_no_ttl_when_final() {
    let config = config(0);
    let producer = producer(&config).await;
    let store = producer.store().clone();
    let Enqueued::Created(c) = producer.enqueue(order("k-2"), None).await.expect("enqueue") else {
        panic!("a new cashout");
    };
    let m = store
        .modify(&c.id, false, |r, now| Change::Write {
            entries: r
                .apply(Event::ProviderRefused, "refused", now)
                .expect("legal")
                .into_iter()
                .collect(),
            value: (),
        })
        .await
        .expect("write");
    assert!(matches!(m, Modified::Written(..)), "{m:?}");
    let mut conn = store.connection();
    let ttl: i64 = conn.pttl(store.keys().record(&c.id)).await.expect("redis");
    assert_eq!(ttl, -1);
    cleanup(&store).await;
}
