//! `posmul-relayer`: the Money Wave relayer's command line (`posmul-relayer --help`).
//!
//! ```text
//! posmul-relayer [run]               publish waves, send claim batches, serve /metrics (default)
//! posmul-relayer reconcile           check chain against database (JSON report); exit 1 on any problem
//! posmul-relayer export-wave DAY     print wave DAY's allocation file (@openzeppelin/merkle-tree dump)
//! posmul-relayer status              print the relayer's state (JSON)
//! posmul-relayer build-wave --day N  catch up to day N (build and publish every ended day ≤ N)
//! posmul-relayer watch [--once]      check each pending root (M6); alert and, with the guardian key, revoke
//! ```
//! Configuration: environment variables, see `posmul_relayer::config`. Data goes to stdout, logs
//! to stderr, so `posmul-relayer status | jq` works.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use posmul_core::{
    config::Env,
    service::{OpsListener, global_metrics, init_logging},
    tls::TlsSettings,
};
use posmul_relayer::{Error, Relayer, config::RelayerConfig, reconcile};
use sqlx::PgPool;

/// The Money Wave relayer: publishes each UTC day's PMC wave on MoneyWave, exactly once, and
/// sends sponsored claims. Configured by environment variables (DATABASE_URL, RPC_URL,
/// PRIVATE_KEY or KEYSTORE_PATH + KEYSTORE_PASSWORD_FILE, ...; see the crate's manual).
#[derive(Debug, Parser)]
#[command(name = "posmul-relayer", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish the wave of every ended day, send claim batches and serve /metrics, /healthz and
    /// /readyz on METRICS_ADDR until interrupted (the default command). An unreachable node is
    /// waited for, at start-up as later.
    Run,
    /// Check the chain against the database for every published day; print the report as JSON
    /// on stdout and exit 1 when it lists a problem.
    Reconcile,
    /// Print wave DAY's allocation file (the @openzeppelin/merkle-tree dump, as in
    /// WAVE_EXPORT_DIR) on stdout, rebuilt from the stored tree. Needs only the database.
    ExportWave {
        /// The MoneyWave day (0 = the genesis day).
        day: u64,
    },
    /// Print the relayer's state as JSON on stdout: chain, gas wallet, fee ceiling, last wave
    /// and its open transactions.
    Status,
    /// Build and publish every ended day up to day N (under the relayer lock), then print day
    /// N's wave as JSON on stdout.
    BuildWave {
        /// The last day to publish.
        #[arg(long)]
        day: u64,
    },
    /// Watch MoneyWave's pending root (M6): recompute it from the published allocation file
    /// (WAVE_EXPORT_DIR) and the database; on a mismatch log an error (`alert =
    /// posmul_wave_root_mismatch`), set `posmul_relayer_watch_mismatch` to 1 and, with
    /// GUARDIAN_PRIVATE_KEY (or GUARDIAN_KEYSTORE_PATH + GUARDIAN_KEYSTORE_PASSWORD_FILE),
    /// revoke it. Needs no relayer key. Serves /metrics on WATCH_METRICS_ADDR.
    Watch {
        /// Check once, print the result as JSON and exit 1 on a mismatch.
        #[arg(long)]
        once: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging("posmul-relayer", "info");
    let result = command(cli).await;
    posmul_core::service::flush_traces();
    result
}

async fn command(cli: Cli) -> anyhow::Result<()> {
    // These two read no relayer key: the watcher may run where the key is not.
    match cli.command {
        Some(Command::Watch { once }) => return watch(once).await,
        Some(Command::ExportWave { day }) => return export_wave(day).await,
        _ => {}
    }
    let config =
        RelayerConfig::from_env(&Env::process()).context("failed to read the configuration")?;
    let pool = posmul_core::db::open(
        &config.database_url,
        5,
        &config.tls,
        config.database_migrate,
    )
    .await
    .context("failed to open the database")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(&config, pool).await,
        Command::Reconcile => {
            let relayer = open(&config, pool).await?;
            let report = reconcile::reconcile(&relayer)
                .await
                .context("failed to reconcile")?;
            print_json(&report)?;
            if !report.is_clean() {
                bail!("{} reconciliation problems", report.problems.len());
            }
            Ok(())
        }
        Command::Status => {
            let relayer = open(&config, pool).await?;
            let report = posmul_relayer::status::report(&relayer)
                .await
                .context("failed to read the state")?;
            print_json(&report)
        }
        Command::Watch { once } => watch(once).await,
        Command::ExportWave { day } => export_wave(day).await,
        Command::BuildWave { day } => {
            let relayer = open(&config, pool).await?;
            let done = relayer.catch_up().await.context("failed to publish")?;
            tracing::info!(finalized = ?done, "caught up");
            match posmul_relayer::wave::load(&relayer.pool, day).await? {
                Some(w) => print_json(&serde_json::json!({
                    "day": w.day,
                    "date": w.date,
                    "status": w.status.as_str(),
                    "amount": w.amount,
                    "root": w.root,
                    "finalized_now": done,
                })),
                None => bail!("day {day} has not ended on chain yet (finalized now: {done:?})"),
            }
        }
    }
}

