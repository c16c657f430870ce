//! Publishing: the per-wave state machine one relayer pass runs ([`Relayer::catch_up_locked`]).
//!
//! ```text
//!  (day ended) ──build──▶ built ──sign+send──▶ submitted ──receipt──▶ mined ──finality──▶ finalized
//! ```
//!
//! Every transition is persisted before the next one starts, under a PostgreSQL advisory lock
//! held on a dedicated connection (a second instance blocks on it: a hot standby). At most one
//! wave is unfinished at any time: wave d + 1 is built only once wave d is final, so the order of
//! days (M4) and the cumulative bookkeeping never depend on an unfinished transaction.
//!
//! Recovery: on every pass the chain is read first. If `nextDay` already passed a stored,
//! unfinished wave, its `WavePublished` log is looked up and compared with the stored root,
//! amount, allocation hash and total; equal → the wave is marked mined (a crash after broadcast),
//! different → [`Error::Divergence`] and nothing more is sent. If the chain holds days the
//! database lacks, the relayer refuses to continue rather than build a different wave.
//!
//! Rebuilding (M8): once its row exists, only that exact wave is published for the day, unless
//! the chain no longer allows its amount (the admin lowered `dailyCap`, or PMC's `MAX_SUPPLY −
//! totalSupply` is below it), which would make `publishWave` revert for ever. Then the wave is
//! rebuilt ([`wave::rebuild`]: its credits released and built again within the new limit, in one
//! transaction), but only when no transaction of it can still be mined, so a day is never
//! published twice nor with another wave than the stored one:
//!
//! - no attempt was ever signed for the day: rebuilt at once;
//! - an attempt's nonce is still unused at the latest block (it may sit in a mempool, or a crash
//!   may have come right after its broadcast): it is seen through as usual; it reverts (or, if
//!   the limit rose again meanwhile, publishes the stored wave, which is then adopted);
//! - every attempt's nonce is used up, but not yet at the finalized block: wait, as a reorg
//!   could still bring one back;
//! - every attempt's nonce is used up at the finalized block and `nextDay` has not passed the
//!   day: none of them can ever publish it. The attempts are closed (failed or dropped) and the
//!   wave rebuilt.

use alloy::{
    network::ReceiptResponse,
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{SolCall, SolEvent},
};
use chrono::{DateTime, Utc};
use posmul_economy::codec;
use sqlx::PgPool;

pub use crate::app::{ChainState, LOCK_KEY, Relayer};
use crate::{
    Error, Result,
    contracts::MoneyWave,
    revoked::{Unwound, record_pending},
    sender::Kind,
    wave::{self, BuildParams, Status, Wave},
};

/// Seconds in a MoneyWave day.
pub const DAY: u64 = posmul_core::day::SECONDS_PER_DAY;

impl Relayer {
    /// Takes the lock, brings every ended day to `finalized`, releases the lock. Returns the
    /// days finalized by this call.
    pub async fn catch_up(&self) -> Result<Vec<u64>> {
        let lock = self.lock().await?;
        let result = self.catch_up_locked().await;
        lock.release().await?;
        result
    }

    /// [`Self::catch_up`] for a caller that holds the lock. First writes again any wave export
    /// that is missing ([`wave::restore_missing`]).
    pub async fn catch_up_locked(&self) -> Result<Vec<u64>> {
        wave::restore_missing(
            &self.pool,
            &self.sender.settings.export_dir,
            self.sender.chain_id,
        )
        .await?;
        let mut finalized = Vec::new();
        loop {
            let chain = self.chain_state().await?;
            crate::metrics::chain(chain.next_day, chain.latest_block);
            let latest = wave::latest(&self.pool).await?;
            // M6: a revoked run moved nextDay back below the database's waves.
            if let Some(w) = latest.as_ref()
                && chain.next_day < w.day + u64::from(w.status >= Status::Mined)
                && self.unwind_revoked(chain.next_day).await? != Unwound::NoRevocation
            {
                continue;
            }
            if let Some(w) = latest.as_ref().filter(|w| w.status != Status::Finalized) {
                if self.advance(w, &chain).await? == Some(Status::Finalized) {
                    finalized.push(w.day);
                }
                continue;
            }
            let next = latest.as_ref().map_or(0, |w| w.day + 1);
            if chain.next_day != next {
                return Err(Error::Divergence {
                    day: next,
                    detail: format!(
                        "the chain's nextDay is {} but the database's next wave is {next}",
                        chain.next_day
                    ),
                });
            }
            if next >= self.ended_days(chain.latest_timestamp) {
                return Ok(finalized);
            }
            wave::build(&self.pool, &self.build_params(next, &chain)?).await?;
        }
    }

