//! The end-to-end tests, one binary (see the crate docs in `src/lib.rs`): each test runs the
//! whole stack of `support::Stack` over its own anvil and its own fresh database; `tls` runs
//! the links off the machine over TLS against servers it starts; `roles` checks each service's
//! database role; `partitions` the monthly partitions.

mod full_day;
mod local_league;
mod ops_files;
mod partitions;
mod prediction_day;
mod roles;
mod support;
mod tls;
