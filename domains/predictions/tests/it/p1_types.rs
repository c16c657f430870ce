use serde_json::json;
use sqlx::PgPool;

use crate::support::{GameBuilder, World, problem};

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p1_staff_create_official_games_and_citizens_propose_user_games(pool: PgPool) {
    let w = World::new(pool).await;
    let citizen = w.user("citizen@example.org").await;
    let games = "/v1/predictions/games";

    let (status, g) = w
        .post(
            &w.moderator,
            games,
            &w.body(&GameBuilder::new("sports", "Derby winner")).await,
        )
        .await;
    assert_eq!(status, 201, "{g}");
    assert_eq!(g["official"], true);
    assert_eq!(g["status"], "active");
    assert_eq!(g["options"].as_array().map(Vec::len), Some(2));

    let (status, p) = w
        .post(
            &citizen,
            games,
            &w.body(&GameBuilder::new("sports", "Derby winner today"))
                .await,
        )
        .await;
    assert_eq!(
        (status, problem(&p)),
        (403, "forbidden"),
        "citizens cannot create official games"
    );
    let proposal = GameBuilder::new("user_proposed", "Will it rain on Sunday?");
    let (status, g) = w.post(&citizen, games, &w.body(&proposal).await).await;
    assert_eq!(status, 201, "{g}");
    assert_eq!(g["official"], false);

    let wdl = GameBuilder::new("sports", "Derby result")
        .with("game_type", json!("win_draw_lose"))
        .with("options", json!(["Home", "Draw", "Away"]));
    let (status, _) = w.post(&w.moderator, games, &w.body(&wdl).await).await;
    assert_eq!(status, 201);
    let ranking = GameBuilder::new("entertainment", "Who wins the contest?")
        .with("game_type", json!("ranking"))
        .with("options", json!(["A", "B", "C", "D", "E"]));
    let (status, _) = w.post(&w.moderator, games, &w.body(&ranking).await).await;
    assert_eq!(status, 201);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p1_games_are_listed_by_category_status_and_text_with_cursor_pages(pool: PgPool) {
    let w = World::new(pool).await;
    for i in 0..5 {
        w.game(GameBuilder::new("sports", &format!("Football match {i}")))
            .await;
    }
    w.game(GameBuilder::new("politics", "Election turnout above 70%"))
        .await;

    let (_, page) = w
        .get(None, "/v1/predictions/games?category=sports&limit=2")
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let mut seen = 2;
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (_, p) = w
            .get(
                None,
                &format!("/v1/predictions/games?category=sports&limit=2&cursor={c}"),
            )
            .await;
        seen += p["items"].as_array().map_or(0, Vec::len);
        cursor = p["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 5);
    let (_, p) = w
        .get(None, "/v1/predictions/games?q=TURNOUT%20above%2070%25")
        .await;
    assert_eq!(p["items"].as_array().map(Vec::len), Some(1));
    let (_, p) = w.get(None, "/v1/predictions/games?status=active").await;
    assert_eq!(p["items"].as_array().map(Vec::len), Some(6));
    let (_, p) = w.get(None, "/v1/predictions/games?status=created").await;
    assert_eq!(p["items"].as_array().map(Vec::len), Some(0));
}
