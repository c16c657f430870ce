//! # posmul-indexer
//!
//! Mirrors every event of the PosMul contracts (PMC, MoneyWave, DonationHub) into the `chain`
//! schema of PostgreSQL, reorg-safe and resumable. The API and the relayer read the mirror;
//! nothing else writes it.
//!
//! ## How it works
//! - **Backfill** ([`sync`]): from the deployment block (or the cursor) up to the final block,
//!   `eth_getLogs` ranges start at 2,000 blocks and adapt ([`range`]): halved when the provider
//!   refuses them ("query returned more than 10000 results", "block range is too large", …) or
//!   when an answer is heavy, doubled after light answers. Several ranges are fetched, decoded and
//!   encoded in parallel while earlier batches are written, in order.
//! - **Head following**: above the final block every header is fetched and kept; each block must
//!   extend the one before it, and each log must come from the block fetched. Polling every
//!   `POLL_INTERVAL_MS`; a `ws://` URL also wakes the loop on each new head.
//! - **Finality** ([`config::Finality`]): the node's `finalized` tag (Polygon PoS milestones), or
//!   `CONFIRMATIONS` deep. Rows carry `finalized`; readers pick finalized-only or latest.
//! - **Reorgs**: when the stored hash of the cursor block differs from the node's, the indexer
//!   walks back to the fork point and, in one transaction, deletes every row above it, reverses
//!   the balances and moves the cursor ([`store::rollback`]). A reorg that reaches below the
//!   final block is logged as an ALERT and counted in `posmul_indexer_deep_reorgs_total`.
//! - **Writes** ([`store`]): a batch's rows go in with `COPY`, balances with an `UNNEST` upsert,
//!   and the cursor moves in the same transaction, so a crash at any point resumes exactly.
//! - **Failures**: RPC calls time out, retry with exponential backoff and jitter, and fail over
//!   between `RPC_URLS` ([`rpc`]); a database failure gives up the lock and re-elects.
//! - **One writer** ([`lock`]): a PostgreSQL advisory lock per chain; other instances wait as
//!   hot standbys.
//! - **HTTP** ([`http`]): `GET /healthz`, `GET /readyz` (503 when standby, RPC or database
//!   unreachable, or more than `READY_MAX_LAG` blocks behind), `GET /metrics` (Prometheus:
//!   `posmul_indexer_{head,indexed,finalized}_block`, `_lag_blocks`, `_reorgs_total`,
//!   `_reorg_deepest_blocks`, `_deep_reorgs_total`, `_rpc_errors_total`, `_rows_written_total`).
//!
//! Configuration: see [`config`] for every variable and its default. The binary
//! `posmul-indexer` reads them, loads `deployments/<CHAIN_ID>.json`, migrates the database and
//! runs [`Indexer`].

pub mod app;
pub mod backoff;
pub mod config;
pub mod error;
pub mod events;
pub mod fetch;
pub mod http;
pub mod lock;
pub mod range;
pub mod rpc;
pub mod status;
pub mod store;
pub mod sync;

pub use app::Indexer;
pub use config::{Finality, IndexerConfig};
pub use error::{IndexerError, Result};
