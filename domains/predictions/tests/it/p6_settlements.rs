//! Settlements no one can bend (P5, P6): no one settles, cancels or corrects a game they
//! created or staked in; every such act is audited with its actor; a settlement's credits join
//! waves only after the dispute window, within which a correction replaces them exactly.

use chrono::Duration;
use posmul_api_kit::auth::roles::Role;
use posmul_core::money::Wei;
use posmul_economy::credits::lifecycle::pending_for_wave;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{GameBuilder, World, audited, problem, set_budget, wei};

/// The credits that still count (not revoked), by user, in wei.
async fn live_credits(pool: &PgPool) -> Vec<(Uuid, u64)> {
    let rows: Vec<(Uuid, Wei)> = sqlx::query_as(
        "SELECT user_id, SUM(amount) FROM credits.credits WHERE state <> 'revoked'
         GROUP BY user_id ORDER BY user_id",
    )
    .fetch_all(pool)
    .await
    .expect("live credits");
    rows.into_iter()
        .map(|(u, a)| (u, a.as_u256().to::<u64>()))
        .collect()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_whoever_created_or_staked_in_a_game_cannot_settle_cancel_or_correct_it(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let admin = w.admin().await;
    let resolver = w.resolver().await;
    let other_resolver = w
        .app
        .register_with_role("resolver2@example.org", Role::Resolver)
        .await;
    let other_admin = w
        .app
        .register_with_role("admin2@example.org", Role::Admin)
        .await;
    let citizen = w.user("citizen@example.org").await;

    // The admin created it, the resolver staked in it.
    let game = w
        .create(GameBuilder::new("sports", "Derby winner"), &admin)
        .await;
    game.stake(&w.app, &resolver, 0, 10).await;
    game.stake(&w.app, &citizen, 1, 10).await;
    let cancel = game.path("/cancel");
    for who in [&admin, &resolver] {
        let (status, p) = w.post(who, &cancel, &json!({})).await;
        assert_eq!((status, problem(&p)), (403, "conflict-of-interest"), "{p}");
    }
    game.close(&w).await;
    for who in [&admin, &resolver] {
        let (status, p) = game.settle(&w.app, who, 0).await;
        assert_eq!((status, problem(&p)), (403, "conflict-of-interest"), "{p}");
    }
    let (status, s) = game.settle(&w.app, &other_resolver, 0).await;
    assert_eq!(status, 201, "someone without a stake in it settles: {s}");

    // A withdrawn stake was still a stake: the admin who staked and withdrew cannot correct.
    let later = w.game(GameBuilder::new("sports", "Second derby")).await;
    later.stake(&w.app, &citizen, 0, 10).await;
    let (_, placed) = later.stake(&w.app, &other_admin, 1, 10).await;
    let withdraw = format!(
        "/v1/predictions/predictions/{}/withdraw",
        placed["id"].as_str().expect("prediction id")
    );
    assert_eq!(w.post(&other_admin, &withdraw, &json!({})).await.0, 200);
    later.close(&w).await;
    assert_eq!(later.settle(&w.app, &resolver, 0).await.0, 201);
    let correction = json!({ "winning_option": 1, "reason": "the official result was misread" });
    let (status, p) = w
        .post(&other_admin, &later.path("/corrections"), &correction)
        .await;
    assert_eq!((status, problem(&p)), (403, "conflict-of-interest"), "{p}");
    let (status, c) = w
        .post(&admin, &later.path("/corrections"), &correction)
        .await;
    assert_eq!(status, 201, "{c}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_settle_cancel_and_multiplier_changes_are_audited_with_their_actor(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let admin = w.admin().await;
    let resolver = w.resolver().await;
    let settled = w.game(GameBuilder::new("sports", "Derby winner")).await;
    let cancelled = w.game(GameBuilder::new("sports", "Rained off")).await;
    let (status, _) = w
        .post(&resolver, &cancelled.path("/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200);
    settled.close(&w).await;
    assert_eq!(settled.settle(&w.app, &resolver, 1).await.0, 201);
    let (status, _) = w
        .put(
            &admin,
            "/v1/predictions/category-multipliers/politics",
            &json!({ "multiplier": "1.5" }),
        )
        .await;
    assert_eq!(status, 204);

    assert_eq!(
        audited(
            &pool,
            "prediction_game_settled",
            resolver.user_id,
            settled.id
        )
        .await,
        1
    );
    assert_eq!(
        audited(
            &pool,
            "prediction_game_cancelled",
            resolver.user_id,
            cancelled.id
        )
        .await,
        1
    );
    let (previous, set): (String, String) = sqlx::query_as(
        "SELECT details->>'previous', details->>'multiplier' FROM auth.audit_log
         WHERE action = 'prediction_multiplier_set' AND actor_user_id = $1 AND details->>'category' = 'politics'",
    )
    .bind(admin.user_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((previous.as_str(), set.as_str()), ("1", "1.5"));
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_a_settlements_credits_join_waves_only_after_the_dispute_window(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let a = w.user("a@example.org").await;
    sqlx::query(
        "INSERT INTO auth.wallets (address, user_id) VALUES (decode(repeat('11', 20), 'hex'), $1)",
    )
    .bind(a.user_id)
    .execute(&pool)
    .await
    .unwrap();
    set_budget(&pool, wei(24_000)).await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    game.stake(&w.app, &a, 0, 100).await;
    game.close(&w).await;
    let (status, s) = game.settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201, "{s}");
    let window_ends = w.now().await + Duration::hours(2);
    assert_eq!(s["dispute_ends_at"], json!(window_ends), "{s}");
    // A wave built any later day, within the window: the credit waits.
    let far_day = (w.now().await + Duration::days(3)).date_naive();
    let mut tx = pool.begin().await.unwrap();
    let candidates = pending_for_wave(&mut tx, far_day, w.now().await)
        .await
        .unwrap();
    assert!(candidates.is_empty(), "within the window: {candidates:?}");
    let candidates = pending_for_wave(&mut tx, far_day, window_ends - Duration::seconds(1))
        .await
        .unwrap();
    assert!(
        candidates.is_empty(),
        "a second before its end: {candidates:?}"
    );
    let candidates = pending_for_wave(&mut tx, far_day, window_ends)
        .await
        .unwrap();
    assert_eq!(candidates.len(), 1, "once the window is over");
    assert_eq!(candidates[0].amount.to::<u64>(), 1000);
    tx.rollback().await.unwrap();
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_a_correction_within_the_window_replaces_the_credits_exactly(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let admin = w.admin().await;
    let (a, b, c) = (
        w.user("a@example.org").await,
        w.user("b@example.org").await,
        w.user("c@example.org").await,
    );
    set_budget(&pool, wei(24_000)).await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    game.stake(&w.app, &a, 0, 100).await;
    game.stake(&w.app, &b, 1, 100).await;
    game.stake(&w.app, &c, 1, 300).await;
    game.close(&w).await;
    let (status, s) = game.settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(live_credits(&pool).await, vec![(a.user_id, 1000)]);

    // Within the window: option 1 won after all. A's credit is revoked, b and c share the
    // pool 1:3; nobody is paid twice.
    w.advance(Duration::minutes(30));
    let path = game.path("/corrections");
    let body = json!({ "winning_option": 1, "reason": "the official result was misread" });
    let (status, corrected) = w.post(&admin, &path, &body).await;
    assert_eq!(status, 201, "{corrected}");
    let mut expected = vec![(b.user_id, 250), (c.user_id, 750)];
    expected.sort();
    assert_eq!(live_credits(&pool).await, expected);
    assert_eq!(
        (corrected["revoked"].as_str(), corrected["minted"].as_str()),
        (Some("1000"), Some("1000")),
        "{corrected}"
    );
    let (_, g) = w.get(Some(&a), &game.path("")).await;
    assert_eq!(g["my_position"]["status"], "lost", "{g}");
    assert_eq!(g["my_position"]["credit_wei"], json!(null), "{g}");
    let (_, wallet) = w.get(Some(&a), "/v1/me/wallet").await;
    assert_eq!(wallet["credits"]["total"]["wei"], "0", "{wallet}");
    w.assert_books_exact().await;

    // Corrected back, still within the window: a again, and only a.
    let back = json!({ "winning_option": 0, "reason": "the first reading was right after all" });
    w.advance(Duration::minutes(60));
    let (status, corrected) = w.post(&admin, &path, &back).await;
    assert_eq!(status, 201, "{corrected}");
    assert_eq!(live_credits(&pool).await, vec![(a.user_id, 1000)]);
    let (_, g) = w.get(Some(&a), &game.path("")).await;
    assert_eq!(g["my_position"]["status"], "won", "{g}");
    assert_eq!(g["my_position"]["credit_wei"], "1000", "{g}");
    let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM credits.credits")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        issued, 4,
        "every decision's credits are kept, the replaced ones revoked"
    );
    let total: Wei = sqlx::query_scalar(
        "SELECT balance FROM credits.accounts WHERE kind = 'user' AND reference_id = $1",
    )
    .bind(a.user_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(total, wei(1000));
    w.assert_books_exact().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_after_the_dispute_window_a_correction_is_refused(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let admin = w.admin().await;
    let (a, b) = (w.user("a@example.org").await, w.user("b@example.org").await);
    set_budget(&pool, wei(24_000)).await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    game.stake(&w.app, &a, 0, 100).await;
    game.stake(&w.app, &b, 1, 100).await;
    game.close(&w).await;
    assert_eq!(game.settle(&w.app, &resolver, 0).await.0, 201);
    w.advance(Duration::hours(2));
    let body = json!({ "winning_option": 1, "reason": "the official result was misread" });
    let (status, p) = w.post(&admin, &game.path("/corrections"), &body).await;
    assert_eq!((status, problem(&p)), (409, "dispute-window-closed"), "{p}");
    assert_eq!(live_credits(&pool).await, vec![(a.user_id, 1000)]);
    let corrections: i64 = sqlx::query_scalar("SELECT count(*) FROM predictions.corrections")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(corrections, 0);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_m8_a_correction_is_refused_whole_once_a_wave_carries_part_of_a_credit(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let admin = w.admin().await;
    let (a, b, c) = (
        w.user("a@example.org").await,
        w.user("b@example.org").await,
        w.user("c@example.org").await,
    );
    set_budget(&pool, wei(24_000)).await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    game.stake(&w.app, &a, 0, 100).await;
    game.stake(&w.app, &b, 0, 300).await;
    game.stake(&w.app, &c, 1, 100).await;
    game.close(&w).await;
    assert_eq!(game.settle(&w.app, &resolver, 0).await.0, 201);
    let before = live_credits(&pool).await;
    // A relayer whose chain clock ran ahead of the API's put 100 wei of b's 750 in a wave (M8:
    // the credit stays pending, split); the window is still open on the API's clock.
    let b_credit: Uuid = sqlx::query_scalar("SELECT id FROM credits.credits WHERE user_id = $1")
        .bind(b.user_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget, root,
                                    allocation_hash, leaf_count, credit_count)
         VALUES (0, CURRENT_DATE, 31337, decode(repeat('ee', 20), 'hex'), 'built', 100, 100, 100, 100,
                 decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), 1, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO relayer.wave_credits (credit_id, day, address, amount)
         VALUES ($1, 0, decode(repeat('22', 20), 'hex'), 100)",
    )
    .bind(b_credit)
    .execute(&pool)
    .await
    .unwrap();

    w.advance(Duration::minutes(30));
    let body = json!({ "winning_option": 1, "reason": "the official result was misread" });
    let (status, p) = w.post(&admin, &game.path("/corrections"), &body).await;
    assert_eq!((status, problem(&p)), (409, "dispute-window-closed"), "{p}");
    // Nothing of it stays: no credit revoked (a's, had it gone first, is live again), none of
    // the corrected outcome, no correction row.
    assert_eq!(live_credits(&pool).await, before);
    let (revoked, corrections): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM credits.credits WHERE state = 'revoked'),
                (SELECT count(*) FROM predictions.corrections)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((revoked, corrections), (0, 0));
    w.assert_books_exact().await;
}
