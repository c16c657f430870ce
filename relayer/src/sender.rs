//! Sending a transaction until it is mined: fees, gas, nonce, replacement, and a record of every
//! attempt (alloy's caching nonce manager does not roll back, so nothing here caches
//! a nonce).
//!
//! - **Fees**: the node's EIP-1559 estimate, the priority fee raised to the chain's floor (25 gwei
//!   on 137 and 80002), the max fee raised by as much.
//! - **Gas**: the node's estimate plus `gas_margin_percent`.
//! - **Nonce**: the node's `pending` count, read fresh for each new transaction; an attempt whose
//!   nonce the chain has consumed without a receipt of ours is marked `dropped`.
//! - **Replacement**: an attempt not mined within `replace_after` is re-signed with the same nonce
//!   and both fee fields raised by 12.5 % (nodes require ≥ 10 %), or to the node's current
//!   estimate if that is higher. A dropped transaction is rebroadcast as is.
//! - **Record**: each signed transaction (nonce, hash, raw bytes, fees, gas) is written to
//!   `relayer.tx_attempts` *before* it is broadcast, then updated (broadcast, mined, replaced,
//!   failed, dropped, error). A restart resumes from these rows.

use alloy::{
    eips::{BlockNumberOrTag, eip2718::Encodable2718},
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, Bytes, TxHash},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionReceipt, TransactionRequest},
};
use chrono::{DateTime, Utc};
use posmul_core::Clock;
use posmul_economy::codec;
use sqlx::PgPool;

use crate::{
    Error, Result,
    config::{Settings, default_priority_floor},
    failpoint::{Failpoints, Step},
};

/// What a transaction does; one logical transaction per (kind, subject): the day of a wave, or
/// the id of a claim batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PublishWave,
    ClaimMany,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::PublishWave => "publish_wave",
            Kind::ClaimMany => "claim_many",
        }
    }
}

/// A recorded attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: i64,
    pub nonce: u64,
    pub tx_hash: TxHash,
    pub raw: Bytes,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    pub gas_limit: u64,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Signs, records and broadcasts; one per relayer.
#[derive(Clone)]
pub struct Sender {
    pub provider: DynProvider,
    pub wallet: EthereumWallet,
    pub from: Address,
    pub chain_id: u64,
    pub settings: Settings,
    pub failpoints: Failpoints,
    /// Measures how long an attempt has waited for `replace_after`. Wall time even in demo mode,
    /// where the chain's time runs fast: a transaction waits for real block producers.
    pub clock: Clock,
}

/// Fees of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// Raises the priority fee to `floor` and the max fee by as much.
pub fn apply_floor(fees: Fees, floor: u128) -> Fees {
    if fees.max_priority_fee_per_gas >= floor {
        return fees;
    }
    let raise = floor - fees.max_priority_fee_per_gas;
    Fees {
        max_fee_per_gas: fees.max_fee_per_gas.saturating_add(raise),
        max_priority_fee_per_gas: floor,
    }
}

/// The fees of a replacement: both fields +12.5 % (rounded up), or the current estimate if higher.
pub fn bump(old: Fees, current: Fees) -> Fees {
    let up = |v: u128| v.saturating_add(v.div_ceil(8)).max(v.saturating_add(1));
    let prio = up(old.max_priority_fee_per_gas).max(current.max_priority_fee_per_gas);
    let max = up(old.max_fee_per_gas)
        .max(current.max_fee_per_gas)
        .max(prio);
    Fees {
        max_fee_per_gas: max,
        max_priority_fee_per_gas: prio,
    }
}

impl Sender {
    /// The node's fee estimate with the chain's priority floor.
    pub async fn fees(&self) -> Result<Fees> {
        let est = self.provider.estimate_eip1559_fees().await?;
        let floor = self
            .settings
            .priority_fee_floor_wei
            .unwrap_or_else(|| default_priority_floor(self.chain_id));
        Ok(apply_floor(
            Fees {
                max_fee_per_gas: est.max_fee_per_gas,
                max_priority_fee_per_gas: est.max_priority_fee_per_gas,
            },
            floor,
        ))
    }

