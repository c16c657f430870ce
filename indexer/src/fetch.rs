//! Fetching a block range: logs (split on provider refusals), the blocks to record, decoding.

use std::{collections::BTreeMap, sync::Arc};

use alloy::{eips::BlockNumberOrTag, rpc::types::Filter};
use futures::{StreamExt, TryStreamExt, stream};

use crate::{
    error::{IndexerError, Result},
    events::{Contracts, EventLog, decode_log},
    rpc::{BlockRef, Rpc},
    store::{Batch, BlockRow},
};

/// Logs of `from..=to` and whether the provider had to be asked in smaller pieces.
pub struct Logs {
    pub logs: Vec<alloy::rpc::types::Log>,
    pub split: bool,
}

/// `eth_getLogs` over `from..=to` for the three contracts, halving the range on every refusal.
pub async fn logs_split(rpc: &Rpc, contracts: &Contracts, from: u64, to: u64) -> Result<Logs> {
    let mut pending = vec![(from, to)];
    let mut out = Vec::new();
    let mut split = false;
    // Depth-first, lower half first, so the result stays in block order.
    while let Some((a, b)) = pending.pop() {
        let filter = Filter::new()
            .address(contracts.all().to_vec())
            .from_block(a)
            .to_block(b);
        match rpc.logs(&filter).await {
            Ok(mut logs) => out.append(&mut logs),
            Err(IndexerError::RangeTooLarge(message)) => {
                if a == b {
                    return Err(IndexerError::BlockTooLarge { block: a, message });
                }
                split = true;
                let mid = a + (b - a) / 2;
                tracing::debug!(from = a, to = b, "range refused, splitting");
                pending.push((mid + 1, b));
                pending.push((a, mid));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Logs { logs: out, split })
}

/// Decodes the mirrored events of `logs`.
pub fn decode_all(contracts: &Contracts, logs: &[alloy::rpc::types::Log]) -> Result<Vec<EventLog>> {
    let mut events = Vec::with_capacity(logs.len());
    for log in logs {
        if let Some(e) = decode_log(contracts, log)? {
            events.push(e);
        }
    }
    Ok(events)
}

/// Block headers of `numbers`, fetched a few at a time; a missing block is an inconsistency.
pub async fn blocks(rpc: &Rpc, numbers: impl Iterator<Item = u64>) -> Result<Vec<BlockRef>> {
    stream::iter(numbers)
        .map(|n| async move {
            rpc.block(BlockNumberOrTag::Number(n))
                .await?
                .ok_or_else(|| IndexerError::Inconsistent(format!("the node has no block {n}")))
        })
        .buffered(8)
        .try_collect()
        .await
}

/// What a fetch produced: the batch, and the log count and split flag for range sizing.
pub struct Fetched {
    pub batch: Batch,
    pub logs: usize,
    pub split: bool,
}

/// Fetches a range that is entirely final: no hash checks; the blocks recorded are those with
/// events (timestamp from the logs when the node provides it) and the last block.
pub async fn final_range(
    rpc: Arc<Rpc>,
    contracts: Contracts,
    from: u64,
    to: u64,
) -> Result<Fetched> {
    let Logs { logs, split } = logs_split(&rpc, &contracts, from, to).await?;
    let end = rpc
        .block(BlockNumberOrTag::Number(to))
        .await?
        .ok_or_else(|| IndexerError::Inconsistent(format!("the node has no block {to}")))?;
    let events = decode_all(&contracts, &logs)?;
    let mut rows: BTreeMap<u64, BlockRow> = BTreeMap::new();
    rows.insert(
        to,
        BlockRow {
            number: to,
            hash: end.hash,
            parent_hash: Some(end.parent_hash),
            timestamp: end.timestamp,
        },
    );
    let mut missing = Vec::new();
    for log in &logs {
        if let (Some(n), Some(h)) = (log.block_number, log.block_hash) {
            if rows.contains_key(&n) {
                continue;
            }
            match log.block_timestamp {
                Some(ts) => {
                    rows.insert(
                        n,
                        BlockRow {
                            number: n,
                            hash: h,
                            parent_hash: None,
                            timestamp: ts,
                        },
                    );
                }
                None => missing.push(n),
            }
        }
    }
    missing.dedup();
    for b in blocks(&rpc, missing.into_iter()).await? {
        rows.insert(
            b.number,
            BlockRow {
                number: b.number,
                hash: b.hash,
                parent_hash: Some(b.parent_hash),
                timestamp: b.timestamp,
            },
        );
    }
    // A final block cannot change; a log whose hash disagrees with the block's is a node error.
    for e in &events {
        if rows
            .get(&e.block_number)
            .is_some_and(|r| r.hash != e.block_hash)
        {
            return Err(IndexerError::Inconsistent(format!(
                "log and block hashes differ at final block {}",
                e.block_number
            )));
        }
    }
    let count = logs.len();
    Ok(Fetched {
        batch: Batch {
            from,
            to,
            to_hash: end.hash,
            finalized_upto: to,
            blocks: rows.into_values().collect(),
            events,
        },
        logs: count,
        split,
    })
}
