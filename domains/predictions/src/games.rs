//! Games (P1-P3): creation and validation, edits while CREATED, reads and search.
//!
//! Every read derives the status from the game's times (`predictions.effective_status`), so a
//! game is never shown ACTIVE after its end or CREATED after its start, whether or not the
//! [`super::scheduler`] has caught up.

use chrono::{DateTime, Utc};
use posmul_core::money::Wei;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    events,
    types::{Category, GameStatus, GameType, PredictionStatus},
};
use crate::{
    error::{ApiError, ApiResult},
    pagination::{Page, PageParams},
};

/// The most options a ranking game may have.
pub const MAX_OPTIONS: usize = 50;

/// A game as submitted for creation or as a full replacement while CREATED.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GameInput {
    /// ≥ 5 characters (≥ 10 for a user-proposed game), ≤ 200.
    #[schema(
        example = "Will the city budget pass before June?",
        min_length = 5,
        max_length = 200
    )]
    pub title: String,
    /// ≥ 20 characters, ≤ 5000.
    #[schema(min_length = 20, max_length = 5000)]
    pub description: String,
    pub game_type: GameType,
    /// Citizens (without moderator or admin role) may only propose `user_proposed` games.
    pub category: Category,
    #[schema(max_length = 100)]
    pub subcategory: Option<String>,
    #[schema(max_length = 100)]
    pub league: Option<String>,
    /// 1-5.
    #[schema(minimum = 1, maximum = 5)]
    pub importance: i16,
    /// Smallest stake in PMP (≥ 1).
    #[schema(minimum = 1)]
    pub min_stake: i64,
    /// Largest stake in PMP (≥ min_stake).
    #[schema(minimum = 1)]
    pub max_stake: i64,
    /// Most live predictions the game accepts (none: no cap).
    #[schema(minimum = 1)]
    pub max_participants: Option<i32>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub settles_at: DateTime<Utc>,
    /// The options' labels in order; binary: 2, win-draw-lose: 3, ranking: 2-50.
    #[schema(min_items = 2, max_items = 50)]
    pub options: Vec<String>,
}

/// Who submits a game: staff (admin or moderator) create official games in any category;
/// citizens propose `user_proposed` games with the stricter title rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposer {
    Staff,
    Citizen,
}

fn rule(kind: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::unprocessable(kind, detail.into())
}

