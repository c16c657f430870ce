//! (c) Crash and resume: killed (SIGKILL) at random points of a backfill, the indexer ends with
//! the same mirror as an uninterrupted run — the chain's own logs.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_indexer_killed_at_random_points_of_a_backfill_resumes_without_duplicate_or_gap(
    pool: PgPool,
) {
    let chain = LocalChain::with_slots_in_an_epoch(16);
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    for i in 0..300 {
        chain.emit(emitter, 20 * i, 20, 50).await;
    }
    let db = database_url(&pool).await;
    let dir = DeploymentsDir::write(&deployment);
    let slow = [
        ("BLOCK_RANGE_START", "2"),
        ("BLOCK_RANGE_MAX", "3"),
        ("FETCH_CONCURRENCY", "2"),
    ];
    // Six kill points spread over the backfill, chosen at random (seeded): each run is killed
    // (SIGKILL) a random 0-30 ms after its cursor passes its point, i.e. mid-write or mid-fetch.
    let head = chain.head().await as i64;
    let mut rng = StdRng::seed_from_u64(0x5057);
    let mut points: Vec<i64> = (0..6)
        .map(|_| rng.random_range(block as i64 + 1..head - 20))
        .collect();
    points.sort_unstable();
    let mut progress = Vec::new();
    for point in points {
        let mut child = Child::spawn(&db, &chain.url(), dir.path(), &slow);
        wait_for("the backfill to pass the kill point", 60, || async {
            indexed(&pool).await >= point
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
        child.kill();
        progress.push(indexed(&pool).await);
    }
    assert!(
        progress.iter().all(|&p| p < head),
        "every kill hit the backfill mid-way: {progress:?}"
    );
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {progress:?}"
    );

    let _last = Child::spawn(&db, &chain.url(), dir.path(), &[]);
    wait_at_head(&pool, &chain, 90).await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
}
