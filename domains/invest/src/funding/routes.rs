//! The HTTP handlers of Cloud Funding (I3).

use std::sync::Arc;

use axum::{
    Extension,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use posmul_api_kit::{
    audit,
    auth::extract::{Admin, AuthUser, Moderator, RequestMeta, RequireRole},
    error::{ApiJson, ApiResult, Problem},
    idempotency::{Begun, Idempotent},
    state::AppState,
};
use posmul_core::money::Krw;

use super::{
    Contribution, Filter, NewProject, NewUpdate, Project, ProjectState, ProjectUpdate,
    settle::{self, Refunds, Settled},
};
use crate::{
    error::InvestError,
    payments::{Payments, ProviderKind},
};

const TAG: &str = "funding";
/// The most items a list answers.
const LIST_LIMIT: i64 = 200;

/// A contribution to make: whole won, a multiple of 1,000 within the project's bounds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContribution {
    pub provider: ProviderKind,
    pub amount_krw: i64,
}

/// What a settlement run did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementRun {
    pub settled: Vec<Settled>,
    pub refunds: Refunds,
}

/// Proposes a project (any signed-in citizen; its creator). It takes money once a moderator
/// approves it. Needs an `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/funding/projects", tag = TAG, security(("bearer" = [])),
    request_body = NewProject,
    responses(
        (status = 201, description = "proposed, waiting for a moderator", body = Project),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.user_id), err(Debug))]
pub async fn propose_project(
    State(state): State<AppState>,
    user: AuthUser,
    key: Idempotent,
    ApiJson(req): ApiJson<NewProject>,
) -> ApiResult<Response> {
    let mut work = match key.begin(&state.db, user.user_id, &req).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let project = super::propose(&mut **work.tx(), now, user.user_id, &req).await?;
    work.commit(StatusCode::CREATED, &project).await
}

/// The approved and settled projects, newest first (proposals are not public).
#[utoipa::path(get, path = "/v1/funding/projects", tag = TAG,
    responses((status = 200, description = "the projects", body = [Project])))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn list_projects(State(state): State<AppState>) -> ApiResult<ApiJson<Vec<Project>>> {
    let filter = Filter {
        states: vec![
            ProjectState::Approved,
            ProjectState::Funded,
            ProjectState::Failed,
        ],
        ..Filter::default()
    };
    Ok(ApiJson(
        super::select(&state.db, &filter, LIST_LIMIT).await?,
    ))
}

