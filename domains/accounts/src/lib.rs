//! # posmul-accounts
//!
//! Accounts and who may do what (U1, U2, E5): registration and password sign-in, rotating
//! refresh tokens, Sign-In with Ethereum and wallet links, e-mail verification and password
//! reset, per-login throttling of failed sign-ins ([`auth`]); the signed-in user's account and
//! public profiles ([`users`]); roles and the audit log for admins ([`admin`]). Every refusal
//! is an [`error::AccountsError`], mapped to a problem in one place.
//!
//! The sign-up grant of PMP is paid when the account verifies its e-mail, once, under a daily
//! global limit ([`auth::email::pay_signup_grant`], E5), through the money book
//! (`posmul_economy::ledger`).

pub mod admin;
pub mod auth;
pub mod error;
pub mod users;

use posmul_api_kit::{AppState, audit, config, pagination, state};
use posmul_economy::ledger;
use utoipa_axum::router::OpenApiRouter;

/// The accounts routes: `/v1/auth/*`, `/v1/me`, `/v1/users/*`, `/v1/admin/*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(admin::router())
}
