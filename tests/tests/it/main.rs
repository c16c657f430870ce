//! The end-to-end tests, one binary (see the crate docs in `src/lib.rs`): each test runs the
//! whole stack of `support::Stack` over its own anvil and its own fresh database.

mod full_day;
mod prediction_day;
mod support;
