//! The service around the routes: health, metrics, OpenAPI and its UI, request ids, CORS and
//! the rate limits (in process and in Redis).

use posmul_api::testing::{TEST_PASSWORD, spawn_app, spawn_app_with};
use posmul_api_kit::client::TrustedProxies;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::assert_problem;

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn health_readiness_and_metrics_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    for path in ["/healthz", "/readyz"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let alice = app.register_user("alice@example.org").await;
    app.client
        .get(app.url("/v1/me"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        public.status(),
        StatusCode::NOT_FOUND,
        "metrics are not on the public port"
    );
    assert!(app.metrics_url.starts_with("http://127.0.0.1:"));
    assert_ne!(app.metrics_url, app.url("/metrics"));
    let metrics = app
        .client
        .get(&app.metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(
        metrics.contains("route=\"/v1/me\""),
        "per matched route: {metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "a histogram"
    );
    assert!(
        metrics.contains("auth_registrations_total"),
        "business counters"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn the_openapi_document_describes_every_route_and_the_ui_is_served(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/auth/siwe/nonce",
        "/v1/auth/siwe/verify",
        "/v1/me",
        "/v1/me/profile",
        "/v1/me/wallets/link",
        "/v1/users/{user_id}/profile",
        "/v1/admin/users",
        "/v1/admin/users/{user_id}/roles/{role}",
        "/v1/admin/users/{user_id}/ban",
        "/v1/admin/audit",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let ui = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(
        ui.text().await.unwrap().contains("swagger"),
        "the UI is served from the binary"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn every_response_carries_a_request_id_and_a_given_one_is_kept(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let res = app
        .client
        .get(app.url("/v1/nothing"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn cors_allows_only_the_configured_origins(pool: PgPool) {
    let app = spawn_app_with(pool, |c| {
        c.cors_origins = vec!["https://app.posmul.dev".into()]
    })
    .await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .unwrap()
        }
    };
    let ok = preflight("https://app.posmul.dev").await;
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.posmul.dev"
    );
    let evil = preflight("https://evil.example").await;
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_credential_routes_are_rate_limited_per_ip_with_retry_after(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.auth_ip_rate.per_minute = 3).await;
    let login = || {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/auth/login"))
                .json(&json!({ "email": "x@example.org", "password": TEST_PASSWORD }))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(login().await.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = login().await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=21).contains(&retry), "{retry}");
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    // Other routes use the general per-IP bucket.
    let res = app
        .client
        .get(app.url("/v1/auth/../me"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Signs in (and fails) with `X-Forwarded-For: <forwarded>`; the status.
async fn login_forwarded(app: &posmul_api::testing::TestApp, forwarded: &str) -> StatusCode {
    app.client
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "email": "x@example.org", "password": TEST_PASSWORD }))
        .send()
        .await
        .unwrap()
        .status()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_forged_x_forwarded_for_does_not_escape_the_per_ip_limit(pool: PgPool) {
    // The test client plays a reverse proxy on 127.0.0.1 that appends the address it saw
    // (203.0.113.7); the client in front of it writes a new address left of that every time.
    let app = spawn_app_with(pool, |c| {
        c.auth_ip_rate.per_minute = 3;
        c.trusted_proxies = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
    })
    .await;
    for i in 0..3 {
        let forged = format!("198.51.100.{i}, 203.0.113.7");
        assert_eq!(
            login_forwarded(&app, &forged).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_forwarded(&app, "198.51.100.99, 203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a new forged entry is a new bucket only if the leftmost entry is believed"
    );
    // Another client behind the same proxy has its own bucket.
    assert_eq!(
        login_forwarded(&app, "203.0.113.8").await,
        StatusCode::UNAUTHORIZED
    );
    // The audit log records the address the proxy saw, not the forged one.
    let ips = sqlx::query_scalar!(
        r#"SELECT DISTINCT ip AS "ip!" FROM auth.audit_log WHERE ip IS NOT NULL ORDER BY 1"#
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(ips, ["203.0.113.7", "203.0.113.8"]);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_without_trusted_proxies_x_forwarded_for_is_ignored(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.auth_ip_rate.per_minute = 2).await;
    assert_eq!(
        login_forwarded(&app, "198.51.100.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_forwarded(&app, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_forwarded(&app, "198.51.100.3").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the socket peer (127.0.0.1) is the client"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_ipv6_clients_share_a_limit_per_slash_64(pool: PgPool) {
    let app = spawn_app_with(pool, |c| {
        c.auth_ip_rate.per_minute = 2;
        c.trusted_proxies = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
    })
    .await;
    // Two addresses of one /64: one bucket.
    assert_eq!(
        login_forwarded(&app, "2001:db8:5:6::1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_forwarded(&app, "2001:db8:5:6:ffff::2").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_forwarded(&app, "2001:db8:5:6:1234::3").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The next /64 is another subscriber.
    assert_eq!(
        login_forwarded(&app, "2001:db8:5:7::1").await,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_signed_in_users_are_rate_limited_per_user(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.user_rate.per_minute = 2).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    let me = |token: &str| {
        let req = app.client.get(app.url("/v1/me")).bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    assert_eq!(me(&alice.access_token).await.status(), StatusCode::OK);
    assert_eq!(me(&alice.access_token).await.status(), StatusCode::OK);
    assert_problem(
        me(&alice.access_token).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
    )
    .await;
    assert_eq!(
        me(&bob.access_token).await.status(),
        StatusCode::OK,
        "per user"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_rate_limits_are_shared_through_redis_when_configured(pool: PgPool) {
    let prefix = format!("posmul:test:{}:", uuid::Uuid::new_v4());
    let configure = |c: &mut posmul_api::ApiConfig| {
        c.redis_url =
            Some(std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()));
        c.redis_key_prefix = prefix.clone();
        c.auth_ip_rate.per_minute = 2;
    };
    // Two API replicas over the same Redis share one budget.
    let a = spawn_app_with(pool.clone(), configure).await;
    let b = spawn_app_with(pool, configure).await;
    assert!(a.state.limiter.is_redis());
    let nonce = |app: &posmul_api::testing::TestApp| {
        let req = app.client.get(app.url("/v1/auth/siwe/nonce"));
        async move { req.send().await.unwrap() }
    };
    assert_eq!(nonce(&a).await.status(), StatusCode::OK);
    assert_eq!(nonce(&b).await.status(), StatusCode::OK);
    let limited = nonce(&a).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    assert_problem(
        nonce(&b).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
    )
    .await;
}

/// DESIGN.md, "Addresses … JSON properties": every property of every schema the API documents
/// (components and inline bodies, requests and responses) is snake_case.
#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn every_documented_json_property_is_snake_case(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = 0;
    let mut not_snake = Vec::new();
    properties(&doc, "#", &mut |at, name| {
        found += 1;
        let snake = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !snake {
            not_snake.push(format!("{at}: {name}"));
        }
    });
    assert!(
        found > 100,
        "the walk reaches the schemas ({found} properties)"
    );
    assert!(not_snake.is_empty(), "not snake_case: {not_snake:#?}");
}

/// Calls `f(path, name)` for every property name of every schema under `v`.
fn properties(v: &Value, at: &str, f: &mut impl FnMut(&str, &str)) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                for name in props.keys() {
                    f(at, name);
                }
            }
            for (key, child) in map {
                properties(child, &format!("{at}/{key}"), f);
            }
        }
        Value::Array(items) => {
            for child in items {
                properties(child, at, f);
            }
        }
        _ => {}
    }
}
