//! The Local League store registry (I2): merchants register stores, admins verify them, owners
//! raise their PMC rate for a while with rate events, citizens who paid at a store review it,
//! and anyone searches the verified stores by distance.
//!
//! Rates are integer basis points (100 = 1 %), never floats. Distances are metres on
//! PostgreSQL's earth model (contrib `earthdistance`); the search asks the GiST index on
//! `ll_to_earth(lat, lon)` with `earth_box` (a bounding cube, a superset) and keeps the exact
//! `earth_distance` within the radius.

pub mod credits;
pub mod routes;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgTransaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{InvestError, Result};

/// The largest search radius, in metres: beyond it the bounding box reads too much of the
/// index for a "near me" search.
pub const MAX_RADIUS_M: f64 = 50_000.0;
/// The default PMC rate of a store, in basis points (1 %).
pub const DEFAULT_BASE_RATE_BP: i32 = 100;
/// The default rate of a rate event, in basis points (2 %).
pub const DEFAULT_EVENT_RATE_BP: i32 = 200;

/// A store, as anyone sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Store {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub name: String,
    pub category: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub verified_at: Option<DateTime<Utc>>,
    /// The rate outside events, in basis points (100 = 1 %).
    pub base_rate_bp: i32,
    pub created_at: DateTime<Utc>,
}

/// A store to register.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    pub name: String,
    /// Lower-case ASCII, digits and `_` (e.g. `cafe`, `bakery`).
    pub category: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    /// The merchant declares the store is no franchise; required to be `true`.
    pub non_franchise: bool,
}

/// Checks a point: finite, latitude in [-90, 90], longitude in [-180, 180].
pub fn check_point(lat: f64, lon: f64) -> Result<()> {
    if lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
    {
        Ok(())
    } else {
        Err(InvestError::BadCoordinates)
    }
}

fn check_new_store(s: &NewStore) -> Result<()> {
    check_point(s.lat, s.lon)?;
    let bad = |field: &'static str, why: &'static str| InvestError::InvalidField(field, why);
    if s.name.trim().is_empty() || s.name.chars().count() > 100 {
        return Err(bad("name", "1-100 characters"));
    }
    if s.address.trim().is_empty() || s.address.chars().count() > 300 {
        return Err(bad("address", "1-300 characters"));
    }
    let c = s.category.as_bytes();
    let category_ok = !c.is_empty()
        && c.len() <= 32
        && c[0].is_ascii_lowercase()
        && c.iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if !category_ok {
        return Err(bad(
            "category",
            "lower-case letters, digits and _ (at most 32)",
        ));
    }
    if !s.non_franchise {
        return Err(bad(
            "non_franchise",
            "the Local League is for stores that are no franchise",
        ));
    }
    Ok(())
}

/// Registers a merchant's store, unverified.
pub async fn register(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    merchant_id: Uuid,
    s: &NewStore,
) -> Result<Store> {
    check_new_store(s)?;
    let id = Uuid::now_v7();
    let row = sqlx::query!(
        "INSERT INTO invest.stores (id, merchant_id, name, category, address, lat, lon, non_franchise, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING base_rate_bp",
        id,
        merchant_id,
        s.name.trim(),
        s.category,
        s.address.trim(),
        s.lat,
        s.lon,
        s.non_franchise,
        now,
    )
    .fetch_one(db)
    .await?;
    Ok(Store {
        id,
        merchant_id,
        name: s.name.trim().to_owned(),
        category: s.category.clone(),
        address: s.address.trim().to_owned(),
        lat: s.lat,
        lon: s.lon,
        verified_at: None,
        base_rate_bp: row.base_rate_bp,
        created_at: now,
    })
}

/// A store, verified or not.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Store> {
    sqlx::query_as!(
        Store,
        "SELECT id, merchant_id, name, category, address, lat, lon, verified_at, base_rate_bp, created_at
         FROM invest.stores WHERE id = $1",
        id,
    )
    .fetch_optional(db)
    .await?
    .ok_or(InvestError::StoreNotFound)
}

