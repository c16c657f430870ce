//! PMP over HTTP: a citizen sends points to another citizen, and reads their history.
//!
//! - `POST /v1/pmp/transfers` (citizen; `Idempotency-Key` required): sends `amount` PMP from
//!   the signed-in user to the user `to_user_id` (users are addressed by id; there are no
//!   handles). A gift between citizens: the ledger kind `user_transfer`, referencing the
//!   recipient. Refused: to yourself (422 `same-account`), to an unknown user (404), more than the
//!   balance (422 `insufficient-pmp`), a non-positive amount or a memo over 280 characters (422).
//! - `GET /v1/me/pmp/history`: the signed-in user's postings, newest first, cursor-paginated;
//!   each shows the counter-account's kind and the business reference.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::extract::{AuthUser, Citizen, RequireRole},
    error::{ApiError, ApiJson, ApiResult, Problem, WalletError},
    idempotency::Idempotent,
    pagination::{Page, PageParams},
    state::AppState,
};
use posmul_economy::ledger::{
    Account, HistoryEntry, LedgerError, Reference, ReferenceKind, TransferKind, TransferRequest,
};

/// The PMP routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_pmp))
        .routes(routes!(pmp_history))
}

/// `POST /v1/pmp/transfers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendPmp {
    /// The recipient's user id.
    pub to_user_id: Uuid,
    /// Whole PMP, at least 1.
    #[schema(minimum = 1)]
    pub amount: i64,
    /// Shown in both histories; at most 280 characters.
    #[schema(max_length = 280)]
    pub memo: Option<String>,
}

/// A completed PMP transfer, as its sender sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SentPmp {
    pub transfer_id: Uuid,
    pub to_user_id: Uuid,
    pub amount: i64,
    /// The sender's balance right after the transfer.
    pub balance_after: i64,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Sends PMP to another citizen.
#[utoipa::path(post, path = "/v1/pmp/transfers", tag = "pmp", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters, fresh per intended transfer; a retry with the same key and body returns the original response")),
    request_body = SendPmp,
    responses(
        (status = 201, description = "sent (or, with `Idempotent-Replayed: true`, sent earlier under this key)", body = SentPmp),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a citizen", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such recipient", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "idempotency-key-reused: the key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "insufficient-pmp, same-account, invalid fields or a missing Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id(), amount = req.amount))]
pub async fn send_pmp(
    State(state): State<AppState>,
    user: RequireRole<Citizen>,
    idem: Idempotent,
    ApiJson(req): ApiJson<SendPmp>,
) -> ApiResult<Response> {
    let sender = user.user_id();
    if req.amount < 1 {
        return Err(
            LedgerError::NonPositiveAmount(posmul_core::money::Pmp::new(req.amount)).into(),
        );
    }
    if req.to_user_id == sender {
        return Err(LedgerError::SameAccount.into());
    }
    // Deferred idempotency: the key is written with the response (one statement fewer on the
    // hot path); every error goes through `fail`, which replays a committed duplicate.
    let mut work = idem.begin_deferred(&state.db, sender, &req).await?;
    match send(work.tx(), sender, &req).await {
        Ok(sent) => work.commit(StatusCode::CREATED, &sent).await,
        Err(e) => work.fail(e).await,
    }
}

async fn send(
    tx: &mut sqlx::PgTransaction<'static>,
    sender: Uuid,
    req: &SendPmp,
) -> ApiResult<SentPmp> {
    let transfer = posmul_economy::ledger::transfer_between_open_accounts(
        tx,
        TransferRequest {
            from: Account::user(sender),
            to: Account::user(req.to_user_id),
            amount: posmul_core::money::Pmp::new(req.amount),
            kind: TransferKind::UserTransfer,
            reference: Reference {
                kind: ReferenceKind::User,
                id: req.to_user_id,
            },
            idempotency_key: None,
            memo: req.memo.clone(),
        },
    )
    .await
    .map_err(|e| match e {
        // Every registered user has an open account (the sign-up grant opens it).
        LedgerError::NoSuchAccount(a) if a == Account::user(req.to_user_id) => {
            ApiError::from(WalletError::NoSuchRecipient)
        }
        other => other.into(),
    })?;
    let balance_after = transfer
        .leg(Account::user(sender))
        .and_then(|l| l.balance_after)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the sender's leg is missing")))?;
    Ok(SentPmp {
        transfer_id: transfer.id,
        to_user_id: req.to_user_id,
        amount: req.amount,
        balance_after: balance_after.get(),
        memo: transfer.memo,
        created_at: transfer.created_at,
    })
}

/// The signed-in user's PMP history, newest first.
#[utoipa::path(get, path = "/v1/me/pmp/history", tag = "pmp", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "a page of postings", body = Page<HistoryEntry>),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn pmp_history(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<PageParams>,
) -> ApiResult<ApiJson<Page<HistoryEntry>>> {
    let limit = params.limit()?;
    let before: Option<i64> = params.after()?;
    let mut conn = state.db.acquire().await?;
    let rows =
        posmul_economy::ledger::history(&mut conn, Account::user(user.user_id), before, limit + 1)
            .await?;
    Ok(ApiJson(Page::from_rows(rows, limit, |h| h.posting_id)))
}
