//! The queue of gas-sponsored claims (M5): a citizen asks (`claim-for-me`), the relayer sends
//! the queued claims in `claimMany` batches. One open request per address; the tokens always go
//! to the leaf's account, never to the sender. The API enqueues, the relayer moves requests
//! through `queued` → `submitted` (in a batch) → `done`, or back to `queued` when a batch
//! reverts (a wave landed in between, so its proofs went stale).

use alloy::primitives::{Address, B256};
use posmul_core::money::Wei;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::{codec, wave::WaveError};

pub type Result<T, E = WaveError> = std::result::Result<T, E>;

/// A queued or finished claim-for-me request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub id: i64,
    pub account: Address,
    pub status: String,
}

/// Queues a claim for `account` on behalf of `user_id`; an open request for the address is
/// returned as is (idempotent).
pub async fn enqueue(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    account: Address,
) -> Result<ClaimRequest> {
    let row = sqlx::query!(
        r#"WITH ins AS (
               INSERT INTO relayer.claim_requests (user_id, address) VALUES ($1, $2)
               ON CONFLICT (address) WHERE status IN ('queued', 'submitted') DO NOTHING
               RETURNING id, status)
           SELECT id AS "id!", status AS "status!" FROM ins
           UNION ALL
           SELECT id, status FROM relayer.claim_requests WHERE address = $2 AND status IN ('queued', 'submitted')
           LIMIT 1"#,
        user_id,
        account.as_slice(),
    )
    .fetch_one(db)
    .await?;
    Ok(ClaimRequest {
        id: row.id,
        account,
        status: row.status,
    })
}

/// The oldest batch left `submitted` (a crash mid-send), to resume before taking a new one.
pub async fn unfinished_batch(db: impl PgExecutor<'_>) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar!(
        "SELECT min(batch_id) FROM relayer.claim_requests WHERE status = 'submitted'"
    )
    .fetch_one(db)
    .await?)
}

/// Up to `limit` queued requests, oldest first, as (id, account).
pub async fn queued(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<(i64, Address)>> {
    let rows = sqlx::query!(
        "SELECT id, address FROM relayer.claim_requests WHERE status = 'queued' ORDER BY id LIMIT $1",
        limit,
    )
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| Ok((r.id, codec::address(&r.address)?)))
        .collect()
}

/// The requests of a submitted batch, as (id, account).
pub async fn batch(db: impl PgExecutor<'_>, batch: i64) -> Result<Vec<(i64, Address)>> {
    let rows = sqlx::query!(
        "SELECT id, address FROM relayer.claim_requests WHERE batch_id = $1 AND status = 'submitted' ORDER BY id",
        batch,
    )
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| Ok((r.id, codec::address(&r.address)?)))
        .collect()
}

/// Puts request `id` into `batch`, to be sent for `cumulative`.
pub async fn submit(db: impl PgExecutor<'_>, id: i64, batch: i64, cumulative: Wei) -> Result<()> {
    sqlx::query!(
        "UPDATE relayer.claim_requests SET status = 'submitted', batch_id = $2, cumulative = $3 WHERE id = $1",
        id,
        batch,
        cumulative as _,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Closes request `id` with nothing to send (already claimed, or no leaf).
pub async fn close(db: impl PgExecutor<'_>, id: i64) -> Result<()> {
    sqlx::query!(
        "UPDATE relayer.claim_requests SET status = 'done', done_at = now() WHERE id = $1",
        id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Closes a mined batch with its transaction hash.
pub async fn batch_mined(db: impl PgExecutor<'_>, batch: i64, tx_hash: Option<B256>) -> Result<()> {
    sqlx::query!(
        "UPDATE relayer.claim_requests SET status = 'done', done_at = now(), tx_hash = $2 WHERE batch_id = $1 AND status = 'submitted'",
        batch,
        tx_hash.map(|h| h.to_vec()),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Queues a reverted batch's requests again (fresh proofs next pass).
pub async fn batch_reverted(db: impl PgExecutor<'_>, batch: i64) -> Result<()> {
    sqlx::query!(
        "UPDATE relayer.claim_requests SET status = 'queued', batch_id = NULL, error = 'batch reverted; retried' WHERE batch_id = $1 AND status = 'submitted'",
        batch,
    )
    .execute(db)
    .await?;
    Ok(())
}
