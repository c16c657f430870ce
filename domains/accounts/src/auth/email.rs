//! Accounts that prove something before they earn (U2, E5): e-mail verification, password
//! reset, and the sign-up grant paid at verification.
//!
//! | Route | Who |
//! |---|---|
//! | `POST /v1/me/email` | signed-in account without an e-mail (a SIWE account): adds one, mails a link |
//! | `POST /v1/me/email/verification` | signed-in account with an unverified e-mail: mails a (new) link |
//! | `POST /v1/auth/email/verify` | whoever holds a verification token (from the mail) |
//! | `POST /v1/auth/password/forgot` | anyone: mails a reset link if a password account has that e-mail |
//! | `POST /v1/auth/password/reset` | whoever holds a reset token |
//! | `POST /v1/me/signup-grant` | a verified account whose grant waited for the daily limit |
//!
//! **Tokens.** 32 random bytes (URL-safe base64), mailed as a link (`WEB_URL/verify-email?token=…`,
//! `WEB_URL/reset-password?token=…`) and as the bare token; only the SHA-256 is stored
//! (`auth.email_tokens`). A token is single-use (`used_at`), expires (`EMAIL_TOKEN_TTL_SECS`,
//! `PASSWORD_RESET_TTL_SECS`), serves one purpose, and proves only the address it was mailed to.
//! A new token of a purpose spends the account's earlier unused ones. Mail goes out in the
//! background ([`posmul_api_kit::mail`]); at most `MAILS_PER_ADDRESS_PER_HOUR` to one address.
//!
//! **Reset.** `forgot` answers 202 whether or not the address has an account, after the same
//! work (the lookup and the mail happen in a background task), so it reveals nothing; the quota
//! is per address, known or not. `reset` sets the new password and revokes every refresh-token
//! family of the account (every session ends), and clears the login's failed-attempt lock.
//!
//! **The sign-up grant (E5).** [`pay_signup_grant`] runs in the verification's transaction:
//! once per account (`auth.signup_grants`), and at most `SIGNUP_GRANTS_PER_DAY` per UTC day of
//! the API's clock, counted on one row per day (`auth.signup_grant_days`) that every grant of
//! the day updates under its lock, so parallel verifications never pay past the limit. An
//! account verified after the day's limit is verified all the same; its grant waits, and
//! `POST /v1/me/signup-grant` pays it on a later day.
//!
//! A client may retry every route: mail requests are bounded by the quota, `verify` answers a
//! repeat of a token it already used for the same, still verified address with the account's
//! state (nothing happens twice), and `signup-grant` answers a paid grant with the grant.

use axum::{extract::State, http::StatusCode};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use posmul_api_kit::mail::Mail;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgTransaction};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    extract::{AuthUser, RequestMeta},
    password::{self, Email, Password},
    standing, throttle,
};
use crate::{
    audit::{self, Action, Entry},
    error::{AccountsError, ApiError, ApiJson, ApiResult, Problem},
    state::AppState,
};

