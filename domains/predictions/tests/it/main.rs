//! Predictions (DESIGN.md P1-P5, M2, E1-E3) against a real PostgreSQL and the whole HTTP API:
//! every test names the rule it checks.

/// Named so that `script/test cargo -p posmul-api predictions` selects every test here.
mod predictions {
    use std::time::Duration;

    use chrono::{DateTime, Duration as ChronoDuration, Timelike, Utc};
    use posmul_api::testing::{TestApp, TestUser, spawn_app, spawn_app_with};
    use posmul_api_kit::auth::roles::Role;
    use posmul_core::money::Wei;
    use posmul_economy::{credits, ledger, ledger::Account};
    use posmul_predictions::{games, pools, scheduler, settlement};
    use serde_json::{Value, json};
    use sqlx::PgPool;
    use uuid::Uuid;

    // ---------------------------------------------------------------- helpers

    fn game_body(category: &str, title: &str) -> Value {
        let now = Utc::now();
        json!({
            "title": title,
            "description": "A game for the tests, with a long enough description.",
            "game_type": "binary",
            "category": category,
            "subcategory": "tests",
            "league": "Test League",
            "importance": 3,
            "min_stake": 10,
            "max_stake": 500,
            "max_participants": null,
            "starts_at": now - ChronoDuration::minutes(5),
            "ends_at": now + ChronoDuration::hours(2),
            "settles_at": now + ChronoDuration::hours(3),
            "options": ["Yes", "No"],
        })
    }

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

