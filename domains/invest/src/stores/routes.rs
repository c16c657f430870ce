//! The HTTP handlers of the Local League stores (I2).

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use posmul_api_kit::{
    audit,
    auth::extract::{Admin, AuthUser, Merchant, RequestMeta, RequireRole},
    error::{ApiJson, ApiResult, Problem},
    idempotency::{Begun, Idempotent},
    pagination::{Page, PageParams},
    state::AppState,
};

use super::{Found, NewReview, NewStore, RateEvent, Review, Search, Stars, Store};
use crate::error::InvestError;

const TAG: &str = "stores";

/// The default search radius, in metres.
const DEFAULT_RADIUS_M: f64 = 1_000.0;

/// `?lat=&lon=&radius_m=&category=&q=&cursor=&limit=`. Numbers are read as text so that a bad
/// one is the domain's problem (`store-coordinates-invalid`), not a bare 400.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Latitude of the point, degrees in [-90, 90].
    pub lat: Option<String>,
    /// Longitude of the point, degrees in [-180, 180].
    pub lon: Option<String>,
    /// Metres, above 0 and at most 50,000 (default 1,000).
    pub radius_m: Option<String>,
    /// Only stores of this category.
    pub category: Option<String>,
    /// Only stores whose name or address contains this (case-insensitive).
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A store with what is in force now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoreDetail {
    #[serde(flatten)]
    pub store: Store,
    /// The PMC rate in force now, in basis points (an event's while one runs).
    pub rate_bp: i32,
    pub stars: Stars,
}

/// A rate event to add: `rate_bp` defaults to 200 (2 %).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRateEvent {
    #[serde(default)]
    pub rate_bp: Option<i32>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Registers a store of the caller (merchant); it appears in search once an admin verifies it.
