//! Every refusal of the predictions domain, and its one mapping to the API's problems.
//!
//! The domain's functions return [`PredictionError`]; the handlers turn it into the kit's
//! [`ApiError`] with `?` through the one `From` below, so a refusal's status and problem `type`
//! ([`crate::problem`]) are decided here and nowhere else. The `Display` text is the problem's
//! `detail`. Ledger and credit errors keep the money book's one mapping (in the kit).

use posmul_api_kit::ApiError;
use posmul_core::money::Pmp;
use posmul_economy::{credits::CreditError, ledger::LedgerError};

use crate::{problem, types::GameStatus};

/// `Result` with [`PredictionError`].
pub type Result<T, E = PredictionError> = std::result::Result<T, E>;

/// The stake movement a game's status refuses (P4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StakeAction {
    Place,
    Withdraw,
}

impl StakeAction {
    const fn verb(self) -> &'static str {
        match self {
            StakeAction::Place => "stakes are taken",
            StakeAction::Withdraw => "a stake can be withdrawn",
        }
    }
}

/// Every way the predictions domain refuses a request or fails.
#[derive(Debug, thiserror::Error)]
pub enum PredictionError {
    // ---------------------------------------------------------------- who may act
    /// Citizens propose only `user_proposed` games, and edit only their own proposals.
    #[error("this action requires the moderator role")]
    StaffOnly,

    // ---------------------------------------------------------------- not found
    #[error("game not found")]
    GameNotFound,
    #[error("prediction not found")]
    PredictionNotFound,
    #[error("settlement not found")]
    SettlementNotFound,
    #[error("hourly pool not found")]
    HourNotComputed,

    // ---------------------------------------------------------------- P2
    #[error("a game title has at least 5 characters")]
    TitleTooShort,
    #[error("a user-proposed game's title has at least 10 characters")]
    ProposedTitleTooShort,
    #[error("a game title has at most 200 characters")]
    TitleTooLong,
    #[error("a game description has at least 20 characters")]
    DescriptionTooShort,
    #[error("a game description has at most 5000 characters")]
    DescriptionTooLong,
    #[error("a game has at least 2 options")]
    TooFewOptions,
    #[error("a binary game has 2 options, win-draw-lose 3, ranking 2 to 50")]
    OptionsDoNotFitType,
    #[error("option labels are 1-100 characters and distinct")]
    OptionInvalid,
    #[error("the times must satisfy start < end < settlement")]
    TimesOutOfOrder,
    #[error("a game's end must be in the future")]
    EndsInThePast,
    #[error("the stakes must satisfy 1 ≤ min stake ≤ max stake")]
    StakeRangeInvalid,
    #[error("importance is 1 to 5")]
    ImportanceOutOfRange,
    #[error("the participant cap is at least 1")]
    ParticipantCapInvalid,
    /// A free-text field is longer than allowed (a field error, not a rule of its own).
    #[error("{field}: at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("a game is editable only while created; it is {}", .0.as_str())]
    NotEditable(GameStatus),
    #[error(
        "you have {max} proposals open, the most a citizen may have; propose again once one has ended or was cancelled"
    )]
    TooManyOpenProposals { max: u32 },

    // ---------------------------------------------------------------- P3, P4
    #[error("{} only while the game is active; it is {}", .action.verb(), .status.as_str())]
    NotActive {
        action: StakeAction,
        status: GameStatus,
    },
    #[error("the game has no option at that position")]
    OptionNotFound,
    #[error("the smallest stake in this game is {0}")]
    StakeBelowMinimum(Pmp),
    #[error("the largest stake in this game is {0}")]
    StakeAboveMaximum(Pmp),
    #[error(
        "you already have a prediction in this game (one per user); withdraw it first while the game is active"
    )]
    AlreadyPredicted,
    #[error("the game has reached its participant cap")]
    GameFull,
    #[error("this prediction was already withdrawn or decided")]
    PredictionNotLive,
    #[error(
        "placing a stake needs an Idempotency-Key header (e.g. a fresh UUID per intended stake)"
    )]
    MissingIdempotencyKey,

    // ---------------------------------------------------------------- P5
    #[error("a game is settled only after its end (CLOSED)")]
    NotClosed,
    #[error("a game is settled once; an admin may correct it")]
    AlreadySettled,
    #[error("a cancelled game cannot be settled")]
    Cancelled,
    #[error("the game is already {}", .0.as_str())]
    Final(GameStatus),
    #[error("only a settled game can be corrected")]
    NotSettled,
    #[error("that option already won")]
    CorrectionChangesNothing,
    #[error("explain the correction in 10 to 1000 characters")]
    ReasonLength,

    // ---------------------------------------------------------------- P6
    #[error("you created this game or staked in it, so someone else must decide it")]
    ConflictOfInterest,
    #[error(
        "the settlement's dispute window is over (see its dispute_ends_at): its credits may be in a wave, so it can no longer be corrected"
    )]
    DisputeWindowClosed,
    #[error("this proposal is already approved")]
    AlreadyApproved,
    #[error("only a citizen's user-proposed game needs approval")]
    NeedsNoApproval,

    // ---------------------------------------------------------------- M2, rankings
    #[error("0 to 1000 with at most 6 decimals")]
    MultiplierOutOfRange,
    /// A query parameter out of its range.
    #[error("{field}: {expected}")]
    OutOfRange {
        field: &'static str,
        expected: &'static str,
    },

    // ---------------------------------------------------------------- below the domain
    /// A refusal of the money book (E1: `insufficient-pmp`, …), mapped once by the kit.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Credit(#[from] CreditError),
    /// A refusal of the kit's shared parts (a bad cursor, an `Idempotency-Key` reused), as is.
    #[error(transparent)]
    Kit(#[from] ApiError),
    #[error("predictions database error")]
    Database(#[from] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl PredictionError {
    /// The problem `type` suffix the client sees (what the tests of the rules check).
    pub fn kind(self) -> &'static str {
        ApiError::from(self).kind()
    }

    /// An amount out of range where the ledger's balances make that impossible: a bug.
    pub(crate) fn overflow(what: &'static str) -> Self {
        PredictionError::Internal(anyhow::anyhow!("{what} overflows"))
    }

    /// A stake insert that hit the one-prediction-per-game index (P4) is `already-predicted`.
    pub(crate) fn from_stake_insert(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.constraint() == Some("predictions_one_per_user_game")
        {
            return PredictionError::AlreadyPredicted;
        }
        PredictionError::Database(e)
    }
}

