use posmul_economy::ledger::Account;
use posmul_predictions::scheduler;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{GameBuilder, World, problem};

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p3_reads_show_the_status_the_times_imply_and_the_scheduler_stores_it(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let game = w
        .game(GameBuilder::new("politics", "Budget vote passes").starting_later())
        .await;
    let status = || async { w.get(None, &game.path("")).await.1["status"].clone() };
    assert_eq!(status().await, "created");

    // The times say ACTIVE; the stored status still says created: reads show ACTIVE anyway.
    game.start(&w).await;
    assert_eq!(status().await, "active");
    game.close(&w).await;
    assert_eq!(status().await, "closed");

    scheduler::transitions(&pool, w.now().await).await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT status FROM predictions.games WHERE id = $1")
        .bind(game.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, "closed");
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM predictions.game_events
         WHERE game_id = $1 AND kind = 'status' AND payload->>'status' = 'closed'",
    )
    .bind(game.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 1, "the change to closed is recorded once");
    let count = || {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM predictions.game_events WHERE game_id = $1 AND kind = 'status'",
        )
        .bind(game.id)
        .fetch_one(&pool)
    };
    let before = count().await.unwrap();
    assert_eq!(
        scheduler::transitions(&pool, w.now().await).await.unwrap(),
        0
    );
    assert_eq!(
        count().await.unwrap(),
        before,
        "a tick with nothing to change records nothing"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p3_only_one_scheduler_instance_is_active_at_a_time(pool: PgPool) {
    let first = scheduler::become_active(&pool).await.unwrap();
    assert!(first.is_some(), "the first instance takes the lock");
    assert!(
        scheduler::become_active(&pool).await.unwrap().is_none(),
        "a second instance is a standby while the first holds the lock"
    );
    // The active instance's session ends: a standby takes over.
    first.unwrap().release().await.unwrap();
    assert!(scheduler::become_active(&pool).await.unwrap().is_some());
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p3_e2_cancelling_refunds_every_stake(pool: PgPool) {
    let w = World::new(pool).await;
    let resolver = w.resolver().await;
    let (a, b) = (w.user("a@example.org").await, w.user("b@example.org").await);
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    game.stake(&w.app, &a, 0, 100).await;
    game.stake(&w.app, &b, 1, 250).await;
    let cancel = game.path("/cancel");
    assert_eq!(w.post(&w.moderator, &cancel, &json!({})).await.0, 403);
    let (status, c) = w.post(&resolver, &cancel, &json!({})).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["refunded"], 350);
    assert_eq!(w.balance(Account::user(a.user_id)).await, 1000);
    assert_eq!(w.balance(Account::user(b.user_id)).await, 1000);
    assert_eq!(w.balance(Account::game_escrow(game.id)).await, 0);
    let (_, g) = w.get(None, &game.path("")).await;
    assert_eq!(g["status"], "cancelled");
    assert_eq!(
        problem(&game.stake(&w.app, &a, 0, 100).await.1),
        "game-not-active"
    );
    let (status, p) = game.settle(&w.app, &resolver, 0).await;
    assert_eq!(
        (status, problem(&p)),
        (409, "game-cancelled"),
        "a cancelled game is final"
    );
    w.assert_books_exact().await;
}
