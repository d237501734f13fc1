//! Group commit against a real Redis (`CASHOUT_REDIS__URL`, else 127.0.0.1:6379), under a
//! prefix of its own: many concurrent writes, several of them on one cashout, go out in shared
//! script calls and each still behaves as its own compare-and-set.

use cashout_core::{CashoutOrder, HistoryKind};
use cashout_store::{
    Change, Enqueued, JobQueue, Modified, Producer, QueueConfig, RedisConfig, Store,
};
use redis::AsyncCommands;
use serde_json::json;

fn config() -> RedisConfig {
    RedisConfig {
        url: std::env::var("CASHOUT_REDIS__URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
        prefix: format!("batch-test-{}", uuid::Uuid::new_v4().simple()),
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

async fn cleanup(store: &Store) {
    let mut c = store.connection();
    let keys: Vec<String> = c
        .keys(format!("{}:*", store.keys().prefix()))
        .await
        .expect("redis");
    if !keys.is_empty() {
        let _: () = c.del(keys).await.expect("redis");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_writes_each_keep_their_own_compare_and_set() {
    let config = config();
    let producer = producer(&config).await;
    let store = producer.store().clone();

    // 20 cashouts, each posted 5 times at once: 100 creates in flight, duplicates side by side.
    let posts = (0..100).map(|i| {
        let producer = producer.clone();
        async move {
            producer
                .enqueue(order(&format!("k-{}", i % 20)), None)
                .await
        }
    });
    let results = futures::future::join_all(posts).await;
    let mut created = std::collections::HashSet::new();
    let mut existing = 0;
    for r in results {
        match r.expect("enqueue") {
            Enqueued::Created(c) => assert!(created.insert(c.id), "created twice: {}", c.id),
            Enqueued::Existing(_) => existing += 1,
            Enqueued::Conflict(c) => panic!("same order, no conflict: {}", c.id),
        }
    }
    assert_eq!(created.len(), 20, "one cashout per key");
    assert_eq!(existing, 80);

    // 10 concurrent writes per cashout, 200 in flight: each applies once, on top of the others.
    let ids: Vec<_> = created.iter().copied().collect();
    let writes = ids.iter().flat_map(|id| {
        (0..10).map(|n| {
            let store = store.clone();
            let id = *id;
            async move {
                store
                    .modify(&id, false, |r, now| {
                        r.attempts += 1;
                        Change::Write {
                            entries: vec![r.entry(
                                now,
                                HistoryKind::Note,
                                None,
                                None,
                                format!("write {n}"),
                            )],
                            value: (),
                        }
                    })
                    .await
            }
        })
    });
    for r in futures::future::join_all(writes).await {
        assert!(matches!(r.expect("write"), Modified::Written(..)));
    }
    for id in &ids {
        let rec = store.get(id).await.expect("redis").expect("the record");
        assert_eq!(rec.attempts, 10, "every write applied once");
        let history = store.history(&rec).await.expect("history");
        let notes: Vec<_> = history
            .iter()
            .filter(|e| e.kind == HistoryKind::Note)
            .collect();
        assert_eq!(notes.len(), 10, "every write's line kept");
        let mut causes: Vec<_> = notes.iter().map(|e| e.cause.clone()).collect();
        causes.sort();
        causes.dedup();
        assert_eq!(causes.len(), 10, "no line written twice");
    }
    cleanup(&store).await;
}