    async fn put(app: &TestApp, user: &TestUser, path: &str, body: &Value) -> (u16, Value) {
        let res = app
            .client
            .put(app.url(path))
            .bearer_auth(&user.access_token)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn get(app: &TestApp, user: Option<&TestUser>, path: &str) -> (u16, Value) {
        let mut req = app.client.get(app.url(path));
        if let Some(u) = user {
            req = req.bearer_auth(&u.access_token);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    fn problem(v: &Value) -> &str {
        v["type"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("https://posmul.dev/problems/")
    }

    async fn staff(app: &TestApp) -> TestUser {
        app.register_with_role("mod@example.org", Role::Moderator)
            .await
    }

    async fn create_game(app: &TestApp, by: &TestUser, body: &Value) -> Uuid {
        let (status, game) = post(app, by, "/v1/predictions/games", body).await;
        assert_eq!(status, 201, "create game: {game}");
        game["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a game id")
    }

    async fn stake(
        app: &TestApp,
        user: &TestUser,
        game: Uuid,
        option: i16,
        amount: i64,
    ) -> (u16, Value) {
        let res = app
            .client
            .post(app.url(&format!("/v1/predictions/games/{game}/stakes")))
            .bearer_auth(&user.access_token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({ "option": option, "amount": amount }))
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Moves a game's times so that it is CLOSED now: it ended at the top of the previous hour
    /// (so it qualifies for no hourly pool after the one [`give_pool`] computes two hours ago).
    async fn close(db: &PgPool, game: Uuid) {
        sqlx::query(
            "UPDATE predictions.games SET ends_at = date_trunc('hour', now()) - interval '1 hour',
             starts_at = date_trunc('hour', now()) - interval '4 hours',
             settles_at = now() + interval '1 hour' WHERE id = $1",
        )
        .bind(game)
        .execute(db)
        .await
        .expect("close the game");
    }

    async fn balance(db: &PgPool, account: Account) -> i64 {
        ledger::balance(&mut db.acquire().await.expect("conn"), account)
            .await
            .expect("balance")
            .0
    }

    async fn assert_books_exact(db: &PgPool) {
        let mut conn = db.acquire().await.expect("conn");
        let l = ledger::audit(&mut conn).await.expect("ledger audit");
        assert!(l.is_exact(), "ledger not exact: {l:?}");
        let c = credits::audit(&mut conn).await.expect("credit audit");
        assert!(c.is_exact(), "credits not exact: {c:?}");
    }

    /// Sets an economy version in force today with B(d) = `budget_pmc` PMC a day (tax and interest 0).
    async fn set_budget(db: &PgPool, budget_wei: Wei) {
        let annual = Wei(budget_wei.0 * alloy::primitives::U256::from(365u64));
        sqlx::query(
        "INSERT INTO relayer.economy_config (annual_ebit, tax_rate, interest_rate, effective_from, set_by)
         VALUES ($1, 0, 0, DATE '2000-01-01', $2)",
    )
    .bind(annual)
    .bind(Uuid::nil())
    .execute(db)
    .await
    .expect("economy config");
    }

    /// Gives a (closed) game a pool by computing one past hour in which it qualified. Close the
    /// game first, so that no later hour (the scheduler fills gaps) qualifies it as well.
    async fn give_pool(db: &PgPool, game: Uuid, hour: DateTime<Utc>) -> Wei {
        sqlx::query(
        "UPDATE predictions.games SET created_at = $2 - interval '1 hour', starts_at = $2 - interval '30 minutes' WHERE id = $1",
    )
    .bind(game)
    .bind(hour)
    .execute(db)
    .await
    .expect("backdate");
        let (pool, computed) = pools::compute_hour(db, hour).await.expect("hour");
        assert!(computed);
        pool.allocated
    }

    // ---------------------------------------------------------------- games (P1-P3)

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p1_staff_create_official_games_and_citizens_propose_user_games(pool: PgPool) {
        let app = spawn_app(pool).await;
        let moderator = staff(&app).await;
        let citizen = app.register_user("citizen@example.org").await;

        let (status, g) = post(
            &app,
            &moderator,
            "/v1/predictions/games",
            &game_body("sports", "Derby winner"),
        )
        .await;
        assert_eq!(status, 201, "{g}");
        assert_eq!(g["official"], true);
        assert_eq!(g["status"], "active");
        assert_eq!(g["options"].as_array().map(Vec::len), Some(2));

        let (status, p) = post(
            &app,
            &citizen,
            "/v1/predictions/games",
            &game_body("sports", "Derby winner today"),
        )
        .await;
        assert_eq!(
            (status, problem(&p)),
            (403, "forbidden"),
            "citizens cannot create official games"
        );
        let (status, g) = post(
            &app,
            &citizen,
            "/v1/predictions/games",
            &game_body("user_proposed", "Will it rain on Sunday?"),
        )
        .await;
        assert_eq!(status, 201, "{g}");
        assert_eq!(g["official"], false);

        let mut wdl = game_body("sports", "Derby result");
        wdl["game_type"] = json!("win_draw_lose");
        wdl["options"] = json!(["Home", "Draw", "Away"]);
        let (status, _) = post(&app, &moderator, "/v1/predictions/games", &wdl).await;
        assert_eq!(status, 201);
        let mut ranking = game_body("entertainment", "Who wins the contest?");
        ranking["game_type"] = json!("ranking");
        ranking["options"] = json!(["A", "B", "C", "D", "E"]);
        let (status, _) = post(&app, &moderator, "/v1/predictions/games", &ranking).await;
        assert_eq!(status, 201);
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p2_every_broken_creation_rule_is_a_distinct_problem_over_http(pool: PgPool) {
        let app = spawn_app(pool).await;
        let moderator = staff(&app).await;
        let citizen = app.register_user("citizen@example.org").await;
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&TestUser, Change, &str)> = vec![
            (
                &moderator,
                Box::new(|g| g["title"] = json!("Hey")),
                "game-title-too-short",
            ),
            (
                &citizen,
                Box::new(|g| g["title"] = json!("Rain soon")),
                "proposed-game-title-too-short",
            ),
            (
                &moderator,
                Box::new(|g| g["description"] = json!("short")),
                "game-description-too-short",
            ),
            (
                &moderator,
                Box::new(|g| g["options"] = json!(["Only"])),
                "game-too-few-options",
            ),
            (
                &moderator,
                Box::new(|g| g["options"] = json!(["A", "B", "C"])),
                "game-options-do-not-fit-type",
            ),
            (
                &moderator,
                Box::new(|g| g["settles_at"] = g["ends_at"].clone()),
                "game-times-out-of-order",
            ),
            (
                &moderator,
                Box::new(|g| g["min_stake"] = json!(0)),
                "game-stake-range-invalid",
            ),
            (
                &moderator,
                Box::new(|g| g["max_stake"] = json!(5)),
                "game-stake-range-invalid",
            ),
            (
                &moderator,
                Box::new(|g| g["importance"] = json!(6)),
                "game-importance-out-of-range",
            ),
            (
                &moderator,
                Box::new(|g| g["max_participants"] = json!(0)),
                "game-participant-cap-invalid",
            ),
        ];
        for (who, change, kind) in cases {
            let mut body = game_body("user_proposed", "A valid proposed title");
            change(&mut body);
            let (status, p) = post(&app, who, "/v1/predictions/games", &body).await;
            assert_eq!((status, problem(&p)), (422, kind), "{body}");
        }
        let mut body = game_body("sports", "Unknown field");
        body["surprise"] = json!(1);
        let (status, _) = post(&app, &moderator, "/v1/predictions/games", &body).await;
        assert_eq!(status, 422, "unknown fields are refused");
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p2_a_game_is_editable_only_while_created_and_only_by_its_creator_or_staff(
        pool: PgPool,
    ) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let citizen = app.register_user("citizen@example.org").await;
        let other = app.register_user("other@example.org").await;
        let mut body = game_body("user_proposed", "Will the bridge open in May?");
        let now = Utc::now();
        body["starts_at"] = json!(now + ChronoDuration::hours(1));
        let game = create_game(&app, &citizen, &body).await;

        body["title"] = json!("Will the new bridge open in May?");
        let (status, g) = put(
            &app,
            &citizen,
            &format!("/v1/predictions/games/{game}"),
            &body,
        )
        .await;
        assert_eq!(status, 200, "{g}");
        assert_eq!(g["title"], "Will the new bridge open in May?");
        let (status, _) = put(
            &app,
            &other,
            &format!("/v1/predictions/games/{game}"),
            &body,
        )
        .await;
        assert_eq!(status, 403, "only the creator (or staff) edits");
        let (status, _) = put(
            &app,
            &moderator,
            &format!("/v1/predictions/games/{game}"),
            &body,
        )
        .await;
        assert_eq!(status, 200, "staff may edit");

        // Once its start has passed the game is ACTIVE and frozen.
        sqlx::query(
            "UPDATE predictions.games SET starts_at = now() - interval '1 minute' WHERE id = $1",
        )
        .bind(game)
        .execute(&pool)
        .await
        .unwrap();
        let (status, p) = put(
            &app,
            &citizen,
            &format!("/v1/predictions/games/{game}"),
            &body,
        )
        .await;
        assert_eq!((status, problem(&p)), (409, "game-not-editable"));
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p3_reads_show_the_status_the_times_imply_and_the_scheduler_stores_it(pool: PgPool) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let mut body = game_body("politics", "Budget vote passes");
        body["starts_at"] = json!(Utc::now() + ChronoDuration::hours(1));
        let game = create_game(&app, &moderator, &body).await;
        let (_, g) = get(&app, None, &format!("/v1/predictions/games/{game}")).await;
        assert_eq!(g["status"], "created");

        // The times say ACTIVE; the stored status still says created: reads show ACTIVE anyway.
        sqlx::query(
            "UPDATE predictions.games SET starts_at = now() - interval '1 minute' WHERE id = $1",
        )
        .bind(game)
        .execute(&pool)
        .await
        .unwrap();
        let (_, g) = get(&app, None, &format!("/v1/predictions/games/{game}")).await;
        assert_eq!(g["status"], "active");
        close(&pool, game).await;
        let (_, g) = get(&app, None, &format!("/v1/predictions/games/{game}")).await;
        assert_eq!(g["status"], "closed");

        scheduler::transitions(&pool, Utc::now()).await.unwrap();
        let stored: String =
            sqlx::query_scalar("SELECT status FROM predictions.games WHERE id = $1")
                .bind(game)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(stored, "closed");
        let events: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM predictions.game_events
             WHERE game_id = $1 AND kind = 'status' AND payload->>'status' = 'closed'",
        )
        .bind(game)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(events, 1, "the change to closed is recorded once");
        let count = || {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM predictions.game_events WHERE game_id = $1 AND kind = 'status'",
            )
            .bind(game)
            .fetch_one(&pool)
        };
        let before = count().await.unwrap();
        assert_eq!(scheduler::transitions(&pool, Utc::now()).await.unwrap(), 0);
        assert_eq!(
            count().await.unwrap(),
            before,
            "a tick with nothing to change records nothing"
        );
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p1_games_are_listed_by_category_status_and_text_with_cursor_pages(pool: PgPool) {
        let app = spawn_app(pool).await;
        let moderator = staff(&app).await;
        for i in 0..5 {
            create_game(
                &app,
                &moderator,
                &game_body("sports", &format!("Football match {i}")),
            )
            .await;
        }
        create_game(
            &app,
            &moderator,
            &game_body("politics", "Election turnout above 70%"),
        )
        .await;

        let (_, page) = get(&app, None, "/v1/predictions/games?category=sports&limit=2").await;
        assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
        let mut seen = 2;
        let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
        while let Some(c) = cursor {
            let (_, p) = get(
                &app,
                None,
                &format!("/v1/predictions/games?category=sports&limit=2&cursor={c}"),
            )
            .await;
            seen += p["items"].as_array().map_or(0, Vec::len);
            cursor = p["next_cursor"].as_str().map(str::to_owned);
        }
        assert_eq!(seen, 5);
        let (_, p) = get(
            &app,
            None,
            "/v1/predictions/games?q=TURNOUT%20above%2070%25",
        )
        .await;
        assert_eq!(p["items"].as_array().map(Vec::len), Some(1));
        let (_, p) = get(&app, None, "/v1/predictions/games?status=active").await;
        assert_eq!(p["items"].as_array().map(Vec::len), Some(6));
        let (_, p) = get(&app, None, "/v1/predictions/games?status=created").await;
        assert_eq!(p["items"].as_array().map(Vec::len), Some(0));
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
        first.unwrap().close().await.unwrap();
        assert!(scheduler::become_active(&pool).await.unwrap().is_some());
    }

    // ---------------------------------------------------------------- stakes (P4, E2)

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p4_e2_a_stake_moves_pmp_into_the_games_escrow_and_shows_on_the_game_page(
        pool: PgPool,
    ) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let alice = app.register_user("alice@example.org").await;
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        let before = balance(&pool, Account::user(alice.user_id)).await;

        let (status, s) = stake(&app, &alice, game, 1, 120).await;
        assert_eq!(status, 201, "{s}");
        assert_eq!(s["result"], "placed");
        assert_eq!(
            balance(&pool, Account::user(alice.user_id)).await,
            before - 120
        );
        assert_eq!(balance(&pool, Account::game_escrow(game)).await, 120);

        let (_, g) = get(&app, Some(&alice), &format!("/v1/predictions/games/{game}")).await;
        assert_eq!(g["options"][1]["total_staked"], 120);
        assert_eq!(g["options"][1]["stakers"], 1);
        assert_eq!(g["participants"], 1);
        assert_eq!(g["my_position"]["option"], 1);
        assert_eq!(g["my_position"]["stake"], 120);
        let (_, mine) = get(&app, Some(&alice), "/v1/predictions/me/predictions").await;
        assert_eq!(mine["items"][0]["game_id"], game.to_string());
        assert_eq!(mine["items"][0]["status"], "live");
        assert_eq!(g["pool_wei"], "0");
        assert_books_exact(&pool).await;
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p4_each_stake_rule_refuses_with_its_own_problem_and_moves_nothing(pool: PgPool) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let alice = app.register_user("alice@example.org").await;
        let bob = app.register_user("bob@example.org").await;
        let mut capped = game_body("sports", "Capped game");
        capped["max_participants"] = json!(1);
        capped["max_stake"] = json!(5000);
        let game = create_game(&app, &moderator, &capped).await;
        let mut later = game_body("sports", "Later game");
        later["starts_at"] = json!(Utc::now() + ChronoDuration::hours(1));
        let not_started = create_game(&app, &moderator, &later).await;

        assert_eq!(
            problem(&stake(&app, &alice, not_started, 0, 50).await.1),
            "game-not-active"
        );
        assert_eq!(
            problem(&stake(&app, &alice, game, 2, 50).await.1),
            "option-not-found"
        );
        assert_eq!(
            problem(&stake(&app, &alice, game, 0, 9).await.1),
            "stake-below-minimum"
        );
        assert_eq!(
            problem(&stake(&app, &alice, game, 0, 5001).await.1),
            "stake-above-maximum"
        );
        assert_eq!(
            problem(&stake(&app, &alice, game, 0, 1001).await.1),
            "insufficient-pmp"
        );
        assert_eq!(stake(&app, &alice, game, 0, 50).await.0, 201);
        assert_eq!(
            problem(&stake(&app, &alice, game, 1, 50).await.1),
            "already-predicted"
        );
        assert_eq!(
            problem(&stake(&app, &bob, game, 0, 50).await.1),
            "game-full"
        );
        assert_eq!(stake(&app, &bob, Uuid::now_v7(), 0, 50).await.0, 404);
        close(&pool, game).await;
        assert_eq!(
            problem(&stake(&app, &bob, game, 0, 50).await.1),
            "game-not-active"
        );

        assert_eq!(balance(&pool, Account::user(bob.user_id)).await, 1000);
        assert_eq!(balance(&pool, Account::game_escrow(game)).await, 50);
        assert_books_exact(&pool).await;
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn e2_a_withdrawal_while_active_refunds_in_full_and_only_the_owner_withdraws(
        pool: PgPool,
    ) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let alice = app.register_user("alice@example.org").await;
        let mallory = app.register_user("mallory@example.org").await;
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        let (_, s) = stake(&app, &alice, game, 0, 200).await;
        let id = s["id"].as_str().unwrap().to_owned();

        let (status, p) = post(
            &app,
            &mallory,
            &format!("/v1/predictions/predictions/{id}/withdraw"),
            &json!({}),
        )
        .await;
        assert_eq!(
            (status, problem(&p)),
            (404, "not-found"),
            "another user's prediction is invisible"
        );
        let (status, w) = post(
            &app,
            &alice,
            &format!("/v1/predictions/predictions/{id}/withdraw"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{w}");
        assert_eq!(w["status"], "withdrawn");
        assert_eq!(w["balance_after"], 1000);
        assert_eq!(balance(&pool, Account::game_escrow(game)).await, 0);
        let (status, p) = post(
            &app,
            &alice,
            &format!("/v1/predictions/predictions/{id}/withdraw"),
            &json!({}),
        )
        .await;
        assert_eq!((status, problem(&p)), (409, "prediction-not-live"));

        // P4: after withdrawing, the user may predict again (one live prediction per game) ...
        let (_, s) = stake(&app, &alice, game, 1, 100).await;
        let id = s["id"].as_str().unwrap().to_owned();
        // ... and no withdrawal once the game is closed.
        close(&pool, game).await;
        let (status, p) = post(
            &app,
            &alice,
            &format!("/v1/predictions/predictions/{id}/withdraw"),
            &json!({}),
        )
        .await;
        assert_eq!((status, problem(&p)), (409, "game-not-active"));
        assert_books_exact(&pool).await;
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p4_an_idempotency_key_replays_the_stake_and_a_dry_run_moves_nothing(pool: PgPool) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let alice = app.register_user("alice@example.org").await;
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        let url = app.url(&format!("/v1/predictions/games/{game}/stakes"));
        let send = |key: &'static str, amount: i64, dry: bool| {
            app.client
                .post(&url)
                .bearer_auth(&alice.access_token)
                .header("Idempotency-Key", key)
                .json(&json!({ "option": 0, "amount": amount, "dryRun": dry }))
                .send()
        };

        let quote = send("q-1", 100, true).await.unwrap();
        assert_eq!(quote.status(), 200);
        let quote: Value = quote.json().await.unwrap();
        assert_eq!(quote["result"], "quote");
        assert_eq!(quote["option_total_after"], 100);
        assert_eq!(
            balance(&pool, Account::user(alice.user_id)).await,
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
            balance(&pool, Account::user(alice.user_id)).await,
            900,
            "moved once"
        );
        let replay_header = send("k-1", 100, false).await.unwrap();
        assert_eq!(replay_header.headers()["idempotent-replayed"], "true");
        let other = send("k-1", 101, false).await.unwrap();
        assert_eq!(other.status(), 409);
        let other: Value = other.json().await.unwrap();
        assert_eq!(problem(&other), "idempotency-key-reused");
        let keyless = app
            .client
            .post(&url)
            .bearer_auth(&alice.access_token)
            .json(&json!({ "option": 0, "amount": 100 }))
            .send()
            .await
            .unwrap();
        assert_eq!(keyless.status(), 422, "placing a stake needs a key");
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p4_e1_200_concurrent_stakes_and_withdrawals_keep_escrow_exact_and_one_prediction_per_user(
        pool: PgPool,
    ) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let mut body = game_body("sports", "Hot game");
        body["max_stake"] = json!(1000);
        let game = create_game(&app, &moderator, &body).await;
        let mut users = Vec::new();
        for i in 0..20 {
            users.push(app.register_user(&format!("u{i}@example.org")).await);
        }
        // 200 requests: each user sends 5 stakes (400 PMP each, so at most 2 fit the balance) and
        // 5 withdrawals of whatever prediction they hold at that moment, all at once.
        let mut tasks = Vec::new();
        for round in 0..5 {
            for u in &users {
                let (app_client, url, token) = (
                    app.client.clone(),
                    app.url(&format!("/v1/predictions/games/{game}/stakes")),
                    u.access_token.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    app_client
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
                    app.client.clone(),
                    app.address.clone(),
                    u.access_token.clone(),
                    u.user_id,
                );
                tasks.push(tokio::spawn(async move {
                let id: Option<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM predictions.predictions WHERE game_id = $1 AND user_id = $2 AND status = 'live'",
                )
                .bind(game)
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
    .bind(game)
    .fetch_all(&pool)
    .await
    .unwrap();
        let mut holders: Vec<Uuid> = live.iter().map(|(u, _)| *u).collect();
        holders.sort();
        holders.dedup();
        assert_eq!(holders.len(), live.len(), "one live prediction per user");
        let live_sum: i64 = live.iter().map(|(_, s)| s).sum();
        assert_eq!(
            balance(&pool, Account::game_escrow(game)).await,
            live_sum,
            "escrow = live stakes"
        );
        let (total, participants): (i64, i32) = sqlx::query_as(
            "SELECT total_staked, participants FROM predictions.games WHERE id = $1",
        )
        .bind(game)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((total, participants as usize), (live_sum, live.len()));
        for u in &users {
            let b = balance(&pool, Account::user(u.user_id)).await;
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
        assert_books_exact(&pool).await;
    }

    // ---------------------------------------------------------------- hourly pools (M2)

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn m2_an_hour_is_split_by_games_times_multiplier_computed_once_and_immutable(
        pool: PgPool,
    ) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let admin = app
            .register_with_role("admin@example.org", Role::Admin)
            .await;
        set_budget(&pool, Wei(alloy::primitives::U256::from(24_000_007u64))).await;
        let (status, _) = put(
            &app,
            &admin,
            "/v1/predictions/category-multipliers/politics",
            &json!({ "multiplier": "2" }),
        )
        .await;
        assert_eq!(status, 204);
        let (status, _) = put(
            &app,
            &moderator,
            "/v1/predictions/category-multipliers/politics",
            &json!({ "multiplier": "3" }),
        )
        .await;
        assert_eq!(status, 403, "only admins set multipliers");

        let s1 = create_game(&app, &moderator, &game_body("sports", "Sports one")).await;
        let s2 = create_game(&app, &moderator, &game_body("sports", "Sports two")).await;
        let p1 = create_game(&app, &moderator, &game_body("politics", "Politics one")).await;
        let late = create_game(
            &app,
            &moderator,
            &game_body("politics", "Created after the hour"),
        )
        .await;
        // A past hour the scheduler never computes (it starts at the current hour); the last hour of
        // the day takes the remainder, so use one that is not 23.
        let hour = pools::hour_of(Utc::now()) - ChronoDuration::hours(2);
        let hour = if hour.hour() == 23 {
            hour - ChronoDuration::hours(1)
        } else {
            hour
        };
        for g in [s1, s2, p1] {
            sqlx::query("UPDATE predictions.games SET created_at = $2 - interval '10 minutes', starts_at = $2 WHERE id = $1")
            .bind(g)
            .bind(hour)
            .execute(&pool)
            .await
            .unwrap();
        }
        let _ = late;
        // Created before the hour but starting after it (CREATED at H), or ended before it: no share.
        let not_started = create_game(
            &app,
            &moderator,
            &game_body("sports", "Starts after the hour"),
        )
        .await;
        let ended = create_game(
            &app,
            &moderator,
            &game_body("sports", "Ended before the hour"),
        )
        .await;
        sqlx::query(
        "UPDATE predictions.games SET created_at = $2 - interval '1 hour', starts_at = $2 + interval '1 minute'
         WHERE id = $1",
    )
    .bind(not_started)
    .bind(hour)
    .execute(&pool)
    .await
    .unwrap();
        sqlx::query(
        "UPDATE predictions.games SET created_at = $2 - interval '2 hours', starts_at = $2 - interval '90 minutes',
             ends_at = $2 - interval '1 minute' WHERE id = $1",
    )
    .bind(ended)
    .bind(hour)
    .execute(&pool)
    .await
    .unwrap();

        let (row, computed) = pools::compute_hour(&pool, hour).await.unwrap();
        assert!(computed);
        assert_eq!(
            row.amount,
            Wei(alloy::primitives::U256::from(1_000_000u64)),
            "B/24"
        );
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
        let of = |g: Uuid| {
            allocations
                .iter()
                .find(|(id, _)| *id == g)
                .map(|(_, a)| a.0.to::<u64>())
        };
        // sports 2 games × 1, politics 1 game × 2: half each; sports halves split equally.
        assert_eq!(
            (of(s1), of(s2), of(p1)),
            (Some(250_000), Some(250_000), Some(500_000))
        );

        let (status, shown) = get(
            &app,
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
        let (_, again) = pools::compute_hour(&pool, hour).await.unwrap();
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
        // No API here: its scheduler would race this test's clock.
        let creator = Uuid::now_v7();
        sqlx::query("INSERT INTO auth.users (id, email) VALUES ($1, 'creator@example.org')")
            .bind(creator)
            .execute(&pool)
            .await
            .unwrap();
        set_budget(&pool, Wei(alloy::primitives::U256::from(1_000_003u64))).await;
        let input: games::GameInput =
            serde_json::from_value(game_body("invest", "KOSPI above 3000")).unwrap();
        let game = games::create(&pool, creator, games::Proposer::Staff, input)
            .await
            .unwrap()
            .game
            .id;
        let day_start = pools::hour_of(Utc::now()) - ChronoDuration::days(3);
        let day_start = day_start - ChronoDuration::hours(i64::from(day_start.hour()));
        sqlx::query(
        "UPDATE predictions.games SET created_at = $2 - interval '1 hour', starts_at = $2 - interval '1 hour' WHERE id = $1",
    )
    .bind(game)
    .bind(day_start)
    .execute(&pool)
    .await
    .unwrap();
        // The system computed the hour before that day, then was down until its last hour.
        pools::compute_hour(&pool, day_start - ChronoDuration::hours(1))
            .await
            .unwrap();
        let until = day_start + ChronoDuration::hours(23) + ChronoDuration::minutes(30);
        assert_eq!(
            pools::catch_up(&pool, until).await.unwrap(),
            24,
            "the missed hours are computed"
        );
        assert_eq!(
            pools::catch_up(&pool, until).await.unwrap(),
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
        assert_eq!(
            sum,
            Wei(alloy::primitives::U256::from(1_000_003u64)),
            "24 pools sum to B(d)"
        );
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
        let today = Utc::now().date_naive();
        let b = posmul_predictions::budget::daily_budget(&mut conn, today)
            .await
            .unwrap();
        assert_eq!(b, Wei::from_pmc(1000));
        sqlx::query(
        "INSERT INTO chain.wave_cap_changes (chain_id, block_number, block_hash, tx_hash, log_index, finalized,
             previous_cap, new_cap, effective_from_day)
         VALUES (31337, 1, '\\x00', '\\x01', 0, true, 0, $1, 0)",
    )
    .bind(Wei::from_pmc(10))
    .execute(&mut *conn)
    .await
    .unwrap();
        let b = posmul_predictions::budget::daily_budget(&mut conn, today)
            .await
            .unwrap();
        assert_eq!(b, Wei::from_pmc(10));
    }

    // ---------------------------------------------------------------- settlement (P5, E3)

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p5_winners_share_the_pool_by_stake_every_stake_is_burned_and_credits_go_to_the_days_wave(
        pool: PgPool,
    ) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let resolver = app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await;
        let (a, b, c) = (
            app.register_user("a@example.org").await,
            app.register_user("b@example.org").await,
            app.register_user("c@example.org").await,
        );
        set_budget(&pool, Wei(alloy::primitives::U256::from(24_000u64))).await;
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        stake(&app, &a, game, 0, 100).await;
        stake(&app, &b, game, 0, 200).await;
        stake(&app, &c, game, 1, 300).await;
        let hour = pools::hour_of(Utc::now()) - ChronoDuration::hours(2);
        let hour = if hour.hour() == 23 {
            hour - ChronoDuration::hours(1)
        } else {
            hour
        };
        close(&pool, game).await;
        let pool_wei = give_pool(&pool, game, hour).await;
        assert_eq!(pool_wei, Wei(alloy::primitives::U256::from(1000u64)));

        let (status, s) = post(
            &app,
            &resolver,
            &format!("/v1/predictions/games/{game}/settlement"),
            &json!({ "winning_option": 0 }),
        )
        .await;
        assert_eq!(status, 201, "{s}");
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
            (credited[0].0, credited[0].1.0.to::<u64>()),
            (a.user_id, 333)
        );
        assert_eq!(
            (credited[1].0, credited[1].1.0.to::<u64>()),
            (b.user_id, 667)
        );
        assert_eq!(
            credited[0].2,
            Utc::now().date_naive(),
            "credits belong to the settlement day's wave"
        );
        assert_eq!(balance(&pool, Account::game_escrow(game)).await, 0);
        assert_eq!(balance(&pool, Account::BURN).await, 600);
        assert_eq!(
            balance(&pool, Account::user(c.user_id)).await,
            700,
            "a losing stake is consumed"
        );
        assert_books_exact(&pool).await;

        let (_, g) = get(&app, Some(&b), &format!("/v1/predictions/games/{game}")).await;
        assert_eq!(g["status"], "settled");
        assert_eq!(g["my_position"]["status"], "won");
        assert_eq!(g["my_position"]["credit_wei"], "667");
        let (status, recorded) = get(
            &app,
            None,
            &format!("/v1/predictions/games/{game}/settlement"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(recorded["minted"], "1000");
        assert_eq!(
            recorded["minted_pmc"], "0.000000000000001",
            "wei and PMC side by side"
        );
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p5_with_no_winner_the_pool_is_not_minted(pool: PgPool) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let resolver = app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await;
        let a = app.register_user("a@example.org").await;
        set_budget(&pool, Wei(alloy::primitives::U256::from(24_000u64))).await;
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        stake(&app, &a, game, 1, 100).await;
        close(&pool, game).await;
        give_pool(
            &pool,
            game,
            pools::hour_of(Utc::now()) - ChronoDuration::hours(2),
        )
        .await;
        let (status, s) = post(
            &app,
            &resolver,
            &format!("/v1/predictions/games/{game}/settlement"),
            &json!({ "winning_option": 0 }),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(s["minted"], "0");
        assert_ne!(s["pool"], "0");
        let credits: i64 = sqlx::query_scalar("SELECT count(*) FROM credits.credits")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(credits, 0);
        assert_eq!(
            balance(&pool, Account::BURN).await,
            100,
            "the stakes are still consumed"
        );
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p5_only_admins_or_resolvers_settle_a_closed_game_exactly_once(pool: PgPool) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let resolver = app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await;
        let admin = app
            .register_with_role("admin@example.org", Role::Admin)
            .await;
        let citizen = app.register_user("citizen@example.org").await;
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        let path = format!("/v1/predictions/games/{game}/settlement");
        let body = json!({ "winning_option": 1 });

        let (status, p) = post(&app, &resolver, &path, &body).await;
        assert_eq!((status, problem(&p)), (409, "game-not-closed"));
        close(&pool, game).await;
        assert_eq!(
            post(&app, &moderator, &path, &body).await.0,
            403,
            "moderators cannot settle"
        );
        assert_eq!(post(&app, &citizen, &path, &body).await.0, 403);
        let (status, p) = post(&app, &resolver, &path, &json!({ "winning_option": 7 })).await;
        assert_eq!((status, problem(&p)), (422, "option-not-found"));
        assert_eq!(post(&app, &admin, &path, &body).await.0, 201);
        let (status, p) = post(&app, &resolver, &path, &body).await;
        assert_eq!((status, problem(&p)), (409, "game-already-settled"));

        // A settled game is immutable, even to a direct write.
        let write =
            sqlx::query("UPDATE predictions.games SET title = 'rewritten title' WHERE id = $1")
                .bind(game)
                .execute(&pool)
                .await;
        assert!(write.is_err(), "a settled game cannot change");
        let (status, _) = post(
            &app,
            &resolver,
            &format!("/v1/predictions/games/{game}/cancel"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 409, "a settled game cannot be cancelled");
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p3_e2_cancelling_refunds_every_stake(pool: PgPool) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let resolver = app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await;
        let (a, b) = (
            app.register_user("a@example.org").await,
            app.register_user("b@example.org").await,
        );
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        stake(&app, &a, game, 0, 100).await;
        stake(&app, &b, game, 1, 250).await;
        assert_eq!(
            post(
                &app,
                &moderator,
                &format!("/v1/predictions/games/{game}/cancel"),
                &json!({})
            )
            .await
            .0,
            403
        );
        let (status, c) = post(
            &app,
            &resolver,
            &format!("/v1/predictions/games/{game}/cancel"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 200, "{c}");
        assert_eq!(c["refunded"], 350);
        assert_eq!(balance(&pool, Account::user(a.user_id)).await, 1000);
        assert_eq!(balance(&pool, Account::user(b.user_id)).await, 1000);
        assert_eq!(balance(&pool, Account::game_escrow(game)).await, 0);
        let (_, g) = get(&app, None, &format!("/v1/predictions/games/{game}")).await;
        assert_eq!(g["status"], "cancelled");
        assert_eq!(
            problem(&stake(&app, &a, game, 0, 100).await.1),
            "game-not-active"
        );
        let (status, p) = post(
            &app,
            &resolver,
            &format!("/v1/predictions/games/{game}/settlement"),
            &json!({ "winning_option": 0 }),
        )
        .await;
        assert_eq!(
            (status, problem(&p)),
            (409, "game-cancelled"),
            "a cancelled game is final"
        );
        assert_books_exact(&pool).await;
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p5_a_wrong_settlement_is_corrected_by_an_audited_admin_action(pool: PgPool) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let resolver = app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await;
        let admin = app
            .register_with_role("admin@example.org", Role::Admin)
            .await;
        let (a, b) = (
            app.register_user("a@example.org").await,
            app.register_user("b@example.org").await,
        );
        set_budget(&pool, Wei(alloy::primitives::U256::from(24_000u64))).await;
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        stake(&app, &a, game, 0, 100).await;
        stake(&app, &b, game, 1, 100).await;
        close(&pool, game).await;
        give_pool(
            &pool,
            game,
            pools::hour_of(Utc::now()) - ChronoDuration::hours(2),
        )
        .await;
        post(
            &app,
            &resolver,
            &format!("/v1/predictions/games/{game}/settlement"),
            &json!({ "winning_option": 0 }),
        )
        .await;

        let path = format!("/v1/predictions/games/{game}/corrections");
        let body = json!({ "winning_option": 1, "reason": "the official result was misread" });
        let open_game = create_game(&app, &moderator, &game_body("sports", "Still open")).await;
        let (status, p) = post(
            &app,
            &admin,
            &format!("/v1/predictions/games/{open_game}/corrections"),
            &body,
        )
        .await;
        assert_eq!((status, problem(&p)), (409, "game-not-settled"));
        assert_eq!(
            post(&app, &resolver, &path, &body).await.0,
            403,
            "only admins correct"
        );
        let (status, c) = post(&app, &admin, &path, &body).await;
        assert_eq!(status, 201, "{c}");
        assert_eq!(c["previous_option"], 0);
        let audited: (Uuid, String) = sqlx::query_as(
            "SELECT corrected_by, reason FROM predictions.corrections WHERE game_id = $1",
        )
        .bind(game)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(audited.0, admin.user_id);
        let logged: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM auth.audit_log WHERE action = 'prediction_settlement_corrected'
           AND actor_user_id = $1 AND details->>'game_id' = $2",
        )
        .bind(admin.user_id)
        .bind(game.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(logged, 1, "the correction is in the audit log");
        let (_, g) = get(&app, Some(&b), &format!("/v1/predictions/games/{game}")).await;
        assert_eq!(g["winning_option"], 1);
        assert_eq!(g["my_position"]["status"], "won");
        let b_credits: i64 =
            sqlx::query_scalar("SELECT count(*) FROM credits.credits WHERE user_id = $1")
                .bind(b.user_id)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(b_credits, 1, "the corrected winner is credited");
        assert_books_exact(&pool).await;
    }

    // ---------------------------------------------------------------- accuracy and rankings

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn p5_accuracy_is_kept_per_user_and_category_and_leaderboards_refresh_on_settlement(
        pool: PgPool,
    ) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let resolver = app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await;
        let (a, b) = (
            app.register_user("a@example.org").await,
            app.register_user("b@example.org").await,
        );
        let board = "/v1/predictions/leaderboard?min_participations=2";
        let (_, empty) = get(&app, None, board).await;
        assert_eq!(empty["entries"].as_array().map(Vec::len), Some(0));

        for (i, category) in ["sports", "politics"].iter().enumerate() {
            let game = create_game(
                &app,
                &moderator,
                &game_body(category, &format!("Game number {i}")),
            )
            .await;
            stake(&app, &a, game, 0, 50).await;
            stake(&app, &b, game, i16::try_from(i).unwrap(), 50).await;
            close(&pool, game).await;
            let (status, _) = post(
                &app,
                &resolver,
                &format!("/v1/predictions/games/{game}/settlement"),
                &json!({ "winning_option": 0 }),
            )
            .await;
            assert_eq!(status, 201);
        }
        let (_, stats) = get(&app, Some(&b), "/v1/predictions/me/stats").await;
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
        let (_, ranked) = get(&app, None, board).await;
        let entries = ranked["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["user_id"], a.user_id.to_string());
        assert_eq!(entries[0]["accuracy"], 1.0);
        let (_, strict) = get(
            &app,
            None,
            "/v1/predictions/leaderboard?min_participations=3",
        )
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
        let app = spawn_app_with(pool.clone(), |c| {
            c.redis_url = Some("redis://127.0.0.1:6379".into());
            c.redis_key_prefix = prefix.clone();
        })
        .await;
        let moderator = staff(&app).await;
        let resolver = app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await;
        let a = app.register_user("a@example.org").await;
        let board = "/v1/predictions/leaderboard?min_participations=1&by=pmc_earned";
        let (status, empty) = get(&app, None, board).await;
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
        let first = create_game(&app, &moderator, &game_body("sports", "First game")).await;
        stake(&app, &a, first, 0, 50).await;
        close(&pool, first).await;
        settlement::settle(&pool, resolver.user_id, first, 0)
            .await
            .unwrap();
        let (_, cached) = get(&app, None, board).await;
        assert_eq!(
            cached["entries"].as_array().map(Vec::len),
            Some(0),
            "served from the cache"
        );

        // A settlement through the API invalidates every cached board.
        let second = create_game(&app, &moderator, &game_body("sports", "Second game")).await;
        stake(&app, &a, second, 0, 50).await;
        close(&pool, second).await;
        let (status, _) = post(
            &app,
            &resolver,
            &format!("/v1/predictions/games/{second}/settlement"),
            &json!({ "winning_option": 0 }),
        )
        .await;
        assert_eq!(status, 201);
        let (_, fresh) = get(&app, None, board).await;
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

    // ---------------------------------------------------------------- real time

    /// An SSE response read event by event (what was read past an event is kept for the next).
    struct Events {
        res: reqwest::Response,
        buf: String,
    }

    /// The next event of `kind` (earlier events of other kinds are skipped).
    async fn next_event(stream: &mut Events, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = stream.buf.find(&format!("event: {kind}\ndata: "))
                && let Some(len) = stream.buf[at..].find("\n\n")
            {
                let block: String = stream.buf[at..at + len].to_owned();
                stream.buf.drain(..at + len + 2);
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or("null");
                return serde_json::from_str(data).expect("JSON event data");
            }
            let chunk = tokio::time::timeout_at(deadline, stream.res.chunk())
                .await
                .expect("event in time")
                .expect("stream readable");
            stream
                .buf
                .push_str(&String::from_utf8_lossy(&chunk.expect("stream open")));
        }
    }

    #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
    async fn game_and_user_streams_deliver_stakes_settlements_and_credits(pool: PgPool) {
        let app = spawn_app(pool.clone()).await;
        let moderator = staff(&app).await;
        let resolver = app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await;
        let a = app.register_user("a@example.org").await;
        set_budget(&pool, Wei(alloy::primitives::U256::from(24_000u64))).await;
        let game = create_game(&app, &moderator, &game_body("sports", "Derby winner")).await;
        let plain = app
            .client
            .get(app.url(&format!("/v1/predictions/games/{game}/events")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            plain.status(),
            406,
            "a stream only for clients that ask for one"
        );
        let game_stream = app
            .client
            .get(app.url(&format!("/v1/predictions/games/{game}/events")))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(game_stream.status(), 200);
        let mut game_stream = Events {
            res: game_stream,
            buf: String::new(),
        };
        next_event(&mut game_stream, "open").await;
        let mut user_stream = Events {
            res: app
                .client
                .get(app.url("/v1/predictions/me/events"))
                .bearer_auth(&a.access_token)
                .header("accept", "text/event-stream")
                .send()
                .await
                .unwrap(),
            buf: String::new(),
        };
        next_event(&mut user_stream, "open").await;

        stake(&app, &a, game, 0, 100).await;
        let e = next_event(&mut game_stream, "stake").await;
        assert_eq!(e["payload"]["amount"], 100);
        assert_eq!(e["payload"]["totals"][0]["total_staked"], 100);
        close(&pool, game).await;
        give_pool(
            &pool,
            game,
            pools::hour_of(Utc::now()) - ChronoDuration::hours(2),
        )
        .await;
        scheduler::transitions(&pool, Utc::now()).await.unwrap();
        // (The app's own scheduler may have streamed `active` before.)
        let mut e = next_event(&mut game_stream, "status").await;
        if e["payload"]["status"] == "active" {
            e = next_event(&mut game_stream, "status").await;
        }
        assert_eq!(
            e["payload"]["status"], "closed",
            "state changes are streamed"
        );
        post(
            &app,
            &resolver,
            &format!("/v1/predictions/games/{game}/settlement"),
            &json!({ "winning_option": 0 }),
        )
        .await;
        let e = next_event(&mut game_stream, "settled").await;
        assert_eq!(e["payload"]["winning_option"], 0);
        let e = next_event(&mut user_stream, "credit").await;
        assert_eq!(e["payload"]["amount_wei"], "1000");
        let no_stream = app
            .client
            .get(app.url("/v1/predictions/me/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(no_stream.status(), 401);
    }
}
