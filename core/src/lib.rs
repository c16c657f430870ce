//! # posmul-core
//!
//! What the PosMul services (indexer, relayer, API) share:
//!
//! - [`config`]: typed configuration from environment variables with documented defaults;
//! - [`db`]: the PostgreSQL pool and the migrations of the whole system, embedded;
//! - [`money`]: [`money::Pmp`] points and [`money::Wei`] PMC amounts, exact, with their
//!   database and JSON encodings;
//! - [`address`]: [`address::WalletAddress`], an account address stored as 20 bytes and shown
//!   EIP-55 checksummed;
//! - [`day`]: [`day::UtcDay`], a UTC calendar day, which is also a MoneyWave day number;
//! - [`clock`]: [`clock::Clock`], the one source of "now" (system, a demo chain's, or a test's);
//! - [`deployment`]: the `deployments/<chainId>.json` file the deploy script writes;
//! - [`merkle`]: the OpenZeppelin-compatible Merkle tree of MoneyWave's cumulative allocations;
//! - [`bindings`]: `sol!` bindings of PMC, MoneyWave and DonationHub from `contracts/abi/`;
//! - [`tls`]: TLS on every link off the machine (RPC, PostgreSQL, Redis): the trusted roots
//!   (`TLS_CA_FILE`) and the rule that refuses plaintext off the host outside `POSMUL_ENV=dev`;
//! - [`rpc`]: the JSON-RPC provider every service opens (`http(s)://`, `ws(s)://`) over it;
//! - [`service`]: the shell of every service: logging, the advisory-lock leader and the
//!   operations listener (`/metrics`, `/healthz`, `/readyz`).
//!
//! Nothing here implements a rule of the economy; the services and the economy crate do.

pub mod address;
pub mod bindings;
pub mod clock;
pub mod config;
pub mod day;
pub mod db;
pub mod deployment;
pub mod merkle;
pub mod money;
pub mod rpc;
pub mod service;
pub mod tls;

pub use address::WalletAddress;
pub use clock::Clock;
pub use day::UtcDay;
pub use money::{Krw, Pmp, Wei};
