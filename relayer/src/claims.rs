//! Claims (DESIGN.md M5, issue 5 §5): proofs for wallets and gas-sponsored batch claims.
//!
//! A proof is read from the stored tree of the latest wave on chain (mined or finalized: its
//! root is MoneyWave's `currentRoot`): the leaf's node index from `relayer.wave_leaves`, then
//! the sibling nodes as 32-byte slices of `relayer.wave_trees.nodes` — a proof never loads the
//! whole tree. `claim-for-me` requests are queued in `relayer.claim_requests` (one open request
//! per address) and the relayer loop sends them in batches with `claimMany`, fresh proofs against
//! the current root; `claimMany` pays each leaf's account, never the caller, and skips entries
//! with nothing due, so a batch is safe to resend. [`mark_claimed_credits`] closes the life of a
//! credit: `claimed` once the indexer's mirror shows a final claim covering it (E3).

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolCall,
};
use posmul_core::{merkle, money::Wei};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::{
    Error, Relayer, Result,
    contracts::MoneyWave,
    sender::Kind,
    wave::{self, word},
};

/// Everything a wallet needs to call `claim(account, cumulativeAmount, proof)` itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimProof {
    pub account: Address,
    pub day: u64,
    pub root: B256,
    pub cumulative_amount: Wei,
    pub proof: Vec<B256>,
}

/// The latest wave whose root is on chain (mined or finalized), as (day, root).
pub async fn latest_published(db: impl sqlx::PgExecutor<'_>) -> Result<Option<(u64, B256)>> {
    let row = sqlx::query(
        "SELECT day, root FROM relayer.waves WHERE status IN ('mined', 'finalized') ORDER BY day DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get::<i64, _>("day")? as u64,
            word(r.try_get("root")?)?,
        ))
    })
    .transpose()
}

/// The proof of `account` in wave `day`, or `None` when the account has no leaf.
///
/// One round trip: the leaf by primary key, its ancestors' indices by a recursive CTE, and each
/// sibling as a 32-byte slice of the stored node array (`EXTERNAL` storage: a slice reads only
/// the TOAST chunk holding it). The proof is checked against `root` before it is returned.
pub async fn proof_in(
    pool: &PgPool,
    day: u64,
    root: B256,
    account: Address,
) -> Result<Option<ClaimProof>> {
    let row = sqlx::query(
        "WITH RECURSIVE leaf AS (
             SELECT cumulative, tree_index FROM relayer.wave_leaves WHERE day = $1 AND address = $2
         ), up(i, ord) AS (
             SELECT tree_index, 0 FROM leaf
             UNION ALL
             SELECT (i - 1) / 2, ord + 1 FROM up WHERE i > 0
         )
         SELECT leaf.cumulative, leaf.tree_index,
                ARRAY(SELECT substring(t.nodes FROM (CASE WHEN up.i % 2 = 1 THEN up.i + 1 ELSE up.i - 1 END) * 32 + 1 FOR 32)
                      FROM up JOIN relayer.wave_trees t ON t.day = $1
                      WHERE up.i > 0 ORDER BY up.ord) AS proof
         FROM leaf",
    )
    .bind(day as i64)
    .bind(account.as_slice())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let cumulative: Wei = row.try_get("cumulative")?;
    let at = row.try_get::<i32, _>("tree_index")? as usize;
    let nodes: Vec<Vec<u8>> = row.try_get("proof")?;
    if nodes.len() != merkle::proof_indices(at).len() {
        return Err(Error::Corrupt(format!(
            "tree of wave {day} lacks proof nodes"
        )));
    }
    let proof = nodes.into_iter().map(word).collect::<Result<Vec<_>>>()?;
    if !merkle::verify(root, account, cumulative.0, &proof) {
        return Err(Error::Corrupt(format!(
            "stored proof of {account} does not verify against wave {day}"
        )));
    }
    Ok(Some(ClaimProof {
        account,
        day,
        root,
        cumulative_amount: cumulative,
        proof,
    }))
}

/// The proof of `account` against the current on-chain root.
pub async fn current_proof(pool: &PgPool, account: Address) -> Result<Option<ClaimProof>> {
    match latest_published(pool).await? {
        Some((day, root)) => proof_in(pool, day, root, account).await,
        None => Ok(None),
    }
}

