//! The HTTP handlers of `/v1/predictions` (thin: extract, call the rule module, respond).

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Extension,
    extract::{FromRequestParts, Path, Query, State},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use posmul_api_kit::{
    auth::{
        extract::{Admin, AuthUser, Moderator, RequestMeta, RequireRole, Resolver},
        roles::{Role, load_roles},
    },
    error::{ApiError, ApiJson, ApiResult, Problem},
    pagination::{Page, PageParams},
    state::AppState,
};
use posmul_core::money::{Pmp, Wei};

use crate::{
    Runtime,
    error::PredictionError,
    events::{self, AcceptsEventStream},
    games::{self, Approval, GameDetail, GameFilter, GameInput, GameSummary, Proposer},
    pools::{self, HourDetail, HourlyPool},
    settlement::{self, Correction, CorrectionRequest, SettleRequest, Settlement},
    stakes::{self, MaybeIdempotent, MyPrediction, Prediction, StakeOutcome, StakeRequest},
    stats::{self, Leaderboard, LeaderboardQuery, RedisTarget, UserStats},
    types::Category,
};

const TAG: &str = "predictions";

/// The signed-in user when a bearer token is sent; anonymous otherwise (a bad token is a 401).
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            Ok(MaybeUser(Some(
                AuthUser::from_request_parts(parts, state).await?,
            )))
        } else {
            Ok(MaybeUser(None))
        }
    }
}

fn redis_target(state: &AppState) -> RedisTarget<'_> {
    RedisTarget {
        url: state.config.redis_url.as_deref(),
        prefix: &state.config.redis_key_prefix,
        tls: &state.config.tls,
    }
}

async fn proposer(state: &AppState, user: &AuthUser) -> ApiResult<Proposer> {
    let roles = load_roles(&state.db, user.user_id).await?;
    Ok(if roles.satisfies(Role::Moderator) {
        Proposer::Staff
    } else {
        Proposer::Citizen
    })
}

