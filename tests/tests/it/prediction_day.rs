//! A prediction day across every service: an admin sets the economy configuration (M1) → the
//! chain's clock reaches the day it applies from → citizens stake PMP on a game (P4, E2) → the
//! game closes at its end (P3) after running across two hours, each of which gives it its
//! hourly pool (M2) → a resolver settles it over HTTP (P5): the winners' PMC credits go to the
//! settlement's UTC day and every stake is consumed → the chain's clock passes the end of that
//! MoneyWave day → the relayer publishes the wave carrying the prediction wins (M3, M4) → the
//! claims succeed on chain (one by the wallet with the API's proof, one by the relayer through
//! `claim-for-me`, M5) → the indexer mirrors the balances → the wallet view shows the on-chain
//! balance equal to `balanceOf` and the credits claimed.
//!
//! One clock rules it all: the API reads the chain's time (as in demo mode), and the test moves
//! the chain's time ([`Stack::travel_to`], [`Stack::end_day`]); every step goes through HTTP,
//! the chain and the services' own loops, with nothing written to the database by hand. See
//! [`crate::support`] for the stack.

use crate::support::{Stack, get, link_wallet, pmc, wait_for, wei};
use alloy::primitives::U256;
use chrono::{Duration as ChronoDuration, NaiveDate};
use posmul_api::testing::{TestApp, TestUser};
use posmul_api_kit::auth::roles::Role;
use posmul_core::money::Wei;
use posmul_relayer::reconcile;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// B(d) for the test: 2,400 PMC a day, so each hour's pool is exactly 100 PMC (M1, M2).
const DAILY_BUDGET_PMC: u64 = 2400;