/// What an e-mail token is for (the `purpose` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Creates a token of `purpose` for `email` of `user_id` (spending the account's earlier unused
/// ones of that purpose); returns the token, which is never stored.
pub async fn create_token(
    conn: &mut PgConnection,
    user_id: Uuid,
    purpose: Purpose,
    email: &str,
    ttl: std::time::Duration,
) -> Result<String, ApiError> {
    sqlx::query!(
        "UPDATE auth.email_tokens SET used_at = now()
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id,
        purpose.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    let token = new_token();
    let expires_at = Utc::now()
        + chrono::Duration::from_std(ttl).map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
    sqlx::query!(
        "INSERT INTO auth.email_tokens (id, user_id, purpose, email, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        Uuid::now_v7(),
        user_id,
        purpose.as_str(),
        email,
        hash_token(&token),
        expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// A token row, locked.
struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    email: String,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

async fn find_token(
    conn: &mut PgConnection,
    token: &str,
    purpose: Purpose,
) -> Result<Option<TokenRow>, ApiError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(sqlx::query_as!(
        TokenRow,
        "SELECT id, user_id, email, expires_at, used_at FROM auth.email_tokens
         WHERE token_hash = $1 AND purpose = $2 FOR UPDATE",
        hash_token(token),
        purpose.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?)
}

async fn spend_token(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    sqlx::query!(
        "UPDATE auth.email_tokens SET used_at = now() WHERE id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn link(state: &AppState, page: &str, token: &str) -> String {
    format!(
        "{}/{page}?token={token}",
        state.config.web_url.trim_end_matches('/')
    )
}

fn hours(d: std::time::Duration) -> u64 {
    d.as_secs().div_ceil(3600)
}

/// The verification mail.
fn verification_mail(state: &AppState, email: &str, token: &str) -> Mail {
    Mail {
        to: email.to_owned(),
        subject: "Verify your e-mail address for PosMul".into(),
        body: format!(
            "Open this link to verify your e-mail address:\n\n{}\n\n\
             Or send this token to POST /v1/auth/email/verify:\n\n{token}\n\n\
             The link works once and expires in {} hours. If you did not sign up for PosMul, \
             ignore this mail.\n",
            link(state, "verify-email", token),
            hours(state.config.email_token_ttl),
        ),
    }
}

/// The password reset mail.
fn reset_mail(state: &AppState, email: &str, token: &str) -> Mail {
    Mail {
        to: email.to_owned(),
        subject: "Reset your PosMul password".into(),
        body: format!(
            "Open this link to choose a new password:\n\n{}\n\n\
             Or send this token with the new password to POST /v1/auth/password/reset:\n\n\
             {token}\n\n\
             The link works once and expires in {} hours; using it signs you out everywhere. \
             If you did not ask for it, ignore this mail: your password stays as it is.\n",
            link(state, "reset-password", token),
            hours(state.config.reset_token_ttl),
        ),
    }
}

/// Counts one mail to `email` against its quota (U2).
async fn mail_quota(state: &AppState, email: &str) -> Result<(), ApiError> {
    let key = format!(
        "mail:{}",
        URL_SAFE_NO_PAD.encode(Sha256::digest(email.as_bytes()))
    );
    state
        .limiter
        .check_quota(
            &key,
            state.config.mails_per_address_per_hour,
            std::time::Duration::from_secs(3600),
        )
        .await
        .map_err(|e| match e {
            ApiError::RateLimited { retry_after_secs } => {
                AccountsError::MailQuota { retry_after_secs }.into()
            }
            other => other,
        })
}

/// Creates a verification token for `email` in `tx` and returns the mail to send once the
/// transaction has committed (registration, adding an e-mail, asking again).
pub async fn verification_for(
    tx: &mut PgConnection,
    state: &AppState,
    user_id: Uuid,
    email: &str,
) -> Result<Mail, ApiError> {
    let token = create_token(
        tx,
        user_id,
        Purpose::VerifyEmail,
        email,
        state.config.email_token_ttl,
    )
    .await?;
    Ok(verification_mail(state, email, &token))
}

/// What became of the sign-up grant (E5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignupGrant {
    /// `paid`, or `waiting` (today's grants are all paid: `POST /v1/me/signup-grant` on a later
    /// UTC day pays it), or `unverified` (the e-mail is not verified yet).
    pub status: GrantStatus,
    /// Whole PMP paid (0 unless `paid`).
    pub amount: i64,
    /// The UTC day (of the API's clock) the grant counted against, once paid.
    pub day: Option<NaiveDate>,
}

/// See [`SignupGrant::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Paid,
    Waiting,
    Unverified,
}

/// The grant of `user_id` as it stands.
pub async fn signup_grant_of(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<SignupGrant, ApiError> {
    let row = sqlx::query!(
        r#"SELECT u.email_verified_at, g.day AS "day?", g.amount AS "amount?"
           FROM auth.users u LEFT JOIN auth.signup_grants g ON g.user_id = u.id
           WHERE u.id = $1"#,
        user_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AccountsError::AccountGone)?;
    Ok(match (row.day, row.amount) {
        (Some(day), Some(amount)) => SignupGrant {
            status: GrantStatus::Paid,
            amount,
            day: Some(day),
        },
        _ => SignupGrant {
            status: if row.email_verified_at.is_some() {
                GrantStatus::Waiting
            } else {
                GrantStatus::Unverified
            },
            amount: 0,
            day: None,
        },
    })
}

/// E5: pays the sign-up grant of a verified account, once, within the day's global limit.
/// Runs in the caller's transaction; returns the grant as it then stands.
pub async fn pay_signup_grant(
    tx: &mut PgTransaction<'_>,
    state: &AppState,
    user_id: Uuid,
) -> Result<SignupGrant, ApiError> {
    // The account's row serializes its own verifications and claims.
    let verified = sqlx::query_scalar!(
        "SELECT email_verified_at FROM auth.users WHERE id = $1 FOR UPDATE",
        user_id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AccountsError::AccountGone)?;
    let current = signup_grant_of(tx, user_id).await?;
    if verified.is_none() || current.status == GrantStatus::Paid {
        return Ok(current);
    }
    let day = state.clock.today().await.date();
    let limit = i32::try_from(state.config.signup_grants_per_day).unwrap_or(i32::MAX);
    // One row per day, updated under its lock only while under the limit: no row back means
    // the day's grants are all paid.
    let slot = if limit == 0 {
        None
    } else {
        sqlx::query_scalar!(
            "INSERT INTO auth.signup_grant_days AS d (day, granted) VALUES ($1, 1)
             ON CONFLICT (day) DO UPDATE SET granted = d.granted + 1 WHERE d.granted < $2
             RETURNING granted",
            day,
            limit,
        )
        .fetch_optional(&mut **tx)
        .await?
    };
    if slot.is_none() {
        metrics::counter!("signup_grants_waiting_total").increment(1);
        return Ok(current);
    }
    let amount = state.config.signup_grant_pmp;
    sqlx::query!(
        "INSERT INTO auth.signup_grants (user_id, day, amount) VALUES ($1, $2, $3)",
        user_id,
        day,
        amount,
    )
    .execute(&mut **tx)
    .await?;
    crate::ledger::grant_signup(tx, user_id, posmul_core::money::Pmp::new(amount))
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("sign-up grant")))?;
    metrics::counter!("signup_grants_paid_total").increment(1);
    Ok(SignupGrant {
        status: GrantStatus::Paid,
        amount,
        day: Some(day),
    })
}

/// Seconds until the next UTC day of the API's clock (when a waiting grant may be paid).
async fn secs_to_next_day(state: &AppState) -> u64 {
    let now = state.clock.now().await;
    let next = state
        .clock
        .today()
        .await
        .next()
        .map_or(now, posmul_core::UtcDay::start);
    u64::try_from((next - now).num_seconds())
        .unwrap_or(0)
        .max(1)
}

/// `POST /v1/me/email`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddEmail {
    #[schema(example = "alice@example.org", max_length = 254)]
    pub email: String,
}

