//! Head following over a WebSocket URL: new heads wake the indexer (the poll interval is long).

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn over_a_websocket_url_new_heads_are_indexed_without_waiting_for_the_poll(pool: PgPool) {
    let chain = LocalChain::start();
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    let mut config = test_config(vec![chain.ws_url()]);
    config.poll_interval = Duration::from_secs(30);
    let indexer = Running::start(config, &deployment, pool.clone()).await;
    wait_at_head(&pool, &chain, 30).await;
    wait_for("the head subscription", 30, || async {
        indexer.status.rpc_ok()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..3 {
        let t = Instant::now();
        chain.emit(emitter, 4 * i, 4, 3).await;
        wait_at_head(&pool, &chain, 10).await;
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "indexed long before the 30 s poll"
        );
    }
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
}
