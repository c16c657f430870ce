//! (e) Range splitting: behind a proxy refusing ranges over 5 blocks, the backfill completes.

use std::sync::atomic::Ordering;

use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn a_provider_refusing_ranges_over_5_blocks_still_yields_every_event(pool: PgPool) {
    let chain = LocalChain::with_slots_in_an_epoch(8);
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    for i in 0..60 {
        chain.emit(emitter, 4 * i, 4, 9).await;
        chain.mine(2).await;
    }
    let proxy = Proxy::start(chain.url()).await;
    proxy.max_range.store(5, Ordering::SeqCst);
    // The first URL is dead: the indexer fails over to the proxy.
    let urls = vec![format!("http://127.0.0.1:{}", free_port()), proxy.url()];
    let indexer = Running::start(test_config(urls), &deployment, pool.clone()).await;
    wait_at_head(&pool, &chain, 90).await;
    assert!(
        proxy.refused.load(Ordering::SeqCst) >= 5,
        "the proxy refused large ranges"
    );
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
    let (_, metrics) = indexer.get("/metrics").await;
    assert!(
        metrics.contains("posmul_indexer_rows_written_total{table=\"pmc_transfers\"} 240"),
        "{metrics}"
    );
}