/// The one mapping of the domain's errors to problems: each variant's status and problem `type`.
impl From<PredictionError> for ApiError {
    fn from(e: PredictionError) -> Self {
        use PredictionError as E;
        let detail = e.to_string();
        let rule = |kind| ApiError::unprocessable(kind, detail.clone());
        let conflict = |kind| ApiError::conflict(kind, detail.clone());
        let field = |name| ApiError::invalid_field(name, detail.clone());
        match e {
            E::StaffOnly => ApiError::Forbidden {
                required: "moderator",
            },
            E::GameNotFound => ApiError::NotFound("game".into()),
            E::PredictionNotFound => ApiError::NotFound("prediction".into()),
            E::SettlementNotFound => ApiError::NotFound("settlement".into()),
            E::HourNotComputed => ApiError::NotFound("hourly pool".into()),
            E::TitleTooShort => rule(problem::GAME_TITLE_TOO_SHORT),
            E::ProposedTitleTooShort => rule(problem::PROPOSED_GAME_TITLE_TOO_SHORT),
            E::TitleTooLong => rule(problem::GAME_TITLE_TOO_LONG),
            E::DescriptionTooShort => rule(problem::GAME_DESCRIPTION_TOO_SHORT),
            E::DescriptionTooLong => rule(problem::GAME_DESCRIPTION_TOO_LONG),
            E::TooFewOptions => rule(problem::GAME_TOO_FEW_OPTIONS),
            E::OptionsDoNotFitType => rule(problem::GAME_OPTIONS_DO_NOT_FIT_TYPE),
            E::OptionInvalid => rule(problem::GAME_OPTION_INVALID),
            E::TimesOutOfOrder => rule(problem::GAME_TIMES_OUT_OF_ORDER),
            E::EndsInThePast => rule(problem::GAME_ENDS_IN_THE_PAST),
            E::StakeRangeInvalid => rule(problem::GAME_STAKE_RANGE_INVALID),
            E::ImportanceOutOfRange => rule(problem::GAME_IMPORTANCE_OUT_OF_RANGE),
            E::ParticipantCapInvalid => rule(problem::GAME_PARTICIPANT_CAP_INVALID),
            E::TooLong { field: name, max } => {
                ApiError::invalid_field(name, format!("at most {max} characters"))
            }
            E::NotEditable(_) => conflict(problem::GAME_NOT_EDITABLE),
            E::TooManyOpenProposals { .. } => conflict(problem::TOO_MANY_OPEN_PROPOSALS),
            E::NotActive { .. } => conflict(problem::GAME_NOT_ACTIVE),
            E::OptionNotFound => rule(problem::OPTION_NOT_FOUND),
            E::StakeBelowMinimum(_) => rule(problem::STAKE_BELOW_MINIMUM),
            E::StakeAboveMaximum(_) => rule(problem::STAKE_ABOVE_MAXIMUM),
            E::AlreadyPredicted => conflict(problem::ALREADY_PREDICTED),
            E::GameFull => conflict(problem::GAME_FULL),
            E::PredictionNotLive => conflict(problem::PREDICTION_NOT_LIVE),
            E::MissingIdempotencyKey => field("Idempotency-Key"),
            E::NotClosed => conflict(problem::GAME_NOT_CLOSED),
            E::AlreadySettled => conflict(problem::GAME_ALREADY_SETTLED),
            E::Cancelled => conflict(problem::GAME_CANCELLED),
            E::Final(_) => conflict(problem::GAME_FINAL),
            E::NotSettled => conflict(problem::GAME_NOT_SETTLED),
            E::CorrectionChangesNothing => rule(problem::CORRECTION_CHANGES_NOTHING),
            E::ReasonLength => field("reason"),
            E::ConflictOfInterest => {
                ApiError::denied(problem::CONFLICT_OF_INTEREST, detail.clone())
            }
            E::DisputeWindowClosed => conflict(problem::DISPUTE_WINDOW_CLOSED),
            E::AlreadyApproved => conflict(problem::GAME_ALREADY_APPROVED),
            E::NeedsNoApproval => conflict(problem::GAME_NEEDS_NO_APPROVAL),
            E::MultiplierOutOfRange => field("multiplier"),
            E::OutOfRange {
                field: name,
                expected,
            } => ApiError::invalid_field(name, expected),
            E::Ledger(e) => e.into(),
            E::Credit(e) => e.into(),
            E::Kit(e) => e,
            E::Database(e) => e.into(),
            E::Internal(e) => ApiError::Internal(e),
        }
    }
}