    /// What building wave `day` needs to know, from the chain as it is now.
    fn build_params(&self, day: u64, chain: &ChainState) -> Result<BuildParams> {
        Ok(BuildParams {
            day,
            date: self.date_of(day)?,
            chain_id: self.sender.chain_id,
            money_wave: self.money_wave,
            cap: chain.daily_cap,
            supply_headroom: chain.supply_headroom,
            // The chain's time: a credit still in its dispute window waits (P6).
            now: DateTime::from_timestamp(
                i64::try_from(chain.latest_timestamp).unwrap_or(i64::MAX),
                0,
            )
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
            export_dir: self.sender.settings.export_dir.clone(),
        })
    }

    /// One step of wave `w`'s state machine; returns the status reached (None: wait).
    #[tracing::instrument(skip_all, fields(day = w.day, status = w.status.as_str()), err)]
    async fn advance(&self, w: &Wave, chain: &ChainState) -> Result<Option<Status>> {
        match w.status {
            Status::Built | Status::Submitted => self.publish(w, chain).await.map(Some),
            Status::Mined => self.finalize(w).await,
            Status::Finalized => Ok(Some(Status::Finalized)),
        }
    }

    async fn publish(&self, w: &Wave, chain: &ChainState) -> Result<Status> {
        if chain.next_day > w.day {
            return self.adopt_published(w).await;
        }
        if w.amount > chain.limit() {
            match self.publish_attempts(w.day).await? {
                Attempts::Dead(dead) => {
                    wave::rebuild(&self.pool, &self.build_params(w.day, chain)?, w, &dead).await?;
                    return Ok(Status::Built);
                }
                Attempts::Settling => {
                    tracing::debug!(amount = %w.amount, limit = %chain.limit(),
                        "the chain no longer allows the stored wave; waiting until its last transaction is final to rebuild it");
                    tokio::time::sleep(self.sender.settings.poll_interval).await;
                    return Ok(w.status);
                }
                Attempts::Open => {
                    tracing::warn!(amount = %w.amount, limit = %chain.limit(),
                        "the chain no longer allows the stored wave, but a transaction of it may still be mined: seeing it through first");
                }
            }
        }
        if w.status == Status::Built {
            set_status(&self.pool, w.day, Status::Submitted).await?;
        }
        let input = MoneyWave::publishWaveCall {
            day: w.day,
            root: w.root,
            amount: w.amount.as_u256(),
            allocationHash: w.allocation_hash,
            totalCumulative: w.total_cumulative.as_u256(),
        }
        .abi_encode();
        let mw = MoneyWave::new(self.money_wave, self.provider());
        let day = w.day;
        let receipt = self
            .sender
            .send_until_mined(
                &self.pool,
                Kind::PublishWave,
                day,
                self.money_wave,
                input.into(),
                || {
                    let mw = mw.clone();
                    async move { Ok(mw.nextDay().call().await? > day) }
                },
            )
            .await?;
        let Some(r) = receipt else {
            return self.adopt_published(w).await;
        };
        let tx = r.transaction_hash;
        if !ReceiptResponse::status(&r) {
            let now = self.chain_state().await?;
            if now.next_day == w.day && w.amount > now.limit() {
                tracing::warn!(tx = %tx, amount = %w.amount, limit = %now.limit(),
                    "publishWave reverted: the chain no longer allows the stored wave; it is rebuilt once this is final");
                return Ok(Status::Submitted);
            }
            return Err(Error::Reverted { day: w.day, tx });
        }
        let event = r
            .inner
            .logs()
            .iter()
            .find_map(|l| MoneyWave::WavePublished::decode_log(&l.inner).ok())
            .ok_or_else(|| Error::Divergence {
                day: w.day,
                detail: format!("transaction {tx} emitted no WavePublished"),
            })?;
        check_event(w, &event.data)?;
        mark_mined(
            &self.pool,
            w.day,
            tx,
            r.block_number,
            r.block_hash,
            Some(r.gas_used),
        )
        .await?;
        record_pending(&self.pool, w.day, r.inner.logs()).await?;
        metrics::counter!("posmul_relayer_waves_published_total").increment(1);
        metrics::gauge!("posmul_relayer_publish_gas").set(r.gas_used as f64);
        tracing::info!(tx = %tx, gas = r.gas_used, amount = %w.amount, "wave published");
        Ok(Status::Mined)
    }