/// P2, one problem `type` per broken rule (the first broken rule is reported).
pub fn validate(input: &GameInput, proposer: Proposer, now: DateTime<Utc>) -> ApiResult<()> {
    if proposer == Proposer::Citizen && input.category != Category::UserProposed {
        return Err(ApiError::Forbidden {
            required: "moderator",
        });
    }
    let title = input.title.trim().chars().count();
    if title < 5 {
        return Err(rule(
            "game-title-too-short",
            "a game title has at least 5 characters",
        ));
    }
    if input.category == Category::UserProposed && title < 10 {
        return Err(rule(
            "proposed-game-title-too-short",
            "a user-proposed game's title has at least 10 characters",
        ));
    }
    if title > 200 {
        return Err(rule(
            "game-title-too-long",
            "a game title has at most 200 characters",
        ));
    }
    let description = input.description.trim().chars().count();
    if description < 20 {
        return Err(rule(
            "game-description-too-short",
            "a game description has at least 20 characters",
        ));
    }
    if description > 5000 {
        return Err(rule(
            "game-description-too-long",
            "a game description has at most 5000 characters",
        ));
    }
    let n = input.options.len();
    if n < 2 {
        return Err(rule(
            "game-too-few-options",
            "a game has at least 2 options",
        ));
    }
    let fits = match input.game_type {
        GameType::Binary => n == 2,
        GameType::WinDrawLose => n == 3,
        GameType::Ranking => n <= MAX_OPTIONS,
    };
    if !fits {
        return Err(rule(
            "game-options-do-not-fit-type",
            "a binary game has 2 options, win-draw-lose 3, ranking 2 to 50",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for o in &input.options {
        let label = o.trim();
        if label.is_empty() || label.chars().count() > 100 || !seen.insert(label.to_lowercase()) {
            return Err(rule(
                "game-option-invalid",
                "option labels are 1-100 characters and distinct",
            ));
        }
    }
    if !(input.starts_at < input.ends_at && input.ends_at < input.settles_at) {
        return Err(rule(
            "game-times-out-of-order",
            "the times must satisfy start < end < settlement",
        ));
    }
    if input.ends_at <= now {
        return Err(rule(
            "game-ends-in-the-past",
            "a game's end must be in the future",
        ));
    }
    if !(1 <= input.min_stake && input.min_stake <= input.max_stake) {
        return Err(rule(
            "game-stake-range-invalid",
            "the stakes must satisfy 1 ≤ min stake ≤ max stake",
        ));
    }
    if !(1..=5).contains(&input.importance) {
        return Err(rule("game-importance-out-of-range", "importance is 1 to 5"));
    }
    if input.max_participants.is_some_and(|m| m < 1) {
        return Err(rule(
            "game-participant-cap-invalid",
            "the participant cap is at least 1",
        ));
    }
    for (field, v) in [
        ("subcategory", &input.subcategory),
        ("league", &input.league),
    ] {
        if v.as_ref().is_some_and(|s| s.chars().count() > 100) {
            return Err(ApiError::invalid_field(field, "at most 100 characters"));
        }
    }
    Ok(())
}

/// One option of a game, with the live stakes on it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OptionView {
    pub position: i16,
    pub label: String,
    /// PMP staked on this option (live predictions).
    pub total_staked: i64,
    pub stakers: i32,
}

/// A game in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GameSummary {
    pub id: Uuid,
    pub title: String,
    pub game_type: GameType,
    pub category: Category,
    pub subcategory: Option<String>,
    pub league: Option<String>,
    pub importance: i16,
    /// The status the game's times imply now.
    pub status: GameStatus,
    pub official: bool,
    pub creator_id: Uuid,
    pub min_stake: i64,
    pub max_stake: i64,
    pub max_participants: Option<i32>,
    pub participants: i32,
    pub total_staked: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub settles_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub winning_option: Option<i16>,
}

/// The caller's own prediction in a game.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Position {
    pub prediction_id: Uuid,
    pub option: i16,
    pub stake: i64,
    pub status: PredictionStatus,
    /// PMC credited for a win, in wei (decimal string).
    #[schema(value_type = Option<String>)]
    pub credit_wei: Option<Wei>,
}

/// A game's page: the game, its options and totals, its pool so far and the caller's position.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GameDetail {
    #[serde(flatten)]
    pub game: GameSummary,
    pub description: String,
    pub options: Vec<OptionView>,
    /// The PMC allocated to this game by the hourly pools so far (M2), in wei.
    #[schema(value_type = String, example = "1000000000000000000")]
    pub pool_wei: Wei,
    /// The same in PMC (decimal).
    #[schema(example = "1")]
    pub pool_pmc: String,
    /// The caller's live or settled prediction (null when anonymous or none).
    pub my_position: Option<Position>,
}

pub(crate) const SUMMARY_COLUMNS: &str = "g.id, g.title, g.game_type, g.category, g.subcategory, g.league, g.importance,
    predictions.effective_status(g.status, g.starts_at, g.ends_at, now()) AS effective_status,
    g.official, g.creator_id, g.min_stake, g.max_stake, g.max_participants, g.participants, g.total_staked,
    g.starts_at, g.ends_at, g.settles_at, g.created_at, g.winning_option";

pub(crate) fn summary_from_row(r: &PgRow) -> sqlx::Result<GameSummary> {
    Ok(GameSummary {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        game_type: r.try_get("game_type")?,
        category: r.try_get("category")?,
        subcategory: r.try_get("subcategory")?,
        league: r.try_get("league")?,
        importance: r.try_get("importance")?,
        status: r.try_get("effective_status")?,
        official: r.try_get("official")?,
        creator_id: r.try_get("creator_id")?,
        min_stake: r.try_get("min_stake")?,
        max_stake: r.try_get("max_stake")?,
        max_participants: r.try_get("max_participants")?,
        participants: r.try_get("participants")?,
        total_staked: r.try_get("total_staked")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        settles_at: r.try_get("settles_at")?,
        created_at: r.try_get("created_at")?,
        winning_option: r.try_get("winning_option")?,
    })
}

