//! I4: the real Stripe-style and Toss-style providers, against a local HTTP server that speaks
//! their wire format (form-encoded payment intents and refunds with a bearer key; Toss's
//! confirmation and cancellation with HTTP Basic), and their signed webhooks.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode as AxStatus},
    routing::{get, post},
};
use base64::Engine as _;
use posmul_invest::payments::{Payments, signature, stripe::StripeProvider, toss::TossProvider};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::world;

const STRIPE_KEY: &str = "sk_test_123";
const STRIPE_WHSEC: &str = "whsec_test";
const TOSS_KEY: &str = "test_sk_abc";
const TOSS_WHSEC: &str = "toss_webhook_key";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let dec = |s: &str| {
                s.replace('+', " ")
                    .replace("%5B", "[")
                    .replace("%5D", "]")
                    .replace("%2D", "-")
            };
            (dec(k), dec(v))
        })
        .collect()
}

#[derive(Default)]
struct FakeStripe {
    /// id → (amount, status)
    intents: HashMap<String, (i64, String)>,
    /// idempotency key → (intent, amount)
    refunds: HashMap<String, (String, i64)>,
}

type Shared<T> = Arc<Mutex<T>>;

fn stripe_error(status: AxStatus, code: &str) -> (AxStatus, Json<Value>) {
    (
        status,
        Json(json!({"error": {"code": code, "message": code, "type": "invalid_request_error"}})),
    )
}

fn intent_json(id: &str, amount: i64, status: &str) -> Value {
    json!({
        "id": id, "object": "payment_intent", "amount": amount, "currency": "krw",
        "client_secret": format!("{id}_secret_x"), "status": status,
        "amount_received": if status == "succeeded" { amount } else { 0 },
    })
}

fn fake_stripe(state: Shared<FakeStripe>) -> Router {
    async fn create(
        State(s): State<Shared<FakeStripe>>,
        headers: HeaderMap,
        body: String,
    ) -> (AxStatus, Json<Value>) {
        if headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some(&format!("Bearer {STRIPE_KEY}"))
        {
            return stripe_error(AxStatus::UNAUTHORIZED, "invalid_api_key");
        }
        let f = form(&body);
        if f.get("currency").map(String::as_str) != Some("krw")
            || headers.get("idempotency-key").is_none()
            || !f.contains_key("metadata[payment_id]")
        {
            return stripe_error(AxStatus::BAD_REQUEST, "parameter_missing");
        }
        let amount: i64 = f["amount"].parse().unwrap();
        let mut s = s.lock().unwrap();
        let id = format!("pi_{}", s.intents.len() + 1);
        s.intents
            .insert(id.clone(), (amount, "requires_payment_method".into()));
        (
            AxStatus::OK,
            Json(intent_json(&id, amount, "requires_payment_method")),
        )
    }
    async fn read(
        State(s): State<Shared<FakeStripe>>,
        Path(id): Path<String>,
    ) -> (AxStatus, Json<Value>) {
        let s = s.lock().unwrap();
        match s.intents.get(&id) {
            Some((amount, status)) => (AxStatus::OK, Json(intent_json(&id, *amount, status))),
            None => stripe_error(AxStatus::NOT_FOUND, "resource_missing"),
        }
    }
    async fn refund(
        State(s): State<Shared<FakeStripe>>,
        headers: HeaderMap,
        body: String,
    ) -> (AxStatus, Json<Value>) {
        let f = form(&body);
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap()
            .to_owned();
        let amount: i64 = f["amount"].parse().unwrap();
        let mut s = s.lock().unwrap();
        let (intent, amount) = s
            .refunds
            .entry(key)
            .or_insert((f["payment_intent"].clone(), amount))
            .clone();
        (
            AxStatus::OK,
            Json(
                json!({"id": "re_1", "object": "refund", "amount": amount, "payment_intent": intent, "status": "succeeded"}),
            ),
        )
    }
    Router::new()
        .route("/v1/payment_intents", post(create))
        .route("/v1/payment_intents/{id}", get(read))
        .route("/v1/refunds", post(refund))
        .with_state(state)
}