/// Needs an `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/stores", tag = TAG, security(("bearer" = [])),
    request_body = NewStore,
    responses(
        (status = 201, description = "registered, unverified", body = Store),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the merchant role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed, store-coordinates-invalid", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user = %merchant.user_id()), err(Debug))]
pub async fn register_store(
    State(state): State<AppState>,
    merchant: RequireRole<Merchant>,
    key: Idempotent,
    ApiJson(req): ApiJson<NewStore>,
) -> ApiResult<Response> {
    let mut work = match key.begin(&state.db, merchant.user_id(), &req).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let now = state.clock.now().await;
    let store = super::register(&mut **work.tx(), now, merchant.user_id(), &req).await?;
    work.commit(StatusCode::CREATED, &store).await
}

/// Verifies a store (admin; audited): it appears in search from now on.
#[utoipa::path(post, path = "/v1/admin/stores/{id}/verify", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the store")),
    responses(
        (status = 200, description = "verified", body = Store),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such store", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "store-already-verified", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(store = %id), err(Debug))]
pub async fn verify_store(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<Store>> {
    let now = state.clock.now().await;
    let mut tx = state.db.begin().await?;
    let store = super::verify(&mut tx, now, admin.user_id(), id).await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::StoreVerified,
            actor: Some(admin.user_id()),
            subject: Some(store.merchant_id),
            meta: &meta,
            details: serde_json::json!({ "store_id": id, "name": store.name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(store))
}

/// Adds a rate event to the caller's store (its merchant only; audited): the PMC rate is
/// `rate_bp` from `starts_at` (inclusive) until `ends_at` (exclusive).
#[utoipa::path(post, path = "/v1/stores/{id}/rate-events", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the store")),
    request_body = NewRateEvent,
    responses(
        (status = 201, description = "added", body = RateEvent),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "requires the merchant role; store-not-owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such store", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(store = %id), err(Debug))]
pub async fn add_rate_event(
    State(state): State<AppState>,
    merchant: RequireRole<Merchant>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<NewRateEvent>,
) -> ApiResult<(StatusCode, ApiJson<RateEvent>)> {
    let now = state.clock.now().await;
    let mut tx = state.db.begin().await?;
    let event = super::add_rate_event(
        &mut tx,
        now,
        merchant.user_id(),
        id,
        req.rate_bp,
        req.starts_at,
        req.ends_at,
    )
    .await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::StoreRateEventAdded,
            actor: Some(merchant.user_id()),
            subject: Some(merchant.user_id()),
            meta: &meta,
            details: serde_json::json!({
                "store_id": id, "event_id": event.id, "rate_bp": event.rate_bp,
                "starts_at": event.starts_at, "ends_at": event.ends_at,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(event)))
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_number(s: Option<&str>, err: InvestError) -> Result<f64, InvestError> {
    s.and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .ok_or(err)
}

/// Verified stores within `radius_m` of a point, nearest first, with their distance in metres.
/// The cursor carries the last store's (distance, id).
#[utoipa::path(get, path = "/v1/stores", tag = TAG,
    params(SearchParams),
    responses(
        (status = 200, description = "a page of stores, nearest first", body = Page<Found>),
        (status = 422, description = "store-coordinates-invalid, store-radius-out-of-range, validation-failed (limit, cursor)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, err(Debug))]
pub async fn search_stores(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> ApiResult<ApiJson<Page<Found>>> {
    let lat = parse_number(params.lat.as_deref(), InvestError::BadCoordinates)?;
    let lon = parse_number(params.lon.as_deref(), InvestError::BadCoordinates)?;
    let radius_m = match params.radius_m.as_deref() {
        None => DEFAULT_RADIUS_M,
        Some(r) => parse_number(
            Some(r),
            InvestError::RadiusOutOfRange {
                max_m: super::MAX_RADIUS_M,
            },
        )?,
    };
    let page = PageParams {
        cursor: params.cursor.clone(),
        limit: params.limit,
    };
    let limit = page.limit()?;
    // The distance travels as its bits: a decimal could come back one ULP off and repeat or
    // skip a store at the page boundary.
    let after: Option<(u64, Uuid)> = page.after()?;
    let after = after.map(|(bits, id)| (f64::from_bits(bits), id));
    let found = super::search(
        &state.db,
        &Search {
            lat,
            lon,
            radius_m,
            category: non_empty(&params.category),
            text: non_empty(&params.q),
            after,
            limit: limit + 1,
        },
    )
    .await?;
    Ok(ApiJson(Page::from_rows(found, limit, |f| {
        (f.distance_m.to_bits(), f.id)
    })))
}

/// A verified store, with the PMC rate in force now and its reviews' stars.
#[utoipa::path(get, path = "/v1/stores/{id}", tag = TAG,
    params(("id" = Uuid, Path, description = "the store")),
    responses(
        (status = 200, description = "the store", body = StoreDetail),
        (status = 404, description = "no such verified store", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(store = %id), err(Debug))]
pub async fn get_store(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<ApiJson<StoreDetail>> {
    let now = state.clock.now().await;
    let store = super::get(&state.db, id).await?;
    // An unverified store is not public yet.
    if store.verified_at.is_none() {
        return Err(InvestError::StoreNotFound.into());
    }
    let rate_bp = super::rate_at(&state.db, id, now).await?;
    let stars = super::stars(&state.db, id).await?;
    Ok(ApiJson(StoreDetail {
        store,
        rate_bp,
        stars,
    }))
}

/// Reviews a verified store, once, after a paid payment there (1–5 stars, text).
#[utoipa::path(post, path = "/v1/stores/{id}/reviews", tag = TAG, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the store")),
    request_body = NewReview,
    responses(
        (status = 201, description = "reviewed", body = Review),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such store", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "store-review-duplicate", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation-failed, store-not-verified, store-review-without-payment", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(store = %id, user = %user.user_id), err(Debug))]
pub async fn review_store(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<NewReview>,
) -> ApiResult<(StatusCode, ApiJson<Review>)> {
    let now = state.clock.now().await;
    let mut tx = state.db.begin().await?;
    let review = super::review(&mut tx, now, user.user_id, id, &req).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(review)))
}
