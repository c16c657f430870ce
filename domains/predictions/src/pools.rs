//! M2, the hourly prediction pools: the job that applies [`super::allocation::allocate_hour`].
//!
//! At the top of each UTC hour H the hour's pool — B(d)/24 of H's day, the day's last hour also
//! taking the remainder ([`super::allocation::hour_pool`]), plus what returned to H from
//! releases (below) — is split across the games that take part in H: ACTIVE at H (started at or
//! before H, ending after it, not cancelled by then), created before H and settling after it,
//! and, for a citizen's user-proposed game, approved by a moderator before H (P6). Whatever the
//! moment the job runs, H's set is fixed by the games' times, so a late computation (catching
//! up after downtime) gives the same result as a punctual one.
//!
//! Each hour is computed once: `predictions.hourly_pools` has the hour as its primary key, rows
//! are append-only (a trigger refuses updates), and computations serialize on a transaction
//! advisory lock ([`lock`]), which settlement, cancellation and approval take too, before the
//! game's row. With no game taking part (or only zero multipliers) the hour's pool stays
//! `unallocated` and is never minted.
//!
//! # Releases: allocations that pay no one return to the day
//! A user-proposed game takes part provisionally: it keeps what it received only if it has at
//! least `min_stakers` distinct stakers at its end ([`PredictionSettings`], P6; the stakers are
//! frozen once it is CLOSED). Otherwise, and for a cancelled game, its allocations are released
//! once, into `predictions.pool_releases`: at its end (not qualified) or at the cancellation
//! ([`release`]). A release at time t goes back to the budget of the hours of t's UTC day that
//! start after t: each takes ⌊amount / n⌋ of it (n such hours), the day's last hour also the
//! remainder ([`super::allocation::returned_share`]), so the day takes it back to the wei, as
//! the `returned` part of those hours' pools. Released during a day's last hour, it is never
//! minted. A release never counts from before an hour already computed (its time is the later
//! of the two), so no computed hour ever misses a release it should have had. A game's own pool
//! ([`game_pool`]) is what it received less what it released: a settlement never pays what went
//! back.

use std::collections::BTreeMap;

use alloy::primitives::U256;
use chrono::{DateTime, Duration, DurationRound, NaiveTime, Timelike, Utc};
use posmul_api_kit::{audit, auth::extract::RequestMeta, config::PredictionSettings};
use posmul_core::money::Wei;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, PgTransaction};
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
    /// The part of `amount` that returned from the day's releases (allocations of games that
    /// pay no one), in wei.
    #[schema(value_type = String)]
    pub returned: Wei,
    pub qualifying_games: i32,
    pub computed_at: DateTime<Utc>,
}

/// The top of the hour containing `t`.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// Why a game's allocations went back to the day's budget (M2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The game was cancelled.
    Cancelled,
    /// A user-proposed game with fewer distinct stakers than the setting at its end (P6).
    NotQualified,
}

/// Takes the pools' transaction lock: every hour's computation, and every change that decides
/// which game takes part in an hour (settle, cancel, approve), in that order before any game row.
pub async fn lock(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", POOLS_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// The time a release or an approval at `at` counts from: `at`, or the newest computed hour if
/// that is later (the hours computed already are the ones it comes too late for).
pub async fn effective_time(
    conn: &mut PgConnection,
    at: DateTime<Utc>,
) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar!(
        r#"SELECT GREATEST($1::TIMESTAMPTZ, (SELECT max(hour) FROM predictions.hourly_pools)) AS "at!""#,
        at,
    )
    .fetch_one(conn)
    .await
}

/// Releases game `game_id`'s allocations so far to the day's budget at `at` (see the module
/// docs), once; returns what was released (0 when it received nothing or was released before).
/// The caller holds [`lock`].
#[tracing::instrument(skip(tx), err)]
pub async fn release(
    tx: &mut PgTransaction<'_>,
    game_id: Uuid,
    at: DateTime<Utc>,
    reason: ReleaseReason,
) -> sqlx::Result<Wei> {
    let at = effective_time(tx, at).await?;
    let released = sqlx::query_scalar!(
        r#"INSERT INTO predictions.pool_releases (game_id, reason, amount, released_at, day)
         SELECT $1, $2, a.amount, $3, ($3 AT TIME ZONE 'UTC')::DATE
         FROM (SELECT SUM(amount) AS amount FROM predictions.hourly_allocations WHERE game_id = $1) a
         WHERE a.amount > 0
         ON CONFLICT (game_id) DO NOTHING
         RETURNING amount AS "amount: Wei""#,
        game_id,
        reason as ReleaseReason,
        at,
    )
    .fetch_optional(&mut **tx)
    .await?
    .unwrap_or(Wei::ZERO);
    if !released.is_zero() {
        tracing::info!(%game_id, ?reason, %released, %at, "allocations returned to the day's budget");
    }
    Ok(released)
}

