//! The per-wave state machine and the relayer loop (issue 5 §4).
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
//! different → [`Error::Divergence`] and nothing more is sent. A wave is never rebuilt: once its
//! row exists, only that exact wave can be published for the day. If the chain holds days the
//! database lacks, the relayer refuses to continue rather than build a different wave.

use std::time::Duration;

use alloy::{
    eips::BlockNumberOrTag,
    network::EthereumWallet,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider, ext::AnvilApi},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use chrono::NaiveDate;
use posmul_core::money::Wei;
use sqlx::{Connection, PgConnection, PgPool};

use crate::{
    Error, Result,
    config::Settings,
    contracts::MoneyWave,
    failpoint::Failpoints,
    sender::{Kind, Sender},
    wave::{self, BuildParams, Status, Wave},
};

/// The advisory-lock key of the wave publisher ("PosMulWv").
pub const LOCK_KEY: i64 = 0x506f_734d_756c_5776;

/// Seconds in a MoneyWave day.
pub const DAY: u64 = 86_400;

/// The chain as the relayer sees it at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ChainState {
    pub next_day: u64,
    pub daily_cap: Wei,
    pub latest_block: u64,
    pub latest_timestamp: u64,
}

/// The relayer: database, chain, signer. Cheap to clone.
#[derive(Clone)]
pub struct Relayer {
    pub pool: PgPool,
    pub sender: Sender,
    pub money_wave: Address,
    pub genesis: u64,
    pub deployment_block: u64,
}

/// Holds the advisory lock until dropped (or until the process dies, which ends the session).
pub struct LockGuard(Option<PgConnection>);

impl LockGuard {
    /// Releases the lock now.
    pub async fn release(mut self) -> Result<()> {
        if let Some(mut c) = self.0.take() {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK_KEY)
                .execute(&mut c)
                .await?;
            c.close().await?;
        }
        Ok(())
    }
}

impl Relayer {
    /// A relayer for the MoneyWave at `money_wave`, signing with `signer`.
    pub async fn new(
        pool: PgPool,
        provider: DynProvider,
        signer: PrivateKeySigner,
        money_wave: Address,
        deployment_block: u64,
        settings: Settings,
    ) -> Result<Relayer> {
        let chain_id = provider.get_chain_id().await?;
        let genesis = MoneyWave::new(money_wave, &provider)
            .genesis()
            .call()
            .await?;
        let from = signer.address();
        Ok(Relayer {
            pool,
            sender: Sender {
                provider,
                wallet: EthereumWallet::from(signer),
                from,
                chain_id,
                settings,
                failpoints: Failpoints::default(),
            },
            money_wave,
            genesis: genesis.to::<u64>(),
            deployment_block,
        })
    }

    /// The crash points tests arm.
    pub fn failpoints(&self) -> &Failpoints {
        &self.sender.failpoints
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.sender.provider
    }

    /// The UTC date of MoneyWave day `day`.
    pub fn date_of(&self, day: u64) -> Result<NaiveDate> {
        let genesis = chrono::DateTime::from_timestamp(self.genesis as i64, 0)
            .ok_or_else(|| Error::Corrupt(format!("genesis {}", self.genesis)))?;
        genesis
            .date_naive()
            .checked_add_days(chrono::Days::new(day))
            .ok_or_else(|| Error::Corrupt(format!("day {day}")))
    }