/// Verifies a store (once; a second verification is refused so the audit keeps one verifier).
pub async fn verify(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    admin: Uuid,
    id: Uuid,
) -> Result<Store> {
    let updated = sqlx::query!(
        "UPDATE invest.stores SET verified_at = $2, verified_by = $3
         WHERE id = $1 AND verified_at IS NULL",
        id,
        now,
        admin,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let store = get(&mut **tx, id).await?;
    if updated == 0 {
        return Err(InvestError::StoreAlreadyVerified);
    }
    Ok(store)
}

/// A rate event: the store's PMC rate from `starts_at` (inclusive) to `ends_at` (exclusive).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RateEvent {
    pub id: Uuid,
    pub store_id: Uuid,
    /// Basis points (200 = 2 %).
    pub rate_bp: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Adds a rate event to the caller's store.
pub async fn add_rate_event(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    caller: Uuid,
    store_id: Uuid,
    rate_bp: Option<i32>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<RateEvent> {
    let rate_bp = rate_bp.unwrap_or(DEFAULT_EVENT_RATE_BP);
    if !(0..=10_000).contains(&rate_bp) {
        return Err(InvestError::InvalidField("rate_bp", "0-10000 basis points"));
    }
    if ends_at <= starts_at {
        return Err(InvestError::InvalidField("ends_at", "after starts_at"));
    }
    // Locks the store row so a concurrent verification cannot interleave oddly; ownership is
    // read under the same lock.
    let owner = sqlx::query_scalar!(
        "SELECT merchant_id FROM invest.stores WHERE id = $1 FOR SHARE",
        store_id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(InvestError::StoreNotFound)?;
    if owner != caller {
        return Err(InvestError::NotStoreOwner);
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO invest.store_rate_events (id, store_id, rate_bp, starts_at, ends_at, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        store_id,
        rate_bp,
        starts_at,
        ends_at,
        caller,
        now,
    )
    .execute(&mut **tx)
    .await?;
    Ok(RateEvent {
        id,
        store_id,
        rate_bp,
        starts_at,
        ends_at,
    })
}

/// The store's PMC rate in force at `at`, in basis points: the highest event whose window holds
/// `at` (`starts_at <= at < ends_at`), otherwise the base rate.
pub async fn rate_at(db: impl PgExecutor<'_>, store_id: Uuid, at: DateTime<Utc>) -> Result<i32> {
    sqlx::query_scalar!(
        r#"SELECT COALESCE(
                  (SELECT max(e.rate_bp) FROM invest.store_rate_events e
                    WHERE e.store_id = s.id AND e.starts_at <= $2 AND e.ends_at > $2),
                  s.base_rate_bp) AS "rate_bp!"
           FROM invest.stores s WHERE s.id = $1"#,
        store_id,
        at,
    )
    .fetch_optional(db)
    .await?
    .ok_or(InvestError::StoreNotFound)
}

/// The stars of a store's reviews: how many, and their mean (none without reviews).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Stars {
    pub reviews: i64,
    /// Rounded to two decimals; `null` without reviews.
    pub average: Option<f64>,
}

pub async fn stars(db: impl PgExecutor<'_>, store_id: Uuid) -> Result<Stars> {
    let r = sqlx::query!(
        r#"SELECT count(*) AS "n!", round(avg(stars), 2)::float8 AS average
           FROM invest.store_reviews WHERE store_id = $1"#,
        store_id,
    )
    .fetch_one(db)
    .await?;
    Ok(Stars {
        reviews: r.n,
        average: r.average,
    })
}

/// A review to leave.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// 1-5.
    pub stars: i16,
    #[serde(default)]
    pub text: String,
}

/// A citizen's review of a store.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Review {
    pub store_id: Uuid,
    pub user_id: Uuid,
    pub stars: i16,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// Leaves the citizen's one review of a verified store where they have a paid payment.
pub async fn review(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    user_id: Uuid,
    store_id: Uuid,
    r: &NewReview,
) -> Result<Review> {
    if !(1..=5).contains(&r.stars) {
        return Err(InvestError::InvalidField("stars", "1-5"));
    }
    if r.text.chars().count() > 2000 {
        return Err(InvestError::InvalidField("text", "at most 2000 characters"));
    }
    let store = get(&mut **tx, store_id).await?;
    if store.verified_at.is_none() {
        return Err(InvestError::StoreNotVerified);
    }
    // Paid (in full or partly refunded): a payment still created, failed, cancelled or
    // wholly refunded is no purchase to review.
    let paid = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM invest.payments
                           WHERE store_id = $1 AND user_id = $2
                             AND state IN ('paid', 'partially_refunded')) AS "paid!""#,
        store_id,
        user_id,
    )
    .fetch_one(&mut **tx)
    .await?;
    if !paid {
        return Err(InvestError::ReviewWithoutPayment);
    }
    // The primary key decides a race between two first reviews.
    let inserted = sqlx::query!(
        "INSERT INTO invest.store_reviews (store_id, user_id, stars, body, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        store_id,
        user_id,
        r.stars,
        r.text,
        now,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(InvestError::DuplicateReview);
    }
    Ok(Review {
        store_id,
        user_id,
        stars: r.stars,
        text: r.text.clone(),
        created_at: now,
    })
}

/// A search: a point, a radius, optional filters, and where the previous page ended.
#[derive(Debug, Clone)]
pub struct Search<'a> {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    pub category: Option<&'a str>,
    /// A case-insensitive substring of the name or the address.
    pub text: Option<&'a str>,
    /// The (distance, id) of the last store of the previous page.
    pub after: Option<(f64, Uuid)>,
    pub limit: i64,
}

/// A store found by a search, with its distance from the point.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Found {
    pub id: Uuid,
    pub name: String,
    pub category: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub base_rate_bp: i32,
    /// Metres from the searched point.
    pub distance_m: f64,
}

/// Checks a search's point and radius.
pub fn check_search(lat: f64, lon: f64, radius_m: f64) -> Result<()> {
    check_point(lat, lon)?;
    if !radius_m.is_finite() || radius_m <= 0.0 || radius_m > MAX_RADIUS_M {
        return Err(InvestError::RadiusOutOfRange {
            max_m: MAX_RADIUS_M,
        });
    }
    Ok(())
}

/// The search's SQL, for the test that reads its plan.
pub const SEARCH_SQL: &str = include_str!("search.sql");

/// Verified stores within the radius, nearest first (ties by id), `limit` of them after
/// `after`. The distance sorted on and compared with the cursor is the one returned, computed
/// by the same expression, so a page boundary neither repeats nor skips a store.
pub async fn search(db: impl PgExecutor<'_>, q: &Search<'_>) -> Result<Vec<Found>> {
    check_search(q.lat, q.lon, q.radius_m)?;
    let (after_d, after_id) = q.after.map_or((None, None), |(d, id)| (Some(d), Some(id)));
    let rows = sqlx::query_file_as!(
        Found,
        "src/stores/search.sql",
        q.lat,
        q.lon,
        q.radius_m,
        q.category,
        q.text,
        after_d,
        after_id,
        q.limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows)
}
