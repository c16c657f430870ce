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
//! - **Ceiling**: no attempt offers more than `max_fee_per_gas_wei` / `max_priority_fee_per_gas_wei`
//!   (an estimate above them is cut to them). While the latest base fee plus the priority floor
//!   is above the max-fee ceiling, no new transaction is signed; when a replacement cut to the
//!   ceiling would not be 10 % above the attempt it replaces, none is signed and the attempt
//!   keeps waiting. Either way [`Error::FeeCeiling`] ends the pass (the loop tries again after
//!   its poll interval), `posmul_relayer_fee_ceiling_hits_total` counts it and a warning says so.
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

/// `fees` cut to `ceiling`, field by field.
pub fn cap(fees: Fees, ceiling: Fees) -> Fees {
    Fees {
        max_fee_per_gas: fees.max_fee_per_gas.min(ceiling.max_fee_per_gas),
        max_priority_fee_per_gas: fees
            .max_priority_fee_per_gas
            .min(ceiling.max_priority_fee_per_gas),
    }
}

/// The fees of a new transaction under `ceiling`: `estimate` cut to it, or `None` when the
/// chain's `base_fee` plus the priority `floor` leave no room under the ceiling (such a
/// transaction would wait unmined, or be refused, and then be replaced upwards).
pub fn within_ceiling(estimate: Fees, ceiling: Fees, base_fee: u128, floor: u128) -> Option<Fees> {
    if ceiling.max_fee_per_gas < base_fee.saturating_add(floor) {
        return None;
    }
    Some(cap(estimate, ceiling))
}

