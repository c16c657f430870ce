//! Integration tests of posmul-relayer, one binary: each test gets a fresh migrated database
//! (`#[sqlx::test]`) and, where it needs a chain, its own anvil with the contracts deployed
//! (`posmul_testkit::LocalChain`).
//!
//! - `waves`: days published, proved and claimed on chain (M3, M4, M5), through crashes,
//!   replacements and outages, and over TLS (`tls.rs`, a child module of `waves`), and left
//!   running (`safety.rs`, another: chain checks, fee ceiling, gas wallet, late or
//!   rate-limited nodes, lost exports, the binary's commands);
//! - `carry_over`: emission never stalls on one credit (M8): splits, carry-over, rebuilds;
//! - `credits_and_storage`: the bookkeeping without a chain (E3, the bulk storage of a wave);
//! - `delayed_roots`: a root claimable only after its delay, revoked by the guardian and
//!   published again, and the watcher that revokes a root the database did not build (M6).

mod carry_over;
mod credits_and_storage;
mod delayed_roots;
mod waves;
