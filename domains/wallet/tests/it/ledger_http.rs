//! PMP over HTTP (E1, E2): `POST /v1/pmp/transfers` with `Idempotency-Key`, and
//! `GET /v1/me/pmp/history`, against the whole API on a random port.

// Helpers outside #[test] functions panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use posmul_api::testing::{TestApp, TestUser, spawn_app_with};
use posmul_economy::ledger::{self, Account};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

async fn app_with_grant(connect: PgConnectOptions, connections: u32, grant: i64) -> TestApp {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .connect_with(connect)
        .await
        .unwrap();
    spawn_app_with(pool, |c| c.signup_grant_pmp = grant).await
}

async fn send(app: &TestApp, from: &TestUser, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/pmp/transfers"))
        .bearer_auth(&from.access_token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn pmp(app: &TestApp, user: Uuid) -> i64 {
    ledger::balance(&mut app.db.acquire().await.unwrap(), Account::user(user))
        .await
        .unwrap()
        .get()
}

async fn assert_exact(app: &TestApp) {
    let audit = ledger::audit(&mut app.db.acquire().await.unwrap())
        .await
        .unwrap();
    assert!(audit.is_exact(), "ledger.check_zero_sum(): {audit:?}");
}

async fn problem_type(res: reqwest::Response) -> String {
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    body["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://posmul.dev/problems/")
        .to_owned()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_500_concurrent_spends_of_1_pmp_against_100_leave_exactly_0(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = Arc::new(app_with_grant(connect, 24, 100).await);
    let payer = app.register_user("payer@example.org").await;
    let payee = app.register_user("payee@example.org").await;
    assert_eq!(pmp(&app, payer.user_id).await, 100);

    let body = json!({ "to_user_id": payee.user_id, "amount": 1 });
    let requests: Vec<_> = (0..500)
        .map(|_| {
            let (app, payer, body) = (Arc::clone(&app), payer.clone(), body.clone());
            tokio::spawn(async move {
                let res = send(&app, &payer, &Uuid::new_v4().to_string(), &body).await;
                let status = res.status();
                let json: Value = res.json().await.unwrap();
                (status, json)
            })
        })
        .collect();
    let mut balances_after = Vec::new();
    let mut refused = 0;
    for r in requests {
        let (status, json) = r.await.unwrap();
        match status {
            StatusCode::CREATED => balances_after.push(json["balance_after"].as_i64().unwrap()),
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(json["type"], "https://posmul.dev/problems/insufficient-pmp");
                refused += 1;
            }
            other => panic!("unexpected {other}: {json}"),
        }
    }
    balances_after.sort_unstable();
    assert_eq!(
        balances_after,
        (0..100).collect::<Vec<i64>>(),
        "exactly 100 succeed and each saw a distinct, never negative balance"
    );
    assert_eq!(refused, 400);
    assert_eq!(pmp(&app, payer.user_id).await, 0);
    assert_eq!(pmp(&app, payee.user_id).await, 200);
    assert_exact(&app).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_idempotent_retry_returns_the_same_response_and_moves_nothing(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = app_with_grant(connect, 8, 1000).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    let body = json!({ "to_user_id": bob.user_id, "amount": 250, "memo": "lunch" });

    let first = send(&app, &alice, "retry-1", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["balance_after"], 750);

    // The same body with other whitespace and field order is the same request.
    let retry = app
        .client
        .post(app.url("/v1/pmp/transfers"))
        .bearer_auth(&alice.access_token)
        .header("Idempotency-Key", "retry-1")
        .header("content-type", "application/json")
        .body(format!(
            "{{ \"memo\": \"lunch\",  \"amount\": 250, \"to_user_id\": \"{}\" }}",
            bob.user_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry, first, "the original response, byte for byte");

    assert_eq!(pmp(&app, alice.user_id).await, 750);
    assert_eq!(pmp(&app, bob.user_id).await, 1250);
    assert_exact(&app).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn the_same_key_with_a_different_request_is_a_409(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = app_with_grant(connect, 8, 1000).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    let res = send(
        &app,
        &alice,
        "k",
        &json!({ "to_user_id": bob.user_id, "amount": 5 }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = send(
        &app,
        &alice,
        "k",
        &json!({ "to_user_id": bob.user_id, "amount": 6 }),
    )
    .await;
    assert_eq!(res.status(), 409);
    assert_eq!(problem_type(res).await, "idempotency-key-reused");
    // Keys are per user: Bob may use "k" for his own request.
    let res = send(
        &app,
        &bob,
        "k",
        &json!({ "to_user_id": alice.user_id, "amount": 6 }),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(pmp(&app, alice.user_id).await, 1000 - 5 + 6);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn concurrent_duplicates_of_one_key_apply_once(_: PgPoolOptions, connect: PgConnectOptions) {
    let app = Arc::new(app_with_grant(connect, 16, 1000).await);
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    let body = json!({ "to_user_id": bob.user_id, "amount": 10 });
    let requests: Vec<_> = (0..40)
        .map(|_| {
            let (app, alice, body) = (Arc::clone(&app), alice.clone(), body.clone());
            tokio::spawn(async move {
                let res = send(&app, &alice, "same-key", &body).await;
                (res.status(), res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for r in requests {
        let (status, body) = r.await.unwrap();
        assert_eq!(status, 201, "{body}");
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every duplicate sees the one transfer"
    );
    assert_eq!(pmp(&app, alice.user_id).await, 990);
    assert_exact(&app).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn refused_transfers_are_problems_and_free_their_key(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = app_with_grant(connect, 8, 100).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;

    let no_key = app
        .client
        .post(app.url("/v1/pmp/transfers"))
        .bearer_auth(&alice.access_token)
        .json(&json!({ "to_user_id": bob.user_id, "amount": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 422);
    assert_eq!(problem_type(no_key).await, "validation-failed");

    let cases = [
        (
            json!({ "to_user_id": alice.user_id, "amount": 1 }),
            422,
            "same-account",
        ),
        (
            json!({ "to_user_id": Uuid::now_v7(), "amount": 1 }),
            404,
            "not-found",
        ),
        (
            json!({ "to_user_id": bob.user_id, "amount": 0 }),
            422,
            "validation-failed",
        ),
        (
            json!({ "to_user_id": bob.user_id, "amount": -3 }),
            422,
            "validation-failed",
        ),
        (
            json!({ "to_user_id": bob.user_id, "amount": "1" }),
            422,
            "invalid-body",
        ),
        (
            json!({ "to_user_id": bob.user_id, "amount": 1, "extra": true }),
            422,
            "invalid-body",
        ),
        (
            json!({ "to_user_id": bob.user_id, "amount": 1, "memo": "x".repeat(281) }),
            422,
            "validation-failed",
        ),
        (
            json!({ "to_user_id": bob.user_id, "amount": 101 }),
            422,
            "insufficient-pmp",
        ),
    ];
    for (body, status, kind) in cases {
        let res = send(&app, &alice, "reused-after-refusal", &body).await;
        assert_eq!(res.status(), status, "{body}");
        assert_eq!(problem_type(res).await, kind, "{body}");
    }
    // A refusal stores nothing: the key still works for a valid request.
    let res = send(
        &app,
        &alice,
        "reused-after-refusal",
        &json!({ "to_user_id": bob.user_id, "amount": 100 }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let anonymous = app
        .client
        .post(app.url("/v1/pmp/transfers"))
        .header("Idempotency-Key", "x")
        .json(&json!({ "to_user_id": bob.user_id, "amount": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(pmp(&app, alice.user_id).await, 0);
    assert_exact(&app).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn the_history_shows_counter_accounts_and_references_page_by_page(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = app_with_grant(connect, 8, 1000).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    for (i, amount) in [10, 20, 30, 40].into_iter().enumerate() {
        let res = send(
            &app,
            &alice,
            &format!("h{i}"),
            &json!({ "to_user_id": bob.user_id, "amount": amount, "memo": format!("#{i}") }),
        )
        .await;
        assert_eq!(res.status(), 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = app.url("/v1/me/pmp/history?limit=2");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app
            .client
            .get(url)
            .bearer_auth(&alice.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let amounts: Vec<i64> = seen.iter().map(|e| e["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, vec![-40, -30, -20, -10, 1000]);
    let after: Vec<i64> = seen
        .iter()
        .map(|e| e["balance_after"].as_i64().unwrap())
        .collect();
    assert_eq!(after, vec![900, 940, 970, 990, 1000]);
    assert_eq!(seen[0]["kind"], "user_transfer");
    assert_eq!(
        seen[0]["counter_account"],
        json!({ "kind": "user", "reference_id": bob.user_id })
    );
    assert_eq!(
        seen[0]["reference"],
        json!({ "kind": "user", "id": bob.user_id })
    );
    assert_eq!(seen[0]["memo"], "#3");
    assert_eq!(seen[4]["kind"], "signup_grant");
    assert_eq!(seen[4]["counter_account"]["kind"], "issuance");

    // Bob's history is his own.
    let bobs: Value = app
        .client
        .get(app.url("/v1/me/pmp/history"))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let amounts: Vec<i64> = bobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![40, 30, 20, 10, 1000]);

    let bad = app
        .client
        .get(app.url("/v1/me/pmp/history?cursor=nope"))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}
