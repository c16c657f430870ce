use posmul_api::testing::TestUser;
use posmul_economy::ledger::Account;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{Game, GameBuilder, World, problem};

/// `/v1/predictions/predictions/{id}/withdraw` of a stake response.
fn withdraw_path(stake: &Value) -> String {
    let id = stake["id"].as_str().expect("a prediction id");
    format!("/v1/predictions/predictions/{id}/withdraw")
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p4_e2_a_stake_moves_pmp_into_the_games_escrow_and_shows_on_the_game_page(pool: PgPool) {
    let w = World::new(pool).await;
    let alice = w.user("alice@example.org").await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    let before = w.balance(Account::user(alice.user_id)).await;

    let (status, s) = game.stake(&w.app, &alice, 1, 120).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["result"], "placed");
    assert_eq!(w.balance(Account::user(alice.user_id)).await, before - 120);
    assert_eq!(w.balance(Account::game_escrow(game.id)).await, 120);

    let (_, g) = w.get(Some(&alice), &game.path("")).await;
    assert_eq!(g["options"][1]["total_staked"], 120);
    assert_eq!(g["options"][1]["stakers"], 1);
    assert_eq!(g["participants"], 1);
    assert_eq!(g["my_position"]["option"], 1);
    assert_eq!(g["my_position"]["stake"], 120);
    let (_, mine) = w.get(Some(&alice), "/v1/predictions/me/predictions").await;
    assert_eq!(mine["items"][0]["game_id"], game.id.to_string());
    assert_eq!(mine["items"][0]["status"], "live");
    assert_eq!(g["pool_wei"], "0");
    w.assert_books_exact().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p4_each_stake_rule_refuses_with_its_own_problem_and_moves_nothing(pool: PgPool) {
    let w = World::new(pool).await;
    let alice = w.user("alice@example.org").await;
    let bob = w.user("bob@example.org").await;
    let game = w
        .game(
            GameBuilder::new("sports", "Capped game")
                .with("max_participants", json!(1))
                .with("max_stake", json!(5000)),
        )
        .await;
    let not_started = w
        .game(GameBuilder::new("sports", "Later game").starting_later())
        .await;
    let refusal = async |game: Game, user: &TestUser, option: i16, amount: i64| {
        problem(&game.stake(&w.app, user, option, amount).await.1).to_owned()
    };

    assert_eq!(refusal(not_started, &alice, 0, 50).await, "game-not-active");
    assert_eq!(refusal(game, &alice, 2, 50).await, "option-not-found");
    assert_eq!(refusal(game, &alice, 0, 9).await, "stake-below-minimum");
    assert_eq!(refusal(game, &alice, 0, 5001).await, "stake-above-maximum");
    assert_eq!(refusal(game, &alice, 0, 1001).await, "insufficient-pmp");
    assert_eq!(game.stake(&w.app, &alice, 0, 50).await.0, 201);
    assert_eq!(refusal(game, &alice, 1, 50).await, "already-predicted");
    assert_eq!(refusal(game, &bob, 0, 50).await, "game-full");
    let missing = Game::missing();
    assert_eq!(missing.stake(&w.app, &bob, 0, 50).await.0, 404);
    game.close(&w).await;
    assert_eq!(refusal(game, &bob, 0, 50).await, "game-not-active");

    assert_eq!(w.balance(Account::user(bob.user_id)).await, 1000);
    assert_eq!(w.balance(Account::game_escrow(game.id)).await, 50);
    w.assert_books_exact().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e2_a_withdrawal_while_active_refunds_in_full_and_only_the_owner_withdraws(pool: PgPool) {
    let w = World::new(pool).await;
    let alice = w.user("alice@example.org").await;
    let mallory = w.user("mallory@example.org").await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    let (_, s) = game.stake(&w.app, &alice, 0, 200).await;
    let withdraw = withdraw_path(&s);

    let (status, p) = w.post(&mallory, &withdraw, &json!({})).await;
    assert_eq!(
        (status, problem(&p)),
        (404, "not-found"),
        "another user's prediction is invisible"
    );
    let (status, out) = w.post(&alice, &withdraw, &json!({})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "withdrawn");
    assert_eq!(out["balance_after"], 1000);
    assert_eq!(w.balance(Account::game_escrow(game.id)).await, 0);
    let (status, p) = w.post(&alice, &withdraw, &json!({})).await;
    assert_eq!((status, problem(&p)), (409, "prediction-not-live"));

    // P4: after withdrawing, the user may predict again (one live prediction per game) ...
    let (_, s) = game.stake(&w.app, &alice, 1, 100).await;
    // ... and no withdrawal once the game is closed.
    game.close(&w).await;
    let (status, p) = w.post(&alice, &withdraw_path(&s), &json!({})).await;
    assert_eq!((status, problem(&p)), (409, "game-not-active"));
    w.assert_books_exact().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p4_an_idempotency_key_replays_the_stake_and_a_dry_run_moves_nothing(pool: PgPool) {
    let w = World::new(pool).await;
    let alice = w.user("alice@example.org").await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    let url = w.app.url(&game.path("/stakes"));
    let send = |key: &'static str, amount: i64, dry: bool| {
        w.app
            .client
            .post(&url)
            .bearer_auth(&alice.access_token)
            .header("Idempotency-Key", key)
            .json(&json!({ "option": 0, "amount": amount, "dry_run": dry }))
            .send()
    };

    let quote = send("q-1", 100, true).await.unwrap();
    assert_eq!(quote.status(), 200);
    let quote: Value = quote.json().await.unwrap();
    assert_eq!(quote["result"], "quote");
    assert_eq!(quote["option_total_after"], 100);
    assert_eq!(
        w.balance(Account::user(alice.user_id)).await,
        1000,
        "a dry run moves nothing"
    );

    let first: Value = send("k-1", 100, false).await.unwrap().json().await.unwrap();
    let again = send("k-1", 100, false).await.unwrap();
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        first, again,
        "the same key and request return the first response"
    );
    assert_eq!(
        w.balance(Account::user(alice.user_id)).await,
        900,
        "moved once"
    );
    let replay_header = send("k-1", 100, false).await.unwrap();
    assert_eq!(replay_header.headers()["idempotent-replayed"], "true");
    let other = send("k-1", 101, false).await.unwrap();
    assert_eq!(other.status(), 409);
    let other: Value = other.json().await.unwrap();
    assert_eq!(problem(&other), "idempotency-key-reused");
    let keyless = w
        .app
        .client
        .post(&url)
        .bearer_auth(&alice.access_token)
        .json(&json!({ "option": 0, "amount": 100 }))
        .send()
        .await
        .unwrap();
    assert_eq!(keyless.status(), 422, "placing a stake needs a key");
    let camel = w
        .app
        .client
        .post(&url)
        .bearer_auth(&alice.access_token)
        .json(&json!({ "option": 0, "amount": 100, "dryRun": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        camel.status(),
        422,
        "JSON properties are snake_case only: dryRun is an unknown field"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p4_e1_200_concurrent_stakes_and_withdrawals_keep_escrow_exact_and_one_prediction_per_user(
    pool: PgPool,
) {
    let w = World::new(pool.clone()).await;
    let game = w
        .game(GameBuilder::new("sports", "Hot game").with("max_stake", json!(1000)))
        .await;
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(w.user(&format!("u{i}@example.org")).await);
    }
    // 200 requests: each user sends 5 stakes (400 PMP each, so at most 2 fit the balance) and
    // 5 withdrawals of whatever prediction they hold at that moment, all at once.
    let mut tasks = Vec::new();
    for round in 0..5 {
        for u in &users {
            let (client, url, token) = (
                w.app.client.clone(),
                w.app.url(&game.path("/stakes")),
                u.access_token.clone(),
            );
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .header("Idempotency-Key", Uuid::new_v4().to_string())
                    .json(&json!({ "option": round % 2, "amount": 400 }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }));
            let (db, client, base, token, user_id) = (
                pool.clone(),
                w.app.client.clone(),
                w.app.address.clone(),
                u.access_token.clone(),
                u.user_id,
            );
            tasks.push(tokio::spawn(async move {
                let id: Option<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM predictions.predictions WHERE game_id = $1 AND user_id = $2 AND status = 'live'",
                )
                .bind(game.id)
                .bind(user_id)
                .fetch_optional(&db)
                .await
                .ok()
                .flatten();
                match id {
                    Some(id) => client
                        .post(format!("{base}/v1/predictions/predictions/{id}/withdraw"))
                        .bearer_auth(token)
                        .send()
                        .await
                        .map(|r| r.status().as_u16()),
                    None => Ok(404),
                }
            }));
        }
    }
    assert_eq!(tasks.len(), 200);
    for t in tasks {
        let status = t.await.unwrap().unwrap();
        assert!(
            [200, 201, 404, 409, 422].contains(&status),
            "unexpected status {status}"
        );
    }

    let live: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT user_id, stake FROM predictions.predictions WHERE game_id = $1 AND status = 'live'",
    )
    .bind(game.id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut holders: Vec<Uuid> = live.iter().map(|(u, _)| *u).collect();
    holders.sort();
    holders.dedup();
    assert_eq!(holders.len(), live.len(), "one live prediction per user");
    let live_sum: i64 = live.iter().map(|(_, s)| s).sum();
    assert_eq!(
        w.balance(Account::game_escrow(game.id)).await,
        live_sum,
        "escrow = live stakes"
    );
    let (total, participants): (i64, i32) =
        sqlx::query_as("SELECT total_staked, participants FROM predictions.games WHERE id = $1")
            .bind(game.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((total, participants as usize), (live_sum, live.len()));
    for u in &users {
        let b = w.balance(Account::user(u.user_id)).await;
        let staked: i64 = live
            .iter()
            .filter(|(id, _)| *id == u.user_id)
            .map(|(_, s)| s)
            .sum();
        assert!(b >= 0);
        assert_eq!(
            b + staked,
            1000,
            "every point of {} is in the account or the escrow",
            u.email
        );
    }
    w.assert_books_exact().await;
}