    /// Whether an open attempt whose nonce the chain has used up has a receipt after all.
    async fn mined_meanwhile(&self, attempts: &[Attempt], latest_nonce: u64) -> Result<bool> {
        for a in attempts
            .iter()
            .filter(|a| (a.status == "signed" || a.status == "broadcast") && a.nonce < latest_nonce)
        {
            if self
                .provider
                .get_transaction_receipt(a.tx_hash)
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Sends `input` to `to` until a receipt exists, resuming recorded attempts. Returns `None`
    /// when `already_done` says the effect is on chain through a transaction not ours to wait for.
    #[tracing::instrument(skip_all, fields(kind = kind.as_str(), subject), err)]
    pub async fn send_until_mined<F, Fut>(
        &self,
        pool: &PgPool,
        kind: Kind,
        subject: u64,
        to: Address,
        input: Bytes,
        already_done: F,
    ) -> Result<Option<TransactionReceipt>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        loop {
            let attempts = self.attempts(pool, kind, subject).await?;
            for a in attempts.iter().rev() {
                if let Some(r) = self.provider.get_transaction_receipt(a.tx_hash).await? {
                    self.failpoints.hit(Step::AfterReceiptBeforeDbUpdate)?;
                    let status = if r.status() { "mined" } else { "failed" };
                    self.mark(pool, a.id, status, None).await?;
                    sqlx::query!(
                        "UPDATE relayer.tx_attempts SET status = 'replaced', updated_at = now()
                         WHERE kind = $1 AND subject = $2 AND nonce = $3 AND id <> $4
                           AND status IN ('signed', 'broadcast')",
                        kind.as_str(),
                        subject as i64,
                        a.nonce as i64,
                        a.id,
                    )
                    .execute(pool)
                    .await?;
                    tracing::info!(tx = %a.tx_hash, block = ?r.block_number, gas = r.gas_used, ok = r.status(), "transaction mined");
                    return Ok(Some(r));
                }
            }
            if already_done().await? {
                return Ok(None);
            }
            let latest_nonce = self
                .provider
                .get_transaction_count(self.from)
                .latest()
                .await?;
            let open = attempts.last().filter(|a| {
                (a.status == "signed" || a.status == "broadcast") && a.nonce >= latest_nonce
            });
            match open {
                None => {
                    // Classify from the chain before calling anything dropped: one of ours may
                    // have been mined between the receipt check above and the nonce read, and
                    // re-sending then would repeat an effect (for `publishWave` the estimate
                    // reverts with `MoneyWaveUnexpectedDay`).
                    if self.mined_meanwhile(&attempts, latest_nonce).await? {
                        continue;
                    }
                    sqlx::query!(
                        "UPDATE relayer.tx_attempts SET status = 'dropped', updated_at = now()
                         WHERE kind = $1 AND subject = $2 AND status IN ('signed', 'broadcast') AND nonce < $3",
                        kind.as_str(),
                        subject as i64,
                        latest_nonce as i64,
                    )
                    .execute(pool)
                    .await?;
                    self.failpoints.hit(Step::BeforeSign)?;
                    let nonce = self
                        .provider
                        .get_transaction_count(self.from)
                        .pending()
                        .await?;
                    let fees = self.fees().await?;
                    let gas = self.estimate_gas(to, &input).await?;
                    let a = self
                        .sign_and_record(pool, kind, subject, to, input.clone(), nonce, fees, gas)
                        .await?;
                    self.broadcast(pool, &a).await?;
                }
                Some(a) if a.status == "signed" => {
                    self.broadcast(pool, a).await?;
                }
                Some(a)
                    if self.clock.now().await - a.created_at
                        >= chrono::Duration::from_std(self.settings.replace_after)
                            .unwrap_or_default() =>
                {
                    let old = Fees {
                        max_fee_per_gas: a.max_fee_per_gas,
                        max_priority_fee_per_gas: a.max_priority_fee_per_gas,
                    };
                    let fees = bump(old, self.fees().await?);
                    tracing::warn!(tx = %a.tx_hash, nonce = a.nonce, ?fees, "not mined in time: replacing with higher fees");
                    self.failpoints.hit(Step::BeforeSign)?;
                    let new = self
                        .sign_and_record(
                            pool,
                            kind,
                            subject,
                            to,
                            input.clone(),
                            a.nonce,
                            fees,
                            a.gas_limit,
                        )
                        .await?;
                    self.mark(pool, a.id, "replaced", None).await?;
                    metrics::counter!("posmul_relayer_replacements_total").increment(1);
                    self.broadcast(pool, &new).await?;
                }
                Some(a) => {
                    if self
                        .provider
                        .get_transaction_by_hash(a.tx_hash)
                        .await?
                        .is_none()
                    {
                        tracing::warn!(tx = %a.tx_hash, "transaction vanished from the node: rebroadcasting");
                        self.broadcast(pool, a).await?;
                    }
                }
            }
            self.wait_for_any_receipt(pool, kind, subject).await?;
        }
    }

    /// Polls the receipts of the open attempts for up to one poll interval.
    async fn wait_for_any_receipt(&self, pool: &PgPool, kind: Kind, subject: u64) -> Result<()> {
        let step = self
            .settings
            .poll_interval
            .min(std::time::Duration::from_millis(250));
        let deadline = tokio::time::Instant::now() + self.settings.poll_interval;
        let hashes: Vec<TxHash> = self
            .attempts(pool, kind, subject)
            .await?
            .iter()
            .map(|a| a.tx_hash)
            .collect();
        while tokio::time::Instant::now() < deadline {
            for h in &hashes {
                if self.provider.get_transaction_receipt(*h).await?.is_some() {
                    return Ok(());
                }
            }
            tokio::time::sleep(step).await;
        }
        Ok(())
    }

    async fn estimate_gas(&self, to: Address, input: &Bytes) -> Result<u64> {
        let req = TransactionRequest::default()
            .with_from(self.from)
            .with_to(to)
            .with_input(input.clone());
        let est = self
            .provider
            .estimate_gas(req)
            .block(BlockNumberOrTag::Pending.into())
            .await?;
        Ok(est.saturating_mul(100 + self.settings.gas_margin_percent) / 100)
    }

    #[allow(clippy::too_many_arguments)]
    async fn sign_and_record(
        &self,
        pool: &PgPool,
        kind: Kind,
        subject: u64,
        to: Address,
        input: Bytes,
        nonce: u64,
        fees: Fees,
        gas_limit: u64,
    ) -> Result<Attempt> {
        let req = TransactionRequest::default()
            .with_from(self.from)
            .with_to(to)
            .with_input(input)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = req
            .build(&self.wallet)
            .await
            .map_err(|e| Error::Sign(e.to_string()))?;
        let tx_hash = *envelope.tx_hash();
        let raw = Bytes::from(envelope.encoded_2718());
        let row = sqlx::query!(
            "INSERT INTO relayer.tx_attempts (kind, subject, sender, nonce, tx_hash, raw, max_fee_per_gas,
                                              max_priority_fee_per_gas, gas_limit, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7::text::numeric, $8::text::numeric, $9, 'signed', $10) RETURNING id, created_at",
            kind.as_str(),
            subject as i64,
            self.from.as_slice(),
            nonce as i64,
            tx_hash.as_slice(),
            raw.as_ref(),
            fees.max_fee_per_gas.to_string(),
            fees.max_priority_fee_per_gas.to_string(),
            gas_limit as i64,
            // The sender's clock, the one `replace_after` is measured by.
            self.clock.now().await,
        )
        .fetch_one(pool)
        .await?;
        tracing::info!(tx = %tx_hash, nonce, gas_limit, max_fee = fees.max_fee_per_gas, priority_fee = fees.max_priority_fee_per_gas, "signed");
        self.failpoints.hit(Step::AfterSignBeforeBroadcast)?;
        Ok(Attempt {
            id: row.id,
            nonce,
            tx_hash,
            raw,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            gas_limit,
            status: "signed".into(),
            created_at: row.created_at,
        })
    }

