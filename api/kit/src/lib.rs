//! # posmul-api-kit
//!
//! The HTTP parts every domain of the PosMul API shares (axum 0.8, utoipa). A domain crate
//! depends on this kit and on the money book (`posmul-economy`); the server binary assembles the
//! domains. Nothing here knows a domain.
//!
//! - [`state`]: [`AppState`], what every handler can reach, the [`posmul_core::Clock`] every
//!   rule reads among it.
//! - [`clock`]: `GET /v1/clock`, that clock's time for clients.
//! - [`config`]: [`ApiConfig`] from environment variables (the table of variables is there).
//! - [`error`]: [`ApiError`], rendered as RFC 9457 problem+json with a stable `type` per kind
//!   (the kinds are the constants of [`error::kind`]); [`error::ApiJson`], the body extractor
//!   whose rejections are problems too; the one mapping of the money book's errors.
//! - [`auth`]: the extractors [`auth::extract::AuthUser`] and [`auth::extract::RequireRole`],
//!   JWT keys and roles.
//! - [`client`]: who sent a request (IP, user agent, request id), for audits and limits.
//! - [`audit`]: the append-only audit log.
//! - [`mail`]: the API's outgoing mail, through SMTP or into a mailbox folder.
//! - [`hashing`]: the bounded slots for password hashing (503 with `Retry-After` beyond them).
//! - [`pagination`]: opaque cursors and [`pagination::Page`], for every list.
//! - [`idempotency`]: `Idempotency-Key` handling for every write a client may retry.
//! - [`rate_limit`]: per-IP and per-user GCRA limits, in Redis or in process.
//! - [`display`]: the response shapes of money ([`display::PmcAmount`]).
//! - [`openapi`]: the document's root (info, security scheme).
//! - [`health`], [`telemetry`]: `/healthz`, `/readyz`, `/metrics`, logs.
//!
//! ## Conventions
//! Routes live under `/v1`; each domain owns its router, request/response types (requests
//! `deny_unknown_fields`), handlers and SQL. Handlers never read headers: they take extractors.
//! JSON properties are snake_case; addresses are `posmul_core::WalletAddress` from the request
//! (parsed in any case) to the response (EIP-55 checksummed).

pub mod audit;
pub mod auth;
pub mod client;
pub mod clock;
pub mod config;
pub mod display;
pub mod economy_errors;
pub mod error;
pub mod hashing;
pub mod health;
pub mod idempotency;
pub mod mail;
pub mod openapi;
pub mod pagination;
pub mod rate_limit;
pub mod state;
pub mod telemetry;

pub use config::ApiConfig;
pub use config::ClockSetting;
pub use error::{ApiError, ApiResult};
pub use state::AppState;
