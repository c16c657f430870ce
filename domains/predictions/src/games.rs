//! Games (P1-P3, P6): creation and validation, edits while CREATED, a moderator's approval of
//! a proposal, reads and search.
//!
//! A citizen's proposal (a `user_proposed` game that is not official) is limited and moderated
//! so that proposals cannot be used to draw the hourly pools: a citizen has at most
//! `max_open_proposals` open at once — CREATED or ACTIVE by its times; one that has ended or
//! was settled or cancelled no longer counts ([`TooManyOpenProposals`](PredictionError::TooManyOpenProposals),
//! checked under a per-citizen lock, so concurrent proposals never pass it) — and it takes part
//! in the pools only once a moderator approved it ([`approve`]; an edit clears the approval).
//! No one approves, settles, cancels or corrects a game they created or staked in
//! ([`ensure_disinterested`], P6).
//!
//! Every read derives the status from the game's times (`predictions.effective_status`), so a
//! game is never shown ACTIVE after its end or CREATED after its start, whether or not the
//! [`super::scheduler`] has caught up.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use posmul_api_kit::{
    audit,
    auth::extract::RequestMeta,
    config::PredictionSettings,
    pagination::{Page, PageParams},
};
use posmul_core::money::{Pmp, Wei};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, PgTransaction};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::{PredictionError, Result},
    events, pools,
    types::{Category, GameStatus, GameType, PredictionStatus},
};

/// The most options a ranking game may have.
pub const MAX_OPTIONS: usize = 50;

/// A game as submitted for creation or as a full replacement while CREATED: the request body,
/// parsed into a [`NewGame`] by [`GameInput::validate`] before anything else sees it.
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
    #[schema(value_type = i64, minimum = 1)]
    pub min_stake: Pmp,
    /// Largest stake in PMP (≥ min_stake).
    #[schema(value_type = i64, minimum = 1)]
    pub max_stake: Pmp,
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

/// A game that keeps every rule of P2: text trimmed, options fitting the type, times in order,
/// a valid stake range. Only [`GameInput::validate`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGame {
    pub title: String,
    pub description: String,
    pub game_type: GameType,
    pub category: Category,
    pub subcategory: Option<String>,
    pub league: Option<String>,
    pub importance: i16,
    pub min_stake: Pmp,
    pub max_stake: Pmp,
    pub max_participants: Option<i32>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub settles_at: DateTime<Utc>,
    /// The labels, trimmed, in position order.
    pub options: Vec<String>,
}

/// Who submits a game: staff (admin or moderator) create official games in any category;
/// citizens propose `user_proposed` games with the stricter title rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposer {
    Staff,
    Citizen,
}

impl GameInput {
    /// P2: parses the request into a [`NewGame`], or names the first broken rule (each has its
    /// own problem `type`).
    pub fn validate(self, proposer: Proposer, now: DateTime<Utc>) -> Result<NewGame> {
        use PredictionError as E;
        if proposer == Proposer::Citizen && self.category != Category::UserProposed {
            return Err(E::StaffOnly);
        }
        let title = self.title.trim().to_owned();
        let title_len = title.chars().count();
        if title_len < 5 {
            return Err(E::TitleTooShort);
        }
        if self.category == Category::UserProposed && title_len < 10 {
            return Err(E::ProposedTitleTooShort);
        }
        if title_len > 200 {
            return Err(E::TitleTooLong);
        }
        let description = self.description.trim().to_owned();
        let description_len = description.chars().count();
        if description_len < 20 {
            return Err(E::DescriptionTooShort);
        }
        if description_len > 5000 {
            return Err(E::DescriptionTooLong);
        }
        let n = self.options.len();
        if n < 2 {
            return Err(E::TooFewOptions);
        }
        let fits = match self.game_type {
            GameType::Binary => n == 2,
            GameType::WinDrawLose => n == 3,
            GameType::Ranking => n <= MAX_OPTIONS,
        };
        if !fits {
            return Err(E::OptionsDoNotFitType);
        }
        let options: Vec<String> = self.options.iter().map(|o| o.trim().to_owned()).collect();
        let mut seen = BTreeSet::new();
        for label in &options {
            if label.is_empty() || label.chars().count() > 100 || !seen.insert(label.to_lowercase())
            {
                return Err(E::OptionInvalid);
            }
        }
        if !(self.starts_at < self.ends_at && self.ends_at < self.settles_at) {
            return Err(E::TimesOutOfOrder);
        }
        if self.ends_at <= now {
            return Err(E::EndsInThePast);
        }
        if !(Pmp::new(1) <= self.min_stake && self.min_stake <= self.max_stake) {
            return Err(E::StakeRangeInvalid);
        }
        if !(1..=5).contains(&self.importance) {
            return Err(E::ImportanceOutOfRange);
        }
        if self.max_participants.is_some_and(|m| m < 1) {
            return Err(E::ParticipantCapInvalid);
        }
        for (field, v) in [("subcategory", &self.subcategory), ("league", &self.league)] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 100) {
                return Err(E::TooLong { field, max: 100 });
            }
        }
        Ok(NewGame {
            title,
            description,
            game_type: self.game_type,
            category: self.category,
            subcategory: self.subcategory,
            league: self.league,
            importance: self.importance,
            min_stake: self.min_stake,
            max_stake: self.max_stake,
            max_participants: self.max_participants,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            settles_at: self.settles_at,
            options,
        })
    }
}

