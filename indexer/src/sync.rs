//! The leader's work: backfill final ranges in a pipeline, follow the head block by block with
//! hash checks, and roll back reorgs.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::eips::BlockNumberOrTag;
use sqlx::PgConnection;
use tokio::{sync::Notify, task::JoinHandle};

use crate::{
    backoff::Backoff,
    config::{Finality, IndexerConfig},
    error::{IndexerError, Result},
    events::Contracts,
    fetch::{self, Logs},
    range::AdaptiveRange,
    rpc::Rpc,
    status::Status,
    store::{self, Batch, BlockRow, Cursor, EncodedBatch},
};

/// The chain's head and the last final block, as the node reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    pub head: u64,
    pub finalized: u64,
}

/// Above the final block every header is fetched: at most this many blocks per step.
const FOLLOW_MAX_BLOCKS: u64 = 256;

/// Fetched batches are merged into one write transaction up to this many events.
const WRITE_BATCH_EVENTS: usize = 50_000;

/// A fetched range: log count, whether it was split, the encoded rows.
type FetchedBatch = (usize, bool, EncodedBatch);

/// Aborts the task when dropped, so that a failed backfill leaves no fetch running.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Indexes one chain while holding its advisory lock.
pub struct Syncer {
    pub(crate) chain_id: u64,
    pub(crate) contracts: Contracts,
    pub(crate) deployment_block: u64,
    pub(crate) finality: Finality,
    pub(crate) confirmations: u64,
    pub(crate) poll_interval: Duration,
    pub(crate) fetch_concurrency: usize,
    pub(crate) backoff: Backoff,
    pub(crate) range: AdaptiveRange,
    pub(crate) rpc: Arc<Rpc>,
    pub(crate) status: Arc<Status>,
    pub(crate) wake: Arc<Notify>,
}

impl Syncer {
    pub fn new(
        cfg: &IndexerConfig,
        contracts: Contracts,
        deployment_block: u64,
        rpc: Arc<Rpc>,
        status: Arc<Status>,
        wake: Arc<Notify>,
    ) -> Syncer {
        Syncer {
            chain_id: cfg.chain_id,
            contracts,
            deployment_block,
            finality: cfg.finality,
            confirmations: cfg.confirmations,
            poll_interval: cfg.poll_interval,
            fetch_concurrency: cfg.fetch_concurrency,
            backoff: Backoff {
                base: cfg.retry_base,
                max: cfg.retry_max,
            },
            range: AdaptiveRange::new(
                cfg.block_range_start,
                cfg.block_range_max,
                cfg.logs_per_request,
            ),
            rpc,
            status,
            wake,
        }
    }

    /// Head and finalized block per the configured finality rule.
    pub async fn tip(&self) -> Result<Tip> {
        let head = self.rpc.head().await?;
        let by_depth = head.saturating_sub(self.confirmations);
        let finalized = match self.finality {
            Finality::Depth => by_depth,
            Finality::Tag => {
                self.rpc
                    .finalized()
                    .await?
                    .ok_or(IndexerError::NoFinalizedTag)?
                    .number
            }
            Finality::Auto => self.rpc.finalized().await?.map_or(by_depth, |b| b.number),
        };
        Ok(Tip {
            head,
            finalized: finalized.min(head),
        })
    }

    fn publish(&self, cursor: &Cursor) {
        self.status
            .set_indexed(cursor.indexed.max(0) as u64, cursor.finalized.max(0) as u64);
    }

