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
//! - delayed roots (M6): `posmul_relayer_waves_revoked_total` (waves taken off after a
//!   `RootRevoked`); from `watch` ([`crate::watch`]): `posmul_relayer_watch_mismatch` (1 while
//!   the pending root differs from its allocation file or the database: page on it, the guardian
//!   has until the root's `claimable_at`), `posmul_relayer_watch_revocations_total`,
//!   `posmul_relayer_watch_errors_total` (checks that could not run).
//!
//! `/readyz` answers 200 while this instance holds the relayer lock (the active instance), 503
//! on a standby and while `run` still waits for its node at start-up (`"role": "starting"`;
//! `/metrics` is served meanwhile).

use std::sync::{Arc, OnceLock};

use posmul_core::service::{Election, Readiness, ReadinessCheck, readiness_check};

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
