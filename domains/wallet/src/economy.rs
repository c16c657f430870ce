//! The economy configuration (DESIGN.md M1), set by admins.
//!
//! - `POST /v1/admin/economy` — a new version (annual EBIT in PMC, tax rate, interest rate,
//!   note); it applies from the next UTC day by the API's clock (the chain's day in demo mode);
//!   every version is kept with who set it, and the
//!   change is written to the audit log (`economy_config_set`, U2) in the same transaction.
//! - `GET /v1/admin/economy` — every version, newest first.
//!
//! The rules (rate ranges, rounding of B(d)) live in `posmul_economy::config`, the one place
//! that computes the daily budget.

use std::str::FromStr;

use axum::{extract::State, http::StatusCode};
use posmul_core::money::Wei;
use posmul_economy::config::{self as economy, EconomyVersion, NewEconomyConfig, SetError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit::{self, Action, Entry},
    auth::extract::{Admin, RequestMeta, RequireRole},
    display::PmcAmount,
    error::{ApiJson, ApiResult, Problem, WalletError},
    state::AppState,
};

/// The economy routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_versions, set_version))
}

/// A new version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EconomyInput {
    /// Annual EBIT in PMC (decimal, up to 18 places).
    #[schema(example = "36500000")]
    pub annual_ebit_pmc: String,
    /// Default 0.495.
    #[schema(example = "0.495")]
    pub tax_rate: Option<String>,
    /// Default 0.
    #[schema(example = "0")]
    pub interest_rate: Option<String>,
    pub note: Option<String>,
}

/// A stored version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EconomyView {
    pub version: i64,
    pub annual_ebit: PmcAmount,
    pub tax_rate: String,
    pub interest_rate: String,
    /// The first UTC day it applies to.
    pub effective_from: String,
    pub set_by: uuid::Uuid,
    pub set_at: String,
    pub note: Option<String>,
    /// floor(EAT / 365) before the on-chain cap.
    pub uncapped_daily_budget: PmcAmount,
}

impl From<EconomyVersion> for EconomyView {
    fn from(v: EconomyVersion) -> Self {
        EconomyView {
            version: v.version,
            uncapped_daily_budget: economy::uncapped_daily_budget(
                v.annual_ebit,
                v.tax_rate,
                v.interest_rate,
            )
            .into(),
            annual_ebit: v.annual_ebit.into(),
            tax_rate: v.tax_rate.normalize().to_string(),
            interest_rate: v.interest_rate.normalize().to_string(),
            effective_from: v.effective_from.to_string(),
            set_by: v.set_by,
            set_at: v.set_at.to_rfc3339(),
            note: v.note,
        }
    }
}

fn rate(field: &'static str, value: Option<&str>, default: Decimal) -> ApiResult<Decimal> {
    match value {
        None => Ok(default),
        Some(s) => Ok(Decimal::from_str(s.trim()).map_err(|_| WalletError::InvalidRate { field })?),
    }
}

/// Every version, newest first.
#[utoipa::path(get, path = "/v1/admin/economy", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "the versions", body = Vec<EconomyView>),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()), err(level = "info"))]
pub async fn list_versions(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
) -> ApiResult<axum::Json<Vec<EconomyView>>> {
    let versions = economy::history(&state.db, 1000).await?;
    Ok(axum::Json(
        versions.into_iter().map(EconomyView::from).collect(),
    ))
}

/// Sets a new version, effective from the next UTC day.
#[utoipa::path(post, path = "/v1/admin/economy", tag = "admin", security(("bearer" = [])),
    request_body = EconomyInput,
    responses(
        (status = 201, description = "the stored version", body = EconomyView),
        (status = 400, description = "malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "rates out of range", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()), err(level = "info"))]
pub async fn set_version(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    ApiJson(input): ApiJson<EconomyInput>,
) -> ApiResult<(StatusCode, axum::Json<EconomyView>)> {
    let new = NewEconomyConfig {
        annual_ebit: Wei::parse_pmc(input.annual_ebit_pmc.trim())
            .map_err(WalletError::InvalidEbit)?,
        tax_rate: rate(
            "tax_rate",
            input.tax_rate.as_deref(),
            economy::DEFAULT_TAX_RATE,
        )?,
        interest_rate: rate(
            "interest_rate",
            input.interest_rate.as_deref(),
            Decimal::ZERO,
        )?,
        note: input.note,
    };
    // The API's clock: in demo mode the chain's day, which the hourly pools and waves follow.
    let today = state.clock.today().await.into();
    let mut tx = state.db.begin().await?;
    let version = match economy::set_version(&mut *tx, &new, admin.user_id(), today).await {
        Ok(v) => v,
        Err(SetError::Invalid(e)) => return Err(WalletError::from(e).into()),
        Err(SetError::Db(e)) => return Err(e.into()),
    };
    let view = EconomyView::from(version);
    audit::record(
        &mut *tx,
        Entry {
            action: Action::EconomyConfigSet,
            actor: Some(admin.user_id()),
            subject: None,
            meta: &meta,
            details: serde_json::json!({
                "version": view.version,
                "annual_ebit_wei": view.annual_ebit.wei,
                "tax_rate": view.tax_rate,
                "interest_rate": view.interest_rate,
                "effective_from": view.effective_from,
                "note": view.note,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}
