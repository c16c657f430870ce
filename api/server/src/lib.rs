//! # posmul-api
//!
//! The PosMul API server (axum 0.8 over PostgreSQL). It owns no rule of its own: it assembles
//! the domain crates over the HTTP kit (docs/ARCHITECTURE.md):
//!
//! - `posmul-api-kit` (`api/kit`): state, configuration, problem+json errors, auth extractors,
//!   pagination, idempotency, rate limits, audit, OpenAPI parts;
//! - `posmul-accounts`, `posmul-wallet`, `posmul-predictions` (`domains/<name>`): each owns its
//!   router, request and response types, rules, SQL, errors and tests;
//! - `posmul-economy` (`economy/`): the money book every domain moves value through.
//!
//! [`startup`] builds the router (one line per domain), the layer stack and the listener, over
//! the state that carries the one clock every rule reads (`CLOCK`; `GET /v1/clock` shows it);
//! [`testing`] (feature `testing`) serves the whole API to integration tests, with the clock a
//! test gives it. [`business_metrics`] declares the process's metrics and reads the business
//! and economy gauges (`BUSINESS_METRICS_INTERVAL_SECS`); [`partitions`] creates the monthly
//! partitions ahead (`PARTITION_MONTHS_AHEAD`).
//!
//! Routes live under `/v1`; every route is described with `#[utoipa::path]` and appears in
//! `GET /openapi.json`; the interactive UI is at `GET /docs/`.

pub mod business_metrics;
pub mod partitions;
pub mod startup;

#[cfg(feature = "testing")]
pub mod testing;

pub use posmul_api_kit::{ApiConfig, ApiError, ApiResult, AppState, config, telemetry};
pub use startup::Application;
