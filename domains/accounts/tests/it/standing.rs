//! Roles that stick and bans that bite (U1): the first admin comes only from the one-time
//! bootstrap, never from an e-mail address; a revoked role, a ban or a password reset ends the
//! account's access tokens on their next request, not when they expire.

use std::time::Duration;

use posmul_accounts::admin::{BootstrapError, bootstrap};
use posmul_api::testing::{TestApp, TestUser, spawn_app};
use posmul_api_kit::auth::roles::Role;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::assert_problem;

async fn get(app: &TestApp, path: &str, token: &str) -> Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn is_admin(app: &TestApp, user: &TestUser) -> bool {
    get(app, "/v1/admin/users", &user.access_token)
        .await
        .status()
        == StatusCode::OK
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_the_bootstrap_makes_one_admin_and_is_refused_once_an_admin_exists(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.register_user("root@example.org").await;
    assert!(
        !is_admin(&app, &root).await,
        "no one is admin by signing up"
    );

    let id = bootstrap(&app.db, " Root@Example.org ").await.unwrap();
    assert_eq!(id, root.user_id);
    // The bootstrap changed root's roles: the token from before it is over. The command runs in
    // another process, so the API sees the new version within TOKEN_VERSION_CACHE_MS (1 s).
    tokio::time::sleep(app.state.config.token_version_cache + Duration::from_millis(100)).await;
    let res = get(&app, "/v1/me", &root.access_token).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let root = app.login("root@example.org").await;
    assert!(is_admin(&app, &root).await);

    let eve = app.register_user("eve@example.org").await;
    let refused = bootstrap(&app.db, "eve@example.org").await;
    assert!(
        matches!(refused, Err(BootstrapError::AdminExists)),
        "{refused:?}"
    );
    let eve = app.login(&eve.email).await;
    assert!(!is_admin(&app, &eve).await);
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.audit_log
           WHERE action = 'bootstrap_admin' AND subject_user_id = $1 AND actor_user_id IS NULL"#,
        root.user_id,
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(n, 1, "the bootstrap is audited");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_the_bootstrap_refuses_an_unverified_or_unknown_email(pool: PgPool) {
    let app = spawn_app(pool).await;
    // Whoever registers the operator's address first cannot verify it, so gains nothing.
    let squatter = app.register_unverified("ops@example.org").await;
    let refused = bootstrap(&app.db, "ops@example.org").await;
    assert!(
        matches!(refused, Err(BootstrapError::Unverified(_))),
        "{refused:?}"
    );
    let refused = bootstrap(&app.db, "nobody@example.org").await;
    assert!(
        matches!(refused, Err(BootstrapError::NoSuchAccount(_))),
        "{refused:?}"
    );
    let squatter = app.login(&squatter.email).await;
    assert!(!is_admin(&app, &squatter).await);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_a_revoked_admin_stays_revoked_after_signing_in_again(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.register_first_admin("root@example.org").await;
    let ann = app.register_user("ann@example.org").await;
    let res = send(
        &app,
        reqwest::Method::PUT,
        &format!("/v1/admin/users/{}/roles/admin", ann.user_id),
        &root.access_token,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let ann = app.login(&ann.email).await;
    let res = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/admin/users/{}/roles/admin", root.user_id),
        &ann.access_token,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Revoked: at once, and still after signing in again (no address grants it back).
    assert!(!is_admin(&app, &root).await);
    let root = app.login("root@example.org").await;
    assert!(!is_admin(&app, &root).await);
    let me: Value = get(&app, "/v1/me", &root.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["citizen"]));
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_a_role_change_ends_the_users_access_tokens_on_the_next_request(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let bob = app.register_user("bob@example.org").await;
    assert_eq!(
        get(&app, "/v1/me", &bob.access_token).await.status(),
        StatusCode::OK
    );
    let res = send(
        &app,
        reqwest::Method::PUT,
        &format!("/v1/admin/users/{}/roles/moderator", bob.user_id),
        &admin.access_token,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = get(&app, "/v1/me", &bob.access_token).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // A refresh gives a token with the roles of now.
    let res = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": bob.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let pair: Value = res.json().await.unwrap();
    let me: Value = get(&app, "/v1/me", pair["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["citizen", "moderator"]));
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_a_ban_takes_effect_on_the_next_request_and_bars_signing_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let bob = app.register_user("bob@example.org").await;
    let ban_url = format!("/v1/admin/users/{}/ban", bob.user_id);

    let res = send(
        &app,
        reqwest::Method::PUT,
        &ban_url,
        &admin.access_token,
        Some(json!({ "reason": "spam" })),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let state: Value = res.json().await.unwrap();
    assert!(state["banned_at"].is_string(), "{state}");
    assert_eq!(state["reason"], "spam");

    // The token bob already holds: refused at once, not in 15 minutes.
    let res = get(&app, "/v1/me", &bob.access_token).await;
    assert_problem(res, StatusCode::FORBIDDEN, "banned").await;
    let res = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": bob.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "email": bob.email, "password": posmul_api::testing::TEST_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "banned").await;

    // An admin does not ban themself; a ban is lifted through the API and audited both ways.
    let res = send(
        &app,
        reqwest::Method::PUT,
        &format!("/v1/admin/users/{}/ban", admin.user_id),
        &admin.access_token,
        Some(json!({ "reason": "oops" })),
    )
    .await;
    assert_problem(res, StatusCode::CONFLICT, "cannot-ban-self").await;
    let res = send(
        &app,
        reqwest::Method::DELETE,
        &ban_url,
        &admin.access_token,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bob = app.login("bob@example.org").await;
    assert_eq!(
        get(&app, "/v1/me", &bob.access_token).await.status(),
        StatusCode::OK
    );
    let audit: Value = get(
        &app,
        &format!("/v1/admin/audit?user_id={}&limit=3", bob.user_id),
        &admin.access_token,
    )
    .await
    .json()
    .await
    .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["sign_in", "user_unbanned", "user_banned"]);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_a_password_reset_ends_access_tokens_on_the_next_request(pool: PgPool) {
    let app = spawn_app(pool).await;
    let carol = app.register_user("carol@example.org").await;
    let res = app
        .client
        .post(app.url("/v1/auth/password/forgot"))
        .json(&json!({ "email": carol.email }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = app.mailed_token(&carol.email, "reset-password").await;
    let res = app
        .client
        .post(app.url("/v1/auth/password/reset"))
        .json(&json!({ "token": token, "password": "a brand new password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Whoever stole the old password and signed in with it is out now.
    let res = get(&app, "/v1/me", &carol.access_token).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}
