//! The one-time bootstrap command (U1): `posmul-api admin bootstrap --email …` makes the first
//! admin of a migrated database and refuses once an admin exists; the binary still serves
//! when no command is given.

// Helpers outside #[test] functions panic on purpose: a failed request fails the test.
#![allow(clippy::unwrap_used)]

use std::{
    process::{Command, Output},
    time::Duration,
};

use posmul_api::testing::{spawn_app, spawn_app_with};
use sqlx::PgPool;

/// The URL of the test's database.
fn database_url(pool: &PgPool) -> String {
    let o = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        o.get_username(),
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap()
    )
}

/// Runs the `posmul-api` binary against the test's database, with nothing else set.
fn posmul_api(pool: &PgPool, args: &[&str], extra: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_posmul-api"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url(pool))
        .env("POSMUL_ENV", "dev")
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .output()
        .unwrap()
}

/// Bootstraps `email` as the first admin; the command must succeed. Its stdout.
fn bootstrap(pool: &PgPool, email: &str) -> String {
    let out = posmul_api(pool, &["admin", "bootstrap", "--email", email], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The status of `GET path` with `token`.
async fn status_of(app: &posmul_api::testing::TestApp, path: &str, token: &str) -> u16 {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_the_bootstrap_command_makes_the_first_admin_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.register_user("root@example.org").await;
    let eve = app.register_user("eve@example.org").await;

    assert_eq!(
        bootstrap(&pool, "root@example.org"),
        root.user_id.to_string(),
        "the command prints the admin's id"
    );
    let root = app.login("root@example.org").await;
    assert_eq!(
        status_of(&app, "/v1/admin/users", &root.access_token).await,
        200
    );

    let out = posmul_api(&pool, &["admin", "bootstrap", "--email", &eve.email], &[]);
    assert!(!out.status.success(), "a second bootstrap is refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("an admin already exists"), "{stderr}");
    let admins =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM auth.user_roles WHERE role = 'admin'"#)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(admins, 1);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_a_token_issued_after_a_bump_this_process_did_not_see_is_accepted(pool: PgPool) {
    // The API caches standings for a minute; the bootstrap command bumps the version in another
    // process, and the admin signs in again at once (as script/dev's seed does).
    let app = spawn_app_with(pool.clone(), |c| {
        c.token_version_cache = Duration::from_secs(60)
    })
    .await;
    let root = app.register_user("root@example.org").await;
    assert_eq!(
        status_of(&app, "/v1/me", &root.access_token).await,
        200,
        "the standing is now cached"
    );

    bootstrap(&pool, "root@example.org");
    let fresh = app.login("root@example.org").await;
    assert_eq!(
        status_of(&app, "/v1/admin/users", &fresh.access_token).await,
        200
    );
    // The token from before the bump stays refused.
    assert_eq!(status_of(&app, "/v1/me", &root.access_token).await, 401);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_the_api_binary_refuses_admin_emails(pool: PgPool) {
    // Serving is the default command; a leftover ADMIN_EMAILS stops it before it listens.
    let out = posmul_api(
        &pool,
        &[],
        &[
            ("API_ADDR", "127.0.0.1:0"),
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("ADMIN_EMAILS", "root@example.org"),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("admin bootstrap"), "{stderr}");
}
