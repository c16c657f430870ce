//! (f) Two indexers on one database: one writes, the other waits and takes over without loss.

use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn a_second_indexer_stands_by_and_takes_over_when_the_first_is_killed(pool: PgPool) {
    let chain = LocalChain::start();
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    chain.emit(emitter, 0, 10, 4).await;
    let db = database_url(&pool).await;
    let dir = DeploymentsDir::write(&deployment);

    let mut first = Child::spawn(&db, &chain.url(), dir.path(), &[]);
    wait_for("the first indexer leads", 60, || async {
        first.readyz().await.1.contains("\"role\":\"leader\"")
    })
    .await;
    let second = Child::spawn(&db, &chain.url(), dir.path(), &[]);
    wait_for("the second indexer stands by", 60, || async {
        second.readyz().await.1.contains("\"role\":\"standby\"")
    })
    .await;
    wait_at_head(&pool, &chain, 60).await;

    // The chain's key is ("posm" << 32 | chain id): classid and objid in pg_locks.
    let holders = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 AND objid::bigint = $2
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"#,
        posmul_indexer::lock::lock_key(CHAIN_ID) >> 32,
        CHAIN_ID as i64,
    )
    .fetch_one(&pool)
    .await
    .expect("pg_locks");
    assert_eq!(holders, 1, "exactly one lock holder");

    for i in 0..3 {
        chain.emit(emitter, 10 + 4 * i, 4, 4).await;
    }
    wait_at_head(&pool, &chain, 60).await;
    assert!(
        second.readyz().await.1.contains("standby"),
        "the second still waits"
    );

    first.kill();
    for i in 0..3 {
        chain.emit(emitter, 100 + 4 * i, 4, 4).await;
    }
    wait_for("the second indexer takes over", 60, || async {
        second.readyz().await.1.contains("\"role\":\"leader\"")
    })
    .await;
    wait_at_head(&pool, &chain, 60).await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
}
