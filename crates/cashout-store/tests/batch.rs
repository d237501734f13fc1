//! Group commit against a real Redis (`CASHOUT_REDIS__URL`, else 127.0.0.1:6379), under a
//! prefix of its own: many concurrent writes, several of them on one cashout, go out in shared
//! script calls and each still behaves as its own compare-and-set.

mod common;

use cashout_core::HistoryKind;
use cashout_store::{Change, Enqueued, Modified};
use common::{cleanup, order, producer};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_writes_each_keep_their_own_compare_and_set() {
    let config = common::config("batch-test", 0);
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
