//! The problem `type`s the predictions domain answers with: the suffix of
//! `https://posmul.dev/problems/<kind>`. Clients branch on these, so each is named once here and
//! mapped from [`crate::error::PredictionError`] in one place.
//!
//! Refusals shared with the rest of the API (`not-found`, `forbidden`, `validation-failed`,
//! `insufficient-pmp`, `idempotency-key-reused`) are the kit's and the money book's.

// P2: creation and edits.
pub const GAME_TITLE_TOO_SHORT: &str = "game-title-too-short";
pub const PROPOSED_GAME_TITLE_TOO_SHORT: &str = "proposed-game-title-too-short";
pub const GAME_TITLE_TOO_LONG: &str = "game-title-too-long";
pub const GAME_DESCRIPTION_TOO_SHORT: &str = "game-description-too-short";
pub const GAME_DESCRIPTION_TOO_LONG: &str = "game-description-too-long";
pub const GAME_TOO_FEW_OPTIONS: &str = "game-too-few-options";
pub const GAME_OPTIONS_DO_NOT_FIT_TYPE: &str = "game-options-do-not-fit-type";
pub const GAME_OPTION_INVALID: &str = "game-option-invalid";
pub const GAME_TIMES_OUT_OF_ORDER: &str = "game-times-out-of-order";
pub const GAME_ENDS_IN_THE_PAST: &str = "game-ends-in-the-past";
pub const GAME_STAKE_RANGE_INVALID: &str = "game-stake-range-invalid";
pub const GAME_IMPORTANCE_OUT_OF_RANGE: &str = "game-importance-out-of-range";
pub const GAME_PARTICIPANT_CAP_INVALID: &str = "game-participant-cap-invalid";
pub const GAME_NOT_EDITABLE: &str = "game-not-editable";
/// A citizen has as many proposals open as the setting allows.
pub const TOO_MANY_OPEN_PROPOSALS: &str = "too-many-open-proposals";

// P3, P4: stakes and withdrawals.
pub const GAME_NOT_ACTIVE: &str = "game-not-active";
pub const OPTION_NOT_FOUND: &str = "option-not-found";
pub const STAKE_BELOW_MINIMUM: &str = "stake-below-minimum";
pub const STAKE_ABOVE_MAXIMUM: &str = "stake-above-maximum";
pub const ALREADY_PREDICTED: &str = "already-predicted";
pub const GAME_FULL: &str = "game-full";
pub const PREDICTION_NOT_LIVE: &str = "prediction-not-live";

// P5: settlement, cancellation, corrections.
pub const GAME_NOT_CLOSED: &str = "game-not-closed";
pub const GAME_ALREADY_SETTLED: &str = "game-already-settled";
pub const GAME_CANCELLED: &str = "game-cancelled";
pub const GAME_FINAL: &str = "game-final";
pub const GAME_NOT_SETTLED: &str = "game-not-settled";
pub const CORRECTION_CHANGES_NOTHING: &str = "correction-changes-nothing";

// P6: settlements no one can bend, proposals moderators approve.
/// The caller created the game or staked in it (even if the stake was withdrawn).
pub const CONFLICT_OF_INTEREST: &str = "conflict-of-interest";
/// The settlement's dispute window is over: its credits may be in a wave.
pub const DISPUTE_WINDOW_CLOSED: &str = "dispute-window-closed";
pub const GAME_ALREADY_APPROVED: &str = "game-already-approved";
/// Only a citizen's user-proposed game needs a moderator's approval.
pub const GAME_NEEDS_NO_APPROVAL: &str = "game-needs-no-approval";
