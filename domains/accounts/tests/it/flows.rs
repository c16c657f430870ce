//! Registration, login, refresh rotation, logout, roles, profiles, audit (U1, U2).

use posmul_api::testing::{TEST_PASSWORD, spawn_app, spawn_app_with};
use posmul_api_kit::auth::roles::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::assert_problem;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_register_login_refresh_logout_round_trip(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("  Alice@Example.ORG ").await;

    let me: Value = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "alice@example.org", "emails are normalised");
    assert_eq!(me["roles"], json!(["citizen"]), "U1: citizen by default");

    let login = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "email": "ALICE@example.org", "password": TEST_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let pair: Value = login.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);

    let refreshed = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": pair["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_ne!(
        refreshed["refresh_token"], pair["refresh_token"],
        "rotates on every use"
    );

    let logout = app
        .client
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .json(&json!({ "refresh_token": refreshed["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    let after_logout = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refreshed["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_problem(
        after_logout,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_refresh_tokens_are_stored_hashed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let stored = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.refresh_tokens WHERE encode(token_hash, 'escape') = $1 OR encode(token_hash, 'base64') = $1"#,
        alice.refresh_token,
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);
    let hash = sqlx::query_scalar!("SELECT password_hash FROM auth.password_credentials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "U2: argon2id");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_reused_refresh_token_revokes_its_family(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/auth/refresh"))
                .json(&json!({ "refresh_token": token }))
                .send()
                .await
                .unwrap()
        }
    };
    let first = refresh(alice.refresh_token.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();

    // The stolen, already rotated token is replayed: refused, and the family dies with it.
    let replay = refresh(alice.refresh_token.clone()).await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let legit = refresh(first["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_problem(legit, StatusCode::UNAUTHORIZED, "invalid-credentials").await;

    let reuse_audited = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.audit_log WHERE action = 'refresh_token_reused' AND subject_user_id = $1"#,
        alice.user_id,
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(reuse_audited, 1);

    // Another session of the same user (another family) is untouched.
    let login: Value = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "email": "alice@example.org", "password": TEST_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = refresh(login["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(other.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_wrong_password_and_an_unknown_email_get_the_same_refusal_and_are_audited(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    for (email, password) in [
        ("alice@example.org", "not the right password"),
        ("nobody@example.org", TEST_PASSWORD),
    ] {
        let res = app
            .client
            .post(app.url("/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        let body = assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
        assert_eq!(body["detail"], "wrong email or password");
    }
    let failed = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.audit_log WHERE action = 'sign_in_failed'"#
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(failed, 2);
    let on_alice = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.audit_log WHERE action = 'sign_in_failed' AND subject_user_id = $1"#,
        alice.user_id,
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(on_alice, 1);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_registering_a_taken_email_is_a_409_and_weak_input_a_422(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.register_user("alice@example.org").await;
    let post = |body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/auth/register"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let dup = post(json!({ "email": "ALICE@example.org", "password": TEST_PASSWORD })).await;
    assert_problem(dup, StatusCode::CONFLICT, "email-taken").await;
    let short = post(json!({ "email": "bob@example.org", "password": "short" })).await;
    let body = assert_problem(short, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
    assert_eq!(body["errors"][0]["field"], "password");
    let bad_email = post(json!({ "email": "bob", "password": TEST_PASSWORD })).await;
    let body = assert_problem(
        bad_email,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "email");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e2_a_new_account_receives_the_signup_grant_through_the_ledger(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.signup_grant_pmp = 1234).await;
    let alice = app.register_user("alice@example.org").await;
    let mut conn = app.db.acquire().await.unwrap();
    let balance = posmul_economy::ledger::balance(
        &mut conn,
        posmul_economy::ledger::Account::user(alice.user_id),
    )
    .await
    .unwrap();
    assert_eq!(balance, posmul_core::money::Pmp::new(1234));
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_admins_grant_and_revoke_roles_and_every_change_is_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.register_first_admin("root@example.org").await;
    let bob = app.register_user("bob@example.org").await;

    let roles_url = |role: &str| app.url(&format!("/v1/admin/users/{}/roles/{role}", bob.user_id));
    let res = app
        .client
        .put(roles_url("moderator"))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the bootstrap made the first admin"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["roles"], json!(["citizen", "moderator"]));

    // The change ended bob's token; signed in again he is a moderator but not an admin.
    let bob = app.login("bob@example.org").await;
    let res = app
        .client
        .put(roles_url("admin"))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(body["required_role"], "admin");

    let res = app
        .client
        .delete(roles_url("moderator"))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let own = app
        .client
        .delete(app.url(&format!("/v1/admin/users/{}/roles/admin", root.user_id)))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap();
    assert_problem(own, StatusCode::CONFLICT, "cannot-revoke-own-admin").await;

    let audit: Value = app
        .client
        .get(app.url(&format!("/v1/admin/audit?user_id={}&limit=10", bob.user_id)))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "role_revoked",
            "sign_in",
            "role_granted",
            "email_verified",
            "register"
        ]
    );
    let granted = &audit["items"][2];
    assert_eq!(granted["actor_user_id"], root.user_id.to_string());
    assert_eq!(granted["details"]["role"], "moderator");
    let bootstrap = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.audit_log WHERE action = 'bootstrap_admin'"#
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(bootstrap, 1);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_the_audit_log_is_append_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.register_user("alice@example.org").await;
    for (sql, refused) in [
        (
            "UPDATE",
            sqlx::query!("UPDATE auth.audit_log SET action = 'x'")
                .execute(&app.db)
                .await,
        ),
        (
            "DELETE",
            sqlx::query!("DELETE FROM auth.audit_log")
                .execute(&app.db)
                .await,
        ),
        (
            "TRUNCATE",
            sqlx::query!("TRUNCATE auth.audit_log")
                .execute(&app.db)
                .await,
        ),
    ] {
        let err = refused.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn lists_page_with_opaque_cursors_until_the_end(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    for i in 0..4 {
        app.register_user(&format!("user{i}@example.org")).await;
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut url = app.url("/v1/admin/users?limit=2");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app
            .client
            .get(url)
            .bearer_auth(&admin.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for u in page["items"].as_array().unwrap() {
            seen.push(u["user_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "no user twice");

    let bad = app
        .client
        .get(app.url("/v1/admin/users?cursor=not-a-cursor"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
    let too_many = app
        .client
        .get(app.url("/v1/admin/users?limit=201"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_problem(
        too_many,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    )
    .await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_owners_edit_their_profile_and_others_see_only_the_public_part(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    let res = app
        .client
        .patch(app.url("/v1/me/profile"))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "display_name": " Alice ", "bio": "hi", "locale": "ko-KR" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let p: Value = res.json().await.unwrap();
    assert_eq!(
        p,
        json!({ "display_name": "Alice", "bio": "hi", "locale": "ko-KR" })
    );

    let res = app
        .client
        .patch(app.url("/v1/me/profile"))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "bio": "" }))
        .send()
        .await
        .unwrap();
    let p: Value = res.json().await.unwrap();
    assert_eq!(
        p,
        json!({ "display_name": "Alice", "bio": null, "locale": "ko-KR" })
    );

    let bad = app
        .client
        .patch(app.url("/v1/me/profile"))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "locale": "Korean!" }))
        .send()
        .await
        .unwrap();
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;

    let seen_by_bob: Value = app
        .client
        .get(app.url(&format!("/v1/users/{}/profile", alice.user_id)))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen_by_bob["display_name"], "Alice");
    assert!(
        seen_by_bob.get("email").is_none(),
        "no email in a public profile"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_an_expired_refresh_token_is_refused(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.refresh_ttl = std::time::Duration::from_secs(1)).await;
    let alice = app.register_user("alice@example.org").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let res = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": alice.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_sign_ins_are_audited_with_the_request_id_and_client_ip(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("x-request-id", "login-trace-42")
        .json(&json!({ "email": "alice@example.org", "password": TEST_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let row = sqlx::query!(
        "SELECT request_id, ip, actor_user_id FROM auth.audit_log WHERE action = 'sign_in'"
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(row.request_id.as_deref(), Some("login-trace-42"));
    assert_eq!(row.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(row.actor_user_id, Some(alice.user_id));
}
