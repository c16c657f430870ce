//! What `posmul-relayer status` prints: the relayer's state at one look, as JSON.

use alloy::primitives::B256;
use chrono::NaiveDate;
use posmul_core::money::Wei;
use serde::Serialize;

use crate::{
    Relayer, Result,
    app::GasBalance,
    sender::Kind,
    wave::{self, Status},
};

/// The relayer's state.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub chain_id: u64,
    /// The gas wallet, which signs (EIP-55, as every address printed here).
    pub relayer: String,
    pub money_wave: String,
    pub gas: GasBalance,
    pub fee_ceiling: FeeCeiling,
    pub chain: Chain,
    /// The last stored wave, `null` before the first.
    pub last_wave: Option<LastWave>,
}

/// The fee ceiling in force (wei, as decimal strings).
#[derive(Debug, Clone, Serialize)]
pub struct FeeCeiling {
    pub max_fee_per_gas_wei: String,
    pub max_priority_fee_per_gas_wei: String,
}

/// The chain as read now.
#[derive(Debug, Clone, Serialize)]
pub struct Chain {
    /// MoneyWave's `nextDay`: the first day not published.
    pub next_day: u64,
    /// How many days have ended by the latest block (days `0..ended_days`).
    pub ended_days: u64,
    pub latest_block: u64,
    pub latest_timestamp: u64,
}

/// The last stored wave and, while it is not mined, its open transaction attempts.
#[derive(Debug, Clone, Serialize)]
pub struct LastWave {
    pub day: u64,
    pub date: NaiveDate,
    pub status: &'static str,
    pub amount: Wei,
    pub root: B256,
    pub tx_hash: Option<B256>,
    pub open_attempts: Vec<OpenAttempt>,
}

/// A signed `publishWave` not yet mined.
#[derive(Debug, Clone, Serialize)]
pub struct OpenAttempt {
    pub tx_hash: B256,
    pub nonce: u64,
    pub status: String,
    pub max_fee_per_gas_wei: String,
    pub max_priority_fee_per_gas_wei: String,
}

/// Reads the state (and refreshes the gas-wallet gauges on the way).
pub async fn report(relayer: &Relayer) -> Result<Report> {
    let chain = relayer.chain_state().await?;
    let gas = relayer.gas_balance().await?;
    let last_wave = match wave::latest(&relayer.pool).await? {
        None => None,
        Some(w) => {
            let open_attempts = if w.status < Status::Mined {
                relayer
                    .sender
                    .attempts(&relayer.pool, Kind::PublishWave, w.day)
                    .await?
                    .into_iter()
                    .map(|a| OpenAttempt {
                        tx_hash: a.tx_hash,
                        nonce: a.nonce,
                        status: a.status,
                        max_fee_per_gas_wei: a.max_fee_per_gas.to_string(),
                        max_priority_fee_per_gas_wei: a.max_priority_fee_per_gas.to_string(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            Some(LastWave {
                day: w.day,
                date: w.date,
                status: w.status.as_str(),
                amount: w.amount,
                root: w.root,
                tx_hash: w.tx_hash,
                open_attempts,
            })
        }
    };
    let ceiling = relayer.sender.ceiling();
    Ok(Report {
        chain_id: relayer.sender.chain_id,
        relayer: relayer.sender.from.to_checksum(None),
        money_wave: relayer.money_wave.to_checksum(None),
        gas,
        fee_ceiling: FeeCeiling {
            max_fee_per_gas_wei: ceiling.max_fee_per_gas.to_string(),
            max_priority_fee_per_gas_wei: ceiling.max_priority_fee_per_gas.to_string(),
        },
        chain: Chain {
            next_day: chain.next_day,
            ended_days: relayer.ended_days(chain.latest_timestamp),
            latest_block: chain.latest_block,
            latest_timestamp: chain.latest_timestamp,
        },
        last_wave,
    })
}
