//! Access tokens: HS256 JWTs, short-lived (U2).
//!
//! Verification accepts exactly HS256 with our key, our issuer and audience, and a live `exp`
//! (5 s leeway); `alg: none`, another algorithm, another key, a tampered payload or an expired
//! token are all refused with the same 401 problem.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::roles::{Role, RoleSet};
use crate::error::ApiError;

/// The `iss` claim of our tokens.
pub const ISSUER: &str = "posmul";
/// The `aud` claim of our tokens.
pub const AUDIENCE: &str = "posmul-api";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The roles at issue time (informational; role checks read the database).
    pub roles: Vec<Role>,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    /// A unique token id.
    pub jti: Uuid,
    /// The account's token version at issue (U1): a ban, a role change or a password reset
    /// bumps it, and a token naming an older one is refused on its next request.
    pub ver: i64,
}

/// The signing and verification keys, and the validation rules.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtKeys {
    /// Keys from the shared secret; tokens live `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// The access-token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs an access token for `user_id` at its current `token_version`.
    pub fn issue(
        &self,
        user_id: Uuid,
        roles: RoleSet,
        token_version: i64,
    ) -> Result<String, ApiError> {
        let now = now_secs();
        let claims = Claims {
            sub: user_id,
            roles: roles.to_vec(),
            iat: now,
            exp: now + self.ttl.as_secs(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: Uuid::new_v4(),
            ver: token_version,
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use this to make expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("signing a JWT")))
    }

    /// Verifies a token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(error = %e, "access token refused");
                ApiError::Unauthenticated(
                    "the access token is invalid or expired; refresh it or log in again".into(),
                )
            })
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
