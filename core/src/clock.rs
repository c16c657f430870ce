//! The one source of "now" every service reads.
//!
//! - [`Clock::system`]: the machine's UTC clock (the default, and always in production);
//! - [`Clock::chain`]: a development chain's time, the timestamp of its latest block, for demo
//!   mode: there the relayer moves the chain's time fast (a demo day of a few minutes), and every
//!   service reading this clock sees the same accelerated day, with its 24 hourly pools, its
//!   settlements and its wave;
//! - [`Clock::manual`]: a time tests set and advance, instead of editing times in the database.
//!
//! **What reads it.** Every rule decision that depends on "now": a game's status by its times
//! (passed as `$now` to `predictions.effective_status`, never SQL `now()`), the hourly pools'
//! catch-up, the scheduler's tick, the settlement time and so the UTC day a credit belongs to,
//! a game's `created_at`, `settled_at` and `cancelled_at` (M2 counts hours after creation and
//! before cancellation), the game-time checks of creation and edits, the day a new economy configuration counts from,
//! and the relayer's "day d has ended" (read from the chain itself). The API holds one in its
//! state (`CLOCK=system|chain`), served at `GET /v1/clock`.
//!
//! **What does not.** Security and audit times stay on the wall clock (the machine's, or the
//! database's `now()`), whatever this clock says: access-token and refresh-token expiry,
//! sessions, SIWE nonces and `Issued At`, rate limits, and audit columns such as `updated_at`,
//! `set_at` or `corrected_at`. A demo chain running days ahead must never stretch or shorten a
//! credential's life, and an audit trail records when something really happened.
//!
//! A `Clock` is an `Arc` inside: clone it freely into every task and state that needs it.
//! Reading is async because the chain clock may ask the node; it answers from a cache while the
//! last reading is younger than its `max_age`, so reading it per request stays cheap.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider},
};
use chrono::{DateTime, TimeDelta, Utc};

use crate::day::UtcDay;

/// A source of the current time. Cheap to clone; clones share the source (advancing a manual
/// clock moves every clone).
#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    Manual(Mutex<DateTime<Utc>>),
    Chain(ChainTime),
}

struct ChainTime {
    provider: DynProvider,
    max_age: Duration,
    /// The last reading: the chain's time and when it was read. A tokio mutex, held across the
    /// node request, so concurrent readers share one request instead of each sending theirs.
    last: tokio::sync::Mutex<(DateTime<Utc>, Instant)>,
}

/// Why a clock could not be built or moved.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("cannot read the chain's latest block: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    #[error("the node returned no latest block")]
    NoBlock,
    #[error("block timestamp {0} is not a representable time")]
    BadTimestamp(u64),
    #[error("only a manual clock can be set or advanced; this one is the {0} clock")]
    NotManual(&'static str),
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock that stays at `start` until set or advanced.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock(Arc::new(Source::Manual(Mutex::new(start))))
    }

    /// The time of the chain behind `provider`: its latest block's timestamp, read again when
    /// the last reading is older than `max_age`. Reads once now, so an unreachable node fails
    /// the start rather than the first request.
    pub async fn chain(provider: DynProvider, max_age: Duration) -> Result<Clock, ClockError> {
        let now = latest_block_time(&provider).await?;
        Ok(Clock(Arc::new(Source::Chain(ChainTime {
            provider,
            max_age,
            last: tokio::sync::Mutex::new((now, Instant::now())),
        }))))
    }

    /// The current time by this clock.
    ///
    /// The chain clock never fails here: when the node does not answer, it logs and keeps the
    /// last time it read (the chain's time only moves with new blocks anyway).
    pub async fn now(&self) -> DateTime<Utc> {
        match &*self.0 {
            Source::System => Utc::now(),
            Source::Manual(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
            Source::Chain(c) => {
                let mut last = c.last.lock().await;
                if last.1.elapsed() >= c.max_age {
                    match latest_block_time(&c.provider).await {
                        // Block timestamps never go back; a node that answers with an older one
                        // (a restarted development chain) does not move this clock back either.
                        Ok(t) => *last = (t.max(last.0), Instant::now()),
                        Err(e) => {
                            tracing::warn!(error = %e, "chain clock: keeping the last block time")
                        }
                    }
                }
                last.0
            }
        }
    }

    /// The UTC day it is now by this clock.
    pub async fn today(&self) -> UtcDay {
        UtcDay::of(self.now().await)
    }

    /// Sets a manual clock to `t` (it may go back: tests decide).
    pub fn set(&self, t: DateTime<Utc>) -> Result<(), ClockError> {
        match &*self.0 {
            Source::Manual(m) => {
                *m.lock().unwrap_or_else(|e| e.into_inner()) = t;
                Ok(())
            }
            _ => Err(ClockError::NotManual(self.kind())),
        }
    }

    /// Moves a manual clock forward by `by`.
    pub fn advance(&self, by: TimeDelta) -> Result<DateTime<Utc>, ClockError> {
        match &*self.0 {
            Source::Manual(m) => {
                let mut t = m.lock().unwrap_or_else(|e| e.into_inner());
                *t += by;
                Ok(*t)
            }
            _ => Err(ClockError::NotManual(self.kind())),
        }
    }

    /// `"system"`, `"chain"` or `"manual"`, for logs.
    pub fn kind(&self) -> &'static str {
        match &*self.0 {
            Source::System => "system",
            Source::Manual(_) => "manual",
            Source::Chain(_) => "chain",
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.kind())
    }
}

