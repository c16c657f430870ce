//! A hostile or sloppy client gets a 4xx problem+json, never a 500 and never plain text.

use posmul_api::testing::spawn_app;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::assert_problem;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn malformed_json_is_a_400_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(r#"{"email": "a@b.co", "password": "#)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "malformed-json").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_unknown_field_or_a_wrong_type_is_a_422_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    for body in [
        json!({ "email": "a@example.org", "password": "correct horse battery", "admin": true }),
        json!({ "email": 42, "password": "correct horse battery" }),
        json!({ "email": "a@example.org" }),
    ] {
        let res = app
            .client
            .post(app.url("/v1/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn a_body_that_is_not_json_is_a_415_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("email=a&password=b")
        .send()
        .await
        .unwrap();
    assert_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn a_huge_body_is_a_413_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    let huge = json!({ "email": "a@example.org", "password": "x".repeat(200_000) });
    let res = app
        .client
        .post(app.url("/v1/auth/register"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;

    // Without a Content-Length (chunked), the limit still holds.
    let stream = futures::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096])));
    let res = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_unknown_route_or_method_or_malformed_path_is_a_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = app
        .client
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not-found").await;
    let res = app
        .client
        .delete(app.url("/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    let admin = app
        .register_with_role("root@example.org", posmul_api_kit::auth::roles::Role::Admin)
        .await;
    let res = app
        .client
        .put(app.url("/v1/admin/users/not-a-uuid/roles/wizard"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "bad-request").await;
    let res = app
        .client
        .get(app.url("/v1/admin/audit?limit=abc"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "bad-request").await;
}
