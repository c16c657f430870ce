//! TLS on the links that leave the machine, with real servers and a CA made in the test
//! (`posmul_testkit::tls`): PostgreSQL with `sslmode=verify-full`, Redis over `rediss://` under
//! the API's rate limiter, JSON-RPC over `https://` and `wss://`, and what is refused.
//!
//! The indexer and the relayer doing their work over TLS are in their own crates' tests
//! (`indexer/tests/it/tls.rs`, `relayer/tests/it/tls.rs`).

use std::{net::SocketAddr, time::Duration};

use alloy::providers::Provider;
use posmul_api::startup::Application;
use posmul_api_kit::config::{ApiConfig, Rate, redis_client};
use posmul_core::{
    db::{self, DbError},
    tls::{Environment, TlsSettings},
};
use posmul_testkit::{
    LocalChain,
    tls::{TestPki, TlsPostgres, TlsProxy, TlsRedis},
};
use sqlx::PgPool;

/// Whether this backend's connection is encrypted, as the server sees it.
async fn server_says_ssl(pool: &PgPool) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("pg_stat_ssl")
}

#[tokio::test]
async fn postgres_with_verify_full_trusts_tls_ca_file_or_sslrootcert_and_nothing_else() {
    let pki = TestPki::new();
    let pg = TlsPostgres::start(&pki);
    let url = format!("{}?sslmode=verify-full", pg.url("postgres"));

    // The CA from TLS_CA_FILE.
    let pool = db::connect(&url, 1, &pki.tls_settings())
        .await
        .expect("verify-full over TLS_CA_FILE");
    assert!(server_says_ssl(&pool).await);
    pool.close().await;

    // The CA from the URL's sslrootcert, no TLS_CA_FILE.
    let with_root = format!("{url}&sslrootcert={}", pki.ca_file().display());
    let pool = db::connect(&with_root, 1, &TlsSettings::default())
        .await
        .expect("verify-full over sslrootcert");
    assert!(server_says_ssl(&pool).await);
    pool.close().await;

    // A certificate no trusted CA signed is refused by the client.
    let err = db::connect(&url, 1, &TlsSettings::default())
        .await
        .expect_err("the test CA is not a public root");
    assert!(matches!(err, DbError::Connect { .. }), "{err}");

    // The server takes no plaintext (hostssl only): the test cluster really needs TLS.
    let plain = format!("{}?sslmode=disable", pg.url("postgres"));
    let err = db::connect(&plain, 1, &pki.tls_settings())
        .await
        .expect_err("plaintext refused by the server");
    assert!(err.to_string().contains("no encryption"), "{err}");
}

#[tokio::test]
async fn in_prod_a_database_off_the_host_without_tls_is_refused_before_connecting() {
    // The refusal comes from the rule, before any name lookup or connection.
    for mode in ["disable", "prefer"] {
        let url = format!("postgres://u:secret@db.invalid/posmul?sslmode={mode}");
        let err = db::connect(&url, 1, &TlsSettings::default())
            .await
            .expect_err("plaintext off the host");
        assert!(matches!(err, DbError::Insecure(_)), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("DATABASE_URL") && msg.contains("verify-full"),
            "{msg}"
        );
        assert!(!msg.contains("secret"), "{msg}");
    }
    // POSMUL_ENV=dev lets it through (checked without connecting: no traffic leaves the host).
    let dev = TlsSettings::new(Environment::Dev, None).expect("dev settings");
    assert!(db::connect_options("postgres://u@db.invalid/posmul?sslmode=disable", &dev).is_ok());
}

#[tokio::test]
async fn u2_the_api_over_verify_full_postgres_counts_rate_limits_in_redis_over_rediss() {
    let pki = TestPki::new();
    let pg = TlsPostgres::start(&pki);
    pg.create_database("posmul");
    let redis = TlsRedis::start(&pki);

    let mut config = ApiConfig::for_tests(format!("{}?sslmode=verify-full", pg.url("posmul")));
    config.migrate = true;
    config.tls = pki.tls_settings();
    config.redis_url = Some(redis.url());
    config.redis_key_prefix = "posmul:tls-test:".to_owned();
    config.ip_rate = Rate { per_minute: 3 };
    let app = Application::build(config)
        .await
        .expect("the API starts over TLS links");
    assert!(app.state().limiter.is_redis());
    assert!(server_says_ssl(&app.state().db).await);
    let base = format!("http://127.0.0.1:{}", app.port());
    let tasks = app.background_tasks();
    let server = tokio::spawn(app.run_until(std::future::pending()));

    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let res = client
            .get(format!("{base}/v1/me"))
            .send()
            .await
            .expect("request");
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        vec![401, 401, 401, 429],
        "burst of 3, then limited"
    );

    // The counter lives in that Redis, reached over rediss:// with the test CA.
    let mut conn = redis_client(&redis.url(), &pki.tls_settings())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("rediss:// with the CA file");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("posmul:tls-test:*")
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert_eq!(keys, vec!["posmul:tls-test:ip:127.0.0.1".to_owned()]);

    // Without the CA the Redis certificate is not trusted.
    let untrusted = redis_client(&redis.url(), &TlsSettings::default())
        .expect("client")
        .get_multiplexed_async_connection()
        .await;
    assert!(untrusted.is_err(), "a certificate of an unknown CA");

    server.abort();
    for t in tasks {
        t.abort();
    }
}

#[tokio::test]
async fn json_rpc_over_https_and_wss_trusts_the_ca_file_and_refuses_plaintext_off_the_host() {
    let chain = LocalChain::start();
    let pki = TestPki::new();
    let proxy = TlsProxy::start(&pki, SocketAddr::from(([127, 0, 0, 1], chain.port()))).await;
    let tls = pki.tls_settings();
    let head = chain.head().await;

    for url in [proxy.https_url(), proxy.wss_url()] {
        let p = posmul_core::rpc::connect(&url, &tls, Some(Duration::from_secs(10)))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(p.get_block_number().await.expect("eth_blockNumber") >= head);
    }
    assert!(proxy.handshakes() >= 2, "both went through TLS");

    // The public roots alone do not trust the test CA.
    let https = posmul_core::rpc::connect(&proxy.https_url(), &TlsSettings::default(), None)
        .await
        .expect("HTTP providers connect lazily");
    assert!(https.get_block_number().await.is_err());
    assert!(
        posmul_core::rpc::connect(&proxy.wss_url(), &TlsSettings::default(), None)
            .await
            .is_err()
    );

    // Plaintext to a host that is not loopback is refused before any connection.
    let err = posmul_core::rpc::connect("http://rpc.invalid:8545", &tls, None)
        .await
        .expect_err("plaintext off the host")
        .to_string();
    assert!(err.contains("https:// or wss://"), "{err}");
}