async fn latest_block_time(provider: &DynProvider) -> Result<DateTime<Utc>, ClockError> {
    let block = provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await?
        .ok_or(ClockError::NoBlock)?;
    let ts = block.header.timestamp;
    i64::try_from(ts)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or(ClockError::BadTimestamp(ts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{
        node_bindings::Anvil,
        providers::{ProviderBuilder, ext::AnvilApi},
    };

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("RFC 3339")
    }

    #[tokio::test]
    async fn a_manual_clock_stays_put_until_set_or_advanced_and_clones_share_it() {
        let clock = Clock::manual(at("2026-11-01T23:30:00Z"));
        let clone = clock.clone();
        assert_eq!(clock.now().await, at("2026-11-01T23:30:00Z"));
        assert_eq!(clock.today().await.to_string(), "2026-11-01");
        clock.advance(TimeDelta::minutes(45)).expect("manual");
        assert_eq!(clone.now().await, at("2026-11-02T00:15:00Z"));
        assert_eq!(clone.today().await.to_string(), "2026-11-02");
        clone.set(at("2026-01-01T00:00:00Z")).expect("manual");
        assert_eq!(clock.now().await, at("2026-01-01T00:00:00Z"));
    }

    #[tokio::test]
    async fn only_a_manual_clock_can_be_moved() {
        let clock = Clock::system();
        assert!(matches!(
            clock.advance(TimeDelta::seconds(1)),
            Err(ClockError::NotManual("system"))
        ));
        let before = Utc::now();
        let now = clock.now().await;
        assert!(now >= before && now <= Utc::now());
    }

    fn anvil_path() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil")
    }

    #[tokio::test]
    async fn the_chain_clock_follows_the_latest_block_and_caches_briefly() {
        let anvil = Anvil::at(anvil_path()).try_spawn().expect("anvil starts");
        let provider = ProviderBuilder::new()
            .connect_http(anvil.endpoint_url())
            .erased();
        let clock = Clock::chain(provider.clone(), Duration::from_millis(300))
            .await
            .expect("reads the chain");
        let start = clock.now().await;
        assert_eq!(clock.kind(), "chain");

        // A demo jump: ten days forward, then a block carries the new time.
        provider
            .anvil_increase_time(10 * 86_400)
            .await
            .expect("evm_increaseTime");
        provider.evm_mine(None).await.expect("evm_mine");
        assert_eq!(
            clock.now().await,
            start,
            "within max_age the cached reading answers"
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        let moved = clock.now().await;
        assert!(
            moved - start >= TimeDelta::days(10)
                && moved - start < TimeDelta::days(10) + TimeDelta::minutes(5),
            "the clock jumped with the chain: {start} -> {moved}"
        );
    }
}
