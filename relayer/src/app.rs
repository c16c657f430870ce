//! The relayer itself: its database, chain, signer and lock, and the loop that runs it.
//! What one pass publishes is [`crate::publisher`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use alloy::{
    eips::BlockNumberOrTag,
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use chrono::NaiveDate;
use posmul_core::{
    Clock, UtcDay,
    config::ConfigError,
    day::SECONDS_PER_DAY,
    deployment::Deployment,
    money::Wei,
    service::{Election, Leader},
};
use sqlx::PgPool;

use crate::{
    Error, Result,
    config::{RelayerConfig, Settings},
    contracts::{MoneyWave, PMC},
    failpoint::Failpoints,
    sender::Sender,
};

/// The advisory-lock key of the wave publisher ("PosMulWv").
pub const LOCK_KEY: i64 = 0x506f_734d_756c_5776;

/// The chain as the relayer sees it at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ChainState {
    pub next_day: u64,
    pub daily_cap: Wei,
    /// What PMC can still mint: `MAX_SUPPLY − totalSupply`.
    pub supply_headroom: Wei,
    pub latest_block: u64,
    pub latest_timestamp: u64,
}

impl ChainState {
    /// The most a wave published now may carry: `dailyCap`, or the supply left if that is less
    /// (M8; MoneyWave refuses more, and so does PMC's mint).
    pub fn limit(&self) -> Wei {
        self.daily_cap.min(self.supply_headroom)
    }
}

/// The relayer: database, chain, signer. Cheap to clone.
#[derive(Clone)]
pub struct Relayer {
    pub pool: PgPool,
    pub sender: Sender,
    pub money_wave: Address,
    /// The PMC token MoneyWave mints (`MoneyWave.token()`, immutable).
    pub pmc: Address,
    pub genesis: u64,
    pub deployment_block: u64,
    /// The relayer lock: one active instance, the others hot standbys.
    pub election: Election,
    /// Whether the gas wallet was below `gas_balance_alert_wei` at the last look (the warning
    /// is logged when it goes below, not at every pass).
    gas_low: Arc<AtomicBool>,
}

/// The gas wallet at one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GasBalance {
    pub balance_wei: Wei,
    pub alert_below_wei: Wei,
    pub low: bool,
}

