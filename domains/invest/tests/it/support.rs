//! A test world: the whole API (for users and tokens) and the payments routes over providers
//! the test chooses, served on their own port.

use std::sync::Arc;

use posmul_api::testing::{TestApp, TestUser, spawn_app};
use posmul_api_kit::auth::roles::Role;
use posmul_economy::ledger::{self, Account, Currency};
use posmul_invest::payments::{Payments, dev::DevProvider};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

pub const DEV_SECRET: &str = "dev-webhook-secret";

pub struct World {
    pub app: TestApp,
    pub base: String,
    pub client: reqwest::Client,
    pub payer: TestUser,
    pub merchant: TestUser,
    pub admin: TestUser,
}

pub fn dev_provider() -> DevProvider {
    DevProvider::new(DEV_SECRET, chrono::Duration::minutes(5))
}

pub async fn world(pool: PgPool, payments: Payments) -> World {
    let app = spawn_app(pool).await;
    let router = posmul_invest::router_with(Arc::new(payments))
        .split_for_parts()
        .0
        .with_state(app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let payer = app.register_user("payer@example.org").await;
    let merchant = app
        .register_with_role("merchant@example.org", Role::Merchant)
        .await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    World {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        app,
        payer,
        merchant,
        admin,
    }
}

impl World {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST as `user` (with a fresh idempotency key unless one is given); status and JSON.
    pub async fn post(
        &self,
        user: &TestUser,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let key = key.map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(&user.access_token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, user: &TestUser, path: &str) -> (StatusCode, Value) {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Creates a payment of `amount` won to the merchant through `provider`.
    pub async fn create(&self, provider: &str, amount: i64) -> Value {
        let (status, body) = self
            .post(
                &self.payer,
                "/v1/payments",
                serde_json::json!({
                    "provider": provider, "amount": amount,
                    "merchant_id": self.merchant.user_id, "description": "a test payment"
                }),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Sends a webhook body with headers; status and JSON.
    pub async fn webhook(
        &self,
        provider: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(self.url(&format!("/v1/payments/webhooks/{provider}")))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn krw(&self, account: Account) -> i64 {
        let mut conn = self.app.db.acquire().await.unwrap();
        ledger::balance_krw(&mut conn, account).await.unwrap().get()
    }

    pub async fn merchant_payable(&self) -> i64 {
        self.krw(Account::krw_merchant_payable(self.merchant.user_id))
            .await
    }

    /// E1 for both currencies: every transfer balanced, every cached balance its postings'
    /// sum, no negative balance, and each currency's postings summing to zero.
    pub async fn assert_e1(&self) {
        let mut conn = self.app.db.acquire().await.unwrap();
        let audit = ledger::audit(&mut conn).await.unwrap();
        assert!(audit.is_exact(), "{audit:?}");
        let totals = ledger::currency_totals(&mut conn).await.unwrap();
        assert!(
            totals.iter().any(|(c, _)| *c == Currency::Krw),
            "{totals:?}"
        );
        for (currency, sum) in totals {
            assert_eq!(sum, 0, "postings of {currency:?} sum to zero");
        }
    }

    /// The number of KRW transfers of a kind for a payment.
    pub async fn transfers(&self, payment: &str, kind: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM ledger.transfers WHERE reference_kind = 'payment' AND reference_id = $1::uuid AND kind = $2",
        )
        .bind(payment)
        .bind(kind)
        .fetch_one(&self.app.db)
        .await
        .unwrap()
    }
}

/// Payments with only the dev provider (`dev`, shared with the test through its clone).
pub fn dev_payments(dev: &DevProvider) -> Payments {
    Payments {
        dev: Some(dev.clone()),
        max_krw: 10_000_000,
        ..Payments::default()
    }
}
