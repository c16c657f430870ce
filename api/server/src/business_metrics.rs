//! The API's metrics, declared in one place, and the business gauges read from the database.
//!
//! [`describe`] declares every metric the API process exports (the kit's and the domains'
//! counters, the HTTP figures, the gauges below and `posmul_economy::health`'s); `ops/`'s test
//! checks the alert rules and the dashboard against these names.
//!
//! [`spawn`] reads the gauges every `BUSINESS_METRICS_INTERVAL_SECS` ([`refresh`]): activity
//! (daily active users, participation in predictions, prediction accuracy) and the economy's
//! health (`posmul_economy::health`). Each instance of the API reads the same figures, so
//! dashboards take `max` over instances.

use std::time::Duration;

use chrono::{DateTime, Utc};
use posmul_core::Clock;
use sqlx::PgPool;

/// Counters recorded by the API process (its kit, domains and `posmul-economy`).
pub const COUNTERS: &[(&str, &str)] = &[
    (
        "http_requests_total",
        "HTTP requests by method, matched route and status",
    ),
    ("auth_registrations_total", "Accounts registered"),
    (
        "auth_signins_total",
        "Sign-ins by method (password, siwe) and outcome (ok, failed)",
    ),
    (
        "auth_refresh_reuse_total",
        "Rotated refresh tokens presented again (the family is revoked)",
    ),
    (
        "auth_login_locked_refusals_total",
        "Sign-ins refused while the login is locked (U2)",
    ),
    (
        "signup_grants_paid_total",
        "Sign-up grants paid at e-mail verification (E5)",
    ),
    (
        "signup_grants_waiting_total",
        "Sign-up grants held back by the daily limit (E5)",
    ),
    ("wallets_linked_total", "Wallets linked by signature"),
    (
        "mail_sent_total",
        "Mails sent (or written to the mailbox folder)",
    ),
    ("mail_failures_total", "Mails that could not be sent"),
    (
        "password_hash_overloaded_total",
        "Requests refused (503) for want of a password-hashing slot",
    ),
    (
        "rate_limited_total",
        "Requests refused by a rate limit (429)",
    ),
    (
        "rate_limiter_errors_total",
        "Rate-limit checks that failed (Redis unreachable): the request was let through",
    ),
    (
        "posmul_idempotent_replays_total",
        "Writes answered from the Idempotency-Key store",
    ),
    ("posmul_pmp_transfers_total", "PMP ledger transfers by kind"),
    ("posmul_pmc_credits_total", "PMC credits issued by source"),
    (
        "posmul_pmc_credits_revoked_total",
        "Pending PMC credits revoked by a settlement correction (P6) or a refund (I2)",
    ),
    (
        "posmul_pmc_debts_incurred_total",
        "PMC debts recorded: refunds of credits a wave already carried (I2)",
    ),
    ("posmul_prediction_stakes_total", "Prediction stakes placed"),
    (
        "posmul_prediction_pool_hours_total",
        "Hourly prediction pools computed (M2)",
    ),
    ("posmul_prediction_settlements_total", "Games settled (P5)"),
    (
        "posmul_partitions_created_total",
        "Monthly partitions created ahead by partitions.ensure_months",
    ),
];

/// Gauges of the API process other than `posmul_economy::health`'s.
pub const GAUGES: &[(&str, &str)] = &[
    ("password_hashes_in_flight", "Password hashes running now"),
    (
        "predictions_event_streams_open",
        "Prediction event streams (server-sent events) open on this process",
    ),
    (
        "posmul_active_users_24h",
        "Distinct users who signed in, refreshed a session or placed a prediction in the last 24 hours",
    ),
    (
        "posmul_prediction_participants_24h",
        "Distinct users who placed a prediction in the last 24 hours (the API's clock)",
    ),
    (
        "posmul_prediction_participation_ratio",
        "posmul_prediction_participants_24h / posmul_active_users_24h (0 without active users)",
    ),
    (
        "posmul_prediction_accuracy_ratio",
        "Won / (won + lost) among the predictions of games settled in the last 30 days (0 without any)",
    ),
    (
        "posmul_predictions_settled_30d",
        "Predictions of games settled in the last 30 days, by outcome (won, lost)",
    ),
    (
        "posmul_business_metrics_refreshed_timestamp_seconds",
        "Unix time the business gauges were last read from the database",
    ),
];

/// Histograms of the API process.
pub const HISTOGRAMS: &[(&str, &str)] = &[(
    "http_request_duration_seconds",
    "HTTP request latency by method, matched route and status",
)];

