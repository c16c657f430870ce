//! Accuracy and rankings (P5): per user, overall and per category — participations (decided
//! predictions), wins, accuracy and PMC earned — and leaderboards by accuracy or PMC earned.
//!
//! Statistics are computed from the predictions themselves (settlement marks them won/lost and
//! records the credit), so they can never drift from the settlements. Leaderboards are cached
//! for up to an hour ([`LEADERBOARD_TTL`]) in Redis when `REDIS_URL` is set, in process
//! otherwise; every settlement (and correction) invalidates them by bumping a generation number
//! that is part of every cache key.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use posmul_core::money::Wei;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::OnceCell;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::{PredictionError, Result},
    types::Category,
};

/// How long a leaderboard may be served from the cache.
pub const LEADERBOARD_TTL: Duration = Duration::from_secs(3600);

/// One line of statistics.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Accuracy {
    /// Settled predictions (won or lost).
    pub participations: i64,
    pub wins: i64,
    /// wins ÷ participations (0 with no participation).
    pub accuracy: f64,
    #[schema(value_type = String)]
    pub pmc_earned_wei: Wei,
    pub pmc_earned: String,
}

/// A user's statistics.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserStats {
    pub user_id: Uuid,
    pub overall: Accuracy,
    /// Per category; categories without participation are left out.
    pub by_category: Vec<CategoryStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategoryStats {
    pub category: Category,
    #[serde(flatten)]
    pub stats: Accuracy,
}

fn accuracy(participations: i64, wins: i64, earned: Wei) -> Accuracy {
    #[allow(clippy::cast_precision_loss)]
    let ratio = if participations > 0 {
        wins as f64 / participations as f64
    } else {
        0.0
    };
    Accuracy {
        participations,
        wins,
        accuracy: ratio,
        pmc_earned: earned.to_pmc_string(),
        pmc_earned_wei: earned,
    }
}

/// A user's statistics, overall and per category.
#[tracing::instrument(skip(db), err(level = "info"))]
pub async fn user_stats(db: &PgPool, user_id: Uuid) -> Result<UserStats> {
    let rows = sqlx::query!(
        r#"SELECT g.category AS "category: Category",
                count(*) FILTER (WHERE p.status IN ('won', 'lost')) AS "participations!",
                count(*) FILTER (WHERE p.status = 'won') AS "wins!",
                COALESCE(SUM(p.credit_wei), 0) AS "earned!: Wei"
         FROM predictions.predictions p JOIN predictions.games g ON g.id = p.game_id
         WHERE p.user_id = $1 AND p.status IN ('won', 'lost')
         GROUP BY g.category ORDER BY g.category"#,
        user_id,
    )
    .fetch_all(db)
    .await?;
    let mut by_category = Vec::new();
    let (mut parts, mut wins, mut earned) = (0, 0, Wei::ZERO);
    for r in rows {
        parts += r.participations;
        wins += r.wins;
        earned = earned.checked_add(r.earned).unwrap_or(earned);
        by_category.push(CategoryStats {
            category: r.category,
            stats: accuracy(r.participations, r.wins, r.earned),
        });
    }
    Ok(UserStats {
        user_id,
        overall: accuracy(parts, wins, earned),
        by_category,
    })
}

/// What a leaderboard ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    Accuracy,
    PmcEarned,
}

/// `GET /v1/predictions/leaderboard` parameters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// `accuracy` (default) or `pmc_earned`.
    pub by: Option<RankBy>,
    /// One category, or all.
    pub category: Option<Category>,
    /// Settled predictions needed to appear (1-1000, default 5).
    #[param(minimum = 1, maximum = 1000)]
    pub min_participations: Option<i64>,
    /// 1-100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// One ranked user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct LeaderboardEntry {
    pub rank: i64,
    pub user_id: Uuid,
    #[serde(flatten)]
    pub stats: Accuracy,
}

/// A leaderboard.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Leaderboard {
    pub by: RankBy,
    pub category: Option<Category>,
    pub min_participations: i64,
    pub entries: Vec<LeaderboardEntry>,
}

/// One user's line of a leaderboard, as the database ranks it.
struct Ranked {
    user_id: Uuid,
    participations: i64,
    wins: i64,
    earned: Wei,
}

async fn compute_leaderboard(
    db: &PgPool,
    by: RankBy,
    category: Option<Category>,
    min: i64,
    limit: i64,
) -> Result<Leaderboard> {
    let category_text = category.map(Category::as_str);
    // One checked query per ranking: only the ORDER BY differs.
    let rows = match by {
        RankBy::Accuracy => {
            sqlx::query_as!(
                Ranked,
                r#"SELECT user_id AS "user_id!", participations AS "participations!", wins AS "wins!",
                        earned AS "earned!: Wei"
                 FROM (
                     SELECT p.user_id, count(*) AS participations,
                            count(*) FILTER (WHERE p.status = 'won') AS wins,
                            COALESCE(SUM(p.credit_wei), 0) AS earned
                     FROM predictions.predictions p JOIN predictions.games g ON g.id = p.game_id
                     WHERE p.status IN ('won', 'lost') AND ($1::TEXT IS NULL OR g.category = $1)
                     GROUP BY p.user_id) s
                 WHERE participations >= $2
                 ORDER BY wins::NUMERIC / participations DESC, participations DESC, earned DESC, user_id
                 LIMIT $3"#,
                category_text,
                min,
                limit,
            )
            .fetch_all(db)
            .await?
        }
        RankBy::PmcEarned => {
            sqlx::query_as!(
                Ranked,
                r#"SELECT user_id AS "user_id!", participations AS "participations!", wins AS "wins!",
                        earned AS "earned!: Wei"
                 FROM (
                     SELECT p.user_id, count(*) AS participations,
                            count(*) FILTER (WHERE p.status = 'won') AS wins,
                            COALESCE(SUM(p.credit_wei), 0) AS earned
                     FROM predictions.predictions p JOIN predictions.games g ON g.id = p.game_id
                     WHERE p.status IN ('won', 'lost') AND ($1::TEXT IS NULL OR g.category = $1)
                     GROUP BY p.user_id) s
                 WHERE participations >= $2
                 ORDER BY earned DESC, wins::NUMERIC / participations DESC, user_id
                 LIMIT $3"#,
                category_text,
                min,
                limit,
            )
            .fetch_all(db)
            .await?
        }
    };
    let entries = rows
        .into_iter()
        .zip(1..)
        .map(|(r, rank)| LeaderboardEntry {
            rank,
            user_id: r.user_id,
            stats: accuracy(r.participations, r.wins, r.earned),
        })
        .collect();
    Ok(Leaderboard {
        by,
        category,
        min_participations: min,
        entries,
    })
}

