//! The predictions scheduler: moves games along their lifecycle by time (P3) and computes the
//! hourly pools (M2), in one active instance.
//!
//! Every API replica runs [`spawn`]; each tries `pg_try_advisory_lock` on a dedicated session
//! and only the holder works — the others are hot standbys that take over when the holder's
//! session ends. A tick ([`tick`]) stores the statuses the times imply (emitting a `status`
//! event per change) and then catches up the hourly pools, both at the time of the API's clock
//! (`AppState::clock`: the system clock, or the chain's in demo mode). Reads never wait for it:
//! they derive the status from the times.

use std::time::Duration;

use chrono::{DateTime, Utc};
use posmul_api_kit::config::PredictionSettings;
use posmul_core::{
    Clock,
    service::{Election, Leader},
};
use sqlx::PgPool;

use crate::{events::CHANNEL, pools};

/// The advisory lock key of the scheduler ("PMSCHED!").
const SCHEDULER_LOCK: i64 = 0x504d_5343_4845_4421;

/// How often a tick runs.
pub const TICK: Duration = Duration::from_secs(20);

/// What a tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickReport {
    /// Games whose stored status changed.
    pub transitions: usize,
    /// Hourly pools computed.
    pub hours: usize,
}

/// Stores the statuses the times imply at `now` and notifies the games' streams.
#[tracing::instrument(skip(db), err)]
pub async fn transitions(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<usize> {
    let rows = sqlx::query!(
        r#"WITH changed AS (
             UPDATE predictions.games
             SET status = predictions.effective_status(status, starts_at, ends_at, $1), updated_at = now()
             WHERE status IN ('created', 'active')
               AND status <> predictions.effective_status(status, starts_at, ends_at, $1)
             RETURNING id, status),
         ev AS (
             INSERT INTO predictions.game_events (game_id, kind, payload)
             SELECT id, 'status', jsonb_build_object('status', status) FROM changed
             RETURNING game_id, payload)
         SELECT game_id AS "game_id!", pg_notify($2, jsonb_build_object('kind', 'status', 'game_id', game_id,
                                                          'user_id', NULL, 'payload', payload)::TEXT) AS n
         FROM ev"#,
        now,
        CHANNEL,
    )
    .fetch_all(db)
    .await?;
    for r in &rows {
        tracing::info!(game = %r.game_id, "game status advanced");
    }
    Ok(rows.len())
}

/// One scheduler tick at `now`.
pub async fn tick(
    db: &PgPool,
    now: DateTime<Utc>,
    settings: &PredictionSettings,
) -> sqlx::Result<TickReport> {
    let transitions = transitions(db, now).await?;
    let hours = pools::catch_up(db, now, settings).await?;
    Ok(TickReport { transitions, hours })
}

/// Tries to become the active instance: the holder of the scheduler's advisory lock (core's
/// leader election; the lock lasts as long as the returned session). `None` while another
/// instance holds it.
pub async fn become_active(db: &PgPool) -> sqlx::Result<Option<Leader>> {
    Election::new("predictions scheduler", SCHEDULER_LOCK)
        .try_lead(db)
        .await
}

/// Runs the scheduler in the background for the life of the process; each tick reads `clock`.
pub fn spawn(
    db: PgPool,
    clock: Clock,
    settings: PredictionSettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match become_active(&db).await {
                Ok(Some(mut leader)) => {
                    tracing::info!("predictions scheduler: this instance is active");
                    loop {
                        if let Err(e) = tick(&db, clock.now().await, &settings).await {
                            tracing::warn!(error = %e, "predictions scheduler tick failed");
                        }
                        tokio::time::sleep(TICK).await;
                        // Still holding the lock? (the session may have been lost)
                        if !leader.still_leading().await {
                            break;
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "predictions scheduler cannot reach the database")
                }
            }
            tokio::time::sleep(TICK).await;
        }
    })
}
