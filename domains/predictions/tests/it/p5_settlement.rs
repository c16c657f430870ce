use posmul_core::money::Wei;
use posmul_economy::ledger::Account;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{GameBuilder, World, problem, set_budget, wei};

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p5_winners_share_the_pool_by_stake_every_stake_is_burned_and_credits_go_to_the_days_wave(
    pool: PgPool,
) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let (a, b, c) = (
        w.user("a@example.org").await,
        w.user("b@example.org").await,
        w.user("c@example.org").await,
    );
    set_budget(&pool, wei(24_000)).await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    game.stake(&w.app, &a, 0, 100).await;
    game.stake(&w.app, &b, 0, 200).await;
    game.stake(&w.app, &c, 1, 300).await;
    game.close(&w).await;

    let (status, s) = game.settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["pool"], "1000", "the one hour the game ran across: B/24");
    assert_eq!(s["winners"], 2);
    assert_eq!(s["burned_stakes"], 600);
    assert_eq!(s["minted"], s["pool"]);
    let credited: Vec<(Uuid, Wei, chrono::NaiveDate)> = sqlx::query_as(
        "SELECT user_id, amount, day FROM credits.credits WHERE source = 'prediction_win' ORDER BY amount",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // 1000 × 100/300 = 333.3 → 333, 1000 × 200/300 = 666.6 → 666; the dust wei goes to the
    // larger remainder (b's .6).
    assert_eq!(credited.len(), 2);
    assert_eq!(
        (credited[0].0, credited[0].1.as_u256().to::<u64>()),
        (a.user_id, 333)
    );
    assert_eq!(
        (credited[1].0, credited[1].1.as_u256().to::<u64>()),
        (b.user_id, 667)
    );
    assert_eq!(
        credited[0].2,
        w.now().await.date_naive(),
        "credits belong to the settlement day's wave"
    );
    assert_eq!(w.balance(Account::game_escrow(game.id)).await, 0);
    assert_eq!(w.balance(Account::BURN).await, 600);
    assert_eq!(
        w.balance(Account::user(c.user_id)).await,
        700,
        "a losing stake is consumed"
    );
    w.assert_books_exact().await;

    let (_, g) = w.get(Some(&b), &game.path("")).await;
    assert_eq!(g["status"], "settled");
    assert_eq!(g["my_position"]["status"], "won");
    assert_eq!(g["my_position"]["credit_wei"], "667");
    let (status, recorded) = w.get(None, &game.path("/settlement")).await;
    assert_eq!(status, 200);
    assert_eq!(recorded["minted"], "1000");
    assert_eq!(
        recorded["minted_pmc"], "0.000000000000001",
        "wei and PMC side by side"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p5_with_no_winner_the_pool_is_not_minted(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let a = w.user("a@example.org").await;
    set_budget(&pool, wei(24_000)).await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    game.stake(&w.app, &a, 1, 100).await;
    game.close(&w).await;
    let (status, s) = game.settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201);
    assert_eq!(s["minted"], "0");
    assert_ne!(s["pool"], "0");
    let credits: i64 = sqlx::query_scalar("SELECT count(*) FROM credits.credits")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(credits, 0);
    assert_eq!(
        w.balance(Account::BURN).await,
        100,
        "the stakes are still consumed"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p5_only_admins_or_resolvers_settle_a_closed_game_exactly_once(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let admin = w.admin().await;
    let citizen = w.user("citizen@example.org").await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;

    let (status, p) = game.settle(&w.app, &resolver, 1).await;
    assert_eq!((status, problem(&p)), (409, "game-not-closed"));
    game.close(&w).await;
    assert_eq!(
        game.settle(&w.app, &w.moderator, 1).await.0,
        403,
        "moderators cannot settle"
    );
    assert_eq!(game.settle(&w.app, &citizen, 1).await.0, 403);
    let (status, p) = game.settle(&w.app, &resolver, 7).await;
    assert_eq!((status, problem(&p)), (422, "option-not-found"));
    assert_eq!(game.settle(&w.app, &admin, 1).await.0, 201);
    let (status, p) = game.settle(&w.app, &resolver, 1).await;
    assert_eq!((status, problem(&p)), (409, "game-already-settled"));

    // A settled game is immutable, even to a direct write.
    let write = sqlx::query("UPDATE predictions.games SET title = 'rewritten title' WHERE id = $1")
        .bind(game.id)
        .execute(&pool)
        .await;
    assert!(write.is_err(), "a settled game cannot change");
    let (status, _) = w.post(&resolver, &game.path("/cancel"), &json!({})).await;
    assert_eq!(status, 409, "a settled game cannot be cancelled");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p5_a_wrong_settlement_is_corrected_by_an_audited_admin_action(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let admin = w.admin().await;
    let (a, b) = (w.user("a@example.org").await, w.user("b@example.org").await);
    set_budget(&pool, wei(24_000)).await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    game.stake(&w.app, &a, 0, 100).await;
    game.stake(&w.app, &b, 1, 100).await;
    game.close(&w).await;
    game.settle(&w.app, &resolver, 0).await;

    let body = json!({ "winning_option": 1, "reason": "the official result was misread" });
    let open_game = w.game(GameBuilder::new("sports", "Still open")).await;
    let (status, p) = w.post(&admin, &open_game.path("/corrections"), &body).await;
    assert_eq!((status, problem(&p)), (409, "game-not-settled"));
    let path = game.path("/corrections");
    assert_eq!(
        w.post(&resolver, &path, &body).await.0,
        403,
        "only admins correct"
    );
    let (status, c) = w.post(&admin, &path, &body).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["previous_option"], 0);
    let audited: (Uuid, String) = sqlx::query_as(
        "SELECT corrected_by, reason FROM predictions.corrections WHERE game_id = $1",
    )
    .bind(game.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited.0, admin.user_id);
    let logged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.audit_log WHERE action = 'prediction_settlement_corrected'
           AND actor_user_id = $1 AND details->>'game_id' = $2",
    )
    .bind(admin.user_id)
    .bind(game.id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(logged, 1, "the correction is in the audit log");
    let (_, g) = w.get(Some(&b), &game.path("")).await;
    assert_eq!(g["winning_option"], 1);
    assert_eq!(g["my_position"]["status"], "won");
    let b_credits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM credits.credits WHERE user_id = $1")
            .bind(b.user_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(b_credits, 1, "the corrected winner is credited");
    w.assert_books_exact().await;

    // Corrected back within the dispute window (P6): b's credit is revoked and a is credited
    // anew, so the live credits are one outcome's, never both.
    let back = json!({ "winning_option": 0, "reason": "the first reading was right after all" });
    let (status, c) = w.post(&admin, &path, &back).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(
        (c["minted"].as_str(), c["revoked"].as_str()),
        (Some("1000"), Some("1000"))
    );
    let (_, g) = w.get(Some(&a), &game.path("")).await;
    assert_eq!(g["my_position"]["status"], "won");
    let (_, g) = w.get(Some(&b), &game.path("")).await;
    assert_eq!(g["my_position"]["status"], "lost");
    let live: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT user_id, amount::TEXT FROM credits.credits WHERE state <> 'revoked'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(live, vec![(a.user_id, "1000".to_owned())]);
    w.assert_books_exact().await;
}
