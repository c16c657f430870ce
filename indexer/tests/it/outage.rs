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
