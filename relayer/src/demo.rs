//! Demo mode for `script/dev`: the local chain's clock jumps one day every `DEMO_DAY_SECONDS`
//! (anvil `evm_increaseTime` + `evm_mine`), so waves happen every few minutes. The contract's day
//! stays 24 hours; only the development chain's time moves. Never used against a real chain:
//! the relayer refuses demo mode unless the chain id is anvil's 31337. Each loop pass also mines
//! one block, so the `finalized` tag (latest − 64 on a default anvil) keeps moving on an idle
//! chain and waves reach `finalized`.

use alloy::providers::{DynProvider, Provider, ext::AnvilApi};

use crate::{Error, Result, publisher::DAY};

/// anvil's chain id.
pub const ANVIL_CHAIN_ID: u64 = 31337;

/// Moves the development chain's clock forward by one day and mines a block.
pub async fn advance_one_day(provider: &DynProvider) -> Result<()> {
    let chain_id = provider.get_chain_id().await?;
    if chain_id != ANVIL_CHAIN_ID {
        return Err(Error::Corrupt(format!(
            "demo mode needs a local anvil (chain 31337), not chain {chain_id}"
        )));
    }
    provider.anvil_increase_time(DAY).await?;
    provider.evm_mine(None).await?;
    tracing::info!("demo clock: the chain moved one day forward");
    Ok(())
}

/// Mines one block on the development chain (demo mode, every pass).
pub async fn mine_block(provider: &DynProvider) -> Result<()> {
    let chain_id = provider.get_chain_id().await?;
    if chain_id != ANVIL_CHAIN_ID {
        return Err(Error::Corrupt(format!(
            "demo mode needs a local anvil (chain 31337), not chain {chain_id}"
        )));
    }
    provider.evm_mine(None).await?;
    Ok(())
}