/// `posmul-relayer export-wave DAY`: only the database settings are read.
async fn export_wave(day: u64) -> anyhow::Result<()> {
    let env = Env::process();
    let tls = TlsSettings::from_env(&env).context("invalid TLS settings")?;
    let url = posmul_core::config::database_url(&env);
    let migrate = posmul_core::config::database_migrate(&env)?;
    let pool = posmul_core::db::open(&url, 1, &tls, migrate)
        .await
        .context("failed to open the database")?;
    let tree = posmul_relayer::wave::load_tree(&pool, day)
        .await
        .context("failed to read the wave")?;
    match tree {
        Some(t) => {
            println!("{}", serde_json::to_string(&t.dump())?);
            Ok(())
        }
        None => bail!("day {day} has no stored wave with an allocation"),
    }
}

/// `posmul-relayer watch`: no relayer key is read.
async fn watch(once: bool) -> anyhow::Result<()> {
    let config = posmul_relayer::config::WatchConfig::from_env(&Env::process())
        .context("failed to read the configuration")?;
    let pool = posmul_core::db::open(
        &config.database_url,
        2,
        &config.tls,
        config.database_migrate,
    )
    .await
    .context("failed to open the database")?;
    let origin = posmul_core::rpc::origin(&config.rpc_url);
    let provider = posmul_core::rpc::connect(&config.rpc_url, &config.tls, None)
        .await
        .with_context(|| format!("failed to connect to {origin}"))?;
    let watcher = posmul_relayer::watch::Watcher::open(pool, provider, &config)
        .await
        .with_context(|| format!("failed to start the watcher on {origin}"))?;
    if once {
        let check = watcher.check().await.context("failed to check")?;
        print_json(&check)?;
        if check.is_some_and(|c| !c.mismatches.is_empty()) {
            bail!("the pending root does not match");
        }
        return Ok(());
    }
    let ops = OpsListener::bind(config.metrics_addr)
        .await
        .with_context(|| format!("failed to bind WATCH_METRICS_ADDR {}", config.metrics_addr))?;
    let metrics = global_metrics(|b| b);
    posmul_relayer::metrics::describe();
    ops.spawn(
        metrics,
        posmul_core::service::readiness_check(|| async {
            posmul_core::service::Readiness {
                ready: true,
                body: serde_json::json!({"ready": true, "role": "watcher"}),
            }
        }),
    );
    tracing::info!(?config, "root watcher starting");
    watcher
        .run(config.poll_interval, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Opens the relayer once: a one-shot command fails at once when the node cannot be reached.
async fn open(config: &RelayerConfig, pool: PgPool) -> anyhow::Result<Relayer> {
    let origin = posmul_core::rpc::origin(&config.rpc_url);
    let provider = posmul_core::rpc::connect(&config.rpc_url, &config.tls, None)
        .await
        .with_context(|| format!("failed to connect to {origin}"))?;
    posmul_relayer::app::open(pool, provider, config)
        .await
        .with_context(|| format!("failed to start the relayer on {origin}"))
}

/// Whether `e` says the node could not be reached (worth waiting for), rather than a wrong
/// answer or a wrong set-up (worth stopping for).
fn unreachable(e: &Error) -> bool {
    use alloy::transports::RpcError;
    matches!(
        e,
        Error::Rpc(RpcError::Transport(_))
            | Error::Contract(alloy::contract::Error::TransportError(RpcError::Transport(
                _
            )))
    )
}

/// Opens the relayer for `run`, waiting with back-off for a node that cannot be reached yet
/// (`Ok(None)`: interrupted meanwhile). A node on the wrong chain, a missing deployment file or
/// a wrong setting stops it.
async fn open_patiently(config: &RelayerConfig, pool: &PgPool) -> anyhow::Result<Option<Relayer>> {
    let origin = posmul_core::rpc::origin(&config.rpc_url);
    let mut backoff = Duration::from_millis(500);
    loop {
        let attempt = async {
            let provider = posmul_core::rpc::connect(&config.rpc_url, &config.tls, None).await?;
            posmul_relayer::app::open(pool.clone(), provider, config).await
        };
        match attempt.await {
            Ok(r) => return Ok(Some(r)),
            Err(e) if unreachable(&e) => {
                tracing::warn!(rpc = %origin, error = %e, retry_in = ?backoff, "the node cannot be reached yet; waiting");
                metrics::counter!("posmul_relayer_errors_total").increment(1);
            }
            Err(e) => {
                return Err(e).with_context(|| format!("failed to start the relayer on {origin}"));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = tokio::signal::ctrl_c() => return Ok(None),
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

async fn run(config: &RelayerConfig, pool: PgPool) -> anyhow::Result<()> {
    let ops = OpsListener::bind(config.metrics_addr)
        .await
        .with_context(|| format!("failed to bind METRICS_ADDR {}", config.metrics_addr))?;
    let election = Arc::new(OnceLock::new());
    let handle = global_metrics(|b| b);
    posmul_relayer::metrics::describe();
    ops.spawn(
        handle,
        posmul_relayer::metrics::readiness_once_started(election.clone()),
    );
    tracing::info!(?config, "relayer starting");
    let Some(relayer) = open_patiently(config, &pool).await? else {
        return Ok(());
    };
    let _ = election.set(relayer.election.clone());
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
    result.context("relayer stopped")
}