/// One option of a game, with the live stakes on it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OptionView {
    pub position: i16,
    pub label: String,
    /// PMP staked on this option (live predictions).
    #[schema(value_type = i64)]
    pub total_staked: Pmp,
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
    #[schema(value_type = i64)]
    pub min_stake: Pmp,
    #[schema(value_type = i64)]
    pub max_stake: Pmp,
    pub max_participants: Option<i32>,
    pub participants: i32,
    #[schema(value_type = i64)]
    pub total_staked: Pmp,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub settles_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub winning_option: Option<i16>,
    /// When a moderator approved this proposal for the hourly pools (P6); null for a proposal
    /// not approved yet, and for official games, which need no approval.
    pub approved_at: Option<DateTime<Utc>>,
}

/// The caller's own prediction in a game.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Position {
    pub prediction_id: Uuid,
    pub option: i16,
    #[schema(value_type = i64)]
    pub stake: Pmp,
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
    /// The PMC this game holds from the hourly pools so far (M2): what it was allocated, less
    /// what went back to the day's budget (a cancelled game, or a proposal without enough
    /// stakers at its end), in wei.
    #[schema(value_type = String, example = "1000000000000000000")]
    pub pool_wei: Wei,
    /// The same in PMC (decimal).
    #[schema(example = "1")]
    pub pool_pmc: String,
    /// The caller's live or settled prediction (null when anonymous or none).
    pub my_position: Option<Position>,
}

/// Who owns a stored game: set when it is created, never changed by an edit.
#[derive(Debug, Clone, Copy)]
struct Owner {
    creator: Uuid,
    official: bool,
}

/// Writes a game's columns and options: inserts game `id`, or replaces its editable columns
/// when it exists (P2 edits). The one place that binds a game's columns.
/// `now` is the creation time on insert (M2: a game takes part in the hours after it).
async fn store(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    id: Uuid,
    owner: Owner,
    game: &NewGame,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO predictions.games (id, creator_id, official, title, description, game_type, category,
             subcategory, league, importance, min_stake, max_stake, max_participants, starts_at, ends_at, settles_at,
             created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,
             game_type = EXCLUDED.game_type, category = EXCLUDED.category, subcategory = EXCLUDED.subcategory,
             league = EXCLUDED.league, importance = EXCLUDED.importance, min_stake = EXCLUDED.min_stake,
             max_stake = EXCLUDED.max_stake, max_participants = EXCLUDED.max_participants,
             starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, settles_at = EXCLUDED.settles_at,
             updated_at = now()",
        id,
        owner.creator,
        owner.official,
        game.title,
        game.description,
        game.game_type as GameType,
        game.category as Category,
        game.subcategory,
        game.league,
        game.importance,
        game.min_stake as Pmp,
        game.max_stake as Pmp,
        game.max_participants,
        game.starts_at,
        game.ends_at,
        game.settles_at,
        now,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM predictions.options WHERE game_id = $1", id)
        .execute(&mut *conn)
        .await?;
    let positions: Vec<i16> = (0..game.options.len())
        .filter_map(|i| i16::try_from(i).ok())
        .collect();
    sqlx::query!(
        "INSERT INTO predictions.options (game_id, position, label)
         SELECT $1, p, l FROM unnest($2::SMALLINT[], $3::TEXT[]) AS u(p, l)",
        id,
        &positions,
        &game.options,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// P2: refuses a citizen's proposal beyond `max` open ones. Takes a transaction lock per
/// citizen first, so concurrent proposals count one another.
async fn check_open_proposals(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    creator: Uuid,
    max: u32,
) -> Result<()> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('predictions.proposals:' || $1::UUID::TEXT, 0))",
        creator,
    )
    .execute(&mut **tx)
    .await?;
    let open = sqlx::query_scalar!(
        r#"SELECT count(*) AS "open!" FROM predictions.games
         WHERE creator_id = $1 AND category = 'user_proposed' AND NOT official
           AND predictions.effective_status(status, starts_at, ends_at, $2) IN ('created', 'active')"#,
        creator,
        now,
    )
    .fetch_one(&mut **tx)
    .await?;
    if open >= i64::from(max) {
        return Err(PredictionError::TooManyOpenProposals { max });
    }
    Ok(())
}

