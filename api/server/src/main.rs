//! `posmul-api`: serves the PosMul HTTP API. Configuration: environment variables (see
//! `posmul_api_kit::config`). Stops gracefully on SIGINT/SIGTERM.
//!
//! `posmul-api migrate` applies the pending migrations to `DATABASE_URL` and exits: run it as
//! the database's owner before starting the services as their roles (README "Database roles").

use anyhow::Context as _;
use posmul_api::Application;
use posmul_api_kit::{ApiConfig, telemetry};
use posmul_core::{config::Env, tls::TlsSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_tracing();
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("migrate") => return migrate().await,
        Some(other) => anyhow::bail!("unknown argument {other:?}; usage: posmul-api [migrate]"),
    }
    let config = ApiConfig::from_env().context("failed to read the API configuration")?;
    let app = Application::build(config)
        .await
        .context("failed to start the API")?;
    let addr = app.local_addr();
    tracing::info!(%addr, clock = app.state().clock.kind(), "PosMul API listening: http://{addr}/v1, docs http://{addr}/docs/");
    app.run_until_stopped()
        .await
        .context("the API server failed")?;
    Ok(())
}

/// Applies the pending migrations as `DATABASE_URL`'s user (the owner) and stops.
async fn migrate() -> anyhow::Result<()> {
    let env = Env::process();
    let url = posmul_core::config::database_url(&env);
    let tls = TlsSettings::from_env(&env).context("invalid TLS settings")?;
    posmul_core::db::connect_and_migrate(&url, 1, &tls)
        .await
        .context("failed to migrate the database")?;
    tracing::info!(database = %posmul_core::db::redact(&url), "migrations applied");
    Ok(())
}
