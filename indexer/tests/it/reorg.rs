//! (b) Reorgs injected while the indexer runs leave the mirror equal to the canonical chain.

use sqlx::PgPool;

use crate::support::*;

/// Indexes `depth` blocks of events on a branch, reverts the chain to before them and mines a
/// different, longer branch; returns once the mirror is at the new head.
async fn reorg(
    chain: &LocalChain,
    pool: &PgPool,
    emitter: alloy::primitives::Address,
    depth: u64,
    seq: &mut u64,
) {
    let snapshot = chain.snapshot().await;
    for _ in 0..depth {
        chain.emit(emitter, *seq, 4, 5).await;
        *seq += 4;
    }
    wait_at_head(pool, chain, 60).await;
    assert!(chain.revert(snapshot).await, "reverted");
    // The new branch: other transfers (other holders), one block longer.
    for i in 0..=depth {
        chain.emit(emitter, 1_000_000 + 2 * i, 2, 7).await;
    }
    wait_at_head(pool, chain, 60).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn reorgs_of_depth_1_7_and_64_leave_the_mirror_equal_to_the_chain(pool: PgPool) {
    // finalized = head - 2 × 40 = head - 80: a 64-block reorg stays above the final block.
    let chain = LocalChain::with_slots_in_an_epoch(40);
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    let mut seq = 0u64;
    for _ in 0..10 {
        chain.emit(emitter, seq, 6, 5).await;
        seq += 6;
    }
    let indexer = Running::start(test_config(vec![chain.url()]), &deployment, pool.clone()).await;
    wait_at_head(&pool, &chain, 60).await;

    for depth in [1, 7, 64] {
        let before = indexer.status.reorgs();
        reorg(&chain, &pool, emitter, depth, &mut seq).await;
        assert_eq!(
            indexer.status.reorgs(),
            before + 1,
            "one reorg handled for depth {depth}"
        );
        assert_mirror_equals_chain(&pool, &chain, &deployment).await;
    }

    let (code, metrics) = indexer.get("/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("posmul_indexer_reorgs_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("posmul_indexer_reorg_deepest_blocks 64"),
        "{metrics}"
    );
    assert!(
        metrics.contains("posmul_indexer_deep_reorgs_total 0"),
        "{metrics}"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn a_reorg_below_the_finalized_block_is_an_alert_and_the_mirror_still_follows_the_chain(
    pool: PgPool,
) {
    // finalized = head - 2 × 2 = head - 4: an 8-block reorg reaches below it.
    let chain = LocalChain::with_slots_in_an_epoch(2);
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    let mut seq = 0u64;
    chain.emit(emitter, seq, 4, 3).await;
    seq += 4;
    let indexer = Running::start(test_config(vec![chain.url()]), &deployment, pool.clone()).await;
    wait_at_head(&pool, &chain, 60).await;
    reorg(&chain, &pool, emitter, 8, &mut seq).await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
    let (_, metrics) = indexer.get("/metrics").await;
    assert!(
        metrics.contains("posmul_indexer_deep_reorgs_total 1"),
        "{metrics}"
    );
}
