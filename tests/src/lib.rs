//! # posmul-tests
//!
//! End-to-end tests across chain, indexer, relayer and API. Each test starts its own anvil
//! (`node_modules/.bin/anvil`), deploys the contracts from the bytecode in `contracts/abi`, gets a
//! fresh migrated database from `#[sqlx::test]`, and runs the API (`posmul_api::testing`), the
//! indexer (`posmul_indexer::Indexer`) and the relayer loop (`posmul_relayer::Relayer::run`) in
//! process against them.
//!
//! - `tests/full_day.rs` — issue 5 §7, first bullet: credits earned → day ends on chain → wave
//!   published → the API's proof verifies → claims succeed on chain (by the wallet, and by the
//!   relayer through `claim-for-me`) → the indexer mirrors them → credits `claimed` → the wallet
//!   view agrees with the chain; the reconciliation is clean.
//! - `tests/prediction_day.rs` — issue 6 §7, the end-to-end bullet: stakes over HTTP → the game
//!   closes → a resolver settles it → the MoneyWave day of the credits ends on chain → the wave
//!   with the prediction wins is published → claims succeed (wallet and `claim-for-me`) → the
//!   indexer mirrors the balances → the wallet view shows them and the credits claimed.
//!
//! `tests/support/` holds what both share: the set-up of the chain, contracts and
//! services (`support::Stack`), wallet linking by SIWE, and polling helpers.
