//! What every handler can reach: the pool, the configuration, the clock, the JWT keys, the rate
//! limiter, the accounts' standing cache, the mailer, the password-hashing slots and the metrics handle.

use std::sync::Arc;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use posmul_core::{Clock, tls::TlsSettings};
use sqlx::PgPool;

use crate::{
    auth::{jwt::JwtKeys, standing::StandingCache},
    config::{ApiConfig, ClockSetting},
    hashing::HashGate,
    mail::Mailer,
    rate_limit::RateLimiter,
    telemetry,
};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<ApiConfig>,
    /// "Now" for every rule (game status, hourly pools, settlement day, the economy's next
    /// day); security times (tokens, sessions, SIWE) stay on the wall clock.
    pub clock: Clock,
    pub jwt: Arc<JwtKeys>,
    /// Accounts' token versions and bans, cached briefly (U1).
    pub standing: Arc<StandingCache>,
    pub limiter: Arc<RateLimiter>,
    /// Verification and reset mail (SMTP, or the mailbox folder).
    pub mailer: Arc<Mailer>,
    /// The slots for password hashing (U2).
    pub hashing: Arc<HashGate>,
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// State over an open pool with the clock `config.clock` names; connects to Redis when
    /// `config.redis_url` is set.
    pub async fn new(config: ApiConfig, db: PgPool) -> anyhow::Result<Self> {
        let clock = clock_of(&config.clock, &config.tls).await?;
        Self::with_clock(config, db, clock).await
    }

    /// State over an open pool with a given clock (tests pass a manual one).
    pub async fn with_clock(config: ApiConfig, db: PgPool, clock: Clock) -> anyhow::Result<Self> {
        let limiter = match &config.redis_url {
            Some(url) => RateLimiter::redis(url, &config.redis_key_prefix, &config.tls).await?,
            None => RateLimiter::in_process(),
        };
        let mailer =
            Mailer::new(&config.mail, &config.mail_from).context("MAIL_FROM / SMTP_URL")?;
        let hashing = HashGate::new(config.password_hash_concurrency, config.password_hash_wait);
        Ok(AppState {
            mailer: Arc::new(mailer),
            hashing: Arc::new(hashing),
            jwt: Arc::new(JwtKeys::new(
                secrecy::ExposeSecret::expose_secret(&config.jwt_secret).as_bytes(),
                config.access_ttl,
            )),
            standing: Arc::new(StandingCache::new(config.token_version_cache)),
            db,
            config: Arc::new(config),
            clock,
            limiter: Arc::new(limiter),
            metrics: telemetry::metrics_handle(),
        })
    }
}

/// The clock a setting names; the chain clock reads the chain once here, so an unreachable
/// node fails the start. Its link follows the same TLS rule as every other (`posmul_core::rpc`).
pub async fn clock_of(setting: &ClockSetting, tls: &TlsSettings) -> anyhow::Result<Clock> {
    match setting {
        ClockSetting::System => Ok(Clock::system()),
        ClockSetting::Chain { rpc_url, max_age } => {
            let origin = posmul_core::rpc::origin(rpc_url);
            let provider =
                posmul_core::rpc::connect(rpc_url, tls, Some(std::time::Duration::from_secs(10)))
                    .await
                    .with_context(|| format!("RPC_URL {origin} cannot be reached"))?;
            let clock = Clock::chain(provider, *max_age)
                .await
                .with_context(|| format!("the chain clock cannot read {origin}"))?;
            tracing::info!(rpc = %origin, ?max_age, "the API follows the chain's clock (demo)");
            Ok(clock)
        }
    }
}