/// Creates a game (P1, P2). Staff games are official.
#[tracing::instrument(skip(db, input), fields(category = ?input.category), err(level = "info"))]
pub async fn create(
    db: &PgPool,
    creator: Uuid,
    proposer: Proposer,
    input: &GameInput,
) -> ApiResult<GameDetail> {
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(db).await?;
    validate(input, proposer, now)?;
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO predictions.games (id, creator_id, official, title, description, game_type, category,
             subcategory, league, importance, min_stake, max_stake, max_participants, starts_at, ends_at, settles_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id)
    .bind(creator)
    .bind(proposer == Proposer::Staff)
    .bind(input.title.trim())
    .bind(input.description.trim())
    .bind(input.game_type)
    .bind(input.category)
    .bind(input.subcategory.as_deref())
    .bind(input.league.as_deref())
    .bind(input.importance)
    .bind(input.min_stake)
    .bind(input.max_stake)
    .bind(input.max_participants)
    .bind(input.starts_at)
    .bind(input.ends_at)
    .bind(input.settles_at)
    .execute(&mut *tx)
    .await?;
    insert_options(&mut tx, id, &input.options).await?;
    events::game_event(
        &mut tx,
        id,
        "created",
        serde_json::json!({ "status": "created" }),
    )
    .await?;
    tx.commit().await?;
    let mut conn = db.acquire().await?;
    detail(&mut conn, id, Some(creator)).await
}

