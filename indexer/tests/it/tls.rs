//! The indexer over TLS: the node behind a TLS-terminating proxy (`wss://`, `https://`) and the
//! database a PostgreSQL that accepts TLS only, trusted through `TLS_CA_FILE` with the default
//! `POSMUL_ENV` (prod). The CA and the servers are made by the test (`posmul_testkit::tls`).

use std::net::SocketAddr;

use posmul_testkit::tls::{TestPki, TlsPostgres, TlsProxy};
use sqlx::PgPool;

use crate::support::*;

#[tokio::test]
async fn the_indexer_binary_mirrors_transfers_over_wss_into_postgres_with_verify_full() {
    let pki = TestPki::new();
    let pg = TlsPostgres::start(&pki);
    pg.create_database("posmul");
    let db_url = format!("{}?sslmode=verify-full", pg.url("posmul"));
    // The test reads the mirror over the same kind of link; the indexer migrates on start.
    let pool = posmul_core::db::connect_and_migrate(&db_url, 2, &pki.tls_settings())
        .await
        .expect("verify-full");

    let chain = LocalChain::start();
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    let dir = DeploymentsDir::write(&deployment);
    let proxy = TlsProxy::start(&pki, SocketAddr::from(([127, 0, 0, 1], chain.port()))).await;
    let ca = pki.ca_file();
    let _indexer = Child::spawn(
        &db_url,
        &proxy.wss_url(),
        dir.path(),
        &[("TLS_CA_FILE", ca.to_str().expect("utf-8 path"))],
    );

    chain.emit(emitter, 0, 5, 3).await;
    wait_at_head(&pool, &chain, 60).await;
    chain.emit(emitter, 5, 5, 3).await;
    wait_at_head(&pool, &chain, 30).await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
    assert!(proxy.handshakes() >= 1, "the node was reached through TLS");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn over_https_the_indexer_mirrors_transfers(pool: PgPool) {
    let pki = TestPki::new();
    let chain = LocalChain::start();
    let (emitter, block) = chain.deploy_emitter().await;
    let deployment = emitter_deployment(emitter, block);
    let proxy = TlsProxy::start(&pki, SocketAddr::from(([127, 0, 0, 1], chain.port()))).await;
    let mut config = test_config(vec![proxy.https_url()]);
    config.tls = pki.tls_settings();
    let _indexer = Running::start(config, &deployment, pool.clone()).await;
    chain.emit(emitter, 0, 6, 4).await;
    wait_at_head(&pool, &chain, 30).await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
    assert!(proxy.handshakes() >= 1, "the node was reached through TLS");
}
