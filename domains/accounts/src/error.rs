//! The refusals of the accounts domain, and the one place they become problems.
//!
//! Handlers return [`AccountsError`] for every refusal this domain makes (a wrong password, a
//! spent refresh token, a refused SIWE message, invalid fields, …); [`From<AccountsError>`] for
//! the kit's [`ApiError`] is the only mapping to problem kinds and statuses. Database
//! constraints (`email-taken`, `wallet-taken`, `wallet-already-linked`) are mapped by the kit.

pub use posmul_api_kit::error::{ApiError, ApiJson, ApiResult, FieldError, Problem};

use crate::auth::siwe::SiweError;

/// The problem kinds only this domain emits (the kit's are in `posmul_api_kit::error::kind`).
pub mod kind {
    /// An admin tried to revoke their own admin role.
    pub const CANNOT_REVOKE_OWN_ADMIN: &str = "cannot-revoke-own-admin";
}

/// Why the accounts domain refused a request.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Email/password sign-in refused; an unknown email gets the same answer.
    #[error("wrong email or password")]
    WrongPassword,
    /// The refresh token is unknown, expired, rotated or revoked.
    #[error("the refresh token is invalid, expired or revoked; log in again")]
    RefreshRefused,
    /// A valid access token names an account that no longer exists.
    #[error("this account no longer exists")]
    AccountGone,
    /// No user has this id.
    #[error("user")]
    NoSuchUser,
    /// U1: an admin keeps their own admin role; another admin must revoke it.
    #[error("an admin cannot revoke their own admin role; ask another admin")]
    CannotRevokeOwnAdmin,
    /// A Sign-In with Ethereum message or signature was refused (U2).
    #[error(transparent)]
    Siwe(#[from] SiweError),
    /// Fields that do not meet the rules, each with what would be accepted.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
}

impl AccountsError {
    /// One invalid field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AccountsError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<FieldError> for AccountsError {
    fn from(e: FieldError) -> Self {
        AccountsError::Invalid(vec![e])
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::WrongPassword
            | AccountsError::RefreshRefused
            | AccountsError::Siwe(
                SiweError::WrongDomain(_)
                | SiweError::WrongUri(_)
                | SiweError::WrongChainId(_)
                | SiweError::WrongVersion(_)
                | SiweError::IssuedInFuture
                | SiweError::TooOld
                | SiweError::Expired
                | SiweError::NotYetValid
                | SiweError::WrongSigner
                | SiweError::BadNonce,
            ) => ApiError::InvalidCredentials(e.to_string().into()),
            AccountsError::Siwe(SiweError::Malformed(_)) => {
                ApiError::invalid_field("message", e.to_string())
            }
            AccountsError::Siwe(SiweError::MalformedSignature) => {
                ApiError::invalid_field("signature", e.to_string())
            }
            AccountsError::AccountGone => ApiError::Unauthenticated(e.to_string().into()),
            AccountsError::NoSuchUser => ApiError::NotFound("user".into()),
            AccountsError::CannotRevokeOwnAdmin => {
                ApiError::conflict(kind::CANNOT_REVOKE_OWN_ADMIN, e.to_string())
            }
            AccountsError::Invalid(fields) => ApiError::Validation(fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use posmul_api_kit::error::kind as kit;

    use super::*;

    #[test]
    fn u2_every_refusal_maps_to_its_status_and_kind() {
        let cases: Vec<(AccountsError, StatusCode, &str)> = vec![
            (
                AccountsError::WrongPassword,
                StatusCode::UNAUTHORIZED,
                kit::INVALID_CREDENTIALS,
            ),
            (
                AccountsError::RefreshRefused,
                StatusCode::UNAUTHORIZED,
                kit::INVALID_CREDENTIALS,
            ),
            (
                AccountsError::Siwe(SiweError::BadNonce),
                StatusCode::UNAUTHORIZED,
                kit::INVALID_CREDENTIALS,
            ),
            (
                AccountsError::Siwe(SiweError::Malformed("x".into())),
                StatusCode::UNPROCESSABLE_ENTITY,
                kit::VALIDATION_FAILED,
            ),
            (
                AccountsError::Siwe(SiweError::MalformedSignature),
                StatusCode::UNPROCESSABLE_ENTITY,
                kit::VALIDATION_FAILED,
            ),
            (
                AccountsError::AccountGone,
                StatusCode::UNAUTHORIZED,
                kit::UNAUTHENTICATED,
            ),
            (
                AccountsError::NoSuchUser,
                StatusCode::NOT_FOUND,
                kit::NOT_FOUND,
            ),
            (
                AccountsError::CannotRevokeOwnAdmin,
                StatusCode::CONFLICT,
                kind::CANNOT_REVOKE_OWN_ADMIN,
            ),
            (
                AccountsError::invalid("bio", "too long"),
                StatusCode::UNPROCESSABLE_ENTITY,
                kit::VALIDATION_FAILED,
            ),
        ];
        for (e, status, kind) in cases {
            let name = format!("{e:?}");
            let api = ApiError::from(e);
            assert_eq!((api.status(), api.kind()), (status, kind), "{name}");
        }
    }

    #[test]
    fn domain_kinds_do_not_reuse_the_kits() {
        assert!(!kit::ALL.contains(&kind::CANNOT_REVOKE_OWN_ADMIN));
    }
}
