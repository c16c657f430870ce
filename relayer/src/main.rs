//! `posmul-relayer`: the Money Wave relayer's command line.
//!
//! ```text
//! posmul-relayer run                 publish waves, send claim batches, serve /metrics (default)
//! posmul-relayer reconcile           check chain against database; exit 1 on any problem
//! posmul-relayer build-wave --day N  catch up to day N (build and publish every ended day ≤ N)
//! ```
//! Configuration: environment variables, see `posmul_relayer::config`.

use alloy::providers::Provider;
use anyhow::{Context, bail};
use posmul_core::{
    config::Env,
    deployment::Deployment,
    service::{OpsListener, global_metrics, init_logging},
};
use posmul_relayer::{Relayer, config::RelayerConfig, reconcile};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging("info");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map_or("run", String::as_str);
    let config =
        RelayerConfig::from_env(&Env::process()).context("failed to read the configuration")?;
    let pool = posmul_core::db::connect_and_migrate(&config.database_url, 5, &config.tls)
        .await
        .context("failed to open the database")?;
    let provider = posmul_core::rpc::connect(&config.rpc_url, &config.tls, None)
        .await
        .with_context(|| {
            format!(
                "failed to connect to {}",
                posmul_core::rpc::origin(&config.rpc_url)
            )
        })?;
    let chain_id = match config.chain_id {
        Some(id) => id,
        None => provider
            .get_chain_id()
            .await
            .context("failed to read the chain id")?,
    };
    let deployment = Deployment::load(&config.deployments_dir, chain_id)
        .context("failed to read the deployment")?;
    let relayer = Relayer::new(
        pool,
        provider,
        config.signer.clone(),
        deployment.money_wave,
        deployment.deployment_block,
        config.settings.clone(),
    )
    .await
    .context("failed to start the relayer")?;
    match command {
        "run" => {
            OpsListener::bind(config.metrics_addr)
                .await
                .with_context(|| format!("failed to bind METRICS_ADDR {}", config.metrics_addr))?
                .spawn(
                    global_metrics(|b| b),
                    posmul_relayer::metrics::readiness(relayer.election.clone()),
                );
            tracing::info!(?config, "relayer starting");
            let (stop, stopped) = tokio::sync::watch::channel(false);
            if config.demo_day.is_some() {
                posmul_relayer::demo::check_local(relayer.provider())
                    .await
                    .context("DEMO_DAY_SECONDS is set")?;
            }
            let demo = config.demo_day.map(|day| {
                let mut stopped = stopped.clone();
                tokio::spawn(posmul_relayer::demo::run(
                    relayer.provider().clone(),
                    day,
                    async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    },
                ))
            });
            let result = relayer
                .run(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await;
            let _ = stop.send(true);
            if let Some(d) = demo {
                d.await
                    .context("demo clock task")?
                    .context("demo clock failed")?;
            }
            result.context("relayer stopped")?;
        }
        "reconcile" => {
            let report = reconcile::reconcile(&relayer)
                .await
                .context("failed to reconcile")?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.is_clean() {
                bail!("{} reconciliation problems", report.problems.len());
            }
        }
        "build-wave" => {
            let day: u64 = match args
                .iter()
                .position(|a| a == "--day")
                .and_then(|i| args.get(i + 1))
            {
                Some(d) => d.parse().context("--day takes a day number")?,
                None => bail!("usage: posmul-relayer build-wave --day N"),
            };
            let done = relayer.catch_up().await.context("failed to publish")?;
            let stored = posmul_relayer::wave::load(&relayer.pool, day).await?;
            match stored {
                Some(w) => println!(
                    "day {day}: {} root {} amount {} (finalized now: {done:?})",
                    w.status.as_str(),
                    w.root,
                    w.amount
                ),
                None => bail!("day {day} has not ended on chain yet (finalized now: {done:?})"),
            }
        }
        other => bail!("unknown command {other:?}: run, reconcile or build-wave --day N"),
    }
    Ok(())
}
