//! A first delivery reads its record without the claim script (`Store::peek`) and takes the
//! lease with its first mid-step write; somebody else's lease taken in between stops it. Against
//! a real Redis (`CASHOUT_REDIS__URL`, else 127.0.0.1:6379), under a prefix of its own.

mod common;

use cashout_core::{HistoryKind, Provider};
use cashout_store::delivery::{self, Entry};
use cashout_store::{
    Change, Claim, Enqueued, Modified, Peek, Producer, Store, StoreError, WriteMode,
};
use common::{cleanup, order, producer};
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(10);
const EARLY: Duration = Duration::from_millis(500);

async fn enqueue(producer: &Producer, key: &str) -> cashout_core::Cashout {
    match producer.enqueue(order(key), None).await.expect("enqueue") {
        Enqueued::Created(c) => c,
        other => panic!("a new cashout: {other:?}"),
    }
}

fn entry(store: &Store, c: &cashout_core::Cashout) -> Entry {
    Entry {
        stream: store.keys().stream_of(&c.id, Provider::Camoo),
        id: "0-1".to_owned(),
        provider: Provider::Camoo,
        redelivered: false,
    }
}

/// A mid-step write (an intent: it does not complete the step) in the current delivery.
async fn intent(store: &Store, id: &cashout_core::CashoutId) -> Result<(), StoreError> {
    let mode = WriteMode {
        completes_step: false,
        push: false,
    };
    match store
        .modify_with(id, mode, |r, now| {
            r.attempts += 1;
            Change::Write {
                entries: vec![r.entry(now, HistoryKind::Note, None, None, "intent".to_owned())],
                value: (),
            }
        })
        .await?
    {
        Modified::Written(..) => Ok(()),
        other => panic!("written: {other:?}"),
    }
}

#[tokio::test]
async fn a_first_delivery_reads_without_a_lease_and_its_intent_takes_it() {
    let config = common::config("peek-test", 0);
    let producer = producer(&config).await;
    let store = producer.store().clone();
    let c = enqueue(&producer, "k-take").await;
    let e = entry(&store, &c);
    let (res, _) = delivery::scope(Some(e), async {
        let Peek::Ready(rec) = store
            .peek(&c.id, Provider::Camoo, "worker-a", LEASE, EARLY)
            .await?
        else {
            panic!("a new cashout is ready");
        };
        assert_eq!(rec.id, c.id);
        assert!(!delivery::holds_lease(), "read without a lease");
        intent(&store, &c.id).await?;
        assert!(delivery::holds_lease(), "the intent took the lease");
        Ok::<_, StoreError>(())
    })
    .await;
    res.expect("peek and intent");
    // The lease is ours: an operator cannot take it now.
    match store
        .try_lease(&c.id, "operator", LEASE)
        .await
        .expect("redis")
    {
        Claim::Busy => {}
        other => panic!("the worker holds the lease: {other:?}"),
    }
    // And a second first delivery finds it not ready: the claim script's path.
    let (peek, _) = delivery::scope(Some(entry(&store, &c)), async {
        store
            .peek(&c.id, Provider::Camoo, "worker-b", LEASE, EARLY)
            .await
    })
    .await;
    assert!(matches!(peek.expect("redis"), Peek::Claim));
    cleanup(&store).await;
}

#[tokio::test]
async fn a_lease_taken_after_the_read_stops_the_delivery_before_its_intent() {
    let config = common::config("peek-test", 0);
    let producer = producer(&config).await;
    let store = producer.store().clone();
    let c = enqueue(&producer, "k-stop").await;
    let e = entry(&store, &c);
    let (res, _) = delivery::scope(Some(e), async {
        let Peek::Ready(_) = store
            .peek(&c.id, Provider::Camoo, "worker-a", LEASE, EARLY)
            .await?
        else {
            panic!("a new cashout is ready");
        };
        // An operator takes the lease between the read and the intent (no version change).
        match store.try_lease(&c.id, "operator", LEASE).await? {
            Claim::Claimed(..) => {}
            other => panic!("the operator gets the lease: {other:?}"),
        }
        intent(&store, &c.id).await
    })
    .await;
    assert!(
        matches!(res, Err(StoreError::Leased)),
        "the intent is refused: {res:?}"
    );
    let rec = store.get(&c.id).await.expect("redis").expect("the record");
    assert_eq!(rec.attempts, 0, "nothing was written");
    assert_eq!(rec.version, c.version);
    cleanup(&store).await;
}
