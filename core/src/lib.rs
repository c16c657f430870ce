//! # posmul-core
//!
//! What the PosMul services (indexer, relayer, API) share:
//!
//! - [`config`]: typed configuration from environment variables with documented defaults;
//! - [`db`]: the PostgreSQL pool and the migrations of the whole system, embedded;
//! - [`money`]: [`money::Pmp`] points and [`money::Wei`] PMC amounts, exact, with their
//!   database and JSON encodings;
//! - [`deployment`]: the `deployments/<chainId>.json` file the deploy script writes;
//! - [`merkle`]: the OpenZeppelin-compatible Merkle tree of MoneyWave's cumulative allocations;
//! - [`bindings`]: `sol!` bindings of PMC, MoneyWave and DonationHub from `contracts/abi/`.
//!
//! Nothing here talks to a chain or serves a request; the services do.

pub mod bindings;
pub mod config;
pub mod db;
pub mod deployment;
pub mod merkle;
pub mod money;