    /// Waits for the advisory lock on a connection of its own.
    pub async fn lock(&self) -> Result<LockGuard> {
        let mut conn = PgConnection::connect_with(&self.pool.connect_options()).await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut conn)
            .await?;
        Ok(LockGuard(Some(conn)))
    }

    /// Reads `nextDay`, `dailyCap` and the latest block.
    pub async fn chain_state(&self) -> Result<ChainState> {
        let mw = MoneyWave::new(self.money_wave, self.provider());
        let next_day = mw.nextDay().call().await?;
        let cap = mw.dailyCap().call().await?;
        let block = self
            .provider()
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| Error::Corrupt("the node has no latest block".into()))?;
        Ok(ChainState {
            next_day,
            daily_cap: Wei(cap),
            latest_block: block.header.number,
            latest_timestamp: block.header.timestamp,
        })
    }

    /// How many days have ended by `timestamp` (days `0..n` have).
    pub fn ended_days(&self, timestamp: u64) -> u64 {
        timestamp.saturating_sub(self.genesis) / DAY
    }

    /// Takes the lock, brings every ended day to `finalized`, releases the lock. Returns the
    /// days finalized by this call.
    pub async fn catch_up(&self) -> Result<Vec<u64>> {
        let lock = self.lock().await?;
        let result = self.catch_up_locked().await;
        lock.release().await?;
        result
    }

    /// [`Self::catch_up`] for a caller that holds the lock.
    pub async fn catch_up_locked(&self) -> Result<Vec<u64>> {
        let mut finalized = Vec::new();
        loop {
            let chain = self.chain_state().await?;
            crate::metrics::chain(&chain);
            let latest = wave::latest(&self.pool).await?;
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
            let params = BuildParams {
                day: next,
                date: self.date_of(next)?,
                chain_id: self.sender.chain_id,
                money_wave: self.money_wave,
                cap: chain.daily_cap,
                export_dir: self.sender.settings.export_dir.clone(),
            };
            wave::build(&self.pool, &params).await?;
        }
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
        if w.status == Status::Built {
            set_status(&self.pool, w.day, Status::Submitted).await?;
        }
        let input = MoneyWave::publishWaveCall {
            day: w.day,
            root: w.root,
            amount: w.amount.0,
            allocationHash: w.allocation_hash,
            totalCumulative: w.total_cumulative.0,
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
        if !alloy::network::ReceiptResponse::status(&r) {
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
        metrics::counter!("posmul_relayer_waves_published_total").increment(1);
        metrics::gauge!("posmul_relayer_publish_gas").set(r.gas_used as f64);
        tracing::info!(tx = %tx, gas = r.gas_used, amount = %w.amount, "wave published");
        Ok(Status::Mined)
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
        let gas = self
            .provider()
            .get_transaction_receipt(tx)
            .await?
            .map(|r| r.gas_used);
        mark_mined(&self.pool, w.day, tx, log.block_number, log.block_hash, gas).await?;
        sqlx::query("UPDATE relayer.tx_attempts SET status = 'mined', updated_at = now() WHERE tx_hash = $1")
            .bind(tx.as_slice())
            .execute(&self.pool)
            .await?;
        tracing::info!(tx = %tx, "wave found on chain; adopted");
        Ok(Status::Mined)
    }

    /// The highest final block: the node's `finalized` tag, or latest − confirmations.
    pub async fn finalized_block(&self) -> Result<u64> {
        match self
            .provider()
            .get_block_by_number(BlockNumberOrTag::Finalized)
            .await
        {
            Ok(Some(b)) => Ok(b.header.number),
            _ => {
                let latest = self.provider().get_block_number().await?;
                Ok(latest.saturating_sub(self.sender.settings.finality_confirmations))
            }
        }
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
                Ok(None)
            }
            None => {
                tracing::warn!(tx = %tx, "wave transaction reorged out: sending it again");
                sqlx::query(
                    "UPDATE relayer.waves SET status = 'submitted', tx_hash = NULL, block_number = NULL, block_hash = NULL,
                            gas_used = NULL, mined_at = NULL WHERE day = $1",
                )
                .bind(w.day as i64)
                .execute(&self.pool)
                .await?;
                sqlx::query("UPDATE relayer.tx_attempts SET status = 'broadcast', updated_at = now() WHERE tx_hash = $1")
                    .bind(tx.as_slice())
                    .execute(&self.pool)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Runs until `shutdown` resolves: catch up, serve claim batches, mark the credits whose
    /// claims the indexer mirrored as `claimed`, advance the demo clock, sleep; errors are logged and retried with backoff (an RPC outage only delays).
    pub async fn run(
        &self,
        demo_day: Option<Duration>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        let lock = tokio::select! {
            l = self.lock() => l?,
            _ = &mut shutdown => return Ok(()),
        };
        tracing::info!(relayer = %self.sender.from, money_wave = %self.money_wave, "holding the relayer lock");
        let mut backoff = self.sender.settings.poll_interval;
        let mut next_warp = demo_day.map(|d| tokio::time::Instant::now() + d);
        loop {
            if let (Some(at), Some(d)) = (next_warp, demo_day)
                && tokio::time::Instant::now() >= at
            {
                if let Err(e) = crate::demo::advance_one_day(self.provider()).await {
                    tracing::warn!(error = %e, "demo clock: cannot advance the chain");
                }
                next_warp = Some(at + d);
            }
            if demo_day.is_some()
                && let Err(e) = crate::demo::mine_block(self.provider()).await
            {
                tracing::warn!(error = %e, "demo clock: cannot mine a block");
            }
            let pass = async {
                self.catch_up_locked().await?;
                crate::claims::process_queue(self).await?;
                posmul_economy::credits::lifecycle::mark_claimed(&self.pool, self.sender.chain_id)
                    .await?;
                crate::reconcile::update_metrics(self).await
            };
            let wait = match pass.await {
                Ok(()) => {
                    backoff = self.sender.settings.poll_interval;
                    self.sender.settings.poll_interval
                }
                Err(e @ Error::Divergence { .. }) => {
                    tracing::error!(error = %e, "stopping: chain and database disagree");
                    metrics::counter!("posmul_relayer_divergences_total").increment(1);
                    lock.release().await?;
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "relayer pass failed; retrying");
                    metrics::counter!("posmul_relayer_errors_total").increment(1);
                    let w = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    w
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => break,
            }
        }
        lock.release().await
    }

    /// Mines one block on a development chain (tests and demo).
    pub async fn mine(&self, blocks: u64) -> Result<()> {
        self.provider().anvil_mine(Some(blocks), None).await?;
        Ok(())
    }
}

fn check_event(w: &Wave, e: &MoneyWave::WavePublished) -> Result<()> {
    if e.root != w.root
        || e.amount != w.amount.0
        || e.allocationHash != w.allocation_hash
        || e.totalCumulative != w.total_cumulative.0
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

async fn set_status(pool: &PgPool, day: u64, status: Status) -> Result<()> {
    let column = match status {
        Status::Submitted => "submitted_at",
        Status::Mined => "mined_at",
        Status::Finalized => "finalized_at",
        Status::Built => "built_at",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE relayer.waves SET status = $2, {column} = now() WHERE day = $1"
    )))
    .bind(day as i64)
    .bind(status.as_str())
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
    sqlx::query(
        "UPDATE relayer.waves SET status = 'mined', mined_at = now(), tx_hash = $2, block_number = $3, block_hash = $4,
                gas_used = $5 WHERE day = $1",
    )
    .bind(day as i64)
    .bind(tx.as_slice())
    .bind(block_number.map(|n| n as i64))
    .bind(block_hash.map(|h| h.to_vec()))
    .bind(gas_used.map(|g| g as i64))
    .execute(pool)
    .await?;
    Ok(())
}
