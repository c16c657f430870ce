//! The HTTP handlers of payments (I4).

use std::sync::Arc;

use axum::{
    Extension,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use posmul_api_kit::{
    audit,
    auth::extract::{Admin, AuthUser, RequestMeta, RequireRole},
    error::{ApiError, ApiJson, ApiResult, Problem},
    idempotency::{Begun, Idempotent},
    state::AppState,
};
use posmul_core::money::Krw;

use crate::{
    error::InvestError,
    payments::{
        self, NewPaymentRequest, Outcome, Payment, PaymentState, Payments, ProviderKind, Target,
        WebhookError, WebhookReceipt,
    },
};

const TAG: &str = "payments";

/// A payment to create. Amounts are whole won.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    pub provider: ProviderKind,
    /// Whole won, at least 1 (and at most `PAYMENT_MAX_KRW`).
    pub amount: i64,
    /// The merchant who is paid (a merchant account's user id).
    pub merchant_id: Uuid,
    #[serde(default)]
    pub description: String,
    /// The Local League store paid at (verified, one of the merchant's): paying there lets the
    /// payer review it.
    #[serde(default)]
    pub store_id: Option<Uuid>,
}

/// A payment, as its payer sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub provider: ProviderKind,
    /// The provider's id (Stripe's payment intent, Toss's order id).
    pub provider_payment_id: String,
    pub target: Target,
    /// Whole won.
    pub amount: i64,
    /// Whole won refunded so far.
    pub refunded: i64,
    pub state: PaymentState,
    /// What the client needs to finish the payment with the provider (Stripe's client secret).
    pub client_secret: Option<String>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> Self {
        PaymentView {
            id: p.id,
            provider: p.provider,
            provider_payment_id: p.provider_payment_id,
            target: p.target,
            amount: p.amount.get(),
            refunded: p.refunded.get(),
            // Only while the payer may still need it.
            client_secret: p.client_secret.filter(|_| p.state == PaymentState::Created),
            state: p.state,
            description: p.description,
            created_at: p.created_at,
            paid_at: p.paid_at,
        }
    }
}

/// A server-side confirmation (Toss-style: the payment key the client received and the amount
/// it approved; Stripe-style and dev: an empty body reads the provider's state).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPayment {
    #[serde(default)]
    pub payment_key: Option<String>,
    /// Whole won; refused unless it is the payment's.
    #[serde(default)]
    pub amount: Option<i64>,
}

/// The confirmed payment and what the confirmation did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Confirmed {
    pub payment: PaymentView,
    pub outcome: Outcome,
}

/// An admin's refund.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundPayment {
    /// Whole won, at most what is left of the payment.
    pub amount: i64,
    pub reason: String,
}

/// Creates a payment through a provider (I4), for a merchant. Needs an `Idempotency-Key`: a
/// retry returns the same payment. With the dev provider it is paid at once; otherwise the
/// client finishes it with the provider (`client_secret`, or Toss's widget with the payment's
/// id as `orderId`) and the payment moves by webhook or by `confirm`.
#[utoipa::path(post, path = "/v1/payments", tag = TAG, security(("bearer" = [])),
    request_body = CreatePayment,
    responses(
        (status = 201, description = "created (dev: already paid)", body = PaymentView),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed, payment-provider-not-enabled, payment-target-not-merchant, payment-provider-refused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the provider is unreachable", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.user_id), err(Debug))]
pub async fn create_payment(
    State(state): State<AppState>,
    Extension(payments): Extension<Arc<Payments>>,
    user: AuthUser,
    key: Idempotent,
    ApiJson(req): ApiJson<CreatePayment>,
) -> ApiResult<Response> {
    let mut work = match key.begin(&state.db, user.user_id, &req).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let payment = payments::create(
        work.tx(),
        &payments,
        now,
        user.user_id,
        &NewPaymentRequest {
            provider: req.provider,
            amount: Krw::new(req.amount),
            target: Target::MerchantPayable(req.merchant_id),
            description: req.description.clone(),
            store_id: req.store_id,
        },
    )
    .await?;
    work.commit(StatusCode::CREATED, &PaymentView::from(payment))
        .await
}

/// The caller's payment.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the payment")),
    responses(
        (status = 200, description = "the payment", body = PaymentView),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such payment of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(payment = %id), err(Debug))]