/// Declares every metric above and `posmul_economy::health`'s on the installed recorder; the
/// counters without labels start at 0.
pub fn describe() {
    for (name, help) in COUNTERS {
        metrics::describe_counter!(*name, *help);
    }
    for name in [
        "auth_registrations_total",
        "auth_refresh_reuse_total",
        "auth_login_locked_refusals_total",
        "signup_grants_paid_total",
        "signup_grants_waiting_total",
        "wallets_linked_total",
        "mail_sent_total",
        "mail_failures_total",
        "password_hash_overloaded_total",
        "rate_limited_total",
        "rate_limiter_errors_total",
        "posmul_idempotent_replays_total",
        "posmul_pmc_credits_revoked_total",
        "posmul_pmc_debts_incurred_total",
        "posmul_prediction_stakes_total",
        "posmul_prediction_pool_hours_total",
        "posmul_prediction_settlements_total",
        "posmul_partitions_created_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for (name, help) in GAUGES {
        metrics::describe_gauge!(*name, *help);
    }
    for (name, help) in HISTOGRAMS {
        metrics::describe_histogram!(*name, *help);
    }
    posmul_economy::health::describe();
}

/// The activity figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    pub active_users: i64,
    pub participants: i64,
    pub won: i64,
    pub lost: i64,
}

impl Activity {
    pub fn participation(&self) -> f64 {
        if self.active_users == 0 {
            0.0
        } else {
            self.participants as f64 / self.active_users as f64
        }
    }

    pub fn accuracy(&self) -> f64 {
        let settled = self.won + self.lost;
        if settled == 0 {
            0.0
        } else {
            self.won as f64 / settled as f64
        }
    }
}

/// Reads the activity figures. Sessions are on the wall clock (`wall_now`); predictions and
/// settlements on the API's clock (`now`), as they are written.
pub async fn activity(
    db: &PgPool,
    now: DateTime<Utc>,
    wall_now: DateTime<Utc>,
) -> sqlx::Result<Activity> {
    let day = chrono::Duration::hours(24);
    let month = chrono::Duration::days(30);
    let row = sqlx::query!(
        r#"SELECT
             (SELECT COUNT(*) FROM (
                 SELECT user_id FROM auth.refresh_tokens WHERE created_at > $1
                 UNION
                 SELECT user_id FROM predictions.predictions WHERE created_at > $2) u) AS "active!",
             (SELECT COUNT(DISTINCT user_id) FROM predictions.predictions WHERE created_at > $2) AS "participants!",
             (SELECT COUNT(*) FROM predictions.predictions p JOIN predictions.settlements s USING (game_id)
               WHERE s.settled_at > $3 AND p.status = 'won') AS "won!",
             (SELECT COUNT(*) FROM predictions.predictions p JOIN predictions.settlements s USING (game_id)
               WHERE s.settled_at > $3 AND p.status = 'lost') AS "lost!""#,
        wall_now - day,
        now - day,
        now - month,
    )
    .fetch_one(db)
    .await?;
    Ok(Activity {
        active_users: row.active,
        participants: row.participants,
        won: row.won,
        lost: row.lost,
    })
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Health(#[from] posmul_economy::health::HealthError),
}

/// Reads every business gauge once and sets it.
pub async fn refresh(db: &PgPool, clock: &Clock, chain_id: u64) -> Result<(), RefreshError> {
    let wall_now = Utc::now();
    let a = activity(db, clock.now().await, wall_now).await?;
    metrics::gauge!("posmul_active_users_24h").set(a.active_users as f64);
    metrics::gauge!("posmul_prediction_participants_24h").set(a.participants as f64);
    metrics::gauge!("posmul_prediction_participation_ratio").set(a.participation());
    metrics::gauge!("posmul_prediction_accuracy_ratio").set(a.accuracy());
    metrics::gauge!("posmul_predictions_settled_30d", "outcome" => "won").set(a.won as f64);
    metrics::gauge!("posmul_predictions_settled_30d", "outcome" => "lost").set(a.lost as f64);

    let mut conn = db.acquire().await?;
    let health = posmul_economy::health::snapshot(&mut conn, chain_id).await?;
    posmul_economy::health::record(&health);
    metrics::gauge!("posmul_business_metrics_refreshed_timestamp_seconds")
        .set(wall_now.timestamp_millis() as f64 / 1000.0);
    Ok(())
}

/// Refreshes the gauges every `interval` until aborted; a failed reading is logged and tried
/// again at the next tick.
pub fn spawn(
    db: PgPool,
    clock: Clock,
    chain_id: u64,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = refresh(&db, &clock, chain_id).await {
                tracing::warn!(error = %e, "reading the business metrics failed");
            }
        }
    })
}