/// A queued or finished claim-for-me request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRequest {
    pub id: i64,
    pub account: Address,
    pub status: String,
}

/// Queues a claim for `account` on behalf of `user_id`; an open request for the address is
/// returned as is (idempotent).
pub async fn enqueue(pool: &PgPool, user_id: Uuid, account: Address) -> Result<ClaimRequest> {
    let row = sqlx::query(
        "WITH ins AS (
             INSERT INTO relayer.claim_requests (user_id, address) VALUES ($1, $2)
             ON CONFLICT (address) WHERE status IN ('queued', 'submitted') DO NOTHING
             RETURNING id, status)
         SELECT id, status FROM ins
         UNION ALL
         SELECT id, status FROM relayer.claim_requests WHERE address = $2 AND status IN ('queued', 'submitted')
         LIMIT 1",
    )
    .bind(user_id)
    .bind(account.as_slice())
    .fetch_one(pool)
    .await?;
    Ok(ClaimRequest {
        id: row.try_get("id")?,
        account,
        status: row.try_get("status")?,
    })
}

/// Sends the queued claims in `claimMany` batches (the relayer loop calls it under the lock).
#[tracing::instrument(skip_all, err)]
pub async fn process_queue(relayer: &Relayer) -> Result<usize> {
    let pool = &relayer.pool;
    let mut done = 0;
    loop {
        // Resume a submitted batch first (a crash mid-send), else take a new one.
        let batch: Option<i64> = sqlx::query_scalar(
            "SELECT min(batch_id) FROM relayer.claim_requests WHERE status = 'submitted'",
        )
        .fetch_one(pool)
        .await?;
        let batch = match batch {
            Some(b) => b,
            None => {
                let Some((day, root)) = latest_published(pool).await? else {
                    return Ok(done);
                };
                let queued = sqlx::query("SELECT id, address FROM relayer.claim_requests WHERE status = 'queued' ORDER BY id LIMIT $1")
                    .bind(relayer.sender.settings.claim_batch_max as i64)
                    .fetch_all(pool)
                    .await?;
                if queued.is_empty() {
                    return Ok(done);
                }
                let batch: i64 = queued[0].try_get("id")?;
                let mw = MoneyWave::new(relayer.money_wave, relayer.provider());
                for r in &queued {
                    let id: i64 = r.try_get("id")?;
                    let account = wave::address(r.try_get("address")?)?;
                    let proof = proof_in(pool, day, root, account).await?;
                    let claimed = mw.claimed(account).call().await?;
                    match proof {
                        Some(p) if p.cumulative_amount.0 > claimed => {
                            sqlx::query("UPDATE relayer.claim_requests SET status = 'submitted', batch_id = $2, cumulative = $3 WHERE id = $1")
                                .bind(id)
                                .bind(batch)
                                .bind(p.cumulative_amount)
                                .execute(pool)
                                .await?;
                        }
                        _ => {
                            sqlx::query("UPDATE relayer.claim_requests SET status = 'done', done_at = now() WHERE id = $1")
                                .bind(id)
                                .execute(pool)
                                .await?;
                        }
                    }
                }
                batch
            }
        };
        done += send_batch(relayer, batch).await?;
    }
}

async fn send_batch(relayer: &Relayer, batch: i64) -> Result<usize> {
    let pool = &relayer.pool;
    let rows = sqlx::query("SELECT id, address FROM relayer.claim_requests WHERE batch_id = $1 AND status = 'submitted' ORDER BY id")
        .bind(batch)
        .fetch_all(pool)
        .await?;
    let Some((day, root)) = latest_published(pool).await? else {
        return Ok(0);
    };
    let (mut accounts, mut amounts, mut proofs) = (Vec::new(), Vec::new(), Vec::new());
    for r in &rows {
        let account = wave::address(r.try_get("address")?)?;
        if let Some(p) = proof_in(pool, day, root, account).await? {
            accounts.push(account);
            amounts.push(p.cumulative_amount.0);
            proofs.push(p.proof);
        }
    }
    let input = MoneyWave::claimManyCall {
        accounts,
        cumulativeAmounts: amounts,
        proofs,
    }
    .abi_encode();
    let receipt = relayer
        .sender
        .send_until_mined(
            pool,
            Kind::ClaimMany,
            batch as u64,
            relayer.money_wave,
            input.into(),
            || async { Ok(false) },
        )
        .await?;
    let ok = receipt
        .as_ref()
        .is_some_and(alloy::network::ReceiptResponse::status);
    let tx = receipt.map(|r| r.transaction_hash.to_vec());
    if ok {
        sqlx::query("UPDATE relayer.claim_requests SET status = 'done', done_at = now(), tx_hash = $2 WHERE batch_id = $1 AND status = 'submitted'")
            .bind(batch)
            .bind(tx)
            .execute(pool)
            .await?;
        metrics::counter!("posmul_relayer_claims_sent_total").increment(rows.len() as u64);
        tracing::info!(batch, claims = rows.len(), "claim batch mined");
    } else {
        // Stale proofs (a wave landed in between): queue again with fresh proofs next pass.
        sqlx::query("UPDATE relayer.claim_requests SET status = 'queued', batch_id = NULL, error = 'batch reverted; retried' WHERE batch_id = $1 AND status = 'submitted'")
            .bind(batch)
            .execute(pool)
            .await?;
        tracing::warn!(batch, "claim batch reverted; requeued");
    }
    Ok(rows.len())
}