async fn post(app: &TestApp, user: &TestUser, path: &str, body: &Value) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(&user.access_token)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Places a stake with the given `Idempotency-Key`.
async fn stake(
    app: &TestApp,
    user: &TestUser,
    game: Uuid,
    option: i16,
    amount: i64,
    key: &str,
) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(&format!("/v1/predictions/games/{game}/stakes")))
        .bearer_auth(&user.access_token)
        .header("Idempotency-Key", key)
        .json(&json!({ "option": option, "amount": amount }))
        .send()
        .await
        .expect("stake request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn game_status(app: &TestApp, user: &TestUser, game: Uuid) -> Value {
    get(app, user, &format!("/v1/predictions/games/{game}")).await["status"].clone()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p3_p4_p5_e2_m1_m2_m3_m4_m5_a_settled_win_becomes_claimable_pmc_on_chain(pool: PgPool) {
    let stack = Stack::start(pool.clone()).await;
    let (app, relayer) = (&stack.app, &stack.relayer);
    let (alice_key, bob_key) = (stack.chain.keys()[1].clone(), stack.chain.keys()[2].clone());

    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let staff = app
        .register_with_role("moderator@example.org", Role::Moderator)
        .await;
    let resolver = app
        .register_with_role("resolver@example.org", Role::Resolver)
        .await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    let carol = app.register_user("carol@example.org").await;
    link_wallet(app, &alice, &alice_key).await;
    link_wallet(app, &bob, &bob_key).await;

    // ── The economy configuration (M1), through the admin route: EBIT of a year of the daily
    //    budget, no tax, no interest. It applies from the next day of the API's clock — the
    //    chain's — and the chain's clock moves to that day's midnight.
    let (status, version) = post(
        app,
        &admin,
        "/v1/admin/economy",
        &json!({
            "annual_ebit_pmc": (DAILY_BUDGET_PMC * 365).to_string(),
            "tax_rate": "0",
            "interest_rate": "0",
        }),
    )
    .await;
    assert_eq!(status, 201, "{version}");
    let budget_day: NaiveDate = version["effective_from"]
        .as_str()
        .expect("effective_from")
        .parse()
        .expect("date");
    let midnight = budget_day.and_time(chrono::NaiveTime::MIN).and_utc();
    stack.travel_to(midnight).await;

    // ── An official game that starts at 00:30 and ends at 02:30 of that day (P2, P3): it runs
    //    across the hours 01:00 and 02:00.
    let (starts_at, ends_at) = (
        midnight + ChronoDuration::minutes(30),
        midnight + ChronoDuration::minutes(150),
    );
    let (status, game) = post(
        app,
        &staff,
        "/v1/predictions/games",
        &json!({
            "title": "Will the end-to-end test pass?",
            "description": "A game that runs across two hours of the chain's clock.",
            "game_type": "binary",
            "category": "sports",
            "subcategory": "tests",
            "league": "Test League",
            "importance": 3,
            "min_stake": 10,
            "max_stake": 500,
            "max_participants": null,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "settles_at": ends_at + ChronoDuration::hours(1),
            "options": ["Yes", "No"],
        }),
    )
    .await;
    assert_eq!(status, 201, "create game: {game}");
    let game: Uuid = game["id"].as_str().expect("id").parse().expect("uuid");
    assert_eq!(game_status(app, &alice, game).await, "created");
    stack.travel_to(starts_at).await;
    assert_eq!(game_status(app, &alice, game).await, "active");

    // ── Stakes (P4, E2): the PMP moves to the game's escrow; a retry with the same key
    //    replays the placement and moves nothing more.
    let key = Uuid::new_v4().to_string();
    let (status, placed) = stake(app, &alice, game, 0, 300, &key).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["balance_after"], 700, "{placed}");
    let (status, replay) = stake(app, &alice, game, 0, 300, &key).await;
    assert_eq!(status, 201, "{replay}");
    assert_eq!(replay["id"], placed["id"], "the same prediction");
    let (status, b) = stake(app, &bob, game, 0, 100, &Uuid::new_v4().to_string()).await;
    assert_eq!(status, 201, "{b}");
    let (status, c) = stake(app, &carol, game, 1, 200, &Uuid::new_v4().to_string()).await;
    assert_eq!(status, 201, "{c}");
    let g = get(app, &alice, &format!("/v1/predictions/games/{game}")).await;
    assert_eq!(g["total_staked"], 600, "{g}");
    assert_eq!(get(app, &alice, "/v1/me/wallet").await["pmp"], 700);

    // ── The game ends: CLOSED (P3); stakes are refused from now on.
    stack.travel_to(ends_at).await;
    assert_eq!(game_status(app, &alice, game).await, "closed");
    let (status, late) = stake(app, &carol, game, 0, 10, &Uuid::new_v4().to_string()).await;
    assert_eq!(status, 409, "{late}");

    // ── Only a resolver settles (P5); the winners share the pool by stake, every stake is
    //    consumed (E2), the credits go to the settlement's UTC day.
    let (status, refused) = post(
        app,
        &staff,
        &format!("/v1/predictions/games/{game}/settlement"),
        &json!({ "winning_option": 0 }),
    )
    .await;
    assert_eq!(status, 403, "a moderator cannot settle: {refused}");
    let (status, settled) = post(
        app,
        &resolver,
        &format!("/v1/predictions/games/{game}/settlement"),
        &json!({ "winning_option": 0 }),
    )
    .await;
    assert_eq!(status, 201, "{settled}");
    let game_pool: U256 = settled["pool"]
        .as_str()
        .expect("pool")
        .parse()
        .expect("wei");
    assert_eq!(
        game_pool,
        pmc("200").as_u256(),
        "the pools of 01:00 and 02:00, 100 PMC each, and no other hour: {settled}"
    );
    assert_eq!(settled["minted"], settled["pool"], "{settled}");
    assert_eq!(settled["winners"], 2);
    assert_eq!(settled["winning_stakes"], 400);
    assert_eq!(settled["burned_stakes"], 600);
    // 300 : 100 of 200 PMC: no dust.
    let alice_win = game_pool * U256::from(3u64) / U256::from(4u64);
    let bob_win = game_pool / U256::from(4u64);
    assert_eq!(alice_win + bob_win, game_pool);
    let credit_day: NaiveDate = settled["day"].as_str().expect("day").parse().expect("date");
    assert_eq!(
        credit_day, budget_day,
        "the settlement's day by the chain's clock"
    );
    let (status, again) = post(
        app,
        &resolver,
        &format!("/v1/predictions/games/{game}/settlement"),
        &json!({ "winning_option": 1 }),
    )
    .await;
    assert_eq!(status, 409, "settled once: {again}");
    for (user, pmp) in [(&alice, 700), (&bob, 900), (&carol, 800)] {
        let w = get(app, user, "/v1/me/wallet").await;
        assert_eq!(w["pmp"], pmp, "stakes are consumed, not refunded: {w}");
    }
    let w = get(app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["pending"]), alice_win, "{w}");
    assert_eq!(wei(&w["pmc_claimable"]), U256::ZERO, "{w}");
    let w = get(app, &carol, "/v1/me/wallet").await;
    assert_eq!(
        wei(&w["credits"]["total"]),
        U256::ZERO,
        "a loss earns nothing: {w}"
    );

    // ── The MoneyWave day of the credits ends on chain: the relayer publishes the waves up to
    //    it, in day order (M4); that wave carries the prediction wins (M3).
    let day = u64::try_from((credit_day - relayer.date_of(0).expect("day 0")).num_days())
        .expect("the credits' day is on or after MoneyWave's genesis");
    stack.end_day(day).await;
    stack.wait_wave_finalized(day).await;
    let wave_row = sqlx::query!(
        r#"SELECT amount::TEXT AS "amount!", credit_count FROM relayer.waves WHERE day = $1"#,
        i64::try_from(day).expect("day"),
    )
    .fetch_one(&pool)
    .await
    .map(|r| (r.amount, r.credit_count))
    .expect("the wave");
    assert_eq!(
        wave_row,
        (game_pool.to_string(), 2),
        "the wave is the game's wins"
    );
    let w = get(app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["in_wave"]), alice_win, "{w}");
    assert_eq!(wei(&w["pmc_claimable"]), alice_win, "{w}");

    // ── Alice's wallet claims on chain with the API's proof (M5), which verifies against the
    //    root MoneyWave holds.
    stack
        .claim_with_api_proof(&alice, &alice_key, alice_win)
        .await;

    // ── Bob asks the relayer to claim for him (M5: claims are permissionless).
    let res = app
        .client
        .post(app.url("/v1/me/pmc/claim-for-me"))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .expect("claim-for-me");
    assert_eq!(res.status(), 202);
    wait_for("bob's tokens on chain", 60, || async {
        stack.balance_of(bob_key.address()).await == bob_win
    })
    .await;

    // ── The indexer mirrors the balances as final, the credits turn claimed, and the wallet
    //    view shows the on-chain balance, equal to balanceOf.
    wait_for("every credit claimed", 60, || async {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM credits.credits WHERE state <> 'claimed'"#,
        )
        .fetch_one(&pool)
        .await
        .ok()
            == Some(0)
    })
    .await;
    for (user, address, amount) in [
        (&alice, alice_key.address(), alice_win),
        (&bob, bob_key.address(), bob_win),
    ] {
        stack
            .wait_mirrored_balance(user, Wei::from_u256(amount))
            .await;
        let w = get(app, user, "/v1/me/wallet").await;
        assert_eq!(wei(&w["credits"]["claimed"]), amount, "{w}");
        assert_eq!(wei(&w["credits"]["in_wave"]), U256::ZERO, "{w}");
        assert_eq!(wei(&w["credits"]["pending"]), U256::ZERO, "{w}");
        assert_eq!(wei(&w["pmc_claimable"]), U256::ZERO, "{w}");
        assert_eq!(w["wallets"][0]["address"], address.to_checksum(None), "{w}");
        assert_eq!(
            wei(&w["wallets"][0]["onchain"]["balance"]),
            stack.balance_of(address).await,
            "the mirror equals the chain: {w}"
        );
        assert_eq!(wei(&w["wallets"][0]["onchain"]["balance"]), amount, "{w}");
    }
    let report = reconcile::reconcile(relayer).await.expect("reconcile runs");
    assert!(report.is_clean(), "{:#?}", report.problems);
    stack.stop().await;
}
