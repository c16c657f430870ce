//! # posmul-wallet
//!
//! The money book over HTTP (E1–E3, M1, M5):
//!
//! - [`pmp`]: a citizen's PMP history and internal transfers (`/v1/pmp/*`, `/v1/me/pmp/*`);
//! - [`wallet`]: the signed-in citizen's wallet view (`/v1/me/wallet`) and the public explorer
//!   of an address's PMC (`/v1/accounts/{address}/pmc`), from the chain mirror;
//! - [`claims`]: what a wallet needs to claim its PMC, and gas-sponsored claims;
//! - [`economy`]: the economy configuration (M1) for admins, and B(d).
//!
//! Every rule lives in `posmul-economy`; this crate parses requests, asks the book, and shapes
//! answers. Its refusals are [`error::WalletError`], mapped to problems in one place.

pub mod claims;
pub mod economy;
pub mod error;
pub mod pmp;
pub mod wallet;

use posmul_api_kit::{AppState, audit, auth, config, display, idempotency, pagination, state};
use posmul_economy::{credits, ledger};
use utoipa_axum::router::OpenApiRouter;

/// The wallet routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(pmp::router())
        .merge(wallet::router())
        .merge(claims::router())
        .merge(economy::router())
}
