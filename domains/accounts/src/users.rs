//! The signed-in user (`/v1/me`): account, roles, profile, wallet link; and public profiles.
//!
//! Owners edit only their own profile: there is no route that takes another user's id for a
//! write. `GET /v1/users/{user_id}/profile` shows the public part (no email, no wallet).

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use posmul_core::WalletAddress;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    audit::{self, Action, Entry},
    auth::{
        email::{SignupGrant, signup_grant_of},
        extract::{AuthUser, RequestMeta},
        roles::{Role, load_roles},
        siwe::{self, SignedMessage},
    },
    error::{AccountsError, ApiError, ApiJson, ApiResult, FieldError, Problem},
    state::AppState,
};

/// The `/v1/me` and `/v1/users` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(update_profile))
        .routes(routes!(link_wallet))
        .routes(routes!(public_profile))
}

/// A profile.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
pub struct Profile {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    /// A BCP 47 tag, e.g. `ko-KR`.
    pub locale: Option<String>,
}

/// The signed-in user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user_id: Uuid,
    /// `null` for accounts created by Sign-In with Ethereum (until they add one).
    pub email: Option<String>,
    /// Whether the account proved it reads `email` (U2).
    pub email_verified: bool,
    /// The sign-up grant: paid once the e-mail is verified (E5).
    pub signup_grant: SignupGrant,
    pub roles: Vec<Role>,
    pub profile: Profile,
    /// The linked wallet (EIP-55 checksummed), if any.
    #[schema(value_type = Option<String>, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub wallet: Option<WalletAddress>,
    pub created_at: DateTime<Utc>,
}

async fn load_profile(db: &sqlx::PgPool, user_id: Uuid) -> Result<Option<Profile>, ApiError> {
    Ok(sqlx::query_as!(
        Profile,
        "SELECT display_name, bio, locale FROM auth.profiles WHERE user_id = $1",
        user_id,
    )
    .fetch_optional(db)
    .await?)
}

/// The signed-in user's account.
#[utoipa::path(get, path = "/v1/me", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "the account", body = Me),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<ApiJson<Me>> {
    let row = sqlx::query!(
        r#"SELECT u.email, u.email_verified_at, u.created_at, w.address AS "address?: WalletAddress" FROM auth.users u
           LEFT JOIN auth.wallets w ON w.user_id = u.id WHERE u.id = $1"#,
        user.user_id,
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AccountsError::AccountGone)?;
    let roles = load_roles(&state.db, user.user_id).await?;
    let signup_grant = {
        let mut conn = state.db.acquire().await?;
        signup_grant_of(&mut conn, user.user_id).await?
    };
    let profile = load_profile(&state.db, user.user_id)
        .await?
        .unwrap_or_default();
    Ok(ApiJson(Me {
        user_id: user.user_id,
        email: row.email,
        email_verified: row.email_verified_at.is_some(),
        signup_grant,
        roles: roles.to_vec(),
        profile,
        wallet: row.address,
        created_at: row.created_at,
    }))
}

/// `PATCH /v1/me/profile`: absent fields stay; an empty string clears a field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1–50 characters.
    #[schema(max_length = 50)]
    pub display_name: Option<String>,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub bio: Option<String>,
    /// A BCP 47 tag such as `en`, `ko-KR`.
    #[schema(max_length = 35)]
    pub locale: Option<String>,
}

fn valid_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase()));
    lang_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
        && s.len() <= 35
}

/// `Some(None)`: clear; `Some(Some(v))`: set; `None`: unchanged.
fn field(v: Option<String>) -> Option<Option<String>> {
    v.map(|s| {
        let t = s.trim().to_owned();
        if t.is_empty() { None } else { Some(t) }
    })
}

