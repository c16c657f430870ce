//! Sessions: an access token plus a rotating refresh token (U2).
//!
//! A refresh token is 32 random bytes (URL-safe base64); only its SHA-256 is stored. Each use
//! rotates it: the presented token is marked rotated and a new one of the same *family* is
//! issued. Presenting a rotated (or revoked) token again means it leaked: the whole family is
//! revoked and the reuse is audited. Logging out revokes the family.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{roles::load_roles, standing};
use crate::{
    audit::{self, Action, Entry},
    auth::extract::RequestMeta,
    error::{AccountsError, ApiError},
    state::AppState,
};

/// What a successful sign-in, registration or refresh returns.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct TokenPair {
    pub user_id: Uuid,
    /// A JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use: exchange it at `POST /v1/auth/refresh` for a new pair.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Issues a new pair for `user_id`; `family` continues a rotation, `None` starts a session.
/// Every sign-in and refresh comes here, so a banned account gets no token at all (U1).
pub async fn issue(
    conn: &mut PgConnection,
    state: &AppState,
    user_id: Uuid,
    family: Option<Uuid>,
) -> Result<TokenPair, ApiError> {
    let standing = standing::load(&mut *conn, user_id)
        .await?
        .ok_or(AccountsError::AccountGone)?;
    if standing.banned {
        return Err(AccountsError::Banned.into());
    }
    let roles = load_roles(&mut *conn, user_id).await?;
    let access_token = state.jwt.issue(user_id, roles, standing.token_version)?;
    let refresh_token = new_token();
    let ttl = state.config.refresh_ttl;
    let expires_at = Utc::now()
        + chrono::Duration::from_std(ttl).map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
    sqlx::query!(
        "INSERT INTO auth.refresh_tokens (id, user_id, family_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        Uuid::now_v7(),
        user_id,
        family.unwrap_or_else(Uuid::now_v7),
        hash_token(&refresh_token),
        expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(TokenPair {
        user_id,
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl().as_secs(),
        refresh_token,
        refresh_expires_in: ttl.as_secs(),
    })
}

/// Exchanges a refresh token for a new pair, rotating it; a reused token revokes its family.
pub async fn rotate(
    state: &AppState,
    token: &str,
    meta: &RequestMeta,
) -> Result<TokenPair, ApiError> {
    let mut tx = state.db.begin().await?;
    let row = sqlx::query!(
        "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at
         FROM auth.refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        hash_token(token),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(AccountsError::RefreshRefused.into());
    };
    let (id, user_id, family) = (row.id, row.user_id, row.family_id);
    let (rotated, revoked) = (row.rotated_at, row.revoked_at);

    if rotated.is_some() || revoked.is_some() {
        let n = revoke_family(&mut tx, family).await?;
        if rotated.is_some() {
            audit::record(
                &mut *tx,
                Entry {
                    action: Action::RefreshTokenReused,
                    actor: Some(user_id),
                    subject: Some(user_id),
                    meta,
                    details: serde_json::json!({ "family_id": family, "revoked": n }),
                },
            )
            .await?;
            metrics::counter!("auth_refresh_reuse_total").increment(1);
            tracing::warn!(%user_id, %family, "refresh token reused: family revoked");
        }
        tx.commit().await?;
        return Err(AccountsError::RefreshRefused.into());
    }
    if row.expires_at <= Utc::now() {
        return Err(AccountsError::RefreshRefused.into());
    }
    sqlx::query!(
        "UPDATE auth.refresh_tokens SET rotated_at = now() WHERE id = $1",
        id,
    )
    .execute(&mut *tx)
    .await?;
    let pair = issue(&mut tx, state, user_id, Some(family)).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Revokes every live token of a family; returns how many.
pub async fn revoke_family(conn: &mut PgConnection, family: Uuid) -> Result<u64, ApiError> {
    let done = sqlx::query!(
        "UPDATE auth.refresh_tokens SET revoked_at = now()
         WHERE family_id = $1 AND revoked_at IS NULL",
        family,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes the family of `token` if it belongs to `user_id`; true when one was found.
pub async fn logout(state: &AppState, user_id: Uuid, token: &str) -> Result<bool, ApiError> {
    let mut tx = state.db.begin().await?;
    let family = sqlx::query_scalar!(
        "SELECT family_id FROM auth.refresh_tokens WHERE token_hash = $1 AND user_id = $2",
        hash_token(token),
        user_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let found = match family {
        Some(f) => {
            revoke_family(&mut tx, f).await?;
            true
        }
        None => false,
    };
    tx.commit().await?;
    Ok(found)
}
