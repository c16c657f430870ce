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

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_the_bootstrap_command_makes_the_first_admin_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.register_user("root@example.org").await;
    let eve = app.register_user("eve@example.org").await;

    let out = posmul_api(
        &pool,
        &["admin", "bootstrap", "--email", "root@example.org"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        root.user_id.to_string(),
        "the command prints the admin's id"
    );
    let root = app.login("root@example.org").await;
    let res = app
        .client
        .get(app.url("/v1/admin/users"))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

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
    let me = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the standing is now cached");

    let out = posmul_api(
        &pool,
        &["admin", "bootstrap", "--email", "root@example.org"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = app.login("root@example.org").await;
    let res = app
        .client
        .get(app.url("/v1/admin/users"))
        .bearer_auth(&fresh.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // The token from before the bump stays refused.
    let res = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
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