    /// Broadcasts a recorded attempt. "Already known" and "nonce too low" are not errors (the
    /// loop finds out what happened from the chain); other errors are recorded and returned.
    async fn broadcast(&self, pool: &PgPool, a: &Attempt) -> Result<()> {
        match self.provider.send_raw_transaction(&a.raw).await {
            Ok(_) => {
                self.mark(pool, a.id, "broadcast", None).await?;
                tracing::info!(tx = %a.tx_hash, nonce = a.nonce, "broadcast");
                self.failpoints.hit(Step::AfterBroadcastBeforeReceipt)?;
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                let lower = msg.to_lowercase();
                if lower.contains("already known")
                    || lower.contains("known transaction")
                    || lower.contains("already imported")
                {
                    self.mark(pool, a.id, "broadcast", None).await?;
                    return Ok(());
                }
                metrics::counter!("posmul_relayer_send_errors_total").increment(1);
                self.record_error(pool, a.id, &msg).await?;
                if lower.contains("nonce too low") || lower.contains("underpriced") {
                    tracing::warn!(tx = %a.tx_hash, error = %msg, "broadcast refused; resynchronising from the chain");
                    return Ok(());
                }
                Err(e.into())
            }
        }
    }

    async fn mark(&self, pool: &PgPool, id: i64, status: &str, error: Option<&str>) -> Result<()> {
        sqlx::query!(
            "UPDATE relayer.tx_attempts SET status = $2, error = COALESCE($3, error), updated_at = now() WHERE id = $1",
            id,
            status,
            error,
        )
        .execute(pool)
        .await?;
        Ok(())
    }

