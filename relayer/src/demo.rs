//! Demo mode for `script/dev`: the development chain's time runs fast, one chain day every
//! `DEMO_DAY_SECONDS`, so waves happen every few minutes.
//!
//! Every [`TICK`] the chain's time is pushed (anvil `evm_increaseTime`) to where an accelerated
//! clock started at launch says it should be, and a block is mined to carry it. Time moves in
//! small steps rather than a jump per day, so the services reading the chain's time
//! ([`posmul_core::Clock::chain`]; the API with `CLOCK=chain`, as `script/dev` starts it) see
//! every hour of the demo day: its hourly pools, its settlements, then its wave. The mined blocks also keep the `finalized` tag (latest − 64 on a
//! default anvil) moving on an idle chain, so waves reach `finalized`. The contract's day stays
//! 86,400 seconds of chain time. Never used against a real chain: demo mode refuses any chain
//! id but anvil's 31337.

use std::{future::Future, time::Duration};

use alloy::{
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider, ext::AnvilApi},
};
use posmul_core::day::SECONDS_PER_DAY;

use crate::{Error, Result};

/// anvil's chain id.
pub const ANVIL_CHAIN_ID: u64 = 31337;

/// How often the chain's time is pushed forward.
pub const TICK: Duration = Duration::from_secs(1);

/// Chain seconds per real second when a chain day lasts `demo_day`.
pub fn speed(demo_day: Duration) -> f64 {
    SECONDS_PER_DAY as f64 / demo_day.as_secs_f64().max(1.0)
}

/// Where the accelerated clock is `elapsed` after it started at chain time `anchor`.
pub fn target(anchor: u64, speed: f64, elapsed: Duration) -> u64 {
    anchor.saturating_add((elapsed.as_secs_f64() * speed) as u64)
}

/// Fails unless `provider` is a local anvil.
pub async fn check_local(provider: &DynProvider) -> Result<()> {
    let chain_id = provider.get_chain_id().await?;
    if chain_id != ANVIL_CHAIN_ID {
        return Err(Error::Corrupt(format!(
            "demo mode needs a local anvil (chain 31337), not chain {chain_id}"
        )));
    }
    Ok(())
}

/// Runs the fast chain clock until `shutdown` resolves: a chain day per `demo_day`.
pub async fn run(
    provider: DynProvider,
    demo_day: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    check_local(&provider).await?;
    let speed = speed(demo_day);
    let anchor = latest_timestamp(&provider).await?;
    let started = tokio::time::Instant::now();
    tracing::info!(
        ?demo_day,
        speed,
        "demo clock: the chain's time runs fast, a day every {demo_day:?}"
    );
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut shutdown => return Ok(()),
        }
        if let Err(e) = step(&provider, target(anchor, speed, started.elapsed())).await {
            tracing::warn!(error = %e, "demo clock: cannot move the chain's time");
        }
    }
}

/// Moves the chain's time up to `target` (never back) and mines a block.
async fn step(provider: &DynProvider, target: u64) -> Result<()> {
    let now = latest_timestamp(provider).await?;
    if target > now {
        provider.anvil_increase_time(target - now).await?;
    }
    provider.evm_mine(None).await?;
    Ok(())
}

async fn latest_timestamp(provider: &DynProvider) -> Result<u64> {
    Ok(provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await?
        .ok_or_else(|| Error::Corrupt("the node has no latest block".into()))?
        .header
        .timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_three_minute_demo_day_runs_the_chain_480_times_faster() {
        let s = speed(Duration::from_secs(180));
        assert_eq!(s, 480.0);
        // An hour of chain time every 7.5 s: 24 hourly pools per demo day.
        assert_eq!(
            target(1_000, s, Duration::from_millis(7_500)),
            1_000 + 3_600
        );
        assert_eq!(target(1_000, s, Duration::from_secs(180)), 1_000 + 86_400);
    }
}