/// Releases (`not_qualified`) the user-proposed games — or only `game`, when given — that ended
/// at or before `until` with fewer than `min_stakers` distinct stakers, were not cancelled and
/// were not released yet (P6), each at its end. The caller holds [`lock`]. Returns how many.
async fn release_unqualified(
    conn: &mut PgConnection,
    until: DateTime<Utc>,
    min_stakers: u32,
    game: Option<Uuid>,
) -> sqlx::Result<u64> {
    // One live prediction per user and game (P4): the participants are the distinct stakers,
    // and they no longer change once the game has ended. Games that ended before the catch-up
    // window were decided by the hours computed after them.
    let oldest = until - Duration::hours(MAX_CATCH_UP_HOURS + 24);
    let rows = sqlx::query!(
        r#"INSERT INTO predictions.pool_releases (game_id, reason, amount, released_at, day)
         SELECT g.id, 'not_qualified', a.amount, r.at, (r.at AT TIME ZONE 'UTC')::DATE
         FROM predictions.games g
         CROSS JOIN LATERAL (SELECT SUM(x.amount) AS amount FROM predictions.hourly_allocations x
                             WHERE x.game_id = g.id) a
         CROSS JOIN LATERAL (SELECT GREATEST(g.ends_at, (SELECT max(hour) FROM predictions.hourly_pools)) AS at) r
         WHERE g.category = 'user_proposed' AND g.ends_at <= $1 AND g.ends_at > $4
           AND g.participants < $2 AND g.cancelled_at IS NULL AND a.amount > 0
           AND ($3::UUID IS NULL OR g.id = $3)
           AND NOT EXISTS (SELECT 1 FROM predictions.pool_releases p WHERE p.game_id = g.id)
         ON CONFLICT (game_id) DO NOTHING"#,
        until,
        i32::try_from(min_stakers).unwrap_or(i32::MAX),
        game,
        oldest,
    )
    .execute(conn)
    .await?
    .rows_affected();
    if rows > 0 {
        tracing::info!(
            games = rows,
            "proposals without enough stakers returned their allocations"
        );
    }
    Ok(rows)
}

/// P6 at settlement: releases game `game_id` if it is a user-proposed game that ended without
/// enough distinct stakers (as the hour after its end would). The caller holds [`lock`].
pub async fn release_if_unqualified(
    tx: &mut PgTransaction<'_>,
    game_id: Uuid,
    now: DateTime<Utc>,
    settings: &PredictionSettings,
) -> sqlx::Result<()> {
    release_unqualified(tx, now, settings.min_stakers, Some(game_id)).await?;
    Ok(())
}

