//! Gas-sponsored claims (DESIGN.md M5): the relayer's half of `claim-for-me`.
//!
//! Requests are queued by the API through [`posmul_economy::claims`]; the relayer loop sends them
//! in batches with `claimMany`, with fresh proofs against the current root
//! ([`posmul_economy::wave`]). `claimMany` pays each leaf's account, never the caller, and skips
//! entries with nothing due, so a batch is safe to resend.

use alloy::{eips::BlockNumberOrTag, providers::Provider, sol_types::SolCall};
use chrono::{DateTime, Utc};
use posmul_economy::{claims as queue, wave};

use crate::{Error, Relayer, Result, contracts::MoneyWave, sender::Kind};

/// The chain's time (the latest block's), which decides whose root delay has passed (M6).
async fn chain_now(relayer: &Relayer) -> Result<DateTime<Utc>> {
    let block = relayer
        .provider()
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await?
        .ok_or_else(|| Error::Corrupt("the node has no latest block".into()))?;
    i64::try_from(block.header.timestamp)
        .ok()
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or_else(|| Error::Corrupt(format!("block time {}", block.header.timestamp)))
}

/// Sends the queued claims in `claimMany` batches (the relayer loop calls it under the lock).
#[tracing::instrument(skip_all, err)]
pub async fn process_queue(relayer: &Relayer) -> Result<usize> {
    let pool = &relayer.pool;
    let mut done = 0;
    loop {
        // Resume a submitted batch first (a crash mid-send), else take a new one.
        let batch = match queue::unfinished_batch(pool).await? {
            Some(b) => b,
            None => {
                let now = chain_now(relayer).await?;
                let Some(current) = wave::current(pool, relayer.sender.chain_id, now).await? else {
                    return Ok(done);
                };
                let queued =
                    queue::queued(pool, relayer.sender.settings.claim_batch_max as i64).await?;
                let Some(&(batch, _)) = queued.first() else {
                    return Ok(done);
                };
                let mw = MoneyWave::new(relayer.money_wave, relayer.provider());
                for (id, account) in queued {
                    let proof = wave::proof(pool, &current, account).await?;
                    let claimed = mw.claimed(account).call().await?;
                    match proof {
                        Some(p) if p.cumulative_amount.as_u256() > claimed => {
                            queue::submit(pool, id, batch, p.cumulative_amount).await?;
                        }
                        _ => queue::close(pool, id).await?,
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
    let rows = queue::batch(pool, batch).await?;
    let now = chain_now(relayer).await?;
    let Some(current) = wave::current(pool, relayer.sender.chain_id, now).await? else {
        return Ok(0);
    };
    let (mut accounts, mut amounts, mut proofs) = (Vec::new(), Vec::new(), Vec::new());
    for &(_, account) in &rows {
        if let Some(p) = wave::proof(pool, &current, account).await? {
            accounts.push(account);
            amounts.push(p.cumulative_amount.as_u256());
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
    if ok {
        queue::batch_mined(pool, batch, receipt.map(|r| r.transaction_hash)).await?;
        metrics::counter!("posmul_relayer_claims_sent_total").increment(rows.len() as u64);
        tracing::info!(batch, claims = rows.len(), "claim batch mined");
    } else {
        // Stale proofs (a wave landed in between): queue again with fresh proofs next pass.
        queue::batch_reverted(pool, batch).await?;
        tracing::warn!(batch, "claim batch reverted; requeued");
    }
    Ok(rows.len())
}
