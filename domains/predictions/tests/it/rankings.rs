use posmul_api_kit::auth::extract::RequestMeta;
use posmul_predictions::settlement;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{GameBuilder, World, settings};

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p5_accuracy_is_kept_per_user_and_category_and_leaderboards_refresh_on_settlement(
    pool: PgPool,
) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let (a, b) = (w.user("a@example.org").await, w.user("b@example.org").await);
    let board = "/v1/predictions/leaderboard?min_participations=2";
    let (_, empty) = w.get(None, board).await;
    assert_eq!(empty["entries"].as_array().map(Vec::len), Some(0));

    for (i, category) in ["sports", "politics"].iter().enumerate() {
        let game = w
            .game(GameBuilder::new(category, &format!("Game number {i}")))
            .await;
        game.stake(&w.app, &a, 0, 50).await;
        game.stake(&w.app, &b, i16::try_from(i).unwrap(), 50).await;
        game.close(&w).await;
        assert_eq!(game.settle(&w.app, &resolver, 0).await.0, 201);
    }
    let (_, stats) = w.get(Some(&b), "/v1/predictions/me/stats").await;
    assert_eq!(stats["overall"]["participations"], 2);
    assert_eq!(stats["overall"]["wins"], 1);
    assert_eq!(stats["overall"]["accuracy"], 0.5);
    let by_cat = stats["by_category"].as_array().unwrap();
    let politics = by_cat.iter().find(|c| c["category"] == "politics").unwrap();
    assert_eq!(
        (politics["participations"].clone(), politics["wins"].clone()),
        (json!(1), json!(0))
    );

    // The empty board was cached; the settlements invalidated it.
    let (_, ranked) = w.get(None, board).await;
    let entries = ranked["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["user_id"], a.user_id.to_string());
    assert_eq!(entries[0]["accuracy"], 1.0);
    let (_, strict) = w
        .get(None, "/v1/predictions/leaderboard?min_participations=3")
        .await;
    assert_eq!(
        strict["entries"].as_array().map(Vec::len),
        Some(0),
        "minimum participation"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn leaderboards_are_cached_in_redis_when_configured_and_a_settlement_invalidates_them(
    pool: PgPool,
) {
    let prefix = format!("test:{}:", Uuid::new_v4());
    let w = World::with_config(pool.clone(), |c| {
        c.redis_url = Some("redis://127.0.0.1:6379".into());
        c.redis_key_prefix = prefix.clone();
    })
    .await;
    let resolver = w.resolver().await;
    let a = w.user("a@example.org").await;
    let board = "/v1/predictions/leaderboard?min_participations=1&by=pmc_earned";
    let (status, empty) = w.get(None, board).await;
    assert_eq!(status, 200);
    assert_eq!(empty["entries"].as_array().map(Vec::len), Some(0));
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}predictions:leaderboard:*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        keys.len(),
        1,
        "the board is cached in Redis under the prefix: {keys:?}"
    );

    // A settlement that bypasses the HTTP route does not invalidate: the cached board is served.
    let first = w.game(GameBuilder::new("sports", "First game")).await;
    first.stake(&w.app, &a, 0, 50).await;
    first.close(&w).await;
    settlement::settle(
        &pool,
        w.now().await,
        resolver.user_id,
        first.id,
        0,
        &settings(),
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let (_, cached) = w.get(None, board).await;
    assert_eq!(
        cached["entries"].as_array().map(Vec::len),
        Some(0),
        "served from the cache"
    );

    // A settlement through the API invalidates every cached board.
    let second = w.game(GameBuilder::new("sports", "Second game")).await;
    second.stake(&w.app, &a, 0, 50).await;
    second.close(&w).await;
    assert_eq!(second.settle(&w.app, &resolver, 0).await.0, 201);
    let (_, fresh) = w.get(None, board).await;
    assert_eq!(fresh["entries"][0]["user_id"], a.user_id.to_string());
    assert_eq!(fresh["entries"][0]["participations"], 2);
    let _: () = redis::cmd("DEL")
        .arg(
            redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async::<Vec<String>>(&mut redis)
                .await
                .unwrap(),
        )
        .query_async(&mut redis)
        .await
        .unwrap_or(());
}