/// A verification mail is on its way.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationSent {
    /// Where the link was sent.
    pub email: String,
    /// Seconds the link stays valid.
    pub expires_in: u64,
}

/// Adds an e-mail address to an account that has none (an account created by Sign-In with
/// Ethereum) and mails it a verification link; verifying it pays the sign-up grant (E5).
#[utoipa::path(post, path = "/v1/me/email", tag = "me", security(("bearer" = [])),
    request_body = AddEmail,
    responses(
        (status = 202, description = "added; a verification link is on its way", body = VerificationSent),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email-already-set` (the account has one) or `email-taken` (another account has it)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid e-mail", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited, or `mail-quota`", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn add_email(
    State(state): State<AppState>,
    user: AuthUser,
    meta: RequestMeta,
    ApiJson(req): ApiJson<AddEmail>,
) -> ApiResult<(StatusCode, ApiJson<VerificationSent>)> {
    let email = Email::parse(&req.email).map_err(AccountsError::from)?;
    let mut tx = state.db.begin().await?;
    let current = sqlx::query_scalar!(
        "SELECT email FROM auth.users WHERE id = $1 FOR UPDATE",
        user.user_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AccountsError::AccountGone)?;
    if current.is_some() {
        return Err(AccountsError::EmailAlreadySet.into());
    }
    mail_quota(&state, email.as_str()).await?;
    sqlx::query!(
        "UPDATE auth.users SET email = $2, email_verified_at = NULL WHERE id = $1",
        user.user_id,
        email.as_str(),
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        Entry {
            action: Action::EmailAdded,
            actor: Some(user.user_id),
            subject: Some(user.user_id),
            meta: &meta,
            details: serde_json::json!({ "email": email.as_str() }),
        },
    )
    .await?;
    let mail = verification_for(&mut tx, &state, user.user_id, email.as_str()).await?;
    tx.commit().await?;
    state.mailer.send_in_background(mail);
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(VerificationSent {
            email: email.as_str().to_owned(),
            expires_in: state.config.email_token_ttl.as_secs(),
        }),
    ))
}

/// Mails a new verification link to the account's e-mail address (earlier links stop working).
#[utoipa::path(post, path = "/v1/me/email/verification", tag = "me", security(("bearer" = [])),
    responses(
        (status = 202, description = "a verification link is on its way", body = VerificationSent),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email-already-verified`, or `no-email` (add one with POST /v1/me/email)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited, or `mail-quota`", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn request_verification(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<(StatusCode, ApiJson<VerificationSent>)> {
    let mut tx = state.db.begin().await?;
    let row = sqlx::query!(
        "SELECT email, email_verified_at FROM auth.users WHERE id = $1 FOR UPDATE",
        user.user_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AccountsError::AccountGone)?;
    let Some(email) = row.email else {
        return Err(AccountsError::NoEmail.into());
    };
    if row.email_verified_at.is_some() {
        return Err(AccountsError::EmailAlreadyVerified.into());
    }
    mail_quota(&state, &email).await?;
    let mail = verification_for(&mut tx, &state, user.user_id, &email).await?;
    tx.commit().await?;
    state.mailer.send_in_background(mail);
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(VerificationSent {
            email,
            expires_in: state.config.email_token_ttl.as_secs(),
        }),
    ))
}

