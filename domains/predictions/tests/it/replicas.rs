//! Two API replicas on one PostgreSQL and one Redis behave as one (docs/ARCHITECTURE.md,
//! "Several replicas"): the rate limits, the idempotency keys (E1: a stake moves points once),
//! refresh-token rotation with reuse detection (U2), and the event streams all hold across them.

use posmul_api::testing::{TestApp, spawn_app_with_clock};
use posmul_api_kit::{ApiConfig, client::TrustedProxies};
use posmul_economy::ledger::Account;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    streams::Events,
    support::{GameBuilder, World, problem},
};

/// Both replicas share Redis (under a prefix of this test's own) and a tight per-IP budget on
/// the auth routes; they sit behind a proxy on loopback, so a request's `X-Forwarded-For` names
/// its client (the set-up's requests come from loopback itself and spend another budget).
fn shared(prefix: &str) -> impl Fn(&mut ApiConfig) + '_ {
    move |c: &mut ApiConfig| {
        c.redis_url =
            Some(std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()));
        c.redis_key_prefix = prefix.to_owned();
        c.auth_ip_rate.per_minute = 4;
        c.trusted_proxies = TrustedProxies::parse(&["127.0.0.1"]).expect("loopback");
    }
}

/// A client behind the proxy.
const CLIENT: &str = "203.0.113.7";

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/refresh"))
        .header("X-Forwarded-For", CLIENT)
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .expect("refresh sent")
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_u2_two_replicas_share_limits_keys_sessions_and_streams(pool: PgPool) {
    let prefix = format!("posmul:test:{}:", Uuid::new_v4());
    let w = World::with_config(pool.clone(), shared(&prefix)).await;
    let a = &w.app;
    let b = spawn_app_with_clock(pool.clone(), w.clock.clone(), shared(&prefix)).await;
    assert!(a.state.limiter.is_redis() && b.state.limiter.is_redis());
    let alice = w.user("alice@example.org").await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;

    // Event streams: alice watches the game and her own events on replica B.
    let mut game_stream = Events::open(b.client.get(b.url(&game.path("/events")))).await;

    // Idempotency: one key sent to A and B at once, then again to B, moves the points once.
    let stake = |app: &TestApp, key: &'static str| {
        let req = app
            .client
            .post(app.url(&game.path("/stakes")))
            .bearer_auth(&alice.access_token)
            .header("Idempotency-Key", key)
            .json(&json!({ "option": 0, "amount": 100 }));
        async move {
            let res = req.send().await.expect("stake sent");
            let status = res.status();
            (status, res.json::<Value>().await.expect("JSON"))
        }
    };
    let before = w.balance(Account::user(alice.user_id)).await;
    let (on_a, on_b) = tokio::join!(stake(a, "k-replicas"), stake(&b, "k-replicas"));
    assert_eq!(on_a.0, StatusCode::CREATED, "{}", on_a.1);
    assert_eq!(on_b.0, StatusCode::CREATED, "{}", on_b.1);
    assert_eq!(
        on_a.1, on_b.1,
        "the loser of the race replays the winner's response"
    );
    let again = stake(&b, "k-replicas").await;
    assert_eq!(again.1, on_a.1);
    assert_eq!(
        w.balance(Account::user(alice.user_id)).await,
        before - 100,
        "E1: three sends of one key over two replicas moved 100 PMP once"
    );
    // ... and the stake placed through A reached the stream served by B.
    let e = game_stream.next("stake").await;
    assert_eq!(e["payload"]["amount"], 100);
    assert_eq!(e["payload"]["totals"][0]["total_staked"], 100);

    // Refresh tokens: rotated on B, the old one replayed on A is reuse and kills the family,
    // so the token B issued is refused on either replica.
    let rotated = refresh(&b, &alice.refresh_token).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.expect("pair");
    let new_token = rotated["refresh_token"].as_str().expect("refresh token");
    let replay = refresh(a, &alice.refresh_token).await;
    assert_eq!(
        replay.status(),
        StatusCode::UNAUTHORIZED,
        "U2: reuse detected on A"
    );
    for app in [a, &b] {
        let res = refresh(app, new_token).await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "U2: the family is revoked"
        );
    }

    // Rate limits: the client's four refreshes above, two on each replica, spent its per-IP
    // budget of four on the auth routes (in well under the 15 s one takes to come back), so its
    // next call is refused by whichever replica it reaches.
    for app in [a, &b] {
        let limited = app
            .client
            .get(app.url("/v1/auth/siwe/nonce"))
            .header("X-Forwarded-For", CLIENT)
            .send()
            .await
            .expect("nonce sent");
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(limited.headers().contains_key("retry-after"));
        let body: Value = limited.json().await.expect("problem");
        assert_eq!(problem(&body), "rate-limited");
    }
    w.assert_books_exact().await;
}
