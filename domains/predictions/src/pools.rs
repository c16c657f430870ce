//! M2, the hourly prediction pools: the job that applies [`super::allocation::allocate_hour`].
//!
//! At the top of each UTC hour H the hour's pool — B(d)/24 of H's day, the day's last hour also
//! taking the remainder ([`super::allocation::hour_pool`]) — is split across the games that
//! qualify for H: ACTIVE at H (started at or before H, ending after it, not cancelled by then),
//! created before H and settling after it. Whatever the moment the job runs, H's qualifying set
//! is fixed by the games' times, so a late computation (catching up after downtime) gives the
//! same result as a punctual one.
//!
//! Each hour is computed once: `predictions.hourly_pools` has the hour as its primary key, rows
//! are append-only (a trigger refuses updates), and computations serialize on a transaction
//! advisory lock. With no qualifying game (or only zero multipliers) the hour's pool stays
//! `unallocated` and is never minted.

use std::collections::BTreeMap;

use alloy::primitives::U256;
use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use posmul_core::money::Wei;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    allocation::{self, QualifyingGame},
    budget,
    types::Category,
};

/// The advisory lock key serializing hourly computations ("PMPOOLS!").
const POOLS_LOCK: i64 = 0x504d_504f_4f4c_5321;

/// Catch-up computes at most this many hours per run (31 days).
pub const MAX_CATCH_UP_HOURS: i64 = 24 * 31;

/// A computed hour.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HourlyPool {
    pub hour: DateTime<Utc>,
    /// B(d) of the hour's day, in wei.
    #[schema(value_type = String)]
    pub budget: Wei,
    /// The hour's pool, in wei.
    #[schema(value_type = String)]
    pub amount: Wei,
    #[schema(value_type = String)]
    pub allocated: Wei,
    /// Not allocated (no qualifying game): never minted.
    #[schema(value_type = String)]
    pub unallocated: Wei,
    pub qualifying_games: i32,
    pub computed_at: DateTime<Utc>,
}

/// The top of the hour containing `t`.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// The category multipliers (M2).
pub async fn multipliers(conn: &mut PgConnection) -> sqlx::Result<BTreeMap<Category, Decimal>> {
    let rows = sqlx::query!(
        r#"SELECT category AS "category: Category", multiplier AS "multiplier: Decimal"
         FROM predictions.category_multipliers"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.category, r.multiplier))
        .collect())
}

/// Computes hour `hour` (the top of an hour) unless it already was; returns the hour's row and
/// whether this call computed it.
#[tracing::instrument(skip(db), err)]
pub async fn compute_hour(db: &PgPool, hour: DateTime<Utc>) -> sqlx::Result<(HourlyPool, bool)> {
    let hour = hour_of(hour);
    let mut tx = db.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", POOLS_LOCK)
        .execute(&mut *tx)
        .await?;
    if let Some(existing) = load(&mut tx, hour).await? {
        return Ok((existing, false));
    }
    let budget = budget::daily_budget(&mut tx, hour.date_naive()).await?;
    let pool = allocation::hour_pool(budget.as_u256(), hour.hour());
    let games = sqlx::query_as!(
        QualifyingGame,
        r#"SELECT id, category AS "category: Category" FROM predictions.games
         WHERE created_at < $1 AND settles_at > $1 AND starts_at <= $1 AND ends_at > $1
           AND (cancelled_at IS NULL OR cancelled_at > $1)
         ORDER BY id"#,
        hour,
    )
    .fetch_all(&mut *tx)
    .await?;
    let mults = multipliers(&mut tx).await?;
    let allocations = allocation::allocate_hour(pool, &games, &mults);
    let allocated = allocations.iter().fold(U256::ZERO, |acc, a| acc + a.amount);
    let qualifying = i32::try_from(games.len()).unwrap_or(i32::MAX);
    sqlx::query!(
        "INSERT INTO predictions.hourly_pools (hour, day, budget, amount, allocated, unallocated, qualifying_games)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        hour,
        hour.date_naive(),
        budget as Wei,
        Wei::from_u256(pool) as Wei,
        Wei::from_u256(allocated) as Wei,
        Wei::from_u256(pool - allocated) as Wei,
        qualifying,
    )
    .execute(&mut *tx)
    .await?;
    if !allocations.is_empty() {
        let ids: Vec<Uuid> = allocations.iter().map(|a| a.game_id).collect();
        let categories: Vec<&str> = allocations.iter().map(|a| a.category.as_str()).collect();
        let mult: Vec<Decimal> = allocations
            .iter()
            .map(|a| mults.get(&a.category).copied().unwrap_or(Decimal::ONE))
            .collect();
        let amounts: Vec<Wei> = allocations
            .iter()
            .map(|a| Wei::from_u256(a.amount))
            .collect();
        sqlx::query!(
            "INSERT INTO predictions.hourly_allocations (hour, game_id, category, multiplier, amount)
             SELECT $1, g, c, m, a FROM unnest($2::UUID[], $3::TEXT[], $4::NUMERIC[], $5::NUMERIC[]) AS u(g, c, m, a)",
            hour,
            &ids,
            &categories as &[&str],
            &mult as &[Decimal],
            &amounts as &[Wei],
        )
        .execute(&mut *tx)
        .await?;
    }
    let row = load(&mut tx, hour).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    metrics::counter!("posmul_prediction_pool_hours_total").increment(1);
    tracing::info!(%hour, pool = %Wei::from_u256(pool), games = qualifying, "hourly pool computed");
    Ok((row, true))
}

