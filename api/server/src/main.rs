//! `posmul-api`: serves the PosMul HTTP API. Configuration: environment variables (see
//! `posmul_api_kit::config`). Stops gracefully on SIGINT/SIGTERM.

use anyhow::Context as _;
use posmul_api::Application;
use posmul_api_kit::{ApiConfig, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_tracing();
    let config = ApiConfig::from_env().context("failed to read the API configuration")?;
    let app = Application::build(config)
        .await
        .context("failed to start the API")?;
    let addr = app.local_addr();
    tracing::info!(%addr, clock = app.state().clock.kind(), "PosMul API listening: http://{addr}/v1, docs http://{addr}/docs/");
    let served = app.run_until_stopped().await;
    posmul_core::service::flush_traces();
    served.context("the API server failed")
}
