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
    /// An admin tried to ban their own account.
    pub const CANNOT_BAN_SELF: &str = "cannot-ban-self";
    /// An e-mail token is unknown, expired, already used, or for another purpose (U2).
    pub const EMAIL_TOKEN_REFUSED: &str = "email-token-refused";
    /// The account's e-mail is already verified (U2).
    pub const EMAIL_ALREADY_VERIFIED: &str = "email-already-verified";
    /// The account has an e-mail already; only an account without one may add one (E5).
    pub const EMAIL_ALREADY_SET: &str = "email-already-set";
    /// The account has no e-mail to verify; add one first (E5).
    pub const NO_EMAIL: &str = "no-email";
    /// The sign-up grant waits for a verified e-mail (E5).
    pub const EMAIL_NOT_VERIFIED: &str = "email-not-verified";
    /// Today's sign-up grants are all paid; retry the next UTC day (E5).
    pub const SIGNUP_GRANT_DAILY_LIMIT: &str = "signup-grant-daily-limit";
    /// Too many failed sign-ins for this login: locked for a while, whatever the password (U2).
    pub const LOGIN_LOCKED: &str = "login-locked";
    /// Too many mails to this address for now (U2).
    pub const MAIL_QUOTA: &str = "mail-quota";

    /// Every kind above.
    pub const ALL: &[&str] = &[
        CANNOT_REVOKE_OWN_ADMIN,
        CANNOT_BAN_SELF,
        EMAIL_TOKEN_REFUSED,
        EMAIL_ALREADY_VERIFIED,
        EMAIL_ALREADY_SET,
        NO_EMAIL,
        EMAIL_NOT_VERIFIED,
        SIGNUP_GRANT_DAILY_LIMIT,
        LOGIN_LOCKED,
        MAIL_QUOTA,
    ];
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
    /// The account is banned: no sign-in, no refresh (U1).
    #[error("this account is banned")]
    Banned,
    /// No user has this id.
    #[error("user")]
    NoSuchUser,
    /// U1: an admin keeps their own admin role; another admin must revoke it.
    #[error("an admin cannot revoke their own admin role; ask another admin")]
    CannotRevokeOwnAdmin,
    /// U1: an admin does not ban their own account.
    #[error("an admin cannot ban their own account")]
    CannotBanSelf,
    /// A Sign-In with Ethereum message or signature was refused (U2).
    #[error(transparent)]
    Siwe(#[from] SiweError),
    /// An e-mail token (verification or reset) is unknown, expired, used or of another purpose.
    #[error("this link is invalid, expired or already used; ask for a new one")]
    EmailTokenRefused,
    #[error("this account's e-mail address is already verified")]
    EmailAlreadyVerified,
    #[error("this account already has an e-mail address")]
    EmailAlreadySet,
    #[error("this account has no e-mail address; add one with POST /v1/me/email")]
    NoEmail,
    #[error("verify your e-mail address first (POST /v1/me/email/verification sends the link)")]
    EmailNotVerified,
    /// E5: the daily global limit of sign-up grants is reached.
    #[error("today's sign-up grants are all paid; ask again after {retry_after_secs} s")]
    SignupGrantDailyLimit { retry_after_secs: u64 },
    /// U2: the login is locked after repeated failures; the password was not checked.
    #[error("too many failed sign-ins for this login; retry after {retry_after_secs} s")]
    LoginLocked { retry_after_secs: u64 },
    /// U2: too many mails to one address.
    #[error("too many mails to this address; retry after {retry_after_secs} s")]
    MailQuota { retry_after_secs: u64 },
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
                | SiweError::BadNonce
                | SiweError::WrongPurpose { .. },
            ) => ApiError::InvalidCredentials(e.to_string().into()),
            AccountsError::Siwe(SiweError::Malformed(_)) => {
                ApiError::invalid_field("message", e.to_string())
            }
            AccountsError::Siwe(SiweError::MalformedSignature) => {
                ApiError::invalid_field("signature", e.to_string())
            }
            AccountsError::AccountGone => ApiError::Unauthenticated(e.to_string().into()),
            AccountsError::Banned => ApiError::Banned,
            AccountsError::NoSuchUser => ApiError::NotFound("user".into()),
            AccountsError::CannotRevokeOwnAdmin => {
                ApiError::conflict(kind::CANNOT_REVOKE_OWN_ADMIN, e.to_string())
            }
            AccountsError::CannotBanSelf => {
                ApiError::conflict(kind::CANNOT_BAN_SELF, e.to_string())
            }
            AccountsError::EmailTokenRefused => {
                ApiError::unprocessable(kind::EMAIL_TOKEN_REFUSED, e.to_string())
            }
            AccountsError::EmailAlreadyVerified => {
                ApiError::conflict(kind::EMAIL_ALREADY_VERIFIED, e.to_string())
            }
            AccountsError::EmailAlreadySet => {
                ApiError::conflict(kind::EMAIL_ALREADY_SET, e.to_string())
            }
            AccountsError::NoEmail => ApiError::conflict(kind::NO_EMAIL, e.to_string()),
            AccountsError::EmailNotVerified => {
                ApiError::conflict(kind::EMAIL_NOT_VERIFIED, e.to_string())
            }
            AccountsError::SignupGrantDailyLimit { retry_after_secs } => ApiError::Throttled {
                kind: kind::SIGNUP_GRANT_DAILY_LIMIT,
                detail: e.to_string().into(),
                retry_after_secs,
            },
            AccountsError::LoginLocked { retry_after_secs } => ApiError::Throttled {
                kind: kind::LOGIN_LOCKED,
                detail: e.to_string().into(),
                retry_after_secs,
            },
            AccountsError::MailQuota { retry_after_secs } => ApiError::Throttled {
                kind: kind::MAIL_QUOTA,
                detail: e.to_string().into(),
                retry_after_secs,
            },
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
                AccountsError::CannotBanSelf,
                StatusCode::CONFLICT,
                kind::CANNOT_BAN_SELF,
            ),
            (AccountsError::Banned, StatusCode::FORBIDDEN, kit::BANNED),
            (
                AccountsError::EmailTokenRefused,
                StatusCode::UNPROCESSABLE_ENTITY,
                kind::EMAIL_TOKEN_REFUSED,
            ),
            (
                AccountsError::EmailAlreadyVerified,
                StatusCode::CONFLICT,
                kind::EMAIL_ALREADY_VERIFIED,
            ),
            (
                AccountsError::EmailAlreadySet,
                StatusCode::CONFLICT,
                kind::EMAIL_ALREADY_SET,
            ),
            (AccountsError::NoEmail, StatusCode::CONFLICT, kind::NO_EMAIL),
            (
                AccountsError::EmailNotVerified,
                StatusCode::CONFLICT,
                kind::EMAIL_NOT_VERIFIED,
            ),
            (
                AccountsError::SignupGrantDailyLimit {
                    retry_after_secs: 5,
                },
                StatusCode::TOO_MANY_REQUESTS,
                kind::SIGNUP_GRANT_DAILY_LIMIT,
            ),
            (
                AccountsError::LoginLocked {
                    retry_after_secs: 5,
                },
                StatusCode::TOO_MANY_REQUESTS,
                kind::LOGIN_LOCKED,
            ),
            (
                AccountsError::MailQuota {
                    retry_after_secs: 5,
                },
                StatusCode::TOO_MANY_REQUESTS,
                kind::MAIL_QUOTA,
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
        for k in kind::ALL {
            assert!(!kit::ALL.contains(k), "{k}");
        }
    }
}