pub async fn get_payment(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<PaymentView>> {
    Ok(ApiJson(
        payments::get(&state.db, user.user_id, id).await?.into(),
    ))
}

/// Confirms the caller's payment with its provider, server to server (Toss-style: with the
/// client's payment key), and applies the provider's answer (I4). The client's word alone never
/// makes a payment paid.
#[utoipa::path(post, path = "/v1/payments/{id}/confirm", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the payment")),
    request_body = ConfirmPayment,
    responses(
        (status = 200, description = "confirmed; `outcome` says whether it moved", body = Confirmed),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such payment of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "payment-amount-mismatch, payment-provider-refused, payment-provider-not-enabled", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the provider is unreachable", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(payment = %id, user = %user.user_id), err(Debug))]
pub async fn confirm_payment(
    State(state): State<AppState>,
    Extension(payments): Extension<Arc<Payments>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<ConfirmPayment>,
) -> ApiResult<ApiJson<Confirmed>> {
    let now = state.clock.now().await;
    let (payment, outcome) = payments::confirm(
        &state.db,
        &payments,
        now,
        user.user_id,
        id,
        req.payment_key,
        req.amount.map(Krw::new),
    )
    .await?;
    Ok(ApiJson(Confirmed {
        payment: payment.into(),
        outcome,
    }))
}

/// Refunds a paid payment, in part or in full, through its provider (admin; audited). Needs an
/// `Idempotency-Key`, which is also the provider's, so a retry refunds once.
#[utoipa::path(post, path = "/v1/admin/payments/{id}/refunds", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the payment")),
    request_body = RefundPayment,
    responses(
        (status = 201, description = "refunded", body = PaymentView),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such payment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "payment-not-refundable, refund-not-held, campaign-funding-not-refundable, idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "refund-exceeds-payment, payment-provider-refused, insufficient-krw", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(payment = %id), err(Debug))]
pub async fn refund_payment(
    State(state): State<AppState>,
    Extension(payments): Extension<Arc<Payments>>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    key: Idempotent,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<RefundPayment>,
) -> ApiResult<Response> {
    if req.reason.trim().is_empty() || req.reason.chars().count() > 500 {
        return Err(ApiError::invalid_field(
            "reason",
            "say why, in 1-500 characters",
        ));
    }
    let provider_key = format!("refund:{id}:{}", key.key());
    let mut work = match key.begin(&state.db, admin.user_id(), &(id, &req)).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let payment = payments::refund(
        work.tx(),
        &payments,
        now,
        id,
        Krw::new(req.amount),
        &provider_key,
    )
    .await?;
    audit::record(
        &mut **work.tx(),
        audit::Entry {
            action: audit::Action::PaymentRefunded,
            actor: Some(admin.user_id()),
            subject: Some(payment.user_id),
            meta: &meta,
            details: serde_json::json!({
                "payment_id": id, "amount": req.amount, "reason": req.reason,
                "refunded_total": payment.refunded.get(), "state": payment.state.as_str(),
            }),
        },
    )
    .await?;
    work.commit(StatusCode::CREATED, &PaymentView::from(payment))
        .await
}

/// A provider's webhook (I4): `stripe` (`Stripe-Signature`), `toss`
/// (`tosspayments-webhook-signature`), `dev` (signed like Stripe's). Verified by signature and
/// time; a duplicate event answers 200 and changes nothing; an event out of order is recorded
/// and changes nothing. A forged, stale or replayed request is refused, logged and audited.
#[utoipa::path(post, path = "/v1/payments/webhooks/{provider}", tag = TAG,
    params(("provider" = String, Path, description = "dev, stripe or toss")),
    request_body(content = String, description = "the provider's event, as signed", content_type = "application/json"),
    responses(
        (status = 200, description = "received (or a duplicate)", body = WebhookReceipt),
        (status = 403, description = "webhook-signature-invalid (forged), webhook-timestamp-stale", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such provider", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "webhook-replayed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "webhook-malformed, payment-provider-not-enabled", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(provider = %provider), err(Debug))]
pub async fn webhook(
    State(state): State<AppState>,
    Extension(payments): Extension<Arc<Payments>>,
    Path(provider): Path<String>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<ApiJson<WebhookReceipt>> {
    let kind = ProviderKind::parse(&provider).ok_or(InvestError::UnknownProvider(provider))?;
    let now = state.clock.now().await;
    match payments::receive_webhook(&state.db, &payments, kind, &headers, &body, now).await {
        Ok(receipt) => Ok(ApiJson(receipt)),
        Err(InvestError::Webhook(refusal)) => {
            let reason = match &refusal {
                WebhookError::Forged => "forged",
                WebhookError::Stale => "stale",
                WebhookError::Replayed => "replayed",
                WebhookError::Malformed(_) => "malformed",
            };
            tracing::warn!(provider = kind.as_str(), reason, ip = ?meta.ip, "a payment webhook was refused");
            audit::record(
                &state.db,
                audit::Entry {
                    action: audit::Action::PaymentWebhookRefused,
                    actor: None,
                    subject: None,
                    meta: &meta,
                    details: serde_json::json!({ "provider": kind.as_str(), "reason": reason }),
                },
            )
            .await?;
            Err(InvestError::Webhook(refusal).into())
        }
        Err(other) => Err(other.into()),
    }
}