    async fn record_error(&self, pool: &PgPool, id: i64, error: &str) -> Result<()> {
        sqlx::query!(
            "UPDATE relayer.tx_attempts SET error = $2, updated_at = now() WHERE id = $1",
            id,
            error,
        )
        .execute(pool)
        .await?;
        Ok(())
    }

    /// The recorded attempts of one logical transaction, oldest first.
    pub async fn attempts(&self, pool: &PgPool, kind: Kind, subject: u64) -> Result<Vec<Attempt>> {
        let rows = sqlx::query!(
            r#"SELECT id, nonce, tx_hash, raw, max_fee_per_gas::text AS "max_fee!",
                      max_priority_fee_per_gas::text AS "prio!", gas_limit, status, created_at
               FROM relayer.tx_attempts WHERE kind = $1 AND subject = $2
                 AND status NOT IN ('mined', 'failed', 'dropped')
               ORDER BY id"#,
            kind.as_str(),
            subject as i64,
        )
        .fetch_all(pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let num = |c: &str, s: &str| -> Result<u128> {
                    s.parse()
                        .map_err(|_| Error::Corrupt(format!("{c} = {s:?}")))
                };
                Ok(Attempt {
                    id: r.id,
                    nonce: r.nonce as u64,
                    tx_hash: codec::word(&r.tx_hash)?,
                    raw: Bytes::from(r.raw),
                    max_fee_per_gas: num("max_fee", &r.max_fee)?,
                    max_priority_fee_per_gas: num("prio", &r.prio)?,
                    gas_limit: r.gas_limit as u64,
                    status: r.status,
                    created_at: r.created_at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_priority_fee_is_floored_and_the_max_fee_raised_by_as_much() {
        let f = apply_floor(
            Fees {
                max_fee_per_gas: 40,
                max_priority_fee_per_gas: 1,
            },
            25,
        );
        assert_eq!(
            f,
            Fees {
                max_fee_per_gas: 64,
                max_priority_fee_per_gas: 25
            }
        );
        let g = Fees {
            max_fee_per_gas: 100,
            max_priority_fee_per_gas: 30,
        };
        assert_eq!(apply_floor(g, 25), g);
    }

    #[test]
    fn a_replacement_raises_both_fee_fields_by_at_least_ten_percent() {
        let old = Fees {
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 25_000_000_000,
        };
        let new = bump(
            old,
            Fees {
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 1,
            },
        );
        assert!(new.max_fee_per_gas * 10 >= old.max_fee_per_gas * 11);
        assert!(new.max_priority_fee_per_gas * 10 >= old.max_priority_fee_per_gas * 11);
        let tiny = bump(
            Fees {
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 0,
            },
            Fees {
                max_fee_per_gas: 0,
                max_priority_fee_per_gas: 0,
            },
        );
        assert!(tiny.max_fee_per_gas >= 2 && tiny.max_priority_fee_per_gas >= 1);
        let market = bump(
            old,
            Fees {
                max_fee_per_gas: 90_000_000_000,
                max_priority_fee_per_gas: 40_000_000_000,
            },
        );
        assert_eq!(market.max_fee_per_gas, 90_000_000_000);
        assert_eq!(market.max_priority_fee_per_gas, 40_000_000_000);
    }
}