/// The fees that replace `old` under `ceiling`: [`bump`] cut to the ceiling, or `None` when what
/// the ceiling allows is not 10 % above `old` in both fields (nodes refuse such a replacement).
pub fn replacement(old: Fees, current: Fees, ceiling: Fees) -> Option<Fees> {
    let new = cap(bump(old, current), ceiling);
    let enough = |new: u128, old: u128| new.saturating_mul(10) >= old.saturating_mul(11);
    (enough(new.max_fee_per_gas, old.max_fee_per_gas)
        && enough(new.max_priority_fee_per_gas, old.max_priority_fee_per_gas)
        && new != old)
        .then_some(new)
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
    /// The priority floor of this chain (`PRIORITY_FEE_FLOOR_GWEI` or the chain's default).
    pub fn priority_floor(&self) -> u128 {
        self.settings
            .priority_fee_floor_wei
            .unwrap_or_else(|| default_priority_floor(self.chain_id))
    }

    /// The fee ceiling (`MAX_FEE_PER_GAS_GWEI`, `MAX_PRIORITY_FEE_PER_GAS_GWEI`).
    pub fn ceiling(&self) -> Fees {
        Fees {
            max_fee_per_gas: self.settings.max_fee_per_gas_wei,
            max_priority_fee_per_gas: self.settings.max_priority_fee_per_gas_wei,
        }
    }

    /// The latest block's base fee (0 before EIP-1559).
    pub async fn base_fee(&self) -> Result<u128> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| Error::Corrupt("the node has no latest block".into()))?;
        Ok(block.header.base_fee_per_gas.map_or(0, u128::from))
    }

    /// Counts and logs a send the ceiling held back, and returns the error that ends the pass.
    fn held_back(&self, what: &'static str, detail: String) -> Error {
        metrics::counter!("posmul_relayer_fee_ceiling_hits_total").increment(1);
        tracing::warn!(what, %detail, ceiling = ?self.ceiling(), "fee ceiling reached: not sending; waiting for lower fees");
        Error::FeeCeiling { what, detail }
    }

    /// The node's fee estimate with the chain's priority floor.
    pub async fn fees(&self) -> Result<Fees> {
        let est = self.provider.estimate_eip1559_fees().await?;
        let floor = self.priority_floor();
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
    /// The span carries the hash of the latest transaction signed or mined (`tx_hash`).
    #[tracing::instrument(skip_all, fields(kind = kind.as_str(), subject, tx_hash = tracing::field::Empty), err)]
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
                    tracing::Span::current().record("tx_hash", tracing::field::display(a.tx_hash));
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
                    let estimate = self.fees().await?;
                    let base_fee = self.base_fee().await?;
                    let Some(fees) =
                        within_ceiling(estimate, self.ceiling(), base_fee, self.priority_floor())
                    else {
                        return Err(self.held_back(
                            "transaction",
                            format!(
                                "the base fee is {base_fee} wei and the priority floor {} wei; the max fee may not pass {} wei",
                                self.priority_floor(),
                                self.settings.max_fee_per_gas_wei
                            ),
                        ));
                    };
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
                    let Some(fees) = replacement(old, self.fees().await?, self.ceiling()) else {
                        return Err(self.held_back(
                            "replacement",
                            format!(
                                "transaction {} (max fee {} wei, priority fee {} wei) cannot be raised 10 % within the ceiling",
                                a.tx_hash, old.max_fee_per_gas, old.max_priority_fee_per_gas
                            ),
                        ));
                    };
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
        // Recorded on the caller's span (`send_until_mined`): traces show which transaction.
        tracing::Span::current().record("tx_hash", tracing::field::display(tx_hash));
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

    const GWEI: u128 = 1_000_000_000;

    fn fees(max: u128, prio: u128) -> Fees {
        Fees {
            max_fee_per_gas: max * GWEI,
            max_priority_fee_per_gas: prio * GWEI,
        }
    }

    #[test]
    fn a_new_transaction_is_cut_to_the_ceiling_or_held_back_when_the_base_fee_leaves_no_room() {
        let ceiling = fees(100, 30);
        assert_eq!(
            within_ceiling(fees(250, 40), ceiling, 60 * GWEI, 25 * GWEI),
            Some(fees(100, 30)),
            "an estimate above the ceiling is cut to it"
        );
        assert_eq!(
            within_ceiling(fees(50, 25), ceiling, 20 * GWEI, 25 * GWEI),
            Some(fees(50, 25))
        );
        assert_eq!(
            within_ceiling(fees(250, 40), ceiling, 80 * GWEI, 25 * GWEI),
            None,
            "80 + 25 > 100: nothing is sent"
        );
        assert_eq!(within_ceiling(fees(2, 1), fees(10, 2), 50 * GWEI, 0), None);
    }

    #[test]
    fn a_replacement_never_passes_the_ceiling_and_is_skipped_when_it_cannot_rise_ten_percent() {
        let ceiling = fees(100, 30);
        let r = replacement(fees(60, 20), fees(1, 1), ceiling).expect("room for +12.5 %");
        assert_eq!(
            r,
            Fees {
                max_fee_per_gas: 67_500_000_000,
                max_priority_fee_per_gas: 22_500_000_000
            }
        );
        let market = replacement(fees(60, 20), fees(400, 60), ceiling).expect("cut");
        assert_eq!(
            market,
            fees(100, 30),
            "the market's estimate is cut to the ceiling"
        );
        assert_eq!(
            replacement(fees(95, 20), fees(1, 1), ceiling),
            None,
            "95 → 100 is not +10 %"
        );
        assert_eq!(replacement(fees(100, 30), fees(400, 60), ceiling), None);
    }

    proptest::proptest! {
        #[test]
        fn replacements_stay_under_the_ceiling_and_ten_percent_above_the_old_fees(
            old_max in 0u128..10_000 * GWEI,
            old_prio in 0u128..1_000 * GWEI,
            cur_max in 0u128..10_000 * GWEI,
            cur_prio in 0u128..1_000 * GWEI,
            ceil_prio in 0u128..1_000 * GWEI,
            ceil_extra in 0u128..10_000 * GWEI,
        ) {
            let old = Fees { max_fee_per_gas: old_max.max(old_prio), max_priority_fee_per_gas: old_prio };
            let cur = Fees { max_fee_per_gas: cur_max.max(cur_prio), max_priority_fee_per_gas: cur_prio };
            let ceiling = Fees { max_fee_per_gas: ceil_prio + ceil_extra, max_priority_fee_per_gas: ceil_prio };
            if let Some(new) = replacement(old, cur, ceiling) {
                proptest::prop_assert!(new.max_fee_per_gas <= ceiling.max_fee_per_gas);
                proptest::prop_assert!(new.max_priority_fee_per_gas <= ceiling.max_priority_fee_per_gas);
                proptest::prop_assert!(new.max_fee_per_gas * 10 >= old.max_fee_per_gas * 11);
                proptest::prop_assert!(new.max_priority_fee_per_gas * 10 >= old.max_priority_fee_per_gas * 11);
                proptest::prop_assert!(new.max_priority_fee_per_gas <= new.max_fee_per_gas);
            } else {
                // Held back only when the ceiling is what stops it.
                let free = bump(old, cur);
                proptest::prop_assert!(
                    free.max_fee_per_gas > ceiling.max_fee_per_gas
                        || free.max_priority_fee_per_gas > ceiling.max_priority_fee_per_gas
                );
            }
        }
    }
}
