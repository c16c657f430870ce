//! What every handler can reach: the pool, the configuration, the JWT keys, the rate limiter
//! and the metrics handle.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{auth::jwt::JwtKeys, config::ApiConfig, rate_limit::RateLimiter, telemetry};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<ApiConfig>,
    pub jwt: Arc<JwtKeys>,
    pub limiter: Arc<RateLimiter>,
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// State over an open pool; connects to Redis when `config.redis_url` is set.
    pub async fn new(config: ApiConfig, db: PgPool) -> anyhow::Result<Self> {
        let limiter = match &config.redis_url {
            Some(url) => RateLimiter::redis(url, &config.redis_key_prefix, &config.tls).await?,
            None => RateLimiter::in_process(),
        };
        Ok(AppState {
            jwt: Arc::new(JwtKeys::new(
                config.jwt_secret.expose().as_bytes(),
                config.access_ttl,
            )),
            db,
            config: Arc::new(config),
            limiter: Arc::new(limiter),
            metrics: telemetry::metrics_handle(),
        })
    }
}
