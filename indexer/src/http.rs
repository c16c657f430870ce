//! The indexer's `/readyz` check; the listener serving it with `/healthz` and `/metrics` is
//! [`posmul_core::service::listener`].

use std::{sync::Arc, time::Duration};

use posmul_core::service::{Readiness as Ready, ReadinessCheck, listener::readiness_check};
use serde::Serialize;
use sqlx::PgPool;

use crate::status::{Role, Status};

/// What the check reads.
#[derive(Clone)]
pub struct HttpState {
    pub status: Arc<Status>,
    pub pool: PgPool,
    pub ready_max_lag: u64,
}

/// The `/readyz` check of the operations listener.
pub fn readiness(state: HttpState) -> ReadinessCheck {
    readiness_check(move || {
        let state = state.clone();
        async move {
            let body = readyz(&state).await;
            Ready {
                ready: body.ready,
                body: serde_json::to_value(&body).unwrap_or_default(),
            }
        }
    })
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

/// Ready when leading, the database and the RPC answer, and at most `READY_MAX_LAG` behind.
pub async fn readyz(s: &HttpState) -> Readiness {
    let db_ok = matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query!("SELECT 1 AS one").fetch_one(&s.pool)
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
    Readiness {
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
    }
}
