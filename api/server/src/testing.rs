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
//! database (already migrated by `sqlx::test`) as the `posmul_api` role, as in production (so a
//! write the API has no grant for fails its test; `TestApp::db` stays the owner's pool for a
//! test's own set-up and checks), with [`ApiConfig::for_tests`]: the dev JWT secret,
//! rate limits out of the way, the in-process limiter, the system clock, and a mailbox folder
//! of its own (removed when the app is dropped) that [`TestApp::wait_for_mail`] reads.
//! [`TestApp::register_user`] registers *and* verifies the e-mail through that mailbox, so the
//! user has the sign-up grant (E5); [`TestApp::register_unverified`] stops before. [`spawn_app_with`]
//! lets a test change the config first; [`spawn_app_with_clock`] also gives the app the clock
//! its rules read, so a test moves time by advancing a [`Clock::manual`] (or a test chain's
//! time, with [`Clock::chain`]) instead of editing times in the database.

use std::{path::PathBuf, time::Duration};

use sqlx::PgPool;
use uuid::Uuid;

use posmul_accounts::auth::{roles::Role, session::TokenPair};
use posmul_api_kit::{AppState, config::ApiConfig};
use posmul_core::{Clock, db::ServiceRole};

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
    _mailbox: RemoveOnDrop,
}

/// Removes the test's mailbox folder when dropped.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
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
    let as_api =
        posmul_testkit::roles::pool_as(&pool, ServiceRole::Api, config.database_max_connections)
            .await;
    let app = Application::build_with_clock(config, as_api, clock)
        .await
        .expect("the test API builds");
    let port = app.port();
    let metrics_url = format!("http://{}/metrics", app.metrics_addr());
    let state = app.state().clone();
    let mailbox = state.mailer.mailbox_dir().map(std::path::Path::to_path_buf);
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
        _mailbox: RemoveOnDrop(mailbox),
    }
}

impl TestApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Registers `email` with [`TEST_PASSWORD`] and verifies it with the token from the
    /// mailbox, so the sign-up grant is paid (E5, within the daily limit); panics unless both
    /// succeed.
    pub async fn register_user(&self, email: &str) -> TestUser {
        let user = self.register_unverified(email).await;
        let token = self.mailed_token(&user.email, "verify-email").await;
        let res = self
            .client
            .post(self.url("/v1/auth/email/verify"))
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .expect("verify request");
        assert_eq!(
            res.status(),
            200,
            "verify {email}: {}",
            res.text().await.unwrap_or_default()
        );
        user
    }

    /// The mails in the mailbox addressed to `to`, oldest first (whole `.eml` texts).
    pub fn mails_to(&self, to: &str) -> Vec<String> {
        let Some(dir) = self.state.mailer.mailbox_dir() else {
            return vec![];
        };
        let to = to.trim().to_lowercase();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect(),
            Err(_) => vec![],
        };
        files.sort();
        files
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter(|text| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .any(|l| l.eq_ignore_ascii_case(&format!("to: {to}")))
            })
            .collect()
    }

    /// Waits (up to 10 s) until at least `n` mails to `to` are in the mailbox; returns them.
    pub async fn wait_for_mail(&self, to: &str, n: usize) -> Vec<String> {
        for _ in 0..1000 {
            let mails = self.mails_to(to);
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {n} mails to {to} in the mailbox");
    }

    /// The token of the newest `page` link (`verify-email`, `reset-password`) mailed to `to`,
    /// waiting for one.
    pub async fn mailed_token(&self, to: &str, page: &str) -> String {
        for _ in 0..1000 {
            if let Some(token) = self
                .mails_to(to)
                .iter()
                .rev()
                .find_map(|m| token_in(m, page))
            {
                return token;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {page} link mailed to {to}");
    }

    /// Registers `email` with [`TEST_PASSWORD`], without verifying it; panics unless it
    /// succeeds.
    pub async fn register_unverified(&self, email: &str) -> TestUser {
        self.sign_in_at("/v1/auth/register", email, 201).await
    }

    /// Signs `email` in with [`TEST_PASSWORD`]; panics unless it succeeds.
    pub async fn login(&self, email: &str) -> TestUser {
        self.sign_in_at("/v1/auth/login", email, 200).await
    }

    /// Posts `email` and [`TEST_PASSWORD`] to `path`; panics unless it answers `expect` with a
    /// token pair.
    async fn sign_in_at(&self, path: &str, email: &str, expect: u16) -> TestUser {
        let res = self
            .client
            .post(self.url(path))
            .json(&serde_json::json!({ "email": email, "password": TEST_PASSWORD }))
            .send()
            .await
            .expect("sign-in request");
        assert_eq!(
            res.status(),
            expect,
            "{path} {email}: {}",
            res.text().await.unwrap_or_default()
        );
        let pair: TokenPair = res.json().await.expect("a token pair");
        TestUser {
            user_id: pair.user_id,
            email: email.trim().to_lowercase(),
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
        }
    }

    /// Registers and verifies `email`, makes it the first admin as `posmul-api admin
    /// bootstrap` does (U1), and signs it in again (the bootstrap ends its earlier tokens).
    pub async fn register_first_admin(&self, email: &str) -> TestUser {
        self.register_user(email).await;
        posmul_accounts::admin::bootstrap(&self.db, email)
            .await
            .expect("the first admin");
        self.login(email).await
    }

    /// Registers `email` and grants it `role` directly in the database, without bumping its
    /// token version, so the token it holds keeps working and role checks (which read the
    /// database) see the role at once.
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

/// A mail's text with quoted-printable undone (soft line breaks joined, `=XX` decoded), so a
/// long link reads whole.
pub fn decode_mail(mail: &str) -> String {
    let joined = mail.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'=', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token of the `page` link (`…/<page>?token=<token>`) in a mail's text, if any.
pub fn token_in(mail: &str, page: &str) -> Option<String> {
    let mail = decode_mail(mail);
    let at = mail.find(&format!("/{page}?token="))? + page.len() + "/?token=".len();
    let token: String = mail[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}