async fn load(conn: &mut PgConnection, hour: DateTime<Utc>) -> sqlx::Result<Option<HourlyPool>> {
    sqlx::query_as!(
        HourlyPool,
        r#"SELECT hour, budget AS "budget: Wei", amount AS "amount: Wei", allocated AS "allocated: Wei",
                unallocated AS "unallocated: Wei", qualifying_games, computed_at
         FROM predictions.hourly_pools WHERE hour = $1"#,
        hour,
    )
    .fetch_optional(conn)
    .await
}

/// Computes every hour not yet computed up to the hour containing `now`, oldest first: every
/// gap since the oldest computed hour (or, on a fresh system, the current hour), within the last
/// [`MAX_CATCH_UP_HOURS`]. Returns how many hours this call computed.
#[tracing::instrument(skip(db), err)]
pub async fn catch_up(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<usize> {
    let current = hour_of(now);
    let oldest_allowed = current - Duration::hours(MAX_CATCH_UP_HOURS - 1);
    let missing = sqlx::query_scalar!(
        r#"SELECT h AS "h!" FROM generate_series(
                 GREATEST($2, COALESCE((SELECT min(hour) FROM predictions.hourly_pools), $1)), $1, interval '1 hour') AS h
         WHERE NOT EXISTS (SELECT 1 FROM predictions.hourly_pools p WHERE p.hour = h)
         ORDER BY h"#,
        current,
        oldest_allowed,
    )
    .fetch_all(db)
    .await?;
    let mut computed = 0;
    for hour in missing {
        if compute_hour(db, hour).await?.1 {
            computed += 1;
        }
    }
    Ok(computed)
}

/// The pools, newest first, before the `before` hour when given.
pub async fn list(
    db: &PgPool,
    before: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<HourlyPool>> {
    sqlx::query_as!(
        HourlyPool,
        r#"SELECT hour, budget AS "budget: Wei", amount AS "amount: Wei", allocated AS "allocated: Wei",
                unallocated AS "unallocated: Wei", qualifying_games, computed_at
         FROM predictions.hourly_pools WHERE ($1::TIMESTAMPTZ IS NULL OR hour < $1)
         ORDER BY hour DESC LIMIT $2"#,
        before,
        limit,
    )
    .fetch_all(db)
    .await
}

/// One game's share of an hour's pool, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AllocationRow {
    pub game_id: Uuid,
    pub category: Category,
    /// The category multiplier in force when the hour was computed.
    #[schema(value_type = String)]
    pub multiplier: Decimal,
    #[schema(value_type = String)]
    pub amount: Wei,
}

/// An hour with its allocations.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HourDetail {
    #[serde(flatten)]
    pub pool: HourlyPool,
    /// By category, then game id.
    pub allocations: Vec<AllocationRow>,
}

/// A computed hour and its allocations, if that hour was computed.
pub async fn hour_detail(db: &PgPool, hour: DateTime<Utc>) -> sqlx::Result<Option<HourDetail>> {
    let mut conn = db.acquire().await?;
    let Some(pool) = load(&mut conn, hour).await? else {
        return Ok(None);
    };
    let allocations = sqlx::query_as!(
        AllocationRow,
        r#"SELECT game_id, category AS "category: Category", multiplier AS "multiplier: Decimal",
                amount AS "amount: Wei"
         FROM predictions.hourly_allocations WHERE hour = $1 ORDER BY category, game_id"#,
        hour,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(HourDetail { pool, allocations }))
}

/// The PMC allocated to a game so far (the sum of its hourly allocations).
pub async fn game_pool(conn: &mut PgConnection, game_id: Uuid) -> sqlx::Result<Wei> {
    sqlx::query_scalar!(
        r#"SELECT COALESCE(SUM(amount), 0) AS "pool!: Wei" FROM predictions.hourly_allocations WHERE game_id = $1"#,
        game_id,
    )
    .fetch_one(conn)
    .await
}

/// Sets a category's multiplier (admins; M2). Applies to hours computed afterwards.
#[tracing::instrument(skip(db), err)]
pub async fn set_multiplier(
    db: &PgPool,
    category: Category,
    multiplier: Decimal,
    by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE predictions.category_multipliers SET multiplier = $2, updated_by = $3, updated_at = now()
         WHERE category = $1",
        category as Category,
        multiplier as Decimal,
        by,
    )
    .execute(db)
    .await?;
    Ok(())
}