/// `POST /v1/auth/email/verify`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmail {
    /// The token from the verification mail.
    #[schema(max_length = 128)]
    pub token: String,
}

/// A verified e-mail address, and the sign-up grant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailVerified {
    pub user_id: Uuid,
    pub email: String,
    pub verified_at: DateTime<Utc>,
    pub signup_grant: SignupGrant,
}

/// Verifies an e-mail address with the token from its mail, and pays the sign-up grant (E5):
/// once per account, within the day's global limit (else it waits; see
/// `POST /v1/me/signup-grant`). No sign-in needed: the token is the proof.
#[utoipa::path(post, path = "/v1/auth/email/verify", tag = "auth",
    request_body = VerifyEmail,
    responses(
        (status = 200, description = "verified (a repeat of a used token answers the account's state; nothing happens twice)", body = EmailVerified),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`email-token-refused`: unknown, expired or used token, or wrong body shape", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_email(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<VerifyEmail>,
) -> ApiResult<ApiJson<EmailVerified>> {
    let mut tx = state.db.begin().await?;
    let Some(token) = find_token(&mut tx, &req.token, Purpose::VerifyEmail).await? else {
        return Err(AccountsError::EmailTokenRefused.into());
    };
    let user = sqlx::query!(
        "SELECT email, email_verified_at FROM auth.users WHERE id = $1 FOR UPDATE",
        token.user_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    // A token proves only the address it was mailed to.
    let same_address = user.email.as_deref() == Some(token.email.as_str());
    if token.used_at.is_some() {
        // A retry of a verification that happened: the state, and nothing else.
        return match user.email_verified_at {
            Some(verified_at) if same_address => {
                let signup_grant = signup_grant_of(&mut tx, token.user_id).await?;
                Ok(ApiJson(EmailVerified {
                    user_id: token.user_id,
                    email: token.email,
                    verified_at,
                    signup_grant,
                }))
            }
            _ => Err(AccountsError::EmailTokenRefused.into()),
        };
    }
    if token.expires_at <= Utc::now() || !same_address {
        return Err(AccountsError::EmailTokenRefused.into());
    }
    spend_token(&mut tx, token.id).await?;
    let verified_at = match user.email_verified_at {
        Some(t) => t,
        None => {
            sqlx::query_scalar!(
                "UPDATE auth.users SET email_verified_at = now() WHERE id = $1
                 RETURNING email_verified_at AS \"at!\"",
                token.user_id,
            )
            .fetch_one(&mut *tx)
            .await?
        }
    };
    let signup_grant = pay_signup_grant(&mut tx, &state, token.user_id).await?;
    audit::record(
        &mut *tx,
        Entry {
            action: Action::EmailVerified,
            actor: Some(token.user_id),
            subject: Some(token.user_id),
            meta: &meta,
            details: serde_json::json!({
                "email": token.email,
                "signup_grant": signup_grant,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = %token.user_id, grant = ?signup_grant.status, "e-mail verified");
    Ok(ApiJson(EmailVerified {
        user_id: token.user_id,
        email: token.email,
        verified_at,
        signup_grant,
    }))
}

/// Pays the sign-up grant that waited for the daily limit (E5).
#[utoipa::path(post, path = "/v1/me/signup-grant", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "the grant, paid now or earlier (a retry pays nothing twice)", body = SignupGrant),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email-not-verified`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited, or `signup-grant-daily-limit` (retry the next UTC day)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn claim_signup_grant(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<ApiJson<SignupGrant>> {
    let mut tx = state.db.begin().await?;
    let grant = pay_signup_grant(&mut tx, &state, user.user_id).await?;
    tx.commit().await?;
    match grant.status {
        GrantStatus::Paid => Ok(ApiJson(grant)),
        GrantStatus::Unverified => Err(AccountsError::EmailNotVerified.into()),
        GrantStatus::Waiting => Err(AccountsError::SignupGrantDailyLimit {
            retry_after_secs: secs_to_next_day(&state).await,
        }
        .into()),
    }
}

/// `POST /v1/auth/password/forgot`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPassword {
    #[schema(example = "alice@example.org", max_length = 254)]
    pub email: String,
}

/// Mails a password reset link to `email` if a password account has it. The answer is the same
/// either way (202, after the same work): it never says whether the address has an account.
#[utoipa::path(post, path = "/v1/auth/password/forgot", tag = "auth",
    request_body = ForgotPassword,
    responses(
        (status = 202, description = "if a password account has this e-mail, a reset link is on its way"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not an e-mail address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited, or `mail-quota` (per address, known or not)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn forgot_password(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ForgotPassword>,
) -> ApiResult<StatusCode> {
    let email = Email::parse(&req.email).map_err(AccountsError::from)?;
    mail_quota(&state, email.as_str()).await?;
    // The lookup, the token and the mail run after the answer, so its timing is the same for
    // every address.
    let state_bg = state.clone();
    tokio::spawn(async move {
        if let Err(e) = send_reset(&state_bg, &email).await {
            tracing::error!(error = %e, "password reset mail not prepared");
        }
    });
    Ok(StatusCode::ACCEPTED)
}

async fn send_reset(state: &AppState, email: &Email) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    let user_id = sqlx::query_scalar!(
        "SELECT u.id FROM auth.users u JOIN auth.password_credentials c ON c.user_id = u.id
         WHERE u.email = $1",
        email.as_str(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Ok(());
    };
    let token = create_token(
        &mut tx,
        user_id,
        Purpose::ResetPassword,
        email.as_str(),
        state.config.reset_token_ttl,
    )
    .await?;
    tx.commit().await?;
    state
        .mailer
        .send(&reset_mail(state, email.as_str(), &token))
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

/// `POST /v1/auth/password/reset`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The token from the reset mail.
    #[schema(max_length = 128)]
    pub token: String,
    /// The new password: 10–128 characters.
    #[schema(max_length = 1024)]
    pub password: String,
}

/// Sets a new password with the token from a reset mail. The token works once; every session
/// of the account ends (all refresh-token families are revoked, and access tokens already
/// issued are refused from the next request on: the token version is bumped, U1), and the
/// login's lock after failed sign-ins is lifted.
#[utoipa::path(post, path = "/v1/auth/password/reset", tag = "auth",
    request_body = ResetPassword,
    responses(
        (status = 204, description = "the password is changed; sign in with it"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`email-token-refused` (unknown, expired or used token), or an invalid password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: password hashing is busy; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<ResetPassword>,
) -> ApiResult<StatusCode> {
    // Check the token and the password before the (slow, bounded) hash; spend the token after.
    let email = {
        let mut conn = state.db.acquire().await?;
        let token = find_token(&mut conn, &req.token, Purpose::ResetPassword)
            .await?
            .filter(|t| t.used_at.is_none() && t.expires_at > Utc::now())
            .ok_or(AccountsError::EmailTokenRefused)?;
        Email::parse(&token.email).map_err(AccountsError::from)?
    };
    let password = Password::parse_new(&req.password, &email).map_err(AccountsError::from)?;
    let password_hash = password::hash(&state.hashing, password).await?;
    let mut tx = state.db.begin().await?;
    let token = find_token(&mut tx, &req.token, Purpose::ResetPassword)
        .await?
        .filter(|t| t.used_at.is_none() && t.expires_at > Utc::now())
        .ok_or(AccountsError::EmailTokenRefused)?;
    spend_token(&mut tx, token.id).await?;
    let changed = sqlx::query!(
        "UPDATE auth.password_credentials SET password_hash = $2, updated_at = now()
         WHERE user_id = $1",
        token.user_id,
        password_hash,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(AccountsError::EmailTokenRefused.into());
    }
    let revoked = sqlx::query!(
        "UPDATE auth.refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        token.user_id,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // U1: whoever held the old password may hold an access token too; it ends now.
    standing::bump(&mut *tx, token.user_id).await?;
    throttle::succeeded(&mut tx, &throttle::login_key(&token.email)).await?;
    audit::record(
        &mut *tx,
        Entry {
            action: Action::PasswordReset,
            actor: Some(token.user_id),
            subject: Some(token.user_id),
            meta: &meta,
            details: serde_json::json!({ "revoked_refresh_tokens": revoked }),
        },
    )
    .await?;
    tx.commit().await?;
    state.standing.forget(token.user_id);
    tracing::info!(user_id = %token.user_id, revoked, "password reset");
    Ok(StatusCode::NO_CONTENT)
}
