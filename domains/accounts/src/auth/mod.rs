//! Accounts and sign-in (U2): password registration and login, rotating refresh tokens,
//! logout, Sign-In with Ethereum ([`siwe`]), e-mail verification, password reset and the
//! sign-up grant ([`email`]), per-login throttling of failed sign-ins ([`throttle`]).
//!
//! | Route | Who |
//! |---|---|
//! | `POST /v1/auth/register` | anyone (mails a verification link; the grant waits for it, E5) |
//! | `POST /v1/auth/login` | anyone (a login locked after failures answers 429 `login-locked`) |
//! | `POST /v1/auth/refresh` | holder of a refresh token |
//! | `POST /v1/auth/logout` | signed-in user (revokes one of *their* sessions) |
//! | `GET /v1/auth/siwe/nonce`, `POST /v1/auth/siwe/verify` | anyone (a nonce and a message per purpose, see [`siwe`]) |
//! | `POST /v1/auth/email/verify`, `POST /v1/auth/password/forgot`, `POST /v1/auth/password/reset` | anyone (see [`email`]) |
//! | `POST /v1/me/email`, `POST /v1/me/email/verification`, `POST /v1/me/signup-grant` | signed-in user (see [`email`]) |
//!
//! All of `/v1/auth/*` also counts against the stricter per-IP `AUTH_RATE_LIMIT_PER_MINUTE`.

pub mod accounts;
pub mod email;
pub mod password;
pub mod session;
pub mod siwe;
pub mod throttle;

pub use posmul_api_kit::auth::{extract, jwt, roles, standing};

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use self::{
    accounts::NewAccount,
    extract::{AuthUser, RequestMeta},
    password::{Email, Password},
    session::TokenPair,
};
use crate::{
    audit::{self, Action, Entry},
    error::{AccountsError, ApiJson, ApiResult, Problem},
    state::AppState,
};

/// The auth routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(siwe::nonce))
        .routes(routes!(siwe::verify))
        .routes(routes!(email::add_email))
        .routes(routes!(email::request_verification))
        .routes(routes!(email::verify_email))
        .routes(routes!(email::claim_signup_grant))
        .routes(routes!(email::forgot_password))
        .routes(routes!(email::reset_password))
}

/// `POST /v1/auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Any case; stored trimmed and lower-cased.
    #[schema(example = "alice@example.org", max_length = 254)]
    pub email: String,
    /// 10–128 characters.
    #[schema(example = "correct horse battery", max_length = 1024)]
    pub password: String,
}

/// Creates an account with email and password, signs it in, and mails a verification link: the
/// sign-up PMP is paid when the address is verified (E5).
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "account created and signed in", body = TokenPair),
        (status = 409, description = "email already registered (`email-taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: password hashing is busy; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, ApiJson<TokenPair>)> {
    let email = Email::parse(&req.email).map_err(AccountsError::from)?;
    let password = Password::parse_new(&req.password, &email).map_err(AccountsError::from)?;
    let password_hash = password::hash(&state.hashing, password).await?;
    let mut tx = state.db.begin().await?;
    let user_id = accounts::create(
        &mut tx,
        NewAccount::Password {
            email: &email,
            password_hash: &password_hash,
        },
        &meta,
    )
    .await?;
    let mail = email::verification_for(&mut tx, &state, user_id, email.as_str()).await?;
    let pair = session::issue(&mut tx, &state, user_id, None).await?;
    tx.commit().await?;
    state.mailer.send_in_background(mail);
    tracing::info!(%user_id, "registered");
    Ok((StatusCode::CREATED, ApiJson(pair)))
}

/// `POST /v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "alice@example.org", max_length = 254)]
    pub email: String,
    #[schema(example = "correct horse battery", max_length = 1024)]
    pub password: String,
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "signed in", body = TokenPair),
        (status = 401, description = "wrong email or password (`invalid-credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`banned`: the account is banned (U1)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: password hashing is busy; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "wrong body shape", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited, or `login-locked`: too many failed sign-ins for this e-mail, whatever the password (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<TokenPair>> {
    // U2: counted before the password is checked, so parallel guesses are bounded too.
    let login_key = throttle::login_key(&req.email);
    let attempt = {
        let mut conn = state.db.acquire().await?;
        throttle::attempt(&mut conn, &state, &login_key).await?
    };
    let email = Email::parse(&req.email).ok();
    let row = match &email {
        Some(e) => {
            sqlx::query!(
                "SELECT u.id, c.password_hash FROM auth.users u
                 JOIN auth.password_credentials c ON c.user_id = u.id WHERE u.email = $1",
                e.as_str(),
            )
            .fetch_optional(&state.db)
            .await?
        }
        None => None,
    };
    let (user_id, stored) = match row {
        Some(r) => (Some(r.id), Some(r.password_hash)),
        None => (None, None),
    };
    let ok = req.password.len() <= 1024
        && password::verify(&state.hashing, req.password, stored).await?;
    let Some(user_id) = user_id.filter(|_| ok) else {
        audit::record(
            &state.db,
            Entry {
                action: Action::SignInFailed,
                actor: None,
                subject: user_id,
                meta: &meta,
                details: serde_json::json!({
                    "method": "password",
                    "email": email.as_ref().map(Email::as_str),
                }),
            },
        )
        .await?;
        metrics::counter!("auth_signins_total", "method" => "password", "outcome" => "failed")
            .increment(1);
        if attempt.locks {
            audit::record(
                &state.db,
                Entry {
                    action: Action::SignInLocked,
                    actor: None,
                    subject: user_id,
                    meta: &meta,
                    details: serde_json::json!({
                        "failures": attempt.failures,
                        "locked_for_secs": attempt.lock_secs.ceil() as u64,
                    }),
                },
            )
            .await?;
            tracing::warn!(
                failures = attempt.failures,
                "login locked after failed sign-ins"
            );
        }
        return Err(AccountsError::WrongPassword.into());
    };
    let mut tx = state.db.begin().await?;
    throttle::succeeded(&mut tx, &login_key).await?;
    audit::record(
        &mut *tx,
        Entry {
            action: Action::SignIn,
            actor: Some(user_id),
            subject: Some(user_id),
            meta: &meta,
            details: serde_json::json!({ "method": "password" }),
        },
    )
    .await?;
    let pair = session::issue(&mut tx, &state, user_id, None).await?;
    tx.commit().await?;
    metrics::counter!("auth_signins_total", "method" => "password", "outcome" => "ok").increment(1);
    Ok(ApiJson(pair))
}

/// `POST /v1/auth/refresh` and `POST /v1/auth/logout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(max_length = 128)]
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair. The token is single-use: presenting it again
/// revokes every token of its family.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "a new pair; the old refresh token is spent", body = TokenPair),
        (status = 401, description = "invalid, expired, reused or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`banned`: the account is banned (U1)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "wrong body shape", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<ApiJson<TokenPair>> {
    session::rotate(&state, &req.refresh_token, &meta)
        .await
        .map(ApiJson)
}

/// Ends a session: revokes the family of the given refresh token (if it is the caller's).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "the session is revoked (or was not the caller's)"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "wrong body shape", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
    meta: RequestMeta,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    if session::logout(&state, user.user_id, &req.refresh_token).await? {
        audit::record(
            &state.db,
            Entry {
                action: Action::Logout,
                actor: Some(user.user_id),
                subject: Some(user.user_id),
                meta: &meta,
                details: serde_json::json!({}),
            },
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
