//! The record layout against a real Redis (`CASHOUT_REDIS__URL`, else 127.0.0.1:6379), each test
//! under a prefix of its own: one key per cashout, history lines inside the record, retention in
//! the record's own `SET`.

mod common;

use cashout_core::{Event, IdempotencyKey, ProducerName, State};
use cashout_store::{Change, Enqueued, Modified, RecordParts, Store, WriteMode};
use redis::AsyncCommands;
use std::time::Duration;

use common::{cleanup, keys, order, producer};

/// Applies `event` through the transition table and writes it, as `mode` says.
async fn apply(
    store: &Store,
    id: &cashout_core::CashoutId,
    event: Event,
    cause: &str,
    mode: WriteMode,
) {
    let m = store
        .modify_with(id, mode, |r, now| Change::Write {
            entries: r
                .apply(event, cause, now)
                .expect("legal")
                .into_iter()
                .collect(),
            value: (),
        })
        .await
        .expect("write");
    assert!(matches!(m, Modified::Written(..)), "{m:?}");
}

async fn raw(store: &Store, key: &str) -> Vec<u8> {
    let mut c = store.connection();
    let v: Option<Vec<u8>> = c.get(key).await.expect("redis");
    v.expect("the record")
}

#[tokio::test]
async fn the_history_lives_in_the_record_and_retention_rides_on_its_set() {
    let config = common::config("layout-test", 1);
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
        !keys(&store)
            .await
            .iter()
            .any(|k| k.contains(":history:") || k.contains(":idem:")),
        "no history list, no idempotency key"
    );
    let mut conn = store.connection();
    let ttl: i64 = conn.pttl(&record).await.expect("redis");
    assert_eq!(ttl, -1, "a live cashout does not expire");

    // Two writes, the second final: lines appended, the first kept, the TTL set by the SET.
    for (event, cause) in [
        (Event::ProviderAccepted, "sent"),
        (Event::ProviderConfirmed, "paid"),
    ] {
        let mode = WriteMode {
            completes_step: true,
            push: false,
        };
        apply(&store, &c.id, event, cause, mode).await;
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
    let config = common::config("layout-test", 0);
    let producer = producer(&config).await;
    let store = producer.store().clone();
    let Enqueued::Created(c) = producer.enqueue(order("k-2"), None).await.expect("enqueue") else {
        panic!("a new cashout");
    };
    let mode = WriteMode {
        completes_step: false,
        push: true,
    };
    apply(&store, &c.id, Event::ProviderRefused, "refused", mode).await;
    let mut conn = store.connection();
    let ttl: i64 = conn.pttl(store.keys().record(&c.id)).await.expect("redis");
    assert_eq!(ttl, -1);
    cleanup(&store).await;
}

#[tokio::test]
async fn the_key_derives_the_id_and_a_duplicate_answers_the_stored_record() {
    let config = common::config("layout-test", 1);
    let producer = producer(&config).await;
    let store = producer.store().clone();
    let alpha = ProducerName::parse("alpha").expect("name");
    let beta = ProducerName::parse("beta").expect("name");
    let key = IdempotencyKey::parse("k-3").expect("key");
    let Enqueued::Created(c) = producer
        .enqueue_as(&alpha, order("k-3"), None, None)
        .await
        .expect("enqueue")
    else {
        panic!("a new cashout");
    };
    assert_eq!(c.id, store.keys().cashout_id(&alpha, &key));
    assert_eq!(
        store.find_by_key(&alpha, &key).await.expect("find"),
        Some(c.id)
    );
    assert_eq!(store.find_by_key(&beta, &key).await.expect("find"), None);

    // The same order again: the stored cashout, as stored (not the one just built).
    let again = producer
        .enqueue_as(&alpha, order("k-3"), None, None)
        .await
        .expect("enqueue");
    let Enqueued::Existing(e) = again else {
        panic!("{again:?}");
    };
    // Times are stored in milliseconds.
    assert_eq!(
        (e.id, e.trace_id, e.created_at.timestamp_millis()),
        (c.id, c.trace_id, c.created_at.timestamp_millis())
    );
    // Another order under the key: a conflict naming the stored cashout.
    let mut other = order("k-3");
    other.amount = cashout_core::Amount::from_minor(1501).expect("positive");
    let conflict = producer
        .enqueue_as(&alpha, other, None, None)
        .await
        .expect("enqueue");
    assert!(
        matches!(conflict, Enqueued::Conflict(ref e) if e.id == c.id),
        "{conflict:?}"
    );
    // Another producer's same key: its own cashout.
    let Enqueued::Created(b) = producer
        .enqueue_as(&beta, order("k-3"), None, None)
        .await
        .expect("enqueue")
    else {
        panic!("a new cashout for another producer");
    };
    assert_ne!(b.id, c.id);
    assert_eq!(
        store.find_by_key(&beta, &key).await.expect("find"),
        Some(b.id)
    );
    let records = keys(&store)
        .await
        .into_iter()
        .filter(|k| k.contains(":cashout:"))
        .count();
    assert_eq!(records, 2);

    // A record under the key's id that is not the key's (a collision, or a planted record):
    // never answered as the key's cashout.
    let mut planted = store.get(&c.id).await.expect("get").expect("stored");
    let mut conn = store.connection();
    let gamma = ProducerName::parse("gamma").expect("name");
    let gid = store.keys().cashout_id(&gamma, &key);
    planted.id = gid;
    let stored = raw(&store, &store.keys().record(&c.id)).await;
    let parts = RecordParts::split(&stored).expect("a header");
    let mut value = parts.header.to_vec();
    value.extend(serde_json::to_vec(&planted).expect("json"));
    let _: () = conn
        .set(store.keys().record(&gid), value)
        .await
        .expect("redis");
    assert_eq!(store.find_by_key(&gamma, &key).await.expect("find"), None);
    let refused = producer.enqueue_as(&gamma, order("k-3"), None, None).await;
    assert!(
        matches!(refused, Err(cashout_store::StoreError::Corrupt { .. })),
        "{refused:?}"
    );
    cleanup(&store).await;
}
