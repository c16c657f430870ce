//! A full Money Wave day across every service: users earn PMC credits (the API's credit
//! ledger) → the chain's clock passes the day's end → the relayer publishes wave 0 → the proof
//! from `GET /v1/me/pmc/claim` verifies → the claims succeed on chain (one sent by the wallet
//! itself, one by the relayer through `claim-for-me`) → the indexer mirrors the claims and the
//! balances → the credits turn `claimed` (E3) → `GET /v1/me/wallet` agrees with the chain.
//!
//! Real anvil (`node_modules/.bin/anvil`, the finalized block two behind the head), real
//! PostgreSQL (a fresh database from `#[sqlx::test]`), the contracts deployed from the bytecode
//! in `contracts/abi`, the API, the relayer loop and the indexer all running in this process.

use crate::support::{CHAIN_ID, Stack, earn, get, link_wallet, pmc, wait_for, wei};
use alloy::primitives::U256;
use posmul_relayer::reconcile;
use sqlx::PgPool;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e3_m3_m4_m5_a_full_day_from_credits_to_the_wallet_view(pool: PgPool) {
    // ── The chain (anvil; PMC, MoneyWave with day 0 = today of the chain's clock,
    //    DonationHub) and the services (API, indexer, relayer loop) over the same database.
    let stack = Stack::start(pool.clone()).await;
    let (app, relayer) = (&stack.app, &stack.relayer);
    let (alice_key, bob_key) = (stack.chain.keys()[1].clone(), stack.chain.keys()[2].clone());
    let wave = stack.money_wave();

    // ── Users earn credits on day 0 and link their wallets.
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    link_wallet(app, &alice, &alice_key).await;
    link_wallet(app, &bob, &bob_key).await;
    let day0 = relayer.date_of(0).expect("day 0");
    earn(&pool, &alice, pmc("10"), day0).await;
    earn(&pool, &alice, pmc("2.5"), day0).await;
    earn(&pool, &bob, pmc("5"), day0).await;
    let w = get(app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["pending"]), pmc("12.5").as_u256());
    assert_eq!(wei(&w["pmc_claimable"]), U256::ZERO);

    // ── The chain's clock passes the end of day 0: the relayer publishes wave 0.
    stack.end_day(0).await;
    stack.wait_wave_finalized(0).await;
    let w = get(app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["pending"]), U256::ZERO);
    assert_eq!(wei(&w["credits"]["in_wave"]), pmc("12.5").as_u256());
    assert_eq!(wei(&w["pmc_claimable"]), pmc("12.5").as_u256());

    // ── Alice's wallet claims itself with the proof from the API; it verifies first.
    let claim = stack
        .claim_with_api_proof(&alice, &alice_key, pmc("12.5").as_u256())
        .await;
    assert_eq!(claim["contract"], wave.address().to_checksum(None));
    assert_eq!(claim["chain_id"], CHAIN_ID);

    // ── Bob asks the relayer to claim for him (gas sponsored, claimMany).
    let res = app
        .client
        .post(app.url("/v1/me/pmc/claim-for-me"))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .expect("claim-for-me");
    assert_eq!(res.status(), 202);

    // ── The tokens are on chain; the indexer mirrors the claims and the balances as final,
    //    and the relayer marks the credits claimed.
    wait_for("bob's tokens on chain", 60, || async {
        stack.balance_of(bob_key.address()).await == pmc("5").as_u256()
    })
    .await;
    assert_eq!(
        stack.balance_of(alice_key.address()).await,
        pmc("12.5").as_u256()
    );
    wait_for("every credit claimed", 60, || async {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM credits.credits WHERE state <> 'claimed'"#
        )
        .fetch_one(&pool)
        .await
        .ok()
            == Some(0)
    })
    .await;
    let chain_balances = [
        (&alice, alice_key.address(), pmc("12.5")),
        (&bob, bob_key.address(), pmc("5")),
    ];
    for (user, address, amount) in chain_balances {
        stack.wait_mirrored_balance(user, amount).await;
        // The wallet view agrees with the chain: claimed credits, nothing claimable, the
        // on-chain balance.
        let w = get(app, user, "/v1/me/wallet").await;
        assert_eq!(wei(&w["credits"]["claimed"]), amount.as_u256(), "{w}");
        assert_eq!(wei(&w["credits"]["in_wave"]), U256::ZERO, "{w}");
        assert_eq!(wei(&w["credits"]["pending"]), U256::ZERO, "{w}");
        assert_eq!(wei(&w["pmc_claimable"]), U256::ZERO, "{w}");
        assert_eq!(w["wallets"][0]["address"], address.to_checksum(None), "{w}");
        assert_eq!(
            wei(&w["wallets"][0]["onchain"]["balance"]),
            amount.as_u256(),
            "{w}"
        );
        assert_eq!(
            wei(&w["wallets"][0]["onchain"]["balance"]),
            stack.balance_of(address).await,
            "the mirror equals the chain"
        );
        let c = get(app, user, "/v1/me/pmc/claim").await;
        assert_eq!(wei(&c["claims"][0]["claimed"]), amount.as_u256());
        assert_eq!(wei(&c["claims"][0]["claimable"]), U256::ZERO);
    }
    let report = reconcile::reconcile(relayer).await.expect("reconcile runs");
    assert!(report.is_clean(), "{:#?}", report.problems);
    stack.stop().await;
}