/// Lists and searches games (newest first, cursor pages).
#[utoipa::path(get, path = "/v1/predictions/games", tag = TAG,
    params(GameFilter, PageParams),
    responses(
        (status = 200, description = "a page of games", body = Page<GameSummary>),
        (status = 422, description = "bad filter or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn list_games(
    State(state): State<AppState>,
    Query(filter): Query<GameFilter>,
    Query(page): Query<PageParams>,
) -> ApiResult<ApiJson<Page<GameSummary>>> {
    let now = state.clock.now().await;
    Ok(ApiJson(games::list(&state.db, now, &filter, &page).await?))
}

/// Creates a game: official for admins and moderators, a `user_proposed` game for citizens (P1, P2).
#[utoipa::path(post, path = "/v1/predictions/games", tag = TAG, security(("bearer" = [])),
    request_body = GameInput,
    responses(
        (status = 201, description = "created", body = GameDetail),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "citizens propose only user_proposed games", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too-many-open-proposals`: a citizen has as many proposals open (not yet ended, settled or cancelled) as `PREDICTION_MAX_OPEN_PROPOSALS` allows (default 3)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a P2 rule is broken; `type` names it (game-title-too-short, proposed-game-title-too-short, game-description-too-short, game-too-few-options, game-options-do-not-fit-type, game-option-invalid, game-times-out-of-order, game-ends-in-the-past, game-stake-range-invalid, game-importance-out-of-range, game-participant-cap-invalid)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.user_id), err(Debug))]
pub async fn create_game(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<GameInput>,
) -> ApiResult<(StatusCode, ApiJson<GameDetail>)> {
    let who = proposer(&state, &user).await?;
    let now = state.clock.now().await;
    let game = games::create(
        &state.db,
        now,
        user.user_id,
        who,
        input,
        &state.config.predictions,
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(game)))
}

/// A game's page: options with totals, the pool so far, and the caller's own position.
#[utoipa::path(get, path = "/v1/predictions/games/{id}", tag = TAG,
    params(("id" = Uuid, Path, description = "the game")),
    responses(
        (status = 200, description = "the game", body = GameDetail),
        (status = 404, description = "no such game", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id), err(Debug))]
pub async fn get_game(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<GameDetail>> {
    let now = state.clock.now().await;
    let mut conn = state.db.acquire().await?;
    Ok(ApiJson(
        games::detail(&mut conn, now, id, user.map(|u| u.user_id)).await?,
    ))
}

/// Approves a citizen's proposal for the hourly pools (moderator or admin; P6, audited). From
/// then on it takes part in the pools; it keeps what it received only with enough distinct
/// stakers at its end (`PREDICTION_MIN_STAKERS`, default 5). An edit of the proposal clears the
/// approval.
#[utoipa::path(post, path = "/v1/predictions/games/{id}/approval", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the proposal")),
    responses(
        (status = 201, description = "approved", body = Approval),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: requires the moderator role; `conflict-of-interest`: the caller created the game or staked in it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "game-already-approved, game-needs-no-approval (not a citizen's proposal), game-final", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id), err(Debug))]
pub async fn approve(
    State(state): State<AppState>,
    moderator: RequireRole<Moderator>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
) -> ApiResult<(StatusCode, ApiJson<Approval>)> {
    let now = state.clock.now().await;
    let approval = games::approve(&state.db, now, moderator.user_id(), id, &meta).await?;
    Ok((StatusCode::CREATED, ApiJson(approval)))
}

/// Replaces a game while it is CREATED (its creator, or staff).
#[utoipa::path(put, path = "/v1/predictions/games/{id}", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the game")),
    request_body = GameInput,
    responses(
        (status = 200, description = "updated", body = GameDetail),
        (status = 403, description = "not the creator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`game-not-editable`: no longer CREATED", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a P2 rule is broken", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id), err(Debug))]
pub async fn update_game(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    ApiJson(input): ApiJson<GameInput>,
) -> ApiResult<ApiJson<GameDetail>> {
    let who = proposer(&state, &user).await?;
    let now = state.clock.now().await;
    Ok(ApiJson(
        games::update(&state.db, now, user.user_id, who, id, input).await?,
    ))
}

/// Stakes PMP on an option (P4), or quotes it with `dry_run`. Send an `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/predictions/games/{id}/stakes", tag = TAG, security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "the game"),
        ("Idempotency-Key" = Option<String>, Header, description = "required to place (not for dry_run): names this placement; a retry with the same key returns the first response"),
    ),
    request_body = StakeRequest,
    responses(
        (status = 201, description = "placed", body = StakeOutcome),
        (status = 200, description = "quote (dry_run)", body = StakeOutcome),
        (status = 404, description = "no such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "game-not-active, already-predicted, game-full, idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "option-not-found, stake-below-minimum, stake-above-maximum, insufficient-pmp, missing Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id, user = %user.user_id), err(Debug))]
pub async fn place_stake(
    State(state): State<AppState>,
    user: AuthUser,
    MaybeIdempotent(key): MaybeIdempotent,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<StakeRequest>,
) -> ApiResult<Response> {
    let now = state.clock.now().await;
    Ok(stakes::place(&state.db, now, user.user_id, id, &req, key).await?)
}

/// Withdraws the caller's own prediction while the game is ACTIVE: a full refund.
#[utoipa::path(post, path = "/v1/predictions/predictions/{id}/withdraw", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the prediction")),
    responses(
        (status = 200, description = "withdrawn and refunded", body = Prediction),
        (status = 404, description = "no such prediction of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "game-not-active, prediction-not-live", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(prediction = %id, user = %user.user_id), err(Debug))]
pub async fn withdraw(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Prediction>> {
    let now = state.clock.now().await;
    Ok(ApiJson(
        stakes::withdraw(&state.db, now, user.user_id, id).await?,
    ))
}

/// The caller's predictions, newest first (cursor pages).
#[utoipa::path(get, path = "/v1/predictions/me/predictions", tag = TAG, security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "a page of the caller's predictions", body = Page<MyPrediction>),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn my_predictions(
    State(state): State<AppState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<ApiJson<Page<MyPrediction>>> {
    let now = state.clock.now().await;
    Ok(ApiJson(
        stakes::list_mine(&state.db, now, user.user_id, &page).await?,
    ))
}

/// Settles a CLOSED game once, naming the winning option (admin or resolver; P5, P6: not one
/// who created the game or staked in it; audited). Its credits join waves only after the
/// dispute window (`dispute_ends_at`).
#[utoipa::path(post, path = "/v1/predictions/games/{id}/settlement", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the game")),
    request_body = SettleRequest,
    responses(
        (status = 201, description = "settled", body = Settlement),
        (status = 403, description = "`forbidden`: requires the resolver role; `conflict-of-interest`: the caller created the game or staked in it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "game-not-closed, game-already-settled, game-cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "option-not-found", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id), err(Debug))]
pub async fn settle(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    resolver: RequireRole<Resolver>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<SettleRequest>,
) -> ApiResult<(StatusCode, ApiJson<Settlement>)> {
    let now = state.clock.now().await;
    let s = settlement::settle(
        &state.db,
        now,
        resolver.user_id(),
        id,
        req.winning_option,
        &state.config.predictions,
        &meta,
    )
    .await?;
    runtime.cache.invalidate(redis_target(&state)).await;
    Ok((StatusCode::CREATED, ApiJson(s)))
}

/// A game's settlement.
#[utoipa::path(get, path = "/v1/predictions/games/{id}/settlement", tag = TAG,
    params(("id" = Uuid, Path, description = "the game")),
    responses(
        (status = 200, description = "the settlement", body = Settlement),
        (status = 404, description = "not settled", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id), err(Debug))]
pub async fn get_settlement(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Settlement>> {
    Ok(ApiJson(settlement::get(&state.db, id).await?))
}

/// What a cancellation refunded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Cancelled {
    pub game_id: Uuid,
    /// PMP refunded to the stakers.
    #[schema(value_type = i64)]
    pub refunded: Pmp,
    /// PMC the game had received from the hourly pools, returned to the day's budget (M2).
    #[schema(value_type = String)]
    pub released_wei: Wei,
}

/// Cancels a game that is not final and refunds every stake (admin or resolver, not one who
/// created the game or staked in it; audited). What it received from the hourly pools returns
/// to the later hours of the day.
#[utoipa::path(post, path = "/v1/predictions/games/{id}/cancel", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the game")),
    responses(
        (status = 200, description = "cancelled", body = Cancelled),
        (status = 403, description = "`forbidden`: requires the resolver role; `conflict-of-interest`: the caller created the game or staked in it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such game", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "game-final", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id), err(Debug))]
pub async fn cancel(
    State(state): State<AppState>,
    resolver: RequireRole<Resolver>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Cancelled>> {
    let now = state.clock.now().await;
    let c = settlement::cancel(
        &state.db,
        now,
        resolver.user_id(),
        id,
        &state.config.predictions,
        &meta,
    )
    .await?;
    Ok(ApiJson(Cancelled {
        game_id: id,
        refunded: c.refunded,
        released_wei: c.released,
    }))
}

/// Corrects a wrong settlement within its dispute window (admin only, not one who created the
/// game or staked in it; audited): the credits of the replaced outcome are revoked and the
/// corrected winners credited, so nobody is paid twice (P6).
#[utoipa::path(post, path = "/v1/predictions/games/{id}/corrections", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the game")),
    request_body = CorrectionRequest,
    responses(
        (status = 201, description = "corrected", body = Correction),
        (status = 403, description = "`forbidden`: requires the admin role; `conflict-of-interest`: the caller created the game or staked in it", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "game-not-settled, dispute-window-closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "option-not-found, correction-changes-nothing, bad reason", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id), err(Debug))]
pub async fn correct(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<CorrectionRequest>,
) -> ApiResult<(StatusCode, ApiJson<Correction>)> {
    let now = state.clock.now().await;
    let c = settlement::correct(&state.db, now, admin.user_id(), id, &req, &meta).await?;
    runtime.cache.invalidate(redis_target(&state)).await;
    Ok((StatusCode::CREATED, ApiJson(c)))
}

/// The hourly pools (M2), newest first.
#[utoipa::path(get, path = "/v1/predictions/pools", tag = TAG,
    params(PageParams),
    responses((status = 200, description = "a page of hourly pools", body = Page<HourlyPool>)))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn list_pools(
    State(state): State<AppState>,
    Query(page): Query<PageParams>,
) -> ApiResult<ApiJson<Page<HourlyPool>>> {
    let limit = page.limit()?;
    let before: Option<DateTime<Utc>> = page.after()?;
    let rows = pools::list(&state.db, before, limit + 1).await?;
    Ok(ApiJson(Page::from_rows(rows, limit, |p| p.hour)))
}

/// One computed hour (M2) with every game's allocation; immutable once computed.
#[utoipa::path(get, path = "/v1/predictions/pools/{hour}", tag = TAG,
    params(("hour" = String, Path, description = "the top of a UTC hour, RFC 3339 (2026-11-26T07:00:00Z)")),
    responses(
        (status = 200, description = "the hour and its allocations", body = HourDetail),
        (status = 400, description = "not an RFC 3339 time", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "that hour was not computed", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn get_pool_hour(
    State(state): State<AppState>,
    Path(hour): Path<DateTime<Utc>>,
) -> ApiResult<ApiJson<HourDetail>> {
    pools::hour_detail(&state.db, hour)
        .await?
        .map(ApiJson)
        .ok_or_else(|| PredictionError::HourNotComputed.into())
}

/// A category's multiplier.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Multiplier {
    /// A decimal string, 0-1000 with at most 6 decimals.
    #[schema(value_type = String, example = "1.5")]
    pub multiplier: Decimal,
}

/// The category multipliers of the hourly pools (M2).
#[utoipa::path(get, path = "/v1/predictions/category-multipliers", tag = TAG,
    responses((status = 200, description = "by category", body = BTreeMap<String, String>)))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn list_multipliers(
    State(state): State<AppState>,
) -> ApiResult<ApiJson<BTreeMap<Category, Decimal>>> {
    let mut conn = state.db.acquire().await?;
    Ok(ApiJson(pools::multipliers(&mut conn).await?))
}

/// Sets a category's multiplier (admin; audited); applies to hours computed afterwards.
#[utoipa::path(put, path = "/v1/predictions/category-multipliers/{category}", tag = TAG, security(("bearer" = [])),
    params(("category" = Category, Path, description = "the category")),
    request_body = Multiplier,
    responses(
        (status = 204, description = "set"),
        (status = 403, description = "requires the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "out of range or too precise", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn set_multiplier(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path(category): Path<Category>,
    ApiJson(m): ApiJson<Multiplier>,
) -> ApiResult<StatusCode> {
    if m.multiplier < Decimal::ZERO
        || m.multiplier > Decimal::from(1000)
        || m.multiplier.normalize().scale() > 6
    {
        return Err(PredictionError::MultiplierOutOfRange.into());
    }
    pools::set_multiplier(&state.db, category, m.multiplier, admin.user_id(), &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's accuracy, overall and per category.
#[utoipa::path(get, path = "/v1/predictions/me/stats", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "statistics", body = UserStats),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn my_stats(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<ApiJson<UserStats>> {
    Ok(ApiJson(stats::user_stats(&state.db, user.user_id).await?))
}

/// A user's public accuracy statistics.
#[utoipa::path(get, path = "/v1/predictions/users/{id}/stats", tag = TAG,
    params(("id" = Uuid, Path, description = "the user")),
    responses((status = 200, description = "statistics", body = UserStats)))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn user_stats(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<UserStats>> {
    Ok(ApiJson(stats::user_stats(&state.db, id).await?))
}

/// Leaderboards by accuracy or PMC earned (cached up to an hour, refreshed on settlement).
#[utoipa::path(get, path = "/v1/predictions/leaderboard", tag = TAG,
    params(LeaderboardQuery),
    responses(
        (status = 200, description = "the leaderboard", body = Leaderboard),
        (status = 422, description = "bad parameters", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn leaderboard(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    Query(q): Query<LeaderboardQuery>,
) -> ApiResult<ApiJson<Leaderboard>> {
    Ok(ApiJson(
        runtime
            .cache
            .leaderboard(&state.db, redis_target(&state), &q)
            .await?,
    ))
}

/// A game's event stream (SSE): stakes, withdrawals with option totals, status changes, settlement.
#[utoipa::path(get, path = "/v1/predictions/games/{id}/events", tag = TAG,
    params(("id" = Uuid, Path, description = "the game")),
    responses(
        (status = 200, description = "text/event-stream of StreamEvent", body = events::StreamEvent, content_type = "text/event-stream"),
        (status = 404, description = "no such game", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`not-acceptable`: send `Accept: text/event-stream`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too-many-streams`: this client (by address) or the server has as many streams open as allowed (`Retry-After`), or rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(game = %id), err(Debug))]
pub async fn game_events(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    _stream: AcceptsEventStream,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM predictions.games WHERE id = $1) AS "exists!""#,
        id
    )
    .fetch_one(&state.db)
    .await?;
    if !exists {
        return Err(PredictionError::GameNotFound.into());
    }
    let slot = runtime.streams.acquire(
        format!("ip:{}", meta.ip.as_deref().unwrap_or("unknown")),
        state.config.sse_streams_per_client,
        state.config.sse_streams_total,
    )?;
    let rx = runtime.hub.subscribe(&state.db).await?;
    Ok(events::stream(rx, slot, move |e| e.game_id == Some(id)).into_response())
}

/// The caller's event stream (SSE): their settlements, credits and refunds.
#[utoipa::path(get, path = "/v1/predictions/me/events", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream of StreamEvent", body = events::StreamEvent, content_type = "text/event-stream"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`not-acceptable`: send `Accept: text/event-stream`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too-many-streams`: the caller or the server has as many streams open as allowed (`Retry-After`), or rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn my_events(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    user: AuthUser,
    _stream: AcceptsEventStream,
) -> ApiResult<Response> {
    let me = user.user_id;
    let slot = runtime.streams.acquire(
        format!("user:{me}"),
        state.config.sse_streams_per_client,
        state.config.sse_streams_total,
    )?;
    let rx = runtime.hub.subscribe(&state.db).await?;
    Ok(events::stream(rx, slot, move |e| e.user_id == Some(me)).into_response())
}