/// An approved or settled project (a proposal is not found here; its creator sees it in
/// `/v1/funding/me/projects`).
#[utoipa::path(get, path = "/v1/funding/projects/{id}", tag = TAG,
    params(("id" = Uuid, Path, description = "the project")),
    responses(
        (status = 200, description = "the project", body = Project),
        (status = 404, description = "no such project (or not approved yet)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(project = %id), err(Debug))]
pub async fn get_project(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Project>> {
    let project = super::get(&state.db, id).await?;
    if project.state == ProjectState::Proposed {
        return Err(InvestError::ProjectNotFound.into());
    }
    Ok(ApiJson(project))
}

/// The caller's projects, in every state.
#[utoipa::path(get, path = "/v1/funding/me/projects", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller's projects", body = [Project]),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.user_id), err(Debug))]
pub async fn my_projects(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<ApiJson<Vec<Project>>> {
    let filter = Filter {
        creator: Some(user.user_id),
        ..Filter::default()
    };
    Ok(ApiJson(
        super::select(&state.db, &filter, LIST_LIMIT).await?,
    ))
}

/// The proposals waiting for a moderator (moderator or admin).
#[utoipa::path(get, path = "/v1/admin/funding/projects", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "the proposals, newest first", body = [Project]),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the moderator role", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn list_proposals(
    State(state): State<AppState>,
    _moderator: RequireRole<Moderator>,
) -> ApiResult<ApiJson<Vec<Project>>> {
    let filter = Filter {
        states: vec![ProjectState::Proposed],
        ..Filter::default()
    };
    Ok(ApiJson(
        super::select(&state.db, &filter, LIST_LIMIT).await?,
    ))
}

/// Approves a proposal (moderator or admin; audited): it takes contributions until its
/// deadline.
#[utoipa::path(post, path = "/v1/admin/funding/projects/{id}/approve", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the project")),
    responses(
        (status = 200, description = "approved", body = Project),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the moderator role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "funding-project-not-approvable", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(project = %id), err(Debug))]
pub async fn approve_project(
    State(state): State<AppState>,
    moderator: RequireRole<Moderator>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Project>> {
    let now = state.clock.now().await;
    let mut tx = state.db.begin().await?;
    let project = super::approve(&mut tx, now, moderator.user_id(), id).await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::FundingProjectApproved,
            actor: Some(moderator.user_id()),
            subject: Some(project.creator_id),
            meta: &meta,
            details: serde_json::json!({
                "project_id": id, "title": project.title, "goal_krw": project.goal_krw,
                "deadline": project.deadline,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(project))
}

/// Contributes to an approved project before its deadline, through a payment provider into the
/// project's escrow (any signed-in citizen). Needs an `Idempotency-Key`: a retry returns the
/// same contribution. With the dev provider it is paid (`held`) at once; otherwise it is
/// `pending` until its payment is paid (finish it with `/v1/payments/{payment_id}`).
#[utoipa::path(post, path = "/v1/funding/projects/{id}/contributions", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the project")),
    request_body = NewContribution,
    responses(
        (status = 201, description = "contributed", body = Contribution),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "funding-project-not-open, funding-amount-invalid, payment-provider-not-enabled, payment-provider-refused, validation-failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the provider is unreachable", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(project = %id, user = %user.user_id), err(Debug))]
pub async fn contribute(
    State(state): State<AppState>,
    Extension(payments): Extension<Arc<Payments>>,
    user: AuthUser,
    key: Idempotent,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<NewContribution>,
) -> ApiResult<Response> {
    let mut work = match key.begin(&state.db, user.user_id, &(id, &req)).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let contribution = super::contribute(
        work.tx(),
        &payments,
        now,
        user.user_id,
        id,
        req.provider,
        Krw::new(req.amount_krw),
    )
    .await?;
    work.commit(StatusCode::CREATED, &contribution).await
}

/// The caller's contributions with their states, newest first.
#[utoipa::path(get, path = "/v1/funding/me/contributions", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller's contributions", body = [Contribution]),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.user_id), err(Debug))]
pub async fn my_contributions(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<ApiJson<Vec<Contribution>>> {
    Ok(ApiJson(
        super::contributions(&state.db, None, Some(user.user_id), None, LIST_LIMIT).await?,
    ))
}

/// Cancels the caller's contribution before the deadline: refunded in full through the
/// provider (audited). Needs an `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/funding/contributions/{id}/cancel", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the contribution")),
    responses(
        (status = 200, description = "cancelled and refunded", body = Contribution),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such contribution of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "funding-contribution-not-cancellable, idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "payment-provider-refused, payment-provider-not-enabled", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the provider is unreachable", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(contribution = %id, user = %user.user_id), err(Debug))]
pub async fn cancel_contribution(
    State(state): State<AppState>,
    Extension(payments): Extension<Arc<Payments>>,
    user: AuthUser,
    meta: RequestMeta,
    key: Idempotent,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let mut work = match key.begin(&state.db, user.user_id, &id).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let contribution = super::cancel(work.tx(), &payments, now, user.user_id, id).await?;
    audit::record(
        &mut **work.tx(),
        audit::Entry {
            action: audit::Action::FundingContributionRefunded,
            actor: Some(user.user_id),
            subject: Some(user.user_id),
            meta: &meta,
            details: serde_json::json!({
                "contribution_id": id, "project_id": contribution.project_id,
                "payment_id": contribution.payment_id, "amount": contribution.refunded_krw,
                "reason": "cancelled",
            }),
        },
    )
    .await?;
    work.commit(StatusCode::OK, &contribution).await
}

/// Posts an update of the caller's project (its creator only); `final_report` once, after the
/// settlement. Needs an `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/funding/projects/{id}/updates", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the project")),
    request_body = NewUpdate,
    responses(
        (status = 201, description = "posted", body = ProjectUpdate),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "funding-not-creator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "funding-final-report-not-allowed, idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(project = %id, user = %user.user_id), err(Debug))]
pub async fn post_update(
    State(state): State<AppState>,
    user: AuthUser,
    key: Idempotent,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<NewUpdate>,
) -> ApiResult<Response> {
    let mut work = match key.begin(&state.db, user.user_id, &(id, &req)).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let update = super::post_update(work.tx(), now, user.user_id, id, &req).await?;
    work.commit(StatusCode::CREATED, &update).await
}

/// A project's updates, oldest first (public once the project is approved).
#[utoipa::path(get, path = "/v1/funding/projects/{id}/updates", tag = TAG,
    params(("id" = Uuid, Path, description = "the project")),
    responses(
        (status = 200, description = "the updates", body = [ProjectUpdate]),
        (status = 404, description = "no such project (or not approved yet)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(project = %id), err(Debug))]
pub async fn list_updates(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Vec<ProjectUpdate>>> {
    let project = super::get(&state.db, id).await?;
    if project.state == ProjectState::Proposed {
        return Err(InvestError::ProjectNotFound.into());
    }
    Ok(ApiJson(super::updates(&state.db, id).await?))
}

/// Settles every project whose deadline has passed and retries the pending refunds, now
/// (admin; the server also does it every `FUNDING_SETTLE_INTERVAL_SECS`). Each project is
/// settled once however often this runs; settlements and refunds are audited.
#[utoipa::path(post, path = "/v1/admin/funding/settle", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "what this run did", body = SettlementRun),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the admin role", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn run_settlement(
    State(state): State<AppState>,
    Extension(payments): Extension<Arc<Payments>>,
    _admin: RequireRole<Admin>,
) -> ApiResult<ApiJson<SettlementRun>> {
    let now = state.clock.now().await;
    let settled = settle::settle_due(&state.db, now).await?;
    let refunds = settle::refund_pending(&state.db, &payments, now).await?;
    Ok(ApiJson(SettlementRun { settled, refunds }))
}
