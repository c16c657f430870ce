//! Prometheus metrics of the relayer (`GET /metrics` on `METRICS_ADDR`, served by
//! [`posmul_core::service::listener`] with `/healthz` and `/readyz`).
//!
//! - `posmul_relayer_chain_next_day`, `posmul_relayer_chain_block`: the chain as last seen;
//! - `posmul_relayer_last_finalized_day`, `posmul_relayer_publish_gas`;
//! - counters `posmul_relayer_waves_built_total`, `_waves_published_total`, `_replacements_total`,
//!   `_send_errors_total`, `_errors_total`, `_divergences_total`, `_claims_sent_total`;
//! - the carry-over (M8): gauge `posmul_relayer_credit_carried_wei` (what the last wave built
//!   left waiting for the next day, in wei), counters `posmul_relayer_credits_split_total` (credits
//!   cut in two at a wave's limit) and `posmul_relayer_waves_rebuilt_total` (stored waves the
//!   chain no longer allowed, rebuilt);
//! - the gas wallet: `posmul_relayer_gas_balance_wei{wallet}` (its balance, read every pass) and
//!   `posmul_relayer_gas_balance_low{wallet}` (1 while below `GAS_BALANCE_ALERT_WEI`: alert on
//!   it), a warning logged when it goes below;
//! - `posmul_relayer_fee_ceiling_hits_total`: sends and replacements the fee ceiling held back
//!   (the wave waits; see [`crate::sender`]);
//! - reconciliation: `posmul_relayer_reconcile_problems` (0 when every check holds) and
//!   `posmul_relayer_contract_surplus_wei` (PMC held by MoneyWave − (minted − claimed));
//! - `posmul_relayer_last_pass_timestamp_seconds`: when the leader last finished a whole pass
//!   (the heartbeat `ops/` alerts on when it stops);
//! - `posmul_relayer_credits_claimed_total`: credits marked claimed (recorded by
//!   `posmul_economy::credits::lifecycle` on the relayer's behalf).
//! - delayed roots (M6): `posmul_relayer_waves_revoked_total` (waves taken off after a
//!   `RootRevoked`); from `watch` ([`crate::watch`]): `posmul_relayer_watch_mismatch` (1 while
//!   the pending root differs from its allocation file or the database: page on it, the guardian
//!   has until the root's `claimable_at`), `posmul_relayer_watch_revocations_total`,
//!   `posmul_relayer_watch_errors_total` (checks that could not run).
//!
//! [`describe`] declares every one of them (the names in [`COUNTERS`] and [`GAUGES`]) at
//! start-up, the counters at 0; `ops/`'s test checks its rules and dashboard against them.
//!
//! `/readyz` answers 200 while this instance holds the relayer lock (the active instance), 503
//! on a standby and while `run` still waits for its node at start-up (`"role": "starting"`;
//! `/metrics` is served meanwhile).

use std::sync::{Arc, OnceLock};

use posmul_core::service::{Election, Readiness, ReadinessCheck, readiness_check};

/// Every counter the relayer exports, with its help text.
pub const COUNTERS: &[(&str, &str)] = &[
    ("posmul_relayer_waves_built_total", "Waves built and stored"),
    (
        "posmul_relayer_waves_published_total",
        "Waves published on MoneyWave",
    ),
    (
        "posmul_relayer_waves_rebuilt_total",
        "Stored waves the chain no longer allowed, rebuilt (M8)",
    ),
    (
        "posmul_relayer_credits_split_total",
        "Credits cut in two at a wave's limit (M8)",
    ),
    (
        "posmul_relayer_replacements_total",
        "Transactions replaced with higher fees",
    ),
    (
        "posmul_relayer_send_errors_total",
        "Broadcasts the node refused",
    ),
    (
        "posmul_relayer_fee_ceiling_hits_total",
        "Sends and replacements the fee ceiling held back",
    ),
    (
        "posmul_relayer_errors_total",
        "Failed relayer passes (retried with backoff)",
    ),
    (
        "posmul_relayer_divergences_total",
        "Chain and database disagreed: the relayer stopped",
    ),
    (
        "posmul_relayer_claims_sent_total",
        "Claims sent in claimMany batches",
    ),
    (
        "posmul_relayer_credits_claimed_total",
        "Credits marked claimed after their claims were mirrored",
    ),
    (
        "posmul_relayer_waves_revoked_total",
        "Waves taken off after a RootRevoked (M6)",
    ),
    (
        "posmul_relayer_watch_revocations_total",
        "Pending roots the watcher revoked (M6)",
    ),
    (
        "posmul_relayer_watch_errors_total",
        "Watcher checks that could not run (M6)",
    ),
];

