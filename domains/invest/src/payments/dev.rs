//! The development provider: approves at once, unless a test told it otherwise for a payment
//! (fail, cancel, refuse a refund). Its webhooks are signed like the Stripe-style provider's,
//! with `PAYMENT_DEV_WEBHOOK_SECRET`, so tests can send it events (a refund made "at the
//! provider"). Never enabled in production unless `PAYMENT_PROVIDERS` names it.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use posmul_core::money::Krw;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    provider::{
        Confirmation, Confirmed, NewPayment, Observed, Opened, PaymentProvider, ProviderError,
        ProviderKind, WebhookError, WebhookEvent,
    },
    signature,
};

/// What the dev provider does with a payment when it is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevOutcome {
    /// Approve (the default).
    #[default]
    Approve,
    Fail,
    Cancel,
    /// Leave it `created` (a webhook will tell).
    Wait,
    /// Approve, but refuse every refund.
    RefuseRefunds,
}

/// The development provider.
#[derive(Clone)]
pub struct DevProvider {
    outcomes: Arc<Mutex<HashMap<String, DevOutcome>>>,
    /// Outcomes for the next payments confirmed without one of their own, in order.
    next: Arc<Mutex<VecDeque<DevOutcome>>>,
    webhook_secret: Vec<u8>,
    tolerance: chrono::Duration,
}

impl DevProvider {
    pub fn new(webhook_secret: impl Into<Vec<u8>>, tolerance: chrono::Duration) -> Self {
        DevProvider {
            outcomes: Arc::default(),
            next: Arc::default(),
            webhook_secret: webhook_secret.into(),
            tolerance,
        }
    }

    /// The dev provider's id of our payment.
    pub fn provider_payment_id(payment_id: Uuid) -> String {
        format!("dev_{payment_id}")
    }

    /// Makes the payment with this provider id fail, be cancelled, or refuse refunds.
    pub fn set_outcome(&self, provider_payment_id: &str, outcome: DevOutcome) {
        if let Ok(mut map) = self.outcomes.lock() {
            map.insert(provider_payment_id.to_owned(), outcome);
        }
    }

    /// The next payment confirmed without an outcome of its own gets `outcome`.
    pub fn push_next(&self, outcome: DevOutcome) {
        if let Ok(mut next) = self.next.lock() {
            next.push_back(outcome);
        }
    }

    fn outcome(&self, provider_payment_id: &str) -> DevOutcome {
        self.outcomes
            .lock()
            .ok()
            .and_then(|m| m.get(provider_payment_id).copied())
            .unwrap_or_default()
    }

    /// The payment's outcome, taking the next queued one if it has none yet.
    fn outcome_or_next(&self, provider_payment_id: &str) -> DevOutcome {
        let Ok(mut map) = self.outcomes.lock() else {
            return DevOutcome::default();
        };
        if let Some(o) = map.get(provider_payment_id) {
            return *o;
        }
        let next = self
            .next
            .lock()
            .ok()
            .and_then(|mut q| q.pop_front())
            .unwrap_or_default();
        map.insert(provider_payment_id.to_owned(), next);
        next
    }

    /// Signs a webhook body as the dev provider would (tests).
    pub fn sign(&self, t: i64, payload: &[u8]) -> String {
        signature::sign_stripe(&self.webhook_secret, t, payload)
    }
}

/// A dev webhook: `{"id": "<event id>", "payment": "<provider payment id>", "status": "paid" |
/// "failed" | "cancelled" | "refunded", "amount": <won>, "refunded": <won in total>}`.
#[derive(Deserialize)]
struct DevEvent {
    id: String,
    payment: String,
    status: String,
    amount: i64,
    #[serde(default)]
    refunded: i64,
}

impl PaymentProvider for DevProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Dev
    }

    async fn open(&self, p: &NewPayment) -> Result<Opened, ProviderError> {
        Ok(Opened {
            provider_payment_id: Self::provider_payment_id(p.payment_id),
            client_secret: None,
        })
    }

    async fn confirm(&self, c: &Confirmation) -> Result<Confirmed, ProviderError> {
        let observed = match self.outcome_or_next(&c.provider_payment_id) {
            DevOutcome::Approve | DevOutcome::RefuseRefunds => Observed::Paid { amount: c.amount },
            DevOutcome::Fail => Observed::Failed,
            DevOutcome::Cancel => Observed::Cancelled,
            DevOutcome::Wait => Observed::Pending,
        };
        Ok(Confirmed {
            observed,
            payment_key: None,
        })
    }

    async fn refund(
        &self,
        provider_payment_id: &str,
        _payment_key: Option<&str>,
        amount: Krw,
        _idempotency_key: &str,
    ) -> Result<Krw, ProviderError> {
        if self.outcome(provider_payment_id) == DevOutcome::RefuseRefunds {
            return Err(ProviderError::Refused {
                code: "refund_refused".into(),
                message: "the dev provider was told to refuse refunds of this payment".into(),
            });
        }
        Ok(amount)
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
        signature::verify_stripe(header, body, &self.webhook_secret, now, self.tolerance)?;
        let e: DevEvent =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let amount = Krw::new(e.amount);
        let observed = match e.status.as_str() {
            "paid" => Observed::Paid { amount },
            "failed" => Observed::Failed,
            "cancelled" => Observed::Cancelled,
            "refunded" => Observed::Refunded {
                amount,
                total_refunded: Krw::new(e.refunded),
            },
            other => return Err(WebhookError::Malformed(format!("status {other:?}"))),
        };
        Ok(WebhookEvent {
            event_id: e.id,
            event_type: e.status,
            provider_payment_id: e.payment,
            observed,
            signature: header.unwrap_or_default().to_owned(),
        })
    }
}
