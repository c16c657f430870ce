//! `posmul-indexer`: configuration from the environment, then [`posmul_indexer::Indexer`].

use anyhow::Context;
use posmul_core::{config::Env, db, deployment::Deployment};
use posmul_indexer::{Indexer, IndexerConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    posmul_core::service::init_logging("posmul-indexer", "info");
    let env = Env::process();
    let config = IndexerConfig::from_env(&env).context("invalid indexer configuration")?;
    let deployment = Deployment::load(&config.deployments_dir, config.chain_id)
        .context("failed to load the deployment")?;
    let pool = db::open(
        &config.database_url,
        4,
        &config.tls,
        config.database_migrate,
    )
    .await
    .context("failed to prepare the database")?;
    let indexer = Indexer::build(config, &deployment, pool)
        .await
        .context("failed to start the indexer")?;
    let result = tokio::select! {
        r = indexer.run() => r.context("the indexer stopped"),
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted; stopping");
            Ok(())
        }
    };
    posmul_core::service::flush_traces();
    result
}
