//! # posmul-relayer
//!
//! The Money Wave relayer (DESIGN.md M1-M5, E3): the only component that holds a signing key and
//! mints PMC. Once per UTC day it turns the day's PMC credits into a *wave* and publishes it on
//! MoneyWave, exactly once, crash-safe:
//!
//! 1. [`economy`]: the admin-set, versioned economy configuration and the daily budget
//!    B(d) = EAT / 365 (M1), capped by the on-chain `dailyCap`.
//! 2. [`wave`]: after day d ends, the pending credits (of day d and earlier, in a deterministic
//!    order, up to the cap or the token's remaining supply, the credit that does not fit whole
//!    split and its rest carried over first in line, M8; users without a wallet wait) become
//!    wave d: each address's cumulative
//!    entitlement, an OpenZeppelin-compatible Merkle tree ([`posmul_core::merkle`]), an
//!    `allocationHash`, all stored in PostgreSQL (`relayer.*`) *before* anything is sent, and a
//!    JSON export in the `@openzeppelin/merkle-tree` dump format (M3, M4).
//! 3. [`sender`]: signs locally (private key or keystore), EIP-1559 fees with a per-chain priority
//!    floor, gas estimate plus margin, nonce from the node's `pending` count, replacement with
//!    higher fees after a wait; every attempt is recorded before it is broadcast.
//! 4. [`publisher`]: the per-wave state machine built → submitted → mined → finalized under a
//!    PostgreSQL advisory lock ([`app`]: the [`Relayer`] itself and its loop). A restart at any point finishes the same wave, or recognises from
//!    the chain (`nextDay`, `WavePublished`) that it is already published; missed days are
//!    caught up in order. A stored wave the chain no longer allows (cap lowered, supply short)
//!    is rebuilt once none of its transactions can still be mined, never sent to revert for
//!    ever (M8). [`failpoint`] lets tests crash it at each step.
//! 5. [`claims`]: proofs for wallets (`GET /v1/me/pmc/claim`) and gas-sponsored batch claims
//!    with `claimMany` (M5); credits turn `claimed` once the indexer mirrors a final claim that
//!    covers them (E3).
//! 6. [`reconcile`]: checks the chain against the database for every published day.
//! 7. [`demo`]: demo mode's fast chain clock (a chain day every few minutes), for `script/dev`.
//!
//! The binary `posmul-relayer` (subcommands `run`, `reconcile`, `build-wave`) is a thin shell
//! over [`Relayer`]; see [`config::RelayerConfig`] for its environment variables.

pub mod app;
pub mod claims;
pub mod config;
pub mod contracts;
pub mod demo;
pub mod error;
pub mod failpoint;
pub mod metrics;
pub mod publisher;
pub mod reconcile;
pub mod sender;
pub mod wave;

pub use app::Relayer;
pub use error::{Error, Result};
/// The economy configuration (M1) lives in the money book; re-exported for the wave builder.
pub use posmul_economy::config as economy;
