//! Administration (U1, U2), admin only: the user list, granting and revoking roles (audited),
//! and reading the audit log. All lists use cursor pagination ([`crate::pagination`]).

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
        r#"SELECT u.id, u.email, u.created_at, w.address AS "address?: WalletAddress",
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
    Ok(UserRoles {
        user_id,
        roles: roles.to_vec(),
    })
}

/// Grants a role (idempotent; audited when it changes something).
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

/// Revokes a role (idempotent; audited when it changes something). An admin cannot revoke
/// their own admin role.
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
