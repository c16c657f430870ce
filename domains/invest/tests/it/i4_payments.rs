//! I4 with the dev provider: the state machine over HTTP, webhooks duplicated, out of order,
//! forged, stale and replayed, concurrent duplicates, and the KRW postings (E1, E4).

use posmul_economy::ledger::Account;
use posmul_invest::payments::dev::{DevOutcome, DevProvider};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{World, dev_payments, dev_provider, world};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn dev_event(id: &str, payment: &Value, status: &str, refunded: i64) -> String {
    json!({
        "id": id, "payment": payment["provider_payment_id"], "status": status,
        "amount": payment["amount"], "refunded": refunded,
    })
    .to_string()
}

async fn send_dev(w: &World, dev: &DevProvider, body: &str, t: i64) -> (StatusCode, Value) {
    w.webhook(
        "dev",
        &[("stripe-signature", dev.sign(t, body.as_bytes()))],
        body,
    )
    .await
}

async fn state_of(w: &World, payment: &Value) -> (String, i64) {
    let id = payment["id"].as_str().unwrap();
    let (status, body) = w.get(&w.payer, &format!("/v1/payments/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["state"].as_str().unwrap().to_owned(),
        body["refunded"].as_i64().unwrap(),
    )
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_e1_a_dev_payment_is_paid_at_once_and_refunds_reverse_its_krw_postings(pool: PgPool) {
    let dev = dev_provider();
    let w = world(pool, dev_payments(&dev)).await;
    let key = "pay-once";
    let body = json!({
        "provider": "dev", "amount": 10_000, "merchant_id": w.merchant.user_id, "description": "coffee"
    });
    let (status, payment) = w
        .post(&w.payer, "/v1/payments", body.clone(), Some(key))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["state"], "paid");
    // The same key replays the same payment; nothing moves twice.
    let (status, again) = w.post(&w.payer, "/v1/payments", body, Some(key)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["id"], payment["id"]);
    let id = payment["id"].as_str().unwrap();
    assert_eq!(w.merchant_payable().await, 10_000);
    assert_eq!(w.krw(Account::KRW_PROVIDER_CLEARING).await, -10_000);
    assert_eq!(w.transfers(id, "payment_capture").await, 1);
    w.assert_e1().await;

    // Refunds: only an admin; never more than is left; partial, then the rest.
    let refunds = format!("/v1/admin/payments/{id}/refunds");
    let (status, _) = w
        .post(
            &w.payer,
            &refunds,
            json!({"amount": 1, "reason": "mine"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w
        .post(
            &w.admin,
            &refunds,
            json!({"amount": 10_001, "reason": "too much"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["type"],
        "https://posmul.dev/problems/refund-exceeds-payment"
    );
    let (status, body) = w
        .post(
            &w.admin,
            &refunds,
            json!({"amount": 4_000, "reason": "half a coffee"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "partially_refunded");
    assert_eq!(w.merchant_payable().await, 6_000);
    let (status, body) = w
        .post(
            &w.admin,
            &refunds,
            json!({"amount": 6_000, "reason": "the rest"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "refunded");
    assert_eq!(body["refunded"], 10_000);
    assert_eq!(w.merchant_payable().await, 0);
    assert_eq!(w.krw(Account::KRW_PROVIDER_CLEARING).await, 0);
    assert_eq!(w.transfers(id, "payment_refund").await, 2);
    let (status, body) = w
        .post(
            &w.admin,
            &refunds,
            json!({"amount": 1, "reason": "again"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["type"],
        "https://posmul.dev/problems/payment-not-refundable"
    );
    // Even without the domain, the database refuses a move backwards.
    let back =
        sqlx::query("UPDATE invest.payments SET state = 'paid', refunded = 0 WHERE id = $1::uuid")
            .bind(id)
            .execute(&w.app.db)
            .await
            .unwrap_err();
    assert!(
        back.to_string()
            .contains("cannot move from refunded to paid"),
        "{back}"
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth.audit_log WHERE action = 'payment_refunded'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(audited, 2);
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_a_dev_payment_can_fail_or_be_cancelled_and_moves_no_money(pool: PgPool) {
    let dev = dev_provider();
    let w = world(pool, dev_payments(&dev)).await;
    dev.push_next(DevOutcome::Fail);
    dev.push_next(DevOutcome::Cancel);
    let failed = w.create("dev", 5_000).await;
    let cancelled = w.create("dev", 7_000).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(w.merchant_payable().await, 0);
    // A final state stays final: a later `paid` changes nothing.
    let (status, body) = send_dev(
        &w,
        &dev,
        &dev_event("evt_late_paid", &failed, "paid", 0),
        now(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "out_of_order");
    assert_eq!(state_of(&w, &failed).await.0, "failed");
    // A refund the provider refuses leaves the payment as it was.
    dev.push_next(DevOutcome::RefuseRefunds);
    let paid = w.create("dev", 3_000).await;
    let (status, body) = w
        .post(
            &w.admin,
            &format!(
                "/v1/admin/payments/{}/refunds",
                paid["id"].as_str().unwrap()
            ),
            json!({"amount": 3_000, "reason": "refused"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["type"],
        "https://posmul.dev/problems/payment-provider-refused"
    );
    assert_eq!(state_of(&w, &paid).await, ("paid".to_owned(), 0));
    assert_eq!(w.merchant_payable().await, 3_000);
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_webhooks_duplicated_out_of_order_forged_stale_or_replayed(pool: PgPool) {
    let dev = dev_provider();
    let w = world(pool, dev_payments(&dev)).await;
    dev.push_next(DevOutcome::Wait);
    let payment = w.create("dev", 20_000).await;
    assert_eq!(payment["state"], "created");
    let id = payment["id"].as_str().unwrap();

    // Paid by webhook.
    let paid = dev_event("evt_paid", &payment, "paid", 0);
    let t = now();
    let (status, body) = send_dev(&w, &dev, &paid, t).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"duplicate": false, "outcome": "applied"}));
    assert_eq!(w.merchant_payable().await, 20_000);

    // Duplicate: the provider sends the same event again, signed anew.
    let (status, body) = send_dev(&w, &dev, &paid, t + 1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["duplicate"], true);
    // Replayed: the very same signed request again.
    let (status, body) = send_dev(&w, &dev, &paid, t).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], "https://posmul.dev/problems/webhook-replayed");
    assert_eq!(w.transfers(id, "payment_capture").await, 1);

    // Out of order: a refund, then a late `paid` (a different event): nothing changes.
    let (status, body) = send_dev(
        &w,
        &dev,
        &dev_event("evt_refunded", &payment, "refunded", 20_000),
        t + 2,
    )
    .await;
    assert_eq!(
        (status, body["outcome"].clone()),
        (StatusCode::OK, json!("applied"))
    );
    let (status, body) = send_dev(
        &w,
        &dev,
        &dev_event("evt_paid_late", &payment, "paid", 0),
        t + 3,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "out_of_order");
    // A smaller refunded total after a larger one changes nothing either.
    let (_, body) = send_dev(
        &w,
        &dev,
        &dev_event("evt_partial_late", &payment, "refunded", 5_000),
        t + 4,
    )
    .await;
    assert_eq!(body["outcome"], "out_of_order");
    assert_eq!(
        state_of(&w, &payment).await,
        ("refunded".to_owned(), 20_000)
    );
    assert_eq!(w.merchant_payable().await, 0);

    // Forged: a body the signature does not cover, a wrong key, no signature.
    let forged = dev_event("evt_forged", &payment, "paid", 0);
    let other_key = DevProvider::new("not-the-secret", chrono::Duration::minutes(5));
    for headers in [
        vec![("stripe-signature", dev.sign(t, paid.as_bytes()))],
        vec![("stripe-signature", other_key.sign(t, forged.as_bytes()))],
        vec![],
    ] {
        let (status, body) = w.webhook("dev", &headers, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(
            body["type"],
            "https://posmul.dev/problems/webhook-signature-invalid"
        );
    }
    // Stale: signed six minutes ago, or six minutes ahead.
    for t in [now() - 360, now() + 360] {
        let (status, body) = send_dev(&w, &dev, &forged, t).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            body["type"],
            "https://posmul.dev/problems/webhook-timestamp-stale"
        );
    }
    // Every refusal is in the audit log with its reason.
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT details->>'reason' FROM auth.audit_log WHERE action = 'payment_webhook_refused' ORDER BY id",
    )
    .fetch_all(&w.app.db)
    .await
    .unwrap();
    assert_eq!(
        reasons,
        ["replayed", "forged", "forged", "forged", "stale", "stale"]
    );
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_concurrent_duplicate_webhooks_pay_once(pool: PgPool) {
    let dev = dev_provider();
    let w = world(pool, dev_payments(&dev)).await;
    dev.push_next(DevOutcome::Wait);
    let payment = w.create("dev", 50_000).await;
    let id = payment["id"].as_str().unwrap().to_owned();
    let paid = dev_event("evt_once", &payment, "paid", 0);
    let t = now();
    // Twenty deliveries of one event at once, each signed at its own second.
    let sends = (0..20).map(|i| send_dev(&w, &dev, &paid, t - i));
    let answers = futures::future::join_all(sends).await;
    let applied = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::OK && b["outcome"] == "applied")
        .count();
    let duplicates = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::OK && b["duplicate"] == true)
        .count();
    assert_eq!((applied, duplicates), (1, 19), "{answers:?}");
    assert_eq!(w.transfers(&id, "payment_capture").await, 1);
    assert_eq!(w.merchant_payable().await, 50_000);
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_a_payment_is_its_payers_and_goes_only_to_a_merchant(pool: PgPool) {
    let dev = dev_provider();
    let w = world(pool, dev_payments(&dev)).await;
    let payment = w.create("dev", 1_000).await;
    let id = payment["id"].as_str().unwrap();
    let stranger = w.app.register_user("stranger@example.org").await;
    let (status, _) = w.get(&stranger, &format!("/v1/payments/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w
        .post(
            &stranger,
            &format!("/v1/payments/{id}/confirm"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = w
        .post(
            &w.payer,
            "/v1/payments",
            json!({"provider": "dev", "amount": 1_000, "merchant_id": stranger.user_id}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["type"],
        "https://posmul.dev/problems/payment-target-not-merchant"
    );
    for amount in [0, -5, 10_000_001] {
        let (status, _) = w
            .post(
                &w.payer,
                "/v1/payments",
                json!({"provider": "dev", "amount": amount, "merchant_id": w.merchant.user_id}),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{amount}");
    }
    let (status, body) = w
        .post(
            &w.payer,
            "/v1/payments",
            json!({"provider": "stripe", "amount": 1_000, "merchant_id": w.merchant.user_id}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["type"],
        "https://posmul.dev/problems/payment-provider-not-enabled"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_e1_a_refund_reported_before_its_capture_books_both(pool: PgPool) {
    let dev = dev_provider();
    let w = world(pool, dev_payments(&dev)).await;
    dev.push_next(DevOutcome::Wait);
    let payment = w.create("dev", 8_000).await;
    let id = payment["id"].as_str().unwrap().to_owned();
    // The provider's `refunded` arrives first: the payment was paid, so both are booked.
    let (status, body) = send_dev(
        &w,
        &dev,
        &dev_event("evt_r", &payment, "refunded", 3_000),
        now(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "applied");
    assert_eq!(
        state_of(&w, &payment).await,
        ("partially_refunded".to_owned(), 3_000)
    );
    // Then the late `paid`: out of order, nothing moves.
    let (_, body) = send_dev(
        &w,
        &dev,
        &dev_event("evt_p", &payment, "paid", 0),
        now() - 1,
    )
    .await;
    assert_eq!(body["outcome"], "out_of_order");
    // A refunded total above the payment does not fit: recorded, nothing moves.
    let (_, body) = send_dev(
        &w,
        &dev,
        &dev_event("evt_big", &payment, "refunded", 9_000),
        now() - 2,
    )
    .await;
    assert_eq!(body["outcome"], "mismatch");
    assert_eq!(w.transfers(&id, "payment_capture").await, 1);
    assert_eq!(w.transfers(&id, "payment_refund").await, 1);
    assert_eq!(w.merchant_payable().await, 5_000);
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_signatures_past_the_tolerance_are_pruned_and_their_replay_stays_refused(pool: PgPool) {
    let dev = dev_provider();
    let w = world(pool, dev_payments(&dev)).await;
    dev.push_next(DevOutcome::Wait);
    let payment = w.create("dev", 7_000).await;
    let paid = dev_event("evt_pruned", &payment, "paid", 0);
    // Delivered and accepted six minutes ago (signed then, within the tolerance then).
    let t = now() - 360;
    sqlx::query!(
        "INSERT INTO invest.webhook_signatures (provider, signature_hash, received_at)
         VALUES ('dev', sha256($1::TEXT::BYTEA), now() - interval '6 minutes')",
        dev.sign(t, paid.as_bytes()),
    )
    .execute(&w.app.db)
    .await
    .unwrap();
    let fresh = send_dev(&w, &dev, &paid, now()).await;
    assert_eq!(fresh.0, StatusCode::OK, "{}", fresh.1);

    // Pruning keeps what the tolerance could still let through and forgets the rest.
    let before = chrono::Utc::now() - chrono::Duration::minutes(5);
    assert_eq!(
        posmul_invest::payments::prune_signatures(&w.app.db, before)
            .await
            .unwrap(),
        1
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM invest.webhook_signatures")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(left, 1, "the fresh delivery's signature is kept");
    // The pruned delivery replayed is refused all the same: its timestamp is stale.
    let (status, body) = send_dev(&w, &dev, &paid, t).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["type"],
        "https://posmul.dev/problems/webhook-timestamp-stale"
    );
}
