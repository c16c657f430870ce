//! Predictions (DESIGN.md P1-P6, M2, E2, E3): citizens stake PMP on the outcome of a game; after
//! the event a resolver settles it and the winners receive PMC credits that a daily Money Wave
//! mints once the settlement's dispute window is over.
//!
//! Safe in the open (P6): a citizen's proposal takes part in the hourly pools only once a
//! moderator approved it, keeps what it received only with enough distinct stakers at its end,
//! and weighs half an official game by default; a citizen has few proposals open at once; what a
//! game received and pays no one returns to the day's later hours ([`pools`]). No one settles,
//! cancels or corrects a game they created or staked in, every such act is audited, and a
//! correction within the dispute window replaces the earlier credits exactly ([`settlement`]).
//! The settings (window, stakers, open proposals) are the API's
//! ([`posmul_api_kit::config::PredictionSettings`]).
//!
//! | Module | What |
//! |---|---|
//! | [`types`] | game types, categories, statuses (P1, P3) |
//! | [`error`] | [`PredictionError`]: every refusal, mapped to the API's problems in one place |
//! | [`problem`] | the problem `type`s of the domain, named once |
//! | [`games`] | creation (`GameInput` → [`games::NewGame`], P2), the open-proposal limit, edits while CREATED, a moderator's approval (P6), list/search, the game page |
//! | [`stakes`] | placing, quoting (`dry_run`) and withdrawing stakes through the ledger (P4, E2) |
//! | [`allocation`] | exact integer splits: hourly pools and settlement shares, the remainder rule |
//! | [`budget`] | B(d), read from the relayer's economy configuration (M1) |
//! | [`pools`] | the hourly pool job: one immutable computation per hour, catch-up, releases back to the day (M2, P6) |
//! | [`settlement`] | settle, cancel, correct within the dispute window (P5, P6, E3) |
//! | [`stats`] | accuracy per user and category, cached leaderboards |
//! | [`events`] | server-sent event streams per game and per user |
//! | [`scheduler`] | lifecycle transitions by time and the hourly pools, one active instance |
//! | [`routes`] | the HTTP handlers |
//!
//! Time: every rule reads the API's clock (`AppState::clock`, see `posmul_core::clock`), passed
//! down as `now` — a game's status is `predictions.effective_status(…, $now)`, never SQL `now()`
//! — so in demo mode the games, the hourly pools and the settlement's day follow the chain's fast
//! day, and tests move time with a manual clock. Only audit columns (`updated_at`) use the
//! database's clock.
//!
//! Money never moves here by hand: PMP through [`posmul_economy::ledger`], PMC through
//! [`posmul_economy::credits`]. PMP travels as [`posmul_core::money::Pmp`], PMC as
//! [`posmul_core::money::Wei`]; decimal strings exist only in response bodies.

pub mod allocation;
pub mod budget;
pub mod error;
pub mod events;
pub mod games;
pub mod pools;
pub mod problem;
pub mod routes;
pub mod scheduler;
pub mod settlement;
pub mod stakes;
pub mod stats;
pub mod types;

use std::sync::Arc;

use axum::Extension;
use utoipa_axum::{router::OpenApiRouter, routes};

use posmul_api_kit::AppState;

pub use error::PredictionError;

/// Per-process state of the predictions domain: the event hub, the open streams and the
/// leaderboard cache.
#[derive(Default)]
pub struct Runtime {
    pub hub: events::Hub,
    /// The open event streams, bounded per client and per replica.
    pub streams: Arc<events::StreamSlots>,
    pub cache: stats::LeaderboardCache,
}

/// The predictions routes (all under `/v1/predictions`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list_games, routes::create_game))
        .routes(routes!(routes::get_game, routes::update_game))
        .routes(routes!(routes::approve))
        .routes(routes!(routes::place_stake))
        .routes(routes!(routes::withdraw))
        .routes(routes!(routes::my_predictions))
        .routes(routes!(routes::settle, routes::get_settlement))
        .routes(routes!(routes::cancel))
        .routes(routes!(routes::correct))
        .routes(routes!(routes::list_pools))
        .routes(routes!(routes::get_pool_hour))
        .routes(routes!(routes::list_multipliers))
        .routes(routes!(routes::set_multiplier))
        .routes(routes!(routes::my_stats))
        .routes(routes!(routes::user_stats))
        .routes(routes!(routes::leaderboard))
        .routes(routes!(routes::game_events))
        .routes(routes!(routes::my_events))
        .layer(Extension(Arc::new(Runtime::default())))
}