/// Creates a game (P1, P2). Staff games are official; a citizen's proposal counts against
/// `settings.max_open_proposals`.
#[tracing::instrument(skip(db, input, settings), fields(category = ?input.category), err(level = "info"))]
pub async fn create(
    db: &PgPool,
    now: DateTime<Utc>,
    creator: Uuid,
    proposer: Proposer,
    input: GameInput,
    settings: &PredictionSettings,
) -> Result<GameDetail> {
    let game = input.validate(proposer, now)?;
    let id = Uuid::now_v7();
    let owner = Owner {
        creator,
        official: proposer == Proposer::Staff,
    };
    let mut tx = db.begin().await?;
    if proposer == Proposer::Citizen {
        check_open_proposals(&mut tx, now, creator, settings.max_open_proposals).await?;
    }
    store(&mut tx, now, id, owner, &game).await?;
    events::game_event(
        &mut tx,
        id,
        "created",
        serde_json::json!({ "status": "created" }),
    )
    .await?;
    tx.commit().await?;
    let mut conn = db.acquire().await?;
    detail(&mut conn, now, id, Some(creator)).await
}

/// Replaces a game's fields and options while it is CREATED (P2); only its creator or staff.
#[tracing::instrument(skip(db, input), err(level = "info"))]
pub async fn update(
    db: &PgPool,
    now: DateTime<Utc>,
    editor: Uuid,
    proposer: Proposer,
    id: Uuid,
    input: GameInput,
) -> Result<GameDetail> {
    let mut tx = db.begin().await?;
    let row = sqlx::query!(
        r#"SELECT creator_id, official,
                predictions.effective_status(status, starts_at, ends_at, $2) AS "status!: GameStatus"
         FROM predictions.games WHERE id = $1 FOR UPDATE"#,
        id,
        now,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(PredictionError::GameNotFound)?;
    let owner = Owner {
        creator: row.creator_id,
        official: row.official,
    };
    if proposer == Proposer::Citizen && (owner.creator != editor || owner.official) {
        return Err(PredictionError::StaffOnly);
    }
    if row.status != GameStatus::Created {
        return Err(PredictionError::NotEditable(row.status));
    }
    // A proposed game stays a proposal; an official one may change category freely.
    let as_proposer = if owner.official {
        Proposer::Staff
    } else {
        Proposer::Citizen
    };
    let game = input.validate(as_proposer, now)?;
    store(&mut tx, now, id, owner, &game).await?;
    if !owner.official {
        // A moderator approved what the proposal said; a changed proposal is approved anew.
        sqlx::query!(
            "UPDATE predictions.games SET approved_at = NULL, approved_by = NULL WHERE id = $1",
            id
        )
        .execute(&mut *tx)
        .await?;
    }
    events::game_event(
        &mut tx,
        id,
        "updated",
        serde_json::json!({ "status": "created" }),
    )
    .await?;
    tx.commit().await?;
    let mut conn = db.acquire().await?;
    detail(&mut conn, now, id, Some(editor)).await
}

/// A game's page (see [`GameDetail`]) with the status its times imply at `now`; `viewer` adds
/// their own position.
#[tracing::instrument(skip(conn), err(level = "info"))]
pub async fn detail(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    id: Uuid,
    viewer: Option<Uuid>,
) -> Result<GameDetail> {
    let game = sqlx::query_as!(
        GameSummary,
        r#"SELECT g.id, g.title, g.game_type AS "game_type: GameType", g.category AS "category: Category",
                g.subcategory, g.league, g.importance,
                predictions.effective_status(g.status, g.starts_at, g.ends_at, $2) AS "status!: GameStatus",
                g.official, g.creator_id, g.min_stake AS "min_stake: Pmp", g.max_stake AS "max_stake: Pmp",
                g.max_participants, g.participants, g.total_staked AS "total_staked: Pmp",
                g.starts_at, g.ends_at, g.settles_at, g.created_at, g.winning_option, g.approved_at
         FROM predictions.games g WHERE g.id = $1"#,
        id,
        now,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(PredictionError::GameNotFound)?;
    let description = sqlx::query_scalar!(
        "SELECT description FROM predictions.games WHERE id = $1",
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let pool = pools::game_pool(&mut *conn, id).await?;
    let options = sqlx::query_as!(
        OptionView,
        r#"SELECT position, label, total_staked AS "total_staked: Pmp", stakers
         FROM predictions.options WHERE game_id = $1 ORDER BY position"#,
        id,
    )
    .fetch_all(&mut *conn)
    .await?;
    let my_position = match viewer {
        Some(user) => {
            sqlx::query_as!(
                Position,
                r#"SELECT id AS prediction_id, position AS option, stake AS "stake: Pmp",
                        status AS "status: PredictionStatus", credit_wei AS "credit_wei: Wei"
                 FROM predictions.predictions
                 WHERE game_id = $1 AND user_id = $2 AND status <> 'withdrawn'"#,
                id,
                user,
            )
            .fetch_optional(&mut *conn)
            .await?
        }
        None => None,
    };
    Ok(GameDetail {
        game,
        description,
        options,
        pool_pmc: pool.to_pmc_string(),
        pool_wei: pool,
        my_position,
    })
}

/// P6: refuses `user` any decision on game `game_id` they created or staked in — any
/// prediction counts, even one withdrawn since.
pub async fn ensure_disinterested(
    conn: &mut PgConnection,
    game_id: Uuid,
    user: Uuid,
) -> Result<()> {
    let interested = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM predictions.games WHERE id = $1 AND creator_id = $2)
               OR EXISTS (SELECT 1 FROM predictions.predictions WHERE game_id = $1 AND user_id = $2)
               AS "interested!""#,
        game_id,
        user,
    )
    .fetch_one(conn)
    .await?;
    if interested {
        return Err(PredictionError::ConflictOfInterest);
    }
    Ok(())
}

/// A moderator's approval of a proposal (P6).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Approval {
    pub game_id: Uuid,
    pub approved_by: Uuid,
    /// From this time on (the API's clock) the proposal takes part in the hourly pools; it keeps
    /// what it received only with enough distinct stakers at its end.
    pub approved_at: DateTime<Utc>,
}

