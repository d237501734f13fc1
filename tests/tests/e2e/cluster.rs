//! The same flow on a real three-master Redis Cluster: every script touches one hash slot
//! (a cashout's keys and its partition's queue share a tag), and partitions spread the load.

use cashout_tests::{Options, PrivateCluster, TestApp, phone};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cashouts_are_paid_once_on_a_three_master_cluster() {
    let cluster = PrivateCluster::start();
    let mut app = TestApp::spawn(Options {
        redis_url: Some(cluster.url()),
        partitions: 12,
        ..Options::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..30u32 {
        let id = app
            .enqueue(&TestApp::order(
                &format!("cluster-{i}"),
                &phone(60, 1),
                1500,
            ))
            .await;
        ids.push(id.to_string());
    }
    // A duplicate key still answers with the first cashout, across slots.
    let (status, v) = app
        .post_cashout(&TestApp::order("cluster-0", &phone(60, 1), 1500))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id"], ids[0].as_str());

    app.start_worker();
    for id in &ids {
        let v = app.wait_settled(id).await;
        assert_eq!(v["state"], "confirmed", "{v:#}");
        assert_eq!(app.payouts(Some(id)).await.len(), 1, "{id} paid once");
    }
    let sizes = cluster.dbsizes();
    assert!(
        sizes.iter().filter(|n| **n > 0).count() >= 2,
        "partitions spread over the masters: {sizes:?}"
    );
    app.stop_workers().await;
}