    /// Whether a recorded `publishWave` attempt for `day` could still be mined (see the module
    /// docs). Called only while `nextDay` has not passed the day.
    pub(crate) async fn publish_attempts(&self, day: u64) -> Result<Attempts> {
        let rows = sqlx::query!(
            "SELECT id, sender, nonce, tx_hash, status FROM relayer.tx_attempts
             WHERE kind = 'publish_wave' AND subject = $1 ORDER BY id",
            day as i64,
        )
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Attempts::Dead(Vec::new()));
        }
        let finalized = self.finalized_block().await?;
        // (sender) -> (nonce used at the latest block, at the finalized block)
        let mut nonces: std::collections::HashMap<Address, (u64, u64)> = Default::default();
        let mut settling = false;
        let mut dead = Vec::new();
        for r in rows {
            let sender = codec::address(&r.sender)?;
            let nonce = r.nonce as u64;
            let (latest, at_final) = match nonces.get(&sender) {
                Some(n) => *n,
                None => {
                    let p = self.provider();
                    let n = (
                        p.get_transaction_count(sender).latest().await?,
                        p.get_transaction_count(sender)
                            .block_id(finalized.into())
                            .await?,
                    );
                    nonces.insert(sender, n);
                    n
                }
            };
            if nonce >= latest {
                if matches!(r.status.as_str(), "signed" | "broadcast" | "replaced") {
                    return Ok(Attempts::Open);
                }
                // Closed by the sender once its nonce was used, and a reorg took that back.
                settling = true;
                continue;
            }
            let receipt = self
                .provider()
                .get_transaction_receipt(codec::word(&r.tx_hash)?)
                .await?;
            if receipt.as_ref().is_some_and(ReceiptResponse::status) || nonce >= at_final {
                // Mined and publishing (nextDay will show it), or a reorg could still revive it.
                settling = true;
                continue;
            }
            if matches!(r.status.as_str(), "signed" | "broadcast") {
                dead.push((
                    r.id,
                    if receipt.is_some() {
                        "failed"
                    } else {
                        "dropped"
                    },
                ));
            }
        }
        Ok(if settling {
            Attempts::Settling
        } else {
            Attempts::Dead(dead)
        })
    }

    /// The chain already holds day `w.day`: find its `WavePublished` and adopt it if it is ours.
    async fn adopt_published(&self, w: &Wave) -> Result<Status> {
        let filter = Filter::new()
            .address(self.money_wave)
            .event_signature(MoneyWave::WavePublished::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(w.day)))
            .from_block(self.deployment_block);
        let logs = self.provider().get_logs(&filter).await?;
        let log = logs.last().ok_or_else(|| Error::Divergence {
            day: w.day,
            detail: "nextDay passed the day but no WavePublished log was found".into(),
        })?;
        let event =
            MoneyWave::WavePublished::decode_log(&log.inner).map_err(|e| Error::Divergence {
                day: w.day,
                detail: format!("undecodable WavePublished: {e}"),
            })?;
        check_event(w, &event.data)?;
        let tx = log
            .transaction_hash
            .ok_or_else(|| Error::Corrupt("log without transaction hash".into()))?;
        let receipt = self.provider().get_transaction_receipt(tx).await?;
        let gas = receipt.as_ref().map(|r| r.gas_used);
        mark_mined(&self.pool, w.day, tx, log.block_number, log.block_hash, gas).await?;
        if let Some(r) = &receipt {
            record_pending(&self.pool, w.day, r.inner.logs()).await?;
        }
        sqlx::query!(
            "UPDATE relayer.tx_attempts SET status = 'mined', updated_at = now() WHERE tx_hash = $1",
            tx.as_slice(),
        )
        .execute(&self.pool)
        .await?;
        tracing::info!(tx = %tx, "wave found on chain; adopted");
        Ok(Status::Mined)
    }

    async fn finalize(&self, w: &Wave) -> Result<Option<Status>> {
        let (Some(tx), Some(block)) = (w.tx_hash, w.block_number) else {
            return Err(Error::Corrupt(format!(
                "mined wave {} without receipt",
                w.day
            )));
        };
        if self.finalized_block().await? < block {
            tokio::time::sleep(self.sender.settings.poll_interval).await;
            return Ok(None);
        }
        match self.provider().get_transaction_receipt(tx).await? {
            Some(r) if r.block_hash == w.block_hash => {
                set_status(&self.pool, w.day, Status::Finalized).await?;
                metrics::gauge!("posmul_relayer_last_finalized_day").set(w.day as f64);
                tracing::info!(tx = %tx, block, "wave final");
                Ok(Some(Status::Finalized))
            }
            Some(r) => {
                tracing::warn!(tx = %tx, "wave transaction moved to another block (reorg)");
                mark_mined(
                    &self.pool,
                    w.day,
                    tx,
                    r.block_number,
                    r.block_hash,
                    Some(r.gas_used),
                )
                .await?;
                // Another block, another time: the root's claimable_at moves with it (M6).
                record_pending(&self.pool, w.day, r.inner.logs()).await?;
                Ok(None)
            }
            None => {
                tracing::warn!(tx = %tx, "wave transaction reorged out: sending it again");
                sqlx::query!(
                    "UPDATE relayer.waves SET status = 'submitted', tx_hash = NULL, block_number = NULL, block_hash = NULL,
                            gas_used = NULL, mined_at = NULL WHERE day = $1",
                    w.day as i64,
                )
                .execute(&self.pool)
                .await?;
                sqlx::query!(
                    "UPDATE relayer.tx_attempts SET status = 'broadcast', updated_at = now() WHERE tx_hash = $1",
                    tx.as_slice(),
                )
                .execute(&self.pool)
                .await?;
                Ok(None)
            }
        }
    }
}