/// P6: a moderator approves a citizen's proposal for the hourly pools, once, in the audit log.
/// Not the proposer's, nor a staker's, own decision; not for a game that is settled or
/// cancelled.
#[tracing::instrument(skip(db, meta), err(level = "info"))]
pub async fn approve(
    db: &PgPool,
    now: DateTime<Utc>,
    moderator: Uuid,
    game_id: Uuid,
    meta: &RequestMeta,
) -> Result<Approval> {
    let mut tx = db.begin().await?;
    // The approval decides which hours the game takes part in: ordered with their computation.
    pools::lock(&mut tx).await?;
    let game = sqlx::query!(
        r#"SELECT category AS "category: Category", official, approved_at,
                predictions.effective_status(status, starts_at, ends_at, $2) AS "status!: GameStatus"
         FROM predictions.games WHERE id = $1 FOR UPDATE"#,
        game_id,
        now,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(PredictionError::GameNotFound)?;
    if game.category != Category::UserProposed || game.official {
        return Err(PredictionError::NeedsNoApproval);
    }
    ensure_disinterested(&mut tx, game_id, moderator).await?;
    if matches!(game.status, GameStatus::Settled | GameStatus::Cancelled) {
        return Err(PredictionError::Final(game.status));
    }
    if game.approved_at.is_some() {
        return Err(PredictionError::AlreadyApproved);
    }
    let approved_at = pools::effective_time(&mut tx, now).await?;
    sqlx::query!(
        "UPDATE predictions.games SET approved_at = $2, approved_by = $3, updated_at = now() WHERE id = $1",
        game_id,
        approved_at,
        moderator,
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::PredictionGameApproved,
            actor: Some(moderator),
            subject: None,
            meta,
            details: serde_json::json!({ "game_id": game_id, "approved_at": approved_at }),
        },
    )
    .await?;
    events::game_event(
        &mut tx,
        game_id,
        "approved",
        serde_json::json!({ "approved_at": approved_at }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%game_id, %moderator, "proposal approved");
    Ok(Approval {
        game_id,
        approved_by: moderator,
        approved_at,
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

/// Lists games, newest first, filtered (the status as the times imply it at `now`), one cursor
/// page at a time.
#[tracing::instrument(skip(db), err(level = "info"))]
pub async fn list(
    db: &PgPool,
    now: DateTime<Utc>,
    filter: &GameFilter,
    page: &PageParams,
) -> Result<Page<GameSummary>> {
    let limit = page.limit()?;
    let after: Option<(DateTime<Utc>, Uuid)> = page.after()?;
    if filter.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(PredictionError::TooLong {
            field: "q",
            max: 100,
        });
    }
    let pattern = filter.q.as_ref().map(|q| {
        let escaped = q
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let items = sqlx::query_as!(
        GameSummary,
        r#"SELECT g.id, g.title, g.game_type AS "game_type: GameType", g.category AS "category: Category",
                g.subcategory, g.league, g.importance,
                predictions.effective_status(g.status, g.starts_at, g.ends_at, $8) AS "status!: GameStatus",
                g.official, g.creator_id, g.min_stake AS "min_stake: Pmp", g.max_stake AS "max_stake: Pmp",
                g.max_participants, g.participants, g.total_staked AS "total_staked: Pmp",
                g.starts_at, g.ends_at, g.settles_at, g.created_at, g.winning_option, g.approved_at
         FROM predictions.games g
         WHERE ($1::TEXT IS NULL OR g.category = $1)
           AND ($2::TEXT IS NULL OR predictions.effective_status(g.status, g.starts_at, g.ends_at, $8) = $2)
           AND ($3::TEXT IS NULL OR g.title ILIKE $3 OR g.description ILIKE $3)
           AND ($4::TEXT IS NULL OR g.league = $4)
           AND ($5::TIMESTAMPTZ IS NULL OR (g.created_at, g.id) < ($5, $6))
         ORDER BY g.created_at DESC, g.id DESC LIMIT $7"#,
        filter.category.map(Category::as_str),
        filter.status.map(GameStatus::as_str),
        pattern,
        filter.league.as_deref(),
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit + 1,
        now,
    )
    .fetch_all(db)
    .await?;
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
            min_stake: Pmp::new(10),
            max_stake: Pmp::new(500),
            max_participants: None,
            starts_at: now,
            ends_at: now + Duration::hours(2),
            settles_at: now + Duration::hours(3),
            options: vec!["Home".into(), "Draw".into(), "Away".into()],
        }
    }

    fn kind(r: Result<NewGame>) -> &'static str {
        r.err().map_or("ok", PredictionError::kind)
    }

    #[test]
    fn p2_each_broken_creation_rule_has_its_own_problem_type() {
        let now = Utc::now();
        let check = |f: &dyn Fn(&mut GameInput)| {
            let mut i = input();
            f(&mut i);
            kind(i.clone().validate(Proposer::Staff, now))
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
        assert_eq!(
            check(&|i| i.min_stake = Pmp::new(0)),
            "game-stake-range-invalid"
        );
        assert_eq!(
            check(&|i| i.max_stake = Pmp::new(5)),
            "game-stake-range-invalid"
        );
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
            kind(i.clone().validate(Proposer::Staff, now)),
            "game-options-do-not-fit-type"
        );
        i.options.truncate(2);
        assert_eq!(kind(i.clone().validate(Proposer::Staff, now)), "ok");
        i.game_type = GameType::Ranking;
        i.options = (0..8).map(|n| format!("Runner {n}")).collect();
        assert_eq!(kind(i.clone().validate(Proposer::Staff, now)), "ok");
    }

    #[test]
    fn p2_a_user_proposed_title_needs_ten_characters_and_citizens_only_propose() {
        let now = Utc::now();
        let mut i = input();
        assert_eq!(
            kind(i.clone().validate(Proposer::Citizen, now)),
            "forbidden"
        );
        i.category = Category::UserProposed;
        i.title = "Derby win".into();
        assert_eq!(
            kind(i.clone().validate(Proposer::Citizen, now)),
            "proposed-game-title-too-short"
        );
        i.title = "Derby: who wins".into();
        assert_eq!(kind(i.clone().validate(Proposer::Citizen, now)), "ok");
    }
}