/// Where the shared cache lives: `REDIS_URL` (none: in process) and the key prefix
/// (`REDIS_KEY_PREFIX`), under which every key of this cache is
/// `<prefix>predictions:leaderboard:…`.
#[derive(Debug, Clone, Copy)]
pub struct RedisTarget<'a> {
    pub url: Option<&'a str>,
    pub prefix: &'a str,
    /// The roots a `rediss://` URL trusts (`TLS_CA_FILE`).
    pub tls: &'a posmul_core::tls::TlsSettings,
}

impl RedisTarget<'_> {
    fn generation_key(&self) -> String {
        format!("{}predictions:leaderboard:generation", self.prefix)
    }
}

/// The leaderboard cache: Redis when configured, in process otherwise.
#[derive(Default)]
pub struct LeaderboardCache {
    redis: OnceCell<Option<redis::aio::ConnectionManager>>,
    local: Mutex<LocalCache>,
}

#[derive(Default)]
struct LocalCache {
    generation: u64,
    entries: HashMap<String, (Instant, Leaderboard)>,
}

impl LeaderboardCache {
    async fn redis(&self, target: RedisTarget<'_>) -> Option<redis::aio::ConnectionManager> {
        let url = target.url?;
        self.redis
            .get_or_init(|| async {
                match posmul_api_kit::config::redis_client(url, target.tls) {
                    Ok(client) => match client.get_connection_manager().await {
                        Ok(c) => Some(c),
                        Err(e) => {
                            tracing::warn!(error = %e, "leaderboard cache: Redis unreachable, caching in process");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "leaderboard cache: bad REDIS_URL, caching in process");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// A leaderboard, from the cache when fresh.
    pub async fn leaderboard(
        &self,
        db: &PgPool,
        redis: RedisTarget<'_>,
        q: &LeaderboardQuery,
    ) -> Result<Leaderboard> {
        let by = q.by.unwrap_or(RankBy::Accuracy);
        let min = q.min_participations.unwrap_or(5);
        if !(1..=1000).contains(&min) {
            return Err(PredictionError::OutOfRange {
                field: "min_participations",
                expected: "between 1 and 1000",
            });
        }
        let limit = q.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(PredictionError::OutOfRange {
                field: "limit",
                expected: "between 1 and 100",
            });
        }
        let key = format!("{by:?}:{:?}:{min}:{limit}", q.category);
        if let Some(mut conn) = self.redis(redis).await {
            let generation: Option<u64> = conn.get(redis.generation_key()).await.ok().flatten();
            let full_key = format!(
                "{}predictions:leaderboard:{}:{key}",
                redis.prefix,
                generation.unwrap_or(0)
            );
            let cached: Option<String> = conn.get(&full_key).await.ok().flatten();
            if let Some(board) = cached.and_then(|c| serde_json::from_str(&c).ok()) {
                return Ok(board);
            }
            let board = compute_leaderboard(db, by, q.category, min, limit).await?;
            if let Ok(json) = serde_json::to_string(&board) {
                let stored: redis::RedisResult<()> = conn
                    .set_ex(&full_key, json, LEADERBOARD_TTL.as_secs())
                    .await;
                if let Err(e) = stored {
                    tracing::warn!(error = %e, "leaderboard cache write failed");
                }
            }
            return Ok(board);
        }
        let generation = {
            let local = self
                .local
                .lock()
                .map_err(|_| PredictionError::Internal(anyhow::anyhow!("cache lock poisoned")))?;
            if let Some((at, board)) = local.entries.get(&key)
                && at.elapsed() < LEADERBOARD_TTL
            {
                return Ok(board.clone());
            }
            local.generation
        };
        let board = compute_leaderboard(db, by, q.category, min, limit).await?;
        let mut local = self
            .local
            .lock()
            .map_err(|_| PredictionError::Internal(anyhow::anyhow!("cache lock poisoned")))?;
        if local.generation == generation {
            local.entries.insert(key, (Instant::now(), board.clone()));
        }
        Ok(board)
    }

    /// Drops every cached leaderboard (after a settlement or correction).
    pub async fn invalidate(&self, redis: RedisTarget<'_>) {
        if let Some(mut conn) = self.redis(redis).await {
            let bumped: redis::RedisResult<u64> = conn.incr(redis.generation_key(), 1u64).await;
            if let Err(e) = bumped {
                tracing::warn!(error = %e, "leaderboard cache invalidation failed");
            }
        }
        if let Ok(mut local) = self.local.lock() {
            local.generation += 1;
            local.entries.clear();
        }
    }
}
