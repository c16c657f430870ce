//! The HTTP handlers of the Major League (I1): campaigns, their fundings and figures, views.

use std::sync::Arc;

use axum::{
    Extension,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use posmul_api_kit::{
    audit,
    auth::{
        extract::{Admin, AuthUser, Merchant, RequestMeta, RequireRole},
        roles::Role,
    },
    error::{ApiJson, ApiResult, Problem},
    idempotency::{Begun, Idempotent},
    pagination::{Page, PageParams},
    state::AppState,
};
use posmul_core::money::Krw;

use super::{Campaign, CampaignStats, Completed, NewCampaign, View};
use crate::{
    payments::{self, NewPaymentRequest, Payments, ProviderKind, Target},
    routes::PaymentView,
};

const TAG: &str = "ads";

/// A funding of a campaign's budget: a KRW payment by its advertiser.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFunding {
    pub provider: ProviderKind,
    /// Whole won, at least 1 (and at most `PAYMENT_MAX_KRW`). Once paid it buys
    /// floor(amount × PMP per KRW in force that day) PMP of budget.
    pub amount: i64,
}

/// The end of a view.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteView {
    /// The index of the chosen survey option, when the campaign has a survey.
    #[serde(default)]
    pub survey_answer: Option<i64>,
}

/// Creates a campaign of the caller (merchant), unfunded; fund it with
/// `POST /v1/campaigns/{id}/fundings`. Needs an `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/campaigns", tag = TAG, security(("bearer" = [])),
    request_body = NewCampaign,
    responses(
        (status = 201, description = "created, unfunded", body = Campaign),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the merchant role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user = %merchant.user_id()), err(Debug))]
pub async fn create_campaign(
    State(state): State<AppState>,
    merchant: RequireRole<Merchant>,
    key: Idempotent,
    ApiJson(req): ApiJson<NewCampaign>,
) -> ApiResult<Response> {
    let mut work = match key.begin(&state.db, merchant.user_id(), &req).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let campaign = super::create(&mut **work.tx(), now, merchant.user_id(), &req).await?;
    work.commit(StatusCode::CREATED, &campaign).await
}

/// The campaigns running now (a view may start), oldest first.
#[utoipa::path(get, path = "/v1/campaigns", tag = TAG,
    params(PageParams),
    responses(
        (status = 200, description = "a page of running campaigns", body = Page<Campaign>),
        (status = 422, description = "validation-failed (limit, cursor)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> ApiResult<ApiJson<Page<Campaign>>> {
    let limit = params.limit()?;
    let after: Option<Uuid> = params.after()?;
    let now = state.clock.now().await;
    let rows = super::list_running(&state.db, now, after, limit + 1).await?;
    Ok(ApiJson(Page::from_rows(rows, limit, |c| c.id)))
}

/// A campaign and its status now.
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = TAG,
    params(("id" = Uuid, Path, description = "the campaign")),
    responses(
        (status = 200, description = "the campaign", body = Campaign),
        (status = 404, description = "no such campaign", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(campaign = %id), err(Debug))]
pub async fn get_campaign(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Campaign>> {
    let now = state.clock.now().await;
    Ok(ApiJson(super::get(&state.db, id, now).await?))
}

/// Funds the caller's campaign with a KRW payment (its advertiser only). Needs an
/// `Idempotency-Key`. Once the payment is paid (the dev provider: at once) the budget grows by
/// floor(amount × PMP per KRW in force on that day). Ad budgets are not refunded.
#[utoipa::path(post, path = "/v1/campaigns/{id}/fundings", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the campaign")),
    request_body = NewFunding,
    responses(
        (status = 201, description = "the payment, created (dev: already paid)", body = PaymentView),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the merchant role; campaign-not-owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such campaign", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed, payment-provider-not-enabled, payment-provider-refused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the provider is unreachable", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(campaign = %id), err(Debug))]
pub async fn fund_campaign(
    State(state): State<AppState>,
    Extension(payments): Extension<Arc<Payments>>,
    merchant: RequireRole<Merchant>,
    key: Idempotent,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<NewFunding>,
) -> ApiResult<Response> {
    let mut work = match key
        .begin(&state.db, merchant.user_id(), &(id, &req))
        .await?
    {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let campaign = super::get(&mut **work.tx(), id, now).await?;
    super::check_funder(&campaign, merchant.user_id())?;
    let payment = payments::create(
        work.tx(),
        &payments,
        now,
        merchant.user_id(),
        &NewPaymentRequest {
            provider: req.provider,
            amount: Krw::new(req.amount),
            target: Target::CampaignFunding(id),
            description: format!("Major League budget: {}", campaign.title)
                .chars()
                .take(200)
                .collect(),
            store_id: None,
        },
    )
    .await?;
    work.commit(StatusCode::CREATED, &PaymentView::from(payment))
        .await
}

/// A campaign's figures: views, completions, completion rate, spend and budget (its
/// advertiser, or an admin).
#[utoipa::path(get, path = "/v1/campaigns/{id}/stats", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the campaign")),
    responses(
        (status = 200, description = "the figures", body = CampaignStats),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the merchant role; campaign-not-owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such campaign", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(campaign = %id), err(Debug))]
pub async fn campaign_stats(
    State(state): State<AppState>,
    merchant: RequireRole<Merchant>,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<CampaignStats>> {
    let now = state.clock.now().await;
    let campaign = super::get(&state.db, id, now).await?;
    if !merchant.user.roles.contains(Role::Admin) {
        super::check_funder(&campaign, merchant.user_id())?;
    }
    Ok(ApiJson(super::stats(&state.db, &campaign).await?))
}

/// Starts a view of a running campaign (signed in): reserves its full reward plus bonus. One
/// view at a time; then a heartbeat at least every 10 s, and `complete`. Needs an
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/campaigns/{id}/views", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the campaign")),
    responses(
        (status = 201, description = "started", body = View),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such campaign", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "campaign-not-running, campaign-budget-exhausted, ad-view-daily-limit, ad-view-already-active, idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(campaign = %id, user = %user.user_id), err(Debug))]
pub async fn start_view(
    State(state): State<AppState>,
    user: AuthUser,
    key: Idempotent,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let mut work = match key.begin(&state.db, user.user_id, &id).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let view = super::views::start(work.tx(), now, user.user_id, id).await?;
    work.commit(StatusCode::CREATED, &view).await
}

/// A heartbeat of the caller's view: the time since the previous one counts when it is at most
/// 10 s (plus 1 s of grace).
#[utoipa::path(post, path = "/v1/ad-views/{id}/heartbeat", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the view")),
    responses(
        (status = 200, description = "counted", body = View),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such view of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "ad-view-not-active, ad-view-expired", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(view = %id), err(Debug))]