fn stripe_event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "data": {"object": object}}).to_string()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_e1_stripe_style_payment_intents_webhooks_and_refunds(pool: PgPool) {
    let fake = Shared::<FakeStripe>::default();
    let url = serve(fake_stripe(fake.clone())).await;
    let payments = Payments {
        stripe: Some(StripeProvider::new(
            reqwest::Client::new(),
            url,
            SecretString::from(STRIPE_KEY),
            SecretString::from(STRIPE_WHSEC),
            chrono::Duration::minutes(5),
        )),
        max_krw: 10_000_000,
        ..Payments::default()
    };
    let w = world(pool, payments).await;
    let payment = w.create("stripe", 15_000).await;
    assert_eq!(payment["state"], "created");
    assert_eq!(payment["provider_payment_id"], "pi_1");
    assert_eq!(payment["client_secret"], "pi_1_secret_x");
    let id = payment["id"].as_str().unwrap().to_owned();
    let confirm = format!("/v1/payments/{id}/confirm");
    // The payer has not finished: the provider says so, nothing moves.
    let (status, body) = w.post(&w.payer, &confirm, json!({}), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "unchanged");

    // The payer finishes; the provider's signed webhook makes it paid.
    fake.lock().unwrap().intents.get_mut("pi_1").unwrap().1 = "succeeded".into();
    let send = |body: String, secret: &'static str| {
        let header = signature::sign_stripe(
            secret.as_bytes(),
            chrono::Utc::now().timestamp(),
            body.as_bytes(),
        );
        let w = &w;
        async move {
            w.webhook("stripe", &[("stripe-signature", header)], &body)
                .await
        }
    };
    let succeeded = stripe_event(
        "evt_1",
        "payment_intent.succeeded",
        intent_json("pi_1", 15_000, "succeeded"),
    );
    let (status, body) = send(succeeded.clone(), "whsec_wrong").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = send(succeeded, STRIPE_WHSEC).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "applied");
    assert_eq!(w.merchant_payable().await, 15_000);
    let (_, body) = w.post(&w.payer, &confirm, json!({}), None).await;
    assert_eq!(body["outcome"], "unchanged");
    assert_eq!(body["payment"]["state"], "paid");
    assert_eq!(body["payment"]["client_secret"], Value::Null);

    // An admin refunds a third through the provider; its webhook then reports the same total.
    let (status, body) = w
        .post(
            &w.admin,
            &format!("/v1/admin/payments/{id}/refunds"),
            json!({"amount": 5_000, "reason": "damaged"}),
            Some("refund-1"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "partially_refunded");
    assert_eq!(
        fake.lock()
            .unwrap()
            .refunds
            .get(&format!("refund:{id}:refund-1")),
        Some(&("pi_1".to_owned(), 5_000))
    );
    let charge = |refunded: i64| json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 15_000, "amount_refunded": refunded});
    let (_, body) = send(
        stripe_event("evt_2", "charge.refunded", charge(5_000)),
        STRIPE_WHSEC,
    )
    .await;
    assert_eq!(body["outcome"], "unchanged");
    assert_eq!(w.merchant_payable().await, 10_000);
    // The rest refunded at the provider's dashboard: the webhook books it.
    let (_, body) = send(
        stripe_event("evt_3", "charge.refunded", charge(15_000)),
        STRIPE_WHSEC,
    )
    .await;
    assert_eq!(body["outcome"], "applied");
    assert_eq!(w.merchant_payable().await, 0);
    let (_, body) = w.get(&w.payer, &format!("/v1/payments/{id}")).await;
    assert_eq!(
        (body["state"].clone(), body["refunded"].clone()),
        (json!("refunded"), json!(15_000))
    );
    w.assert_e1().await;
}

#[derive(Default)]
struct FakeToss {
    /// payment key → (order id, total, balance)
    payments: HashMap<String, (String, i64, i64)>,
    basic_ok: bool,
}

fn toss_payment(key: &str, order: &str, total: i64, balance: i64) -> Value {
    let status = if balance == total {
        "DONE"
    } else if balance == 0 {
        "CANCELED"
    } else {
        "PARTIAL_CANCELED"
    };
    json!({"paymentKey": key, "orderId": order, "status": status, "totalAmount": total, "balanceAmount": balance, "method": "카드"})
}

