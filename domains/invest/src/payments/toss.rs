//! The Toss-style provider: the client approves the payment in the provider's widget with our
//! payment id as its `orderId` and gets a `paymentKey`; the server then confirms it with the
//! secret key (HTTP Basic, the key as user and an empty password). Refunds are cancellations
//! of the payment key. Webhooks carry `tosspayments-webhook-signature: v1:<base64>` over
//! `"{payload}:{tosspayments-webhook-transmission-time}"`.

use axum::http::HeaderMap;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use posmul_core::money::Krw;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{
    provider::{
        Confirmation, Confirmed, NewPayment, Observed, Opened, PaymentProvider, ProviderError,
        ProviderKind, WebhookError, WebhookEvent,
    },
    signature,
};

/// The Toss-style provider.
#[derive(Clone)]
pub struct TossProvider {
    http: reqwest::Client,
    /// `https://api.tosspayments.com` in production; a local server in tests.
    base_url: String,
    secret_key: SecretString,
    webhook_secret: SecretString,
    tolerance: chrono::Duration,
}

/// Toss's payment object, the fields we read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TossPayment {
    payment_key: String,
    order_id: String,
    status: String,
    total_amount: i64,
    #[serde(default)]
    balance_amount: Option<i64>,
}

#[derive(Deserialize)]
struct TossErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TossEvent {
    event_type: String,
    data: TossPayment,
}

fn observed_of(p: &TossPayment) -> Observed {
    let amount = Krw::new(p.total_amount);
    let refunded = Krw::new(
        p.total_amount
            .saturating_sub(p.balance_amount.unwrap_or(p.total_amount)),
    );
    match p.status.as_str() {
        "DONE" if refunded.get() == 0 => Observed::Paid { amount },
        "DONE" | "CANCELED" | "PARTIAL_CANCELED" => Observed::Refunded {
            amount,
            total_refunded: refunded,
        },
        "ABORTED" => Observed::Failed,
        "EXPIRED" => Observed::Cancelled,
        // READY, IN_PROGRESS, WAITING_FOR_DEPOSIT.
        _ => Observed::Pending,
    }
}

impl TossProvider {
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        secret_key: SecretString,
        webhook_secret: SecretString,
        tolerance: chrono::Duration,
    ) -> Self {
        TossProvider {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secret_key,
            webhook_secret,
            tolerance,
        }
    }

    /// `Authorization: Basic base64("{secret key}:")`.
    fn authorization(&self) -> String {
        let raw = format!("{}:", self.secret_key.expose_secret());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        idempotency_key: &str,
    ) -> Result<TossPayment, ProviderError> {
        let res = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("authorization", self.authorization())
            .header("idempotency-key", idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(ProviderError::Unreachable)?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(ProviderError::Unreachable)?;
        if !status.is_success() {
            let (code, message) = serde_json::from_slice::<TossErrorBody>(&bytes)
                .map(|e| (e.code, e.message))
                .unwrap_or((None, None));
            return Err(ProviderError::Refused {
                code: code.unwrap_or_else(|| status.as_u16().to_string()),
                message: message.unwrap_or_default(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ProviderError::Malformed(e.to_string()))
    }
}

impl PaymentProvider for TossProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Toss
    }

    /// Nothing to call: the client opens the payment in the widget with our id as `orderId`.
    async fn open(&self, p: &NewPayment) -> Result<Opened, ProviderError> {
        Ok(Opened {
            provider_payment_id: p.payment_id.to_string(),
            client_secret: None,
        })
    }

    async fn confirm(&self, c: &Confirmation) -> Result<Confirmed, ProviderError> {
        let payment_key = c.payment_key.as_deref().ok_or(ProviderError::Refused {
            code: "payment_key_required".into(),
            message: "a Toss-style payment is confirmed with the client's payment key".into(),
        })?;
        let p = self
            .post(
                "/v1/payments/confirm",
                json!({
                    "paymentKey": payment_key,
                    "orderId": c.provider_payment_id,
                    "amount": c.amount.get(),
                }),
                // Per payment key: the provider replays a key's first answer, so a retry after a
                // refused key must not reuse the refused attempt's key.
                &format!("confirm:{}:{payment_key}", c.provider_payment_id),
            )
            .await?;
        if p.order_id != c.provider_payment_id {
            return Err(ProviderError::Malformed(
                "the confirmation names another order".into(),
            ));
        }
        Ok(Confirmed {
            observed: observed_of(&p),
            payment_key: Some(p.payment_key),
        })
    }

    async fn refund(
        &self,
        _provider_payment_id: &str,
        payment_key: Option<&str>,
        amount: Krw,
        idempotency_key: &str,
    ) -> Result<Krw, ProviderError> {
        let payment_key = payment_key.ok_or(ProviderError::Refused {
            code: "payment_key_required".into(),
            message: "the payment was never confirmed".into(),
        })?;
        self.post(
            &format!("/v1/payments/{payment_key}/cancel"),
            json!({ "cancelReason": "refund", "cancelAmount": amount.get() }),
            idempotency_key,
        )
        .await?;
        Ok(amount)
    }

    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let sig = header("tosspayments-webhook-signature");
        signature::verify_toss(
            sig,
            header("tosspayments-webhook-transmission-time"),
            body,
            self.webhook_secret.expose_secret().as_bytes(),
            now,
            self.tolerance,
        )?;
        let e: TossEvent =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        // Toss sends no event id; a status change is named by the payment and what it reports,
        // so a second delivery of the same change is the same event.
        let event_id = format!(
            "{}:{}:{}",
            e.data.payment_key,
            e.data.status,
            e.data.balance_amount.unwrap_or(e.data.total_amount)
        );
        Ok(WebhookEvent {
            event_id,
            event_type: e.event_type,
            provider_payment_id: e.data.order_id.clone(),
            observed: observed_of(&e.data),
            signature: sig.unwrap_or_default().to_owned(),
        })
    }
}
