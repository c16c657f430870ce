use posmul_api::testing::TestUser;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{GameBuilder, World, problem};

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p2_every_broken_creation_rule_is_a_distinct_problem_over_http(pool: PgPool) {
    let w = World::new(pool).await;
    let moderator = &w.moderator;
    let citizen = w.user("citizen@example.org").await;
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&TestUser, Change, &str)> = vec![
        (
            moderator,
            Box::new(|g| g["title"] = json!("Hey")),
            "game-title-too-short",
        ),
        (
            &citizen,
            Box::new(|g| g["title"] = json!("Rain soon")),
            "proposed-game-title-too-short",
        ),
        (
            moderator,
            Box::new(|g| g["description"] = json!("short")),
            "game-description-too-short",
        ),
        (
            moderator,
            Box::new(|g| g["options"] = json!(["Only"])),
            "game-too-few-options",
        ),
        (
            moderator,
            Box::new(|g| g["options"] = json!(["A", "B", "C"])),
            "game-options-do-not-fit-type",
        ),
        (
            moderator,
            Box::new(|g| g["settles_at"] = g["ends_at"].clone()),
            "game-times-out-of-order",
        ),
        (
            moderator,
            Box::new(|g| g["min_stake"] = json!(0)),
            "game-stake-range-invalid",
        ),
        (
            moderator,
            Box::new(|g| g["max_stake"] = json!(5)),
            "game-stake-range-invalid",
        ),
        (
            moderator,
            Box::new(|g| g["importance"] = json!(6)),
            "game-importance-out-of-range",
        ),
        (
            moderator,
            Box::new(|g| g["max_participants"] = json!(0)),
            "game-participant-cap-invalid",
        ),
    ];
    for (who, change, kind) in cases {
        let mut body = w
            .body(&GameBuilder::new("user_proposed", "A valid proposed title"))
            .await;
        change(&mut body);
        let (status, p) = w.post(who, "/v1/predictions/games", &body).await;
        assert_eq!((status, problem(&p)), (422, kind), "{body}");
    }
    let body = GameBuilder::new("sports", "Unknown field").with("surprise", json!(1));
    let (status, _) = w
        .post(moderator, "/v1/predictions/games", &w.body(&body).await)
        .await;
    assert_eq!(status, 422, "unknown fields are refused");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p2_a_game_is_editable_only_while_created_and_only_by_its_creator_or_staff(pool: PgPool) {
    let w = World::new(pool).await;
    let citizen = w.user("citizen@example.org").await;
    let other = w.user("other@example.org").await;
    let proposal =
        GameBuilder::new("user_proposed", "Will the bridge open in May?").starting_later();
    let game = w.create(proposal.clone(), &citizen).await;

    let body = w
        .body(&proposal.with("title", json!("Will the new bridge open in May?")))
        .await;
    let (status, g) = w.put(&citizen, &game.path(""), &body).await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["title"], "Will the new bridge open in May?");
    let (status, _) = w.put(&other, &game.path(""), &body).await;
    assert_eq!(status, 403, "only the creator (or staff) edits");
    let (status, _) = w.put(&w.moderator, &game.path(""), &body).await;
    assert_eq!(status, 200, "staff may edit");

    // Once its start has passed the game is ACTIVE and frozen.
    game.start(&w).await;
    let (status, p) = w.put(&citizen, &game.path(""), &body).await;
    assert_eq!((status, problem(&p)), (409, "game-not-editable"));
}
