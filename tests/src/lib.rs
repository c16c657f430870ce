//! # posmul-tests
//!
//! End-to-end tests across chain, indexer, relayer and API, in one test binary (`tests/it/`).
//! Each test starts its own anvil with the contracts deployed (`posmul_testkit::LocalChain`),
//! gets a fresh migrated database from `#[sqlx::test]`, and runs the API (`posmul_api::testing`),
//! the indexer (`posmul_indexer::Indexer`) and the relayer loop (`posmul_relayer::Relayer::run`)
//! in process against them.
//!
//! - `tests/it/full_day.rs` (E3, M3, M4, M5): credits earned → day ends on chain → wave
//!   published → the API's proof verifies → claims succeed on chain (by the wallet, and by the
//!   relayer through `claim-for-me`) → the indexer mirrors them → credits `claimed` → the wallet
//!   view agrees with the chain; the reconciliation is clean.
//! - `tests/it/prediction_day.rs` (P3, P4, P5, E2, M2-M5): stakes over HTTP → the game closes →
//!   a resolver settles it → the MoneyWave day of the credits ends on chain → the wave with the
//!   prediction wins is published → claims succeed (wallet and `claim-for-me`) → the indexer
//!   mirrors the balances → the wallet view shows them and the credits claimed.
//!
//! `tests/it/support.rs` holds what both share: the services over the chain (`support::Stack`),
//! wallet linking by SIWE, and polling helpers.
