//! Administration (U1, U2), admin only: the user list, granting and revoking roles, banning
//! and unbanning accounts (each change audited, and each ends the account's access tokens on
//! their next request by bumping its token version), and reading the audit log. All lists use
//! cursor pagination ([`crate::pagination`]).
//!
//! The first admin is made once, outside the API, by [`bootstrap`] (`posmul-api admin
//! bootstrap --email …`), refused once any admin exists.

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use posmul_core::WalletAddress;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    audit::{self, Action, Entry},
    auth::{
        extract::{Admin, RequestMeta, RequireRole},
        roles::{Role, RoleSet, load_roles},
        standing,
    },
    error::{AccountsError, ApiJson, ApiResult, Problem},
    pagination::{Page, PageParams},
    state::AppState,
};

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(grant_role, revoke_role))
        .routes(routes!(ban_user, unban_user))
        .routes(routes!(audit_log))
}

/// A user as admins see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminUser {
    pub user_id: Uuid,
    pub email: Option<String>,
    pub roles: Vec<Role>,
    /// The linked wallet (EIP-55 checksummed), if any.
    #[schema(value_type = Option<String>, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub wallet: Option<WalletAddress>,
    pub created_at: DateTime<Utc>,
    /// When an admin banned the account (absent: not banned).
    pub banned_at: Option<DateTime<Utc>>,
}

/// Lists users, oldest first.
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "a page of users", body = Page<AdminUser>),
        (status = 400, description = "malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()))]
pub async fn list_users(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    Query(page): Query<PageParams>,
) -> ApiResult<ApiJson<Page<AdminUser>>> {
    let limit = page.limit()?;
    let after: Option<Uuid> = page.after()?;
    let rows = sqlx::query!(
        r#"SELECT u.id, u.email, u.created_at, u.banned_at, w.address AS "address?: WalletAddress",
                  COALESCE(array_agg(r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS "roles!"
           FROM auth.users u
           LEFT JOIN auth.wallets w ON w.user_id = u.id
           LEFT JOIN auth.user_roles r ON r.user_id = u.id
           WHERE $1::uuid IS NULL OR u.id > $1
           GROUP BY u.id, w.address
           ORDER BY u.id
           LIMIT $2"#,
        after,
        limit + 1,
    )
    .fetch_all(&state.db)
    .await?;
    let users = rows
        .into_iter()
        .map(|r| AdminUser {
            user_id: r.id,
            email: r.email,
            roles: RoleSet::from_names(r.roles).to_vec(),
            wallet: r.address,
            created_at: r.created_at,
            banned_at: r.banned_at,
        })
        .collect();
    Ok(ApiJson(Page::from_rows(users, limit, |u| u.user_id)))
}

/// A user's roles after a change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserRoles {
    pub user_id: Uuid,
    pub roles: Vec<Role>,
}

async fn change_role(
    state: &AppState,
    admin: Uuid,
    user_id: Uuid,
    role: Role,
    grant: bool,
    meta: &RequestMeta,
) -> ApiResult<UserRoles> {
    let mut tx = state.db.begin().await?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM auth.users WHERE id = $1) AS "exists!""#,
        user_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        return Err(AccountsError::NoSuchUser.into());
    }
    let changed = if grant {
        sqlx::query!(
            "INSERT INTO auth.user_roles (user_id, role, granted_by) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            user_id,
            role.as_str(),
            admin,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        if role == Role::Admin && user_id == admin {
            return Err(AccountsError::CannotRevokeOwnAdmin.into());
        }
        sqlx::query!(
            "DELETE FROM auth.user_roles WHERE user_id = $1 AND role = $2",
            user_id,
            role.as_str(),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };
    if changed > 0 {
        // U1: tokens issued under the old roles end on their next request.
        standing::bump(&mut *tx, user_id).await?;
        audit::record(
            &mut *tx,
            Entry {
                action: if grant {
                    Action::RoleGranted
                } else {
                    Action::RoleRevoked
                },
                actor: Some(admin),
                subject: Some(user_id),
                meta,
                details: serde_json::json!({ "role": role }),
            },
        )
        .await?;
    }
    let roles = load_roles(&mut *tx, user_id).await?;
    tx.commit().await?;
    state.standing.forget(user_id);
    Ok(UserRoles {
        user_id,
        roles: roles.to_vec(),
    })
}

/// Grants a role (idempotent; audited when it changes something, and then the user's access
/// tokens end: they refresh to get one with the new role).
#[utoipa::path(put, path = "/v1/admin/users/{user_id}/roles/{role}", tag = "admin",
    security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "the user"), ("role" = Role, Path, description = "the role")),
    responses(
        (status = 200, description = "the user's roles now", body = UserRoles),
        (status = 400, description = "malformed user id or unknown role", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such user", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()))]
pub async fn grant_role(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path((user_id, role)): Path<(Uuid, Role)>,
) -> ApiResult<ApiJson<UserRoles>> {
    change_role(&state, admin.user_id(), user_id, role, true, &meta)
        .await
        .map(ApiJson)
}

/// Revokes a role (idempotent; audited when it changes something, and then the user's access
/// tokens end on their next request, U1). An admin cannot revoke their own admin role.
#[utoipa::path(delete, path = "/v1/admin/users/{user_id}/roles/{role}", tag = "admin",
    security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "the user"), ("role" = Role, Path, description = "the role")),
    responses(
        (status = 200, description = "the user's roles now", body = UserRoles),
        (status = 400, description = "malformed user id or unknown role", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "revoking your own admin role", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()))]
