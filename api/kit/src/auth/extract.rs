//! Authentication and authorization as extractors: handlers name what they need in their
//! signature and never read headers themselves.
//!
//! - [`AuthUser`]: a valid `Authorization: Bearer <access token>` whose token version is the
//!   account's current one ([`super::standing`]: a ban, a role change or a password reset ends
//!   older tokens on their next request); otherwise 401 `unauthenticated`, or 403 `banned` for
//!   a banned account. Also applies the per-user rate limit (429 `rate-limited`).
//! - [`RequireRole<R>`]: an [`AuthUser`] whose *current* roles (read from the database, so a
//!   revocation applies at once) satisfy `R` ([`Citizen`], [`Merchant`], [`Moderator`],
//!   [`Resolver`], [`Admin`]); otherwise 403 `forbidden`. Admin satisfies every role.
//! - [`RequestMeta`]: client IP, request id and user agent, for the audit log.

use std::marker::PhantomData;

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use uuid::Uuid;

use super::roles::{Role, RoleSet, load_roles};
use crate::{error::ApiError, state::AppState};

/// A signed-in user (from a verified access token).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: Uuid,
    /// The roles named in the token (as of its issue; [`RequireRole`] re-reads them).
    pub roles: RoleSet,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::Unauthenticated("send `Authorization: Bearer <access token>`".into())
            })?
            .to_str()
            .map_err(|_| ApiError::Unauthenticated("malformed Authorization header".into()))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(ApiError::Unauthenticated(
                    "use the Bearer scheme: `Authorization: Bearer <access token>`".into(),
                ));
            }
        };
        let claims = state.jwt.verify(token)?;
        state
            .limiter
            .check(&format!("user:{}", claims.sub), state.config.user_rate)
            .await?;
        // U1: the token is good only while the account's standing is what it was at issue.
        let mut standing = state.standing.get(&state.db, claims.sub).await?;
        if standing.is_some_and(|s| s.token_version < claims.ver) {
            // Versions only grow: a token newer than the cached standing was issued after a
            // bump this process has not seen yet (another replica, the bootstrap command).
            state.standing.forget(claims.sub);
            standing = state.standing.get(&state.db, claims.sub).await?;
        }
        match standing {
            None => {
                return Err(ApiError::Unauthenticated(
                    "this account no longer exists".into(),
                ));
            }
            Some(s) if s.banned => return Err(ApiError::Banned),
            Some(s) if s.token_version != claims.ver => {
                return Err(ApiError::Unauthenticated(
                    "this access token was revoked (a role change, a ban or a password reset); \
                     refresh it or sign in again"
                        .into(),
                ));
            }
            Some(_) => {}
        }
        let user = AuthUser {
            user_id: claims.sub,
            roles: claims.roles.into_iter().collect(),
        };
        tracing::Span::current().record("user_id", tracing::field::display(user.user_id));
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// A role a route can require.
pub trait RoleMarker: Send + Sync + 'static {
    const ROLE: Role;
}

macro_rules! role_marker {
    ($($name:ident => $role:expr),* $(,)?) => {$(
        #[doc = concat!("Requires the `", stringify!($name), "` role (or admin).")]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl RoleMarker for $name {
            const ROLE: Role = $role;
        }
    )*};
}

role_marker! {
    Citizen => Role::Citizen,
    Merchant => Role::Merchant,
    Moderator => Role::Moderator,
    Resolver => Role::Resolver,
    Admin => Role::Admin,
}

/// A signed-in user who currently holds role `R` (or admin).
#[derive(Debug, Clone)]
pub struct RequireRole<R: RoleMarker> {
    pub user: AuthUser,
    _role: PhantomData<R>,
}

impl<R: RoleMarker> RequireRole<R> {
    pub fn user_id(&self) -> Uuid {
        self.user.user_id
    }
}

impl<R: RoleMarker> FromRequestParts<AppState> for RequireRole<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let mut user = AuthUser::from_request_parts(parts, state).await?;
        let roles = load_roles(&state.db, user.user_id).await?;
        if !roles.satisfies(R::ROLE) {
            return Err(ApiError::Forbidden {
                required: R::ROLE.as_str(),
            });
        }
        user.roles = roles;
        Ok(RequireRole {
            user,
            _role: PhantomData,
        })
    }
}

pub use crate::client::{RequestMeta, client_ip};