async fn insert_options(
    conn: &mut PgConnection,
    game: Uuid,
    options: &[String],
) -> sqlx::Result<()> {
    let labels: Vec<String> = options.iter().map(|o| o.trim().to_owned()).collect();
    let positions: Vec<i16> = (0..labels.len())
        .filter_map(|i| i16::try_from(i).ok())
        .collect();
    sqlx::query(
        "INSERT INTO predictions.options (game_id, position, label)
         SELECT $1, p, l FROM unnest($2::SMALLINT[], $3::TEXT[]) AS u(p, l)",
    )
    .bind(game)
    .bind(&positions)
    .bind(&labels)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces a game's fields and options while it is CREATED (P2); only its creator or staff.
#[tracing::instrument(skip(db, input), err(level = "info"))]
pub async fn update(
    db: &PgPool,
    editor: Uuid,
    proposer: Proposer,
    id: Uuid,
    input: &GameInput,
) -> ApiResult<GameDetail> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "SELECT creator_id, official, now() AS now,
                predictions.effective_status(status, starts_at, ends_at, now()) AS effective_status
         FROM predictions.games WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound("game".into()))?;
    let creator: Uuid = row.try_get("creator_id")?;
    let official: bool = row.try_get("official")?;
    if proposer == Proposer::Citizen && (creator != editor || official) {
        return Err(ApiError::Forbidden {
            required: "moderator",
        });
    }
    let status: GameStatus = row.try_get("effective_status")?;
    if status != GameStatus::Created {
        return Err(ApiError::conflict(
            "game-not-editable",
            format!(
                "a game is editable only while created; it is {}",
                status.as_str()
            ),
        ));
    }
    // A proposed game stays a proposal; an official one may change category freely.
    let as_proposer = if official {
        Proposer::Staff
    } else {
        Proposer::Citizen
    };
    validate(input, as_proposer, row.try_get("now")?)?;
    sqlx::query(
        "UPDATE predictions.games SET title = $2, description = $3, game_type = $4, category = $5,
             subcategory = $6, league = $7, importance = $8, min_stake = $9, max_stake = $10,
             max_participants = $11, starts_at = $12, ends_at = $13, settles_at = $14, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(input.title.trim())
    .bind(input.description.trim())
    .bind(input.game_type)
    .bind(input.category)
    .bind(input.subcategory.as_deref())
    .bind(input.league.as_deref())
    .bind(input.importance)
    .bind(input.min_stake)
    .bind(input.max_stake)
    .bind(input.max_participants)
    .bind(input.starts_at)
    .bind(input.ends_at)
    .bind(input.settles_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM predictions.options WHERE game_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    insert_options(&mut tx, id, &input.options).await?;
    events::game_event(
        &mut tx,
        id,
        "updated",
        serde_json::json!({ "status": "created" }),
    )
    .await?;
    tx.commit().await?;
    let mut conn = db.acquire().await?;
    detail(&mut conn, id, Some(editor)).await
}

/// A game's page (see [`GameDetail`]); `viewer` adds their own position.
#[tracing::instrument(skip(conn), err(level = "info"))]
pub async fn detail(
    conn: &mut PgConnection,
    id: Uuid,
    viewer: Option<Uuid>,
) -> ApiResult<GameDetail> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY_COLUMNS}, g.description,
                (SELECT COALESCE(SUM(amount), 0) FROM predictions.hourly_allocations a WHERE a.game_id = g.id) AS pool
         FROM predictions.games g WHERE g.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::NotFound("game".into()))?;
    let game = summary_from_row(&row)?;
    let pool: Wei = row.try_get("pool")?;
    let options = sqlx::query(
        "SELECT position, label, total_staked, stakers FROM predictions.options WHERE game_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(OptionView {
            position: r.try_get("position")?,
            label: r.try_get("label")?,
            total_staked: r.try_get("total_staked")?,
            stakers: r.try_get("stakers")?,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    let my_position = match viewer {
        Some(user) => sqlx::query(
            "SELECT id, position, stake, status, credit_wei FROM predictions.predictions
             WHERE game_id = $1 AND user_id = $2 AND status <> 'withdrawn'",
        )
        .bind(id)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| -> sqlx::Result<Position> {
            Ok(Position {
                prediction_id: r.try_get("id")?,
                option: r.try_get("position")?,
                stake: r.try_get("stake")?,
                status: r.try_get("status")?,
                credit_wei: r.try_get("credit_wei")?,
            })
        })
        .transpose()?,
        None => None,
    };
    Ok(GameDetail {
        game,
        description: row.try_get("description")?,
        options,
        pool_pmc: pool.to_pmc_string(),
        pool_wei: pool,
        my_position,
    })
}

/// `GET /v1/predictions/games` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GameFilter {
    pub category: Option<Category>,
    /// The status the times imply now.
    pub status: Option<GameStatus>,
    /// Words to find in the title or description (case-insensitive).
    #[param(max_length = 100)]
    pub q: Option<String>,
    #[param(max_length = 100)]
    pub league: Option<String>,
}