/// Edits the signed-in user's profile.
#[utoipa::path(patch, path = "/v1/me/profile", tag = "me", security(("bearer" = [])),
    request_body = ProfileUpdate,
    responses(
        (status = 200, description = "the updated profile", body = Profile),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn update_profile(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<ProfileUpdate>,
) -> ApiResult<ApiJson<Profile>> {
    let display_name = field(req.display_name);
    let bio = field(req.bio);
    let locale = field(req.locale);
    let mut errors = vec![];
    let bad_text = |s: &str| s.chars().any(|c| c.is_control() && c != '\n');
    if let Some(Some(n)) = &display_name
        && (n.chars().count() > 50 || bad_text(n) || n.contains('\n'))
    {
        errors.push(FieldError::new(
            "display_name",
            "use 1–50 characters on one line",
        ));
    }
    if let Some(Some(b)) = &bio
        && (b.chars().count() > 500 || bad_text(b))
    {
        errors.push(FieldError::new("bio", "use at most 500 characters"));
    }
    if let Some(Some(l)) = &locale
        && !valid_locale(l)
    {
        errors.push(FieldError::new(
            "locale",
            "use a BCP 47 tag such as `en` or `ko-KR`",
        ));
    }
    if !errors.is_empty() {
        return Err(AccountsError::Invalid(errors).into());
    }
    let profile = sqlx::query_as!(
        Profile,
        "UPDATE auth.profiles SET
            display_name = CASE WHEN $2 THEN $3 ELSE display_name END,
            bio = CASE WHEN $4 THEN $5 ELSE bio END,
            locale = CASE WHEN $6 THEN $7 ELSE locale END,
            updated_at = now()
         WHERE user_id = $1
         RETURNING display_name, bio, locale",
        user.user_id,
        display_name.is_some(),
        display_name.flatten(),
        bio.is_some(),
        bio.flatten(),
        locale.is_some(),
        locale.flatten(),
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AccountsError::AccountGone)?;
    Ok(ApiJson(profile))
}

/// A linked wallet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Wallet {
    /// EIP-55 checksummed.
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub address: WalletAddress,
    pub linked_at: DateTime<Utc>,
}

/// Links a wallet to the signed-in user by a signed EIP-4361 message for linking (statement
/// `Link this wallet to PosMul.`, nonce from `GET /v1/auth/siwe/nonce?purpose=link-wallet`;
/// a sign-in message is refused, U2). One wallet per user; a wallet belongs to one user.
#[utoipa::path(post, path = "/v1/me/wallets/link", tag = "me", security(("bearer" = [])),
    request_body = SignedMessage,
    responses(
        (status = 201, description = "linked", body = Wallet),
        (status = 401, description = "not signed in, or the message is refused (wrong purpose, domain, URI, chain id, time, nonce or signer)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`wallet-taken` (another account has it) or `wallet-already-linked` (this account has one)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not an EIP-4361 message or not a signature", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn link_wallet(
    State(state): State<AppState>,
    user: AuthUser,
    meta: RequestMeta,
    ApiJson(req): ApiJson<SignedMessage>,
) -> ApiResult<(StatusCode, ApiJson<Wallet>)> {
    let mut tx = state.db.begin().await?;
    let address = match siwe::verify_signed_message(
        &mut tx,
        &state.config,
        siwe::SiwePurpose::LinkWallet,
        &req.message,
        &req.signature,
    )
    .await?
    {
        Ok(msg) => msg.address,
        Err(e) => {
            drop(tx);
            siwe::audit_failure(&state, &meta, &e, Some(user.user_id)).await?;
            return Err(AccountsError::from(e).into());
        }
    };
    let linked_at = sqlx::query_scalar!(
        "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2) RETURNING linked_at",
        address.as_slice(),
        user.user_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        Entry {
            action: Action::WalletLinked,
            actor: Some(user.user_id),
            subject: Some(user.user_id),
            meta: &meta,
            details: serde_json::json!({ "address": address }),
        },
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("wallets_linked_total").increment(1);
    Ok((StatusCode::CREATED, ApiJson(Wallet { address, linked_at })))
}

/// The public part of a profile.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicProfile {
    pub user_id: Uuid,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub locale: Option<String>,
}

/// Another user's public profile (no email, no wallet).
#[utoipa::path(get, path = "/v1/users/{user_id}/profile", tag = "users", security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "the user")),
    responses(
        (status = 200, description = "the public profile", body = PublicProfile),
        (status = 400, description = "not a user id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such user", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %_user.user_id))]
pub async fn public_profile(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(user_id): Path<Uuid>,
) -> ApiResult<ApiJson<PublicProfile>> {
    let p = load_profile(&state.db, user_id)
        .await?
        .ok_or(AccountsError::NoSuchUser)?;
    Ok(ApiJson(PublicProfile {
        user_id,
        display_name: p.display_name,
        bio: p.bio,
        locale: p.locale,
    }))
}