/// Connects a relayer for `config` to the node behind `provider`, after checking that the
/// node is on the chain the configuration names: `CHAIN_ID` when it is set, and the
/// deployment file's `chainId` ([`Error::WrongChain`] otherwise; nothing is signed).
pub async fn open(pool: PgPool, provider: DynProvider, config: &RelayerConfig) -> Result<Relayer> {
    let rpc = provider.get_chain_id().await?;
    if let Some(expected) = config.chain_id
        && expected != rpc
    {
        return Err(Error::WrongChain {
            rpc,
            expected,
            source_name: "CHAIN_ID".to_owned(),
        });
    }
    let path = config.deployments_dir.join(format!("{rpc}.json"));
    let deployment = Deployment::read(&path)?;
    if deployment.chain_id != rpc {
        return Err(Error::WrongChain {
            rpc,
            expected: deployment.chain_id,
            source_name: format!("the deployment file {}", path.display()),
        });
    }
    Relayer::new(
        pool,
        provider,
        config.signer.clone(),
        deployment.money_wave,
        deployment.deployment_block,
        config.settings.clone(),
    )
    .await
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
        let floor = settings
            .priority_fee_floor_wei
            .unwrap_or_else(|| crate::config::default_priority_floor(chain_id));
        if settings.max_priority_fee_per_gas_wei < floor {
            return Err(Error::Config(ConfigError::Malformed {
                name: "MAX_PRIORITY_FEE_PER_GAS_GWEI".to_owned(),
                value: (settings.max_priority_fee_per_gas_wei / 1_000_000_000).to_string(),
                reason: format!(
                    "below chain {chain_id}'s priority floor of {} gwei",
                    floor / 1_000_000_000
                ),
            }));
        }
        let mw = MoneyWave::new(money_wave, &provider);
        let genesis = mw.genesis().call().await?;
        let pmc = mw.token().call().await?;
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
                clock: Clock::system(),
            },
            money_wave,
            pmc,
            genesis: genesis.to::<u64>(),
            deployment_block,
            election: Election::new("relayer", LOCK_KEY),
            gas_low: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The clock the sender measures waiting transactions by (the system clock unless a test
    /// sets a manual one to replace a transaction without waiting).
    pub fn with_clock(mut self, clock: Clock) -> Relayer {
        self.sender.clock = clock;
        self
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
        UtcDay::from_wave_day(self.genesis, day)
            .map(NaiveDate::from)
            .ok_or_else(|| Error::Corrupt(format!("day {day} of genesis {}", self.genesis)))
    }

    /// Waits for the relayer lock (held on a connection of its own until released or dropped).
    pub async fn lock(&self) -> Result<Leader> {
        Ok(self.election.lead(&self.pool).await?)
    }

    /// Reads `nextDay`, `dailyCap`, PMC's supply headroom and the latest block.
    pub async fn chain_state(&self) -> Result<ChainState> {
        let mw = MoneyWave::new(self.money_wave, self.provider());
        let next_day = mw.nextDay().call().await?;
        let cap = mw.dailyCap().call().await?;
        let token = PMC::new(self.pmc, self.provider());
        let max_supply = token.MAX_SUPPLY().call().await?;
        let supply = token.totalSupply().call().await?;
        let block = self
            .provider()
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| Error::Corrupt("the node has no latest block".into()))?;
        Ok(ChainState {
            next_day,
            daily_cap: Wei::from_u256(cap),
            supply_headroom: Wei::from_u256(max_supply.saturating_sub(supply)),
            latest_block: block.header.number,
            latest_timestamp: block.header.timestamp,
        })
    }

    /// Checks that the node still answers the chain id the relayer signs for (a node behind a
    /// load balancer can change); a pass stops before anything is read or sent otherwise.
    pub async fn check_chain(&self) -> Result<()> {
        let rpc = self.provider().get_chain_id().await?;
        if rpc != self.sender.chain_id {
            return Err(Error::WrongChain {
                rpc,
                expected: self.sender.chain_id,
                source_name: "the chain the relayer started on".to_owned(),
            });
        }
        Ok(())
    }

    /// Reads the gas wallet's balance, sets `posmul_relayer_gas_balance_wei` and
    /// `posmul_relayer_gas_balance_low`, and warns when the balance goes below
    /// `gas_balance_alert_wei`.
    pub async fn gas_balance(&self) -> Result<GasBalance> {
        let balance = Wei::from_u256(self.provider().get_balance(self.sender.from).await?);
        let alert = Wei::from_u256(alloy::primitives::U256::from(
            self.sender.settings.gas_balance_alert_wei,
        ));
        let low = balance < alert;
        crate::metrics::gas_balance(self.sender.from, balance, low);
        if low && !self.gas_low.swap(true, Ordering::Relaxed) {
            tracing::warn!(wallet = %self.sender.from, balance = %balance, alert_below = %alert, "the gas wallet is low: top it up");
        } else if !low && self.gas_low.swap(false, Ordering::Relaxed) {
            tracing::info!(wallet = %self.sender.from, balance = %balance, "the gas wallet is topped up");
        }
        Ok(GasBalance {
            balance_wei: balance,
            alert_below_wei: alert,
            low,
        })
    }

    /// How many days have ended by `timestamp` (days `0..n` have).
    pub fn ended_days(&self, timestamp: u64) -> u64 {
        timestamp.saturating_sub(self.genesis) / SECONDS_PER_DAY
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

    /// Runs until `shutdown` resolves: check the node's chain id, read the gas wallet, catch
    /// up, serve claim batches, mark the credits whose claims the indexer mirrored as
    /// `claimed`, sleep; errors are logged and retried with backoff (an RPC outage only
    /// delays; the fee ceiling waits one poll interval). Demo mode's fast chain clock runs beside it
    /// ([`crate::demo::run`]), not in it.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let lock = tokio::select! {
            l = self.lock() => l?,
            _ = &mut shutdown => return Ok(()),
        };
        tracing::info!(relayer = %self.sender.from, money_wave = %self.money_wave, "holding the relayer lock");
        let mut backoff = self.sender.settings.poll_interval;
        loop {
            let pass = async {
                self.check_chain().await?;
                self.gas_balance().await?;
                self.catch_up_locked().await?;
                crate::claims::process_queue(self).await?;
                posmul_economy::credits::lifecycle::mark_claimed(&self.pool, self.sender.chain_id)
                    .await?;
                crate::reconcile::update_metrics(self).await
            };
            let wait = match pass.await {
                Ok(()) => {
                    crate::metrics::pass_completed();
                    backoff = self.sender.settings.poll_interval;
                    self.sender.settings.poll_interval
                }
                Err(Error::FeeCeiling { .. }) => {
                    // Counted and logged where it happened; fees are not a fault to back off from.
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
        Ok(lock.release().await?)
    }

    /// Mines one block on a development chain (tests and demo).
    pub async fn mine(&self, blocks: u64) -> Result<()> {
        self.provider().anvil_mine(Some(blocks), None).await?;
        Ok(())
    }
}
