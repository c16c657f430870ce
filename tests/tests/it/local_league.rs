//! A Local League payment all the way to the wallet (I2, E3, M3-M5): a merchant's verified
//! store → a citizen pays there through the API (the dev provider pays at once) → a PMC credit
//! of amount × the store's rate × PMC per KRW on the chain clock's day → that day's wave is
//! published → the citizen claims on chain with the API's proof → the indexer mirrors it and
//! `GET /v1/me/wallet` shows the claimed credit and the on-chain balance.
//!
//! Real anvil, real PostgreSQL, the contracts, the API, the relayer loop and the indexer in this
//! process (the same stack as the full day).

use std::sync::Arc;

use crate::support::{Stack, get, link_wallet, pmc, wait_for, wei};
use alloy::primitives::U256;
use posmul_api::testing::{TestApp, TestUser};
use posmul_api_kit::auth::roles::Role;
use posmul_invest::payments::{Payments, dev::DevProvider};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The invest routes over the app's state with the dev provider enabled (the test process
/// enables no provider from its environment), served on their own port; their base URL.
async fn invest_routes(app: &TestApp) -> String {
    let payments = Payments {
        dev: Some(DevProvider::new(
            "dev-webhook-secret",
            chrono::Duration::minutes(5),
        )),
        max_krw: 10_000_000,
        ..Payments::default()
    };
    let router = posmul_invest::router_with(Arc::new(payments))
        .split_for_parts()
        .0
        .with_state(app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

async fn post(app: &TestApp, base: &str, user: &TestUser, path: &str, body: Value) -> Value {
    let res = app
        .client
        .post(format!("{base}{path}"))
        .bearer_auth(&user.access_token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_e3_m5_a_store_payment_becomes_pmc_in_the_citizens_wallet(pool: PgPool) {
    let stack = Stack::start(pool.clone()).await;
    let app = &stack.app;
    let base = invest_routes(app).await;
    let alice_key = stack.chain.keys()[1].clone();

    // ── A merchant's store, verified by an admin.
    let merchant = app
        .register_with_role("bakery@example.org", Role::Merchant)
        .await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let store = post(
        app,
        &base,
        &merchant,
        "/v1/stores",
        json!({
            "name": "Corner bakery", "category": "bakery", "address": "1 Corner street",
            "lat": 37.5665, "lon": 126.978, "non_franchise": true
        }),
    )
    .await;
    let store_id = store["id"].as_str().expect("store id");
    post(
        app,
        &base,
        &admin,
        &format!("/v1/admin/stores/{store_id}/verify"),
        Value::Null,
    )
    .await;

    // ── Alice links her wallet and pays 50,000 KRW there: 50,000 × 1 % × 0.01 = 5 PMC.
    let alice = app.register_user("alice@example.org").await;
    link_wallet(app, &alice, &alice_key).await;
    let payment = post(
        app,
        &base,
        &alice,
        "/v1/payments",
        json!({ "provider": "dev", "amount": 50_000, "merchant_id": merchant.user_id, "store_id": store_id }),
    )
    .await;
    assert_eq!(payment["state"], "paid", "{payment}");
    let w = get(app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["pending"]), pmc("5").as_u256(), "{w}");

    // ── The chain's day 0 ends: the relayer publishes the wave carrying the credit.
    stack.end_day(0).await;
    stack.wait_wave_finalized(0).await;
    let w = get(app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["in_wave"]), pmc("5").as_u256(), "{w}");
    assert_eq!(wei(&w["pmc_claimable"]), pmc("5").as_u256(), "{w}");

    // ── Alice claims on chain with the API's proof; the mirror and the wallet view follow.
    stack
        .claim_with_api_proof(&alice, &alice_key, pmc("5").as_u256())
        .await;
    assert_eq!(
        stack.balance_of(alice_key.address()).await,
        pmc("5").as_u256()
    );
    wait_for("the credit claimed", 60, || async {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM credits.credits WHERE source = 'local_payment' AND state = 'claimed'"#
        )
        .fetch_one(&pool)
        .await
        .ok()
            == Some(1)
    })
    .await;
    stack.wait_mirrored_balance(&alice, pmc("5")).await;
    let w = get(app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["claimed"]), pmc("5").as_u256(), "{w}");
    assert_eq!(wei(&w["pmc_claimable"]), U256::ZERO, "{w}");
    assert_eq!(
        wei(&w["wallets"][0]["onchain"]["balance"]),
        pmc("5").as_u256(),
        "{w}"
    );
    stack.stop().await;
}
