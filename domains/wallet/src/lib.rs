//! # posmul-wallet
//!
//! The money book over HTTP (E1–E3, M1, M5):
//!
//! - [`pmp`]: a citizen's PMP history (`/v1/me/pmp/history`); no route moves PMP between
//!   citizens (E5);
//! - [`my_wallet`]: the signed-in citizen's own wallet (`/v1/me/wallet`) and its history;
//! - [`explorer`]: the public explorer of an address's PMC (`/v1/accounts/{address}/pmc`);
//! - [`mirror`]: the reads of the indexer's chain mirror both views share;
//! - [`claims`]: what a wallet needs to claim its PMC, and gas-sponsored claims;
//! - [`economy`]: the economy configuration (M1) for admins, and B(d);
//! - [`rates`]: the investment rates (I1-I3): public in force, versions for admins;
//! - [`waves`]: the public allocation file of every published wave (M3, M6).
//!
//! Every rule lives in `posmul-economy`; this crate parses requests, asks the book, and shapes
//! answers. Its refusals are [`error::WalletError`], mapped to problems in one place.

pub mod claims;
pub mod economy;
pub mod error;
pub mod explorer;
pub mod mirror;
pub mod my_wallet;
pub mod pmp;
pub mod rates;
pub mod waves;

use posmul_api_kit::{AppState, audit, auth, config, display, pagination, state};
use posmul_economy::{credits, ledger};
use utoipa_axum::router::OpenApiRouter;

/// The wallet routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(pmp::router())
        .merge(my_wallet::router())
        .merge(explorer::router())
        .merge(claims::router())
        .merge(economy::router())
        .merge(rates::router())
        .merge(waves::router())
}