/// Whether the recorded `publishWave` attempts of a day could still be mined.
pub(crate) enum Attempts {
    /// None can ever be mined: none was signed, or every nonce is used up at the finalized
    /// block without publishing the day. Carries the open ones to close (`failed` when mined
    /// and reverted, `dropped` when another transaction took the nonce).
    Dead(Vec<(i64, &'static str)>),
    /// One may still be mined: an open attempt (signed, broadcast or replaced) whose nonce is
    /// unused at the latest block. The sender sees it through.
    Open,
    /// Every nonce is used up, but not yet at the finalized block (or a reorg took back the
    /// block that used one).
    Settling,
}

fn check_event(w: &Wave, e: &MoneyWave::WavePublished) -> Result<()> {
    if e.root != w.root
        || e.amount != w.amount.as_u256()
        || e.allocationHash != w.allocation_hash
        || e.totalCumulative != w.total_cumulative.as_u256()
    {
        return Err(Error::Divergence {
            day: w.day,
            detail: format!(
                "on chain root {} amount {} total {}; stored root {} amount {} total {}",
                e.root, e.amount, e.totalCumulative, w.root, w.amount, w.total_cumulative
            ),
        });
    }
    Ok(())
}

/// Moves wave `day` to `status` and stamps the time it got there (`<status>_at`).
async fn set_status(pool: &PgPool, day: u64, status: Status) -> Result<()> {
    sqlx::query!(
        "UPDATE relayer.waves SET status = $2,
                built_at = CASE WHEN $2 = 'built' THEN now() ELSE built_at END,
                submitted_at = CASE WHEN $2 = 'submitted' THEN now() ELSE submitted_at END,
                mined_at = CASE WHEN $2 = 'mined' THEN now() ELSE mined_at END,
                finalized_at = CASE WHEN $2 = 'finalized' THEN now() ELSE finalized_at END
          WHERE day = $1",
        day as i64,
        status.as_str(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn mark_mined(
    pool: &PgPool,
    day: u64,
    tx: B256,
    block_number: Option<u64>,
    block_hash: Option<B256>,
    gas_used: Option<u64>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE relayer.waves SET status = 'mined', mined_at = now(), tx_hash = $2, block_number = $3, block_hash = $4,
                gas_used = $5 WHERE day = $1",
        day as i64,
        tx.as_slice(),
        block_number.map(|n| n as i64),
        block_hash.map(|h| h.to_vec()),
        gas_used.map(|g| g as i64),
    )
    .execute(pool)
    .await?;
    Ok(())
}