pub async fn revoke_role(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path((user_id, role)): Path<(Uuid, Role)>,
) -> ApiResult<ApiJson<UserRoles>> {
    change_role(&state, admin.user_id(), user_id, role, false, &meta)
        .await
        .map(ApiJson)
}

/// `PUT /v1/admin/users/{user_id}/ban`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// Why, for the audit log and other admins (1–500 characters).
    #[schema(example = "spam", min_length = 1, max_length = 500)]
    pub reason: String,
}

/// A user's ban state after a change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BanState {
    pub user_id: Uuid,
    /// When the ban began (absent: not banned).
    pub banned_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

async fn set_ban(
    state: &AppState,
    admin: Uuid,
    user_id: Uuid,
    reason: Option<&str>,
    meta: &RequestMeta,
) -> ApiResult<BanState> {
    if reason.is_some() && user_id == admin {
        return Err(AccountsError::CannotBanSelf.into());
    }
    let mut tx = state.db.begin().await?;
    let before = sqlx::query!(
        "SELECT banned_at, ban_reason FROM auth.users WHERE id = $1 FOR UPDATE",
        user_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AccountsError::NoSuchUser)?;
    let changed = before.banned_at.is_some() != reason.is_some();
    let after = if changed {
        let row = sqlx::query!(
            "UPDATE auth.users
             SET banned_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, ban_reason = $2
             WHERE id = $1
             RETURNING banned_at, ban_reason",
            user_id,
            reason,
        )
        .fetch_one(&mut *tx)
        .await?;
        if reason.is_some() {
            // No session outlives the ban: refresh tokens end too, not only access tokens.
            sqlx::query!(
                "UPDATE auth.refresh_tokens SET revoked_at = now()
                 WHERE user_id = $1 AND revoked_at IS NULL",
                user_id,
            )
            .execute(&mut *tx)
            .await?;
        }
        standing::bump(&mut *tx, user_id).await?;
        audit::record(
            &mut *tx,
            Entry {
                action: if reason.is_some() {
                    Action::UserBanned
                } else {
                    Action::UserUnbanned
                },
                actor: Some(admin),
                subject: Some(user_id),
                meta,
                details: serde_json::json!({ "reason": reason }),
            },
        )
        .await?;
        (row.banned_at, row.ban_reason)
    } else {
        (before.banned_at, before.ban_reason)
    };
    tx.commit().await?;
    state.standing.forget(user_id);
    Ok(BanState {
        user_id,
        banned_at: after.0,
        reason: after.1,
    })
}

/// Bans an account (idempotent; audited when it changes something). From its next request on,
/// the account's access tokens are refused with 403 `banned`, its sessions are revoked, and it
/// cannot sign in or refresh (U1). An admin cannot ban their own account.
#[utoipa::path(put, path = "/v1/admin/users/{user_id}/ban", tag = "admin",
    security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "the user")),
    request_body = BanRequest,
    responses(
        (status = 200, description = "the user's ban state now", body = BanState),
        (status = 400, description = "malformed user id or JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cannot-ban-self`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a reason that is empty or longer than 500 characters", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()))]
pub async fn ban_user(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path(user_id): Path<Uuid>,
    ApiJson(req): ApiJson<BanRequest>,
) -> ApiResult<ApiJson<BanState>> {
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AccountsError::invalid("reason", "1 to 500 characters").into());
    }
    set_ban(&state, admin.user_id(), user_id, Some(reason), &meta)
        .await
        .map(ApiJson)
}