    /// Runs until a database error (which ends the leadership); other errors are retried with
    /// backoff.
    pub async fn lead(&mut self, conn: &mut PgConnection) -> Result<()> {
        let mut cursor =
            store::load_cursor(conn, self.chain_id, &self.contracts, self.deployment_block).await?;
        self.publish(&cursor);
        tracing::info!(
            indexed = cursor.indexed,
            finalized = cursor.finalized,
            "resuming from the cursor"
        );
        let mut failures = 0u32;
        loop {
            match self.step(conn, &mut cursor).await {
                Ok(true) => failures = 0,
                Ok(false) => {
                    failures = 0;
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(self.poll_interval) => {}
                    }
                }
                Err(e) if e.is_db() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, failures, "indexing step failed; retrying");
                    tokio::time::sleep(self.backoff.delay(failures)).await;
                    failures = failures.saturating_add(1);
                }
            }
        }
    }

    /// One step: reorg check, then a backfill to the final block or one batch near the head.
    /// `Ok(false)` when there was nothing to do.
    #[tracing::instrument(level = "debug", skip_all, fields(indexed = cursor.indexed), err)]
    pub async fn step(&mut self, conn: &mut PgConnection, cursor: &mut Cursor) -> Result<bool> {
        let tip = self.tip().await?;
        self.status.set_head(tip.head);
        if (tip.head as i64) < cursor.indexed {
            // A lagging node (e.g. after a failover), or a reorg to a shorter branch: compare
            // hashes once the node is back at the cursor's height.
            tracing::debug!(
                head = tip.head,
                indexed = cursor.indexed,
                "the node is behind the cursor; waiting"
            );
            return Ok(false);
        }
        if self.check_reorg(conn, cursor).await? {
            return Ok(true);
        }
        if cursor.next() <= tip.finalized {
            self.backfill(conn, cursor, tip).await?;
            return Ok(true);
        }
        self.follow(conn, cursor, tip).await
    }

    /// Compares the cursor block's hash with the node's; on a mismatch finds the fork point and
    /// rolls back above it. Returns whether a reorg was handled.
    async fn check_reorg(&mut self, conn: &mut PgConnection, cursor: &mut Cursor) -> Result<bool> {
        let Some(hash) = cursor.indexed_hash else {
            return Ok(false);
        };
        let node = self
            .rpc
            .block(BlockNumberOrTag::Number(cursor.indexed.max(0) as u64))
            .await?;
        if node.map(|b| b.hash) == Some(hash) {
            return Ok(false);
        }
        let start = self.deployment_block as i64 - 1;
        let mut k = cursor.indexed;
        let mut deep = false;
        let (fork, fork_hash) = loop {
            match store::stored_block_at_or_below(conn, self.chain_id, k).await? {
                Some((n, h, finalized)) if n > start => {
                    let node = self.rpc.block(BlockNumberOrTag::Number(n as u64)).await?;
                    if node.map(|b| b.hash) == Some(h) {
                        break (n, Some(h));
                    }
                    deep |= finalized;
                    k = n - 1;
                }
                _ => break (start, None),
            }
        };
        deep |= fork < cursor.finalized;
        let depth = (cursor.indexed - fork).max(0) as u64;
        let (c, deleted) = store::rollback(conn, self.chain_id, cursor, fork, fork_hash).await?;
        self.status.note_reorg(depth, deep);
        if deep {
            tracing::error!(
                depth,
                fork,
                finalized = cursor.finalized,
                deleted,
                "ALERT: reorg below the finalized block; rows marked final were rolled back and the mirror now follows the node"
            );
        } else {
            tracing::warn!(
                depth,
                fork,
                deleted,
                "reorg: rolled back above the fork point"
            );
        }
        *cursor = c;
        self.publish(cursor);
        Ok(true)
    }

    /// Indexes every final block up to `tip.finalized`: `FETCH_CONCURRENCY` ranges are fetched
    /// and encoded in parallel while the batches before them are written in order.
    async fn backfill(
        &mut self,
        conn: &mut PgConnection,
        cursor: &mut Cursor,
        tip: Tip,
    ) -> Result<()> {
        let target = tip.finalized;
        let mut inflight: VecDeque<(u64, AbortOnDrop<Result<FetchedBatch>>)> = VecDeque::new();
        let mut next = cursor.next();
        let started = Instant::now();
        let (mut waited, mut writing, mut events) = (Duration::ZERO, Duration::ZERO, 0usize);
        tracing::info!(from = next, to = target, "backfilling final blocks");
        loop {
            while inflight.len() < self.fetch_concurrency && next <= target {
                let to = next.saturating_add(self.range.size() - 1).min(target);
                let (rpc, contracts, chain_id, from) =
                    (self.rpc.clone(), self.contracts, self.chain_id, next);
                let task = tokio::spawn(async move {
                    let f = fetch::final_range(rpc, contracts, from, to).await?;
                    Ok((f.logs, f.split, f.batch.encode(chain_id)))
                });
                inflight.push_back((to - next + 1, AbortOnDrop(task)));
                next = to + 1;
            }
            let Some((asked, mut task)) = inflight.pop_front() else {
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(
                    to = target,
                    events,
                    secs,
                    events_per_sec = events as f64 / secs.max(1e-9),
                    waiting_for_rpc_secs = waited.as_secs_f64(),
                    writing_secs = writing.as_secs_f64(),
                    "backfill done"
                );
                return Ok(());
            };
            let t = Instant::now();
            let (logs, split, mut batch) = (&mut task.0)
                .await
                .map_err(|e| IndexerError::Task(e.to_string()))??;
            waited += t.elapsed();
            self.sized(asked, logs, split);
            // Batches already fetched join this one's transaction, up to WRITE_BATCH_EVENTS.
            while batch.events < WRITE_BATCH_EVENTS
                && inflight.front().is_some_and(|(_, t)| t.0.is_finished())
            {
                let Some((asked, mut task)) = inflight.pop_front() else {
                    break;
                };
                let (logs, split, more) = (&mut task.0)
                    .await
                    .map_err(|e| IndexerError::Task(e.to_string()))??;
                self.sized(asked, logs, split);
                batch.absorb(more);
            }
            let t = Instant::now();
            *cursor =
                store::write_batch(conn, self.chain_id, cursor, &batch, tip.head, &self.status)
                    .await?;
            writing += t.elapsed();
            events += batch.events;
            self.publish(cursor);
            tracing::debug!(
                to = batch.to,
                events = batch.events,
                range = self.range.size(),
                "batch written"
            );
        }
    }

    fn sized(&mut self, asked: u64, logs: usize, split: bool) {
        if split {
            self.range.refused();
        } else {
            self.range.answered(asked, logs);
        }
    }

    /// Indexes the next blocks above the final one, checking that each block's parent is the
    /// block before it and that every log comes from the block fetched.
    async fn follow(
        &mut self,
        conn: &mut PgConnection,
        cursor: &mut Cursor,
        tip: Tip,
    ) -> Result<bool> {
        let next = cursor.next();
        if next > tip.head {
            let fin = tip.finalized as i64;
            if fin > cursor.finalized && cursor.finalized < cursor.indexed {
                *cursor =
                    store::advance_finality(conn, self.chain_id, cursor, fin, tip.head).await?;
                self.publish(cursor);
            }
            return Ok(false);
        }
        let span = self.range.size().min(FOLLOW_MAX_BLOCKS);
        let to = next.saturating_add(span - 1).min(tip.head);
        let headers = fetch::blocks(&self.rpc, next..=to).await?;
        let mut parent = cursor.indexed_hash;
        for h in &headers {
            if parent.is_some_and(|p| p != h.parent_hash) {
                return Err(IndexerError::Inconsistent(format!(
                    "block {} does not extend the block before it",
                    h.number
                )));
            }
            parent = Some(h.hash);
        }
        let Logs { logs, split } = fetch::logs_split(&self.rpc, &self.contracts, next, to).await?;
        for log in &logs {
            let expected = log
                .block_number
                .and_then(|n| n.checked_sub(next))
                .and_then(|i| headers.get(i as usize))
                .map(|h| h.hash);
            if expected.is_none() || expected != log.block_hash {
                return Err(IndexerError::Inconsistent(
                    "a log's block hash differs from the block fetched (reorg in progress)"
                        .to_owned(),
                ));
            }
        }
        self.sized(to - next + 1, logs.len(), split);
        let events = fetch::decode_all(&self.contracts, &logs)?;
        let to_hash = headers
            .last()
            .map(|h| h.hash)
            .ok_or_else(|| IndexerError::Inconsistent("no block fetched".to_owned()))?;
        let blocks = headers
            .iter()
            .map(|h| BlockRow {
                number: h.number,
                hash: h.hash,
                parent_hash: Some(h.parent_hash),
                timestamp: h.timestamp,
            })
            .collect();
        let batch = Batch {
            from: next,
            to,
            to_hash,
            finalized_upto: tip.finalized,
            blocks,
            events,
        }
        .encode(self.chain_id);
        *cursor =
            store::write_batch(conn, self.chain_id, cursor, &batch, tip.head, &self.status).await?;
        self.publish(cursor);
        Ok(true)
    }
}
