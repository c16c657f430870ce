//! The hourly pools cannot be taken by spam (M2, P2, P6): a proposal takes part only once a
//! moderator approved it, qualifies in the end only with enough distinct stakers, weighs half
//! an official game by default, and a citizen has few proposals open; what a game received and
//! pays no one returns to the later hours of the day.

use chrono::Duration;
use futures::future::join_all;
use posmul_predictions::pools;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{
    GameBuilder, World, allocations, audited, pool_of, problem, set_budget, settings, wei,
};

/// A proposal (P1): a citizen's game in USER_PROPOSED.
fn proposal(title: &str) -> GameBuilder {
    GameBuilder::new("user_proposed", title)
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p2_a_citizen_has_at_most_three_proposals_open(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let citizen = w.user("proposer@example.org").await;
    let mut open = Vec::new();
    for n in 0..3 {
        open.push(
            w.create(proposal(&format!("Proposal number {n}")), &citizen)
                .await,
        );
    }
    let (status, p) = w
        .post(
            &citizen,
            "/v1/predictions/games",
            &w.body(&proposal("One proposal too many")).await,
        )
        .await;
    assert_eq!(
        (status, problem(&p)),
        (409, "too-many-open-proposals"),
        "{p}"
    );
    // Staff games are official, not proposals: no limit.
    for n in 0..4 {
        w.game(GameBuilder::new("sports", &format!("Official {n}")))
            .await;
    }

    // A cancelled proposal frees its place ...
    let (status, _) = w
        .post(&resolver, &open[0].path("/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200);
    w.create(proposal("Proposal after a cancellation"), &citizen)
        .await;
    // ... and so does one whose end has passed (CLOSED: no stake changes it any more).
    w.advance(Duration::hours(2));
    w.create(proposal("Proposal after the others ended"), &citizen)
        .await;

    // Concurrent proposals never pass the limit: of ten at once, three are taken.
    let other = w.user("eager@example.org").await;
    let mut bodies = Vec::new();
    for n in 0..10 {
        bodies.push(w.body(&proposal(&format!("Concurrent proposal {n}"))).await);
    }
    let statuses = join_all(
        bodies
            .iter()
            .map(|b| w.post(&other, "/v1/predictions/games", b)),
    )
    .await;
    let created = statuses.iter().filter(|(s, _)| *s == 201).count();
    let refused = statuses
        .iter()
        .filter(|(s, p)| *s == 409 && problem(p) == "too-many-open-proposals")
        .count();
    assert_eq!((created, refused), (3, 7), "{statuses:?}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m2_p6_proposals_nobody_approved_draw_nothing_from_the_hourly_pool(pool: PgPool) {
    // The attack: a citizen proposes long games capped at one participant, stakes 1 PMP on
    // each, and would draw most of every hourly pool.
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let honest = w.user("honest@example.org").await;
    let spammer = w.user("spammer@example.org").await;
    set_budget(&pool, wei(24_000)).await;
    let official = w.game(GameBuilder::new("sports", "Derby winner")).await;
    official.stake(&w.app, &honest, 0, 100).await;
    let mut spam = Vec::new();
    for n in 0..3 {
        let g = w
            .create(
                proposal(&format!("Spam proposal {n} of many"))
                    .with("min_stake", json!(1))
                    .with("max_participants", json!(1)),
                &spammer,
            )
            .await;
        let (status, s) = g.stake(&w.app, &spammer, 0, 1).await;
        assert_eq!(status, 201, "{s}");
        spam.push(g);
    }
    let hour = pools::hour_of(w.now().await) + Duration::hours(1);
    w.advance(Duration::minutes(15));
    pools::catch_up(&pool, w.now().await, &settings())
        .await
        .unwrap();

    let a = allocations(&pool, hour).await;
    assert_eq!(
        a.get(&official.id),
        Some(&1000),
        "the official game takes the whole pool: {a:?}"
    );
    for g in &spam {
        assert_eq!(a.get(&g.id), None, "an unapproved proposal takes nothing");
    }

    // Settled, a spam game has nothing to pay.
    spam[0].close(&w).await;
    let (status, s) = spam[0].settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(
        (s["pool"].as_str(), s["minted"].as_str()),
        (Some("0"), Some("0"))
    );
    let credits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM credits.credits WHERE user_id = $1")
            .bind(spammer.user_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(credits, 0);
    w.assert_books_exact().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_m2_an_approved_proposal_with_five_stakers_qualifies_at_half_weight(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let proposer = w.user("proposer@example.org").await;
    let mut stakers = Vec::new();
    for n in 0..5 {
        stakers.push(w.user(&format!("staker{n}@example.org")).await);
    }
    set_budget(&pool, wei(24_000_000)).await;
    let (status, m) = w.get(None, "/v1/predictions/category-multipliers").await;
    assert_eq!(status, 200);
    assert_eq!(
        m["user_proposed"], "0.500000",
        "the default USER_PROPOSED multiplier: {m}"
    );
    assert_eq!(m["sports"], "1.000000", "{m}");

    let official = w.game(GameBuilder::new("sports", "Derby winner")).await;
    official.stake(&w.app, &stakers[0], 0, 100).await;
    let game = w
        .create(proposal("Will the library open on Sundays?"), &proposer)
        .await;

    // Only a moderator (or an admin) approves, once, and it is audited.
    let approve = game.path("/approval");
    assert_eq!(w.post(&proposer, &approve, &json!({})).await.0, 403);
    assert_eq!(w.post(&resolver, &approve, &json!({})).await.0, 403);
    let (status, a) = w.post(&w.moderator, &approve, &json!({})).await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["approved_by"], w.moderator.user_id.to_string(), "{a}");
    let (status, p) = w.post(&w.moderator, &approve, &json!({})).await;
    assert_eq!((status, problem(&p)), (409, "game-already-approved"), "{p}");
    assert_eq!(
        audited(
            &pool,
            "prediction_game_approved",
            w.moderator.user_id,
            game.id
        )
        .await,
        1
    );
    let (_, shown) = w.get(None, &game.path("")).await;
    assert!(shown["approved_at"].is_string(), "{shown}");

    for s in &stakers {
        let (status, b) = game.stake(&w.app, s, 0, 10).await;
        assert_eq!(status, 201, "{b}");
    }
    let hour = pools::hour_of(w.now().await) + Duration::hours(1);
    w.advance(Duration::minutes(15));
    pools::catch_up(&pool, w.now().await, &settings())
        .await
        .unwrap();
    // Weights: sports 1 game × 1, user_proposed 1 game × 0.5 → 2/3 and 1/3 of 1,000,000 wei;
    // the one wei left goes to the larger remainder (sports).
    let a = allocations(&pool, hour).await;
    assert_eq!(
        (a.get(&official.id), a.get(&game.id)),
        (Some(&666_667), Some(&333_333)),
        "{a:?}"
    );

    // Five distinct stakers at its end: it qualified, and its winners share its pool.
    game.close(&w).await;
    let (status, s) = game.settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(
        (s["pool"].as_str(), s["minted"].as_str()),
        (Some("333333"), Some("333333"))
    );
    w.assert_books_exact().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m2_the_allocations_of_a_cancelled_game_return_to_the_later_hours_of_its_day(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    set_budget(&pool, wei(24_000_000)).await;
    // Both run from 10:45 to 15:50 of the clock's day.
    let until = w.now().await + Duration::hours(5);
    let long = |category, title| {
        GameBuilder::new(category, title)
            .with("ends_at", json!(until))
            .with("settles_at", json!(until + Duration::hours(1)))
    };
    let kept = w.game(long("sports", "Kept all day")).await;
    let cancelled = w.game(long("politics", "Cancelled at half past")).await;
    let eleven = pools::hour_of(w.now().await) + Duration::hours(1);
    w.advance(Duration::minutes(40));
    let (status, c) = w
        .post(&resolver, &cancelled.path("/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200, "{c}");

    // At 11:00 the two shared the pool; at 11:30 the cancelled game's 500,000 wei return to
    // the 12 hours left in the day (12:00-23:00): 41,666 each, the last also the 8 left over.
    w.advance(Duration::hours(12));
    pools::catch_up(&pool, w.now().await, &settings())
        .await
        .unwrap();
    let a = allocations(&pool, eleven).await;
    assert_eq!(
        (a.get(&kept.id), a.get(&cancelled.id)),
        (Some(&500_000), Some(&500_000))
    );
    let twelve = eleven + Duration::hours(1);
    assert_eq!(pool_of(&pool, twelve).await, (1_041_666, 1_041_666));
    assert_eq!(
        allocations(&pool, twelve).await.get(&kept.id),
        Some(&1_041_666),
        "the kept game takes the hour and what returned to it"
    );
    let last = eleven + Duration::hours(12);
    assert_eq!(
        pool_of(&pool, last).await,
        (1_041_674, 0),
        "23:00: nothing qualifies any more, so it is not minted"
    );
    let (day_amount, returned): (posmul_core::money::Wei, posmul_core::money::Wei) =
        sqlx::query_as(
            "SELECT SUM(amount), SUM(returned) FROM predictions.hourly_pools WHERE day = $1 AND hour >= $2",
        )
        .bind(eleven.date_naive())
        .bind(eleven)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(returned, wei(500_000), "every wei released returns once");
    assert_eq!(
        day_amount,
        wei(13 * 1_000_000 + 500_000),
        "11:00-23:00: their share of B(d), and the release"
    );

    // The cancelled game shows no pool; the kept one settles with 11:00 and 12:00-15:00.
    let (_, g) = w.get(None, &cancelled.path("")).await;
    assert_eq!(g["pool_wei"], "0", "{g}");
    let (status, s) = kept.settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["pool"], (500_000 + 4 * 1_041_666).to_string(), "{s}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m2_p6_the_allocations_of_a_proposal_that_never_qualifies_return_to_the_later_hours(
    pool: PgPool,
) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let proposer = w.user("proposer@example.org").await;
    let lonely = w.user("lonely@example.org").await;
    set_budget(&pool, wei(24_000_000)).await;
    let until = w.now().await + Duration::hours(5);
    let official = w
        .game(
            GameBuilder::new("sports", "Runs all afternoon")
                .with("ends_at", json!(until))
                .with("settles_at", json!(until + Duration::hours(1))),
        )
        .await;
    // Approved, but staked by one citizen only: it takes part provisionally at 11:00 and
    // does not qualify at its end (11:50), with fewer than five distinct stakers.
    let game = w
        .create(proposal("Will the bridge reopen in May?"), &proposer)
        .await;
    let (status, a) = w
        .post(&w.moderator, &game.path("/approval"), &json!({}))
        .await;
    assert_eq!(status, 201, "{a}");
    game.stake(&w.app, &lonely, 0, 10).await;
    let eleven = pools::hour_of(w.now().await) + Duration::hours(1);
    w.advance(Duration::hours(13));
    pools::catch_up(&pool, w.now().await, &settings())
        .await
        .unwrap();

    let a = allocations(&pool, eleven).await;
    assert_eq!(
        (a.get(&official.id), a.get(&game.id)),
        (Some(&666_667), Some(&333_333))
    );
    // 333,333 wei released at 11:50 over the 12 hours left: 27,777 each, 23:00 also the 9 left.
    let twelve = eleven + Duration::hours(1);
    assert_eq!(pool_of(&pool, twelve).await, (1_027_777, 1_027_777));
    assert_eq!(
        pool_of(&pool, eleven + Duration::hours(12)).await,
        (1_027_786, 0)
    );
    let (status, s) = game.settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(
        (s["pool"].as_str(), s["minted"].as_str()),
        (Some("0"), Some("0")),
        "what it received went back to the day's budget: {s}"
    );
    let (status, s) = official.settle(&w.app, &resolver, 0).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["pool"], (666_667 + 4 * 1_027_777).to_string(), "{s}");
    w.assert_books_exact().await;
}