/// An account's claimed total on `chain_id` as the indexer mirrors it (`chain.wave_claims`).
pub async fn mirrored_claimed(
    db: impl sqlx::PgExecutor<'_>,
    chain_id: u64,
    account: Address,
) -> Result<Wei> {
    let v: Option<Wei> = sqlx::query_scalar(
        "SELECT max(cumulative_amount) FROM chain.wave_claims WHERE chain_id = $1 AND account = $2",
    )
    .bind(chain_id as i64)
    .bind(account.as_slice())
    .fetch_one(db)
    .await?;
    Ok(v.unwrap_or(Wei(U256::ZERO)))
}

/// Marks credits `claimed` (E3: pending → in wave d → claimed, the last mirrored from the
/// chain); returns how many changed.
///
/// **Rule.** The credits of an address are ordered as they entered the tree: by wave day, then
/// in the wave's order (earning day, creation time, id). A credit is claimed once the
/// address's claimed cumulative amount on chain covers it, i.e. once
/// `claimed(address) ≥ sum of the amounts of the address's credits up to and including it`.
/// `claimed(address)` is the highest `cumulativeAmount` of the address's *finalized*
/// `Claimed` events in the indexer's mirror (`chain.wave_claims`) on `chain_id`, so a state
/// that a reorg could take back is never written. Because a claim pays an address its whole
/// entitlement at the root it proves against, and the entitlement after wave d is the sum of
/// the address's credits in waves ≤ d (M4), a claim against wave d's root marks exactly the
/// address's credits of waves ≤ d.
#[tracing::instrument(skip_all, err)]
pub async fn mark_claimed_credits(db: impl sqlx::PgExecutor<'_>, chain_id: u64) -> Result<u64> {
    let marked = sqlx::query(
        "WITH claimed AS (
             SELECT account, max(cumulative_amount) AS cumulative
             FROM chain.wave_claims WHERE chain_id = $1 AND finalized
             GROUP BY account
         ), owed AS (
             SELECT wc.credit_id, k.cumulative AS claimed,
                    sum(wc.amount) OVER (PARTITION BY wc.address
                                         ORDER BY wc.day, c.day, c.created_at, c.id
                                         ROWS UNBOUNDED PRECEDING) AS upto
             FROM relayer.wave_credits wc
             JOIN relayer.waves w ON w.day = wc.day AND w.chain_id = $1
             JOIN claimed k ON k.account = wc.address
             JOIN credits.credits c ON c.id = wc.credit_id
             WHERE wc.address IN (SELECT x.address FROM relayer.wave_credits x
                                  JOIN credits.credits y ON y.id = x.credit_id
                                  WHERE y.state = 'in_wave')
         )
         UPDATE credits.credits c SET state = 'claimed', claimed_at = now()
         FROM owed o
         WHERE c.id = o.credit_id AND c.state = 'in_wave' AND o.upto <= o.claimed",
    )
    .bind(chain_id as i64)
    .execute(db)
    .await?
    .rows_affected();
    if marked > 0 {
        metrics::counter!("posmul_relayer_credits_claimed_total").increment(marked);
        tracing::info!(credits = marked, "credits claimed on chain");
    }
    Ok(marked)
}
