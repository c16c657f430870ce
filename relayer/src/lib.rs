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
//!    floor and a ceiling (`MAX_FEE_PER_GAS_GWEI`: above it nothing is sent, the wave waits),
//!    gas estimate plus margin, nonce from the node's `pending` count, replacement with
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
//! 8. [`status`]: the state `posmul-relayer status` prints.
//! 9. [`revoked`] and [`watch`] (M6): a root is claimable only after MoneyWave's root delay; the
//!    watcher recomputes each pending root from the allocation file and the database and, on a
//!    mismatch, alerts and (with the guardian key) revokes it; the relayer then takes the revoked
//!    days' waves off and publishes them again.
//!
//! **Safe to leave running.** [`app::open`] refuses to sign unless the node's chain id equals
//! `CHAIN_ID` (when set) and the deployment file's `chainId`. `run` waits with back-off for a
//! node that cannot be reached, at start-up as later (an RPC error only delays a wave); the
//! provider ([`posmul_core::rpc::connect`]) honours rate limits (HTTP 429, `Retry-After`) and
//! keeps the URL's path and query (an API key) out of errors, and logs name only
//! `scheme://host:port`. Fees stop at a ceiling; the gas wallet's balance is a metric with a
//! low-balance flag ([`metrics`]); a wave export missing after a crash is written again from
//! the stored tree on the next pass. Secrets (the key's text, the keystore password) are
//! `secrecy` strings, and a keystore password file readable by others is refused.
//!
//! The binary `posmul-relayer` (`run`, `reconcile`, `export-wave DAY`, `status`,
//! `build-wave --day N`, `watch`; each with `--help`) is a thin shell over [`Relayer`]: the commands that
//! print data print only it (JSON) on stdout, logs go to stderr. See [`config::RelayerConfig`]
//! for its environment variables.

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
pub mod revoked;
pub mod sender;
pub mod status;
pub mod watch;
pub mod wave;

pub use app::Relayer;
pub use error::{Error, Result};
/// The economy configuration (M1) lives in the money book; re-exported for the wave builder.
pub use posmul_economy::config as economy;
