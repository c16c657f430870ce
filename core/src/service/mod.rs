//! The shell every long-running service (indexer, relayer, API) shares, written once:
//!
//! - [`logging`]: `RUST_LOG`-filtered logs on stderr, JSON lines with `LOG_FORMAT=json`, and
//!   spans exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set;
//! - [`leader`]: one active instance per job through a PostgreSQL session advisory lock, the
//!   others hot standbys;
//! - [`listener`]: the operations endpoint, `GET /metrics` (Prometheus), `/healthz` and
//!   `/readyz`, on a listener of its own.

pub mod leader;
pub mod listener;
pub mod logging;

pub use leader::{Election, Leader};
pub use listener::{OpsListener, Readiness, ReadinessCheck, global_metrics, readiness_check};
pub use logging::{Traces, flush_traces, init_logging};
