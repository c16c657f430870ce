//! The investment rates (DESIGN.md I1, I2, I3): what real money converts to, set by admins.
//!
//! - `GET /v1/economy/rates` — the rates in force today (public: clients show them beside a
//!   payment).
//! - `POST /v1/admin/economy/rates` — a new version; it applies from the next UTC day by the
//!   API's clock, like the economy configuration (M1), and is written to the audit log
//!   (`economy_rates_set`) in the same transaction.
//! - `GET /v1/admin/economy/rates` — every version, newest first.
//!
//! The rules (ranges, rounding) live in `posmul_economy::rates`.

use std::str::FromStr;

use axum::{extract::State, http::StatusCode};
use posmul_economy::rates::{self, Rates, RatesVersion, SetRatesError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit::{self, Action, Entry},
    auth::extract::{Admin, RequestMeta, RequireRole},
    error::{ApiJson, ApiResult, Problem, WalletError},
    state::AppState,
};

/// The rates routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current_rates))
        .routes(routes!(list_rates, set_rates))
}

/// Rates, as decimals in strings (exact).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RatesView {
    /// A campaign's PMP budget per KRW paid.
    #[schema(example = "1")]
    pub pmp_per_krw: String,
    /// PMC per KRW of a store payment, before the store's own rate.
    #[schema(example = "0.01")]
    pub store_pmc_per_krw: String,
    /// PMC per KRW contributed to a funded project.
    #[schema(example = "0.01")]
    pub funding_pmc_per_krw: String,
    /// Ad views a citizen may complete per UTC day over all campaigns.
    #[schema(example = 20)]
    pub ad_views_per_day: i32,
}

impl From<Rates> for RatesView {
    fn from(r: Rates) -> Self {
        RatesView {
            pmp_per_krw: r.pmp_per_krw.normalize().to_string(),
            store_pmc_per_krw: r.store_pmc_per_krw.normalize().to_string(),
            funding_pmc_per_krw: r.funding_pmc_per_krw.normalize().to_string(),
            ad_views_per_day: r.ad_views_per_day,
        }
    }
}

/// A new version: every field omitted keeps the value in force today.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatesInput {
    pub pmp_per_krw: Option<String>,
    pub store_pmc_per_krw: Option<String>,
    pub funding_pmc_per_krw: Option<String>,
    pub ad_views_per_day: Option<i32>,
    pub note: Option<String>,
}

/// A stored version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RatesVersionView {
    pub version: i64,
    #[serde(flatten)]
    pub rates: RatesView,
    /// The first UTC day it applies to.
    pub effective_from: String,
    pub set_by: uuid::Uuid,
    pub set_at: String,
    pub note: Option<String>,
}

impl From<RatesVersion> for RatesVersionView {
    fn from(v: RatesVersion) -> Self {
        RatesVersionView {
            version: v.version,
            rates: v.rates.into(),
            effective_from: v.effective_from.to_string(),
            set_by: v.set_by,
            set_at: v.set_at.to_rfc3339(),
            note: v.note,
        }
    }
}

fn decimal(field: &'static str, value: Option<&str>, current: Decimal) -> ApiResult<Decimal> {
    match value {
        None => Ok(current),
        Some(s) => Ok(Decimal::from_str(s.trim()).map_err(|_| WalletError::InvalidRate { field })?),
    }
}

/// The rates in force today.
#[utoipa::path(get, path = "/v1/economy/rates", tag = "economy",
    responses(
        (status = 200, description = "the rates in force today", body = RatesView),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn current_rates(State(state): State<AppState>) -> ApiResult<axum::Json<RatesView>> {
    let today = state.clock.today().await.into();
    Ok(axum::Json(rates::in_force(&state.db, today).await?.into()))
}

/// Every version, newest first.
#[utoipa::path(get, path = "/v1/admin/economy/rates", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "the versions", body = Vec<RatesVersionView>),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()), err(level = "info"))]
pub async fn list_rates(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
) -> ApiResult<axum::Json<Vec<RatesVersionView>>> {
    let versions = rates::history(&state.db, 1000).await?;
    Ok(axum::Json(
        versions.into_iter().map(RatesVersionView::from).collect(),
    ))
}

/// Sets a new version, effective from the next UTC day.
#[utoipa::path(post, path = "/v1/admin/economy/rates", tag = "admin", security(("bearer" = [])),
    request_body = RatesInput,
    responses(
        (status = 201, description = "the stored version", body = RatesVersionView),
        (status = 400, description = "malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "rates out of range", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()), err(level = "info"))]
pub async fn set_rates(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    ApiJson(input): ApiJson<RatesInput>,
) -> ApiResult<(StatusCode, axum::Json<RatesVersionView>)> {
    let today = state.clock.today().await.into();
    let mut tx = state.db.begin().await?;
    let current = rates::in_force(&mut *tx, today).await?;
    let new = Rates {
        pmp_per_krw: decimal(
            "pmp_per_krw",
            input.pmp_per_krw.as_deref(),
            current.pmp_per_krw,
        )?,
        store_pmc_per_krw: decimal(
            "store_pmc_per_krw",
            input.store_pmc_per_krw.as_deref(),
            current.store_pmc_per_krw,
        )?,
        funding_pmc_per_krw: decimal(
            "funding_pmc_per_krw",
            input.funding_pmc_per_krw.as_deref(),
            current.funding_pmc_per_krw,
        )?,
        ad_views_per_day: input.ad_views_per_day.unwrap_or(current.ad_views_per_day),
    };
    let version = match rates::set_version(&mut *tx, &new, input.note, admin.user_id(), today).await
    {
        Ok(v) => v,
        Err(SetRatesError::Invalid(e)) => return Err(WalletError::from(e).into()),
        Err(SetRatesError::Db(e)) => return Err(e.into()),
    };
    let view = RatesVersionView::from(version);
    audit::record(
        &mut *tx,
        Entry {
            action: Action::EconomyRatesSet,
            actor: Some(admin.user_id()),
            subject: None,
            meta: &meta,
            details: serde_json::json!({
                "version": view.version,
                "pmp_per_krw": view.rates.pmp_per_krw,
                "store_pmc_per_krw": view.rates.store_pmc_per_krw,
                "funding_pmc_per_krw": view.rates.funding_pmc_per_krw,
                "ad_views_per_day": view.rates.ad_views_per_day,
                "effective_from": view.effective_from,
                "note": view.note,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}
