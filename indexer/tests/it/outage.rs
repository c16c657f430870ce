//! (d) RPC outage: /readyz says 503 while the node is unreachable; the indexer catches up after.

use std::sync::atomic::Ordering;

use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn during_an_rpc_outage_readyz_is_503_and_the_indexer_catches_up_afterwards(pool: PgPool) {
    let chain = LocalChain::start();
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    chain.emit(emitter, 0, 10, 4).await;
    let proxy = Proxy::start(chain.url()).await;
    let indexer = Running::start(test_config(vec![proxy.url()]), &deployment, pool.clone()).await;
    wait_at_head(&pool, &chain, 60).await;
    wait_for("/readyz 200", 30, || async {
        indexer.get("/readyz").await.0 == 200
    })
    .await;

    proxy.down.store(true, Ordering::SeqCst);
    wait_for("/readyz 503 during the outage", 30, || async {
        indexer.get("/readyz").await.0 == 503
    })
    .await;
    let (_, body) = indexer.get("/readyz").await;
    assert!(body.contains("RPC unreachable"), "{body}");
    for i in 0..5 {
        chain.emit(emitter, 10 + 4 * i, 4, 4).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        indexed(&pool).await < chain.head().await as i64,
        "nothing indexed while unreachable"
    );
    assert_eq!(indexer.get("/readyz").await.0, 503, "still not ready");

    proxy.down.store(false, Ordering::SeqCst);
    wait_at_head(&pool, &chain, 60).await;
    wait_for("/readyz 200 after the outage", 30, || async {
        indexer.get("/readyz").await.0 == 200
    })
    .await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
    let (_, metrics) = indexer.get("/metrics").await;
    assert!(
        !metrics.contains("posmul_indexer_rpc_errors_total{method=\"eth_blockNumber\"} 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rate_limited_url_is_waited_out_as_it_asks_before_failing_over() {
    use std::time::{Duration, Instant};

    use posmul_indexer::{backoff::Backoff, rpc::Rpc, status::Status};
    use posmul_testkit::rate_limit::RateLimitedNode;

    let chain = LocalChain::start();
    let limited = RateLimitedNode::start(&chain.url(), 2, Some(Duration::from_secs(1))).await;
    let rpc = Rpc::new(
        &[limited.url(), chain.url()],
        Duration::from_secs(30),
        Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(300),
        },
        Status::new(),
        posmul_core::tls::TlsSettings::default(),
    )
    .expect("rpc");
    let start = Instant::now();
    assert_eq!(rpc.head().await.expect("head"), chain.head().await);
    assert_eq!(limited.requests(), 3, "two 429s, then the answer");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    assert_eq!(
        rpc.active_url(),
        limited.url(),
        "a rate limit is not a reason to fail over"
    );
}