fn fake_toss(state: Shared<FakeToss>) -> Router {
    async fn confirm(
        State(s): State<Shared<FakeToss>>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> (AxStatus, Json<Value>) {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{TOSS_KEY}:"))
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected) {
            return (
                AxStatus::UNAUTHORIZED,
                Json(json!({"code": "UNAUTHORIZED_KEY", "message": "bad key"})),
            );
        }
        let key = body["paymentKey"].as_str().unwrap().to_owned();
        if key == "bad" {
            return (
                AxStatus::NOT_FOUND,
                Json(json!({"code": "NOT_FOUND_PAYMENT", "message": "no such payment"})),
            );
        }
        let order = body["orderId"].as_str().unwrap().to_owned();
        let amount = body["amount"].as_i64().unwrap();
        let mut s = s.lock().unwrap();
        s.basic_ok = true;
        s.payments
            .insert(key.clone(), (order.clone(), amount, amount));
        (
            AxStatus::OK,
            Json(toss_payment(&key, &order, amount, amount)),
        )
    }
    async fn cancel(
        State(s): State<Shared<FakeToss>>,
        Path(key): Path<String>,
        Json(body): Json<Value>,
    ) -> (AxStatus, Json<Value>) {
        let amount = body["cancelAmount"].as_i64().unwrap();
        let mut s = s.lock().unwrap();
        let Some((order, total, balance)) = s.payments.get_mut(&key) else {
            return (
                AxStatus::NOT_FOUND,
                Json(json!({"code": "NOT_FOUND_PAYMENT", "message": "no"})),
            );
        };
        *balance -= amount;
        (
            AxStatus::OK,
            Json(toss_payment(&key, order, *total, *balance)),
        )
    }
    Router::new()
        .route("/v1/payments/confirm", post(confirm))
        .route("/v1/payments/{key}/cancel", post(cancel))
        .with_state(state)
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i4_e1_toss_style_server_confirmation_webhooks_and_refunds(pool: PgPool) {
    let fake = Shared::<FakeToss>::default();
    let url = serve(fake_toss(fake.clone())).await;
    let payments = Payments {
        toss: Some(TossProvider::new(
            reqwest::Client::new(),
            url,
            SecretString::from(TOSS_KEY),
            SecretString::from(TOSS_WHSEC),
            chrono::Duration::minutes(5),
        )),
        max_krw: 10_000_000,
        ..Payments::default()
    };
    let w = world(pool, payments).await;
    let payment = w.create("toss", 30_000).await;
    let id = payment["id"].as_str().unwrap().to_owned();
    // The order id the client gives the widget is the payment's id.
    assert_eq!(payment["provider_payment_id"], id.as_str());
    let confirm = format!("/v1/payments/{id}/confirm");
    let (status, body) = w
        .post(
            &w.payer,
            &confirm,
            json!({"payment_key": "tpk_1", "amount": 1}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["type"],
        "https://posmul.dev/problems/payment-amount-mismatch"
    );
    let (status, body) = w
        .post(
            &w.payer,
            &confirm,
            json!({"payment_key": "bad", "amount": 30_000}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["type"],
        "https://posmul.dev/problems/payment-provider-refused"
    );
    let (status, body) = w
        .post(
            &w.payer,
            &confirm,
            json!({"payment_key": "tpk_1", "amount": 30_000}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "applied");
    assert_eq!(body["payment"]["state"], "paid");
    assert!(fake.lock().unwrap().basic_ok);
    assert_eq!(w.merchant_payable().await, 30_000);

    // Toss's webhook of the same change: verified, nothing to do.
    let send = |data: Value, secret: &'static str| {
        let body = json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-12-05T00:00:00", "data": data}).to_string();
        let time = chrono::Utc::now().timestamp().to_string();
        let sig = signature::sign_toss(secret.as_bytes(), &time, body.as_bytes());
        let w = &w;
        async move {
            w.webhook(
                "toss",
                &[
                    ("tosspayments-webhook-signature", sig),
                    ("tosspayments-webhook-transmission-time", time),
                ],
                &body,
            )
            .await
        }
    };
    let (status, _) = send(toss_payment("tpk_1", &id, 30_000, 30_000), "forged").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = send(toss_payment("tpk_1", &id, 30_000, 30_000), TOSS_WHSEC).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "unchanged");

    // A full refund is a cancellation of the payment key.
    let (status, body) = w
        .post(
            &w.admin,
            &format!("/v1/admin/payments/{id}/refunds"),
            json!({"amount": 30_000, "reason": "order cancelled"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "refunded");
    assert_eq!(fake.lock().unwrap().payments["tpk_1"].2, 0);
    let (_, body) = send(toss_payment("tpk_1", &id, 30_000, 0), TOSS_WHSEC).await;
    assert_eq!(body["outcome"], "unchanged");
    assert_eq!(w.merchant_payable().await, 0);
    w.assert_e1().await;
}
