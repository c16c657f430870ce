//! PMP over HTTP (E1, E2, E5): no route moves PMP from one citizen to another, and
//! `GET /v1/me/pmp/history` shows the internal movements, against the whole API on a random
//! port.

// Helpers outside #[test] functions panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used)]

use posmul_api::testing::{TestApp, spawn_app_with};
use posmul_core::money::Pmp;
use posmul_economy::ledger::{
    self, Account, Reference, ReferenceKind, TransferKind, TransferRequest,
};
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

async fn pmp(app: &TestApp, user: Uuid) -> i64 {
    ledger::balance(&mut app.db.acquire().await.unwrap(), Account::user(user))
        .await
        .unwrap()
        .get()
}

/// An internal movement between two users' accounts (what a feature of the platform, not a
/// citizen, may do through the ledger).
async fn internal_transfer(app: &TestApp, from: Uuid, to: Uuid, amount: i64, memo: &str) {
    let mut tx = app.db.begin().await.unwrap();
    ledger::transfer_between_open_accounts(
        &mut tx,
        TransferRequest {
            from: Account::user(from),
            to: Account::user(to),
            amount: Pmp::new(amount),
            kind: TransferKind::UserTransfer,
            reference: Reference {
                kind: ReferenceKind::User,
                id: to,
            },
            idempotency_key: None,
            memo: Some(memo.to_owned()),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e5_no_route_moves_pmp_from_one_citizen_to_another(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = app_with_grant(connect, 8, 100).await;
    let farm = app.register_user("farm@example.org").await;
    let collector = app.register_user("collector@example.org").await;
    assert_eq!(pmp(&app, farm.user_id).await, 100);

    // The attack: a farm of accounts funnels its sign-up grants to one collector.
    let res = app
        .client
        .post(app.url("/v1/pmp/transfers"))
        .bearer_auth(&farm.access_token)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({ "to_user_id": collector.user_id, "amount": 100 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "E5: the route is gone");
    assert_eq!(pmp(&app, farm.user_id).await, 100);
    assert_eq!(pmp(&app, collector.user_id).await, 100);

    // And no documented route sends PMP to a user.
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        !paths.iter().any(|p| p.starts_with("/v1/pmp/")),
        "E5: {paths:?}"
    );
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
        internal_transfer(&app, alice.user_id, bob.user_id, amount, &format!("#{i}")).await;
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
