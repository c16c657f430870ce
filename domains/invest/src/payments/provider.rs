//! The interface every payment provider implements, and what crosses it.

use std::future::Future;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use posmul_core::money::Krw;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which provider a payment goes through (the `provider` column and the webhook path).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Development: approves at once (never in production unless enabled).
    Dev,
    /// Stripe-style payment intents and signed webhooks.
    Stripe,
    /// Toss-style server-side confirmation of the client's payment key.
    Toss,
}

impl ProviderKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Dev => "dev",
            ProviderKind::Stripe => "stripe",
            ProviderKind::Toss => "toss",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        match s {
            "dev" => Some(ProviderKind::Dev),
            "stripe" => Some(ProviderKind::Stripe),
            "toss" => Some(ProviderKind::Toss),
            _ => None,
        }
    }
}

/// A payment to open at the provider.
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// Our id; the provider keeps it (Stripe's metadata, Toss's order id).
    pub payment_id: Uuid,
    pub amount: Krw,
    pub description: String,
}

/// The payment as the provider opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub provider_payment_id: String,
    /// What the client needs to finish the payment (Stripe's client secret).
    pub client_secret: Option<String>,
}

/// What the provider says a payment is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// Still waiting for the payer.
    Pending,
    /// Captured, for this amount.
    Paid {
        amount: Krw,
    },
    Failed,
    Cancelled,
    /// Paid, and this much has been refunded in total so far.
    Refunded {
        amount: Krw,
        total_refunded: Krw,
    },
}

/// The server's own confirmation of a payment (Toss: the client's payment key).
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub provider_payment_id: String,
    /// Toss's payment key from the client; unused by the others.
    pub payment_key: Option<String>,
    pub amount: Krw,
}

/// The provider's answer to a confirmation.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub observed: Observed,
    /// The payment key to keep (Toss).
    pub payment_key: Option<String>,
}

/// A webhook whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id: a second delivery of it changes nothing.
    pub event_id: String,
    pub event_type: String,
    pub provider_payment_id: String,
    pub observed: Observed,
    /// The signature as sent, remembered so that the same request twice is a replay.
    pub signature: String,
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the payment provider is unreachable: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// The provider refused (a declined card, an invalid payment key, …).
    #[error("the payment provider refused: {code}: {message}")]
    Refused { code: String, message: String },
    /// The provider answered something we cannot read.
    #[error("the payment provider answered unexpectedly: {0}")]
    Malformed(String),
}

/// Why a webhook is refused (I4). Every refusal is logged and audited by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No signature, a malformed one, or one that does not verify.
    #[error("the webhook's signature does not verify")]
    Forged,
    /// The signed timestamp is further from now than the tolerance.
    #[error("the webhook's timestamp is outside the tolerance")]
    Stale,
    /// The exact signature was accepted before.
    #[error("the webhook was already received with this signature")]
    Replayed,
    /// Signed, but not an event we can read.
    #[error("the webhook's payload is not an event we understand: {0}")]
    Malformed(String),
}

/// A payment provider (I4). Implementations: [`super::dev::DevProvider`],
/// [`super::stripe::StripeProvider`], [`super::toss::TossProvider`].
pub trait PaymentProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Opens a payment the client will finish with the provider.
    fn open(&self, p: &NewPayment) -> impl Future<Output = Result<Opened, ProviderError>> + Send;

    /// Asks the provider, server to server, what the payment is now (Toss: confirms the
    /// client's payment key; Stripe: reads the intent). The client's word is never enough.
    fn confirm(
        &self,
        c: &Confirmation,
    ) -> impl Future<Output = Result<Confirmed, ProviderError>> + Send;

    /// Refunds `amount` of a paid payment; returns the amount this refund gave back. The key
    /// makes a retried refund the same refund at the provider.
    fn refund(
        &self,
        provider_payment_id: &str,
        payment_key: Option<&str>,
        amount: Krw,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Krw, ProviderError>> + Send;

    /// Verifies a webhook's signature and freshness at `now` and reads its event.
    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError>;
}
