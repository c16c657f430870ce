//! `posmul-api`: the PosMul HTTP API's command line (`posmul-api --help`).
//!
//! ```text
//! posmul-api [serve]                          serve the API until SIGINT/SIGTERM (the default)
//! posmul-api migrate                          apply the pending migrations as the owner and exit
//! posmul-api admin bootstrap --email ADDRESS  make the first admin, once (U1)
//! ```
//! Configuration: environment variables (see `posmul_api_kit::config`); `migrate` and
//! `admin bootstrap` read only `DATABASE_URL`, `DATABASE_MIGRATE`, `POSMUL_ENV` and
//! `TLS_CA_FILE`. Run `migrate` as the database's owner before starting the services as their
//! roles (README "Database roles").

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use posmul_api::Application;
use posmul_api_kit::{ApiConfig, telemetry};
use posmul_core::{config::Env, tls::TlsSettings};

/// The PosMul API: accounts, the PMP ledger, predictions, PMC credits and claims over HTTP.
/// Configured by environment variables (DATABASE_URL, JWT_SECRET, SMTP_URL or MAILBOX_DIR, ...;
/// see the README's configuration section).
#[derive(Debug, Parser)]
#[command(name = "posmul-api", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default command): migrates the database unless DATABASE_MIGRATE is
    /// false, and stops gracefully on SIGINT/SIGTERM.
    Serve,
    /// Apply the pending migrations as DATABASE_URL's user (the database's owner) and exit.
    Migrate,
    /// Administration that cannot go through the API.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Make the account with this verified e-mail the first admin (U1). Refused once any admin
    /// exists: later roles change only through the admin API, audited.
    Bootstrap {
        /// The e-mail of a registered account that has verified it.
        #[arg(long)]
        email: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init_tracing();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => migrate().await,
        Command::Admin {
            command: AdminCommand::Bootstrap { email },
        } => bootstrap(&email).await,
    }
}

async fn serve() -> anyhow::Result<()> {
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

/// Only the database settings: the bootstrap needs no JWT secret, mail or chain.
async fn bootstrap(email: &str) -> anyhow::Result<()> {
    let env = Env::process();
    let tls = TlsSettings::from_env(&env).context("POSMUL_ENV / TLS_CA_FILE")?;
    let url = posmul_core::config::database_url(&env);
    let db = posmul_core::db::open(&url, 2, &tls, env.or("DATABASE_MIGRATE", true)?)
        .await
        .context("failed to open the database")?;
    let user_id = posmul_accounts::admin::bootstrap(&db, email)
        .await
        .context("admin bootstrap refused")?;
    println!("{user_id}");
    tracing::info!(%user_id, "the first admin is made; sign in again for a token with the role");
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
