//! PMP over HTTP: a citizen reads their history.
//!
//! - `GET /v1/me/pmp/history`: the signed-in user's postings, newest first, cursor-paginated;
//!   each shows the counter-account's kind and the business reference.
//!
//! There is no route that sends PMP to another citizen (E5): PMP is earned from the platform
//! and spent only on prediction stakes (E2), so a farm of accounts cannot pool its sign-up
//! grants. Internal movements (stakes, refunds, rewards, grants) go through
//! `posmul_economy::ledger` in the features that make them.

use axum::extract::{Query, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::extract::AuthUser,
    error::{ApiJson, ApiResult, Problem},
    pagination::{Page, PageParams},
    state::AppState,
};
use posmul_economy::ledger::{Account, HistoryEntry};

/// The PMP routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pmp_history))
}

/// The signed-in user's PMP history, newest first.
#[utoipa::path(get, path = "/v1/me/pmp/history", tag = "pmp", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "a page of postings", body = Page<HistoryEntry>),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn pmp_history(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<PageParams>,
) -> ApiResult<ApiJson<Page<HistoryEntry>>> {
    let limit = params.limit()?;
    let before: Option<i64> = params.after()?;
    let mut conn = state.db.acquire().await?;
    let rows =
        posmul_economy::ledger::history(&mut conn, Account::user(user.user_id), before, limit + 1)
            .await?;
    Ok(ApiJson(Page::from_rows(rows, limit, |h| h.posting_id)))
}
