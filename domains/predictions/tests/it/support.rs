//! Fixtures of the rule tests: the API with its staff, games built by [`GameBuilder`] and moved
//! through their life by [`Game`], HTTP helpers that return `(status, body)`, and the money
//! checks every test ends with.

use alloy::primitives::U256;
use chrono::{DateTime, Duration, Timelike, Utc};
use posmul_api::testing::{TestApp, TestUser, spawn_app};
use posmul_api_kit::auth::roles::Role;
use posmul_core::money::Wei;
use posmul_economy::{credits, ledger, ledger::Account};
use posmul_predictions::pools;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// The API over a test database, with a moderator to create official games.
pub struct World {
    pub app: TestApp,
    pub db: PgPool,
    pub moderator: TestUser,
}

impl World {
    pub async fn new(db: PgPool) -> World {
        let app = spawn_app(db.clone()).await;
        World::with_app(app, db).await
    }

    pub async fn with_app(app: TestApp, db: PgPool) -> World {
        let moderator = app
            .register_with_role("mod@example.org", Role::Moderator)
            .await;
        World { app, db, moderator }
    }

    pub async fn user(&self, email: &str) -> TestUser {
        self.app.register_user(email).await
    }

    pub async fn resolver(&self) -> TestUser {
        self.app
            .register_with_role("resolver@example.org", Role::Resolver)
            .await
    }

    pub async fn admin(&self) -> TestUser {
        self.app
            .register_with_role("admin@example.org", Role::Admin)
            .await
    }

    /// An official game created by the moderator from `game`.
    pub async fn game(&self, game: GameBuilder) -> Game {
        game.create(&self.app, &self.moderator).await
    }

    pub async fn post(&self, user: &TestUser, path: &str, body: &Value) -> (u16, Value) {
        post(&self.app, user, path, body).await
    }

    pub async fn put(&self, user: &TestUser, path: &str, body: &Value) -> (u16, Value) {
        send(self.app.client.put(self.app.url(path)), user, body).await
    }