/// Every gauge the relayer exports, with its help text.
pub const GAUGES: &[(&str, &str)] = &[
    (
        "posmul_relayer_chain_next_day",
        "MoneyWave's nextDay as last seen",
    ),
    (
        "posmul_relayer_chain_block",
        "Latest block number as last seen",
    ),
    (
        "posmul_relayer_last_finalized_day",
        "Latest wave day finalized",
    ),
    (
        "posmul_relayer_publish_gas",
        "Gas used by the latest publishWave",
    ),
    (
        "posmul_relayer_credit_carried_wei",
        "What the last wave built left waiting for the next day (wei)",
    ),
    (
        "posmul_relayer_gas_balance_wei",
        "The gas wallet's balance (wei), by wallet",
    ),
    (
        "posmul_relayer_gas_balance_low",
        "1 while the gas wallet is below GAS_BALANCE_ALERT_WEI, by wallet",
    ),
    (
        "posmul_relayer_reconcile_problems",
        "Reconciliation problems found by the last pass (0 when every check holds)",
    ),
    (
        "posmul_relayer_contract_surplus_wei",
        "PMC held by MoneyWave minus (minted - claimed), read from the chain (wei)",
    ),
    (
        "posmul_relayer_last_pass_timestamp_seconds",
        "Unix time the leader last finished a whole pass",
    ),
    (
        "posmul_relayer_watch_mismatch",
        "1 while a pending root differs from its allocation file or the database (M6)",
    ),
];

/// Declares every metric of [`COUNTERS`] and [`GAUGES`] on the installed recorder, the
/// counters at 0 so rates and alerts see them from the start.
pub fn describe() {
    for (name, help) in COUNTERS {
        metrics::describe_counter!(*name, *help);
        metrics::counter!(*name).increment(0);
    }
    for (name, help) in GAUGES {
        metrics::describe_gauge!(*name, *help);
    }
}

/// Records that the leader finished a whole pass now (the heartbeat).
pub fn pass_completed() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!("posmul_relayer_last_pass_timestamp_seconds").set(now);
}

/// Records the chain state gauges: MoneyWave's `nextDay` and the latest block seen.
pub fn chain(next_day: u64, latest_block: u64) {
    metrics::gauge!("posmul_relayer_chain_next_day").set(next_day as f64);
    metrics::gauge!("posmul_relayer_chain_block").set(latest_block as f64);
}

/// Records the gas wallet's balance and whether it is below the alert threshold.
pub fn gas_balance(
    wallet: alloy::primitives::Address,
    balance: posmul_core::money::Wei,
    low: bool,
) {
    let wallet = wallet.to_checksum(None);
    // A gauge is an f64 (some 16 significant digits): ample for an alert.
    let wei: f64 = balance.to_string().parse().unwrap_or(f64::MAX);
    metrics::gauge!("posmul_relayer_gas_balance_wei", "wallet" => wallet.clone()).set(wei);
    metrics::gauge!("posmul_relayer_gas_balance_low", "wallet" => wallet).set(if low {
        1.0
    } else {
        0.0
    });
}

/// The relayer's `/readyz`: ready while it leads.
pub fn readiness(election: Election) -> ReadinessCheck {
    let started = Arc::new(OnceLock::new());
    let _ = started.set(election);
    readiness_once_started(started)
}

/// [`readiness`] for an election that exists once the relayer has started (`run` serves
/// `/metrics` while it waits for its node): not ready before.
pub fn readiness_once_started(election: Arc<OnceLock<Election>>) -> ReadinessCheck {
    readiness_check(move || {
        let role = match election.get() {
            None => "starting",
            Some(e) if e.is_leader() => "leader",
            Some(_) => "standby",
        };
        async move {
            Readiness {
                ready: role == "leader",
                body: serde_json::json!({"ready": role == "leader", "role": role}),
            }
        }
    })
}
