//! # posmul-api
//!
//! The HTTP API of PosMul (axum 0.8 over PostgreSQL): accounts and sign-in, roles, the PMP
//! ledger, PMC credits and wallet views — the off-chain core that predictions, investments and
//! the forum stand on (DESIGN.md "Shape", rules U1, U2, E1–E3).
//!
//! ## Layout
//! - [`startup`]: [`startup::Application`] (`build` → `port` → `run_until_stopped`), the shared
//!   [`startup::AppState`], the layer stack, and [`startup::api_router`], where each domain's
//!   router is merged (one line per domain).
//! - [`config`]: [`config::ApiConfig`] from environment variables (table of variables there).
//! - [`error`]: [`error::ApiError`], rendered as RFC 9457 problem+json with a stable `type`
//!   per kind; [`error::ApiJson`], the body extractor whose rejections are problems too.
//! - [`auth`]: registration, login, rotating refresh tokens, Sign-In with Ethereum, roles, and
//!   the extractors [`auth::extract::AuthUser`] and [`auth::extract::RequireRole`].
//! - [`users`]: `/v1/me` (account, profile, wallet link) and public profiles.
//! - [`admin`]: role grants and revocations, the user list, the audit log.
//! - [`audit`]: the append-only audit log.
//! - [`ledger`], [`credits`], [`idempotency`], [`wallet`]: the PMP ledger, PMC credits,
//!   `Idempotency-Key` handling and the wallet views (E1–E3).
//! - [`claims`], [`economy`], [`predictions`]: Money Wave claims, the economy configuration
//!   (M1) and prediction games (P1–P5).
//! - [`rate_limit`]: per-IP and per-user GCRA limits, in Redis or in process.
//! - [`pagination`]: opaque cursors and [`pagination::Page`], for every list.
//! - [`health`], [`telemetry`]: `/healthz`, `/readyz`, `/metrics`, logs.
//! - [`testing`]: `spawn_app` and friends for integration tests.
//!
//! ## Conventions
//! Routes live under `/v1`; each domain module owns its router, request/response types
//! (requests `deny_unknown_fields`), handlers and SQL. Handlers never read headers: they take
//! extractors. Every route is described with `#[utoipa::path]` and appears in
//! `GET /openapi.json`; the interactive UI is at `GET /docs/`.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod claims;
pub mod config;
pub mod credits;
pub mod economy;
pub mod error;
pub mod health;
pub mod idempotency;
pub mod ledger;
pub mod pagination;
pub mod predictions;
pub mod rate_limit;
pub mod startup;
pub mod telemetry;
pub mod users;
pub mod wallet;

#[doc(hidden)]
pub mod testing;

pub use config::ApiConfig;
pub use error::{ApiError, ApiResult};
pub use startup::{AppState, Application};
