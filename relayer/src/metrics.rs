//! Prometheus metrics of the relayer (`GET /metrics` on `METRICS_ADDR`).
//!
//! - `posmul_relayer_chain_next_day`, `posmul_relayer_chain_block`: the chain as last seen;
//! - `posmul_relayer_last_finalized_day`, `posmul_relayer_publish_gas`;
//! - counters `posmul_relayer_waves_built_total`, `_waves_published_total`, `_replacements_total`,
//!   `_send_errors_total`, `_errors_total`, `_divergences_total`, `_claims_sent_total`;
//! - reconciliation: `posmul_relayer_reconcile_problems` (0 when every check holds) and
//!   `posmul_relayer_contract_surplus_wei` (PMC held by MoneyWave − (minted − claimed)).

use std::net::SocketAddr;

use axum::{Router, routing::get};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::publisher::ChainState;

/// Records the chain state gauges.
pub fn chain(c: &ChainState) {
    metrics::gauge!("posmul_relayer_chain_next_day").set(c.next_day as f64);
    metrics::gauge!("posmul_relayer_chain_block").set(c.latest_block as f64);
}

/// Installs the recorder and serves `/metrics` and `/healthz` on `addr`.
pub async fn serve(addr: SocketAddr) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let handle: PrometheusHandle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;
    let app = Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .route("/healthz", get(|| std::future::ready("ok")));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    }))
}
