//! The relayer over TLS, on the set-up of `waves` (this is its child module): the node behind
//! a TLS-terminating proxy with a CA made in the test (`posmul_testkit::tls`), reached through
//! `posmul_core::rpc::connect` as the binary does; and the binary refusing plaintext links off
//! the host with the default `POSMUL_ENV` (prod).

use std::{net::SocketAddr, process::Command};

use posmul_testkit::tls::{TestPki, TlsProxy};

use super::*;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m4_over_https_the_relayer_publishes_and_finalizes_a_wave(pool: PgPool) {
    let mut c = chain(1_000_000).await;
    c.start_miner();
    let pki = TestPki::new();
    let proxy = TlsProxy::start(&pki, SocketAddr::from(([127, 0, 0, 1], c.local.port()))).await;
    let provider = posmul_core::rpc::connect(&proxy.https_url(), &pki.tls_settings(), None)
        .await
        .expect("an https provider");
    let r = Relayer::new(
        pool.clone(),
        provider,
        c.local.keys()[0].clone(),
        c.deployment.money_wave,
        0,
        settings(&c.export_dir),
    )
    .await
    .expect("relayer");
    let u = user(&pool, Some(addr(0x51))).await;
    credit(&pool, &r, u, 7, 0).await;
    c.end_day(0).await;

    assert_eq!(r.catch_up().await.expect("catch up over https"), vec![0]);
    let w = wave::load(&pool, 0).await.expect("db").expect("wave 0");
    assert_eq!((w.status, w.amount), (Status::Finalized, Wei::from_pmc(7)));
    assert_eq!(
        c.money_wave().currentRoot().call().await.expect("root"),
        w.root
    );
    assert_eq!(c.published_days().await, vec![0]);
    assert!(proxy.handshakes() >= 1, "the node was reached through TLS");
    assert_reconciled(&r).await;
}

/// Runs `posmul-relayer reconcile` with only `vars` set; returns (success, stderr).
fn relayer_binary(vars: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_posmul-relayer"))
        .arg("reconcile")
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("the relayer binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn in_prod_the_relayer_binary_refuses_plaintext_off_the_host_before_connecting() {
    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    // Hosts under .invalid: nothing is looked up or reached, the rule refuses first.
    let (ok, stderr) = relayer_binary(&[
        ("PRIVATE_KEY", KEY),
        ("RPC_URL", "http://rpc.invalid:8545/SECRETKEY"),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("RPC_URL") && stderr.contains("https:// or wss://"),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRETKEY"), "{stderr}");

    let (ok, stderr) = relayer_binary(&[
        ("PRIVATE_KEY", KEY),
        ("RPC_URL", "https://rpc.invalid"),
        (
            "DATABASE_URL",
            "postgres://relayer@db.invalid/posmul?sslmode=disable",
        ),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("DATABASE_URL is refused") && stderr.contains("sslmode=disable"),
        "{stderr}"
    );
}
