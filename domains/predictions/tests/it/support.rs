//! Fixtures of the rule tests: the API with its staff over a manual clock, games built by
//! [`GameBuilder`] relative to that clock and moved through their life by advancing it
//! ([`Game::start`], [`Game::close`]) — never by editing times in the database —, HTTP helpers
//! that return `(status, body)`, and the money checks every test ends with.

use alloy::primitives::U256;
use chrono::{DateTime, Duration, Utc};
use posmul_api::testing::{TestApp, TestUser, spawn_app_with_clock};
use posmul_api_kit::{ApiConfig, auth::roles::Role, config::PredictionSettings};
use posmul_core::{Clock, money::Wei};
use posmul_economy::{credits, ledger, ledger::Account};
use posmul_predictions::pools;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// Where every [`World`]'s clock starts: ten to the hour, so that a default game (started five
/// minutes before, ending an hour after its creation) runs across exactly one top of the hour
/// and takes exactly one hourly pool (M2). A fixed day keeps the tests alike at any wall time.
pub fn start() -> DateTime<Utc> {
    "2031-05-14T10:50:00Z".parse().expect("RFC 3339")
}

/// The API over a test database and a manual clock, with a moderator to create official games.
pub struct World {
    pub app: TestApp,
    pub db: PgPool,
    pub moderator: TestUser,
    /// The clock the API reads; tests move time with it.
    pub clock: Clock,
}

impl World {
    pub async fn new(db: PgPool) -> World {
        World::with_config(db, |_| {}).await
    }

    /// A world whose API config `configure` changes first.
    pub async fn with_config(db: PgPool, configure: impl FnOnce(&mut ApiConfig)) -> World {
        let clock = Clock::manual(start());
        let app = spawn_app_with_clock(db.clone(), clock.clone(), configure).await;
        // The system starts at `start()`: its hourly pools begin with that hour (what the
        // scheduler's first tick does too), so settlement catch-ups never reach further back.
        pools::catch_up(&db, start(), &PredictionSettings::default())
            .await
            .expect("first hour");
        let moderator = app
            .register_with_role("mod@example.org", Role::Moderator)
            .await;
        World {
            app,
            db,
            moderator,
            clock,
        }
    }

    /// Now, by the API's clock.
    pub async fn now(&self) -> DateTime<Utc> {
        self.clock.now().await
    }

    /// Moves the API's clock forward by `by`.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        self.clock.advance(by).expect("a manual clock")
    }

    /// Moves the API's clock to `t` unless it is already past it.
    pub async fn advance_to(&self, t: DateTime<Utc>) {
        let now = self.now().await;
        if t > now {
            self.advance(t - now);
        }
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

    /// An official game created by the moderator from `game`, timed from now.
    pub async fn game(&self, game: GameBuilder) -> Game {
        self.create(game, &self.moderator).await
    }

    /// The game `game` describes, timed from now, created as `by`; it must be accepted.
    pub async fn create(&self, game: GameBuilder, by: &TestUser) -> Game {
        let (status, created) = post(
            &self.app,
            by,
            "/v1/predictions/games",
            &self.body(&game).await,
        )
        .await;
        assert_eq!(status, 201, "create game: {created}");
        let time = |p: &str| {
            created[p]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("a game time")
        };
        Game {
            id: created["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("a game id"),
            starts_at: time("starts_at"),
            ends_at: time("ends_at"),
        }
    }

    /// The request body of `game`, timed from now.
    pub async fn body(&self, game: &GameBuilder) -> Value {
        game.body_at(self.now().await)
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

/// A game request body: a binary game in `category` that started five minutes before it is
/// created, ends an hour after and settles two hours after, stakes 10-500 PMP; change what a
/// test needs. Its times are offsets from the clock's "now", fixed when the game is sent
/// ([`World::game`], [`World::body`]).
#[derive(Debug, Clone)]
pub struct GameBuilder {
    body: Value,
    /// `starts_at`, `ends_at`, `settles_at` as offsets from now, unless set with [`Self::with`].
    times: Vec<(&'static str, Duration)>,
}

impl GameBuilder {
    pub fn new(category: &str, title: &str) -> GameBuilder {
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
                "options": ["Yes", "No"],
            }),
            times: vec![
                ("starts_at", -Duration::minutes(5)),
                ("ends_at", Duration::hours(1)),
                ("settles_at", Duration::hours(2)),
            ],
        }
    }

    /// Sets one property of the body (a time set here is absolute, no longer an offset).
    pub fn with(mut self, property: &str, value: Value) -> GameBuilder {
        self.times.retain(|(p, _)| *p != property);
        self.body[property] = value;
        self
    }

    /// Not started yet (CREATED): starts in an hour, ends an hour later.
    pub fn starting_later(mut self) -> GameBuilder {
        self.times = vec![
            ("starts_at", Duration::hours(1)),
            ("ends_at", Duration::hours(2)),
            ("settles_at", Duration::hours(3)),
        ];
        self
    }

    /// The body with its times counted from `now`.
    pub fn body_at(&self, now: DateTime<Utc>) -> Value {
        let mut body = self.body.clone();
        for (property, offset) in &self.times {
            body[*property] = json!(now + *offset);
        }
        body
    }
}

/// A created game and the steps of its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Game {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Game {
    /// A game id that names no game.
    pub fn missing() -> Game {
        Game {
            id: Uuid::now_v7(),
            starts_at: DateTime::UNIX_EPOCH,
            ends_at: DateTime::UNIX_EPOCH,
        }
    }

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

    /// Moves the clock to the game's start: ACTIVE by its times.
    pub async fn start(&self, w: &World) {
        w.advance_to(self.starts_at).await;
    }

    /// Moves the clock to the game's end: CLOSED by its times, and every hour it ran across
    /// (one for a default game) is over, so settling catches up its pool.
    pub async fn close(&self, w: &World) {
        w.advance_to(self.ends_at).await;
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

/// Every game's allocation of `hour` (M2), in wei.
pub async fn allocations(
    db: &PgPool,
    hour: DateTime<Utc>,
) -> std::collections::BTreeMap<Uuid, u64> {
    let rows: Vec<(Uuid, Wei)> = sqlx::query_as(
        "SELECT game_id, amount FROM predictions.hourly_allocations WHERE hour = $1",
    )
    .bind(hour)
    .fetch_all(db)
    .await
    .expect("allocations");
    rows.into_iter()
        .map(|(id, a)| (id, a.as_u256().to::<u64>()))
        .collect()
}

/// The pool of `hour` (M2) as stored, in wei: `(amount, allocated)`.
pub async fn pool_of(db: &PgPool, hour: DateTime<Utc>) -> (u64, u64) {
    let (amount, allocated): (Wei, Wei) =
        sqlx::query_as("SELECT amount, allocated FROM predictions.hourly_pools WHERE hour = $1")
            .bind(hour)
            .fetch_one(db)
            .await
            .expect("a computed hour");
    (
        amount.as_u256().to::<u64>(),
        allocated.as_u256().to::<u64>(),
    )
}

/// The audit entries of `action` by `actor` about game `game`.
pub async fn audited(db: &PgPool, action: &str, actor: Uuid, game: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM auth.audit_log WHERE action = $1 AND actor_user_id = $2
           AND details->>'game_id' = $3",
    )
    .bind(action)
    .bind(actor)
    .bind(game.to_string())
    .fetch_one(db)
    .await
    .expect("audit log")
}

/// The predictions settings the test API runs with (the documented defaults).
pub fn settings() -> PredictionSettings {
    PredictionSettings::default()
}
