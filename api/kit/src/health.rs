//! Liveness, readiness and metrics: `GET /healthz`, `GET /readyz`, `GET /metrics`.

use axum::{extract::State, http::header, response::IntoResponse};
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
        .routes(routes!(prometheus_metrics))
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
    sqlx::query!("SELECT 1 AS ready")
        .fetch_one(&state.db)
        .await
        .map_err(|e| ApiError::Unavailable(anyhow::Error::new(e).context("readiness probe")))?;
    Ok(ApiJson(Health { status: "ok" }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "metrics", body = String, content_type = "text/plain")))]
pub async fn prometheus_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
