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
//! - reconciliation: `posmul_relayer_reconcile_problems` (0 when every check holds) and
//!   `posmul_relayer_contract_surplus_wei` (PMC held by MoneyWave − (minted − claimed)).
//!
//! `/readyz` answers 200 while this instance holds the relayer lock (the active instance), 503
//! on a standby.

use posmul_core::service::{Election, Readiness, ReadinessCheck, readiness_check};

/// Records the chain state gauges: MoneyWave's `nextDay` and the latest block seen.
pub fn chain(next_day: u64, latest_block: u64) {
    metrics::gauge!("posmul_relayer_chain_next_day").set(next_day as f64);
    metrics::gauge!("posmul_relayer_chain_block").set(latest_block as f64);
}

/// The relayer's `/readyz`: ready while it leads.
pub fn readiness(election: Election) -> ReadinessCheck {
    readiness_check(move || {
        let leading = election.is_leader();
        async move {
            Readiness {
                ready: leading,
                body: serde_json::json!({
                    "ready": leading,
                    "role": if leading { "leader" } else { "standby" },
                }),
            }
        }
    })
}
