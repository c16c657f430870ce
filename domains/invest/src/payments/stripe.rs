//! The Stripe-style provider: payment intents over HTTP (form-encoded requests, bearer secret
//! key, `Idempotency-Key`), and webhooks signed `Stripe-Signature: t=…,v1=…`.
//!
//! KRW is a zero-decimal currency at Stripe, so an amount in won is sent as is.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use posmul_core::money::Krw;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::{
    provider::{
        Confirmation, Confirmed, NewPayment, Observed, Opened, PaymentProvider, ProviderError,
        ProviderKind, WebhookError, WebhookEvent,
    },
    signature,
};

/// The Stripe-style provider.
#[derive(Clone)]
pub struct StripeProvider {
    http: reqwest::Client,
    /// `https://api.stripe.com` in production; a local server in tests.
    base_url: String,
    secret_key: SecretString,
    webhook_secret: SecretString,
    tolerance: chrono::Duration,
}

#[derive(Deserialize)]
struct Intent {
    id: String,
    #[serde(default)]
    client_secret: Option<String>,
    status: String,
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    amount_received: i64,
}

#[derive(Deserialize)]
struct Refund {
    amount: i64,
    status: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl StripeProvider {
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        secret_key: SecretString,
        webhook_secret: SecretString,
        tolerance: chrono::Duration,
    ) -> Self {
        StripeProvider {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secret_key,
            webhook_secret,
            tolerance,
        }
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let res = req
            .bearer_auth(self.secret_key.expose_secret())
            .send()
            .await
            .map_err(ProviderError::Unreachable)?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(ProviderError::Unreachable)?;
        if !status.is_success() {
            let (code, message) = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|e| (e.error.code, e.error.message))
                .unwrap_or((None, None));
            return Err(ProviderError::Refused {
                code: code.unwrap_or_else(|| status.as_u16().to_string()),
                message: message.unwrap_or_default(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ProviderError::Malformed(e.to_string()))
    }

    fn form(&self, path: &str, fields: &[(&str, String)]) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(fields))
    }
}

/// `application/x-www-form-urlencoded`, as Stripe's API takes it.
fn form_encode(fields: &[(&str, String)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn observed_of(intent: &Intent) -> Observed {
    match intent.status.as_str() {
        "succeeded" => Observed::Paid {
            amount: Krw::new(intent.amount_received),
        },
        "canceled" => Observed::Cancelled,
        // requires_payment_method (also after a declined attempt, which the payer may retry),
        // requires_confirmation, requires_action, processing, requires_capture.
        _ => Observed::Pending,
    }
}

impl PaymentProvider for StripeProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Stripe
    }

    async fn open(&self, p: &NewPayment) -> Result<Opened, ProviderError> {
        let req = self
            .form(
                "/v1/payment_intents",
                &[
                    ("amount", p.amount.get().to_string()),
                    ("currency", "krw".into()),
                    ("description", p.description.clone()),
                    ("metadata[payment_id]", p.payment_id.to_string()),
                    ("automatic_payment_methods[enabled]", "true".into()),
                ],
            )
            .header("idempotency-key", format!("open:{}", p.payment_id));
        let intent: Intent = self.send(req).await?;
        if intent.amount != p.amount.get() {
            return Err(ProviderError::Malformed(format!(
                "the intent is for {} won, not {}",
                intent.amount,
                p.amount.get()
            )));
        }
        Ok(Opened {
            provider_payment_id: intent.id,
            client_secret: intent.client_secret,
        })
    }

    async fn confirm(&self, c: &Confirmation) -> Result<Confirmed, ProviderError> {
        let req = self.http.get(format!(
            "{}/v1/payment_intents/{}",
            self.base_url, c.provider_payment_id
        ));
        let intent: Intent = self.send(req).await?;
        Ok(Confirmed {
            observed: observed_of(&intent),
            payment_key: None,
        })
    }

    async fn refund(
        &self,
        provider_payment_id: &str,
        _payment_key: Option<&str>,
        amount: Krw,
        idempotency_key: &str,
    ) -> Result<Krw, ProviderError> {
        let req = self
            .form(
                "/v1/refunds",
                &[
                    ("payment_intent", provider_payment_id.to_owned()),
                    ("amount", amount.get().to_string()),
                ],
            )
            .header("idempotency-key", idempotency_key);
        let refund: Refund = self.send(req).await?;
        if refund.status == "failed" || refund.status == "canceled" {
            return Err(ProviderError::Refused {
                code: format!("refund_{}", refund.status),
                message: "the provider did not refund".into(),
            });
        }
        Ok(Krw::new(refund.amount))
    }

    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok());
        signature::verify_stripe(
            header,
            body,
            self.webhook_secret.expose_secret().as_bytes(),
            now,
            self.tolerance,
        )?;
        let event: Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let event_id = text(&event["id"]).ok_or(WebhookError::Malformed("no id".into()))?;
        let event_type = text(&event["type"]).ok_or(WebhookError::Malformed("no type".into()))?;
        let object = &event["data"]["object"];
        let won = |v: &Value| Krw::new(v.as_i64().unwrap_or(0));
        let (provider_payment_id, observed) = match event_type.as_str() {
            "payment_intent.succeeded" => (
                text(&object["id"]),
                Observed::Paid {
                    amount: won(&object["amount_received"]),
                },
            ),
            "payment_intent.payment_failed" => (text(&object["id"]), Observed::Failed),
            "payment_intent.canceled" => (text(&object["id"]), Observed::Cancelled),
            // A charge: its intent, its amount and the refunded total so far.
            "charge.refunded" => (
                text(&object["payment_intent"]),
                Observed::Refunded {
                    amount: won(&object["amount"]),
                    total_refunded: won(&object["amount_refunded"]),
                },
            ),
            // Recorded and otherwise ignored.
            _ => (text(&object["id"]), Observed::Pending),
        };
        Ok(WebhookEvent {
            event_id,
            event_type,
            provider_payment_id: provider_payment_id.unwrap_or_default(),
            observed,
            signature: header.unwrap_or_default().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_url_encoded() {
        assert_eq!(
            form_encode(&[
                ("metadata[payment_id]", "a b".into()),
                ("amount", "1000".into())
            ]),
            "metadata%5Bpayment_id%5D=a+b&amount=1000"
        );
    }
}