    pub async fn get(&self, user: Option<&TestUser>, path: &str) -> (u16, Value) {
        let mut req = self.app.client.get(self.app.url(path));
        if let Some(u) = user {
            req = req.bearer_auth(&u.access_token);
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn balance(&self, account: Account) -> i64 {
        ledger::balance(&mut self.db.acquire().await.expect("conn"), account)
            .await
            .expect("balance")
            .get()
    }

    /// E1, E3: the ledger and the credits each balance to the point and the wei.
    pub async fn assert_books_exact(&self) {
        let mut conn = self.db.acquire().await.expect("conn");
        let l = ledger::audit(&mut conn).await.expect("ledger audit");
        assert!(l.is_exact(), "ledger not exact: {l:?}");
        let c = credits::audit(&mut conn).await.expect("credit audit");
        assert!(c.is_exact(), "credits not exact: {c:?}");
    }
}

async fn send(req: reqwest::RequestBuilder, user: &TestUser, body: &Value) -> (u16, Value) {
    read(
        req.bearer_auth(&user.access_token)
            .json(body)
            .send()
            .await
            .expect("request"),
    )
    .await
}

async fn read(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn post(app: &TestApp, user: &TestUser, path: &str, body: &Value) -> (u16, Value) {
    send(app.client.post(app.url(path)), user, body).await
}

/// The problem `type` of a response, without the base URI.
pub fn problem(v: &Value) -> &str {
    v["type"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches("https://posmul.dev/problems/")
}

/// A game request body: a binary game in `category` that started five minutes ago, ends in two
/// hours and settles in three, stakes 10-500 PMP; change what a test needs.
#[derive(Debug, Clone)]
pub struct GameBuilder {
    body: Value,
}

impl GameBuilder {
    pub fn new(category: &str, title: &str) -> GameBuilder {
        let now = Utc::now();
        GameBuilder {
            body: json!({
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
                "starts_at": now - Duration::minutes(5),
                "ends_at": now + Duration::hours(2),
                "settles_at": now + Duration::hours(3),
                "options": ["Yes", "No"],
            }),
        }
    }

    /// Sets one property of the body.
    pub fn with(mut self, property: &str, value: Value) -> GameBuilder {
        self.body[property] = value;
        self
    }

    /// Not started yet (CREATED): starts in an hour.
    pub fn starting_later(self) -> GameBuilder {
        self.with("starts_at", json!(Utc::now() + Duration::hours(1)))
    }

    pub fn body(&self) -> &Value {
        &self.body
    }

    pub fn into_body(self) -> Value {
        self.body
    }

    /// Creates the game as `by`; it must be accepted.
    pub async fn create(self, app: &TestApp, by: &TestUser) -> Game {
        let (status, game) = post(app, by, "/v1/predictions/games", &self.body).await;
        assert_eq!(status, 201, "create game: {game}");
        Game {
            id: game["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("a game id"),
        }
    }
}

/// A created game and the steps of its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Game {
    pub id: Uuid,
}

impl Game {
    /// `/v1/predictions/games/{id}` followed by `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/v1/predictions/games/{}{rest}", self.id)
    }

    /// Places a stake with a fresh `Idempotency-Key`.
    pub async fn stake(
        &self,
        app: &TestApp,
        user: &TestUser,
        option: i16,
        amount: i64,
    ) -> (u16, Value) {
        let req = app
            .client
            .post(app.url(&self.path("/stakes")))
            .header("Idempotency-Key", Uuid::new_v4().to_string());
        send(req, user, &json!({ "option": option, "amount": amount })).await
    }

    /// Moves the game's times so that it is CLOSED now: it ended at the top of the previous hour.
    pub async fn close(&self, db: &PgPool) {
        sqlx::query(
            "UPDATE predictions.games SET ends_at = date_trunc('hour', now()) - interval '1 hour',
             starts_at = date_trunc('hour', now()) - interval '4 hours',
             settles_at = now() + interval '1 hour' WHERE id = $1",
        )
        .bind(self.id)
        .execute(db)
        .await
        .expect("close the game");
    }

    /// Moves the game's start into the past: ACTIVE by its times.
    pub async fn start(&self, db: &PgPool) {
        sqlx::query(
            "UPDATE predictions.games SET starts_at = now() - interval '1 minute' WHERE id = $1",
        )
        .bind(self.id)
        .execute(db)
        .await
        .expect("start the game");
    }

    /// Gives a closed game a pool by computing one past hour in which it qualified: it ran from
    /// half an hour before `hour` to half an hour after, so no other hour (the scheduler and
    /// settlement fill gaps) qualifies it as well, whatever the time of day.
    pub async fn give_pool(&self, db: &PgPool, hour: DateTime<Utc>) -> Wei {
        sqlx::query(
            "UPDATE predictions.games SET created_at = $2 - interval '1 hour', starts_at = $2 - interval '30 minutes',
             ends_at = $2 + interval '30 minutes' WHERE id = $1",
        )
        .bind(self.id)
        .bind(hour)
        .execute(db)
        .await
        .expect("backdate");
        let (pool, computed) = pools::compute_hour(db, hour).await.expect("hour");
        assert!(computed);
        pool.allocated
    }

    /// Settles the game as `resolver` through the API.
    pub async fn settle(&self, app: &TestApp, resolver: &TestUser, option: i16) -> (u16, Value) {
        post(
            app,
            resolver,
            &self.path("/settlement"),
            &json!({ "winning_option": option }),
        )
        .await
    }
}

/// A past hour (two hours ago) that the scheduler never computes (it starts at the current
/// hour) and that is not a day's last hour (which also takes the remainder of B(d)).
pub fn past_hour() -> DateTime<Utc> {
    let hour = pools::hour_of(Utc::now()) - Duration::hours(2);
    if hour.hour() == 23 {
        hour - Duration::hours(1)
    } else {
        hour
    }
}

/// Sets an economy version in force today with B(d) = `budget_wei` a day (tax and interest 0).
pub async fn set_budget(db: &PgPool, budget_wei: Wei) {
    let annual = Wei::from_u256(budget_wei.as_u256() * U256::from(365u64));
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

/// `n` wei.
pub fn wei(n: u64) -> Wei {
    Wei::from_u256(U256::from(n))
}