/// What returned to hour `hour` from the releases of its UTC day made before it (see the
/// module docs).
async fn returned_to(conn: &mut PgConnection, hour: DateTime<Utc>) -> sqlx::Result<U256> {
    let day_start = hour.date_naive().and_time(NaiveTime::MIN).and_utc();
    let releases = sqlx::query!(
        r#"SELECT amount AS "amount: Wei", released_at FROM predictions.pool_releases
         WHERE released_at >= $1 AND released_at < $2"#,
        day_start,
        hour,
    )
    .fetch_all(conn)
    .await?;
    Ok(releases.iter().fold(U256::ZERO, |acc, r| {
        acc.saturating_add(allocation::returned_share(
            r.amount.as_u256(),
            r.released_at.hour(),
            hour.hour(),
        ))
    }))
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
/// whether this call computed it. Hours are computed in order ([`catch_up`]); an hour first
/// records the releases of the proposals that ended before it without qualifying (P6).
#[tracing::instrument(skip(db, settings), err)]
pub async fn compute_hour(
    db: &PgPool,
    hour: DateTime<Utc>,
    settings: &PredictionSettings,
) -> sqlx::Result<(HourlyPool, bool)> {
    let hour = hour_of(hour);
    let mut tx = db.begin().await?;
    lock(&mut tx).await?;
    if let Some(existing) = load(&mut tx, hour).await? {
        return Ok((existing, false));
    }
    release_unqualified(&mut tx, hour, settings.min_stakers, None).await?;
    let budget = budget::daily_budget(&mut tx, hour.date_naive()).await?;
    let returned = returned_to(&mut tx, hour).await?;
    let pool = allocation::hour_pool(budget.as_u256(), hour.hour()).saturating_add(returned);
    // A citizen's proposal takes part once a moderator approved it (P6).
    let games = sqlx::query_as!(
        QualifyingGame,
        r#"SELECT id, category AS "category: Category" FROM predictions.games
         WHERE created_at < $1 AND settles_at > $1 AND starts_at <= $1 AND ends_at > $1
           AND (cancelled_at IS NULL OR cancelled_at > $1)
           AND (category <> 'user_proposed' OR official OR approved_at < $1)
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
        "INSERT INTO predictions.hourly_pools (hour, day, budget, amount, allocated, unallocated, qualifying_games,
             returned)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        hour,
        hour.date_naive(),
        budget as Wei,
        Wei::from_u256(pool) as Wei,
        Wei::from_u256(allocated) as Wei,
        Wei::from_u256(pool - allocated) as Wei,
        qualifying,
        Wei::from_u256(returned) as Wei,
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
    tracing::info!(
        %hour,
        pool = %Wei::from_u256(pool),
        returned = %Wei::from_u256(returned),
        games = qualifying,
        "hourly pool computed"
    );
    Ok((row, true))
}

async fn load(conn: &mut PgConnection, hour: DateTime<Utc>) -> sqlx::Result<Option<HourlyPool>> {
    sqlx::query_as!(
        HourlyPool,
        r#"SELECT hour, budget AS "budget: Wei", amount AS "amount: Wei", allocated AS "allocated: Wei",
                unallocated AS "unallocated: Wei", returned AS "returned: Wei", qualifying_games, computed_at
         FROM predictions.hourly_pools WHERE hour = $1"#,
        hour,
    )
    .fetch_optional(conn)
    .await
}

/// Computes every hour not yet computed up to the hour containing `now`, oldest first: every
/// gap since the oldest computed hour (or, on a fresh system, the current hour), within the last
/// [`MAX_CATCH_UP_HOURS`]. Returns how many hours this call computed.
#[tracing::instrument(skip(db, settings), err)]
pub async fn catch_up(
    db: &PgPool,
    now: DateTime<Utc>,
    settings: &PredictionSettings,
) -> sqlx::Result<usize> {
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
        if compute_hour(db, hour, settings).await?.1 {
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
                unallocated AS "unallocated: Wei", returned AS "returned: Wei", qualifying_games, computed_at
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

/// The PMC a game holds so far: the sum of its hourly allocations, less what it released.
pub async fn game_pool(conn: &mut PgConnection, game_id: Uuid) -> sqlx::Result<Wei> {
    sqlx::query_scalar!(
        r#"SELECT (COALESCE((SELECT SUM(amount) FROM predictions.hourly_allocations WHERE game_id = $1), 0)
                 - COALESCE((SELECT amount FROM predictions.pool_releases WHERE game_id = $1), 0)) AS "pool!: Wei""#,
        game_id,
    )
    .fetch_one(conn)
    .await
}

/// Sets a category's multiplier (admins; M2), written to the audit log with its actor and the
/// value it replaces (P6). Applies to hours computed afterwards.
#[tracing::instrument(skip(db, meta), err)]
pub async fn set_multiplier(
    db: &PgPool,
    category: Category,
    multiplier: Decimal,
    by: Uuid,
    meta: &RequestMeta,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    let previous = sqlx::query_scalar!(
        r#"SELECT multiplier AS "multiplier: Decimal" FROM predictions.category_multipliers
         WHERE category = $1 FOR UPDATE"#,
        category as Category,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE predictions.category_multipliers SET multiplier = $2, updated_by = $3, updated_at = now()
         WHERE category = $1",
        category as Category,
        multiplier as Decimal,
        by,
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::PredictionMultiplierSet,
            actor: Some(by),
            subject: None,
            meta,
            details: serde_json::json!({
                "category": category,
                "previous": previous.normalize().to_string(),
                "multiplier": multiplier.normalize().to_string(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
