//! The vocabulary of predictions: game types, categories, statuses (P1, P3).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// P1: the kind of game, which fixes how many options it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum GameType {
    /// Exactly 2 options.
    Binary,
    /// Exactly 3 options (win, draw, lose).
    WinDrawLose,
    /// 2 or more options, one of which wins.
    Ranking,
}

/// P1: the category of a game. Citizens propose games only in [`Category::UserProposed`].
/// Written in snake case; the DESIGN.md spelling (`SPORTS`, `USER_PROPOSED`, …) is accepted too.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    sqlx::Type,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Category {
    #[serde(alias = "INVEST")]
    Invest,
    #[serde(alias = "SPORTS")]
    Sports,
    #[serde(alias = "POLITICS")]
    Politics,
    #[serde(alias = "ENTERTAINMENT")]
    Entertainment,
    #[serde(alias = "USER_PROPOSED")]
    UserProposed,
}

impl Category {
    /// Every category, in the canonical order (used for deterministic tie-breaks).
    pub const ALL: [Category; 5] = [
        Category::Invest,
        Category::Sports,
        Category::Politics,
        Category::Entertainment,
        Category::UserProposed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Invest => "invest",
            Category::Sports => "sports",
            Category::Politics => "politics",
            Category::Entertainment => "entertainment",
            Category::UserProposed => "user_proposed",
        }
    }
}

/// P3: the lifecycle. Reads always show the status the game's times imply
/// (`predictions.effective_status`), whether or not the scheduler has caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum GameStatus {
    /// Before its start: editable, no stakes yet.
    Created,
    /// Between start and end: stakes and withdrawals.
    Active,
    /// After its end: waiting for settlement.
    Closed,
    /// Settled with a winning option (final).
    Settled,
    /// Cancelled; every stake refunded (final).
    Cancelled,
}

impl GameStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            GameStatus::Created => "created",
            GameStatus::Active => "active",
            GameStatus::Closed => "closed",
            GameStatus::Settled => "settled",
            GameStatus::Cancelled => "cancelled",
        }
    }
}

/// Where a prediction is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PredictionStatus {
    /// The stake is locked in the game's escrow.
    Live,
    /// Withdrawn while the game was ACTIVE; refunded in full.
    Withdrawn,
    /// Named the winning option; the stake was consumed and a PMC credit issued.
    Won,
    /// Named another option; the stake was consumed.
    Lost,
    /// The game was cancelled; refunded in full.
    Refunded,
}
