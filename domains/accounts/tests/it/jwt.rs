//! Access tokens (U2): expired, tampered, `alg: none`, wrong-key and wrong-algorithm tokens
//! are refused with a 401 problem.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use posmul_api::testing::{TestApp, spawn_app};
use posmul_api_kit::{
    auth::jwt::{AUDIENCE, Claims, ISSUER, JwtKeys, now_secs},
    config::DEV_JWT_SECRET,
};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::assert_problem;

async fn me_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn claims(sub: Uuid, exp: u64) -> Claims {
    Claims {
        sub,
        roles: vec![],
        iat: now_secs().saturating_sub(3600),
        exp,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        jti: Uuid::new_v4(),
        ver: 0,
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_an_expired_access_token_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let expired = app
        .state
        .jwt
        .sign(&claims(alice.user_id, now_secs() - 60))
        .unwrap();
    let res = me_with(&app, &expired).await;
    assert!(res.headers().contains_key("www-authenticate"));
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let fresh = app
        .state
        .jwt
        .sign(&claims(alice.user_id, now_secs() + 60))
        .unwrap();
    assert_eq!(me_with(&app, &fresh).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_tampered_access_token_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    let mut parts: Vec<String> = alice.access_token.split('.').map(str::to_owned).collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["sub"] = json!(bob.user_id);
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    let forged = parts.join(".");
    assert_problem(
        me_with(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_an_alg_none_token_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims(alice.user_id, now_secs() + 600)).unwrap());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert_problem(
            me_with(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_token_signed_with_another_key_or_algorithm_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let other = JwtKeys::new(
        b"another-secret-that-is-long-enough-for-hs256-0000",
        Duration::from_secs(900),
    );
    let wrong_key = other
        .sign(&claims(alice.user_id, now_secs() + 600))
        .unwrap();
    assert_problem(
        me_with(&app, &wrong_key).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims(alice.user_id, now_secs() + 600),
        &EncodingKey::from_secret(DEV_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_problem(
        me_with(&app, &hs512).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    let mut wrong_aud = claims(alice.user_id, now_secs() + 600);
    wrong_aud.aud = "someone-else".into();
    let wrong_aud = app.state.jwt.sign(&wrong_aud).unwrap();
    assert_problem(
        me_with(&app, &wrong_aud).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_missing_or_non_bearer_authorization_is_a_401_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = app.client.get(app.url("/v1/me")).send().await.unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let res = app
        .client
        .get(app.url("/v1/me"))
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}
