//! I2 and E3, the PMC a store payment earns: amount × the store's rate at payment time × the
//! PMC per KRW in force, issued to the payer; a refund before any wave carries it revokes it
//! (and issues again what a partial refund leaves); a refund after the wave becomes a debt the
//! payer's later credits repay first.

use chrono::{Duration, NaiveDate, Utc};
use posmul_core::money::Wei;
use posmul_economy::credits::{self, CreditSource, CreditState, debts};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{World, dev_payments, dev_provider, world};

/// A verified store of the world's merchant; its id.
async fn verified_store(w: &World) -> String {
    let (status, store) = w
        .post(
            &w.merchant,
            "/v1/stores",
            json!({
                "name": "Corner bakery", "category": "bakery", "address": "1 Corner street",
                "lat": 37.5665, "lon": 126.978, "non_franchise": true
            }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{store}");
    let id = store["id"].as_str().unwrap().to_owned();
    let (status, body) = w
        .post(
            &w.admin,
            &format!("/v1/admin/stores/{id}/verify"),
            json!(null),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

/// The payer pays `amount` won at `store` (the dev provider pays at once).
async fn pay_at(w: &World, store: &str, amount: i64) -> Value {
    let (status, payment) = w
        .post(
            &w.payer,
            "/v1/payments",
            json!({ "provider": "dev", "amount": amount, "merchant_id": w.merchant.user_id, "store_id": store }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["state"], "paid");
    payment
}

async fn refund(w: &World, payment: &Value, amount: i64) {
    let id = payment["id"].as_str().unwrap();
    let (status, body) = w
        .post(
            &w.admin,
            &format!("/v1/admin/payments/{id}/refunds"),
            json!({ "amount": amount, "reason": "returned" }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The payer's credits of a payment: (amount, state), oldest first.
async fn credits_of(w: &World, payment: &Value) -> Vec<(Wei, CreditState)> {
    let id = Uuid::parse_str(payment["id"].as_str().unwrap()).unwrap();
    sqlx::query!(
        r#"SELECT amount AS "amount: Wei", state AS "state: CreditState", source AS "source: CreditSource"
           FROM credits.credits WHERE reference_kind = 'payment' AND reference_id = $1 ORDER BY created_at, id"#,
        id,
    )
    .fetch_all(&w.app.db)
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        assert_eq!(r.source, CreditSource::LocalPayment);
        (r.amount, r.state)
    })
    .collect()
}

fn pmc(s: &str) -> Wei {
    Wei::parse_pmc(s).unwrap()
}

/// E1 for the PMP/KRW ledger and for credits, and debts equal to their events.
async fn assert_exact(w: &World) {
    w.assert_e1().await;
    let mut conn = w.app.db.acquire().await.unwrap();
    let audit = credits::audit(&mut conn).await.unwrap();
    assert!(audit.is_exact(), "{audit:?}");
    assert_eq!(
        debts::audit(&mut conn).await.unwrap(),
        Vec::<Uuid>::new(),
        "every debt equals its events"
    );
}

/// Puts every pending credit of `payment` whole into a (test) wave of `date`.
async fn put_in_wave(w: &World, payment: &Value, date: NaiveDate) {
    let id = Uuid::parse_str(payment["id"].as_str().unwrap()).unwrap();
    let mut tx = w.app.db.begin().await.unwrap();
    let pending = sqlx::query!(
        r#"SELECT id, amount AS "amount: Wei" FROM credits.credits
           WHERE reference_kind = 'payment' AND reference_id = $1 AND state = 'pending'"#,
        id,
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let total = pending
        .iter()
        .fold(Wei::ZERO, |t, c| t.checked_add(c.amount).unwrap());
    sqlx::query!(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget, root,
                                    allocation_hash, leaf_count, credit_count)
         VALUES (0, $1, 31337, $2, 'built', $3, $3, $3, $3, $4, $4, 1, $5::BIGINT)",
        date,
        &[0xEE_u8; 20][..],
        total as _,
        &[0_u8; 32][..],
        i64::try_from(pending.len()).unwrap(),
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    for c in &pending {
        sqlx::query!(
            "INSERT INTO relayer.wave_credits (credit_id, day, address, amount) VALUES ($1, 0, $2, $3)",
            c.id,
            &[0x22_u8; 20][..],
            c.amount as _,
        )
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let ids: Vec<Uuid> = pending.iter().map(|c| c.id).collect();
    credits::lifecycle::mark_in_wave(&mut tx, date, &ids)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_e3_a_store_payment_credits_amount_times_the_store_rate_times_pmc_per_krw(pool: PgPool) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    let store = verified_store(&w).await;

    // 12,345 KRW × 1 % × 0.01 PMC/KRW = 1.2345 PMC, pending, for the payer.
    let paid = pay_at(&w, &store, 12_345).await;
    assert_eq!(
        credits_of(&w, &paid).await,
        vec![(pmc("1.2345"), CreditState::Pending)]
    );
    // A payment to the merchant outside any store earns nothing.
    let plain = w.create("dev", 10_000).await;
    assert!(credits_of(&w, &plain).await.is_empty());

    // A rate event in force at payment time (2 %) doubles it.
    let now = Utc::now();
    let (status, body) = w
        .post(
            &w.merchant,
            &format!("/v1/stores/{store}/rate-events"),
            json!({ "starts_at": now - Duration::hours(1), "ends_at": now + Duration::hours(1) }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let raised = pay_at(&w, &store, 10_000).await;
    assert_eq!(
        credits_of(&w, &raised).await,
        vec![(pmc("2"), CreditState::Pending)]
    );
    assert_exact(&w).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_e3_a_refund_before_the_wave_takes_back_the_pending_credit(pool: PgPool) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    let store = verified_store(&w).await;
    let paid = pay_at(&w, &store, 10_000).await;
    assert_eq!(
        credits_of(&w, &paid).await,
        vec![(pmc("1"), CreditState::Pending)]
    );

    // A partial refund: the credit is revoked and what the rest earns is issued again.
    refund(&w, &paid, 4_000).await;
    assert_eq!(
        credits_of(&w, &paid).await,
        vec![
            (pmc("1"), CreditState::Revoked),
            (pmc("0.6"), CreditState::Pending)
        ]
    );
    // The rest: nothing earned, nothing owed.
    refund(&w, &paid, 6_000).await;
    assert_eq!(
        credits_of(&w, &paid).await,
        vec![
            (pmc("1"), CreditState::Revoked),
            (pmc("0.6"), CreditState::Revoked)
        ]
    );
    let mut conn = w.app.db.acquire().await.unwrap();
    assert_eq!(
        debts::outstanding(&mut conn, w.payer.user_id)
            .await
            .unwrap(),
        Wei::ZERO
    );
    drop(conn);
    assert_exact(&w).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_e3_a_refund_after_the_wave_is_a_debt_that_later_credits_repay_first(pool: PgPool) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    let store = verified_store(&w).await;
    let paid = pay_at(&w, &store, 30_000).await;
    put_in_wave(&w, &paid, Utc::now().date_naive()).await;
    assert_eq!(
        credits_of(&w, &paid).await,
        vec![(pmc("3"), CreditState::InWave)]
    );

    // The wave carries the 3 PMC: a full refund cannot take them back, so they are owed.
    refund(&w, &paid, 30_000).await;
    assert_eq!(
        credits_of(&w, &paid).await,
        vec![(pmc("3"), CreditState::InWave)]
    );
    let owed = |w: &World| {
        let db = w.app.db.clone();
        let user = w.payer.user_id;
        async move {
            let mut conn = db.acquire().await.unwrap();
            debts::outstanding(&mut conn, user).await.unwrap()
        }
    };
    assert_eq!(owed(&w).await, pmc("3"));
    assert_exact(&w).await;

    // The next store payment earns 2 PMC: all of it repays the debt, no credit is issued.
    let second = pay_at(&w, &store, 20_000).await;
    assert!(credits_of(&w, &second).await.is_empty());
    assert_eq!(owed(&w).await, pmc("1"));
    // The one after earns 1.5 PMC: 1 repays the rest of the debt, 0.5 is credited.
    let third = pay_at(&w, &store, 15_000).await;
    assert_eq!(
        credits_of(&w, &third).await,
        vec![(pmc("0.5"), CreditState::Pending)]
    );
    assert_eq!(owed(&w).await, Wei::ZERO);

    // Refunding the payment whose credit the debt took whole owes its 2 PMC again.
    refund(&w, &second, 20_000).await;
    assert_eq!(owed(&w).await, pmc("2"));
    assert_exact(&w).await;
}