/// Lists games, newest first, filtered, one cursor page at a time.
#[tracing::instrument(skip(db), err(level = "info"))]
pub async fn list(
    db: &PgPool,
    filter: &GameFilter,
    page: &PageParams,
) -> ApiResult<Page<GameSummary>> {
    let limit = page.limit()?;
    let after: Option<(DateTime<Utc>, Uuid)> = page.after()?;
    if filter.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::invalid_field("q", "at most 100 characters"));
    }
    let pattern = filter.q.as_ref().map(|q| {
        let escaped = q
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY_COLUMNS} FROM predictions.games g
         WHERE ($1::TEXT IS NULL OR g.category = $1)
           AND ($2::TEXT IS NULL OR predictions.effective_status(g.status, g.starts_at, g.ends_at, now()) = $2)
           AND ($3::TEXT IS NULL OR g.title ILIKE $3 OR g.description ILIKE $3)
           AND ($4::TEXT IS NULL OR g.league = $4)
           AND ($5::TIMESTAMPTZ IS NULL OR (g.created_at, g.id) < ($5, $6))
         ORDER BY g.created_at DESC, g.id DESC LIMIT $7"
    )))
    .bind(filter.category.map(Category::as_str))
    .bind(filter.status.map(GameStatus::as_str))
    .bind(pattern)
    .bind(filter.league.as_deref())
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let items = rows
        .iter()
        .map(summary_from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Page::from_rows(items, limit, |g| (g.created_at, g.id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn input() -> GameInput {
        let now = Utc::now();
        GameInput {
            title: "Who wins the derby?".into(),
            description: "The city derby on Saturday; regular time only.".into(),
            game_type: GameType::WinDrawLose,
            category: Category::Sports,
            subcategory: Some("football".into()),
            league: Some("K League 1".into()),
            importance: 3,
            min_stake: 10,
            max_stake: 500,
            max_participants: None,
            starts_at: now,
            ends_at: now + Duration::hours(2),
            settles_at: now + Duration::hours(3),
            options: vec!["Home".into(), "Draw".into(), "Away".into()],
        }
    }

    fn kind(r: ApiResult<()>) -> &'static str {
        r.err().map_or("ok", |e| e.kind())
    }

    #[test]
    fn p2_each_broken_creation_rule_has_its_own_problem_type() {
        let now = Utc::now();
        let check = |f: &dyn Fn(&mut GameInput)| {
            let mut i = input();
            f(&mut i);
            kind(validate(&i, Proposer::Staff, now))
        };
        assert_eq!(check(&|_| {}), "ok");
        assert_eq!(check(&|i| i.title = "Dby".into()), "game-title-too-short");
        assert_eq!(
            check(&|i| i.description = "too short".into()),
            "game-description-too-short"
        );
        assert_eq!(check(&|i| i.options.truncate(1)), "game-too-few-options");
        assert_eq!(
            check(&|i| i.options.truncate(2)),
            "game-options-do-not-fit-type"
        );
        assert_eq!(
            check(&|i| i.options[2] = "home".into()),
            "game-option-invalid"
        );
        assert_eq!(
            check(&|i| i.settles_at = i.ends_at),
            "game-times-out-of-order"
        );
        assert_eq!(
            check(&|i| i.starts_at = i.ends_at),
            "game-times-out-of-order"
        );
        assert_eq!(check(&|i| i.min_stake = 0), "game-stake-range-invalid");
        assert_eq!(check(&|i| i.max_stake = 5), "game-stake-range-invalid");
        assert_eq!(check(&|i| i.importance = 6), "game-importance-out-of-range");
        assert_eq!(check(&|i| i.importance = 0), "game-importance-out-of-range");
        assert_eq!(
            check(&|i| i.max_participants = Some(0)),
            "game-participant-cap-invalid"
        );
        assert_eq!(
            check(&|i| {
                i.ends_at = now - Duration::hours(1);
                i.starts_at = now - Duration::hours(2);
            }),
            "game-ends-in-the-past"
        );
    }

    #[test]
    fn p1_a_binary_game_has_two_options_and_a_ranking_game_at_least_two() {
        let now = Utc::now();
        let mut i = input();
        i.game_type = GameType::Binary;
        assert_eq!(
            kind(validate(&i, Proposer::Staff, now)),
            "game-options-do-not-fit-type"
        );
        i.options.truncate(2);
        assert_eq!(kind(validate(&i, Proposer::Staff, now)), "ok");
        i.game_type = GameType::Ranking;
        i.options = (0..8).map(|n| format!("Runner {n}")).collect();
        assert_eq!(kind(validate(&i, Proposer::Staff, now)), "ok");
    }

    #[test]
    fn p2_a_user_proposed_title_needs_ten_characters_and_citizens_only_propose() {
        let now = Utc::now();
        let mut i = input();
        assert_eq!(kind(validate(&i, Proposer::Citizen, now)), "forbidden");
        i.category = Category::UserProposed;
        i.title = "Derby win".into();
        assert_eq!(
            kind(validate(&i, Proposer::Citizen, now)),
            "proposed-game-title-too-short"
        );
        i.title = "Derby: who wins".into();
        assert_eq!(kind(validate(&i, Proposer::Citizen, now)), "ok");
    }
}