pub async fn heartbeat(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<View>> {
    let now = state.clock.now().await;
    Ok(ApiJson(
        super::views::heartbeat(&state.db, now, user.user_id, id).await?,
    ))
}

/// Completes the caller's view and pays what it earned (I1); completing it again answers the
/// same and pays nothing more.
#[utoipa::path(post, path = "/v1/ad-views/{id}/complete", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the view")),
    request_body = CompleteView,
    responses(
        (status = 200, description = "completed: what it paid and released", body = Completed),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such view of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "ad-view-not-active, ad-view-expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed (survey_answer)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(view = %id), err(Debug))]
pub async fn complete_view(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<CompleteView>,
) -> ApiResult<ApiJson<Completed>> {
    let now = state.clock.now().await;
    Ok(ApiJson(
        super::views::complete(&state.db, now, user.user_id, id, req.survey_answer).await?,
    ))
}

/// Pauses a campaign (admin; audited): no view may start; views in progress may finish.
#[utoipa::path(post, path = "/v1/admin/campaigns/{id}/pause", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the campaign")),
    responses(
        (status = 200, description = "paused (or already)", body = Campaign),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such campaign", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(campaign = %id), err(Debug))]
pub async fn pause_campaign(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Campaign>> {
    set_paused(state, admin, meta, id, true).await
}

/// Resumes a paused campaign (admin; audited).
#[utoipa::path(post, path = "/v1/admin/campaigns/{id}/resume", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the campaign")),
    responses(
        (status = 200, description = "resumed (or was not paused)", body = Campaign),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such campaign", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(campaign = %id), err(Debug))]
pub async fn resume_campaign(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Campaign>> {
    set_paused(state, admin, meta, id, false).await
}

async fn set_paused(
    state: AppState,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    id: Uuid,
    paused: bool,
) -> ApiResult<ApiJson<Campaign>> {
    let now = state.clock.now().await;
    let mut tx = state.db.begin().await?;
    let (campaign, changed) =
        super::set_paused(&mut tx, now, Some(admin.user_id()), id, paused).await?;
    if changed {
        audit::record(
            &mut *tx,
            audit::Entry {
                action: if paused {
                    audit::Action::CampaignPaused
                } else {
                    audit::Action::CampaignResumed
                },
                actor: Some(admin.user_id()),
                subject: Some(campaign.advertiser_id),
                meta: &meta,
                details: serde_json::json!({ "campaign_id": id, "title": campaign.title }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ApiJson(campaign))
}
