//! Helpers for tests (this crate's `tests/`, other crates' end-to-end tests). Not part of the
//! service; compiled in so integration tests can use it.
//!
//! ```text
//! #[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
//! async fn something(pool: sqlx::PgPool) {
//!     let app = posmul_api::testing::spawn_app(pool).await;
//!     let alice = app.register_user("alice@example.org").await;
//!     let res = app.client.get(app.url("/v1/me")).bearer_auth(&alice.access_token).send().await.unwrap();
//!     assert_eq!(res.status(), 200);
//! }
//! ```
//!
//! [`spawn_app`] serves the whole API (all layers) on `127.0.0.1:<free port>` over the test's
//! pool (already migrated by `sqlx::test`), with [`ApiConfig::for_tests`]: the dev JWT secret,
//! rate limits out of the way, the in-process limiter, the system clock. [`spawn_app_with`]
//! lets a test change the config first; [`spawn_app_with_clock`] also gives the app the clock
//! its rules read, so a test moves time by advancing a [`Clock::manual`] (or a test chain's
//! time, with [`Clock::chain`]) instead of editing times in the database.

use sqlx::PgPool;
use uuid::Uuid;

use posmul_accounts::auth::{roles::Role, session::TokenPair};
use posmul_api_kit::{AppState, config::ApiConfig};
use posmul_core::Clock;

use crate::startup::Application;

/// The password [`TestApp::register_user`] uses.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// A running API for one test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub port: u16,
    /// `http://127.0.0.1:<port>/metrics` of the operations listener.
    pub metrics_url: String,
    /// A plain client (no cookies, no redirects needed).
    pub client: reqwest::Client,
    pub db: PgPool,
    pub state: AppState,
    /// Stops the server and its background jobs when the test ends, so their pooled
    /// connections return and `sqlx::test` can close the pool at once (it waits up to 10 s).
    _tasks: AbortOnDrop,
}

/// Aborts tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub user_id: Uuid,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// Serves the API over `pool` with the test config.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, |_| {}).await
}

/// Serves the API over `pool` with the test config changed by `configure`.
pub async fn spawn_app_with(pool: PgPool, configure: impl FnOnce(&mut ApiConfig)) -> TestApp {
    spawn_app_with_clock(pool, Clock::system(), configure).await
}

/// Serves the API over `pool` reading `clock` (a [`Clock::manual`] the test advances, or a
/// test chain's [`Clock::chain`]), with the test config changed by `configure`. The test keeps
/// a clone of the clock to move it; `app.state.clock` is the same clock.
pub async fn spawn_app_with_clock(
    pool: PgPool,
    clock: Clock,
    configure: impl FnOnce(&mut ApiConfig),
) -> TestApp {
    let mut config = ApiConfig::for_tests("postgres://unused-the-pool-is-given");
    configure(&mut config);
    let app = Application::build_with_clock(config, pool.clone(), clock)
        .await
        .expect("the test API builds");
    let port = app.port();
    let metrics_url = format!("http://{}/metrics", app.metrics_addr());
    let state = app.state().clone();
    let mut tasks = app.background_tasks();
    let server = tokio::spawn(async move {
        let _ = app.run_until(std::future::pending()).await;
    });
    tasks.push(server.abort_handle());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_url,
        client: reqwest::Client::new(),
        db: pool,
        state,
        _tasks: AbortOnDrop(tasks),
    }
}

impl TestApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Registers `email` with [`TEST_PASSWORD`]; panics unless it succeeds.
    pub async fn register_user(&self, email: &str) -> TestUser {
        let res = self
            .client
            .post(self.url("/v1/auth/register"))
            .json(&serde_json::json!({ "email": email, "password": TEST_PASSWORD }))
            .send()
            .await
            .expect("register request");
        assert_eq!(
            res.status(),
            201,
            "register {email}: {}",
            res.text().await.unwrap_or_default()
        );
        let pair: TokenPair = res.json().await.expect("a token pair");
        TestUser {
            user_id: pair.user_id,
            email: email.to_owned(),
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
        }
    }

    /// Registers `email` and grants it `role` directly in the database (role checks read the
    /// database, so the user's token carries the role at once).
    pub async fn register_with_role(&self, email: &str, role: Role) -> TestUser {
        let user = self.register_user(email).await;
        self.grant_role(user.user_id, role).await;
        user
    }

    /// Grants `role` to `user_id` directly in the database.
    pub async fn grant_role(&self, user_id: Uuid, role: Role) {
        sqlx::query!(
            "INSERT INTO auth.user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            user_id,
            role.as_str(),
        )
        .execute(&self.db)
        .await
        .expect("grant role");
    }
}
