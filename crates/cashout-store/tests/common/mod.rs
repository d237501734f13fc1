//! What the store's Redis tests share: a Redis (`CASHOUT_REDIS__URL`, else 127.0.0.1:6379), a
//! prefix of each test's own, a producer over it, a Camoo order, and the cleanup.
#![allow(dead_code)]

use cashout_core::CashoutOrder;
use cashout_store::{JobQueue, Producer, QueueConfig, RedisConfig, Store};
use redis::AsyncCommands;
use serde_json::json;

/// Settings under a fresh prefix `<tag>-<uuid>`, finished records kept `retention_days`.
pub fn config(tag: &str, retention_days: u64) -> RedisConfig {
    RedisConfig {
        url: std::env::var("CASHOUT_REDIS__URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
        prefix: format!("{tag}-{}", uuid::Uuid::new_v4().simple()),
        retention_days,
        ..RedisConfig::default()
    }
}

/// A producer (and so a store and queues) over `config`.
pub async fn producer(config: &RedisConfig) -> Producer {
    let conn = cashout_store::connect(config)
        .await
        .expect("redis: set CASHOUT_REDIS__URL or run a Redis on 127.0.0.1:6379");
    let store = Store::new(conn, config);
    let queue = JobQueue::new(&store, config, QueueConfig::default()).expect("queue");
    Producer::new(store, queue)
}

/// A valid Camoo order under idempotency key `key`.
pub fn order(key: &str) -> CashoutOrder {
    CashoutOrder::parse(&json!({
        "idempotency_key": key, "provider": "camoo", "amount": 1500, "currency": "XAF",
        "recipient": {"phone_number": "+237650000001"}
    }))
    .expect("a valid order")
}

/// Every key under the store's prefix, sorted.
pub async fn keys(store: &Store) -> Vec<String> {
    let mut c = store.connection();
    let mut keys: Vec<String> = c
        .keys(format!("{}:*", store.keys().prefix()))
        .await
        .expect("redis");
    keys.sort();
    keys
}

/// Deletes every key under the store's prefix.
pub async fn cleanup(store: &Store) {
    let keys = keys(store).await;
    if !keys.is_empty() {
        let mut c = store.connection();
        let _: () = c.del(keys).await.expect("redis");
    }
}