/// Lifts a ban (idempotent; audited when it changes something). The account signs in again.
#[utoipa::path(delete, path = "/v1/admin/users/{user_id}/ban", tag = "admin",
    security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "the user")),
    responses(
        (status = 200, description = "the user's ban state now", body = BanState),
        (status = 400, description = "malformed user id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such user", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()))]
pub async fn unban_user(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    meta: RequestMeta,
    Path(user_id): Path<Uuid>,
) -> ApiResult<ApiJson<BanState>> {
    set_ban(&state, admin.user_id(), user_id, None, &meta)
        .await
        .map(ApiJson)
}

/// Why the bootstrap command refused to make an admin.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "an admin already exists: the bootstrap runs once; ask an admin to grant roles through the admin API"
    )]
    AdminExists,
    #[error("{0}")]
    InvalidEmail(String),
    #[error("no account has the e-mail {0}: register it first")]
    NoSuchAccount(String),
    #[error("the account with the e-mail {0} has not verified it: verify it first")]
    Unverified(String),
    #[error("the account with the e-mail {0} is banned")]
    Banned(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The one-time bootstrap (U1): grants `admin` to the account with the verified e-mail `email`,
/// unless an admin already exists (then it refuses, and roles change only through the admin
/// API). Audited as `bootstrap_admin`. Returns the account's id.
pub async fn bootstrap(db: &sqlx::PgPool, email: &str) -> Result<Uuid, BootstrapError> {
    let email = crate::auth::password::Email::parse(email)
        .map_err(|e| BootstrapError::InvalidEmail(e.message))?;
    let mut tx = db.begin().await?;
    // Two bootstraps at once: the second waits here, then finds the first one's admin.
    sqlx::query("LOCK TABLE auth.user_roles IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let admin_exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM auth.user_roles WHERE role = 'admin') AS "exists!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    if admin_exists {
        return Err(BootstrapError::AdminExists);
    }
    let user = sqlx::query!(
        r#"SELECT id, email_verified_at IS NOT NULL AS "verified!", banned_at IS NOT NULL AS "banned!"
           FROM auth.users WHERE email = $1"#,
        email.as_str(),
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| BootstrapError::NoSuchAccount(email.as_str().to_owned()))?;
    // An unverified address proves nothing: whoever registered it first would become admin.
    if !user.verified {
        return Err(BootstrapError::Unverified(email.as_str().to_owned()));
    }
    if user.banned {
        return Err(BootstrapError::Banned(email.as_str().to_owned()));
    }
    sqlx::query!(
        "INSERT INTO auth.user_roles (user_id, role) VALUES ($1, 'admin')",
        user.id,
    )
    .execute(&mut *tx)
    .await?;
    standing::bump(&mut *tx, user.id).await?;
    audit::record(
        &mut *tx,
        Entry {
            action: Action::BootstrapAdmin,
            actor: None,
            subject: Some(user.id),
            meta: &RequestMeta::default(),
            details: serde_json::json!({ "method": "command", "email": email.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user.id)
}

/// One audit entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// e.g. `sign_in`, `sign_in_failed`, `role_granted`, `wallet_linked`.
    pub action: String,
    pub actor_user_id: Option<Uuid>,
    pub subject_user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// Filters for the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only this action.
    #[param(max_length = 64)]
    pub action: Option<String>,
    /// Only entries about this user (as subject).
    pub user_id: Option<Uuid>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("bearer" = [])),
    params(PageParams, AuditFilter),
    responses(
        (status = 200, description = "a page of entries", body = Page<AuditEntry>),
        (status = 400, description = "malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %admin.user_id()))]
pub async fn audit_log(
    State(state): State<AppState>,
    admin: RequireRole<Admin>,
    Query(page): Query<PageParams>,
    Query(filter): Query<AuditFilter>,
) -> ApiResult<ApiJson<Page<AuditEntry>>> {
    let limit = page.limit()?;
    let before: Option<i64> = page.after()?;
    if let Some(a) = &filter.action
        && (a.is_empty() || a.len() > 64 || !a.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    {
        return Err(AccountsError::invalid(
            "action",
            "an action name such as `sign_in` or `role_granted`",
        )
        .into());
    }
    let entries = sqlx::query_as!(
        AuditEntry,
        "SELECT id, at, action, actor_user_id, subject_user_id, ip, request_id, details
         FROM auth.audit_log
         WHERE ($1::bigint IS NULL OR id < $1)
           AND ($2::text IS NULL OR action = $2)
           AND ($3::uuid IS NULL OR subject_user_id = $3)
         ORDER BY id DESC
         LIMIT $4",
        before,
        filter.action,
        filter.user_id,
        limit + 1,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(ApiJson(Page::from_rows(entries, limit, |e| e.id)))
}
