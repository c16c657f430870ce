//! B(d), the daily Money Wave budget (M1), as the hourly pools read it (M2).
//!
//! The formula lives in one place, [`posmul_economy::config`] (the version in force on day d,
//! `B(d) = min(floor(EAT / 365), on-chain dailyCap)`, rounded down once to whole wei); this module
//! only supplies the cap the API knows of, and is the predictions domain's one way to read B(d).
//!
//! The on-chain cap is the newest `DailyCapChanged` the indexer mirrored
//! (`chain.wave_cap_changes`), else the cap the relayer read when it built its newest wave up to
//! day d (`relayer.waves.cap`); when neither is known yet, B(d) is the uncapped value. Without any
//! economy version, B(d) is 0.

use alloy::primitives::U256;
use chrono::NaiveDate;
use posmul_core::money::Wei;
use posmul_economy::config as economy;
use sqlx::PgConnection;

/// The on-chain daily cap as the API knows it (see the module docs).
pub async fn known_cap(conn: &mut PgConnection, day: NaiveDate) -> sqlx::Result<Option<Wei>> {
    sqlx::query_scalar!(
        r#"SELECT cap AS "cap!: Wei" FROM (
             (SELECT new_cap AS cap, 0 AS source FROM chain.wave_cap_changes
              ORDER BY block_number DESC, log_index DESC LIMIT 1)
             UNION ALL
             (SELECT cap, 1 AS source FROM relayer.waves WHERE date <= $1 ORDER BY day DESC LIMIT 1)
         ) caps ORDER BY source LIMIT 1"#,
        day,
    )
    .fetch_optional(conn)
    .await
}

/// B(d) for `day` (see the module docs).
#[tracing::instrument(skip(conn), err)]
pub async fn daily_budget(conn: &mut PgConnection, day: NaiveDate) -> sqlx::Result<Wei> {
    let version = economy::in_force(&mut *conn, day).await?;
    let cap = known_cap(conn, day)
        .await?
        .unwrap_or(Wei::from_u256(U256::MAX));
    Ok(economy::daily_budget(version.as_ref(), cap))
}
