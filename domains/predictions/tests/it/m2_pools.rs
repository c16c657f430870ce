use chrono::{DateTime, Duration, Utc};
use posmul_core::money::Wei;
use posmul_predictions::{budget, games, pools};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{Game, GameBuilder, World, set_budget, settings, start, wei};

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m2_an_hour_is_split_by_games_times_multiplier_computed_once_and_immutable(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let admin = w.admin().await;
    set_budget(&pool, wei(24_000_007)).await;
    let politics = "/v1/predictions/category-multipliers/politics";
    let (status, _) = w.put(&admin, politics, &json!({ "multiplier": "2" })).await;
    assert_eq!(status, 204);
    let (status, _) = w
        .put(&w.moderator, politics, &json!({ "multiplier": "3" }))
        .await;
    assert_eq!(status, 403, "only admins set multipliers");

    // Ten to the hour: three games that run across the hour ...
    let hour = pools::hour_of(w.now().await) + Duration::hours(1);
    let s1 = w.game(GameBuilder::new("sports", "Sports one")).await;
    let s2 = w.game(GameBuilder::new("sports", "Sports two")).await;
    let p1 = w.game(GameBuilder::new("politics", "Politics one")).await;
    // ... and two that do not: created before the hour but starting after it (CREATED at H),
    // and ended before it.
    w.game(
        GameBuilder::new("sports", "Starts after the hour")
            .with("starts_at", json!(hour + Duration::minutes(1))),
    )
    .await;
    w.game(
        GameBuilder::new("sports", "Ended before the hour")
            .with("ends_at", json!(hour - Duration::minutes(1))),
    )
    .await;
    // The hour passes; a game created after it takes no share.
    w.advance(Duration::minutes(15));
    w.game(GameBuilder::new("politics", "Created after the hour"))
        .await;

    // Whether this call or the app's scheduler computes the hour, the qualifying set is fixed
    // by the games' times: the same row.
    let (row, _) = pools::compute_hour(&pool, hour, &settings()).await.unwrap();
    assert_eq!(row.amount, wei(1_000_000), "B/24");
    assert_eq!(
        row.qualifying_games, 3,
        "only ACTIVE games created before the hour qualify"
    );
    let allocations: Vec<(Uuid, Wei)> = sqlx::query_as(
        "SELECT game_id, amount FROM predictions.hourly_allocations WHERE hour = $1",
    )
    .bind(hour)
    .fetch_all(&pool)
    .await
    .unwrap();
    let of = |g: Game| {
        allocations
            .iter()
            .find(|(id, _)| *id == g.id)
            .map(|(_, a)| a.as_u256().to::<u64>())
    };
    // sports 2 games × 1, politics 1 game × 2: half each; sports halves split equally.
    assert_eq!(
        (of(s1), of(s2), of(p1)),
        (Some(250_000), Some(250_000), Some(500_000))
    );

    let (status, shown) = w
        .get(
            None,
            &format!(
                "/v1/predictions/pools/{}",
                hour.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["allocated"], "1000000");
    assert_eq!(shown["allocations"].as_array().map(Vec::len), Some(3));
    let (_, again) = pools::compute_hour(&pool, hour, &settings()).await.unwrap();
    assert!(!again, "an hour is computed once");
    let rewrite = sqlx::query("UPDATE predictions.hourly_allocations SET amount = 0")
        .execute(&pool)
        .await;
    assert!(rewrite.is_err(), "allocations are immutable");
    let twice = sqlx::query(
        "INSERT INTO predictions.hourly_pools (hour, day, budget, amount, allocated, unallocated, qualifying_games)
         VALUES ($1, $2, 0, 0, 0, 0, 0)",
    )
    .bind(hour)
    .bind(hour.date_naive())
    .execute(&pool)
    .await;
    assert!(twice.is_err(), "unique (hour)");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m2_missed_hours_are_caught_up_and_the_day_sums_to_the_budget(pool: PgPool) {
    // No API here: the pool jobs are called at the times the test names.
    let creator = Uuid::now_v7();
    sqlx::query("INSERT INTO auth.users (id, email) VALUES ($1, 'creator@example.org')")
        .bind(creator)
        .execute(&pool)
        .await
        .unwrap();
    set_budget(&pool, wei(1_000_003)).await;
    let day_start: DateTime<Utc> = start() - Duration::hours(10) - Duration::minutes(50);
    // Created half an hour before the day, started five minutes before that, running past its
    // end: it qualifies for each of the day's hours and not for the hour before.
    let created = day_start - Duration::minutes(30);
    let input: games::GameInput = serde_json::from_value(
        GameBuilder::new("invest", "KOSPI above 3000")
            .with("ends_at", json!(day_start + Duration::hours(25)))
            .with("settles_at", json!(day_start + Duration::hours(26)))
            .body_at(created),
    )
    .unwrap();
    let game = games::create(
        &pool,
        created,
        creator,
        games::Proposer::Staff,
        input,
        &settings(),
    )
    .await
    .unwrap()
    .game
    .id;
    // The system computed the hour before that day, then was down until its last hour.
    pools::compute_hour(&pool, day_start - Duration::hours(1), &settings())
        .await
        .unwrap();
    let until = day_start + Duration::hours(23) + Duration::minutes(30);
    assert_eq!(
        pools::catch_up(&pool, until, &settings()).await.unwrap(),
        24,
        "the missed hours are computed"
    );
    assert_eq!(
        pools::catch_up(&pool, until, &settings()).await.unwrap(),
        0,
        "and only once"
    );
    let (sum, hours): (Wei, i64) = sqlx::query_as(
        "SELECT SUM(allocated), count(*) FROM predictions.hourly_pools WHERE day = $1",
    )
    .bind(day_start.date_naive())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(hours, 24);
    assert_eq!(sum, wei(1_000_003), "24 pools sum to B(d)");
    let game_pool: Wei = sqlx::query_scalar(
        "SELECT SUM(amount) FROM predictions.hourly_allocations WHERE game_id = $1",
    )
    .bind(game)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        game_pool, sum,
        "the only qualifying game received every hour's pool"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m1_m2_the_daily_budget_is_capped_by_the_on_chain_cap(pool: PgPool) {
    set_budget(&pool, Wei::from_pmc(1000)).await;
    let mut conn = pool.acquire().await.unwrap();
    let today = start().date_naive();
    let b = budget::daily_budget(&mut conn, today).await.unwrap();
    assert_eq!(b, Wei::from_pmc(1000));
    sqlx::query(
        "INSERT INTO chain.wave_cap_changes (chain_id, block_number, block_hash, tx_hash, log_index, finalized,
             block_time, previous_cap, new_cap, effective_from_day)
         VALUES (31337, 1, '\\x00', '\\x01', 0, true, now(), 0, $1, 0)",
    )
    .bind(Wei::from_pmc(10))
    .execute(&mut *conn)
    .await
    .unwrap();
    let b = budget::daily_budget(&mut conn, today).await.unwrap();
    assert_eq!(b, Wei::from_pmc(10));
}
