//! Liveness and readiness on the public port: `GET /healthz`, `GET /readyz`. Metrics are served
//! only on the operations listener (`METRICS_ADDR`, loopback by default), never here.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiJson, Problem},
    state::AppState,
};

/// The health routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "alive", body = Health)))]
pub async fn healthz() -> ApiJson<Health> {
    ApiJson(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "ready", body = Health),
        (status = 503, description = "the database is unreachable", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<ApiJson<Health>, ApiError> {
    database_ready(&state.db)
        .await
        .map_err(|e| ApiError::Unavailable(anyhow::Error::new(e).context("readiness probe")))?;
    Ok(ApiJson(Health { status: "ok" }))
}

/// The readiness probe shared by `/readyz` and the operations listener: one round trip to the
/// database.
pub async fn database_ready(db: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT 1 AS ready")
        .fetch_one(db)
        .await
        .map(drop)
}
