//! `/healthz`, `/readyz` and `/metrics`.

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;
use sqlx::PgPool;

use crate::status::{Role, Status};

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub status: Arc<Status>,
    pub pool: PgPool,
    pub ready_max_lag: u64,
}

/// The routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub role: &'static str,
    pub head: u64,
    pub indexed: u64,
    pub finalized: u64,
    pub lag: u64,
    pub rpc_ok: bool,
    pub db_ok: bool,
    pub reason: Option<String>,
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    let db_ok = matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(&s.pool)
        )
        .await,
        Ok(Ok(_))
    );
    let st = &s.status;
    let role = st.role();
    let reason = if role != Role::Leader {
        Some("not the leader (standby or starting)".to_owned())
    } else if !db_ok {
        Some("database unreachable".to_owned())
    } else if !st.rpc_ok() {
        Some("RPC unreachable".to_owned())
    } else if st.lag() > s.ready_max_lag {
        Some(format!(
            "{} blocks behind the head (READY_MAX_LAG {})",
            st.lag(),
            s.ready_max_lag
        ))
    } else {
        None
    };
    let body = Readiness {
        ready: reason.is_none(),
        role: match role {
            Role::Starting => "starting",
            Role::Standby => "standby",
            Role::Leader => "leader",
        },
        head: st.head(),
        indexed: st.indexed(),
        finalized: st.finalized(),
        lag: st.lag(),
        rpc_ok: st.rpc_ok(),
        db_ok,
        reason,
    };
    let code = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        s.status.metrics.render(),
    )
}
